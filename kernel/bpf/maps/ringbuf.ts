/**
 * BPF_MAP_TYPE_RINGBUF (ringbuf.c): one multi-producer ring shared by all CPUs. A record
 * is an 8-byte header and the sample, padded to 8:
 *
 *     header: u32 len | BUSY (bit 31, until submitted) | DISCARD (bit 30);  u32 pg_off
 *
 * The producer (bpf_ringbuf_reserve/output) advances producer_pos; the consumer
 * (userspace: ringbufConsume) advances consumer_pos past submitted records and stops at
 * the first busy one. Linux maps the data pages twice so that a record that wraps is
 * still contiguous; we allocate 2 * size bytes instead and, when a submitted record ran
 * past the end, copy the overflow to the start, where readers look for it.
 */
import { KernelError } from '../../errno.js';
import { perKernel, type Kernel } from '../../kernel.js';
import type { BpfMap, MapAttr, MapImpl, MapOps } from '../types.js';
import { BPF_F, roundUp8 } from './common.js';
import { PAGE_SIZE } from '../memory.js';

export const BPF_RINGBUF_BUSY_BIT = 0x8000_0000;
export const BPF_RINGBUF_DISCARD_BIT = 0x4000_0000;
export const BPF_RINGBUF_HDR_SZ = 8;
export const BPF_RB = {
  BPF_RB_NO_WAKEUP: 1,
  BPF_RB_FORCE_WAKEUP: 2,
  BPF_RB_AVAIL_DATA: 0,
  BPF_RB_RING_SIZE: 1,
  BPF_RB_CONS_POS: 2,
  BPF_RB_PROD_POS: 3,
} as const;
const RINGBUF_MAX_RECORD_SZ = Math.floor(0xffff_ffff / 4);
const RINGBUF_CREATE_FLAG_MASK = BPF_F.BPF_F_NUMA_NODE;

interface Ring {
  readonly kernel: Kernel;
  /** Offset of the 2 * size data area. */
  readonly data: number;
  readonly size: number;
  readonly mask: number;
  consumerPos: number;
  producerPos: number;
  readonly wakeups: Set<() => void>;
}

const ringsOf = new WeakMap<MapImpl, Ring>();
/** Data areas by offset, to find the ring of a sample pointer (Linux uses the header's pg_off). */
const areasOf = perKernel((): Set<Ring> => new Set());

function ringbufAllocCheck(attr: MapAttr): void {
  if (attr.mapFlags & ~RINGBUF_CREATE_FLAG_MASK) throw new KernelError('EINVAL', 'invalid ringbuf flags');
  const n = attr.maxEntries;
  if (attr.keySize !== 0 || attr.valueSize !== 0 || n === 0 || (n & (n - 1)) !== 0 || n % PAGE_SIZE !== 0) {
    throw new KernelError('EINVAL', 'ringbuf needs key_size 0, value_size 0, max_entries a power-of-2 multiple of the page size');
  }
}

function allocRingbuf(kernel: Kernel, attr: MapAttr): MapImpl {
  const size = attr.maxEntries;
  const ring: Ring = {
    kernel,
    data: kernel.mem.alloc(2 * size, PAGE_SIZE),
    size,
    mask: size - 1,
    consumerPos: 0,
    producerPos: 0,
    wakeups: new Set(),
  };
  areasOf(kernel).add(ring);
  const unsupported = (): never => {
    throw new KernelError('ENOTSUPP', 'ringbuf has no elements');
  };
  const impl: MapImpl = {
    syscallValueSize: 0,
    lookup: unsupported,
    lookupSyscall: unsupported,
    update: unsupported,
    delete: unsupported,
    getNextKey: unsupported,
    free() {
      areasOf(kernel).delete(ring);
      kernel.mem.free(ring.data);
    },
  };
  ringsOf.set(impl, ring);
  return impl;
}

function ringOf(map: BpfMap): Ring {
  const ring = ringsOf.get(map.impl);
  if (!ring) throw new KernelError('EINVAL', `map ${map.id} is not a ringbuf`);
  return ring;
}

