/**
 * Process wrappers for mini-OS task code: spawn, fork, threads, exit, wait, kill,
 * sigaction, prctl, seccomp, and raw syscalls by name or by number in any arch
 * (`i386:20` is getpid through the i386 entry: seccomp sees AUDIT_ARCH_I386 and 20).
 * Like libc, every wrapper enters the kernel through syscall() only; errors come back as
 * SyscallError (check) or as -errno (the raw forms).
 */
import type { Kernel } from '../../kernel/kernel.js';
import { spawnProcess, CLONE, type ProcessHandle, type WaitStatusBox } from '../../kernel/process.js';
import type { SigAction, SigHandlerFn } from '../../kernel/signal.js';
import { AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, syscall, type SyscallArg, type SyscallResult } from '../../kernel/syscall.js';
import { SYSCALL_TABLES, type ArchName } from '../../kernel/syscall-table.js';
import type { Cred, Task } from '../../kernel/task.js';
import { check, type Proc } from './process.js';

export type ProcMain = (p: Proc) => Promise<number | void> | number | void;

export interface SpawnedProcess extends ProcessHandle {
  readonly proc: Proc;
}

/** Starts a process running `main` (parentless unless `parent` is given). */
export function spawn(kernel: Kernel, opts: { comm: string; cred?: Cred; parent?: Task }, main: ProcMain): SpawnedProcess {
  const h = spawnProcess(kernel, opts, (task) => main({ kernel, task }));
  return Object.assign(h, { proc: { kernel, task: h.task } });
}

const ARCHES: Readonly<Record<string, { audit: number; table: ArchName }>> = {
  x86_64: { audit: AUDIT_ARCH_X86_64, table: 'x86_64' },
  i386: { audit: AUDIT_ARCH_I386, table: 'i386' },
  aarch64: { audit: AUDIT_ARCH_AARCH64, table: 'aarch64' },
};

/** The raw syscall by name: a value or -errno (awaited). */
export async function syscallRaw(p: Proc, name: string, ...args: SyscallArg[]): Promise<SyscallResult> {
  return syscall(p.kernel, p.task, name, args);
}

/**
 * The raw syscall by number, `[arch:]NR` (x86_64 when no arch): what syscall(2) does. A
 * number with no name in that arch's table reaches seccomp all the same, then ENOSYS.
 */
export async function syscallNr(p: Proc, spec: string | number, ...args: SyscallArg[]): Promise<SyscallResult> {
  const text = String(spec);
  const colon = text.indexOf(':');
  const archName = colon < 0 ? 'x86_64' : text.slice(0, colon);
  const arch = ARCHES[archName];
  const nr = Number(colon < 0 ? text : text.slice(colon + 1));
  if (!arch || !Number.isInteger(nr)) throw new Error(`bad syscall spec '${text}'`);
  const name = SYSCALL_TABLES[arch.table].byNr.get(nr) ?? `#${nr}`;
  return syscall(p.kernel, p.task, name, args, arch.audit, nr);
}

export const getpid = (p: Proc): Promise<number> => check(p, 'getpid');
export const getppid = (p: Proc): Promise<number> => check(p, 'getppid');
export const gettid = (p: Proc): Promise<number> => check(p, 'gettid');
export const getuid = (p: Proc): Promise<number> => check(p, 'getuid');

/** fork(2): runs `child` in the new process; returns its pid to the parent. */
export function fork(p: Proc, child: ProcMain): Promise<number> {
  return check(p, 'fork', (task: Task) => child({ kernel: p.kernel, task }));
}

/** A thread (clone with CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD); returns its tid. */
export function thread(p: Proc, fn: ProcMain): Promise<number> {
  const flags = CLONE.CLONE_VM | CLONE.CLONE_FS | CLONE.CLONE_FILES | CLONE.CLONE_SIGHAND | CLONE.CLONE_THREAD;
  return check(p, 'clone', flags, (task: Task) => fn({ kernel: p.kernel, task }));
}

/** exit(2) of this thread; never returns. */
export async function exitThread(p: Proc, code: number): Promise<never> {
  await syscall(p.kernel, p.task, 'exit', [code]);
  throw new Error('exit returned');
}

/** _exit(2)/exit_group: the whole process; never returns. */
export async function exit(p: Proc, code: number): Promise<never> {
  await syscall(p.kernel, p.task, 'exit_group', [code]);
  throw new Error('exit_group returned');
}

/** wait4(pid, &status, options): { pid, status } (pid 0 with WNOHANG and nothing to reap). */
export async function waitpid(p: Proc, pid: number, options = 0): Promise<{ pid: number; status: number }> {
  const box: WaitStatusBox = { status: 0 };
  const r = await check(p, 'wait4', pid, box, options, null);
  return { pid: r, status: box.status };
}

/** execve: the process becomes `filename` (comm changes) and runs `main`; never returns. */
export async function exec(p: Proc, filename: string, main: ProcMain): Promise<never> {
  await check(p, 'execve', filename, null, null);
  const code = await main(p);
  return exit(p, code ?? 0);
}

export const kill = (p: Proc, pid: number, sig: number): Promise<number> => check(p, 'kill', pid, sig);
export const tgkill = (p: Proc, tgid: number, tid: number, sig: number): Promise<number> => check(p, 'tgkill', tgid, tid, sig);

/** sigaction(2)-lite: installs a JS handler (or SIG_IGN/SIG_DFL); returns the old action. */
export async function sigaction(p: Proc, sig: number, handler: SigHandlerFn | 'SIG_DFL' | 'SIG_IGN', flags = 0): Promise<SigAction> {
  const old: SigAction = { handler: 'SIG_DFL' };
  await check(p, 'rt_sigaction', sig, { handler, flags }, old, 8);
  return old;
}

export const prctl = (p: Proc, option: number, ...args: SyscallArg[]): Promise<number> => check(p, 'prctl', option, ...args);
export const seccomp = (p: Proc, op: number, flags: number, args: SyscallArg): Promise<number> => check(p, 'seccomp', op, flags, args);
export const ioctl = (p: Proc, fd: number, request: number, arg: SyscallArg): Promise<number> => check(p, 'ioctl', fd, request, arg);
export const close = (p: Proc, fd: number): Promise<number> => check(p, 'close', fd);
