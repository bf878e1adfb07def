/**
 * seccomp's ABI (include/uapi/linux/seccomp.h, include/uapi/linux/prctl.h), Linux spelling.
 *
 * struct seccomp_data, the filter's context (64 bytes, little-endian):
 *
 *   0        4        8                   16                                  64
 *   +--------+--------+-------------------+-----------------------------------+
 *   | nr s32 |arch u32| instruction_pointer u64 | args[6] u64                  |
 *   +--------+--------+-------------------+-----------------------------------+
 */
export const SECCOMP_MODE_DISABLED = 0;
export const SECCOMP_MODE_STRICT = 1;
export const SECCOMP_MODE_FILTER = 2;
/** Internal: the task was killed by seccomp (kernel/seccomp.c's SECCOMP_MODE_DEAD). */
export const SECCOMP_MODE_DEAD = SECCOMP_MODE_FILTER + 1;

export const SECCOMP_SET_MODE_STRICT = 0;
export const SECCOMP_SET_MODE_FILTER = 1;
export const SECCOMP_GET_ACTION_AVAIL = 2;
export const SECCOMP_GET_NOTIF_SIZES = 3;

export const SECCOMP_FILTER_FLAG = {
  SECCOMP_FILTER_FLAG_TSYNC: 1 << 0,
  SECCOMP_FILTER_FLAG_LOG: 1 << 1,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 1 << 2,
  SECCOMP_FILTER_FLAG_NEW_LISTENER: 1 << 3,
  SECCOMP_FILTER_FLAG_TSYNC_ESRCH: 1 << 4,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 1 << 5,
} as const;
export const {
  SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW,
  SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_FILTER_FLAG_TSYNC_ESRCH,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
} = SECCOMP_FILTER_FLAG;
export const SECCOMP_FILTER_FLAG_MASK = 0x3f;

export const SECCOMP_RET = {
  SECCOMP_RET_KILL_PROCESS: 0x80000000,
  SECCOMP_RET_KILL_THREAD: 0x00000000,
  SECCOMP_RET_TRAP: 0x00030000,
  SECCOMP_RET_ERRNO: 0x00050000,
  SECCOMP_RET_USER_NOTIF: 0x7fc00000,
  SECCOMP_RET_TRACE: 0x7ff00000,
  SECCOMP_RET_LOG: 0x7ffc0000,
  SECCOMP_RET_ALLOW: 0x7fff0000,
} as const;
export const {
  SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP, SECCOMP_RET_ERRNO,
  SECCOMP_RET_USER_NOTIF, SECCOMP_RET_TRACE, SECCOMP_RET_LOG, SECCOMP_RET_ALLOW,
} = SECCOMP_RET;
export const SECCOMP_RET_KILL = SECCOMP_RET_KILL_THREAD;
export const SECCOMP_RET_ACTION_FULL = 0xffff0000;
export const SECCOMP_RET_ACTION = 0x7fff0000;
export const SECCOMP_RET_DATA = 0x0000ffff;

/** Action names as the oracle and /proc/sys/kernel/seccomp/actions_avail spell them. */
export const ACTION_NAMES: readonly { value: number; upper: string; avail: string }[] = [
  { value: SECCOMP_RET_KILL_PROCESS, upper: 'KILL_PROCESS', avail: 'kill_process' },
  { value: SECCOMP_RET_KILL_THREAD, upper: 'KILL_THREAD', avail: 'kill_thread' },
  { value: SECCOMP_RET_TRAP, upper: 'TRAP', avail: 'trap' },
  { value: SECCOMP_RET_ERRNO, upper: 'ERRNO', avail: 'errno' },
  { value: SECCOMP_RET_USER_NOTIF, upper: 'USER_NOTIF', avail: 'user_notif' },
  { value: SECCOMP_RET_TRACE, upper: 'TRACE', avail: 'trace' },
  { value: SECCOMP_RET_LOG, upper: 'LOG', avail: 'log' },
  { value: SECCOMP_RET_ALLOW, upper: 'ALLOW', avail: 'allow' },
];

/** The upper-case name of a filter return value's action (unknown actions kill: KILL_PROCESS). */
export function actionName(ret: number): string {
  const a = (ret & SECCOMP_RET_ACTION_FULL) >>> 0;
  return ACTION_NAMES.find((n) => n.value === a)?.upper ?? 'KILL_PROCESS';
}

export const SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1 << 0;

/** ioctls of the listener fd: _IOWR('!', 0, struct seccomp_notif) etc. (x86_64 encoding). */
export const SECCOMP_IOCTL_NOTIF_RECV = 0xc0502100;
export const SECCOMP_IOCTL_NOTIF_SEND = 0xc0182101;
export const SECCOMP_IOCTL_NOTIF_ID_VALID = 0x40082102;
export const SECCOMP_IOCTL_NOTIF_SET_FLAGS = 0x40082104;

/** struct seccomp_notif_sizes as GET_NOTIF_SIZES reports them. */
export const NOTIF_SIZES = { seccomp_notif: 80, seccomp_notif_resp: 24, seccomp_data: 64 } as const;

export const SECCOMP_DATA_SIZE = 64;
/** MAX_INSNS_PER_PATH: total (eBPF) instructions over a filter chain, 4 extra per filter. */
export const MAX_INSNS_PER_PATH = (1 << 18) / 8;
export const MAX_ERRNO = 4095;

export const PR_GET_SECCOMP = 21;
export const PR_SET_SECCOMP = 22;
export const PR_SET_NO_NEW_PRIVS = 38;
export const PR_GET_NO_NEW_PRIVS = 39;

/** struct seccomp_data as a plain object. */
export interface SeccompData {
  nr: number;
  arch: number;
  instructionPointer: bigint;
  args: readonly bigint[];
}

/** struct sock_fprog as userspace passes it to seccomp(2) / prctl(PR_SET_SECCOMP). */
export interface SockFprog {
  len: number;
  filter: readonly { code: number; jt: number; jf: number; k: number }[];
}

/** struct seccomp_notif: what the supervisor receives. */
export interface SeccompNotif {
  id: bigint;
  pid: number;
  flags: number;
  data: SeccompData;
}

/** struct seccomp_notif_resp: the supervisor's answer. */
export interface SeccompNotifResp {
  id: bigint;
  val: bigint | number;
  error: number;
  flags: number;
}
