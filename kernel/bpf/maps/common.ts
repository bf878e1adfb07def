/**
 * What the map types share: the map_flags bits (include/uapi/linux/bpf.h), the generic
 * attribute checks of map_create/bpf_map_flags_access_ok, and small accessors over the
 * address space. Each map type's own rules live in its file.
 */
import { KernelError } from '../../errno.js';
import type { Kernel } from '../../kernel.js';
import { BPF_EXIST, BPF_F_LOCK } from '../isa.js';

export const BPF_F = {
  BPF_F_NO_PREALLOC: 1 << 0,
  BPF_F_NO_COMMON_LRU: 1 << 1,
  BPF_F_NUMA_NODE: 1 << 2,
  BPF_F_RDONLY: 1 << 3,
  BPF_F_WRONLY: 1 << 4,
  BPF_F_STACK_BUILD_ID: 1 << 5,
  BPF_F_ZERO_SEED: 1 << 6,
  BPF_F_RDONLY_PROG: 1 << 7,
  BPF_F_WRONLY_PROG: 1 << 8,
  BPF_F_CLONE: 1 << 9,
  BPF_F_MMAPABLE: 1 << 10,
  BPF_F_PRESERVE_ELEMS: 1 << 11,
  BPF_F_INNER_MAP: 1 << 12,
} as const;

export const BPF_F_ACCESS_MASK =
  BPF_F.BPF_F_RDONLY | BPF_F.BPF_F_RDONLY_PROG | BPF_F.BPF_F_WRONLY | BPF_F.BPF_F_WRONLY_PROG;

/** PCPU_MIN_UNIT_SIZE: the largest per-CPU value Linux can allocate. */
export const PCPU_MIN_UNIT_SIZE = 32768;
/** KMALLOC_MAX_SIZE on x86_64 (order-10 pages). */
export const KMALLOC_MAX_SIZE = 1 << 22;

/** bpf_map_flags_access_ok: read-only and write-only exclude each other, per side. */
export function mapFlagsAccessOk(flags: number): boolean {
  const both = (a: number, b: number): boolean => (flags & a) !== 0 && (flags & b) !== 0;
  return !both(BPF_F.BPF_F_RDONLY, BPF_F.BPF_F_WRONLY) && !both(BPF_F.BPF_F_RDONLY_PROG, BPF_F.BPF_F_WRONLY_PROG);
}

export function roundUp8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

/** Update flags beyond BPF_EXIST (BPF_F_LOCK aside) are EINVAL in every map type. */
export function checkUpdateFlags(flags: number): void {
  if ((flags & ~BPF_F_LOCK) > BPF_EXIST || flags < 0) throw new KernelError('EINVAL', `bad update flags ${flags}`);
}

export function readU32(kernel: Kernel, off: number): number {
  return kernel.mem.dv.getUint32(off, true);
}

/** The key's bytes as a string usable as a JS Map key (latin1: one char per byte). */
export function keyString(kernel: Kernel, off: number, len: number): string {
  return Buffer.from(kernel.mem.memory.buffer, off, len).toString('latin1');
}

export function copyWithin(kernel: Kernel, dst: number, src: number, len: number): void {
  kernel.mem.u8.copyWithin(dst, src, src + len);
}
