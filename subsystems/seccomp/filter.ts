/**
 * Seccomp filters (kernel/seccomp.c): per-task mode and filter chain, installing filters
 * (seccomp(2) and prctl(2)), running them at syscall entry and acting on the verdict.
 *
 * Invariants, as in Linux:
 *  - A task's chain is a linked list newest -> oldest, shared with the tasks it was
 *    inherited by (fork and clone copy the pointer). Filters are never removed.
 *  - Every filter runs on every syscall; the lowest action (compared as s32 after
 *    masking the data) wins, ties keep the newer filter's value (seccomp_run_filters).
 *  - Installing needs no_new_privs or CAP_SYS_ADMIN (EACCES); the chain's total
 *    instruction count (eBPF, +4 per filter) is at most MAX_INSNS_PER_PATH (ENOMEM).
 *  - Seccomp runs as the first syscall entry hook, before any tracepoint.
 */
import { KernelError } from '../../kernel/errno.js';
import type { Kernel } from '../../kernel/kernel.js';
import { perKernel } from '../../kernel/kernel.js';
import { checkClassic } from '../../kernel/bpf/classic/checker.js';
import type { SockFilter } from '../../kernel/bpf/classic/isa.js';
import { bpfProgCreateClassic } from '../../kernel/bpf/classic/prog.js';
import { bpfProgRunnerOf } from '../../kernel/bpf/run.js';
import type { BpfProg, ProgTypeDef } from '../../kernel/bpf/types.js';
import { BPF_MAXINSNS } from '../../kernel/bpf/isa.js';
import { doExit, doGroupExit } from '../../kernel/process.js';
import { SIG, SYS_SECCOMP, sendSignal, signaledStatus } from '../../kernel/signal.js';
import {
  AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, SYSCALL_WORK_SECCOMP, writeArgRegisters, type EntryVerdict, type SyscallCall,
} from '../../kernel/syscall.js';
import { CAP, capable, perTask, type Task } from '../../kernel/task.js';
import { seccompCheckFilter } from './check.js';
import type { Listener } from './notify.js';
import {
  ACTION_NAMES, MAX_ERRNO, MAX_INSNS_PER_PATH, SECCOMP_DATA_SIZE, SECCOMP_FILTER_FLAG_LOG,
  SECCOMP_FILTER_FLAG_MASK, SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_FILTER_FLAG_TSYNC,
  SECCOMP_FILTER_FLAG_TSYNC_ESRCH, SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, SECCOMP_MODE_DEAD,
  SECCOMP_MODE_DISABLED, SECCOMP_MODE_FILTER, SECCOMP_MODE_STRICT, SECCOMP_RET_ACTION_FULL,
  SECCOMP_RET_ALLOW, SECCOMP_RET_DATA, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_KILL_THREAD, SECCOMP_RET_LOG, SECCOMP_RET_TRACE, SECCOMP_RET_TRAP,
  SECCOMP_RET_USER_NOTIF, type SeccompData, type SockFprog,
} from './uapi.js';

export interface SeccompFilter {
  readonly prog: BpfProg;
  /**
   * The program as the user wrote it (Linux's fprog->orig_prog, saved by
   * bpf_prog_create_from_user before seccomp_check_filter runs): what
   * PTRACE_SECCOMP_GET_FILTER and checkpoint/restore read back, so `ld [0]` stays 0x20.
   */
  readonly orig: readonly SockFilter[];
  /** The program as checked (after seccomp_check_filter's rewriting: `ld [k]` is 0x21). */
  readonly classic: readonly SockFilter[];
  readonly prev: SeccompFilter | null;
  /** SECCOMP_FILTER_FLAG_LOG: log the actions this filter takes (when actions_logged says so). */
  readonly log: boolean;
  readonly waitKillable: boolean;
  /** The USER_NOTIF listener of this filter, if one was created with it. */
  listener: Listener | null;
}

