/**
 * The helper registry: func id -> FuncProto. The core helpers (core.ts) are always
 * there; a subsystem adds its own at boot with registerHelper. A program gets the subset
 * its program type allows (ProgTypeDef.allowedHelpers) as prog.helpers at load.
 */
import { perKernel, type Kernel } from '../../kernel.js';
import type { FuncProto, ProgTypeDef } from '../types.js';
import { CORE_HELPERS } from './core.js';

export { setTracePrintkSink, BPF_FUNC, type TracePrintkSink } from './core.js';

const CORE = new Map<number, FuncProto>(CORE_HELPERS.map((p) => [p.id, p]));
const extraOf = perKernel((): Map<number, FuncProto> => new Map());

/** Adds (or, for a subsystem's own variant, replaces) a helper on this kernel. */
export function registerHelper(kernel: Kernel, proto: FuncProto): void {
  extraOf(kernel).set(proto.id, proto);
}

export function helperById(kernel: Kernel, id: number): FuncProto | undefined {
  return extraOf(kernel).get(id) ?? CORE.get(id);
}

/** The helpers a program of this type may call, by id (what PROG_LOAD puts in prog.helpers). */
export function helpersForType(kernel: Kernel, type: ProgTypeDef): Map<number, FuncProto> {
  const out = new Map<number, FuncProto>();
  for (const id of type.allowedHelpers) {
    const p = helperById(kernel, id);
    if (p) out.set(id, p);
  }
  return out;
}

/**
 * The helpers every program type gets (bpf_base_func_proto as seen by a privileged
 * loader on Linux 6.18): maps, time, randomness, CPU id, tail calls, ring buffers,
 * bpf_loop, and the perfmon-gated task and printk helpers.
 */
export const BASE_HELPER_IDS: readonly number[] = [1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 125, 130, 131, 132, 133, 134, 181];
