/**
 * BPF stacks in the shared address space. A run takes one region of
 * MAX_CALL_FRAMES * MAX_BPF_STACK bytes; frame i (bpf-to-bpf call depth i) has
 * r10 = top - i * MAX_BPF_STACK. Regions are pooled per kernel, so nested runs (a program
 * firing a tracepoint that runs another program) each get their own, and both engines
 * (interpreter and JIT) use the same ones.
 */
import { perKernel, type Kernel } from '../kernel.js';
import { MAX_BPF_STACK, MAX_CALL_FRAMES } from './isa.js';

export const STACK_REGION_SIZE = MAX_CALL_FRAMES * MAX_BPF_STACK;

const poolOfKernel = perKernel((): number[] => []);
/** The last kernel's pool (one kernel per process is the common case; saves a WeakMap lookup per run). */
let lastKernel: Kernel | null = null;
let lastPool: number[] = [];

function poolOf(kernel: Kernel): number[] {
  if (kernel !== lastKernel) {
    lastPool = poolOfKernel(kernel);
    lastKernel = kernel;
  }
  return lastPool;
}

/** Returns the offset of the region's top (frame 0's r10). */
export function acquireStack(kernel: Kernel): number {
  const pool = poolOf(kernel);
  const base = pool.pop() ?? kernel.mem.alloc(STACK_REGION_SIZE, 16);
  return base + STACK_REGION_SIZE;
}

export function releaseStack(kernel: Kernel, top: number): void {
  poolOf(kernel).push(top - STACK_REGION_SIZE);
}
