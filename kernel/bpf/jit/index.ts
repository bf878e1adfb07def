/**
 * The eBPF -> WebAssembly JIT (DESIGN.md decision 3). Placeholder while the JIT is being
 * written: it declines every program, so the interpreter runs them.
 */
import { KernelError } from '../../errno.js';
import type { Kernel } from '../../kernel.js';
import type { BpfProg, JitImage } from '../types.js';

export function jitCompile(_kernel: Kernel, _prog: BpfProg): JitImage {
  throw new KernelError('ENOTSUPP', 'JIT not available');
}
