/**
 * BPF_MAP_TYPE_HASH and BPF_MAP_TYPE_PERCPU_HASH (hashtab.c); the LRU variants
 * (lru_hash.ts) share this table. Each element is one allocation in the address space:
 *
 *     [ key, rounded up to 8 ][ value (per-CPU: one slot of round_up(value_size, 8) per CPU) ]
 *
 * so a value pointer handed to a program stays valid until the element is deleted.
 * Elements are indexed by their key bytes in a JS Map, whose insertion order is the
 * get_next_key order (Linux walks its buckets instead; the order is unspecified there).
 * An LRU table moves an element to the end on every program lookup and update and, when
 * full, evicts from the front.
 */
import { KernelError } from '../../errno.js';
import type { Kernel } from '../../kernel.js';
import { BPF_EXIST, BPF_F_LOCK, BPF_MAP_TYPE, BPF_NOEXIST } from '../isa.js';
import type { MapAttr, MapImpl, MapOps } from '../types.js';
import {
  BPF_F, BPF_F_ACCESS_MASK, KMALLOC_MAX_SIZE, PCPU_MIN_UNIT_SIZE, checkUpdateFlags, copyWithin, keyString,
  mapFlagsAccessOk, roundUp8,
} from './common.js';

const HTAB_CREATE_FLAG_MASK =
  BPF_F.BPF_F_NO_PREALLOC | BPF_F.BPF_F_NO_COMMON_LRU | BPF_F.BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK | BPF_F.BPF_F_ZERO_SEED;
/** sizeof(struct htab_elem) on x86_64: part of Linux's E2BIG bound (host-verified: 4 + 4194252 is E2BIG). */
const HTAB_ELEM_SIZE = 48;

const isLru = (t: number): boolean =>
  t === BPF_MAP_TYPE.BPF_MAP_TYPE_LRU_HASH || t === BPF_MAP_TYPE.BPF_MAP_TYPE_LRU_PERCPU_HASH;
const isPercpu = (t: number): boolean =>
  t === BPF_MAP_TYPE.BPF_MAP_TYPE_PERCPU_HASH || t === BPF_MAP_TYPE.BPF_MAP_TYPE_LRU_PERCPU_HASH;

/** htab_map_alloc_check, in Linux's order (the privilege checks are the syscall's). */
export function hashAllocCheck(attr: MapAttr): void {
  const lru = isLru(attr.mapType);
  const percpu = isPercpu(attr.mapType);
  const percpuLru = (attr.mapFlags & BPF_F.BPF_F_NO_COMMON_LRU) !== 0;
  const prealloc = (attr.mapFlags & BPF_F.BPF_F_NO_PREALLOC) === 0;
  const numa = attr.numaNode !== undefined && attr.numaNode !== -1;
  if ((attr.mapFlags & ~HTAB_CREATE_FLAG_MASK) !== 0 || !mapFlagsAccessOk(attr.mapFlags)) {
    throw new KernelError('EINVAL', `invalid hash map flags 0x${attr.mapFlags.toString(16)}`);
  }
  if (!lru && percpuLru) throw new KernelError('EINVAL', 'BPF_F_NO_COMMON_LRU without LRU');
  if (lru && !prealloc) throw new KernelError('ENOTSUPP', 'LRU maps must be preallocated');
  if (numa && (percpu || percpuLru)) throw new KernelError('EINVAL', 'NUMA node for a per-CPU map');
  if (attr.maxEntries === 0 || attr.keySize === 0 || attr.valueSize === 0) {
    throw new KernelError('EINVAL', 'hash map needs key_size, value_size and max_entries');
  }
  if (attr.keySize + attr.valueSize >= KMALLOC_MAX_SIZE - HTAB_ELEM_SIZE) {
    throw new KernelError('E2BIG', 'key_size + value_size too big');
  }
  if (percpu && roundUp8(attr.valueSize) > PCPU_MIN_UNIT_SIZE) {
    throw new KernelError('E2BIG', `per-CPU value_size ${attr.valueSize} > ${PCPU_MIN_UNIT_SIZE}`);
  }
}

