/**
 * bpfkern as a library: boot a kernel with its subsystems and filesystems wired in.
 * Each subsystem and fs registers itself here (one line each); kernel/ knows none of them.
 */
import { Kernel, type BootOptions } from './kernel/kernel.js';
import { fsOf, type KernelFs } from './fs/api.js';
import { registerMemfs } from './fs/memfs.js';
import { registerProcfs } from './fs/procfs.js';
import { registerBpffs } from './fs/bpffs.js';
import { registerDebugfs } from './fs/debugfs.js';
import { registerTasks } from './kernel/process.js';
import { registerSeccomp } from './subsystems/seccomp/index.js';
import { registerBpfSyscall } from './kernel/bpf/syscall.js';
import { registerNetProgTypes } from './subsystems/net/progtypes.js';
import { registerNet } from './subsystems/net/index.js';
import { registerTracing } from './subsystems/tracing/index.js';
import { registerTracefs } from './fs/tracefs.js';
import { registerFsSyscalls } from './fs/syscalls.js';

export { Kernel, type BootOptions } from './kernel/kernel.js';
export { KernelError, ERRNO, type ErrnoName } from './kernel/errno.js';
export { KernelFs, FsError, type Stats } from './fs/api.js';

/** Boot steps run in order on every new kernel; subsystems add theirs below. */
const bootSteps: ((kernel: Kernel) => void)[] = [
  // one line per subsystem / filesystem, e.g. registerNet,
  registerTasks,
  registerSeccomp,
  registerBpfSyscall,
  registerNetProgTypes,
  registerNet,
  registerTracing,
  registerTracefs,
  registerMemfs,
  registerProcfs,
  registerBpffs,
  registerDebugfs,
  registerFsSyscalls,
];

/** A booted kernel: the Kernel plus its files as a Node-fs-shaped API (fs/api.ts). */
export type BootedKernel = Kernel & { readonly fs: KernelFs };

/** Boots a kernel (seeded, deterministic by default) with every subsystem registered. */
export function bootKernel(opts: BootOptions = {}): BootedKernel {
  const kernel = new Kernel(opts);
  for (const step of bootSteps) step(kernel);
  return Object.assign(kernel, { fs: fsOf(kernel) });
}

// ---------------------------------------------------------------------------------------
// The library's public surface for people's own programs and integration tests (README.md
// "As a library", examples/). Mini-OS processes run async functions that call libc-like
// wrappers taking the process (`p`) first; failures throw SyscallError (libc's -1/errno).
export { type Proc, SyscallError } from './userspace/libc/process.js';
export * from './userspace/libc/proc.js';
export * from './userspace/libc/bpf.js';
export * from './userspace/libc/net.js';
export * from './userspace/libc/file.js';
/** close(2): one wrapper (proc.ts), re-exported by net.ts for socket code. */
export { close } from './userspace/libc/proc.js';
export { startWorkload, workloads, type RunningWorkload } from './userspace/workloads/index.js';
// Processes, signals, credentials, syscall numbers.
export { SIG } from './kernel/signal.js';
export { CAP, rootCred, userCred, type Cred, type Task } from './kernel/task.js';
export { CLONE, WNOHANG } from './kernel/process.js';
export { AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, AUDIT_ARCH_AARCH64 } from './kernel/syscall.js';
export { syscallNumber, syscallName, type ArchName } from './kernel/syscall-table.js';
export { errnoName, errnoNumber } from './kernel/errno.js';
// eBPF: instructions, the assembler (bpf_conformance syntax), bpf(2) constants.
export {
  BPF_CMD, BPF_PROG_TYPE, BPF_MAP_TYPE, BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE,
  insn, isLdImm64, encodeInsns, decodeInsns, parseHexBytes, toHex, type Insn,
} from './kernel/bpf/isa.js';
export { assemble } from './kernel/bpf/asm.js';
export { dumpXlated } from './kernel/bpf/disasm.js';
// Classic BPF (socket filters, seccomp): instructions and the tcpdump/bpf_asm text forms.
export { sf, type SockFilter } from './kernel/bpf/classic/isa.js';
export { parseClassic, formatTcpdump, formatDdd, formatDd, formatBpfAsm } from './kernel/bpf/classic/text.js';
// net: frames arriving on a device, frame builders, tcpdump expressions.
export { netifRx, udp4Frame, udp6Frame, tcpFrame, IPPROTO_UDP, IPPROTO_TCP } from './subsystems/net/index.js';
export { compileFilter } from './subsystems/net/pcap-filter/index.js';
// seccomp: the UAPI constants and OCI/Docker profiles.
export {
  SECCOMP_SET_MODE_STRICT, SECCOMP_SET_MODE_FILTER, SECCOMP_GET_ACTION_AVAIL, SECCOMP_FILTER_FLAG,
  SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP, SECCOMP_RET_ERRNO, SECCOMP_RET_USER_NOTIF,
  SECCOMP_RET_TRACE, SECCOMP_RET_LOG, SECCOMP_RET_ALLOW, SECCOMP_RET_DATA, PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS,
  PR_GET_SECCOMP, PR_SET_SECCOMP,
} from './subsystems/seccomp/uapi.js';
export { compileProfile, type Profile } from './subsystems/seccomp/profile.js';
