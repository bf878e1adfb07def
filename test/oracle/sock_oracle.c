/*
 * sock_oracle: ask the host kernel what socket calls answer, step by step, so that
 * test/subsystems/net/sock-differential.test.ts can run the same steps on bpfkern.
 *
 *   sock_oracle            prints one line per step: `SCENARIO STEP RESULT`, where RESULT
 *                          is the return value (>= 0; getsockopt prints `0/optlen`) or the
 *                          errno name.
 *
 * Scenarios: the SO_ATTACH_FILTER/SO_DETACH_FILTER/SO_LOCK_FILTER/SO_GET_FILTER table on a
 * UDP socket, and TCP over the loopback (listen, accept, connect, send, recv, shutdown,
 * close). No privileges needed: every address is 127.0.0.1/::1 with kernel-chosen ports.
 * Exit status 0; 77 when the host refuses loopback sockets.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_LOCK_FILTER
#define SO_LOCK_FILTER 44
#endif

static const char *scen = "";

static const char *errname(int e) {
  switch (e) {
  case EINVAL: return "EINVAL";
  case EPERM: return "EPERM";
  case ENOENT: return "ENOENT";
  case EFAULT: return "EFAULT";
  case EACCES: return "EACCES";
  case ENOTCONN: return "ENOTCONN";
  case EISCONN: return "EISCONN";
  case EPIPE: return "EPIPE";
  case ECONNREFUSED: return "ECONNREFUSED";
  case ECONNRESET: return "ECONNRESET";
  case EADDRINUSE: return "EADDRINUSE";
  case EOPNOTSUPP: return "EOPNOTSUPP";
  case EAGAIN: return "EAGAIN";
  case EINPROGRESS: return "EINPROGRESS";
  case EALREADY: return "EALREADY";
  case ECONNABORTED: return "ECONNABORTED";
  case EAFNOSUPPORT: return "EAFNOSUPPORT";
  case EDESTADDRREQ: return "EDESTADDRREQ";
  case ENOPROTOOPT: return "ENOPROTOOPT";
  default: return "EOTHER";
  }
}

static void out(const char *step, long r) {
  if (r < 0) printf("%s %s %s\n", scen, step, errname(errno));
  else printf("%s %s %ld\n", scen, step, r);
}

static struct sock_filter ret1[] = { { 0x06, 0, 0, 1 } };
static struct sock_filter two[] = { { 0x00, 0, 0, 1 }, { 0x06, 0, 0, 1 } };

static long attach(int fd, struct sock_filter *f, int n, socklen_t optlen) {
  struct sock_fprog p = { (unsigned short)n, f };
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &p, optlen);
}
static long detach(int fd) { int z = 0; return setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &z, sizeof z); }
static long lockf_(int fd, int on) { return setsockopt(fd, SOL_SOCKET, SO_LOCK_FILTER, &on, sizeof on); }
static void get(int fd, const char *step, socklen_t len) {
  struct sock_filter buf[8];
  socklen_t l = len;
  long r = getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, buf, &l);
  if (r < 0) out(step, r);
  else printf("%s %s 0/%u\n", scen, step, (unsigned)l);
}

static void sockopts(void) {
  int fd;
  scen = "sockopt-detach-none";
  fd = socket(AF_INET, SOCK_DGRAM, 0);
  out("detach", detach(fd));
  get(fd, "get0", 0);
  close(fd);

  scen = "sockopt-attach-detach";
  fd = socket(AF_INET, SOCK_DGRAM, 0);
  out("attach", attach(fd, ret1, 1, sizeof(struct sock_fprog)));
  out("detach", detach(fd));
  out("detach", detach(fd));
  close(fd);

  scen = "sockopt-bad-optlen";
  fd = socket(AF_INET, SOCK_DGRAM, 0);
  out("attach8", attach(fd, ret1, 1, 8));
  out("attach0len", attach(fd, ret1, 0, sizeof(struct sock_fprog)));
  close(fd);

  scen = "sockopt-lock";
  fd = socket(AF_INET, SOCK_DGRAM, 0);
  out("attach", attach(fd, ret1, 1, sizeof(struct sock_fprog)));
  out("lock", lockf_(fd, 1));
  out("attach", attach(fd, ret1, 1, sizeof(struct sock_fprog)));
  out("detach", detach(fd));
  out("attach8", attach(fd, ret1, 1, 8));
  out("unlock", lockf_(fd, 0));
  out("lock", lockf_(fd, 1));
  {
    int v = 0; socklen_t l = sizeof v;
    long r = getsockopt(fd, SOL_SOCKET, SO_LOCK_FILTER, &v, &l);
    if (r < 0) out("getlock", r); else printf("%s getlock %d/%u\n", scen, v, (unsigned)l);
  }
  close(fd);

  scen = "sockopt-lock-empty";
  fd = socket(AF_INET, SOCK_DGRAM, 0);
  out("lock", lockf_(fd, 1));
  out("detach", detach(fd));
  out("attach", attach(fd, ret1, 1, sizeof(struct sock_fprog)));
  close(fd);

  scen = "sockopt-get";
  fd = socket(AF_INET, SOCK_DGRAM, 0);
  out("attach", attach(fd, two, 2, sizeof(struct sock_fprog)));
  get(fd, "get0", 0);
  get(fd, "get1", 1);
  get(fd, "get2", 2);
  get(fd, "get5", 5);
  close(fd);
}

static int v6;
static int fam(void) { return v6 ? AF_INET6 : AF_INET; }

/* A loopback address with the given port. */
static socklen_t addr(struct sockaddr_storage *ss, int port) {
  memset(ss, 0, sizeof *ss);
  if (v6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6; a->sin6_addr = in6addr_loopback; a->sin6_port = htons((unsigned short)port);
    return sizeof *a;
  }
  struct sockaddr_in *a = (struct sockaddr_in *)ss;
  a->sin_family = AF_INET; a->sin_addr.s_addr = htonl(INADDR_LOOPBACK); a->sin_port = htons((unsigned short)port);
  return sizeof *a;
}

