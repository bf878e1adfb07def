/**
 * Process lifecycle (kernel/fork.c, kernel/exit.c, fs/exec.c): clone/fork, execve, exit,
 * exit_group, wait4 and the id getters, plus prctl(2)'s dispatch table.
 *
 * A task runs "user code": an async JS function (TaskMain) started on a microtask, so the
 * order of events is deterministic. Its syscalls are the only way into the kernel. When
 * the main function returns, the task exits with its value (exit_group for the first
 * thread, exit for the others), as returning from main() or a thread function does.
 *
 * Mini-OS conventions for pointer arguments (objects are user memory):
 *   clone(flags, main)        main: the child's TaskMain in place of the new stack pointer
 *   fork(main)                the same, flags SIGCHLD
 *   wait4(pid, status, options)   status: a { status: number } box, filled in
 *   execve(filename)          comm becomes the basename; the libc wrapper runs the new main
 */
import { KernelError } from './errno.js';
import type { Kernel } from './kernel.js';
import { perKernel } from './kernel.js';
import { CLD_EXITED, CLD_KILLED, SIG, copySignalsOnFork, resetHandlersOnExec, sendSignal, signalPending } from './signal.js';
import { defineSyscall, type SyscallArg, type SyscallCall, type SyscallResult } from './syscall.js';
import { registerSignals } from './signal.js';
import type { Cred, Task } from './task.js';
import { tracepointOf } from './trace/tracepoint.js';
import { PRIO_DEFAULT } from './sched.js';

export { PRIO_DEFAULT } from './sched.js';

export type TaskMain = (task: Task) => Promise<number | void> | number | void;

export const CLONE = {
  CSIGNAL: 0x000000ff,
  CLONE_VM: 0x00000100,
  CLONE_FS: 0x00000200,
  CLONE_FILES: 0x00000400,
  CLONE_SIGHAND: 0x00000800,
  CLONE_THREAD: 0x00010000,
} as const;

export const WNOHANG = 1;

/** What subsystems do when a task is created, exits or execs (seccomp copies its filters). */
export interface TaskHooks {
  fork: ((parent: Task, child: Task, flags: number) => void)[];
  exit: ((task: Task) => void)[];
}

export const taskHooksOf = perKernel((): TaskHooks => ({ fork: [], exit: [] }));

/** A spawned process as the library user holds it. */
export interface ProcessHandle {
  readonly task: Task;
  /** The wait(2) status when the whole process has died. */
  readonly exited: Promise<number>;
  /** An exception the task's code threw (a bug in the test program): it died with SIGABRT. */
  error: unknown;
}

const handleErrors = new WeakMap<Task, { error: unknown }>();

/** Starts `main` as the code of `task` on a microtask. */
export function startTask(kernel: Kernel, task: Task, main: TaskMain): void {
  queueMicrotask(() => {
    if (task.state === 'zombie' || task.state === 'dead') return;
    let r: ReturnType<TaskMain>;
    try {
      r = kernel.tasks.runAs(task, () => main(task));
    } catch (e) {
      crash(kernel, task, e);
      return;
    }
    Promise.resolve(r).then(
      (code) => {
        if (task.state === 'zombie' || task.state === 'dead') return;
        const status = ((code ?? 0) & 0xff) << 8;
        if (task.isThreadGroupLeader) doGroupExit(kernel, task, status);
        else doExit(kernel, task, status);
      },
      (e: unknown) => crash(kernel, task, e),
    );
  });
}

function crash(kernel: Kernel, task: Task, e: unknown): void {
  if (task.state === 'zombie' || task.state === 'dead') return;
  const box = handleErrors.get(task.group.leader);
  if (box && box.error === undefined) box.error = e;
  kernel.log.printk(`${task.comm}[${task.pid}]: task code threw: ${e instanceof Error ? e.message : String(e)}`);
  doGroupExit(kernel, task, SIG.SIGABRT);
}

export interface ProcessOptions {
  comm: string;
  cred?: Cred;
  parent?: Task | null;
}

/**
 * Creates a process running `main` (the library's way to start a program; a parentless
 * process is reaped by the kernel when it dies, as if init waited for it).
 */
