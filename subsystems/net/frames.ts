/**
 * Building and taking apart the frames the stack moves: Ethernet II with an optional outer
 * 802.1Q/802.1ad tag, IPv4/IPv6, UDP. Only what sockets need; checksums are left 0
 * (loopback traffic is CHECKSUM_PARTIAL in Linux too).
 */
export const ETH_HLEN = 14;
export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;
export const ETH_P_8021Q = 0x8100;
export const ETH_P_8021AD = 0x88a8;
export const ETH_P_ALL = 0x0003;
export const IPPROTO_UDP = 17;
export const IPPROTO_TCP = 6;
export const UDP_HLEN = 8;

export interface VlanInfo {
  present: boolean;
  tci: number;
  /** TPID in host order (0x8100 or 0x88a8). */
  proto: number;
}

/**
 * skb_vlan_untag(): moves an outer VLAN tag into metadata. Returns the untagged frame, or
 * null when a tagged frame is too short to hold the tag and the next ethertype (Linux
 * frees it: the host drops tagged frames under 20 bytes).
 */
export function vlanUntag(frame: Uint8Array): { frame: Uint8Array; vlan: VlanInfo } | null {
  const none = { present: false, tci: 0, proto: 0 };
  if (frame.length < ETH_HLEN) return { frame, vlan: none };
  const tpid = (frame[12]! << 8) | frame[13]!;
  if (tpid !== ETH_P_8021Q && tpid !== ETH_P_8021AD) return { frame, vlan: none };
  if (frame.length < ETH_HLEN + 6) return null;
  const tci = (frame[14]! << 8) | frame[15]!;
  const out = new Uint8Array(frame.length - 4);
  out.set(frame.subarray(0, 12), 0);
  out.set(frame.subarray(16), 12);
  return { frame: out, vlan: { present: true, tci, proto: tpid } };
}

export function ethertype(frame: Uint8Array): number {
  return frame.length >= ETH_HLEN ? (frame[12]! << 8) | frame[13]! : 0;
}

export function ipv4Bytes(addr: string): Uint8Array {
  const parts = addr.split('.').map(Number);
  return Uint8Array.from(parts.length === 4 ? parts : [0, 0, 0, 0]);
}

export function ipv4String(b: Uint8Array): string {
  return Array.from(b.subarray(0, 4)).join('.');
}

/** Ethernet + IPv4 + UDP around a payload (the frame loopback carries for a UDP send). */
export function udp4Frame(src: { addr: string; port: number }, dst: { addr: string; port: number }, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(ETH_HLEN + 20 + UDP_HLEN + payload.length);
  const dv = new DataView(f.buffer);
  dv.setUint16(12, ETH_P_IP);
  const ip = ETH_HLEN;
  f[ip] = 0x45;
  dv.setUint16(ip + 2, 20 + UDP_HLEN + payload.length);
  dv.setUint16(ip + 6, 0x4000); // DF
  f[ip + 8] = 64;
  f[ip + 9] = IPPROTO_UDP;
  f.set(ipv4Bytes(src.addr), ip + 12);
  f.set(ipv4Bytes(dst.addr), ip + 16);
  const u = ip + 20;
  dv.setUint16(u, src.port);
  dv.setUint16(u + 2, dst.port);
  dv.setUint16(u + 4, UDP_HLEN + payload.length);
  f.set(payload, u + UDP_HLEN);
  return f;
}

/** Ethernet + IPv6 + UDP (addresses as 16 bytes; '::1' and '::' are understood). */
export function udp6Frame(src: { addr: string; port: number }, dst: { addr: string; port: number }, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(ETH_HLEN + 40 + UDP_HLEN + payload.length);
  const dv = new DataView(f.buffer);
  dv.setUint16(12, ETH_P_IPV6);
  const ip = ETH_HLEN;
  f[ip] = 0x60;
  dv.setUint16(ip + 4, UDP_HLEN + payload.length);
  f[ip + 6] = IPPROTO_UDP;
  f[ip + 7] = 64;
  f.set(ipv6Bytes(src.addr), ip + 8);
  f.set(ipv6Bytes(dst.addr), ip + 24);
  const u = ip + 40;
  dv.setUint16(u, src.port);
  dv.setUint16(u + 2, dst.port);
  dv.setUint16(u + 4, UDP_HLEN + payload.length);
  f.set(payload, u + UDP_HLEN);
  return f;
}

export function ipv6Bytes(addr: string): Uint8Array {
  const out = new Uint8Array(16);
  if (addr === '::1') out[15] = 1;
  return out;
}
