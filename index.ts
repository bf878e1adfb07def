/**
 * bpfkern as a library: boot a kernel with its subsystems and filesystems wired in.
 * Each subsystem and fs registers itself here (one line each); kernel/ knows none of them.
 */
import { Kernel, type BootOptions } from './kernel/kernel.js';

export { Kernel, type BootOptions } from './kernel/kernel.js';
export { KernelError, ERRNO, type ErrnoName } from './kernel/errno.js';

/** Boot steps run in order on every new kernel; subsystems add theirs below. */
const bootSteps: ((kernel: Kernel) => void)[] = [
  // one line per subsystem / filesystem, e.g. registerNet,
];

/** Boots a kernel (seeded, deterministic by default) with every subsystem registered. */
export function bootKernel(opts: BootOptions = {}): Kernel {
  const kernel = new Kernel(opts);
  for (const step of bootSteps) step(kernel);
  return kernel;
}
