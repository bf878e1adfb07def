/**
 * `demo`: a small busy system. init starts sshd, nginx (www-data, with a worker thread),
 * cron and a login bash. Every round bash forks a child that execs `sleep`, catches what
 * it can and keeps making syscalls; bash sends it the next few signals of 1..31 (SIGSTOP
 * is followed by SIGCONT; SIGKILL ends the child early), then kills and reaps it. sshd,
 * nginx and cron make their usual syscalls (the ones the kernel lacks fail with ENOSYS
 * but still pass seccomp and fire sys_enter/sys_exit). Choices are seeded.
 */
import type { Kernel } from '../../kernel/kernel.js';
import { SIG } from '../../kernel/signal.js';
import { userCred } from '../../kernel/task.js';
import type { Proc } from '../libc/process.js';
import { exec, fork, kill, sigaction, spawn, syscallRaw, thread, waitpid } from '../libc/proc.js';
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
  nginx: [['epoll_wait', 4, null, 512, 1000], ['accept4', 6, null, null, 0], ['recvfrom', 7, null, 1024, 0], ['sendto', 7, null, 512, 0], ['close', 7]],
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

    const init = spawn(kernel, { comm: 'systemd' }, async (p) => {
      // Servers ignore the odd stray signal rather than die.
      spawn(kernel, { comm: 'sshd', parent: p.task }, (s) => loop(s, server('sshd')));
      spawn(kernel, { comm: 'nginx', cred: userCred(33), parent: p.task }, async (n) => {
        await thread(n, (w) => loop(w, server('nginx')));
        await loop(n, server('nginx'));
      });
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
