/**
 * Socket buffers as BPF programs see them: `struct __sk_buff` (include/uapi/linux/bpf.h,
 * 192 bytes) in the address space, followed by bpfkern's hidden 64-bit pointers and the
 * frame's bytes:
 *
 *     +0    struct __sk_buff (UAPI layout, SKB below)
 *     +192  u64 data, u64 data_end, u64 data_meta   (what __sk_buff.data & co. load,
 *                                                    see CtxField.ptrAt)
 *     +216  frame bytes (link-layer header first)
 *
 * skb->data is where LD_ABS offset 0 points: the network header for socket filters (the
 * Ethernet header pulled, as eth_type_trans leaves it), the MAC header for tc. Who calls
 * this: test_run (progtypes.ts) and the sockets of the net subsystem.
 */
import type { Kernel } from '../../kernel/kernel.js';
import { SKB, SKB_CTX_SIZE, SKB_PTR, SK_BUFF_SIZE } from '../../kernel/bpf/skb-layout.js';

export { SKB, SKB_FIELDS, SKB_PTR, SK_BUFF_SIZE } from '../../kernel/bpf/skb-layout.js';

export const ETH_HLEN = 14;
/** Packet types (include/uapi/linux/if_packet.h). */
export const PACKET = { PACKET_HOST: 0, PACKET_BROADCAST: 1, PACKET_MULTICAST: 2, PACKET_OTHERHOST: 3, PACKET_OUTGOING: 4 } as const;

export interface SkbOptions {
  /** Bytes of link-layer header at the start of the frame (14 for Ethernet, 0 for none). */
  macLen: number;
  /** Where skb->data points: 'net' (socket filters: after the link header) or 'mac' (tc). */
  dataAt?: 'net' | 'mac';
  /** skb->protocol as the EtherType in host order (default: eth_type_trans of the frame, or 0). */
  protocol?: number;
  /** PACKET_* (default: from the destination MAC as eth_type_trans on lo, or PACKET_HOST). */
  pkttype?: number;
  ifindex?: number;
  ingressIfindex?: number;
  mark?: number;
  priority?: number;
  hash?: number;
  queueMapping?: number;
  tstamp?: bigint;
  /** cb[0..4] */
  cb?: readonly number[];
}

export interface Skb {
  /** Offset of struct __sk_buff in the address space, and its BPF address (r1). */
  readonly ctx: number;
  readonly ctxAddr: bigint;
  /** Where the frame's bytes start (the link-layer header). */
  readonly frame: number;
  readonly frameLen: number;
  /** What the engines get as RunEnv.packet. */
  readonly packet: { data: number; len: number; mac: number; net: number };
  /** The frame's current bytes (a program may have changed them). */
  frameBytes(): Uint8Array;
  /** A copy of the __sk_buff as it is now. */
  ctxBytes(): Uint8Array;
  /** Returns the memory to the address space; the Skb must not be used after. */
  free(): void;
}

/** eth_type_trans's protocol: the EtherType, or ETH_P_802_3 / ETH_P_802_2 for length fields. */
export function ethProtocol(frame: Uint8Array): number {
  if (frame.length < ETH_HLEN) return 0;
  const proto = (frame[12]! << 8) | frame[13]!;
  if (proto >= 0x600) return proto;
  if (frame[14] === 0xff && frame[15] === 0xff) return 0x0001; // ETH_P_802_3 (raw IPX)
  return 0x0004; // ETH_P_802_2
}

/** eth_type_trans's pkt_type on a device whose address is `devAddr` (lo: all zero). */
export function ethPktType(frame: Uint8Array, devAddr: readonly number[] = [0, 0, 0, 0, 0, 0]): number {
  if (frame.length < 6) return PACKET.PACKET_HOST;
  const dst = frame.subarray(0, 6);
  if (dst[0]! & 1) return dst.every((b) => b === 0xff) ? PACKET.PACKET_BROADCAST : PACKET.PACKET_MULTICAST;
  return dst.every((b, i) => b === devAddr[i]) ? PACKET.PACKET_HOST : PACKET.PACKET_OTHERHOST;
}

/** Lays out an skb for `frame` in the kernel's address space. */
export function buildSkb(kernel: Kernel, frame: Uint8Array, opts: SkbOptions): Skb {
  const mem = kernel.mem;
  const base = mem.alloc(SKB_CTX_SIZE + frame.length, 8);
  const frameOff = base + SKB_CTX_SIZE;
  mem.write(frameOff, frame);
  const macLen = Math.min(opts.macLen, frame.length);
  const net = frameOff + macLen;
  const data = opts.dataAt === 'mac' ? frameOff : net;
  const end = frameOff + frame.length;
  const isEth = macLen === ETH_HLEN;
  const dv = mem.dv;
  dv.setUint32(base + SKB.len, end - data, true);
  dv.setUint32(base + SKB.pkt_type, opts.pkttype ?? (isEth ? ethPktType(frame) : PACKET.PACKET_HOST), true);
  dv.setUint32(base + SKB.mark, opts.mark ?? 0, true);
  dv.setUint32(base + SKB.queue_mapping, opts.queueMapping ?? 0, true);
  // skb->protocol is a __be16: the program sees its bytes in network order.
  dv.setUint16(base + SKB.protocol, opts.protocol ?? (isEth ? ethProtocol(frame) : 0), false);
  dv.setUint32(base + SKB.priority, opts.priority ?? 0, true);
  dv.setUint32(base + SKB.ingress_ifindex, opts.ingressIfindex ?? 0, true);
  dv.setUint32(base + SKB.ifindex, opts.ifindex ?? 0, true);
  (opts.cb ?? []).slice(0, 5).forEach((v, i) => dv.setUint32(base + SKB.cb + 4 * i, v >>> 0, true));
  dv.setUint32(base + SKB.hash, opts.hash ?? 0, true);
  dv.setUint32(base + SKB.data, data, true);
  dv.setUint32(base + SKB.data_end, end, true);
  dv.setUint32(base + SKB.data_meta, data, true);
  dv.setBigUint64(base + SKB.tstamp, opts.tstamp ?? 0n, true);
  dv.setUint32(base + SKB.wire_len, end - data, true);
  dv.setBigUint64(base + SKB_PTR.data, mem.addr(data), true);
  dv.setBigUint64(base + SKB_PTR.data_end, mem.addr(end), true);
  dv.setBigUint64(base + SKB_PTR.data_meta, mem.addr(data), true);
  let freed = false;
  return {
    ctx: base,
    ctxAddr: mem.addr(base),
    frame: frameOff,
    frameLen: frame.length,
    packet: { data, len: end - data, mac: frameOff, net },
    frameBytes: () => mem.u8.slice(frameOff, end),
    ctxBytes: () => mem.u8.slice(base, base + SK_BUFF_SIZE),
    free() {
      if (freed) return;
      freed = true;
      mem.free(base);
    },
  };
}
