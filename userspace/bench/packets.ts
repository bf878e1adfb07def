/**
 * Deterministic Ethernet traffic for the packet benchmark and the filter compiler's
 * differential tests: TCP/UDP/SCTP/ICMP over IPv4 and IPv6 (with fragments, IP options
 * and IPv6 fragment headers), ARP/RARP, 802.1Q/802.1ad tags, 802.3 LLC frames, broadcast
 * and multicast MACs, truncated frames and random bytes. Addresses and ports come from
 * small pools so that filters match some packets and miss others.
 */
export interface PacketSpec {
  macDst?: number[];
  macSrc?: number[];
  vlans?: { tpid: number; tci: number }[];
  l3: 'ip' | 'ip6' | 'arp' | 'rarp' | 'llc' | 'other';
  src?: string;
  dst?: string;
  proto?: number;
  sport?: number;
  dport?: number;
  tcpFlags?: number;
  icmpType?: number;
  icmpCode?: number;
  /** IPv4 fragment offset (8-byte units) and more-fragments flag. */
  fragOff?: number;
  mf?: boolean;
  /** IPv4 header words (5..15): options make the transport header move. */
  ihl?: number;
  /** IPv6: put a fragment header before the transport header. */
  ip6Frag?: boolean;
  payload?: number;
  arpOp?: number;
  etherType?: number;
}

const BCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

function v4(s: string): number[] {
  return s.split('.').map(Number);
}

