/**
 * BPF_MAP_TYPE_ARRAY (arraymap.c): max_entries preallocated values indexed by a u32 key,
 * zero-initialised, never deleted. The per-CPU variant (percpu_array.ts) shares this
 * storage with one value slot per CPU:
 *
 *     values: [ elem 0: cpu0 cpu1 ... ][ elem 1: cpu0 cpu1 ... ] ...   (slots of round_up(value_size, 8))
 */
import { KernelError } from '../../errno.js';
import type { Kernel } from '../../kernel.js';
import { BPF_MAP_TYPE, BPF_NOEXIST } from '../isa.js';
import type { MapAttr, MapImpl, MapOps } from '../types.js';
import {
  BPF_F, BPF_F_ACCESS_MASK, PCPU_MIN_UNIT_SIZE, checkUpdateFlags, copyWithin, mapFlagsAccessOk, readU32, roundUp8,
} from './common.js';

const ARRAY_CREATE_FLAG_MASK =
  BPF_F.BPF_F_NUMA_NODE | BPF_F.BPF_F_MMAPABLE | BPF_F_ACCESS_MASK | BPF_F.BPF_F_PRESERVE_ELEMS | BPF_F.BPF_F_INNER_MAP;
const INT_MAX = 0x7fffffff;

/** array_map_alloc_check, shared by every array-shaped map (prog_array, perf_event_array too). */
export function arrayAllocCheck(attr: MapAttr): void {
  const percpu = attr.mapType === BPF_MAP_TYPE.BPF_MAP_TYPE_PERCPU_ARRAY;
  if (
    attr.maxEntries === 0 || attr.keySize !== 4 || attr.valueSize === 0 ||
    (attr.mapFlags & ~ARRAY_CREATE_FLAG_MASK) !== 0 || !mapFlagsAccessOk(attr.mapFlags) ||
    (percpu && attr.numaNode !== undefined && attr.numaNode !== -1)
  ) {
    throw new KernelError('EINVAL', 'invalid array map attributes');
  }
  if (attr.mapType !== BPF_MAP_TYPE.BPF_MAP_TYPE_ARRAY && (attr.mapFlags & (BPF_F.BPF_F_MMAPABLE | BPF_F.BPF_F_INNER_MAP))) {
    throw new KernelError('EINVAL', 'BPF_F_MMAPABLE/BPF_F_INNER_MAP only for BPF_MAP_TYPE_ARRAY');
  }
  if (attr.mapType !== BPF_MAP_TYPE.BPF_MAP_TYPE_PERF_EVENT_ARRAY && attr.mapFlags & BPF_F.BPF_F_PRESERVE_ELEMS) {
    throw new KernelError('EINVAL', 'BPF_F_PRESERVE_ELEMS only for BPF_MAP_TYPE_PERF_EVENT_ARRAY');
  }
  if (attr.valueSize > INT_MAX) throw new KernelError('E2BIG', 'value_size too big');
  if (percpu && roundUp8(attr.valueSize) > PCPU_MIN_UNIT_SIZE) {
    throw new KernelError('E2BIG', `per-CPU value_size ${attr.valueSize} > ${PCPU_MIN_UNIT_SIZE}`);
  }
}

/** array_map_get_next_key: a missing or out-of-range key restarts at 0; the last has none. */
export function arrayNextKey(kernel: Kernel, maxEntries: number, keyOff: number, outOff: number): boolean {
  const index = keyOff < 0 ? maxEntries : readU32(kernel, keyOff);
  if (index >= maxEntries) {
    kernel.mem.dv.setUint32(outOff, 0, true);
    return true;
  }
  if (index === maxEntries - 1) return false;
  kernel.mem.dv.setUint32(outOff, index + 1, true);
  return true;
}

export function allocArray(kernel: Kernel, attr: MapAttr, percpu: boolean): MapImpl {
  const stride = roundUp8(attr.valueSize);
  const copies = percpu ? kernel.ncpus : 1;
  const bytes = attr.maxEntries * stride * copies;
  if (!Number.isSafeInteger(bytes) || bytes > 0xffff_ffff) throw new KernelError('ENOMEM', 'array too large');
  const base = kernel.mem.alloc(bytes, 8);
  const slot = (index: number, cpu: number): number => base + (index * copies + cpu) * stride;
  const indexOf = (keyOff: number): number => readU32(kernel, keyOff);
  const checkedIndex = (keyOff: number, flags: number): number => {
    checkUpdateFlags(flags);
    const index = indexOf(keyOff);
    if (index >= attr.maxEntries) throw new KernelError('E2BIG', `index ${index} >= max_entries ${attr.maxEntries}`);
    if (flags & BPF_NOEXIST) throw new KernelError('EEXIST', 'array elements always exist');
    return index;
  };
  return {
    syscallValueSize: percpu ? stride * copies : attr.valueSize,
    lookup(keyOff, cpu) {
      const index = indexOf(keyOff);
      return index < attr.maxEntries ? slot(index, percpu ? cpu : 0) : -1;
    },
    update(keyOff, valueOff, flags, cpu) {
      const index = checkedIndex(keyOff, flags);
      copyWithin(kernel, slot(index, percpu ? cpu : 0), valueOff, attr.valueSize);
    },
    updateSyscall(keyOff, valueOff, flags) {
      const index = checkedIndex(keyOff, flags);
      // The user's buffer holds every CPU's value, each in a slot rounded up to 8 bytes.
      for (let cpu = 0; cpu < copies; cpu++) copyWithin(kernel, slot(index, cpu), valueOff + cpu * stride, attr.valueSize);
    },
    lookupSyscall(keyOff, outOff) {
      const index = indexOf(keyOff);
      if (index >= attr.maxEntries) throw new KernelError('ENOENT', `index ${index} >= max_entries`);
      if (!percpu) return copyWithin(kernel, outOff, slot(index, 0), attr.valueSize);
      for (let cpu = 0; cpu < copies; cpu++) copyWithin(kernel, outOff + cpu * stride, slot(index, cpu), stride);
    },
    delete() {
      throw new KernelError('EINVAL', 'array elements cannot be deleted');
    },
    getNextKey: (keyOff, outOff) => arrayNextKey(kernel, attr.maxEntries, keyOff, outOff),
    directValue(off) {
      return base + off;
    },
    free() {
      kernel.mem.free(base);
    },
  };
}

export const arrayMapOps = {
  name: 'array',
  allocCheck: arrayAllocCheck,
  alloc: (kernel, attr) => allocArray(kernel, attr, false),
} satisfies MapOps;
