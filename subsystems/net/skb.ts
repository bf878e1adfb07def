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
 * skb->data is where LD_ABS offset 0 points: the network header for test_run's socket
 * filters (the Ethernet header pulled, as eth_type_trans leaves it), the MAC header for tc,
 * and wherever the socket type's view starts for the sockets' filters (filter.ts). Who
 * calls this: test_run (progtypes.ts) and runSkbProg (filter.ts).
 */
import type { Kernel } from '../../kernel/kernel.js';
import { SKB, SKB_CTX_SIZE, SKB_PTR, SK_BUFF_SIZE } from '../../kernel/bpf/skb-layout.js';
import { ETH_HLEN, type VlanInfo } from './frames.js';
import { PACKET_HOST, ethPktType } from './netdev.js';

export { SKB, SKB_FIELDS, SKB_PTR, SK_BUFF_SIZE } from '../../kernel/bpf/skb-layout.js';

/** The address eth_type_trans compares the destination with when no device is named: lo's. */
const LOOPBACK_MAC = { mac: new Uint8Array(6) };

export interface SkbOptions {
  /** Bytes of link-layer header at the start of the frame (14 for Ethernet, 0 for none). */
  macLen: number;
  /**
   * Where skb->data points: 'net' (the default: after the link header), 'mac' (tc) or a
   * byte offset into the frame (a socket's view: the UDP header, the TCP header...).
   */
  dataAt?: 'net' | 'mac' | number;
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
  /** The outer VLAN tag skb_vlan_untag moved to metadata (vlan_present, vlan_tci, vlan_proto). */
  vlan?: VlanInfo;
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

/** Lays out an skb for `frame` in the kernel's address space. */
export function buildSkb(kernel: Kernel, frame: Uint8Array, opts: SkbOptions): Skb {
  const mem = kernel.mem;
  const base = mem.alloc(SKB_CTX_SIZE + frame.length, 8);
  const frameOff = base + SKB_CTX_SIZE;
  mem.write(frameOff, frame);
  const macLen = Math.min(opts.macLen, frame.length);
  const net = frameOff + macLen;
  const at = opts.dataAt ?? 'net';
  const data = at === 'net' ? net : at === 'mac' ? frameOff : frameOff + Math.min(at, frame.length);
  const end = frameOff + frame.length;
  const isEth = macLen === ETH_HLEN;
  const dv = mem.dv;
  dv.setUint32(base + SKB.len, end - data, true);
  dv.setUint32(base + SKB.pkt_type, opts.pkttype ?? (isEth ? ethPktType(LOOPBACK_MAC, frame) : PACKET_HOST), true);
  dv.setUint32(base + SKB.mark, (opts.mark ?? 0) >>> 0, true);
  dv.setUint32(base + SKB.queue_mapping, opts.queueMapping ?? 0, true);
  // skb->protocol is a __be16: the program sees its bytes in network order.
  dv.setUint16(base + SKB.protocol, opts.protocol ?? (isEth ? ethProtocol(frame) : 0), false);
  if (opts.vlan) {
    dv.setUint32(base + SKB.vlan_present, opts.vlan.present ? 1 : 0, true);
    dv.setUint32(base + SKB.vlan_tci, opts.vlan.tci, true);
    dv.setUint16(base + SKB.vlan_proto, opts.vlan.proto, false); // __be16, as protocol
  }
  dv.setUint32(base + SKB.priority, opts.priority ?? 0, true);
  dv.setUint32(base + SKB.ingress_ifindex, opts.ingressIfindex ?? 0, true);
  dv.setUint32(base + SKB.ifindex, opts.ifindex ?? 0, true);
  (opts.cb ?? []).slice(0, 5).forEach((v, i) => dv.setUint32(base + SKB.cb + 4 * i, v >>> 0, true));
  dv.setUint32(base + SKB.hash, (opts.hash ?? 0) >>> 0, true);
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
