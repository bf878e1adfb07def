/**
 * BPF_MAP_TYPE_PERF_EVENT_ARRAY: the output side of bpf_perf_event_output. In Linux each
 * slot holds a perf event fd (one per CPU, from perf_event_open) whose mmap'ed ring
 * receives PERF_RECORD_SAMPLE records. bpfkern has no perf_event_open: storing any u32
 * in a slot opens a perf buffer there, and userspace reads the raw samples with
 * perfEventRead. A buffer holds at most PERF_BUFFER_BYTES; samples that do not fit are
 * counted as lost, as the kernel's PERF_RECORD_LOST does.
 */
import { KernelError } from '../../errno.js';
import type { Kernel } from '../../kernel.js';
import type { BpfMap, MapAttr, MapImpl, MapOps } from '../types.js';
import { arrayNextKey } from './array.js';
import { readU32 } from './common.js';
import { fdArrayAllocCheck } from './prog_array.js';

export const PERF_BUFFER_BYTES = 256 * 1024;

interface PerfBuffer {
  value: number;
  samples: Uint8Array[];
  bytes: number;
  lost: number;
}

const slotsOf = new WeakMap<MapImpl, (PerfBuffer | null)[]>();

function allocPerfEventArray(kernel: Kernel, attr: MapAttr): MapImpl {
  const slots: (PerfBuffer | null)[] = new Array<PerfBuffer | null>(attr.maxEntries).fill(null);
  const index = (keyOff: number): number => readU32(kernel, keyOff);
  const impl: MapImpl = {
    syscallValueSize: 4,
    lookup() {
      throw new KernelError('EOPNOTSUPP', 'programs cannot look up perf_event_array slots');
    },
    lookupSyscall() {
      throw new KernelError('ENOTSUPP', 'perf_event_array slots cannot be read');
    },
    update() {
      throw new KernelError('ENOTSUPP', 'programs cannot update perf_event_array slots');
    },
    updateSyscall(keyOff, valueOff, flags) {
      if (flags !== 0) throw new KernelError('EINVAL', 'perf_event_array updates take BPF_ANY only');
      const i = index(keyOff);
      if (i >= attr.maxEntries) throw new KernelError('E2BIG', `index ${i} >= max_entries ${attr.maxEntries}`);
      slots[i] = { value: readU32(kernel, valueOff), samples: [], bytes: 0, lost: 0 };
    },
    delete(keyOff) {
      const i = index(keyOff);
      if (i >= attr.maxEntries) throw new KernelError('E2BIG', `index ${i} >= max_entries`);
      if (!slots[i]) throw new KernelError('ENOENT', `slot ${i} is empty`);
      slots[i] = null;
    },
    getNextKey: (keyOff, outOff) => arrayNextKey(kernel, attr.maxEntries, keyOff, outOff),
    free() {
      slots.fill(null);
    },
  };
  slotsOf.set(impl, slots);
  return impl;
}

function slotsOfMap(map: BpfMap): (PerfBuffer | null)[] {
  const slots = slotsOf.get(map.impl);
  if (!slots) throw new KernelError('EINVAL', `map ${map.id} is not a perf_event_array`);
  return slots;
}

/**
 * __bpf_perf_event_output: 0, or -E2BIG (index out of range), -ENOENT (no buffer in the
 * slot). `sample` is copied.
 */
export function perfEventOutput(map: BpfMap, index: number, sample: Uint8Array): number {
  const slots = slotsOfMap(map);
  if (index >= slots.length) return -7; // -E2BIG
  const buf = slots[index];
  if (!buf) return -2; // -ENOENT
  if (buf.bytes + sample.length > PERF_BUFFER_BYTES) {
    buf.lost++;
    return 0;
  }
  buf.samples.push(sample.slice());
  buf.bytes += sample.length;
  return 0;
}

/** The userspace reader: takes every sample from slot `index` (and the lost count). */
export function perfEventRead(map: BpfMap, index: number): { samples: Uint8Array[]; lost: number } {
  const buf = slotsOfMap(map)[index];
  if (!buf) return { samples: [], lost: 0 };
  const out = { samples: buf.samples, lost: buf.lost };
  buf.samples = [];
  buf.bytes = 0;
  buf.lost = 0;
  return out;
}

export const perfEventArrayMapOps = {
  name: 'perf_event_array',
  allocCheck: fdArrayAllocCheck,
  alloc: allocPerfEventArray,
} satisfies MapOps;