export function allocHash(kernel: Kernel, attr: MapAttr): MapImpl {
  const lru = isLru(attr.mapType);
  const percpu = isPercpu(attr.mapType);
  const keyStride = roundUp8(attr.keySize);
  const stride = roundUp8(attr.valueSize);
  const copies = percpu ? kernel.ncpus : 1;
  const elemSize = keyStride + stride * copies;
  /** key bytes -> element offset, in get_next_key (and, for LRU, recency) order. */
  const elems = new Map<string, number>();
  const mem = kernel.mem;
  const valueOf = (elem: number, cpu: number): number => elem + keyStride + cpu * stride;

  const touch = (key: string, elem: number): void => {
    elems.delete(key);
    elems.set(key, elem);
  };
  const remove = (key: string, elem: number): void => {
    elems.delete(key);
    mem.free(elem);
  };

  /**
   * Finds or makes the element for an update, applying Linux's flag and capacity rules;
   * the caller copies the value in.
   */
  const prepare = (keyOff: number, flags: number): { elem: number; fresh: boolean } => {
    checkUpdateFlags(flags);
    if (flags & BPF_F_LOCK) throw new KernelError('EINVAL', 'BPF_F_LOCK on a map without bpf_spin_lock');
    const key = keyString(kernel, keyOff, attr.keySize);
    const old = elems.get(key);
    const mode = flags & ~BPF_F_LOCK;
    if (old !== undefined && mode === BPF_NOEXIST) throw new KernelError('EEXIST', 'key exists');
    if (old === undefined && mode === BPF_EXIST) throw new KernelError('ENOENT', 'key does not exist');
    if (old !== undefined) {
      if (lru) touch(key, old);
      return { elem: old, fresh: false };
    }
    if (elems.size >= attr.maxEntries) {
      if (!lru) throw new KernelError('E2BIG', `hash map full (${attr.maxEntries} entries)`);
      const [victimKey, victim] = elems.entries().next().value as [string, number];
      remove(victimKey, victim);
    }
    const elem = mem.alloc(elemSize, 8);
    copyWithin(kernel, elem, keyOff, attr.keySize);
    elems.set(key, elem);
    return { elem, fresh: true };
  };

  return {
    syscallValueSize: percpu ? stride * copies : attr.valueSize,
    lookup(keyOff, cpu) {
      const key = keyString(kernel, keyOff, attr.keySize);
      const elem = elems.get(key);
      if (elem === undefined) return -1;
      if (lru) touch(key, elem);
      return valueOf(elem, percpu ? cpu : 0);
    },
    lookupSyscall(keyOff, outOff) {
      // Like htab_lru_map_lookup_elem_sys: a syscall lookup does not count as a use.
      const elem = elems.get(keyString(kernel, keyOff, attr.keySize));
      if (elem === undefined) throw new KernelError('ENOENT', 'no such key');
      if (!percpu) return copyWithin(kernel, outOff, valueOf(elem, 0), attr.valueSize);
      for (let cpu = 0; cpu < copies; cpu++) copyWithin(kernel, outOff + cpu * stride, valueOf(elem, cpu), stride);
    },
    update(keyOff, valueOff, flags, cpu) {
      // The value may live in the element LRU is about to evict: take a copy first.
      const value = mem.u8.slice(valueOff, valueOff + attr.valueSize);
      const { elem, fresh } = prepare(keyOff, flags);
      // A program's update of a new per-CPU element zeroes the other CPUs' values (pcpu_init_value).
      if (fresh && percpu) mem.u8.fill(0, valueOf(elem, 0), valueOf(elem, copies));
      mem.u8.set(value, valueOf(elem, percpu ? cpu : 0));
    },
    updateSyscall(keyOff, valueOff, flags) {
      const value = mem.u8.slice(valueOff, valueOff + stride * copies);
      const { elem } = prepare(keyOff, flags);
      for (let cpu = 0; cpu < copies; cpu++) {
        mem.u8.set(value.subarray(cpu * stride, cpu * stride + attr.valueSize), valueOf(elem, cpu));
      }
    },
    delete(keyOff) {
      const key = keyString(kernel, keyOff, attr.keySize);
      const elem = elems.get(key);
      if (elem === undefined) throw new KernelError('ENOENT', 'no such key');
      remove(key, elem);
    },
    getNextKey(keyOff, outOff) {
      // htab_map_get_next_key: an absent key (or none) restarts at the first element.
      const keys = elems.keys();
      let next = keys.next();
      if (keyOff >= 0) {
        const key = keyString(kernel, keyOff, attr.keySize);
        if (elems.has(key)) {
          while (!next.done && next.value !== key) next = keys.next();
          next = keys.next();
        }
      }
      if (next.done) return false;
      copyWithin(kernel, outOff, elems.get(next.value)!, attr.keySize);
      return true;
    },
    free() {
      for (const elem of elems.values()) mem.free(elem);
      elems.clear();
    },
  };
}

export const hashMapOps = { name: 'hash', allocCheck: hashAllocCheck, alloc: allocHash } satisfies MapOps;
export const percpuHashMapOps = { name: 'percpu_hash', allocCheck: hashAllocCheck, alloc: allocHash } satisfies MapOps;
