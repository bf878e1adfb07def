// seccomp as programs use it: prctl + seccomp(2), inheritance over fork, TSYNC over
// threads, a USER_NOTIF supervisor, strict mode, and the checker's EINVAL table.
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../../index.js';
import { userCred } from '../../../kernel/task.js';
import { fork, ioctl, prctl, seccomp, spawn, thread, waitpid, getpid, syscallRaw } from '../../../userspace/libc/proc.js';
import { SyscallError } from '../../../userspace/libc/process.js';
import {
  PR_GET_NO_NEW_PRIVS, PR_GET_SECCOMP, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_FILTER_FLAG_NEW_LISTENER,
  SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_IOCTL_NOTIF_RECV, SECCOMP_IOCTL_NOTIF_SEND, SECCOMP_SET_MODE_FILTER,
  SECCOMP_SET_MODE_STRICT, SECCOMP_GET_ACTION_AVAIL, type SeccompNotif,
} from '../../../subsystems/seccomp/uapi.js';
import { seccompStatusLines } from '../../../subsystems/seccomp/index.js';

const f = (code: number, jt: number, jf: number, k: number) => ({ code, jt, jf, k: k >>> 0 });
/** Returns `action` for syscall `nr`, ALLOW otherwise. */
const only = (nr: number, action: number) => ({
  len: 4,
  filter: [f(0x20, 0, 0, 0), f(0x15, 0, 1, nr), f(0x06, 0, 0, action), f(0x06, 0, 0, 0x7fff0000)],
});
const errnoOf = async (p: Promise<unknown>): Promise<number> => {
  try {
    await p;
    return 0;
  } catch (e) {
    if (e instanceof SyscallError) return e.errno;
    throw e;
  }
};

