/**
 * BPF_MAP_TYPE_PERCPU_ARRAY: an array with one value per CPU (storage in array.ts). A
 * program sees its own CPU's value; the syscall reads and writes every CPU's at once,
 * each rounded up to 8 bytes, as Linux's bpf_percpu_array_copy does.
 */
import type { MapOps } from '../types.js';
import { allocArray, arrayAllocCheck } from './array.js';

export const percpuArrayMapOps = {
  name: 'percpu_array',
  allocCheck: arrayAllocCheck,
  alloc: (kernel, attr) => {
    const impl = allocArray(kernel, attr, true);
    // Direct value access (BPF_PSEUDO_MAP_VALUE) is only for plain arrays.
    delete impl.directValue;
    return impl;
  },
} satisfies MapOps;