export interface TaskSeccomp {
  mode: number;
  filter: SeccompFilter | null;
  /**
   * The last verdict of the chain for this task (tools such as `bpfkern seccomp run` read
   * it). One object per task, rewritten by each filtered syscall.
   */
  last: { nr: number; arch: number; ret: number } | null;
}

export const seccompOf = perTask((): TaskSeccomp => ({ mode: SECCOMP_MODE_DISABLED, filter: null, last: null }));

/** The seccomp "program type": classic filters on a seccomp_data context, no helpers. */
export const SECCOMP_PROG_TYPE: ProgTypeDef = {
  id: 0,
  name: 'seccomp',
  ctxSize: SECCOMP_DATA_SIZE,
  ctxFields: [],
  allowedHelpers: new Set(),
  allowsLdAbs: false,
};

interface SeccompKernelState {
  /**
   * Offset of the seccomp_data the filters read: one per kernel, allocated once and
   * rewritten field by field for each filtered syscall. One is enough because the chain
   * runs synchronously and filters never nest (a seccomp filter fires no tracepoint).
   */
  dataOff: number;
  /** /proc/sys/kernel/seccomp/actions_logged, as a set of action values. */
  logged: Set<number>;
}

export const seccompStateOf = perKernel((kernel): SeccompKernelState => {
  const dataOff = kernel.mem.alloc(SECCOMP_DATA_SIZE, 8);
  return {
    dataOff,
    logged: new Set(ACTION_NAMES.filter((a) => a.avail !== 'allow').map((a) => a.value)),
  };
});

/** ACTION_ONLY(): the action bits compared as a signed 32-bit value. */
export function actionOnly(ret: number): number {
  return (ret & SECCOMP_RET_ACTION_FULL) | 0;
}

function totalInsns(chain: SeccompFilter | null, extra: number): number {
  let total = extra;
  for (let w = chain; w; w = w.prev) total += w.prog.insns.length + 4;
  return total;
}

/**
 * seccomp_prepare_filter: EINVAL for an empty or too long program, EACCES without
 * no_new_privs or CAP_SYS_ADMIN, then the classic checker and seccomp's own (EINVAL),
 * then conversion to eBPF for the shared engine.
 */
export function prepareFilter(kernel: Kernel, task: Task, fprog: unknown, flags: number): SeccompFilter {
  if (!fprog || typeof fprog !== 'object' || !('filter' in fprog) || !Array.isArray((fprog as SockFprog).filter)) {
    throw new KernelError('EFAULT', 'bad struct sock_fprog pointer');
  }
  const fp = fprog as SockFprog;
  const len = typeof fp.len === 'number' ? fp.len : fp.filter.length;
  if (len === 0 || len > BPF_MAXINSNS) throw new KernelError('EINVAL', `filter length ${len} not in 1..${BPF_MAXINSNS}`);
  if (len > fp.filter.length) throw new KernelError('EFAULT', 'filter shorter than len');
  if (!task.noNewPrivs && !capable(task.cred, CAP.CAP_SYS_ADMIN)) {
    throw new KernelError('EACCES', 'seccomp filter needs no_new_privs or CAP_SYS_ADMIN');
  }
  const raw: SockFilter[] = fp.filter.slice(0, len).map((f) => ({
    code: f.code & 0xffff, jt: f.jt & 0xff, jf: f.jf & 0xff, k: f.k >>> 0,
  }));
  checkClassic(raw);
  const orig: readonly SockFilter[] = raw.map((f) => ({ ...f }));
  const classic = seccompCheckFilter(raw);
  const prog = bpfProgCreateClassic(kernel, classic, { type: SECCOMP_PROG_TYPE, checked: true, seccomp: true, uid: task.cred.uid });
  // The original program is what the program shows as its classic form (bpf_prog->orig_prog).
  prog.classic = orig;
  return {
    prog,
    orig,
    classic,
    prev: null,
    log: (flags & SECCOMP_FILTER_FLAG_LOG) !== 0,
    waitKillable: (flags & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) !== 0,
    listener: null,
  };
}

