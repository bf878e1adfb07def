/**
 * I/O multiplexing (kernel/poll.ts): poll/ppoll/select/pselect6/epoll over sockets,
 * trace_pipe and seccomp listeners; wake-ups from each wait queue, POLLNVAL, POLLHUP,
 * timeouts on the deterministic clock (idle jumps) and in real-time mode, EINTR, and the
 * argument checks.
 */
import { describe, expect, it } from 'vitest';
import {
  AF_INET, AF_UNIX, EPOLLET, EPOLLIN, EPOLLONESHOT, EPOLLOUT, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, FD_ISSET,
  O_NONBLOCK, O_RDONLY, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLRDHUP, POLLRDNORM, SIG, SOCK_DGRAM, SOCK_STREAM,
  SyscallError, bind, bootKernel, close, connect, epollCreate1, epollCtl, epollWait, errnoName, fdSet, fdSetMembers, fork,
  listen, open, poll, pollfds, ppoll, pselect, read, recv, select, send, sigaction, socket, socketpair, spawn, waitpid, write,
  writeFile, type Proc,
} from '../../index.js';
import { syscall } from '../../kernel/syscall.js';
import { ioctl, kill, seccomp, syscallRaw } from '../../userspace/libc/proc.js';
import {
  SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_IOCTL_NOTIF_RECV, SECCOMP_IOCTL_NOTIF_SEND, SECCOMP_SET_MODE_FILTER,
  type SeccompNotif,
} from '../../subsystems/seccomp/uapi.js';
import { sf } from '../../kernel/bpf/classic/isa.js';
import { tracingOf } from '../../subsystems/tracing/index.js';

const T = '/sys/kernel/tracing';
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

async function run(main: (p: Proc) => Promise<void>, opts: { realTime?: boolean } = {}): Promise<void> {
  const kernel = bootKernel({ seed: 7, ...opts });
  const h = spawn(kernel, { comm: 'prog' }, async (p) => {
    await main(p);
    return 0;
  });
  const status = await h.exited;
  if (h.error) throw h.error;
  expect(status).toBe(0);
}

async function errnoOf(pr: Promise<unknown>): Promise<string> {
  try {
    await pr;
  } catch (e) {
    if (e instanceof SyscallError) return errnoName(e.errno) ?? String(e.errno);
    throw e;
  }
  return 'no error';
}

