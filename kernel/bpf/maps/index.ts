/**
 * The map type registry (Linux's bpf_types.h): one line per type. Adding a map type is
 * one file in this folder plus one line here.
 */
import { BPF_MAP_TYPE } from '../isa.js';
import type { MapOps } from '../types.js';
import { arrayMapOps } from './array.js';
import { hashMapOps, percpuHashMapOps } from './hash.js';
import { lruHashMapOps, lruPercpuHashMapOps } from './lru_hash.js';
import { percpuArrayMapOps } from './percpu_array.js';
import { perfEventArrayMapOps } from './perf_event_array.js';
import { progArrayMapOps } from './prog_array.js';
import { ringbufMapOps } from './ringbuf.js';

const T = BPF_MAP_TYPE;

export const MAP_TYPES: ReadonlyMap<number, MapOps> = new Map<number, MapOps>([
  [T.BPF_MAP_TYPE_HASH, hashMapOps],
  [T.BPF_MAP_TYPE_ARRAY, arrayMapOps],
  [T.BPF_MAP_TYPE_PROG_ARRAY, progArrayMapOps],
  [T.BPF_MAP_TYPE_PERF_EVENT_ARRAY, perfEventArrayMapOps],
  [T.BPF_MAP_TYPE_PERCPU_HASH, percpuHashMapOps],
  [T.BPF_MAP_TYPE_PERCPU_ARRAY, percpuArrayMapOps],
  [T.BPF_MAP_TYPE_LRU_HASH, lruHashMapOps],
  [T.BPF_MAP_TYPE_LRU_PERCPU_HASH, lruPercpuHashMapOps],
  [T.BPF_MAP_TYPE_RINGBUF, ringbufMapOps],
]);

export function mapOpsByType(type: number): MapOps | undefined {
  return MAP_TYPES.get(type);
}

/** bpftool's name of a map type (`unknown` for types without an implementation). */
export function mapTypeName(type: number): string {
  return MAP_TYPES.get(type)?.name ?? `type ${type}`;
}