function isAncestor(parent: SeccompFilter | null, child: SeccompFilter | null): boolean {
  if (parent === null) return true;
  for (let c = child; c; c = c.prev) if (c === parent) return true;
  return false;
}

/**
 * seccomp_set_mode_filter + seccomp_attach_filter: returns 0, the listener fd
 * (NEW_LISTENER), or the id of a thread TSYNC could not synchronise.
 */
export function setModeFilter(
  kernel: Kernel,
  task: Task,
  flags: number,
  fprog: unknown,
  makeListener: (task: Task, filter: SeccompFilter) => number,
): number {
  if ((flags & ~SECCOMP_FILTER_FLAG_MASK) !== 0) throw new KernelError('EINVAL', `unknown filter flags 0x${flags.toString(16)}`);
  if ((flags & SECCOMP_FILTER_FLAG_TSYNC) && (flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) && !(flags & SECCOMP_FILTER_FLAG_TSYNC_ESRCH)) {
    throw new KernelError('EINVAL', 'TSYNC with NEW_LISTENER needs TSYNC_ESRCH');
  }
  if ((flags & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) && !(flags & SECCOMP_FILTER_FLAG_NEW_LISTENER)) {
    throw new KernelError('EINVAL', 'WAIT_KILLABLE_RECV needs NEW_LISTENER');
  }
  const prepared = prepareFilter(kernel, task, fprog, flags);
  const st = seccompOf(task);
  if (st.mode !== SECCOMP_MODE_DISABLED && st.mode !== SECCOMP_MODE_FILTER) throw new KernelError('EINVAL', 'task is in strict mode');
  if (flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) {
    for (let c = st.filter; c; c = c.prev) {
      if (c.listener) throw new KernelError('EBUSY', 'the filter chain already has a listener');
    }
  }
  if (totalInsns(st.filter, prepared.prog.insns.length) > MAX_INSNS_PER_PATH) {
    throw new KernelError('ENOMEM', `filter chain longer than ${MAX_INSNS_PER_PATH} instructions`);
  }
  if (flags & SECCOMP_FILTER_FLAG_TSYNC) {
    for (const t of task.group.threads) {
      if (t === task) continue;
      const ts = seccompOf(t);
      const ok = ts.mode === SECCOMP_MODE_DISABLED || (ts.mode === SECCOMP_MODE_FILTER && isAncestor(ts.filter, st.filter));
      if (!ok) {
        if (flags & SECCOMP_FILTER_FLAG_TSYNC_ESRCH) throw new KernelError('ESRCH', `thread ${t.pid} cannot be synchronised`);
        return t.pid;
      }
    }
  }
  const filter: SeccompFilter = { ...prepared, prev: st.filter };
  let ret = 0;
  if (flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) ret = makeListener(task, filter);
  st.filter = filter;
  st.mode = SECCOMP_MODE_FILTER;
  task.syscallWork |= SYSCALL_WORK_SECCOMP;
  if (flags & SECCOMP_FILTER_FLAG_TSYNC) {
    for (const t of task.group.threads) {
      if (t === task) continue;
      const ts = seccompOf(t);
      ts.filter = filter;
      ts.mode = SECCOMP_MODE_FILTER;
      t.syscallWork |= SYSCALL_WORK_SECCOMP;
      if (task.noNewPrivs) t.noNewPrivs = true;
    }
  }
  return ret;
}

export function setModeStrict(task: Task): number {
  const st = seccompOf(task);
  if (st.mode !== SECCOMP_MODE_DISABLED && st.mode !== SECCOMP_MODE_STRICT) throw new KernelError('EINVAL', 'task is in filter mode');
  st.mode = SECCOMP_MODE_STRICT;
  task.syscallWork |= SYSCALL_WORK_SECCOMP;
  return 0;
}

