/**
 * Capture files: classic pcap (both byte orders, microsecond magic 0xa1b2c3d4 and
 * nanosecond magic 0xa1b23c4d) and pcapng (Section Header, Interface Description,
 * Enhanced Packet and Simple Packet blocks; other blocks are skipped by their length).
 *
 * The input is untrusted: every length is checked against the bytes that remain before
 * it is used, every loop advances by at least one header per iteration, and anything
 * inconsistent is KernelError EINVAL naming the offset, so a corrupt file can neither
 * hang the reader nor make it read out of bounds.
 *
 *   pcap:    magic u32 | major u16 (2) | minor u16 (4) | thiszone i32 | sigfigs u32 |
 *            snaplen u32 | linktype u32        then per packet:
 *            ts_sec u32 | ts_frac u32 | incl_len u32 | orig_len u32 | data[incl_len]
 *   pcapng:  block = type u32 | total_len u32 | body | total_len u32 (total_len % 4 == 0)
 *            SHB 0x0a0d0d0a: byte-order magic 0x1a2b3c4d | major u16 | minor u16 |
 *                            section_len i64 | options
 *            IDB 1: linktype u16 | reserved u16 | snaplen u32 | options (if_tsresol = 9)
 *            EPB 6: if_id u32 | ts_high u32 | ts_low u32 | caplen u32 | origlen u32 |
 *                   data padded to 4 | options
 *            SPB 3: origlen u32 | data (min(origlen, snaplen of interface 0)) padded
 */
import { KernelError } from '../../kernel/errno.js';

export const LINKTYPE_ETHERNET = 1;
export const PCAP_MAGIC_USEC = 0xa1b2c3d4;
export const PCAP_MAGIC_NSEC = 0xa1b23c4d;
export const PCAPNG_SHB = 0x0a0d0d0a;
export const PCAPNG_IDB = 0x00000001;
export const PCAPNG_SPB = 0x00000003;
export const PCAPNG_EPB = 0x00000006;
export const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;

/** Largest packet accepted from a file (libpcap's MAXIMUM_SNAPLEN is 262144). */
const MAX_CAPLEN = 0x40000 * 4;

export interface PcapPacket {
  /** Seconds since the epoch. */
  tsSec: number;
  /** Nanoseconds within the second (0..999999999), whatever the file's resolution. */
  tsNsec: number;
  /** The captured bytes (caplen = data.length). */
  data: Uint8Array;
  /** Length on the wire. */
  origLen: number;
  /** LINKTYPE_* of the interface it was captured on. */
  linktype: number;
}

export interface PcapFile {
  format: 'pcap' | 'pcapng';
  /** Link type of the (first) interface. */
  linktype: number;
  snaplen: number;
  /** Timestamps had nanosecond resolution (pcap nsec magic, or pcapng if_tsresol 9). */
  nanosecond: boolean;
  bigEndian: boolean;
  packets: PcapPacket[];
}

function corrupt(at: number, why: string): never {
  throw new KernelError('EINVAL', `corrupt capture file at offset ${at}: ${why}`);
}

/** Reads a pcap or pcapng file (detected by its first four bytes). */
export function readCapture(bytes: Uint8Array): PcapFile {
  if (bytes.length < 4) corrupt(0, 'file too short for a header');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const m = dv.getUint32(0, true);
  if (m === PCAPNG_SHB) return readPcapng(bytes, dv);
  return readPcap(bytes, dv);
}

function readPcap(bytes: Uint8Array, dv: DataView): PcapFile {
  if (bytes.length < 24) corrupt(0, 'file too short for a pcap header');
  const le = dv.getUint32(0, true);
  const be = dv.getUint32(0, false);
  let little: boolean;
  let nano: boolean;
  if (le === PCAP_MAGIC_USEC || le === PCAP_MAGIC_NSEC) {
    little = true;
    nano = le === PCAP_MAGIC_NSEC;
  } else if (be === PCAP_MAGIC_USEC || be === PCAP_MAGIC_NSEC) {
    little = false;
    nano = be === PCAP_MAGIC_NSEC;
  } else {
    corrupt(0, `unknown magic 0x${be.toString(16).padStart(8, '0')}`);
  }
  const major = dv.getUint16(4, little);
  if (major !== 2) corrupt(4, `unsupported pcap version ${major}.${dv.getUint16(6, little)}`);
  const snaplen = dv.getUint32(16, little);
  const linktype = dv.getUint32(20, little) & 0x03ffffff; // upper bits: FCS length
  const packets: PcapPacket[] = [];
  let at = 24;
  while (at < bytes.length) {
    if (bytes.length - at < 16) corrupt(at, 'truncated packet header');
    const tsSec = dv.getUint32(at, little);
    const frac = dv.getUint32(at + 4, little);
    const incl = dv.getUint32(at + 8, little);
    const orig = dv.getUint32(at + 12, little);
    if (frac >= (nano ? 1e9 : 1e6)) corrupt(at + 4, `bad timestamp fraction ${frac}`);
    if (incl > MAX_CAPLEN) corrupt(at + 8, `packet length ${incl} is bigger than the maximum ${MAX_CAPLEN}`);
    if (incl > bytes.length - at - 16) corrupt(at + 8, `packet of ${incl} bytes runs past the end of the file`);
    packets.push({ tsSec, tsNsec: nano ? frac : frac * 1000, data: bytes.slice(at + 16, at + 16 + incl), origLen: orig, linktype });
    at += 16 + incl;
  }
  return { format: 'pcap', linktype, snaplen, nanosecond: nano, bigEndian: !little, packets };
}

