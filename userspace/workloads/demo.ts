/**
 * `demo`: a small busy system. init starts sshd, nginx (www-data, with a worker thread),
 * cron and a login bash. Every round bash forks a child that execs `sleep`, catches what
 * it can and keeps making syscalls; bash sends it the next few signals of 1..31 (SIGSTOP
 * is followed by SIGCONT; SIGKILL ends the child early), then kills and reaps it. sshd,
 * nginx and cron make their usual syscalls (the ones the kernel lacks fail with ENOSYS
 * but still pass seccomp and fire sys_enter/sys_exit). Choices are seeded.
 *
 * The network: `named` answers UDP queries on 127.0.0.1:53 and [::1]:53; `dig` asks it
 * (and now and then 10.0.2.3, QEMU's DNS, which leaves through eth0 unanswered); `nginx`
 * listens on TCP port 80 (IPv4) and [::1]:80 and its worker thread serves `curl`: it reads
 * the request, answers with Connection: close and closes; curl reads to the end and
 * closes, so every connection ends with both sides gone. curl also tries an outside
 * address now and then (a SYN out of eth0, EINPROGRESS, close). `tcpdump` reads every frame
 * on every device through an AF_PACKET socket with a classic filter (IPv4 and IPv6 only),
 * draining its queue every round. Servers poll (MSG_DONTWAIT, nonblocking sockets) so that
 * stop() never waits on a blocked call.
 */
import type { Kernel } from '../../kernel/kernel.js';
import { SIG } from '../../kernel/signal.js';
import { userCred } from '../../kernel/task.js';
import type { Proc } from '../libc/process.js';
import { exec, fork, kill, sigaction, spawn, syscallRaw, thread, waitpid } from '../libc/proc.js';
import * as net from '../libc/net.js';
import type { RunningWorkload, Workload, WorkloadOptions } from './index.js';

/** xorshift32: the workload's own seeded choices (the kernel's prandom stays untouched). */
class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = (seed * 2654435761) >>> 0 || 1;
  }
  below(n: number): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s % n;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.below(xs.length)]!;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Calls that fail are part of the show; a workload never stops on an errno. */
async function quiet(p: Proc, name: string, ...args: (number | string | null)[]): Promise<void> {
  await syscallRaw(p, name, ...args);
}

const SERVER_CALLS: Record<string, readonly (readonly [string, ...(number | string | null)[]])[]> = {
  sshd: [['getuid'], ['geteuid'], ['openat', -100, '/etc/ssh/sshd_config', 0], ['read', 3, null, 4096], ['close', 3], ['uname', null]],
  nginx: [['epoll_wait', 4, null, 512, 1000], ['getpid'], ['openat', -100, '/var/www/index.html', 0]],
  cron: [['getpid'], ['openat', -100, '/etc/crontab', 0], ['stat', '/etc/crontab', null], ['close', 3]],
};

