/**
 * Signals (kernel/signal.c): kill, tgkill, tkill, rt_sigaction-lite, default actions and
 * delivery on the way back to user mode.
 *
 * Model. A signal sent to a task or its thread group is either ignored (result 1), acted
 * on at once when its action is fatal (the whole group dies, as complete_signal() does
 * with SIGNAL_GROUP_EXIT), stops/continues the group, or queued for a handler. Queued
 * signals are delivered by exitToUserMode() at the end of the target's next (or current)
 * syscall: the handler — a JS function registered with rt_sigaction — runs with the
 * siginfo, and may set `uc.ret` to change the interrupted syscall's return value (what a
 * SIGSYS handler does when it emulates a syscall; Linux's ucontext REG_RAX).
 *
 * Tracepoints: signal:signal_generate when a signal is sent (result 0 delivered,
 * 1 ignored, 2 already pending), signal:signal_deliver when it is taken.
 */
import { KernelError } from './errno.js';
import type { Kernel } from './kernel.js';
import { doGroupExit, wakeTask } from './process.js';
import { NEVER, defineSyscall, type SyscallResult } from './syscall.js';
import { capable, perTask, type Task } from './task.js';
import { tracepointOf } from './trace/tracepoint.js';

export const SIG = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8,
  SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15,
  SIGSTKFLT: 16, SIGCHLD: 17, SIGCONT: 18, SIGSTOP: 19, SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22,
  SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28, SIGIO: 29,
  SIGPWR: 30, SIGSYS: 31,
} as const;
export const _NSIG = 64;

/** si_code values (include/uapi/asm-generic/siginfo.h). */
export const SI_USER = 0;
export const SI_KERNEL = 0x80;
export const SI_TKILL = -6;
export const SYS_SECCOMP = 1;
export const CLD_EXITED = 1;
export const CLD_KILLED = 2;
export const CLD_DUMPED = 3;

export type DefaultAction = 'term' | 'core' | 'ignore' | 'stop' | 'cont';

/** Default actions as signal(7) lists them. */
export function defaultAction(sig: number): DefaultAction {
  switch (sig) {
    case SIG.SIGQUIT: case SIG.SIGILL: case SIG.SIGTRAP: case SIG.SIGABRT: case SIG.SIGBUS:
    case SIG.SIGFPE: case SIG.SIGSEGV: case SIG.SIGXCPU: case SIG.SIGXFSZ: case SIG.SIGSYS:
      return 'core';
    case SIG.SIGCHLD: case SIG.SIGURG: case SIG.SIGWINCH:
      return 'ignore';
    case SIG.SIGSTOP: case SIG.SIGTSTP: case SIG.SIGTTIN: case SIG.SIGTTOU:
      return 'stop';
    case SIG.SIGCONT:
      return 'cont';
    default:
      return 'term'; // the rest, SIGRTMIN.. included
  }
}

/** The siginfo a handler gets; si_syscall/si_arch/si_call_addr are SIGSYS's (SYS_SECCOMP). */
export interface SigInfo {
  si_signo: number;
  si_errno: number;
  si_code: number;
  si_pid?: number;
  si_uid?: number;
  si_status?: number;
  si_syscall?: number;
  si_arch?: number;
  si_call_addr?: bigint;
}

/** The interrupted context a handler may edit: `ret` becomes the syscall's return value. */
export interface UContext {
  ret: SyscallResult;
}

export type SigHandlerFn = (sig: number, info: SigInfo, uc: UContext) => void | Promise<void>;

/** What rt_sigaction takes and gives back (struct sigaction, the parts we model). */
export interface SigAction {
  handler: SigHandlerFn | 'SIG_DFL' | 'SIG_IGN';
  flags?: number;
}

export const SA_RESETHAND = 0x80000000;

interface SignalState {
  /** Per-thread pending signals. */
  pending: SigInfo[];
}

/** The shared part (sighand_struct + shared pending): one per thread group, kept on the leader. */
interface GroupSignalState {
  actions: Map<number, SigAction>;
  shared: SigInfo[];
  stopped: boolean;
  continueWaiters: (() => void)[];
}

const signalOf = perTask((): SignalState => ({ pending: [] }));
const groupSignalOf = perTask(
  (): GroupSignalState => ({ actions: new Map(), shared: [], stopped: false, continueWaiters: [] }),
);
const groupOf = (t: Task): GroupSignalState => groupSignalOf(t.group.leader);

/** fork(2) copies the handlers; a thread shares them (same group). */
export function copySignalsOnFork(parent: Task, child: Task): void {
  if (child.group === parent.group) return;
  const from = groupOf(parent);
  const to = groupOf(child);
  for (const [sig, act] of from.actions) to.actions.set(sig, { ...act });
}

/** execve(2) resets handled signals to SIG_DFL (ignored ones stay ignored). */
export function resetHandlersOnExec(task: Task): void {
  const g = groupOf(task);
  for (const [sig, act] of g.actions) if (typeof act.handler === 'function') g.actions.delete(sig);
}

