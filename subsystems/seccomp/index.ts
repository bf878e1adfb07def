/**
 * The seccomp subsystem's boot step and syscalls: seccomp(2), the prctl options
 * PR_{GET,SET}_NO_NEW_PRIVS and PR_{GET,SET}_SECCOMP, the first syscall entry hook and the
 * fork hook that shares the filter chain with children. Public surface for fs/procfs:
 * seccompStatusLines, actionsAvailText, actionsLoggedText, writeActionsLogged.
 */
import { KernelError } from '../../kernel/errno.js';
import type { Kernel } from '../../kernel/kernel.js';
import { definePrctl, taskHooksOf } from '../../kernel/process.js';
import { SYSCALL_WORK_SECCOMP, addEntryHook, defineSyscall, type SyscallArg } from '../../kernel/syscall.js';
import {
  actionsAvailText, actionsLoggedText, inheritSeccomp, seccompOf, secureComputing, setModeFilter, setModeStrict,
  writeActionsLogged,
} from './filter.js';
import { makeListener, userNotify } from './notify.js';
import {
  ACTION_NAMES, NOTIF_SIZES, PR_GET_NO_NEW_PRIVS, PR_GET_SECCOMP, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP,
  SECCOMP_GET_ACTION_AVAIL, SECCOMP_GET_NOTIF_SIZES, SECCOMP_MODE_DEAD, SECCOMP_MODE_FILTER,
  SECCOMP_MODE_STRICT, SECCOMP_SET_MODE_FILTER, SECCOMP_SET_MODE_STRICT,
} from './uapi.js';
import type { Task } from '../../kernel/task.js';

export {
  seccompStatusLines, actionsAvailText, actionsLoggedText, writeActionsLogged, judge, prepareFilter,
  seccompOf, setModeFilter, type SeccompFilter,
} from './filter.js';
export { seccompFiltersText, installFiltersText, parseFiltersText, filterFlags } from './debug.js';

function toU32(v: SyscallArg): number {
  if (typeof v === 'bigint') return Number(BigInt.asUintN(32, v));
  if (typeof v === 'number') return v >>> 0;
  return 0;
}

function isNull(v: SyscallArg): boolean {
  return v === null || v === undefined || v === 0 || v === 0n;
}

/** do_seccomp: the operations of seccomp(2). */
function doSeccomp(kernel: Kernel, task: Task, op: number, flags: number, uargs: SyscallArg): number {
  switch (op) {
    case SECCOMP_SET_MODE_STRICT:
      if (flags !== 0 || !isNull(uargs)) throw new KernelError('EINVAL', 'strict mode takes no flags or args');
      return setModeStrict(task);
    case SECCOMP_SET_MODE_FILTER:
      return setModeFilter(kernel, task, flags, uargs, makeListener);
    case SECCOMP_GET_ACTION_AVAIL: {
      if (flags !== 0) throw new KernelError('EINVAL', 'flags must be 0');
      // uargs: a pointer to a u32 (a Uint32Array or number[] here).
      const action = uargs instanceof Uint32Array || Array.isArray(uargs) ? (uargs as ArrayLike<number>)[0] : undefined;
      if (action === undefined) throw new KernelError('EFAULT', 'bad action pointer');
      if (!ACTION_NAMES.some((a) => a.value === action >>> 0)) throw new KernelError('EOPNOTSUPP', `action 0x${(action >>> 0).toString(16)} not available`);
      return 0;
    }
    case SECCOMP_GET_NOTIF_SIZES: {
      if (flags !== 0) throw new KernelError('EINVAL', 'flags must be 0');
      if (!(uargs instanceof Uint16Array) || uargs.length < 3) throw new KernelError('EFAULT', 'bad seccomp_notif_sizes pointer');
      uargs[0] = NOTIF_SIZES.seccomp_notif;
      uargs[1] = NOTIF_SIZES.seccomp_notif_resp;
      uargs[2] = NOTIF_SIZES.seccomp_data;
      return 0;
    }
    default:
      throw new KernelError('EINVAL', `unknown seccomp operation ${op}`);
  }
}

export function registerSeccomp(kernel: Kernel): void {
  // Runs first, and only for tasks in a seccomp mode (SYSCALL_WORK_SECCOMP, set on install and fork).
  addEntryHook(kernel, (call) => secureComputing(call, userNotify), true, SYSCALL_WORK_SECCOMP);
  taskHooksOf(kernel).fork.push((parent, child) => inheritSeccomp(parent, child));
  defineSyscall(kernel, 'seccomp', ({ task, args }) => doSeccomp(kernel, task, toU32(args[0]), toU32(args[1]), args[2]));
  definePrctl(kernel, PR_SET_NO_NEW_PRIVS, ({ call, args }) => {
    if (args[0] !== 1n || args[1] !== 0n || args[2] !== 0n || args[3] !== 0n) throw new KernelError('EINVAL', 'PR_SET_NO_NEW_PRIVS takes 1, 0, 0, 0');
    call.task.noNewPrivs = true;
    return 0;
  });
  definePrctl(kernel, PR_GET_NO_NEW_PRIVS, ({ call, args }) => {
    if (args.some((a) => a !== 0n)) throw new KernelError('EINVAL', 'PR_GET_NO_NEW_PRIVS takes no arguments');
    return call.task.noNewPrivs ? 1 : 0;
  });
  definePrctl(kernel, PR_GET_SECCOMP, ({ call }) => {
    const mode = seccompOf(call.task).mode;
    return mode === SECCOMP_MODE_DEAD ? SECCOMP_MODE_FILTER : mode;
  });
  definePrctl(kernel, PR_SET_SECCOMP, ({ call, args, raw }) => {
    const mode = Number(args[0] ?? 0n);
    if (mode === SECCOMP_MODE_STRICT) return doSeccomp(kernel, call.task, SECCOMP_SET_MODE_STRICT, 0, null);
    if (mode === SECCOMP_MODE_FILTER) return doSeccomp(kernel, call.task, SECCOMP_SET_MODE_FILTER, 0, raw[1]);
    throw new KernelError('EINVAL', `unknown seccomp mode ${mode}`);
  });
}

/** The status-file view fs/procfs asks for (mode as /proc shows it, filters in the chain). */
export function seccompProcStatus(task: Task): { mode: 0 | 1 | 2; filters: number } {
  const st = seccompOf(task);
  let n = 0;
  for (let f = st.filter; f; f = f.prev) n++;
  const mode = st.mode === SECCOMP_MODE_DEAD ? SECCOMP_MODE_FILTER : st.mode;
  return { mode: mode as 0 | 1 | 2, filters: n };
}

/** /proc/sys/kernel/seccomp/{actions_avail,actions_logged} for one kernel, in fs/procfs's shape. */
export function seccompSysctlsFor(kernel: Kernel): {
  actionsAvail: () => readonly string[];
  getLogged: () => readonly string[];
  setLogged: (names: readonly string[]) => void;
} {
  return {
    actionsAvail: () => actionsAvailText().trim().split(' '),
    getLogged: () => actionsLoggedText(kernel).trim().split(' ').filter((s) => s !== ''),
    setLogged: (names) => writeActionsLogged(kernel, names.join(' ')),
  };
}