/** fork/clone: the child shares the parent's chain and mode (the pointer, as get_seccomp_filter). */
export function inheritSeccomp(parent: Task, child: Task): void {
  const p = seccompOf(parent);
  const c = seccompOf(child);
  c.mode = p.mode === SECCOMP_MODE_DEAD ? SECCOMP_MODE_FILTER : p.mode;
  c.filter = p.filter;
  // copy_seccomp: the child's entry work follows its mode.
  if (c.mode !== SECCOMP_MODE_DISABLED) child.syscallWork |= SYSCALL_WORK_SECCOMP;
  else child.syscallWork &= ~SYSCALL_WORK_SECCOMP;
}

/**
 * Writes struct seccomp_data for a call into the kernel's seccomp_data (populate_seccomp_data):
 * u32 stores only, no bigint for numeric and pointer arguments.
 */
export function populateSeccompData(kernel: Kernel, call: SyscallCall): void {
  const off = seccompStateOf(kernel).dataOff;
  const dv = kernel.mem.dv;
  dv.setInt32(off, call.nr, true);
  dv.setUint32(off + 4, call.arch >>> 0, true);
  // instruction_pointer: SYSCALL_IP's values, as u32 words (they fit in the low word).
  switch (call.arch) {
    case AUDIT_ARCH_X86_64:
      dv.setUint32(off + 8, 0x401a2b, true);
      dv.setUint32(off + 12, 0, true);
      break;
    case AUDIT_ARCH_I386:
      dv.setUint32(off + 8, 0x8049a2b, true);
      dv.setUint32(off + 12, 0, true);
      break;
    default:
      dv.setBigUint64(off + 8, call.ip, true);
  }
  writeArgRegisters(call, off + 16);
}

/** struct seccomp_data of a call as a plain object (a USER_NOTIF notification carries it). */
export function seccompDataOf(call: SyscallCall): SeccompData {
  return { nr: call.nr, arch: call.arch, instructionPointer: call.ip, args: call.regs };
}

// runFilters' answer (module scratch, read right after each call: the chain runs synchronously).
let matchOut: SeccompFilter | null = null;

/**
 * seccomp_run_filters over the seccomp_data already written: the winning return value (u32);
 * the filter that gave it is left in matchOut.
 */
function runChain(kernel: Kernel, task: Task | null, chain: SeccompFilter | null): number {
  const dataOff = seccompStateOf(kernel).dataOff;
  let ret: number = SECCOMP_RET_ALLOW;
  let best = actionOnly(ret);
  let match: SeccompFilter | null = null;
  for (let f = chain; f; f = f.prev) {
    const cur = bpfProgRunnerOf(kernel, f.prog)(dataOff, task) >>> 0;
    const a = actionOnly(cur);
    if (a < best) {
      ret = cur;
      best = a;
      match = f;
    }
  }
  matchOut = match;
  return ret >>> 0;
}

/** seccomp_run_filters: the winning return value and the filter that gave it. */
export function runFilters(kernel: Kernel, task: Task | null, chain: SeccompFilter | null): { ret: number; match: SeccompFilter | null } {
  const ret = runChain(kernel, task, chain);
  return { ret, match: matchOut };
}

/** Judges one syscall (nr, arch, args) against a chain without running anything: tools and tests. */
export function judge(kernel: Kernel, chain: SeccompFilter | null, data: SeccompData): number {
  const off = seccompStateOf(kernel).dataOff;
  const dv = kernel.mem.dv;
  dv.setInt32(off, data.nr, true);
  dv.setUint32(off + 4, data.arch >>> 0, true);
  dv.setBigUint64(off + 8, data.instructionPointer, true);
  for (let i = 0; i < 6; i++) dv.setBigUint64(off + 16 + 8 * i, BigInt.asUintN(64, data.args[i] ?? 0n), true);
  return runChain(kernel, null, chain);
}