static int port_of(int fd) {
  struct sockaddr_storage ss; socklen_t l = sizeof ss;
  getsockname(fd, (struct sockaddr *)&ss, &l);
  return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
}

/* A listening socket on the loopback; returns its port. */
static int listener(int *fd) {
  struct sockaddr_storage ss; socklen_t l = addr(&ss, 0);
  *fd = socket(fam(), SOCK_STREAM, 0);
  bind(*fd, (struct sockaddr *)&ss, l);
  listen(*fd, 8);
  return port_of(*fd);
}

static long do_connect(int fd, int port) {
  struct sockaddr_storage ss; socklen_t l = addr(&ss, port);
  return connect(fd, (struct sockaddr *)&ss, l);
}

static void tcp(void) {
  int l, c, a, port, u;
  char buf[64];
  struct sockaddr_storage ss;
  socklen_t sl;

  scen = v6 ? "tcp6-refused" : "tcp-refused";
  u = socket(fam(), SOCK_STREAM, 0);
  sl = addr(&ss, 0); bind(u, (struct sockaddr *)&ss, sl);
  port = port_of(u); /* bound, not listening: nobody accepts */
  c = socket(fam(), SOCK_STREAM, 0);
  out("connect", do_connect(c, port));
  out("connect-again", do_connect(c, port));
  out("send", send(c, "x", 1, MSG_NOSIGNAL));
  out("recv", recv(c, buf, sizeof buf, 0));
  close(c); close(u);

  scen = v6 ? "tcp6-unconnected" : "tcp-unconnected";
  c = socket(fam(), SOCK_STREAM, 0);
  out("recv", recv(c, buf, sizeof buf, MSG_DONTWAIT));
  out("send", send(c, "x", 1, MSG_NOSIGNAL));
  sl = addr(&ss, 9);
  out("sendto", sendto(c, "x", 1, MSG_NOSIGNAL, (struct sockaddr *)&ss, sl));
  out("shutdown", shutdown(c, SHUT_WR));
  out("accept", accept(c, NULL, NULL));
  out("shutdown3", shutdown(c, 3));
  close(c);

  scen = v6 ? "tcp6-bind" : "tcp-bind";
  port = listener(&l);
  c = socket(fam(), SOCK_STREAM, 0);
  sl = addr(&ss, port);
  out("bind-inuse", bind(c, (struct sockaddr *)&ss, sl));
  sl = addr(&ss, 0);
  out("bind", bind(c, (struct sockaddr *)&ss, sl) < 0 ? -1 : 0);
  out("bind-twice", bind(c, (struct sockaddr *)&ss, sl));
  out("listen-again", listen(l, 4));
  out("connect-listener", do_connect(l, port));
  close(c); close(l);

  scen = v6 ? "tcp6-conversation" : "tcp-conversation";
  port = listener(&l);
  c = socket(fam(), SOCK_STREAM, 0);
  out("connect", do_connect(c, port));
  out("connect-again", do_connect(c, port));
  a = accept(l, NULL, NULL);
  out("accept", a >= 0 ? 0 : -1);
  out("listen-connected", listen(c, 1));
  out("send", send(c, "hello", 5, 0));
  out("send", send(c, "world", 5, 0));
  out("recv3", recv(a, buf, 3, 0));
  out("recv", recv(a, buf, sizeof buf, 0));
  out("shutdown-wr", shutdown(c, SHUT_WR));
  out("send-after-shutdown", send(c, "x", 1, MSG_NOSIGNAL));
  out("peer-recv-eof", recv(a, buf, sizeof buf, 0));
  out("peer-send", send(a, "back", 4, 0));
  out("recv-after-shutdown", recv(c, buf, sizeof buf, 0));
  close(a);
  usleep(10000);
  out("recv-eof", recv(c, buf, sizeof buf, 0));
  close(c); close(l);

  scen = v6 ? "tcp6-peer-closed" : "tcp-peer-closed";
  port = listener(&l);
  c = socket(fam(), SOCK_STREAM, 0);
  do_connect(c, port);
  a = accept(l, NULL, NULL);
  close(a);
  usleep(10000);
  out("recv", recv(c, buf, sizeof buf, 0));
  out("send1", send(c, "x", 1, MSG_NOSIGNAL));
  usleep(10000);
  out("send2", send(c, "x", 1, MSG_NOSIGNAL));
  out("send3", send(c, "x", 1, MSG_NOSIGNAL));
  out("recv", recv(c, buf, sizeof buf, 0));
  close(c); close(l);

  scen = v6 ? "tcp6-unread-reset" : "tcp-unread-reset";
  port = listener(&l);
  c = socket(fam(), SOCK_STREAM, 0);
  do_connect(c, port);
  a = accept(l, NULL, NULL);
  send(c, "data", 4, 0);
  usleep(10000);
  close(a); /* unread data: RST */
  usleep(10000);
  out("recv", recv(c, buf, sizeof buf, 0));
  out("recv", recv(c, buf, sizeof buf, 0));
  out("send", send(c, "x", 1, MSG_NOSIGNAL));
  close(c); close(l);

  scen = v6 ? "tcp6-nonblock" : "tcp-nonblock";
  port = listener(&l);
  c = socket(fam(), SOCK_STREAM | SOCK_NONBLOCK, 0);
  out("connect", do_connect(c, port));
  usleep(10000);
  out("connect-again", do_connect(c, port));
  out("connect-third", do_connect(c, port));
  a = accept4(l, NULL, NULL, SOCK_NONBLOCK);
  out("accept", a >= 0 ? 0 : -1);
  out("recv-empty", recv(a, buf, sizeof buf, 0));
  close(a); close(c); close(l);
  l = socket(fam(), SOCK_STREAM | SOCK_NONBLOCK, 0);
  sl = addr(&ss, 0); bind(l, (struct sockaddr *)&ss, sl);
  listen(l, 1);
  out("accept-empty", accept(l, NULL, NULL));
  close(l);

  scen = v6 ? "tcp6-nonblock-refused" : "tcp-nonblock-refused";
  u = socket(fam(), SOCK_STREAM, 0);
  sl = addr(&ss, 0); bind(u, (struct sockaddr *)&ss, sl);
  port = port_of(u);
  c = socket(fam(), SOCK_STREAM | SOCK_NONBLOCK, 0);
  out("connect", do_connect(c, port));
  usleep(10000);
  {
    int e = -1; socklen_t el = sizeof e;
    getsockopt(c, SOL_SOCKET, SO_ERROR, &e, &el);
    printf("%s so_error %s\n", scen, e ? errname(e) : "0");
  }
  out("connect-again", do_connect(c, port));
  close(c); close(u);

  scen = v6 ? "tcp6-udp-ops" : "tcp-udp-ops";
  u = socket(fam(), SOCK_DGRAM, 0);
  out("listen", listen(u, 1));
  out("accept", accept(u, NULL, NULL));
  out("shutdown", shutdown(u, SHUT_RDWR));
  out("connect", do_connect(u, 9));
  out("shutdown-connected", shutdown(u, SHUT_RDWR));
  close(u);
}

int main(void) {
  int probe = socket(AF_INET, SOCK_STREAM, 0);
  if (probe < 0) { perror("socket"); return 77; }
  close(probe);
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);
  sockopts();
  v6 = 0;
  tcp();
  probe = socket(AF_INET6, SOCK_STREAM, 0);
  if (probe >= 0) {
    struct sockaddr_in6 a; memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6; a.sin6_addr = in6addr_loopback;
    if (bind(probe, (struct sockaddr *)&a, sizeof a) == 0) { v6 = 1; close(probe); tcp(); }
    else close(probe);
  }
  return 0;
}