export const demoWorkload: Workload = {
  name: 'demo',
  summary: 'bash, sleep, sshd, nginx, cron: fork, exec, syscalls, signals 1..31 (seeded)',
  start(kernel: Kernel, opts: WorkloadOptions): RunningWorkload {
    // One generator per program, so timing between programs cannot change anyone's choices.
    const rngs = new Map<string, Rng>();
    const rngOf = (name: string): Rng => {
      let r = rngs.get(name);
      if (!r) {
        r = new Rng(opts.seed * 31 + rngs.size + 1);
        rngs.set(name, r);
      }
      return r;
    };
    const interval = opts.intervalMs ?? 50;
    let running = true;
    let nextSig = 1;
    const loops: Promise<unknown>[] = [];

    /** The child bash forks each round: handlers for every catchable signal, then syscalls. */
    const sleeper = (ready: () => void) => async (p: Proc): Promise<number> => {
      let done = false;
      for (let s = 1; s <= 31; s++) {
        if (s === SIG.SIGKILL || s === SIG.SIGSTOP) continue;
        await sigaction(p, s, s === SIG.SIGTERM ? () => void (done = true) : () => undefined);
      }
      ready();
      for (let i = 0; i < 200 && !done && running; i++) {
        await quiet(p, 'nanosleep', null, null);
        await quiet(p, 'getpid');
        await sleep(10);
      }
      return 0;
    };

    const bashRound = async (p: Proc): Promise<void> => {
      let ready: () => void = () => undefined;
      const handlersSet = new Promise<void>((r) => (ready = r));
      const child = await fork(p, (c) => exec(c, '/bin/sleep', sleeper(ready)));
      await Promise.race([handlersSet, sleep(1000)]);
      const n = 2 + rngOf('bash').below(3);
      try {
        for (let i = 0; i < n; i++) {
          const sig = nextSig;
          nextSig = (nextSig % 31) + 1;
          await kill(p, child, sig);
          if (sig === SIG.SIGKILL) break;
          if (sig === SIG.SIGSTOP || sig === SIG.SIGTSTP) await kill(p, child, SIG.SIGCONT);
          await sleep(1);
        }
        await kill(p, child, SIG.SIGKILL);
      } catch {
        // The child may already be gone (SIGKILL, or a default-fatal signal).
      }
      await waitpid(p, child).catch(() => undefined);
    };

    const loop = (p: Proc, body: (p: Proc) => Promise<void>): Promise<void> => {
      const run = async (): Promise<void> => {
        while (running) {
          await body(p);
          await sleep(interval);
        }
      };
      const done = run();
      loops.push(done.catch(() => undefined));
      return done;
    };

    const server = (name: string) => async (p: Proc): Promise<void> => {
      const calls = SERVER_CALLS[name] ?? [];
      for (let i = 0; i < 2; i++) {
        const [call, ...args] = rngOf(name).pick(calls);
        await quiet(p, call, ...args);
      }
    };

    const enc = new TextEncoder();
    const dec = new TextDecoder();
    const NAMES = ['example.com', 'kernel.org', 'ebpf.io', 'lwn.net', 'tcpdump.org', 'nodejs.org'] as const;
    /** Errors are part of the show here too. */
    const tryNet = async <T>(f: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await f();
      } catch {
        return undefined;
      }
    };

    /** named: UDP on 127.0.0.1:53 and [::1]:53, answering whatever is queued. */
    const named = async (p: Proc): Promise<void> => {
      const fds: number[] = [];
      for (const [family, addr] of [[net.AF_INET, '127.0.0.1'], [net.AF_INET6, '::1']] as const) {
        const fd = await net.socket(p, family, net.SOCK_DGRAM);
        await net.bind(p, fd, { family, addr, port: 53 });
        fds.push(fd);
      }
      await loop(p, async () => {
        for (const fd of fds) {
          for (;;) {
            const from: Partial<net.SockAddr> = {};
            const q = await tryNet(() => net.recvfrom(p, fd, 512, net.MSG_DONTWAIT, from));
            if (!q) break;
            const answer = enc.encode(`${dec.decode(q.data)} IN A 93.184.216.34`);
            await tryNet(() => net.sendto(p, fd, answer, 0, from as net.SockAddr));
          }
        }
      });
    };

    /** dig: one query a round, to named (v4 or v6) or out of eth0. */
    const dig = async (p: Proc): Promise<void> => {
      const r = rngOf('dig');
      const where = r.pick([[net.AF_INET, '127.0.0.1'], [net.AF_INET6, '::1'], [net.AF_INET, '127.0.0.1'], [net.AF_INET, '10.0.2.3']] as const);
      const fd = await net.socket(p, where[0], net.SOCK_DGRAM);
      await tryNet(() => net.sendto(p, fd, enc.encode(r.pick(NAMES)), 0, { family: where[0], addr: where[1], port: 53 }));
      await sleep(interval);
      await tryNet(() => net.recvfrom(p, fd, 512, net.MSG_DONTWAIT));
      await net.close(p, fd);
    };

    /**
     * One HTTP/1.1 exchange as nginx has it: read until the request's header ends (a few
     * rounds, then give up as client_header_timeout would), answer with Connection: close,
     * close. The accepted socket is nonblocking (accept4 SOCK_NONBLOCK): a request not yet
     * here is EAGAIN, not a wait.
     */
    const serveHttp = async (p: Proc, c: number): Promise<void> => {
      let req = '';
      for (let i = 0; i < 20 && running && !req.includes('\r\n\r\n'); i++) {
        const got = await tryNet(() => net.recv(p, c, 1024));
        if (got?.length === 0) break; // the client went away
        if (got === undefined) await sleep(interval);
        else req += dec.decode(got);
      }
      if (req.includes('\r\n\r\n')) {
        const body = `<h1>${req.split(' ')[1] ?? '/'}</h1>`;
        const head = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
        await tryNet(() => net.send(p, c, enc.encode(head + body), net.MSG_NOSIGNAL));
      }
      await net.close(p, c);
    };

    /** nginx's worker: takes every queued connection (the listener is nonblocking) and serves it. */
    const nginxWorker = (listenFd: number) => async (p: Proc): Promise<void> => {
      for (;;) {
        const c = await tryNet(() => net.accept4(p, listenFd, {}, net.SOCK_NONBLOCK));
        if (c === undefined) break;
        await serveHttp(p, c);
      }
      await server('nginx')(p);
    };

    /**
     * curl: a GET to nginx, reading the answer to its end (nginx closes), or a connect out
     * of eth0 that nobody answers.
     */
    const curl = async (p: Proc): Promise<void> => {
      const r = rngOf('curl');
      if (r.below(5) === 0) {
        const fd = await net.socket(p, net.AF_INET, net.SOCK_STREAM | net.SOCK_NONBLOCK);
        await tryNet(() => net.connect(p, fd, { family: net.AF_INET, addr: '93.184.216.34', port: 80 }));
        await net.close(p, fd);
        return;
      }
      const family = r.below(3) === 0 ? net.AF_INET6 : net.AF_INET;
      const fd = await net.socket(p, family, net.SOCK_STREAM);
      const ok = await tryNet(() => net.connect(p, fd, { family, addr: family === net.AF_INET ? '127.0.0.1' : '::1', port: 80 }));
      if (ok !== undefined) {
        await tryNet(() => net.send(p, fd, enc.encode(`GET /${r.pick(NAMES)} HTTP/1.1\r\nHost: localhost\r\n\r\n`)));
        for (let i = 0; i < 20 && running; i++) {
          const got = await tryNet(() => net.recv(p, fd, 4096, net.MSG_DONTWAIT));
          if (got !== undefined && got.length === 0) break; // nginx closed: the response is complete
          if (got === undefined) await sleep(interval);
        }
      }
      await net.close(p, fd);
    };

    /** tcpdump: an AF_PACKET listener on every device, IPv4/IPv6 only (a classic filter). */
    const tcpdump = async (p: Proc): Promise<void> => {
      const fd = await net.socket(p, net.AF_PACKET, net.SOCK_RAW, net.htons(net.ETH_P_ALL));
      // ldh [12]; jeq #0x800, keep; jeq #0x86dd, keep; ret #0; keep: ret #262144
      await net.attachFilter(p, fd, [
        { code: 0x28, jt: 0, jf: 0, k: 12 },
        { code: 0x15, jt: 2, jf: 0, k: 0x800 },
        { code: 0x15, jt: 1, jf: 0, k: 0x86dd },
        { code: 0x06, jt: 0, jf: 0, k: 0 },
        { code: 0x06, jt: 0, jf: 0, k: 262144 },
      ]);
      await loop(p, async () => {
        while ((await tryNet(() => net.recvfrom(p, fd, 65536, net.MSG_DONTWAIT))) !== undefined);
      });
    };

    const init = spawn(kernel, { comm: 'systemd' }, async (p) => {
      // Servers ignore the odd stray signal rather than die.
      spawn(kernel, { comm: 'sshd', parent: p.task }, (s) => loop(s, server('sshd')));
      spawn(kernel, { comm: 'tcpdump', parent: p.task }, tcpdump);
      spawn(kernel, { comm: 'named', parent: p.task }, named);
      // The nginx master binds :80 as root; its worker thread serves.
      spawn(kernel, { comm: 'nginx', parent: p.task }, async (n) => {
        // listen 80; listen [::1]:80 — a v6 wildcard would take the IPv4 port too (bindv6only=0).
        // Nonblocking listeners, as nginx's: accept4's SOCK_NONBLOCK is for the new socket
        // only, and a blocking accept on one listener would starve the other.
        const fd = await net.socket(n, net.AF_INET, net.SOCK_STREAM | net.SOCK_NONBLOCK);
        await net.bind(n, fd, { family: net.AF_INET, addr: '0.0.0.0', port: 80 });
        await net.listen(n, fd, 511);
        const fd4 = await net.socket(n, net.AF_INET6, net.SOCK_STREAM | net.SOCK_NONBLOCK);
        await net.bind(n, fd4, { family: net.AF_INET6, addr: '::1', port: 80 });
        await net.listen(n, fd4, 511);
        await thread(n, (w) => loop(w, async (wp) => {
          await nginxWorker(fd)(wp);
          await nginxWorker(fd4)(wp);
        }));
        await loop(n, server('nginx'));
      });
      spawn(kernel, { comm: 'dig', cred: userCred(1000), parent: p.task }, (d) => loop(d, dig));
      spawn(kernel, { comm: 'curl', cred: userCred(1000), parent: p.task }, (c) => loop(c, curl));
      spawn(kernel, { comm: 'cron', parent: p.task }, (c) => loop(c, server('cron')));
      spawn(kernel, { comm: 'bash', cred: userCred(1000), parent: p.task }, (b) => loop(b, bashRound));
      while (running) {
        await quiet(p, 'wait4', -1, null, 1, null); // WNOHANG: reap what an init would
        await sleep(100);
      }
    });
    loops.push(init.exited);

    return {
      name: 'demo',
      stop: async () => {
        running = false;
        await Promise.race([Promise.all(loops), sleep(2000)]);
      },
    };
  },
};