function actionOf(task: Task, sig: number): SigAction {
  return groupOf(task).actions.get(sig) ?? { handler: 'SIG_DFL' };
}

function handlerAddr(kernel: Kernel, h: SigAction['handler']): bigint {
  if (h === 'SIG_DFL') return 0n;
  if (h === 'SIG_IGN') return 1n;
  void kernel;
  return 0x401000n; // a handler lives in the task's text; one user-looking address for all
}

/** Wait status of a death by signal (WTERMSIG; no core files are written, so no 0x80). */
export function signaledStatus(sig: number): number {
  return sig & 0x7f;
}

/**
 * Sends `sig` to `target` (group: to its thread group, as kill(2); else to the thread, as
 * tgkill(2)). force: the kernel's force_sig (seccomp TRAP): an ignored signal is reset to
 * its default action first; 'exit' (HANDLER_EXIT, seccomp's kills): any handler is reset,
 * so the default action runs. Returns the signal_generate result.
 */
export function sendSignal(
  kernel: Kernel,
  target: Task,
  sig: number,
  info: SigInfo,
  group: boolean,
  force: boolean | 'exit' = false,
): number {
  const g = groupOf(target);
  let act = actionOf(target, sig);
  if ((force && act.handler === 'SIG_IGN') || (force === 'exit' && act.handler !== 'SIG_DFL')) {
    g.actions.delete(sig);
    act = { handler: 'SIG_DFL' };
  }
  const dead = target.state === 'zombie' || target.state === 'dead' || target.group.groupExit !== null;
  let result = 0;
  const ignored =
    sig !== SIG.SIGKILL && sig !== SIG.SIGSTOP &&
    (act.handler === 'SIG_IGN' || (act.handler === 'SIG_DFL' && defaultAction(sig) === 'ignore'));
  const queue = group ? g.shared : signalOf(target).pending;
  if (dead || (ignored && sig !== SIG.SIGCONT)) result = 1;
  else if (sig < 32 && queue.some((q) => q.si_signo === sig)) result = 2;
  const tp = tracepointOf(kernel, 'signal', 'signal_generate');
  if (tp.probes.length) {
    tp.fire(kernel.tasks.current, {
      sig, errno: info.si_errno, code: info.si_code, comm: target.comm, pid: target.pid,
      group: group ? 1 : 0, result,
    });
  }
  if (sig === SIG.SIGCONT && !dead) continueGroup(target);
  if (result !== 0) return result;
  if (sig === SIG.SIGKILL || (act.handler === 'SIG_DFL' && (defaultAction(sig) === 'term' || defaultAction(sig) === 'core'))) {
    // complete_signal(): a fatal signal kills the whole group now.
    fireDeliver(kernel, target, sig, info, act);
    doGroupExit(kernel, target, signaledStatus(sig));
    return result;
  }
  if (act.handler === 'SIG_DFL') {
    if (defaultAction(sig) === 'stop') {
      fireDeliver(kernel, target, sig, info, act);
      g.stopped = true;
      for (const t of target.group.threads) t.state = t.state === 'running' ? 'stopped' : t.state;
    }
    return result;
  }
  queue.push(info);
  wakeTask(kernel, target);
  return result;
}

function continueGroup(target: Task): void {
  const g = groupOf(target);
  if (!g.stopped) return;
  g.stopped = false;
  for (const t of target.group.threads) if (t.state === 'stopped') t.state = 'running';
  const w = g.continueWaiters;
  g.continueWaiters = [];
  for (const f of w) f();
}

function fireDeliver(kernel: Kernel, task: Task, sig: number, info: SigInfo, act: SigAction): void {
  const tp = tracepointOf(kernel, 'signal', 'signal_deliver');
  if (tp.probes.length) {
    tp.fire(task, {
      sig, errno: info.si_errno, code: info.si_code,
      sa_handler: handlerAddr(kernel, act.handler), sa_flags: BigInt(act.flags ?? 0),
    });
  }
}

/** True when a signal with a handler waits for this task (an interruptible sleep ends: EINTR). */
export function signalPending(task: Task): boolean {
  return signalOf(task).pending.length > 0 || groupOf(task).shared.length > 0;
}

/**
 * The return to user mode after a syscall: stop while the group is stopped, then run the
 * handlers of pending signals. Returns the syscall's (possibly handler-edited) value, a
 * Promise of it, or NEVER when the task died meanwhile.
 */