interface Iface {
  linktype: number;
  snaplen: number;
  /** Ticks per second. */
  tps: bigint;
}

function readPcapng(bytes: Uint8Array, dv: DataView): PcapFile {
  let little = true;
  let ifaces: Iface[] = [];
  const all: Iface[] = [];
  const packets: PcapPacket[] = [];
  let bigEndian = false;
  let at = 0;
  let sawShb = false;
  while (at < bytes.length) {
    if (bytes.length - at < 12) corrupt(at, 'truncated block header');
    let type = dv.getUint32(at, little);
    if (dv.getUint32(at, true) === PCAPNG_SHB) {
      // A new section: its byte-order magic decides how to read everything in it.
      type = PCAPNG_SHB;
      if (bytes.length - at < 28) corrupt(at, 'truncated section header');
      const bom = dv.getUint32(at + 8, true);
      if (bom === PCAPNG_BYTE_ORDER_MAGIC) little = true;
      else if (dv.getUint32(at + 8, false) === PCAPNG_BYTE_ORDER_MAGIC) little = false;
      else corrupt(at + 8, 'bad byte-order magic');
      if (!sawShb) bigEndian = !little;
      const major = dv.getUint16(at + 12, little);
      if (major !== 1) corrupt(at + 12, `unsupported pcapng version ${major}`);
      ifaces = [];
      sawShb = true;
    } else if (!sawShb) {
      corrupt(at, 'file does not start with a section header block');
    }
    const len = dv.getUint32(at + 4, little);
    if (len < 12 || len % 4 !== 0) corrupt(at + 4, `bad block length ${len}`);
    if (len > bytes.length - at) corrupt(at + 4, `block of ${len} bytes runs past the end of the file`);
    if (dv.getUint32(at + len - 4, little) !== len) corrupt(at + len - 4, 'trailing block length does not match');
    const body = at + 8;
    const bodyLen = len - 12;
    switch (type) {
      case PCAPNG_IDB: {
        if (bodyLen < 8) corrupt(at, 'interface description block too short');
        const iface: Iface = { linktype: dv.getUint16(body, little), snaplen: dv.getUint32(body + 4, little), tps: 1_000_000n };
        // options: code u16 | length u16 | value padded to 4; the end bounds the walk
        let o = body + 8;
        const end = body + bodyLen;
        while (end - o >= 4) {
          const code = dv.getUint16(o, little);
          const olen = dv.getUint16(o + 2, little);
          if (code === 0) break;
          if (olen > end - o - 4) corrupt(o, 'option runs past its block');
          if (code === 9 && olen >= 1) {
            const r = bytes[o + 4]!;
            const exp = BigInt(r & 0x7f);
            if (exp > 60n) corrupt(o, `unsupported timestamp resolution 0x${r.toString(16)}`);
            iface.tps = r & 0x80 ? 1n << exp : 10n ** exp;
          }
          o += 4 + ((olen + 3) & ~3);
        }
        ifaces.push(iface);
        all.push(iface);
        break;
      }
      case PCAPNG_EPB: {
        if (bodyLen < 20) corrupt(at, 'enhanced packet block too short');
        const ifId = dv.getUint32(body, little);
        const iface = ifaces[ifId];
        if (!iface) corrupt(body, `packet for undeclared interface ${ifId}`);
        const ticks = (BigInt(dv.getUint32(body + 4, little)) << 32n) | BigInt(dv.getUint32(body + 8, little));
        const cap = dv.getUint32(body + 12, little);
        const orig = dv.getUint32(body + 16, little);
        if (cap > bodyLen - 20) corrupt(body + 12, `captured length ${cap} runs past its block`);
        const sec = ticks / iface.tps;
        const nsec = ((ticks % iface.tps) * 1_000_000_000n) / iface.tps;
        packets.push({ tsSec: Number(sec), tsNsec: Number(nsec), data: bytes.slice(body + 20, body + 20 + cap), origLen: orig, linktype: iface.linktype });
        break;
      }
      case PCAPNG_SPB: {
        if (bodyLen < 4) corrupt(at, 'simple packet block too short');
        const iface = ifaces[0];
        if (!iface) corrupt(at, 'simple packet block without an interface');
        const orig = dv.getUint32(body, little);
        const cap = Math.min(orig, iface.snaplen === 0 ? orig : iface.snaplen, bodyLen - 4);
        packets.push({ tsSec: 0, tsNsec: 0, data: bytes.slice(body + 4, body + 4 + cap), origLen: orig, linktype: iface.linktype });
        break;
      }
      default:
        break; // SHB handled above; NRB, ISB, DSB, custom blocks: skipped
    }
    at += len;
  }
  const first = all[0];
  return {
    format: 'pcapng',
    linktype: first?.linktype ?? LINKTYPE_ETHERNET,
    snaplen: first?.snaplen ?? 0,
    nanosecond: first !== undefined && first.tps === 1_000_000_000n,
    bigEndian,
    packets,
  };
}