/** Lets every runnable Promise job run (the mini-OS goes idle only after a host turn). */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe('poll(2)', () => {
  it('sleeps on two sockets and wakes when one gets data; the other reports nothing', async () => {
    await run(async (p) => {
      const [a1, b1] = await socketpair(p, AF_UNIX, SOCK_DGRAM);
      const [a2, b2] = await socketpair(p, AF_UNIX, SOCK_STREAM);
      const fds = pollfds({ fd: b1, events: POLLIN }, { fd: b2, events: POLLIN });
      let done = false;
      const pending = poll(p, fds, -1).then((n) => ((done = true), n));
      await settle();
      expect(done).toBe(false);
      expect(p.task.state).toBe('sleeping');
      await write(p, a2, 'hello');
      expect(await pending).toBe(1);
      expect(fds[0]!.revents).toBe(0);
      expect(fds[1]!.revents).toBe(POLLIN);
      expect(p.task.state).toBe('running');
      // Ready now: no wait; POLLRDNORM asked, POLLRDNORM answered.
      fds[1]!.events = POLLIN | POLLRDNORM | POLLOUT;
      expect(await poll(p, fds, 0)).toBe(1);
      expect(fds[1]!.revents).toBe(POLLIN | POLLRDNORM | POLLOUT);
      await close(p, a1);
    });
  });

  it('another task sending wakes the poller (a UDP socket and a TCP listener getting a connection)', async () => {
    await run(async (p) => {
      const udp = await socket(p, AF_INET, SOCK_DGRAM);
      await bind(p, udp, { family: AF_INET, addr: '127.0.0.1', port: 5000 });
      const lst = await socket(p, AF_INET, SOCK_STREAM);
      await bind(p, lst, { family: AF_INET, addr: '127.0.0.1', port: 5001 });
      await listen(p, lst, 4);
      const fds = pollfds({ fd: udp, events: POLLIN }, { fd: lst, events: POLLIN });
      const child = await fork(p, async (c) => {
        const s = await socket(c, AF_INET, SOCK_STREAM);
        await connect(c, s, { family: AF_INET, addr: '127.0.0.1', port: 5001 });
        return 0;
      });
      expect(await poll(p, fds, -1)).toBe(1);
      expect(fds[1]!.revents).toBe(POLLIN);
      expect(fds[0]!.revents).toBe(0);
      await waitpid(p, child);
      const child2 = await fork(p, async (c) => {
        const s = await socket(c, AF_INET, SOCK_DGRAM);
        await syscallRaw(c, 'sendto', s, enc('dgram'), 5, 0, { family: AF_INET, addr: '127.0.0.1', port: 5000 });
        return 0;
      });
      fds[1]!.events = 0;
      expect(await poll(p, fds, 5000)).toBe(1);
      expect(fds[0]!.revents).toBe(POLLIN);
      await waitpid(p, child2);
      expect(new TextDecoder().decode(await recv(p, udp, 16))).toBe('dgram');
    });
  });

  it('POLLNVAL for a closed fd, negative fds are ignored, nfds 0 with timeout 0', async () => {
    await run(async (p) => {
      const [a] = await socketpair(p, AF_UNIX, SOCK_DGRAM);
      const fds = pollfds({ fd: 77, events: POLLIN }, { fd: -1, events: POLLIN }, { fd: a, events: POLLOUT });
      expect(await poll(p, fds, -1)).toBe(2);
      expect(fds.map((f) => f.revents)).toEqual([POLLNVAL, 0, POLLOUT]);
      expect(await poll(p, [], 0)).toBe(0);
    });
  });

  it('timeout 0 returns at once with 0; a timeout elapses on the deterministic clock when idle', async () => {
    await run(async (p) => {
      const [, b] = await socketpair(p, AF_UNIX, SOCK_DGRAM);
      const fds = pollfds({ fd: b, events: POLLIN });
      const r = syscall(p.kernel, p.task, 'poll', [fds, 1, 0]);
      expect(r).toBe(0); // synchronous: no wait at all
      const t0 = p.kernel.clock.now();
      expect(await poll(p, fds, 250)).toBe(0);
      const waited = p.kernel.clock.now() - t0;
      expect(waited >= 250_000_000n && waited < 251_000_000n).toBe(true);
      // ppoll writes the time left back.
      const ts = { tv_sec: 1, tv_nsec: 500 };
      expect(await ppoll(p, fds, ts)).toBe(0);
      expect(ts).toEqual({ tv_sec: 0, tv_nsec: 0 });
    });
  });

  it('data arriving before the idle turn wins over the timeout; timers expire in deadline order', async () => {
    const kernel = bootKernel({ seed: 3 });
    const order: string[] = [];
    const mk = (name: string, ms: number) =>
      spawn(kernel, { comm: name }, async (p) => {
        const [, b] = await socketpair(p, AF_UNIX, SOCK_DGRAM);
        expect(await poll(p, pollfds({ fd: b, events: POLLIN }), ms)).toBe(0);
        order.push(name);
        return 0;
      });
    const hs = [mk('slow', 300), mk('fast', 100), mk('mid', 200)];
    for (const h of hs) expect(await h.exited).toBe(0);
    expect(order).toEqual(['fast', 'mid', 'slow']);
    await run(async (p) => {
      const [a, b] = await socketpair(p, AF_UNIX, SOCK_DGRAM);
      const child = await fork(p, async (c) => {
        await write(c, a, 'x');
        return 0;
      });
      expect(await poll(p, pollfds({ fd: b, events: POLLIN }), 10)).toBe(1);
      await waitpid(p, child);
    });
  });

  it('real-time mode: the timeout is a host timer', async () => {
    await run(async (p) => {
      const [, b] = await socketpair(p, AF_UNIX, SOCK_DGRAM);
      const start = Date.now();
      expect(await poll(p, pollfds({ fd: b, events: POLLIN }), 30)).toBe(0);
      expect(Date.now() - start).toBeGreaterThanOrEqual(25);
    }, { realTime: true });
  });

  it('POLLHUP on a stream socket whose peer closed; POLLRDHUP after the peer shut down writing', async () => {
    await run(async (p) => {
      const [a, b] = await socketpair(p, AF_UNIX, SOCK_STREAM);
      const fds = pollfds({ fd: b, events: POLLIN | POLLRDHUP });
      const pending = poll(p, fds, -1);
      await settle();
      await close(p, a);
      expect(await pending).toBe(1);
      expect(fds[0]!.revents).toBe(POLLIN | POLLRDHUP | POLLHUP);
      // POLLHUP is reported even when not asked for.
      fds[0]!.events = 0;
      expect(await poll(p, fds, 0)).toBe(1);
      expect(fds[0]!.revents).toBe(POLLHUP);
      // TCP: a fresh socket is POLLOUT | POLLHUP (CLOSE), as Linux's tcp_poll.
      const s = await socket(p, AF_INET, SOCK_STREAM);
      const t = pollfds({ fd: s, events: POLLIN | POLLOUT });
      expect(await poll(p, t, 0)).toBe(1);
      expect(t[0]!.revents).toBe(POLLOUT | POLLHUP);
    });
  });

  it('trace_pipe: poll wakes on an event', async () => {
    await run(async (p) => {
      await writeFile(p, `${T}/set_event`, 'syscalls:sys_enter_getppid\n');
      const fd = await open(p, `${T}/trace_pipe`, O_RDONLY | O_NONBLOCK);
      const fds = pollfds({ fd, events: POLLIN });
      expect(await poll(p, fds, 0)).toBe(0);
      const child = await fork(p, async (c) => {
        await syscallRaw(c, 'getppid');
        return 0;
      });
      expect(await poll(p, fds, -1)).toBe(1);
      expect(fds[0]!.revents).toBe(POLLIN);
      const buf = new Uint8Array(4096);
      const n = await read(p, fd, buf);
      expect(new TextDecoder().decode(buf.subarray(0, n))).toContain('sys_enter_getppid');
      await waitpid(p, child);
      // Many timed-out polls do not pile up waiters on the trace queue.
      for (let i = 0; i < 5; i++) expect(await poll(p, fds, 1)).toBe(0);
      expect(tracingOf(p.kernel).waiters.size).toBeLessThanOrEqual(1);
      await close(p, fd);
    });
  });

  it('seccomp listener: POLLIN while a notification is pending, POLLOUT once received', async () => {
    await run(async (p) => {
      const only39 = {
        len: 4,
        filter: [sf(0x20, 0, 0, 0), sf(0x15, 0, 1, 39), sf(0x06, 0, 0, 0x7fc00000), sf(0x06, 0, 0, 0x7fff0000)],
      };
      const lfd = await seccomp(p, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, only39);
      const fds = pollfds({ fd: lfd, events: POLLIN | POLLOUT });
      expect(await poll(p, fds, 0)).toBe(0);
      const child = await fork(p, async (c) => {
        const r = Number(await syscallRaw(c, 'getpid'));
        return r === 4242 ? 0 : 1;
      });
      expect(await poll(p, fds, -1)).toBe(1);
      expect(fds[0]!.revents).toBe(POLLIN);
      const n = {} as SeccompNotif;
      await ioctl(p, lfd, SECCOMP_IOCTL_NOTIF_RECV, n);
      expect(await poll(p, fds, 0)).toBe(1);
      expect(fds[0]!.revents).toBe(POLLOUT);
      await ioctl(p, lfd, SECCOMP_IOCTL_NOTIF_SEND, { id: n.id, val: 4242, error: 0, flags: 0 });
      expect((await waitpid(p, child)).status).toBe(0);
      expect(await poll(p, fds, 0)).toBe(0);
    });
  });

  it('a signal with a handler ends the wait with EINTR', async () => {
    await run(async (p) => {
      let got = 0;
      await sigaction(p, SIG.SIGUSR1, () => void got++);
      const [, b] = await socketpair(p, AF_UNIX, SOCK_DGRAM);
      const me = p.task.tgid;
      const pending = errnoOf(poll(p, pollfds({ fd: b, events: POLLIN }), -1));
      await settle();
      const killer = spawn(p.kernel, { comm: 'killer' }, async (k) => {
        await kill(k, me, SIG.SIGUSR1);
        return 0;
      });
      expect(await pending).toBe('EINTR');
      expect(got).toBe(1);
      await killer.exited;
    });
  });

  it('argument checks: EINVAL over RLIMIT_NOFILE, EFAULT for a short array, EINVAL for a bad timespec', async () => {
    await run(async (p) => {
      expect(await errnoOf(syscallRaw(p, 'poll', [], 1025, 0).then(chk))).toBe('EINVAL');
      expect(await errnoOf(syscallRaw(p, 'poll', [{ fd: 0, events: 1 }], 2, 0).then(chk))).toBe('EFAULT');
      expect(await errnoOf(ppoll(p, [], { tv_sec: 0, tv_nsec: 1_000_000_000 }))).toBe('EINVAL');
      expect(await errnoOf(ppoll(p, [], { tv_sec: -1, tv_nsec: 0 }))).toBe('EINVAL');
      expect(await errnoOf(syscallRaw(p, 'ppoll', [], 0, null, new Uint8Array(8), 4).then(chk))).toBe('EINVAL');
    });
  });

  it('the Uint8Array form of struct pollfd', async () => {
    await run(async (p) => {
      const [a, b] = await socketpair(p, AF_UNIX, SOCK_DGRAM);
      await write(p, a, 'x');
      const buf = new Uint8Array(16);
      const dv = new DataView(buf.buffer);
      dv.setInt32(0, b, true);
      dv.setInt16(4, POLLIN | POLLOUT, true);
      dv.setInt32(8, 99, true);
      dv.setInt16(12, POLLIN, true);
      expect(await syscallRaw(p, 'poll', buf, 2, 0)).toBe(2);
      expect(dv.getUint16(6, true)).toBe(POLLIN | POLLOUT);
      expect(dv.getUint16(14, true)).toBe(POLLNVAL);
      expect(await errnoOf(syscallRaw(p, 'poll', buf, 3, 0).then(chk))).toBe('EFAULT');
    });
  });
});