/** __bpf_ringbuf_reserve: the offset of a size-byte sample, or -1 when it does not fit. */
export function ringbufReserve(map: BpfMap, size: number): number {
  const ring = ringOf(map);
  if (size > RINGBUF_MAX_RECORD_SZ) return -1;
  const len = roundUp8(size + BPF_RINGBUF_HDR_SZ);
  if (len > ring.size) return -1;
  const newProd = ring.producerPos + len;
  if (newProd - ring.consumerPos > ring.mask) return -1;
  const hdr = ring.data + (ring.producerPos & ring.mask);
  const dv = ring.kernel.mem.dv;
  dv.setUint32(hdr, (size | BPF_RINGBUF_BUSY_BIT) >>> 0, true);
  dv.setUint32(hdr + 4, Math.floor((hdr - ring.data) / PAGE_SIZE), true);
  ring.producerPos = newProd;
  return hdr + BPF_RINGBUF_HDR_SZ;
}

/** The ring a reserved sample belongs to; EINVAL for any other address. */
function ringOfSample(kernel: Kernel, sample: number): Ring {
  for (const ring of areasOf(kernel)) {
    if (sample >= ring.data + BPF_RINGBUF_HDR_SZ && sample < ring.data + ring.size + BPF_RINGBUF_HDR_SZ) return ring;
  }
  throw new KernelError('EINVAL', 'not a ringbuf sample');
}

/** bpf_ringbuf_commit: clears BUSY (setting DISCARD if asked) and wakes consumers. */
export function ringbufCommit(kernel: Kernel, sample: number, discard: boolean, flags: number): void {
  const ring = ringOfSample(kernel, sample);
  const hdr = sample - BPF_RINGBUF_HDR_SZ;
  const dv = kernel.mem.dv;
  const word = dv.getUint32(hdr, true);
  if (!(word & BPF_RINGBUF_BUSY_BIT)) throw new KernelError('EINVAL', 'ringbuf sample committed twice');
  const len = word & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
  const end = sample + len;
  const limit = ring.data + ring.size;
  if (end > limit) kernel.mem.u8.copyWithin(ring.data, limit, end);
  dv.setUint32(hdr, (len | (discard ? BPF_RINGBUF_DISCARD_BIT : 0)) >>> 0, true);
  if (!(flags & BPF_RB.BPF_RB_NO_WAKEUP)) for (const w of ring.wakeups) w();
}

/** bpf_ringbuf_query. */
export function ringbufQuery(map: BpfMap, flags: number): bigint {
  const ring = ringOf(map);
  switch (flags) {
    case BPF_RB.BPF_RB_AVAIL_DATA:
      return BigInt(ring.producerPos - ring.consumerPos);
    case BPF_RB.BPF_RB_RING_SIZE:
      return BigInt(ring.size);
    case BPF_RB.BPF_RB_CONS_POS:
      return BigInt(ring.consumerPos);
    case BPF_RB.BPF_RB_PROD_POS:
      return BigInt(ring.producerPos);
    default:
      return 0n;
  }
}

/**
 * The userspace side (libbpf's ring_buffer__consume): calls `fn` with each submitted
 * sample in order, skipping discarded ones, and stops at the first busy record or after
 * `max` samples. Returns the number of samples delivered.
 */
export function ringbufConsume(map: BpfMap, fn: (sample: Uint8Array) => void, max = Infinity): number {
  const ring = ringOf(map);
  const mem = ring.kernel.mem;
  let n = 0;
  while (ring.consumerPos < ring.producerPos && n < max) {
    const hdr = ring.data + (ring.consumerPos & ring.mask);
    const word = mem.dv.getUint32(hdr, true);
    if (word & BPF_RINGBUF_BUSY_BIT) break;
    const len = word & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
    if (!(word & BPF_RINGBUF_DISCARD_BIT)) {
      const out = new Uint8Array(len);
      const start = (ring.consumerPos + BPF_RINGBUF_HDR_SZ) & ring.mask;
      const first = Math.min(len, ring.size - start);
      out.set(mem.bytes(ring.data + start, first));
      out.set(mem.bytes(ring.data, len - first), first);
      fn(out);
      n++;
    }
    ring.consumerPos += roundUp8(len + BPF_RINGBUF_HDR_SZ);
  }
  return n;
}

/** Every sample available now. */
export function ringbufDrain(map: BpfMap): Uint8Array[] {
  const out: Uint8Array[] = [];
  ringbufConsume(map, (s) => out.push(s));
  return out;
}

/** Subscribes to submit wake-ups (epoll on the map fd); returns the unsubscribe function. */
export function onRingbufWakeup(map: BpfMap, fn: () => void): () => void {
  const ring = ringOf(map);
  ring.wakeups.add(fn);
  return () => ring.wakeups.delete(fn);
}

export const ringbufMapOps = { name: 'ringbuf', allocCheck: ringbufAllocCheck, alloc: allocRingbuf } satisfies MapOps;