export interface WriteOptions {
  linktype?: number;
  snaplen?: number;
  nanosecond?: boolean;
  bigEndian?: boolean;
}

export interface PacketIn {
  tsSec: number;
  tsNsec: number;
  data: Uint8Array;
  origLen?: number;
}

/** A classic pcap file. */
export function writePcap(packets: readonly PacketIn[], opts: WriteOptions = {}): Uint8Array {
  const little = !opts.bigEndian;
  const nano = opts.nanosecond ?? false;
  const size = 24 + packets.reduce((n, p) => n + 16 + p.data.length, 0);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, nano ? PCAP_MAGIC_NSEC : PCAP_MAGIC_USEC, little);
  dv.setUint16(4, 2, little);
  dv.setUint16(6, 4, little);
  dv.setUint32(16, opts.snaplen ?? 262144, little);
  dv.setUint32(20, opts.linktype ?? LINKTYPE_ETHERNET, little);
  let at = 24;
  for (const p of packets) {
    dv.setUint32(at, p.tsSec >>> 0, little);
    dv.setUint32(at + 4, nano ? p.tsNsec : Math.floor(p.tsNsec / 1000), little);
    dv.setUint32(at + 8, p.data.length, little);
    dv.setUint32(at + 12, p.origLen ?? p.data.length, little);
    out.set(p.data, at + 16);
    at += 16 + p.data.length;
  }
  return out;
}

/** A pcapng file: one section, one interface, one EPB per packet. */
export function writePcapng(packets: readonly PacketIn[], opts: WriteOptions = {}): Uint8Array {
  const little = !opts.bigEndian;
  const nano = opts.nanosecond ?? false;
  const pad = (n: number): number => (n + 3) & ~3;
  const idbLen = 20 + (nano ? 8 + 4 : 0); // + if_tsresol option and opt_endofopt
  const size = 28 + idbLen + packets.reduce((n, p) => n + 32 + pad(p.data.length), 0);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let at = 0;
  dv.setUint32(at, PCAPNG_SHB, little);
  dv.setUint32(at + 4, 28, little);
  dv.setUint32(at + 8, PCAPNG_BYTE_ORDER_MAGIC, little);
  dv.setUint16(at + 12, 1, little);
  dv.setUint16(at + 14, 0, little);
  dv.setBigInt64(at + 16, -1n, little);
  dv.setUint32(at + 24, 28, little);
  at += 28;
  dv.setUint32(at, PCAPNG_IDB, little);
  dv.setUint32(at + 4, idbLen, little);
  dv.setUint16(at + 8, opts.linktype ?? LINKTYPE_ETHERNET, little);
  dv.setUint32(at + 12, opts.snaplen ?? 262144, little);
  if (nano) {
    dv.setUint16(at + 16, 9, little);
    dv.setUint16(at + 18, 1, little);
    out[at + 20] = 9;
    // opt_endofopt: four zero bytes at at+24
  }
  dv.setUint32(at + idbLen - 4, idbLen, little);
  at += idbLen;
  const tps = nano ? 1_000_000_000n : 1_000_000n;
  for (const p of packets) {
    const len = 32 + pad(p.data.length);
    const ticks = BigInt(p.tsSec >>> 0) * tps + (nano ? BigInt(p.tsNsec) : BigInt(Math.floor(p.tsNsec / 1000)));
    dv.setUint32(at, PCAPNG_EPB, little);
    dv.setUint32(at + 4, len, little);
    dv.setUint32(at + 8, 0, little);
    dv.setUint32(at + 12, Number(ticks >> 32n), little);
    dv.setUint32(at + 16, Number(ticks & 0xffffffffn), little);
    dv.setUint32(at + 20, p.data.length, little);
    dv.setUint32(at + 24, p.origLen ?? p.data.length, little);
    out.set(p.data, at + 28);
    dv.setUint32(at + len - 4, len, little);
    at += len;
  }
  return out;
}
