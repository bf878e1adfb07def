/**
 * BPF_MAP_TYPE_LRU_HASH and BPF_MAP_TYPE_LRU_PERCPU_HASH: hash tables (hash.ts) that
 * evict the least recently used element instead of failing with E2BIG when full. Linux's
 * LRU is approximate (per-CPU free lists, a shared active/inactive list); ours is exact.
 */
import type { MapOps } from '../types.js';
import { allocHash, hashAllocCheck } from './hash.js';

export const lruHashMapOps = { name: 'lru_hash', allocCheck: hashAllocCheck, alloc: allocHash } satisfies MapOps;
export const lruPercpuHashMapOps = {
  name: 'lru_percpu_hash',
  allocCheck: hashAllocCheck,
  alloc: allocHash,
} satisfies MapOps;
