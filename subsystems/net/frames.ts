/**
 * Building and taking apart the frames the stack moves: Ethernet II with an optional outer
 * 802.1Q/802.1ad tag, IPv4/IPv6, UDP, TCP. Only what sockets need. IPv4 headers and TCP
 * segments carry real checksums, which the receive path does not check; UDP checksums are
 * left 0 (loopback traffic is CHECKSUM_PARTIAL in Linux too).
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
  readonly present: boolean;
  readonly tci: number;
  /** TPID in host order (0x8100 or 0x88a8). */
  readonly proto: number;
}

/** An untagged frame's VLAN metadata. */
export const NO_VLAN: VlanInfo = { present: false, tci: 0, proto: 0 };

/**
 * skb_vlan_untag(): moves an outer VLAN tag into metadata. Returns the untagged frame, or
 * null when a tagged frame is too short to hold the tag and the next ethertype (Linux
 * frees it: the host drops tagged frames under 20 bytes).
 */
export function vlanUntag(frame: Uint8Array): { frame: Uint8Array; vlan: VlanInfo } | null {
  if (frame.length < ETH_HLEN) return { frame, vlan: NO_VLAN };
  const tpid = (frame[12]! << 8) | frame[13]!;
  if (tpid !== ETH_P_8021Q && tpid !== ETH_P_8021AD) return { frame, vlan: NO_VLAN };
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

/** 6 bytes as a MAC address's text (lower-case hex pairs joined by colons, as ip link and tcpdump -e print it). */
export function macString(b: Uint8Array): string {
  return Array.from(b.subarray(0, 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}

/** The one's-complement sum of bytes (as 16-bit big-endian words) added to `sum`. */
function csumAdd(sum: number, b: Uint8Array): number {
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (b.length & 1) sum += b[b.length - 1]! << 8;
  return sum;
}

function csumFold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/**
 * Ethernet + an IPv4 header (DF, TTL 64, header checksum) or an IPv6 one (hop limit 64)
 * around a transport segment. The MACs are zero, as lo's are (ipXmit sets eth0's).
 */
function ipFrame(v6: boolean, src: string, dst: string, protocol: number, segment: Uint8Array): Uint8Array {
  const ipLen = v6 ? 40 : 20;
  const f = new Uint8Array(ETH_HLEN + ipLen + segment.length);
  const dv = new DataView(f.buffer);
  const ip = ETH_HLEN;
  if (v6) {
    dv.setUint16(12, ETH_P_IPV6);
    f[ip] = 0x60;
    dv.setUint16(ip + 4, segment.length);
    f[ip + 6] = protocol;
    f[ip + 7] = 64;
    f.set(ipv6Bytes(src), ip + 8);
    f.set(ipv6Bytes(dst), ip + 24);
  } else {
    dv.setUint16(12, ETH_P_IP);
    f[ip] = 0x45;
    dv.setUint16(ip + 2, ipLen + segment.length);
    dv.setUint16(ip + 6, 0x4000); // DF
    f[ip + 8] = 64;
    f[ip + 9] = protocol;
    f.set(ipv4Bytes(src), ip + 12);
    f.set(ipv4Bytes(dst), ip + 16);
    dv.setUint16(ip + 10, csumFold(csumAdd(0, f.subarray(ip, ip + ipLen))));
  }
  f.set(segment, ip + ipLen);
  return f;
}

/** The sum of the transport checksum's pseudo-header (RFC 793 for IPv4, RFC 8200 8.1) of an ipFrame. */
function pseudoHeaderSum(f: Uint8Array, v6: boolean, protocol: number, segmentLen: number): number {
  const addrs = v6 ? f.subarray(ETH_HLEN + 8, ETH_HLEN + 40) : f.subarray(ETH_HLEN + 12, ETH_HLEN + 20);
  return csumAdd(0, addrs) + protocol + segmentLen;
}

function udpFrame(v6: boolean, src: { addr: string; port: number }, dst: { addr: string; port: number }, payload: Uint8Array): Uint8Array {
  const u = new Uint8Array(UDP_HLEN + payload.length);
  const dv = new DataView(u.buffer);
  dv.setUint16(0, src.port);
  dv.setUint16(2, dst.port);
  dv.setUint16(4, u.length);
  u.set(payload, UDP_HLEN);
  return ipFrame(v6, src.addr, dst.addr, IPPROTO_UDP, u);
}

/** Ethernet + IPv4 + UDP around a payload (the frame loopback carries for a UDP send). */
export function udp4Frame(src: { addr: string; port: number }, dst: { addr: string; port: number }, payload: Uint8Array): Uint8Array {
  return udpFrame(false, src, dst, payload);
}

/** Ethernet + IPv6 + UDP. */
export function udp6Frame(src: { addr: string; port: number }, dst: { addr: string; port: number }, payload: Uint8Array): Uint8Array {
  return udpFrame(true, src, dst, payload);
}

/**
 * An IPv6 address in text (RFC 4291: eight groups, one `::`, an embedded dotted quad at
 * the end) as 16 bytes; all zero when the text is not an address.
 */
export function ipv6Bytes(addr: string): Uint8Array {
  const out = new Uint8Array(16);
  const parsed = parseIpv6(addr);
  if (parsed) out.set(parsed);
  return out;
}

function parseIpv6(text: string): Uint8Array | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = p.split('.').map(Number);
        if (v4.length !== 4 || v4.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) return null;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return null;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return null;
  const all = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail];
  const b = new Uint8Array(16);
  all.forEach((g, i) => {
    b[2 * i] = g >> 8;
    b[2 * i + 1] = g & 0xff;
  });
  return b;
}

/** True when the text is an IPv6 address parseIpv6 understands. */
export function isIpv6(addr: string): boolean {
  return parseIpv6(addr) !== null;
}

/** 16 bytes as RFC 5952 text (inet_ntop's form: lower case, the longest zero run as `::`). */
export function ipv6String(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  // ::ffff:a.b.c.d (IPv4-mapped) keeps the dotted tail, as inet_ntop prints it.
  if (best === 0 && bestLen === 5 && g[5] === 0xffff) return `::ffff:${ipv4String(b.subarray(12))}`;
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** The canonical text of an address of either family (so '0:0::1' and '::1' compare equal). */
export function canonicalAddr(family: 'ip' | 'ip6', addr: string): string {
  return family === 'ip' ? ipv4String(ipv4Bytes(addr)) : ipv6String(ipv6Bytes(addr));
}

// ---------------------------------------------------------------------------------------
// TCP

export const TCP_HLEN = 20;
/** TCP header flag bits (byte 13). */
export const TCP_FLAG = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20 } as const;

export interface TcpSegment {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  /** MSS option (SYN and SYN-ACK only), 0 for none. */
  mss: number;
  payload: Uint8Array;
}

function tcpHeader(seg: TcpSegment): Uint8Array {
  const optLen = seg.mss ? 4 : 0;
  const t = new Uint8Array(TCP_HLEN + optLen + seg.payload.length);
  const dv = new DataView(t.buffer);
  dv.setUint16(0, seg.sport);
  dv.setUint16(2, seg.dport);
  dv.setUint32(4, seg.seq >>> 0);
  dv.setUint32(8, seg.ack >>> 0);
  t[12] = ((TCP_HLEN + optLen) / 4) << 4;
  t[13] = seg.flags;
  dv.setUint16(14, seg.window);
  if (seg.mss) {
    t[20] = 2; // TCPOPT_MSS
    t[21] = 4;
    dv.setUint16(22, seg.mss);
  }
  t.set(seg.payload, TCP_HLEN + optLen);
  return t;
}

/** Ethernet + IPv4 or IPv6 + TCP, with the TCP checksum filled in (so a capture reads clean in Wireshark). */
export function tcpFrame(family: 'ip' | 'ip6', src: string, dst: string, seg: TcpSegment): Uint8Array {
  const tcp = tcpHeader(seg);
  const v6 = family === 'ip6';
  const f = ipFrame(v6, src, dst, IPPROTO_TCP, tcp);
  const l4 = f.length - tcp.length;
  new DataView(f.buffer).setUint16(l4 + 16, csumFold(csumAdd(pseudoHeaderSum(f, v6, IPPROTO_TCP, tcp.length), tcp)));
  return f;
}

/** The TCP header at `l4` of a frame whose segment ends at `end`; null when too short. */
export function parseTcp(frame: Uint8Array, l4: number, end: number): (TcpSegment & { doff: number }) | null {
  if (end - l4 < TCP_HLEN) return null;
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const doff = (frame[l4 + 12]! >> 4) * 4;
  if (doff < TCP_HLEN || l4 + doff > end) return null;
  let mss = 0;
  for (let o = l4 + TCP_HLEN; o < l4 + doff; ) {
    const kind = frame[o]!;
    if (kind === 0) break;
    if (kind === 1) {
      o++;
      continue;
    }
    const len = frame[o + 1] ?? 0;
    if (len < 2) break;
    if (kind === 2 && len === 4) mss = dv.getUint16(o + 2);
    o += len;
  }
  return {
    sport: dv.getUint16(l4),
    dport: dv.getUint16(l4 + 2),
    seq: dv.getUint32(l4 + 4),
    ack: dv.getUint32(l4 + 8),
    flags: frame[l4 + 13]!,
    window: dv.getUint16(l4 + 14),
    mss,
    doff,
    payload: frame.subarray(l4 + doff, end),
  };
}
