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
];

/** A booted kernel: the Kernel plus its files as a Node-fs-shaped API (fs/api.ts). */
export type BootedKernel = Kernel & { readonly fs: KernelFs };

/** Boots a kernel (seeded, deterministic by default) with every subsystem registered. */
export function bootKernel(opts: BootOptions = {}): BootedKernel {
  const kernel = new Kernel(opts);
  for (const step of bootSteps) step(kernel);
  return Object.assign(kernel, { fs: fsOf(kernel) });
}