function chk(r: number | bigint): number {
  const n = Number(r);
  if (n < 0) throw new SyscallError('raw', -n);
  return n;
}

describe('select(2) and pselect6(2)', () => {
  it('Uint8Array fd_sets: waits for the readable one, writability at once, EBADF for a closed fd', async () => {
    await run(async (p) => {
      const [a1, b1] = await socketpair(p, AF_UNIX, SOCK_DGRAM);
      const [a2, b2] = await socketpair(p, AF_UNIX, SOCK_DGRAM);
      const nfds = Math.max(b1, b2) + 1;
      const rd = fdSet(b1, b2);
      const pending = select(p, nfds, rd, null, null, null);
      await settle();
      await write(p, a1, 'x');
      expect(await pending).toBe(1);
      expect(fdSetMembers(rd, nfds)).toEqual([b1]);
      // Writable sockets answer at once; read and write bits both count.
      const r2 = fdSet(b1, b2);
      const w2 = fdSet(a2);
      expect(await select(p, nfds, r2, w2, null, { tv_sec: 0, tv_usec: 0 })).toBe(2);
      expect(FD_ISSET(b1, r2) && !FD_ISSET(b2, r2) && FD_ISSET(a2, w2)).toBe(true);
      expect(await errnoOf(select(p, 200, fdSet(150), null, null, null))).toBe('EBADF');
      expect(await errnoOf(select(p, -1, null, null, null, null))).toBe('EINVAL');
      expect(await errnoOf(select(p, 64, new Uint8Array(4), null, null, null))).toBe('EFAULT');
    });
  });

  it('number-array fd_sets (32-bit words) and a pselect6 timeout on the kernel clock', async () => {
    await run(async (p) => {
      const [a, b] = await socketpair(p, AF_UNIX, SOCK_DGRAM);
      const words = [(1 << a) | (1 << b)];
      const ts = { tv_sec: 0, tv_nsec: 5_000_000 };
      const t0 = p.kernel.clock.now();
      expect(await pselect(p, 32, words, null, null, ts)).toBe(0);
      expect(p.kernel.clock.now() - t0 >= 5_000_000n).toBe(true);
      expect(words).toEqual([0]);
      expect(ts.tv_nsec).toBe(0);
      await write(p, a, 'y');
      const rd = [(1 << a) | (1 << b)];
      const wr = [1 << a];
      expect(await pselect(p, 32, rd, wr, [0], null, new Uint8Array(8))).toBe(2);
      expect(rd).toEqual([1 << b]);
      expect(wr).toEqual([1 << a]);
      expect(await errnoOf(syscallRaw(p, 'pselect6', 32, null, null, null, null, { ss: new Uint8Array(8), ss_len: 7 }).then(chk))).toBe('EINVAL');
    });
  });
});

