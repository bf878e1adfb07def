/**
 * Classic BPF (cBPF) as Linux encodes it (include/uapi/linux/filter.h, linux/bpf_common.h).
 * One instruction is struct sock_filter, 8 bytes:
 *
 *   byte  0..1          2      3      4..7
 *        +-------------+------+------+-------------+
 *        |  code (u16) |  jt  |  jf  |   k (u32)   |
 *        +-------------+------+------+-------------+
 *
 * Two registers (A, X), sixteen 32-bit scratch words M[0..15], an implicit packet. The
 * class/size/mode/op bit fields are shared with eBPF (kernel/bpf/isa.ts); what is classic
 * only lives here: BPF_MISC (class 7, which eBPF reuses for ALU64), BPF_RET, the A/X
 * sources of RET and MISC, and the ancillary ("SKF_AD_*") offsets of LD_ABS.
 */
import { BPF_MAXINSNS } from '../isa.js';

export { BPF_MAXINSNS };

export interface SockFilter {
  /** u16 opcode (only the low byte is ever used). */
  code: number;
  /** u8 jump offset taken when the condition holds. */
  jt: number;
  /** u8 jump offset taken when it does not. */
  jf: number;
  /** u32 constant, always kept unsigned here. */
  k: number;
}

export function sf(code: number, jt: number, jf: number, k: number): SockFilter {
  return { code: code & 0xffff, jt: jt & 0xff, jf: jf & 0xff, k: k >>> 0 };
}

export const BPF_RET = 0x06;
export const BPF_MISC = 0x07;

/** RET and MISC operand: BPF_K (constant), BPF_X, BPF_A (the accumulator). */
export const BPF_A = 0x10;

/** MISC operations. */
export const BPF_TAX = 0x00;
export const BPF_TXA = 0x80;

/** Scratch memory words (BPF_MEMWORDS). */
export const BPF_MEMWORDS = 16;

/** Ancillary data: LD_ABS at SKF_AD_OFF + n loads skb metadata instead of packet bytes. */
export const SKF_AD_OFF = -0x1000;
export const SKF_AD = {
  SKF_AD_PROTOCOL: 0,
  SKF_AD_PKTTYPE: 4,
  SKF_AD_IFINDEX: 8,
  SKF_AD_NLATTR: 12,
  SKF_AD_NLATTR_NEST: 16,
  SKF_AD_MARK: 20,
  SKF_AD_QUEUE: 24,
  SKF_AD_HATYPE: 28,
  SKF_AD_RXHASH: 32,
  SKF_AD_CPU: 36,
  SKF_AD_ALU_XOR_X: 40,
  SKF_AD_VLAN_TAG: 44,
  SKF_AD_VLAN_TAG_PRESENT: 48,
  SKF_AD_PAY_OFFSET: 52,
  SKF_AD_RANDOM: 56,
  SKF_AD_VLAN_TPID: 60,
} as const;
export const SKF_AD_MAX = 64;
/** Negative LD_ABS/LD_IND offsets relative to the network and link-layer headers. */
export const SKF_NET_OFF = -0x100000;
export const SKF_LL_OFF = -0x200000;

/**
 * Ancillary names as tcpdump -d and bpf_asm spell them (`ld #proto`, `ld #vlan_avail`...),
 * keyed by SKF_AD_* value. tcpdump prints `ld #0x...` only for unknown ones; bpf_asm
 * reads these names. One table serves printer and parser.
 */
export const ANCILLARY_NAMES: Readonly<Record<number, string>> = {
  [SKF_AD.SKF_AD_PROTOCOL]: 'proto',
  [SKF_AD.SKF_AD_PKTTYPE]: 'type',
  [SKF_AD.SKF_AD_IFINDEX]: 'ifidx',
  [SKF_AD.SKF_AD_NLATTR]: 'nla',
  [SKF_AD.SKF_AD_NLATTR_NEST]: 'nlan',
  [SKF_AD.SKF_AD_MARK]: 'mark',
  [SKF_AD.SKF_AD_QUEUE]: 'queue',
  [SKF_AD.SKF_AD_HATYPE]: 'hatype',
  [SKF_AD.SKF_AD_RXHASH]: 'rxhash',
  [SKF_AD.SKF_AD_CPU]: 'cpu',
  [SKF_AD.SKF_AD_VLAN_TAG]: 'vlan_tci',
  [SKF_AD.SKF_AD_VLAN_TAG_PRESENT]: 'vlan_avail',
  [SKF_AD.SKF_AD_PAY_OFFSET]: 'poff',
  [SKF_AD.SKF_AD_RANDOM]: 'rand',
  [SKF_AD.SKF_AD_VLAN_TPID]: 'vlan_tpid',
};

/** The k of an ancillary load, as the u32 it is in struct sock_filter. */
export function ancillaryK(ad: number): number {
  return (SKF_AD_OFF + ad) >>> 0;
}

/** The SKF_AD_* number of a k, or null when k is not in the ancillary window. */
export function ancillaryOf(k: number): number | null {
  const off = (k | 0) - SKF_AD_OFF;
  return (k | 0) >= SKF_AD_OFF && off < SKF_AD_MAX ? off : null;
}

/** Bytes of a struct sock_filter and of struct sock_fprog {u16 len; pad; sock_filter *filter}. */
export const SOCK_FILTER_SIZE = 8;
export const SOCK_FPROG_SIZE = 16;

export function encodeSockFilters(prog: readonly SockFilter[]): Uint8Array {
  const out = new Uint8Array(prog.length * SOCK_FILTER_SIZE);
  const dv = new DataView(out.buffer);
  prog.forEach((f, i) => {
    dv.setUint16(i * 8, f.code, true);
    dv.setUint8(i * 8 + 2, f.jt);
    dv.setUint8(i * 8 + 3, f.jf);
    dv.setUint32(i * 8 + 4, f.k >>> 0, true);
  });
  return out;
}

export function decodeSockFilters(bytes: Uint8Array): SockFilter[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: SockFilter[] = [];
  for (let p = 0; p + SOCK_FILTER_SIZE <= bytes.length; p += SOCK_FILTER_SIZE) {
    out.push({ code: dv.getUint16(p, true), jt: dv.getUint8(p + 2), jf: dv.getUint8(p + 3), k: dv.getUint32(p + 4, true) });
  }
  return out;
}
