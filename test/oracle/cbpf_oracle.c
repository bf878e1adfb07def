/*
 * cbpf_oracle: ask the host kernel what a classic socket filter does.
 *
 *   cbpf_oracle [--mode unix|packet|udp] --prog 'N,code jt jf k,...' [--packet HEX|-]...
 *   cbpf_oracle [--mode ...] --batch          stdin lines: PROG|HEX HEX ...
 *
 * Prints one JSON line per program:
 *   {"attached":true,"errno":null,"results":[{"len":50,"received":50},...]}
 *   {"attached":false,"errno":"EINVAL"}
 *
 * unix:   AF_UNIX SOCK_DGRAM socketpair, filter on the receiver; the filter sees the payload.
 * packet: AF_PACKET SOCK_RAW (ETH_P_ALL) on lo inside a private network namespace; a second
 *         packet socket sends each frame; the outgoing copy is skipped, the looped-back
 *         incoming one is reported. Needs root (CAP_NET_RAW, CAP_SYS_ADMIN for unshare).
 * udp:    AF_INET SOCK_DGRAM on 127.0.0.1 inside the namespace; the packet is the payload.
 * Exit status 0; 77 when the host refuses the setup (not root, no namespaces).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *errname(int e) {
  switch (e) {
  case EINVAL: return "EINVAL";
  case EPERM: return "EPERM";
  case ENOMEM: return "ENOMEM";
  case EFAULT: return "EFAULT";
  case ENOENT: return "ENOENT";
  case EACCES: return "EACCES";
  default: return "EOTHER";
  }
}

static int parse_prog(const char *s, struct sock_filter *out, int max) {
  char *copy = strdup(s), *save = NULL;
  char *tok = strtok_r(copy, ",\n", &save);
  int n = 0, count;
  if (!tok) { free(copy); return -1; }
  count = (int)strtol(tok, NULL, 0);
  while ((tok = strtok_r(NULL, ",\n", &save)) != NULL && n < max) {
    unsigned long c, jt, jf, k;
    if (sscanf(tok, "%li %li %li %li", (long *)&c, (long *)&jt, (long *)&jf, (long *)&k) != 4) continue;
    out[n].code = (unsigned short)c; out[n].jt = (unsigned char)jt;
    out[n].jf = (unsigned char)jf; out[n].k = (unsigned int)k; n++;
  }
  free(copy);
  return n == count ? n : -1;
}

static int parse_hex(const char *s, unsigned char *out, int max) {
  int n = 0;
  if (strcmp(s, "-") == 0) return 0;
  while (s[0] && s[1] && n < max) {
    unsigned int b;
    if (sscanf(s, "%2x", &b) != 1) return -1;
    out[n++] = (unsigned char)b; s += 2;
  }
  return n;
}

static const char *mode = "unix";
static int lo_index;

static int setup_ns(void) {
  struct ifreq ifr;
  int fd;
  if (unshare(CLONE_NEWNET) != 0) return -1;
  fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return -1;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) return -1;
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) return -1;
  close(fd);
  lo_index = (int)if_nametoindex("lo");
  return 0;
}

/* Runs one program over packets and prints the JSON line. */
static void run(const char *progtext, char **pkts, int npkts) {
  static struct sock_filter f[BPF_MAXINSNS + 2];
  static unsigned char buf[70000], rbuf[70000];
  struct sock_fprog fp;
  int n = parse_prog(progtext, f, BPF_MAXINSNS + 1);
  int rx = -1, tx = -1, i;
  struct sockaddr_in udpaddr;
  struct sockaddr_ll ll;
  if (n < 0) { printf("{\"attached\":false,\"errno\":\"EINVAL\",\"parse_error\":true}\n"); return; }
  if (strcmp(mode, "unix") == 0) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) != 0) { perror("socketpair"); exit(77); }
    rx = sv[0]; tx = sv[1];
  } else if (strcmp(mode, "packet") == 0) {
    rx = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    tx = socket(AF_PACKET, SOCK_RAW, 0);
    if (rx < 0 || tx < 0) { perror("packet socket"); exit(77); }
    memset(&ll, 0, sizeof ll);
    ll.sll_family = AF_PACKET; ll.sll_protocol = htons(ETH_P_ALL); ll.sll_ifindex = lo_index;
    if (bind(rx, (struct sockaddr *)&ll, sizeof ll) != 0) { perror("bind"); exit(77); }
  } else {
    socklen_t al = sizeof udpaddr;
    rx = socket(AF_INET, SOCK_DGRAM, 0);
    tx = socket(AF_INET, SOCK_DGRAM, 0);
    memset(&udpaddr, 0, sizeof udpaddr);
    udpaddr.sin_family = AF_INET; udpaddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(rx, (struct sockaddr *)&udpaddr, sizeof udpaddr) != 0) { perror("bind"); exit(77); }
    getsockname(rx, (struct sockaddr *)&udpaddr, &al);
  }
  fp.len = (unsigned short)n; fp.filter = f;
  if (setsockopt(rx, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof fp) != 0) {
    printf("{\"attached\":false,\"errno\":\"%s\"}\n", errname(errno));
    close(rx); close(tx);
    return;
  }
  printf("{\"attached\":true,\"errno\":null,\"results\":[");
  for (i = 0; i < npkts; i++) {
    int len = parse_hex(pkts[i], buf, sizeof buf), got = -1;
    ssize_t r;
    if (strcmp(mode, "unix") == 0) {
      send(tx, buf, (size_t)len, 0);
    } else if (strcmp(mode, "packet") == 0) {
      sendto(tx, buf, (size_t)len, 0, (struct sockaddr *)&ll, sizeof ll);
    } else {
      sendto(tx, buf, (size_t)len, 0, (struct sockaddr *)&udpaddr, sizeof udpaddr);
    }
    for (;;) {
      struct sockaddr_ll from;
      socklen_t fl = sizeof from;
      r = recvfrom(rx, rbuf, sizeof rbuf, MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&from, &fl);
      if (r < 0) break;
      if (strcmp(mode, "packet") == 0 && from.sll_pkttype == PACKET_OUTGOING) continue;
      got = (int)r;
      break;
    }
    printf("%s{\"len\":%d,\"received\":%d,\"dropped\":%s}", i ? "," : "", len, got < 0 ? 0 : got,
           got < 0 ? "true" : "false");
  }
  printf("]}\n");
  fflush(stdout);
  close(rx); close(tx);
}