export function spawnProcess(kernel: Kernel, opts: ProcessOptions, main: TaskMain): ProcessHandle {
  const task = kernel.tasks.spawn({ comm: opts.comm, ...(opts.cred ? { cred: opts.cred } : {}), parent: opts.parent ?? null });
  const box = { error: undefined as unknown };
  handleErrors.set(task, box);
  startTask(kernel, task, main);
  return {
    task,
    exited: task.group.exited,
    get error() {
      return box.error;
    },
    set error(e: unknown) {
      box.error = e;
    },
  };
}

/** copy_process + wake_up_new_task: the child (a thread with CLONE_THREAD) starts `main`. */
export function doFork(kernel: Kernel, parent: Task, flags: number, main: TaskMain | null): Task {
  const thread = (flags & CLONE.CLONE_THREAD) !== 0;
  if (thread && (flags & CLONE.CLONE_SIGHAND) === 0) throw new KernelError('EINVAL', 'CLONE_THREAD without CLONE_SIGHAND');
  if ((flags & CLONE.CLONE_SIGHAND) !== 0 && (flags & CLONE.CLONE_VM) === 0) {
    throw new KernelError('EINVAL', 'CLONE_SIGHAND without CLONE_VM');
  }
  if (parent.group.groupExit !== null) throw new KernelError('EINTR', 'group exiting');
  const child = kernel.tasks.clone(parent, thread);
  if (!thread) handleErrors.set(child, { error: undefined });
  copySignalsOnFork(parent, child);
  for (const h of taskHooksOf(kernel).fork) h(parent, child, flags);
  const tp = tracepointOf(kernel, 'sched', 'sched_process_fork');
  if (tp.probes.length) {
    tp.fire(parent, { parent_comm: parent.comm, parent_pid: parent.pid, child_comm: child.comm, child_pid: child.pid });
  }
  if (main) startTask(kernel, child, main);
  return child;
}

/**
 * do_exit: this thread is done. The last thread out makes the group dead: the leader
 * becomes a zombie for its parent's wait4 (SIGCHLD sent), or is reaped at once without
 * a parent. Other threads are released straight away (they are never waited for).
 */
export function doExit(kernel: Kernel, task: Task, status: number): void {
  if (task.state === 'zombie' || task.state === 'dead') return;
  const group = task.group;
  group.threads.delete(task);
  const groupDead = group.threads.size === 0;
  const tp = tracepointOf(kernel, 'sched', 'sched_process_exit');
  if (tp.probes.length) tp.fire(task, { comm: task.comm, pid: task.pid, prio: PRIO_DEFAULT, group_dead: groupDead ? 1 : 0 });
  for (const h of taskHooksOf(kernel).exit) h(task);
  task.exitCode = status;
  task.wake = null;
  if (!task.isThreadGroupLeader) {
    task.state = 'dead';
    freeTask(kernel, task);
  } else {
    task.state = 'zombie';
  }
  if (!groupDead) return;
  const leader = group.leader;
  group.status = group.groupExit ?? (task === leader ? status : (leader.exitCode ?? status));
  leader.exitCode = group.status;
  leader.fds.closeAll();
  // Orphans are reaped by the kernel (no init process to adopt them).
  for (const c of group.children) {
    if (c.state === 'zombie') freeTask(kernel, c);
  }
  group.children.clear();
  group.resolveExited(group.status);
  const parent = leader.parent;
  const parentAlive = parent && parent.group.threads.size > 0;
  if (parentAlive) {
    const st = group.status;
    const killed = (st & 0x7f) !== 0;
    sendSignal(kernel, parent.group.leader, SIG.SIGCHLD, {
      si_signo: SIG.SIGCHLD, si_errno: 0, si_code: killed ? CLD_KILLED : CLD_EXITED,
      si_pid: leader.pid, si_uid: leader.cred.uid, si_status: killed ? st & 0x7f : (st >> 8) & 0xff,
    }, true);
    const waiters = parent.group.childWaiters;
    parent.group.childWaiters = [];
    for (const w of waiters) w();
  } else {
    parent?.group.children.delete(leader);
    freeTask(kernel, leader);
  }
}

/** release_task: the pid is gone; sched_process_free fires. */
function freeTask(kernel: Kernel, task: Task): void {
  kernel.tasks.release(task);
  const tp = tracepointOf(kernel, 'sched', 'sched_process_free');
  if (tp.probes.length) tp.fire(task, { comm: task.comm, pid: task.pid, prio: PRIO_DEFAULT });
}