describe('seccomp for programs', () => {
  it('needs no_new_privs or CAP_SYS_ADMIN (EACCES), and nnp is sticky', async () => {
    const k = bootKernel();
    const h = spawn(k, { comm: 'user', cred: userCred(1000) }, async (p) => {
      expect(await errnoOf(seccomp(p, SECCOMP_SET_MODE_FILTER, 0, only(39, 0x50001)))).toBe(13);
      expect(await prctl(p, PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)).toBe(0);
      await prctl(p, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
      expect(await errnoOf(prctl(p, PR_SET_NO_NEW_PRIVS, 2, 0, 0, 0))).toBe(22);
      expect(await prctl(p, PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)).toBe(1);
      expect(await seccomp(p, SECCOMP_SET_MODE_FILTER, 0, only(39, 0x50001))).toBe(0);
      expect(await prctl(p, PR_GET_SECCOMP)).toBe(2);
      expect(await errnoOf(getpid(p))).toBe(1);
      expect(seccompStatusLines(p.task)).toEqual(['NoNewPrivs:\t1', 'Seccomp:\t2', 'Seccomp_filters:\t1']);
      return 7;
    });
    expect(await h.exited).toBe(7 << 8);
    expect(h.error).toBeUndefined();
  });

  it('is inherited across fork and stacks in the child', async () => {
    const k = bootKernel();
    const h = spawn(k, { comm: 'parent' }, async (p) => {
      await prctl(p, PR_SET_SECCOMP, 2, only(39, 0x50005));
      const child = await fork(p, async (c) => {
        const e1 = await errnoOf(getpid(c));
        await seccomp(c, SECCOMP_SET_MODE_FILTER, 0, only(110, 0x50006));
        const e2 = await errnoOf(syscallRaw(c, 'getppid').then((r) => (Number(r) < 0 ? Promise.reject(new SyscallError('getppid', -Number(r))) : r)));
        return e1 * 10 + e2;
      });
      const w = await waitpid(p, child);
      expect(w.pid).toBe(child);
      return (w.status >> 8) & 0xff;
    });
    expect((await h.exited) >> 8).toBe(56);
  });

  it('TSYNC puts the filter on every thread; KILL_PROCESS kills them all', async () => {
    const k = bootKernel();
    let threadSaw = -1;
    const h = spawn(k, { comm: 'threads' }, async (p) => {
      let go!: () => void;
      const ready = new Promise<void>((r) => (go = r));
      let installed!: () => void;
      const inst = new Promise<void>((r) => (installed = r));
      await thread(p, async (t) => {
        go();
        await inst;
        threadSaw = await errnoOf(syscallRaw(t, 'getuid').then((r) => (Number(r) < 0 ? Promise.reject(new SyscallError('getuid', -Number(r))) : r)));
        await syscallRaw(t, 'getpid'); // KILL_PROCESS: the whole group dies here
        return 0;
      });
      await ready;
      await seccomp(p, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, only(102, 0x50003));
      await seccomp(p, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, only(39, 0x80000000));
      installed();
      await new Promise(() => {}); // the thread's getpid kills us
    });
    expect(await h.exited).toBe(31);
    expect(threadSaw).toBe(3);
  });

  it('a supervisor answers USER_NOTIF: a value, an error, CONTINUE', async () => {
    const k = bootKernel();
    const h = spawn(k, { comm: 'sup' }, async (p) => {
      const fd = await seccomp(p, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, only(39, 0x7fc00000));
      expect(await errnoOf(seccomp(p, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, only(40, 0x7fc00000)))).toBe(16);
      const results: number[] = [];
      const child = await fork(p, async (c) => {
        results.push(Number(await syscallRaw(c, 'getpid')));
        results.push(Number(await syscallRaw(c, 'getpid')));
        results.push(Number(await syscallRaw(c, 'getpid')));
        return results[0] === 4242 && results[1] === -1 && results[2] === c.task.tgid ? 0 : 1;
      });
      for (const resp of [{ val: 4242, error: 0, flags: 0 }, { val: 0, error: -1, flags: 0 }, { val: 0, error: 0, flags: 1 }]) {
        const n = {} as SeccompNotif;
        await ioctl(p, fd, SECCOMP_IOCTL_NOTIF_RECV, n);
        expect(n.data.nr).toBe(39);
        expect(n.pid).toBe(child);
        await ioctl(p, fd, SECCOMP_IOCTL_NOTIF_SEND, { id: n.id, ...resp });
      }
      const w = await waitpid(p, child);
      return w.status >> 8;
    });
    expect(await h.exited).toBe(0);
  });

  it('strict mode: write is allowed, getpid kills with SIGKILL, exit_group too', async () => {
    const k = bootKernel();
    const h = spawn(k, { comm: 'strict' }, async (p) => {
      await seccomp(p, SECCOMP_SET_MODE_STRICT, 0, null);
      await syscallRaw(p, 'write', 1, 'x', 1);
      await syscallRaw(p, 'getpid');
      return 0;
    });
    expect(await h.exited).toBe(9);
  });

  it('GET_ACTION_AVAIL', async () => {
    const k = bootKernel();
    const h = spawn(k, { comm: 'avail' }, async (p) => {
      expect(await seccomp(p, SECCOMP_GET_ACTION_AVAIL, 0, new Uint32Array([0x7ffc0000]))).toBe(0);
      expect(await errnoOf(seccomp(p, SECCOMP_GET_ACTION_AVAIL, 0, new Uint32Array([0x7ffd0000])))).toBe(95);
    });
    expect(await h.exited).toBe(0);
  });

  const checker: [string, { code: number; jt: number; jf: number; k: number }[], number][] = [
    ['empty', [], 22],
    ['unaligned load', [f(0x20, 0, 0, 2), f(0x06, 0, 0, 0)], 22],
    ['load past seccomp_data', [f(0x20, 0, 0, 64), f(0x06, 0, 0, 0)], 22],
    ['half-word load', [f(0x28, 0, 0, 0), f(0x06, 0, 0, 0)], 22],
    ['indirect load', [f(0x40, 0, 0, 0), f(0x06, 0, 0, 0)], 22],
    ['mod', [f(0x94, 0, 0, 3), f(0x06, 0, 0, 0)], 22],
    ['no ret at the end', [f(0x20, 0, 0, 0)], 22],
    ['jump out of range', [f(0x15, 5, 0, 1), f(0x06, 0, 0, 0)], 22],
    ['ld len is fine', [f(0x80, 0, 0, 0), f(0x06, 0, 0, 0x7fff0000)], 0],
    ['last word of args', [f(0x20, 0, 0, 60), f(0x06, 0, 0, 0x7fff0000)], 0],
  ];
  it.each(checker)('checker: %s', async (_n, filter, want) => {
    const k = bootKernel();
    let got = -1;
    const h = spawn(k, { comm: 'chk' }, async (p) => {
      got = await errnoOf(seccomp(p, SECCOMP_SET_MODE_FILTER, 0, { len: filter.length, filter }));
    });
    await h.exited;
    expect(got).toBe(want);
  });

  it('MAX_INSNS_PER_PATH: the chain is limited (ENOMEM)', async () => {
    const k = bootKernel();
    let got = 0;
    const big = { len: 4096, filter: [...Array.from({ length: 4095 }, () => f(0x04, 0, 0, 1)), f(0x06, 0, 0, 0x7fff0000)] };
    const h = spawn(k, { comm: 'big' }, async (p) => {
      for (let i = 0; i < 20 && got === 0; i++) got = await errnoOf(seccomp(p, SECCOMP_SET_MODE_FILTER, 0, big));
    });
    await h.exited;
    expect(got).toBe(12);
  });
});