describe('epoll', () => {
  it('level-triggered, EPOLLONESHOT, EPOLLET, DEL, and a closed fd leaving the set', async () => {
    await run(async (p) => {
      const ep = await epollCreate1(p);
      const [a, b] = await socketpair(p, AF_UNIX, SOCK_STREAM);
      await epollCtl(p, ep, EPOLL_CTL_ADD, b, EPOLLIN, 'b-data');
      expect(await epollWait(p, ep, 8, 0)).toEqual([]);
      const pending = epollWait(p, ep, 8, -1);
      await settle();
      await write(p, a, 'hi');
      expect(await pending).toEqual([{ events: EPOLLIN, data: 'b-data' }]);
      // Level-triggered: still ready.
      expect(await epollWait(p, ep, 8, 0)).toHaveLength(1);
      expect(await errnoOf(epollCtl(p, ep, EPOLL_CTL_ADD, b, EPOLLIN))).toBe('EEXIST');
      // Oneshot: once, then disabled until MOD.
      await epollCtl(p, ep, EPOLL_CTL_MOD, b, EPOLLIN | EPOLLONESHOT, 7);
      expect(await epollWait(p, ep, 8, 0)).toEqual([{ events: EPOLLIN, data: 7 }]);
      expect(await epollWait(p, ep, 8, 0)).toEqual([]);
      // Edge-triggered: once per new arrival.
      await epollCtl(p, ep, EPOLL_CTL_MOD, b, EPOLLIN | EPOLLET, 8);
      expect(await epollWait(p, ep, 8, 0)).toHaveLength(1);
      expect(await epollWait(p, ep, 8, 0)).toEqual([]);
      await write(p, a, 'more');
      expect(await epollWait(p, ep, 8, 0)).toEqual([{ events: EPOLLIN, data: 8 }]);
      await epollCtl(p, ep, EPOLL_CTL_DEL, b);
      expect(await errnoOf(epollCtl(p, ep, EPOLL_CTL_DEL, b))).toBe('ENOENT');
      await epollCtl(p, ep, EPOLL_CTL_ADD, a, EPOLLOUT, 'a');
      expect(await epollWait(p, ep, 8, 0)).toEqual([{ events: EPOLLOUT, data: 'a' }]);
      // The epoll fd itself polls readable.
      const fds = pollfds({ fd: ep, events: POLLIN });
      expect(await poll(p, fds, 0)).toBe(1);
      await close(p, a);
      expect(await epollWait(p, ep, 8, 0)).toEqual([]);
      expect(await errnoOf(syscallRaw(p, 'epoll_wait', ep, [], 0, 0).then(chk))).toBe('EINVAL');
      expect(await errnoOf(syscallRaw(p, 'epoll_wait', b, [], 1, 0).then(chk))).toBe('EINVAL');
    });
  });
});

describe('a task killed while it polls', () => {
  it('leaves no timer behind (the clock does not jump to its deadline)', async () => {
    await run(async (p) => {
      const [, b] = await socketpair(p, AF_UNIX, SOCK_DGRAM);
      const child = await fork(p, async (c) => {
        await poll(c, pollfds({ fd: b, events: POLLIN }), 60_000);
        return 0;
      });
      await settle();
      const t0 = p.kernel.clock.now();
      await kill(p, child, SIG.SIGKILL);
      const w = await waitpid(p, child);
      expect(w.status & 0x7f).toBe(SIG.SIGKILL);
      // An idle turn: a leftover timer would jump the clock by a minute.
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      expect(p.kernel.clock.now() - t0 < 1_000_000_000n).toBe(true);
    });
  });
});
