/**
 * The engine of `bpfkern seccomp run`: like the oracle's seccomp-run, for each syscall a
 * fresh two-thread process is spawned (a child of a harness task, so getppid() works);
 * its worker thread sets no_new_privs, installs the programs in order (the first is the
 * oldest filter) and makes the raw syscall. The outcome is read from what the task saw
 * (return value, signal, death) and the action the filter chain chose.
 *
 * An older filter may stop the install of a newer one (a filter judges seccomp() too):
 * INSTALL_FAILED then says which filter and `how` — by errno (seccomp() returned -errno),
 * or by 'trap', 'kill_thread', 'kill_process' (the install never ran).
 */
import type { Kernel } from '../../kernel/kernel.js';
import { errnoName } from '../../kernel/errno.js';
import { seccompOf } from '../../subsystems/seccomp/index.js';
import { actionName, SECCOMP_RET_ALLOW, SECCOMP_RET_DATA, SECCOMP_RET_ERRNO, SECCOMP_SET_MODE_FILTER, PR_SET_NO_NEW_PRIVS, MAX_ERRNO } from '../../subsystems/seccomp/uapi.js';
import type { SigInfo } from '../../kernel/signal.js';
import { SIG } from '../../kernel/signal.js';
import { sigaction, spawn, syscallNr, thread } from '../libc/proc.js';
import { sys, type Proc } from '../libc/process.js';