/** seccomp_log / audit_seccomp: one audit line in the kernel log when the action is logged. */
function seccompLog(kernel: Kernel, call: SyscallCall, sig: number, action: number, requested: boolean): void {
  const logged = seccompStateOf(kernel).logged;
  let log: boolean;
  switch (action) {
    case SECCOMP_RET_ALLOW:
      log = false;
      break;
    case SECCOMP_RET_TRAP:
    case SECCOMP_RET_ERRNO:
    case SECCOMP_RET_TRACE:
    case SECCOMP_RET_USER_NOTIF:
      log = requested && logged.has(action);
      break;
    case SECCOMP_RET_LOG:
    case SECCOMP_RET_KILL_THREAD:
      log = logged.has(action);
      break;
    default:
      log = logged.has(SECCOMP_RET_KILL_PROCESS);
  }
  if (!log) return;
  const t = call.task;
  kernel.log.printk(
    `audit: type=1326 audit(0.0:1): auid=4294967295 uid=${t.cred.uid} gid=${t.cred.gid} ses=4294967295 pid=${t.tgid} comm="${t.comm}" exe="/bin/${t.comm}" sig=${sig} arch=${(call.arch >>> 0).toString(16)} syscall=${call.nr} compat=${call.arch === AUDIT_ARCH_I386 ? 1 : 0} ip=0x${call.ip.toString(16)} code=0x${(action >>> 0).toString(16)}`,
  );
}

/** Strict mode's allow-list: read, write, exit, rt_sigreturn (i386: sigreturn too). */
function strictAllowed(call: SyscallCall): boolean {
  if (call.arch === AUDIT_ARCH_I386) return [3, 4, 1, 119, 173].includes(call.nr);
  return ['read', 'write', 'exit', 'rt_sigreturn'].includes(call.name);
}

/** The USER_NOTIF round trip; provided by notify.ts (returns the syscall's fate). */
export type NotifyFn = (call: SyscallCall, match: SeccompFilter, data: SeccompData) => EntryVerdict | Promise<EntryVerdict>;

/**
 * The syscall entry hook (__secure_computing): runs the chain and returns undefined to let
 * the syscall run, or { ret } to skip it. Killing actions leave the task dead.
 */
