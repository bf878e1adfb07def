/**
 * The program type registry (Linux's BPF_PROG_TYPE lines in bpf_types.h). kernel/bpf
 * knows no program type itself: each subsystem registers its own at boot (net:
 * socket_filter, sched_cls; tracing: tracepoint, ...), naming the context layout, the
 * allowed helpers and test_run. PROG_LOAD of an unregistered type is EINVAL, as Linux
 * answers for a type it was built without.
 */
import { KernelError } from '../errno.js';
import { perKernel, type Kernel } from '../kernel.js';
import type { ProgTypeDef } from './types.js';

const progTypesOf = perKernel((): Map<number, ProgTypeDef> => new Map());

export function registerProgType(kernel: Kernel, def: ProgTypeDef): void {
  const types = progTypesOf(kernel);
  const old = types.get(def.id);
  if (old && old !== def) throw new Error(`program type ${def.id} (${def.name}) registered twice`);
  types.set(def.id, def);
}

export function progTypeById(kernel: Kernel, id: number): ProgTypeDef | undefined {
  return progTypesOf(kernel).get(id);
}

export function progTypeByName(kernel: Kernel, name: string): ProgTypeDef | undefined {
  for (const def of progTypesOf(kernel).values()) if (def.name === name) return def;
  return undefined;
}

/** Like progTypeById but EINVAL when missing. */
export function findProgType(kernel: Kernel, id: number): ProgTypeDef {
  const def = progTypeById(kernel, id);
  if (!def) throw new KernelError('EINVAL', `unknown program type ${id}`);
  return def;
}

export function allProgTypes(kernel: Kernel): ProgTypeDef[] {
  return [...progTypesOf(kernel).values()].sort((a, b) => a.id - b.id);
}