export interface Insn4 {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export interface SyscallSpec {
  arch: 'x86_64' | 'i386';
  nr: number;
  /** Register values; 'self' is the pid of the calling process (kill(self, 0)). */
  args: (bigint | 'self')[];
}

export interface RunOutcome {
  nr: number;
  arch: string;
  action: string;
  data: number | null;
  ret?: number | null;
  signal?: number;
  si_code?: number;
  si_errno?: number;
  si_syscall?: number;
  si_arch?: string;
  filter?: number;
  errno?: string | null;
  /** INSTALL_FAILED without errno: what stopped the install. */
  how?: 'trap' | 'kill_thread' | 'kill_process';
}

/** Parses `N,code jt jf k,...` (tcpdump -ddd; numbers may be hex). */
export function parseDdd(text: string): Insn4[] {
  const parts = text.split(/[,\n]/).map((s) => s.trim()).filter((s) => s !== '');
  const n = Number(parts[0]);
  if (!Number.isInteger(n) || n < 0) throw new Error(`bad program: '${text.slice(0, 40)}'`);
  const insns = parts.slice(1).map((p) => {
    const w = p.split(/\s+/).map((x) => Number(x));
    if (w.length !== 4 || w.some((x) => !Number.isFinite(x))) throw new Error(`bad instruction '${p}'`);
    return { code: w[0]!, jt: w[1]!, jf: w[2]!, k: w[3]! >>> 0 };
  });
  if (insns.length !== n) throw new Error(`program says ${n} instructions, has ${insns.length}`);
  return insns;
}

/** Parses `[i386:]NR` plus argument words. */
export function parseSyscallSpec(words: readonly string[]): SyscallSpec {
  const [first, ...rest] = words;
  if (!first) throw new Error('missing syscall number');
  const i386 = first.startsWith('i386:');
  const nr = Number(i386 ? first.slice(5) : first);
  if (!Number.isInteger(nr)) throw new Error(`bad syscall number '${first}'`);
  return { arch: i386 ? 'i386' : 'x86_64', nr, args: rest.map((a) => (a === 'self' ? 'self' : BigInt(a))) };
}

/** Runs one syscall in a fresh process after installing `progs`. */
export async function runOne(kernel: Kernel, progs: readonly Insn4[][], sc: SyscallSpec): Promise<RunOutcome> {
  const base = { nr: sc.nr, arch: sc.arch };
  let installFailed: { filter: number; errno: string | null } | null = null;
  /** The filter being installed while the worker is inside seccomp(). */
  let installing = -1;
  let ret: number | null = null;
  let trap: SigInfo | null = null;
  /** The filter whose install a SIGSYS (TRAP from an older filter) stopped. */
  let installTrapped = -1;
  let worker: Proc | null = null;
  // The harness: the parent of the process under test (it never waits; the kernel is a scratch one).
  const harness = kernel.tasks.spawn({ comm: 'seccomp-harness' });
  const h = spawn(kernel, { comm: 'seccomp-run', parent: harness }, async (p) => {
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    await thread(p, async (w) => {
      worker = w;
      await sigaction(w, SIG.SIGSYS, (_sig, info) => {
        if (installing >= 0) installTrapped = installing;
        else trap = info;
      });
      await sys(w, 'prctl', PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
      for (let i = 0; i < progs.length; i++) {
        const prog = progs[i]!;
        installing = i;
        const r = Number(await sys(w, 'seccomp', SECCOMP_SET_MODE_FILTER, 0, { len: prog.length, filter: prog }));
        if (installTrapped >= 0) {
          done();
          return 0;
        }
        if (r < 0) {
          installFailed = { filter: i, errno: errnoName(-r) ?? String(-r) };
          done();
          return 0;
        }
      }
      installing = -1;
      const args = sc.args.map((a) => (a === 'self' ? BigInt(w.task.tgid) : a));
      const r = await syscallNr(w, `${sc.arch}:${sc.nr}`, ...args);
      ret = Number(r);
      done();
      return 0;
    });
    await finished;
    return 0;
  });
  // The worker never finishes when it is killed: the process's death ends the wait.
  const status = await Promise.race([h.exited, waitWorker(() => ret !== null || installFailed !== null || installTrapped >= 0)]);
  const w = worker as Proc | null;
  if (installTrapped >= 0) {
    if (h.task.group.threads.size > 0) void sys(h.proc, 'kill', h.task.tgid, SIG.SIGKILL);
    return { ...base, action: 'INSTALL_FAILED', data: null, filter: installTrapped, errno: null, how: 'trap' };
  }
  if (installFailed !== null) {
    const f = installFailed as { filter: number; errno: string | null };
    return { ...base, action: 'INSTALL_FAILED', data: null, filter: f.filter, errno: f.errno };
  }
  const last = w ? seccompOf(w.task).last : null;
  if (installing >= 0 || (progs.length > 0 && !last)) {
    // The install itself was killed by an earlier filter (a filter judges seccomp() too).
    if (h.task.group.threads.size > 0) void sys(h.proc, 'kill', h.task.tgid, SIG.SIGKILL);
    const killed = typeof status === 'number';
    return {
      ...base, action: 'INSTALL_FAILED', data: null, filter: installing, errno: null,
      how: killed ? 'kill_process' : 'kill_thread', ...(killed ? { signal: status & 0x7f } : {}),
    };
  }
  // No filter at all: the call simply ran (the chain's verdict is ALLOW).
  const verdict = last ? last.ret : SECCOMP_RET_ALLOW;
  const action = actionName(verdict);
  const dataBits = verdict & SECCOMP_RET_DATA;
  const out: RunOutcome = { ...base, action, data: null };
  if ((verdict & 0xffff0000) >>> 0 === SECCOMP_RET_ERRNO) out.data = Math.min(dataBits, MAX_ERRNO);
  else if (action === 'TRAP' || action === 'TRACE') out.data = dataBits;
  out.ret = ret;
  const t = trap as SigInfo | null;
  if (t) {
    out.si_code = t.si_code;
    out.si_errno = t.si_errno;
    out.si_syscall = t.si_syscall ?? 0;
    out.si_arch = `0x${(t.si_arch ?? 0).toString(16)}`;
  }
  if (action === 'KILL_PROCESS' || action === 'KILL_THREAD') out.signal = SIG.SIGSYS;
  // A KILL_THREAD leaves the first thread waiting for ever: end the process.
  if (h.task.group.threads.size > 0) void sys(h.proc, 'kill', h.task.tgid, SIG.SIGKILL);
  return out;
}

async function waitWorker(done: () => boolean): Promise<'worker'> {
  for (let i = 0; i < 1000 && !done(); i++) await new Promise<void>((r) => setImmediate(r));
  return 'worker';
}