export function secureComputing(call: SyscallCall, notify: NotifyFn): EntryVerdict | Promise<EntryVerdict> {
  const { kernel, task } = call;
  const st = seccompOf(task);
  switch (st.mode) {
    case SECCOMP_MODE_DISABLED:
      return undefined;
    case SECCOMP_MODE_STRICT:
      if (strictAllowed(call)) return undefined;
      seccompLog(kernel, call, SIG.SIGKILL, SECCOMP_RET_KILL_THREAD, true);
      doExit(kernel, task, signaledStatus(SIG.SIGKILL));
      return { ret: 0 };
    case SECCOMP_MODE_DEAD:
      doExit(kernel, task, signaledStatus(SIG.SIGKILL));
      return { ret: 0 };
    default:
      break;
  }
  populateSeccompData(kernel, call);
  const ret = runChain(kernel, task, st.filter);
  const match = matchOut;
  if (st.last === null) st.last = { nr: call.nr, arch: call.arch, ret };
  else {
    st.last.nr = call.nr;
    st.last.arch = call.arch;
    st.last.ret = ret;
  }
  if (ret === SECCOMP_RET_ALLOW) return undefined;
  const action = (ret & SECCOMP_RET_ACTION_FULL) >>> 0;
  let dataBits = ret & SECCOMP_RET_DATA;
  switch (action) {
    case SECCOMP_RET_ERRNO:
      if (dataBits > MAX_ERRNO) dataBits = MAX_ERRNO;
      seccompLog(kernel, call, 0, action, match?.log ?? false);
      return { ret: dataBits === 0 ? 0 : -dataBits };
    case SECCOMP_RET_TRAP:
      seccompLog(kernel, call, 0, action, match?.log ?? false);
      // syscall_rollback: the syscall "returns" its own number unless the handler changes it.
      sendSignal(kernel, task, SIG.SIGSYS, {
        si_signo: SIG.SIGSYS, si_errno: dataBits, si_code: SYS_SECCOMP,
        si_syscall: call.nr, si_arch: call.arch >>> 0, si_call_addr: call.ip,
      }, false, true);
      return { ret: call.nr };
    case SECCOMP_RET_TRACE:
      // No ptrace in the mini-OS: a TRACE without a tracer fails the call with ENOSYS.
      seccompLog(kernel, call, 0, action, match?.log ?? false);
      return { ret: -38 };
    case SECCOMP_RET_USER_NOTIF:
      seccompLog(kernel, call, 0, action, match?.log ?? false);
      if (!match || !match.listener || match.listener.closed) return { ret: -38 };
      return notify(call, match, seccompDataOf(call));
    case SECCOMP_RET_LOG:
      seccompLog(kernel, call, 0, action, true);
      return undefined;
    case SECCOMP_RET_ALLOW:
      return undefined;
    default: {
      // KILL_THREAD, KILL_PROCESS and every unknown action.
      st.mode = SECCOMP_MODE_DEAD;
      seccompLog(kernel, call, SIG.SIGSYS, action, true);
      const info = {
        si_signo: SIG.SIGSYS, si_errno: dataBits, si_code: SYS_SECCOMP,
        si_syscall: call.nr, si_arch: call.arch >>> 0, si_call_addr: call.ip,
      };
      if (action !== SECCOMP_RET_KILL_THREAD || task.group.threads.size === 1) {
        // force_sig_seccomp(.., force_coredump): SIGSYS with its default action, the group dies.
        sendSignal(kernel, task, SIG.SIGSYS, info, false, 'exit');
        if (task.state !== 'zombie' && task.state !== 'dead') doGroupExit(kernel, task, signaledStatus(SIG.SIGSYS));
      } else {
        doExit(kernel, task, signaledStatus(SIG.SIGSYS));
      }
      return { ret: 0 };
    }
  }
}

/** The /proc/<pid>/status lines seccomp owns (Linux prints them in this order). */
export function seccompStatusLines(task: Task): string[] {
  const st = seccompOf(task);
  let n = 0;
  for (let f = st.filter; f; f = f.prev) n++;
  const mode = st.mode === SECCOMP_MODE_DEAD ? SECCOMP_MODE_FILTER : st.mode;
  return [`NoNewPrivs:\t${task.noNewPrivs ? 1 : 0}`, `Seccomp:\t${mode}`, `Seccomp_filters:\t${n}`];
}

/** /proc/sys/kernel/seccomp/actions_avail. */
export function actionsAvailText(): string {
  return `${ACTION_NAMES.map((a) => a.avail).join(' ')}\n`;
}

/** /proc/sys/kernel/seccomp/actions_logged (read). */
export function actionsLoggedText(kernel: Kernel): string {
  const logged = seccompStateOf(kernel).logged;
  return `${ACTION_NAMES.filter((a) => logged.has(a.value)).map((a) => a.avail).join(' ')}\n`;
}

/**
 * /proc/sys/kernel/seccomp/actions_logged (write, CAP_SYS_ADMIN): names separated by
 * spaces; "allow" cannot be logged and an unknown name is EINVAL.
 */
export function writeActionsLogged(kernel: Kernel, text: string): void {
  const names = text.trim().split(/\s+/).filter((s) => s !== '');
  const set = new Set<number>();
  for (const n of names) {
    const a = ACTION_NAMES.find((x) => x.avail === n);
    if (!a || a.avail === 'allow') throw new KernelError('EINVAL', `cannot log action '${n}'`);
    set.add(a.value);
  }
  seccompStateOf(kernel).logged = set;
}