export function exitToUserMode(
  kernel: Kernel,
  task: Task,
  ret: SyscallResult,
): SyscallResult | Promise<SyscallResult> {
  if (task.state === 'zombie' || task.state === 'dead') return NEVER;
  const g = groupOf(task);
  if (g.stopped) {
    return new Promise<void>((resolve) => g.continueWaiters.push(resolve)).then(() =>
      exitToUserMode(kernel, task, ret),
    );
  }
  const own = signalOf(task).pending;
  const info = own.length ? own.shift() : g.shared.shift();
  if (!info) return ret;
  const sig = info.si_signo;
  const act = actionOf(task, sig);
  fireDeliver(kernel, task, sig, info, act);
  if (typeof act.handler !== 'function') {
    // The handler changed while the signal was queued: act on what it is now.
    if (act.handler === 'SIG_DFL' && (defaultAction(sig) === 'term' || defaultAction(sig) === 'core')) {
      doGroupExit(kernel, task, signaledStatus(sig));
      return NEVER;
    }
    return exitToUserMode(kernel, task, ret);
  }
  if (((act.flags ?? 0) & SA_RESETHAND) !== 0) g.actions.delete(sig);
  const uc: UContext = { ret };
  const done = act.handler(sig, info, uc);
  const next = (): SyscallResult | Promise<SyscallResult> => exitToUserMode(kernel, task, uc.ret);
  return done instanceof Promise ? done.then(next) : next();
}

function checkSig(sig: unknown): number {
  if (typeof sig !== 'number' || !Number.isInteger(sig) || sig < 0 || sig > _NSIG) {
    throw new KernelError('EINVAL', `bad signal ${String(sig)}`);
  }
  return sig;
}

/** kill_ok_by_cred: root (CAP_KILL), or matching uids. */
function mayKill(sender: Task, target: Task): boolean {
  const CAP_KILL = 5;
  if (capable(sender.cred, CAP_KILL)) return true;
  const s = sender.cred;
  const t = target.cred;
  return s.euid === t.uid || s.euid === t.euid || s.uid === t.uid || s.uid === t.euid;
}

function userInfo(sender: Task, sig: number, code: number): SigInfo {
  return { si_signo: sig, si_errno: 0, si_code: code, si_pid: sender.tgid, si_uid: sender.cred.uid };
}

function toInt(v: unknown): number {
  return typeof v === 'bigint' ? Number(BigInt.asIntN(32, v)) : typeof v === 'number' ? v | 0 : 0;
}

export function registerSignals(kernel: Kernel): void {
  defineSyscall(kernel, 'kill', ({ task, args }) => {
    const pid = toInt(args[0]);
    const sig = checkSig(toInt(args[1]));
    const targets =
      pid > 0
        ? [kernel.tasks.get(pid).group.leader]
        : [...kernel.tasks.byPid.values()].filter((t) => t.isThreadGroupLeader && t.state !== 'dead' && t.pid !== 1 && (pid === -1 ? t.tgid !== task.tgid : true));
    if (targets.length === 0) throw new KernelError('ESRCH', `no process ${pid}`);
    let sent = 0;
    for (const t of targets) {
      if (!mayKill(task, t)) continue;
      sent++;
      if (sig !== 0) sendSignal(kernel, t, sig, userInfo(task, sig, SI_USER), true);
    }
    if (sent === 0) throw new KernelError('EPERM', `may not signal ${pid}`);
    return 0;
  });
  const threadKill = (task: Task, tgid: number, tid: number, sig: number): number => {
    if (tid <= 0 || (tgid !== -1 && tgid <= 0)) throw new KernelError('EINVAL', 'bad thread id');
    const t = kernel.tasks.byPid.get(tid);
    if (!t || t.state === 'dead' || t.state === 'zombie' || (tgid !== -1 && t.tgid !== tgid)) {
      throw new KernelError('ESRCH', `no thread ${tid}`);
    }
    if (!mayKill(task, t)) throw new KernelError('EPERM', `may not signal ${tid}`);
    if (sig !== 0) sendSignal(kernel, t, sig, userInfo(task, sig, SI_TKILL), false);
    return 0;
  };
  defineSyscall(kernel, 'tgkill', ({ task, args }) =>
    threadKill(task, toInt(args[0]), toInt(args[1]), checkSig(toInt(args[2]))),
  );
  defineSyscall(kernel, 'tkill', ({ task, args }) => threadKill(task, -1, toInt(args[0]), checkSig(toInt(args[1]))));
  // rt_sigaction(sig, act, oldact): act and oldact are SigAction objects (the pointers).
  defineSyscall(kernel, 'rt_sigaction', ({ task, args }) => {
    const sig = checkSig(toInt(args[0]));
    if (sig === 0) throw new KernelError('EINVAL', 'signal 0');
    const act = args[1] as SigAction | null | undefined;
    const old = args[2] as SigAction | null | undefined;
    const g = groupOf(task);
    if (old && typeof old === 'object') {
      const cur = g.actions.get(sig) ?? { handler: 'SIG_DFL' as const };
      old.handler = cur.handler;
      old.flags = cur.flags ?? 0;
    }
    if (act && typeof act === 'object') {
      if (sig === SIG.SIGKILL || sig === SIG.SIGSTOP) throw new KernelError('EINVAL', 'SIGKILL/SIGSTOP cannot be caught');
      if (act.handler === 'SIG_DFL') g.actions.delete(sig);
      else g.actions.set(sig, { handler: act.handler, flags: act.flags ?? 0 });
    }
    return 0;
  });
}