/** do_group_exit: every thread of the group dies with this wait status. */
export function doGroupExit(kernel: Kernel, task: Task, status: number): void {
  const group = task.group;
  if (group.groupExit === null) group.groupExit = status;
  for (const t of [...group.threads]) if (t !== task) doExit(kernel, t, group.groupExit);
  doExit(kernel, task, group.groupExit);
}

/** try_to_wake_up: a sleeping task runs again (sched:sched_wakeup). */
export function wakeTask(kernel: Kernel, task: Task): void {
  const w = task.wake;
  if (!w) return;
  task.wake = null;
  const tp = tracepointOf(kernel, 'sched', 'sched_wakeup');
  if (tp.probes.length) tp.fire(kernel.tasks.current, { comm: task.comm, pid: task.pid, prio: PRIO_DEFAULT, target_cpu: task.cpu });
  w();
}

/** Puts `task` to sleep until something calls wakeTask() (or the group's child waiters fire). */
function sleep(kernel: Kernel, task: Task, register: (wake: () => void) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    task.state = 'sleeping';
    const wake = (): void => {
      if (task.state === 'sleeping') task.state = 'running';
      resolve();
    };
    task.wake = wake;
    register(() => wakeTask(kernel, task));
  });
}

export interface WaitStatusBox {
  status: number;
}

function toInt(v: SyscallArg): number {
  return typeof v === 'bigint' ? Number(BigInt.asIntN(32, v)) : typeof v === 'number' ? v | 0 : 0;
}

function doWait(kernel: Kernel, task: Task, pid: number, box: SyscallArg, options: number): SyscallResult | Promise<SyscallResult> {
  const group = task.group;
  const matches = [...group.children].filter((c) => pid === -1 || pid === 0 || c.pid === pid);
  if (matches.length === 0) throw new KernelError('ECHILD', `no child ${pid}`);
  const zombie = matches.find((c) => c.state === 'zombie');
  if (zombie) {
    group.children.delete(zombie);
    if (box && typeof box === 'object' && 'status' in box) (box as WaitStatusBox).status = zombie.exitCode ?? 0;
    freeTask(kernel, zombie);
    return zombie.pid;
  }
  if (options & WNOHANG) return 0;
  if (signalPending(task)) throw new KernelError('EINTR', 'interrupted by a signal');
  return sleep(kernel, task, (wake) => group.childWaiters.push(wake)).then(() => doWait(kernel, task, pid, box, options));
}

export interface PrctlCall {
  call: SyscallCall;
  /** arg2..arg5 as unsigned register values. */
  args: readonly bigint[];
  /** arg2..arg5 as passed (objects are user buffers). */
  raw: readonly SyscallArg[];
}

export type PrctlHandler = (p: PrctlCall) => SyscallResult | Promise<SyscallResult>;

const prctlsOf = perKernel((): Map<number, PrctlHandler> => new Map());

/** prctl(2) is a table of options; seccomp adds PR_{GET,SET}_{NO_NEW_PRIVS,SECCOMP}. */
export function definePrctl(kernel: Kernel, option: number, handler: PrctlHandler): void {
  prctlsOf(kernel).set(option, handler);
}

export const PR_SET_NAME = 15;
export const PR_GET_NAME = 16;

function basename(path: string): string {
  const parts = path.split('/').filter((s) => s !== '');
  return parts[parts.length - 1] ?? path;
}

