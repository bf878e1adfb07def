/**
 * BPF_MAP_TYPE_PROG_ARRAY: the jump table of bpf_tail_call. Userspace stores program
 * fds (u32 values) through bpf(); each slot holds a reference on its program, and a
 * syscall lookup answers the program's id (prog_fd_array_sys_lookup_elem). Programs
 * cannot read or write the slots, only tail-call through them. All programs in one
 * array must share one program type (bpf_prog_map_compatible).
 */
import { KernelError } from '../../errno.js';
import type { Kernel } from '../../kernel.js';
import { BPF_ANY, BPF_MAP_TYPE } from '../isa.js';
import { bpfProgGet, bpfProgPut, progFromFd } from '../objects.js';
import type { BpfMap, BpfProg, MapAttr, MapImpl, MapOps } from '../types.js';
import { arrayAllocCheck, arrayNextKey } from './array.js';
import { BPF_F, readU32 } from './common.js';

const slotsOf = new WeakMap<MapImpl, (BpfProg | null)[]>();

/** fd_array_map_alloc_check: values are u32 fds and the program side gets no access flags. */
export function fdArrayAllocCheck(attr: MapAttr): void {
  if (attr.valueSize !== 4) throw new KernelError('EINVAL', 'fd array value_size must be 4');
  if (attr.mapFlags & (BPF_F.BPF_F_RDONLY_PROG | BPF_F.BPF_F_WRONLY_PROG)) {
    throw new KernelError('EINVAL', 'fd arrays take no program access flags');
  }
  arrayAllocCheck(attr);
}

function allocProgArray(kernel: Kernel, attr: MapAttr): MapImpl {
  const slots: (BpfProg | null)[] = new Array<BpfProg | null>(attr.maxEntries).fill(null);
  let ownerType: number | null = null;
  const index = (keyOff: number): number => readU32(kernel, keyOff);
  const clear = (i: number): boolean => {
    const old = slots[i] ?? null;
    slots[i] = null;
    if (old) bpfProgPut(kernel, old);
    return old !== null;
  };
  const impl: MapImpl = {
    syscallValueSize: 4,
    lookup() {
      throw new KernelError('EOPNOTSUPP', 'programs cannot look up prog_array slots');
    },
    update() {
      throw new KernelError('ENOTSUPP', 'programs cannot update prog_array slots');
    },
    updateSyscall(keyOff, valueOff, flags) {
      if (flags !== BPF_ANY) throw new KernelError('EINVAL', 'prog_array updates take BPF_ANY only');
      const i = index(keyOff);
      if (i >= attr.maxEntries) throw new KernelError('E2BIG', `index ${i} >= max_entries ${attr.maxEntries}`);
      const task = kernel.tasks.current;
      if (!task) throw new KernelError('EBADF', 'no task to resolve the program fd');
      const prog = progFromFd(task, readU32(kernel, valueOff));
      if (ownerType !== null && prog.type.id !== ownerType) {
        throw new KernelError('EINVAL', `prog_array holds ${ownerType} programs, not ${prog.type.id}`);
      }
      ownerType = prog.type.id;
      bpfProgGet(prog);
      clear(i);
      slots[i] = prog;
    },
    lookupSyscall(keyOff, outOff) {
      const i = index(keyOff);
      const prog = i < attr.maxEntries ? slots[i] : null;
      if (!prog) throw new KernelError('ENOENT', `slot ${i} is empty`);
      kernel.mem.dv.setUint32(outOff, prog.id, true);
    },
    delete(keyOff) {
      const i = index(keyOff);
      if (i >= attr.maxEntries) throw new KernelError('E2BIG', `index ${i} >= max_entries`);
      if (!clear(i)) throw new KernelError('ENOENT', `slot ${i} is empty`);
    },
    getNextKey: (keyOff, outOff) => arrayNextKey(kernel, attr.maxEntries, keyOff, outOff),
    free() {
      for (let i = 0; i < slots.length; i++) clear(i);
    },
  };
  slotsOf.set(impl, slots);
  return impl;
}

/** The program bpf_tail_call jumps to, or null (out of range, empty slot, not a prog_array). */
export function progArrayTarget(map: BpfMap, index: number): BpfProg | null {
  if (map.type !== BPF_MAP_TYPE.BPF_MAP_TYPE_PROG_ARRAY) return null;
  return slotsOf.get(map.impl)?.[index] ?? null;
}

export const progArrayMapOps = {
  name: 'prog_array',
  allocCheck: fdArrayAllocCheck,
  alloc: allocProgArray,
} satisfies MapOps;
