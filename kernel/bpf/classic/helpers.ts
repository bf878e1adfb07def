/**
 * The kernel-internal functions converted classic programs call (Linux's
 * bpf_skb_get_pay_offset, bpf_skb_get_nlattr, bpf_skb_get_nlattr_nest, bpf_get_raw_cpu_id,
 * bpf_user_rnd_u32, plus the device-type read that Linux inlines as a load from skb->dev).
 * They are not UAPI helpers: Linux calls them by address, and here they sit under private
 * ids above every bpf_func_id so no eBPF program can name them. Each is called as
 * (r1 = ctx, r2 = A, r3 = X) and returns the new A.
 */
import { SKB, SK_BUFF_SIZE } from '../skb-layout.js';
import type { FuncProto, RunEnv } from '../types.js';

/** What the net subsystem hands the run as RunEnv.data: the skb's device (null: none). */
export interface ClassicSkbData {
  readonly dev: { readonly ifindex: number; readonly type: number } | null;
}

function isClassicSkbData(v: unknown): v is ClassicSkbData {
  return typeof v === 'object' && v !== null && 'dev' in v;
}

/** Private call ids (imm of BPF_CALL) of the classic-only functions. */
export const CLASSIC_FUNC = {
  skb_get_pay_offset: 0x10000001,
  skb_get_nlattr: 0x10000002,
  skb_get_nlattr_nest: 0x10000003,
  get_raw_cpu_id: 0x10000004,
  user_rnd_u32: 0x10000005,
  skb_dev_type: 0x10000006,
} as const;

const NLA_HDRLEN = 4;
const NLA_TYPE_MASK = 0x3fff; // ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER)

/** nla_find over [at, at+rem) of the packet: offset of the first attribute of `type`, or -1. */
function nlaFind(dv: DataView, at: number, rem: number, type: number): number {
  while (rem >= NLA_HDRLEN) {
    const len = dv.getUint16(at, true);
    if (len < NLA_HDRLEN || len > rem) return -1;
    if ((dv.getUint16(at + 2, true) & NLA_TYPE_MASK) === type) return at;
    const step = (len + 3) & ~3;
    at += step;
    rem -= step;
  }
  return -1;
}

function nlattr(env: RunEnv, a: bigint, x: bigint, nested: boolean): bigint {
  const pkt = env.packet;
  if (!pkt || pkt.len < NLA_HDRLEN) return 0n;
  const off = Number(a & 0xffffffffn);
  if (off > pkt.len - NLA_HDRLEN) return 0n;
  const dv = env.kernel.mem.dv;
  const type = Number(x & 0xffffffffn);
  let found: number;
  if (!nested) {
    found = nlaFind(dv, pkt.data + off, pkt.len - off, type);
  } else {
    const len = dv.getUint16(pkt.data + off, true);
    if (len < NLA_HDRLEN || len > pkt.len - off) return 0n;
    found = nlaFind(dv, pkt.data + off + NLA_HDRLEN, len - NLA_HDRLEN, type);
  }
  return found < 0 ? 0n : BigInt(found - pkt.data);
}

const IPPROTO_L4_HDRLEN: Readonly<Record<number, number>> = {
  17: 8, // UDP
  136: 8, // UDP-Lite
  1: 8, // ICMP
  58: 8, // ICMPv6
  2: 8, // IGMP
  33: 12, // DCCP
  132: 12, // SCTP
};

/**
 * __skb_get_poff: the payload offset from skb->data, from a flow dissection of the
 * network header (IPv4 or IPv6 without extension headers, as the skb's protocol says);
 * 0 when the headers cannot be dissected.
 */
function payOffset(env: RunEnv): bigint {
  const pkt = env.packet;
  if (!pkt) return 0n;
  const mem = env.kernel.mem;
  const dv = mem.dv;
  const ctx = mem.offsetOf(env.ctx, SK_BUFF_SIZE);
  const proto = dv.getUint16(ctx + SKB.protocol, false); // __be16 in the low half
  const end = pkt.data + pkt.len;
  const nh = pkt.net;
  let thoff: number;
  let ipProto: number;
  let laterFragment = false;
  if (proto === 0x0800) {
    if (nh + 20 > end) return 0n;
    const ihl = (dv.getUint8(nh) & 0x0f) * 4;
    if (ihl < 20 || nh + ihl > end) return 0n;
    ipProto = dv.getUint8(nh + 9);
    laterFragment = (dv.getUint16(nh + 6, false) & 0x1fff) !== 0;
    thoff = nh + ihl;
  } else if (proto === 0x86dd) {
    if (nh + 40 > end) return 0n;
    ipProto = dv.getUint8(nh + 6);
    thoff = nh + 40;
  } else {
    return 0n;
  }
  let poff = thoff - pkt.data;
  if (laterFragment) return BigInt(poff);
  if (ipProto === 6) {
    if (thoff + 13 > end) return BigInt(poff);
    poff += Math.max(20, (dv.getUint8(thoff + 12) & 0xf0) >> 2);
  } else {
    poff += IPPROTO_L4_HDRLEN[ipProto] ?? 0;
  }
  return BigInt(poff);
}

function proto(id: number, name: string, call: FuncProto['call']): FuncProto {
  return { id, name, ret: 'INTEGER', args: ['PTR_TO_CTX', 'ANYTHING', 'ANYTHING'], call };
}

export const classicHelpers: ReadonlyMap<number, FuncProto> = new Map(
  [
    proto(CLASSIC_FUNC.skb_get_pay_offset, 'skb_get_pay_offset', (env) => payOffset(env)),
    proto(CLASSIC_FUNC.skb_get_nlattr, 'skb_get_nlattr', (env, _c, a, x) => nlattr(env, a, x, false)),
    proto(CLASSIC_FUNC.skb_get_nlattr_nest, 'skb_get_nlattr_nest', (env, _c, a, x) => nlattr(env, a, x, true)),
    proto(CLASSIC_FUNC.get_raw_cpu_id, 'get_raw_cpu_id', (env) => BigInt(env.cpu)),
    proto(CLASSIC_FUNC.user_rnd_u32, 'user_rnd_u32', (env) => BigInt(env.kernel.random.u32())),
    // dev->type; the converted code has already left when there is no device.
    proto(CLASSIC_FUNC.skb_dev_type, 'skb_dev_type', (env) =>
      BigInt(isClassicSkbData(env.data) && env.data.dev ? env.data.dev.type & 0xffff : 0),
    ),
  ].map((p) => [p.id, p]),
);