function v6(s: string): number[] {
  const [h, t] = s.includes('::') ? s.split('::') : [s, ''];
  const hs = h ? h.split(':') : [];
  const ts = t ? t.split(':') : [];
  const groups = [...hs, ...Array<string>(8 - hs.length - ts.length).fill('0'), ...ts].map((g) => parseInt(g, 16));
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

const be16 = (v: number): number[] => [(v >> 8) & 0xff, v & 0xff];

function l4(spec: PacketSpec): number[] {
  const pay = Array.from({ length: spec.payload ?? 8 }, (_, i) => (i * 7 + 3) & 0xff);
  const sp = spec.sport ?? 1234;
  const dp = spec.dport ?? 80;
  switch (spec.proto) {
    case 6:
      return [...be16(sp), ...be16(dp), 0, 0, 0, 1, 0, 0, 0, 0, 0x50, spec.tcpFlags ?? 0x10, 0xff, 0xff, 0, 0, 0, 0, ...pay];
    case 17:
      return [...be16(sp), ...be16(dp), ...be16(8 + pay.length), 0, 0, ...pay];
    case 132:
      return [...be16(sp), ...be16(dp), 0, 0, 0, 1, 0, 0, 0, 0, ...pay];
    case 1:
    case 58:
      return [spec.icmpType ?? 8, spec.icmpCode ?? 0, 0, 0, 0, 1, 0, 1, ...pay];
    default:
      return pay;
  }
}

/** Builds one frame. */
export function buildFrame(spec: PacketSpec): Uint8Array {
  const out: number[] = [...(spec.macDst ?? [0x52, 0x54, 0, 0x12, 0x34, 0x56]), ...(spec.macSrc ?? [0x52, 0x54, 0, 0xab, 0xcd, 0xef])];
  for (const v of spec.vlans ?? []) out.push(...be16(v.tpid), ...be16(v.tci));
  switch (spec.l3) {
    case 'ip': {
      const ihl = spec.ihl ?? 5;
      const body = l4(spec);
      const total = ihl * 4 + body.length;
      const frag = ((spec.mf ? 0x2000 : 0) | (spec.fragOff ?? 0)) & 0xffff;
      out.push(0x0800 >> 8, 0, 0x40 | ihl, 0, ...be16(total), 0, 1, ...be16(frag), 64, spec.proto ?? 6, 0, 0);
      out.push(...v4(spec.src ?? '10.0.0.1'), ...v4(spec.dst ?? '10.0.0.2'));
      for (let i = 5; i < ihl; i++) out.push(1, 1, 1, 1); // NOP options
      out.push(...body);
      break;
    }
    case 'ip6': {
      const body = l4(spec);
      const nh = spec.ip6Frag ? 44 : (spec.proto ?? 6);
      const ext = spec.ip6Frag ? [spec.proto ?? 6, 0, ...be16(((spec.fragOff ?? 0) << 3) | (spec.mf ? 1 : 0)), 0, 0, 0, 1] : [];
      out.push(0x86, 0xdd, 0x60, 0, 0, 0, ...be16(ext.length + body.length), nh, 64);
      out.push(...v6(spec.src ?? '2001:db8::1'), ...v6(spec.dst ?? '2001:db8::2'), ...ext, ...body);
      break;
    }
    case 'arp':
    case 'rarp':
      out.push(...be16(spec.l3 === 'arp' ? 0x0806 : 0x8035), 0, 1, 8, 0, 6, 4, ...be16(spec.arpOp ?? 1));
      out.push(...(spec.macSrc ?? [2, 0, 0, 0, 0, 1]), ...v4(spec.src ?? '10.0.0.1'), 0, 0, 0, 0, 0, 0, ...v4(spec.dst ?? '10.0.0.2'));
      break;
    case 'llc':
      out.push(...be16(3 + (spec.payload ?? 8)), spec.proto ?? 0x42, spec.proto ?? 0x42, 3, ...Array<number>(spec.payload ?? 8).fill(0));
      break;
    case 'other':
      out.push(...be16(spec.etherType ?? 0x88cc), ...Array<number>(spec.payload ?? 30).fill(0x5a));
      break;
  }
  return Uint8Array.from(out);
}

/** A small deterministic PRNG (xorshift32). */
export function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

const V4 = ['10.0.0.1', '10.0.0.2', '192.168.1.1', '1.2.3.4', '1.2.3.5', '224.0.0.251', '255.255.255.255', '0.0.0.0', '10.1.2.3', '172.16.0.9'];
const V6 = ['2001:db8::1', '2001:db8::2', '::1', 'fe80::1', 'ff02::1', '2001:db8:1::5'];
const PORTS = [22, 53, 80, 443, 1, 100, 5, 12345, 65535, 0, 8080, 6000];
const MACS = [BCAST, [1, 0, 0x5e, 0, 0, 1], [1, 2, 3, 4, 5, 6], [0x52, 0x54, 0, 0x12, 0x34, 0x56], [0x33, 0x33, 0, 0, 0, 1]];

/** A random but well-formed-ish frame from the pools. */
export function randomSpec(r: (n: number) => number): PacketSpec {
  const pick = <T>(a: readonly T[]): T => a[r(a.length)]!;
  const l3 = pick(['ip', 'ip', 'ip', 'ip6', 'ip6', 'arp', 'rarp', 'llc', 'other'] as const);
  const spec: PacketSpec = { l3, macDst: pick(MACS), macSrc: pick(MACS) };
  if (r(6) === 0) spec.vlans = [{ tpid: pick([0x8100, 0x88a8, 0x9100]), tci: pick([100, 5, 4095, 0x2064]) }];
  if (r(20) === 0) spec.vlans = [...(spec.vlans ?? []), { tpid: 0x8100, tci: 5 }];
  spec.src = l3 === 'ip6' ? pick(V6) : pick(V4);
  spec.dst = l3 === 'ip6' ? pick(V6) : pick(V4);
  spec.proto = l3 === 'ip6' ? pick([6, 17, 58, 132, 6, 17, 0]) : l3 === 'llc' ? pick([0x42, 0xaa, 0xfe]) : pick([6, 17, 1, 132, 2, 6, 17, 47]);
  spec.sport = pick(PORTS);
  spec.dport = pick(PORTS);
  spec.tcpFlags = r(256);
  spec.icmpType = pick([0, 8, 3, 11, 128, 129]);
  spec.payload = pick([0, 4, 8, 20, 100, 1400]);
  if (l3 === 'ip' && r(5) === 0) {
    spec.fragOff = pick([0, 1, 185]);
    spec.mf = r(2) === 0;
  }
  if (l3 === 'ip' && r(5) === 0) spec.ihl = pick([6, 8, 15]);
  if (l3 === 'ip6' && r(5) === 0) spec.ip6Frag = true;
  spec.arpOp = pick([1, 2, 3, 4]);
  return spec;
}

/** n frames: mostly random specs, some truncated, a few random bytes. */
export function mixedTraffic(seed: number, n: number): Uint8Array[] {
  const r = rng(seed);
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const kind = r(20);
    if (kind === 0) {
      out.push(Uint8Array.from({ length: r(80) }, () => r(256)));
      continue;
    }
    const f = buildFrame(randomSpec(r));
    out.push(kind === 1 ? f.subarray(0, r(f.length + 1)) : f);
  }
  return out;
}