/** Boot step: signals and the process syscalls. */
export function registerTasks(kernel: Kernel): void {
  registerSignals(kernel);
  const newChild = (call: SyscallCall, flags: number, main: SyscallArg): number => {
    const child = doFork(kernel, call.task, flags, typeof main === 'function' ? (main as TaskMain) : null);
    return child.pid;
  };
  defineSyscall(kernel, 'clone', (call) => newChild(call, toInt(call.args[0]), call.args[1]));
  defineSyscall(kernel, 'fork', (call) => newChild(call, SIG.SIGCHLD, call.args[0]));
  defineSyscall(kernel, 'vfork', (call) => newChild(call, SIG.SIGCHLD, call.args[0]));
  defineSyscall(kernel, 'exit', ({ task, args }) => {
    doExit(kernel, task, (toInt(args[0]) & 0xff) << 8);
    return 0;
  });
  defineSyscall(kernel, 'exit_group', ({ task, args }) => {
    doGroupExit(kernel, task, (toInt(args[0]) & 0xff) << 8);
    return 0;
  });
  defineSyscall(kernel, 'wait4', ({ task, args }) => doWait(kernel, task, toInt(args[0]), args[1], toInt(args[2])));
  defineSyscall(kernel, 'execve', ({ task, args }) => {
    const filename = typeof args[0] === 'string' ? args[0] : '';
    if (filename === '') throw new KernelError('ENOENT', 'no such file');
    // de_thread: the other threads die; the exec'ing thread carries on as the process.
    for (const t of [...task.group.threads]) if (t !== task) doExit(kernel, t, 0);
    const oldPid = task.pid;
    task.comm = basename(filename).slice(0, 15);
    resetHandlersOnExec(task);
    task.fds.closeOnExec(); // O_CLOEXEC / FD_CLOEXEC fds
    const tp = tracepointOf(kernel, 'sched', 'sched_process_exec');
    if (tp.probes.length) tp.fire(task, { filename, pid: task.tgid, old_pid: oldPid });
    return 0;
  });
  defineSyscall(kernel, 'getpid', ({ task }) => task.tgid);
  defineSyscall(kernel, 'gettid', ({ task }) => task.pid);
  defineSyscall(kernel, 'getppid', ({ task }) => task.group.leader.parent?.tgid ?? 0);
  defineSyscall(kernel, 'getuid', ({ task }) => task.cred.uid);
  defineSyscall(kernel, 'geteuid', ({ task }) => task.cred.euid);
  defineSyscall(kernel, 'getgid', ({ task }) => task.cred.gid);
  defineSyscall(kernel, 'getegid', ({ task }) => task.cred.egid);
  defineSyscall(kernel, 'sched_yield', () => Promise.resolve(0));
  defineSyscall(kernel, 'uname', ({ args }) => {
    // A number (0n from a raw call included) is no user buffer in the mini-OS: NULL or a
    // wild pointer, EFAULT either way, as Linux's copy_to_user failing.
    const buf = args[0];
    if (buf === null || buf === undefined || typeof buf !== 'object') throw new KernelError('EFAULT', 'uname: bad buffer');
    if (buf && typeof buf === 'object' && !(buf instanceof Uint8Array)) {
      Object.assign(buf, { sysname: 'Linux', nodename: 'bpfkern', release: '6.18.0-bpfkern', version: '#1 SMP', machine: 'x86_64' });
    }
    return 0;
  });
  defineSyscall(kernel, 'close', ({ task, args }) => {
    task.fds.close(toInt(args[0]), task);
    return 0;
  });
  defineSyscall(kernel, 'ioctl', ({ task, args }) => {
    const file = task.fds.get(toInt(args[0]));
    if (!file.ioctl) throw new KernelError('ENOTTY', 'no ioctl on this file');
    return file.ioctl(task, Number(BigInt.asUintN(32, BigInt(toInt(args[1])))), args[2]);
  });
  defineSyscall(kernel, 'prctl', (call) => {
    const option = toInt(call.args[0]);
    const handler = prctlsOf(kernel).get(option);
    if (!handler) throw new KernelError('EINVAL', `prctl option ${option}`);
    return handler({ call, args: call.regs.slice(1, 5), raw: call.args.slice(1, 5) });
  });
  definePrctl(kernel, PR_SET_NAME, ({ call, raw }) => {
    const name = raw[0];
    if (typeof name !== 'string') throw new KernelError('EFAULT', 'PR_SET_NAME needs a string');
    call.task.comm = name.slice(0, 15);
    return 0;
  });
  definePrctl(kernel, PR_GET_NAME, ({ call, raw }) => {
    const buf = raw[0];
    if (!(buf instanceof Uint8Array) || buf.length < 16) throw new KernelError('EFAULT', 'PR_GET_NAME needs 16 bytes');
    buf.fill(0, 0, 16);
    buf.set(new TextEncoder().encode(call.task.comm).subarray(0, 15));
    return 0;
  });
}