int main(int argc, char **argv) {
  char *prog = NULL;
  char *pkts[256];
  int npkts = 0, batch = 0, i;
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) mode = argv[++i];
    else if (strcmp(argv[i], "--prog") == 0 && i + 1 < argc) prog = argv[++i];
    else if (strcmp(argv[i], "--packet") == 0 && i + 1 < argc && npkts < 256) pkts[npkts++] = argv[++i];
    else if (strcmp(argv[i], "--batch") == 0) batch = 1;
    else { fprintf(stderr, "usage: cbpf_oracle [--mode unix|packet|udp] --prog P [--packet HEX]... | --batch\n"); return 2; }
  }
  if (strcmp(mode, "unix") != 0 && setup_ns() != 0) { perror("network namespace"); return 77; }
  if (!batch) {
    if (!prog) return 2;
    run(prog, pkts, npkts);
    return 0;
  }
  {
    static char line[1 << 20];
    while (fgets(line, sizeof line, stdin)) {
      char *bar = strchr(line, '|'), *save = NULL, *tok;
      npkts = 0;
      if (!bar) continue;
      *bar = 0;
      for (tok = strtok_r(bar + 1, " \t\n", &save); tok && npkts < 256; tok = strtok_r(NULL, " \t\n", &save)) pkts[npkts++] = tok;
      run(line, pkts, npkts);
    }
  }
  return 0;
}
