/**
 * `bpfkern tcpdump`: the filter compiler and capture files with tcpdump's interface.
 *
 *   bpfkern tcpdump -d|-dd|-ddd [-O] [-s N] [-y EN10MB] EXPR   the program, printed as tcpdump
 *   bpfkern tcpdump -r FILE [-w OUT] [-c N] [-n] [-e] [-S] [-t] [EXPR]
 *
 * -r reads a pcap or pcapng file, runs the compiled filter on every frame on bpfkern's BPF
 * machine (as pcap_offline_filter does) and prints a one-line summary of each match the
 * way tcpdump prints it (IPv4/IPv6 TCP, UDP, ICMP, ICMPv6, ARP; other frames by
 * EtherType), or with -w writes the matches to a pcap file. Names are never resolved
 * (bpfkern behaves as if -n were always given).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { formatDd, formatDdd, formatTcpdump } from '../../kernel/bpf/classic/text.js';
import { isKernelError } from '../../kernel/errno.js';
import { Kernel } from '../../kernel/kernel.js';
import { compileFilter, DEFAULT_SNAPLEN } from '../../subsystems/net/pcap-filter/index.js';
import { offlineFilter } from '../../subsystems/net/pcap-filter/offline.js';
import { ipv4String, ipv6String, macString } from '../../subsystems/net/frames.js';
import { LINKTYPE_ETHERNET, readCapture, writePcap, type PcapPacket } from '../../subsystems/net/pcap.js';
import type { Command } from './index.js';

const USAGE = `usage: bpfkern tcpdump -d|-dd|-ddd [-O] [-s snaplen] [-y EN10MB] expression
       bpfkern tcpdump -r file [-w file] [-c count] [-n] [-e] [-S] [-t] [-q] [expression]`;

interface Opts {
  dump: 0 | 1 | 2 | 3;
  optimize: boolean;
  snaplen: number;
  read: string | null;
  write: string | null;
  count: number;
  linkHeader: boolean;
  absoluteSeq: boolean;
  noTimestamp: boolean;
  quiet: boolean;
  expr: string;
}

function parseArgs(argv: string[]): Opts | string {
  const o: Opts = { dump: 0, optimize: true, snaplen: DEFAULT_SNAPLEN, read: null, write: null, count: Infinity, linkHeader: false, absoluteSeq: false, noTimestamp: false, quiet: false, expr: '' };
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string | null => argv[++i] ?? null;
    if (a === '--') {
      rest.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      rest.push(a);
      continue;
    }
    if (a === '-ddd' || a === '-dd' || a === '-d') o.dump = a.length - 1 as 1 | 2 | 3;
    else if (a === '-O') o.optimize = false;
    else if (a === '-n' || a === '-nn') continue;
    else if (a === '-e') o.linkHeader = true;
    else if (a === '-S') o.absoluteSeq = true;
    else if (a === '-t') o.noTimestamp = true;
    else if (a === '-q') o.quiet = true;
    else if (a === '-r' || a === '-w' || a === '-c' || a === '-s' || a === '-y') {
      const v = value();
      if (v === null) return `option requires an argument -- '${a.slice(1)}'`;
      if (a === '-r') o.read = v;
      else if (a === '-w') o.write = v;
      else if (a === '-y') {
        if (v !== 'EN10MB') return `unsupported data link type ${v} (bpfkern compiles for EN10MB only)`;
      } else {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0) return `invalid ${a === '-c' ? 'packet count' : 'snaplen'} ${v}`;
        if (a === '-c') o.count = n === 0 ? Infinity : n;
        else o.snaplen = n === 0 ? DEFAULT_SNAPLEN : n;
      }
    } else return `invalid option -- '${a.slice(1)}'`;
  }
  o.expr = rest.join(' ');
  if (o.dump === 0 && o.read === null) return 'bpfkern tcpdump needs -d/-dd/-ddd or -r file (no live capture)';
  return o;
}

export const tcpdumpCommand: Command = {
  name: 'tcpdump',
  summary: 'compile pcap-filter expressions (-d/-dd/-ddd) and read capture files (-r)',
  run: async (argv, io) => {
    const o = parseArgs(argv);
    if (typeof o === 'string') {
      io.stderr(`tcpdump: ${o}\n${USAGE}\n`);
      return 1;
    }
    try {
      const prog = compileFilter(o.expr, { optimize: o.optimize, snaplen: o.snaplen });
      if (o.dump !== 0) {
        io.stdout(o.dump === 1 ? formatTcpdump(prog) : o.dump === 2 ? formatDd(prog) : formatDdd(prog));
        return 0;
      }
      const file = readCapture(readFileSync(o.read!));
      if (file.linktype !== LINKTYPE_ETHERNET) {
        io.stderr(`tcpdump: link-type ${file.linktype} is not supported (EN10MB only)\n`);
        return 1;
      }
      io.stderr(`reading from file ${o.read}, link-type EN10MB (Ethernet), snapshot length ${file.snaplen}\n`);
      const kernel = new Kernel();
      const filter = offlineFilter(kernel, prog);
      const matched: PcapPacket[] = [];
      const printer = new Printer(o);
      try {
        for (const p of file.packets) {
          if (matched.length >= o.count) break;
          if (filter.run(p.data, p.origLen) === 0) continue;
          matched.push(p);
          if (o.write === null) io.stdout(`${printer.line(p)}\n`);
        }
      } finally {
        filter.free();
      }
      if (o.write !== null) {
        writeFileSync(o.write, writePcap(matched, { snaplen: file.snaplen, nanosecond: file.nanosecond }));
      }
      return 0;
    } catch (e) {
      if (!isKernelError(e)) throw e;
      io.stderr(`tcpdump: ${e.detail}\n`);
      return 1;
    }
  },
};

// ---------------------------------------------------------------------------------------
// One-line summaries (tcpdump's default verbosity)

const ETHERTYPE_NAMES: Readonly<Record<number, string>> = {
  0x0800: 'IPv4', 0x86dd: 'IPv6', 0x0806: 'ARP', 0x8035: 'Reverse ARP', 0x8100: '802.1Q', 0x88a8: '802.1Q-QinQ',
  0x9100: '802.1Q-9100', 0x88cc: 'LLDP', 0x8847: 'MPLS unicast', 0x809b: 'Appletalk',
};

// Address text at an offset into the frame: the stack's own formatters (inet_ntop's forms).
const mac = (b: Uint8Array, at: number): string => macString(b.subarray(at));
const ip4 = (b: Uint8Array, at: number): string => ipv4String(b.subarray(at));
const ip6 = (b: Uint8Array, at: number): string => ipv6String(b.subarray(at, at + 16));

const TCP_FLAGS: readonly [number, string][] = [[0x01, 'F'], [0x02, 'S'], [0x04, 'R'], [0x08, 'P'], [0x10, '.'], [0x20, 'U'], [0x40, 'E'], [0x80, 'W']];

class Printer {
  /** tcpdump's relative sequence numbers: per connection, the first seq/ack seen. */
  private readonly tcpSeq = new Map<string, { seq: number; ack: number }>();
  constructor(private readonly o: Opts) {}

  line(p: PcapPacket): string {
    const d = p.data;
    let s = '';
    if (!this.o.noTimestamp) {
      const t = new Date(p.tsSec * 1000);
      const two = (n: number): string => String(n).padStart(2, '0');
      s += `${two(t.getHours())}:${two(t.getMinutes())}:${two(t.getSeconds())}.${String(Math.floor(p.tsNsec / 1000)).padStart(6, '0')} `;
    }
    if (d.length < 14) return `${s}[|ether]`;
    let type = (d[12]! << 8) | d[13]!;
    if (this.o.linkHeader) {
      s += `${mac(d, 6)} > ${mac(d, 0)}, `;
      s += type <= 1500 ? `802.3, length ${p.origLen}: ` : `ethertype ${ETHERTYPE_NAMES[type] ?? 'Unknown'} (0x${type.toString(16).padStart(4, '0')}), length ${p.origLen}: `;
    }
    let at = 14;
    while ((type === 0x8100 || type === 0x88a8 || type === 0x9100) && d.length >= at + 4) {
      const tci = (d[at]! << 8) | d[at + 1]!;
      type = (d[at + 2]! << 8) | d[at + 3]!;
      at += 4;
      // without -e tcpdump says nothing about the tags
      if (this.o.linkHeader) s += `vlan ${tci & 0xfff}, p ${tci >> 13}${tci & 0x1000 ? ', DEI' : ''}, ethertype ${ETHERTYPE_NAMES[type] ?? 'Unknown'} (0x${type.toString(16).padStart(4, '0')}), `;
    }
    return s + this.network(d, at, type, p.origLen);
  }

  private network(d: Uint8Array, at: number, type: number, origLen: number): string {
    switch (type) {
      case 0x0800:
        return this.ipv4(d, at);
      case 0x86dd:
        return this.ipv6(d, at);
      case 0x0806:
      case 0x8035:
        return this.arp(d, at);
      default:
        if (type <= 1500) return `${this.o.linkHeader ? '' : '802.3, '}LLC, length ${origLen - at}`;
        // tcpdump follows this with a hex dump of the payload, which bpfkern leaves out
        return this.o.linkHeader ? '' : `${mac(d, 6)} > ${mac(d, 0)}, ethertype ${ETHERTYPE_NAMES[type] ?? 'Unknown'} (0x${type.toString(16).padStart(4, '0')}), length ${origLen}: `;
    }
  }

  private ipv4(d: Uint8Array, at: number): string {
    if (d.length < at + 20) return 'IP [|ip]';
    const ihl = (d[at]! & 0xf) * 4;
    const total = (d[at + 2]! << 8) | d[at + 3]!;
    const frag = ((d[at + 6]! << 8) | d[at + 7]!) & 0x1fff;
    const proto = d[at + 9]!;
    const src = ip4(d, at + 12);
    const dst = ip4(d, at + 16);
    const l4 = at + ihl;
    const len = total - ihl;
    if (frag !== 0) return `${this.fam('IP')}${src} > ${dst}: ip-proto-${proto}`;
    return this.transport('IP', d, l4, proto, src, dst, len, Math.min(d.length, at + total));
  }

  private ipv6(d: Uint8Array, at: number): string {
    if (d.length < at + 40) return 'IP6 [|ip6]';
    const plen = (d[at + 4]! << 8) | d[at + 5]!;
    let nh = d[at + 6]!;
    const src = ip6(d, at + 8);
    const dst = ip6(d, at + 24);
    let l4 = at + 40;
    let len = plen;
    let fragNote = '';
    if (nh === 44 && d.length >= l4 + 8) {
      const off = ((d[l4 + 2]! << 8) | d[l4 + 3]!) >> 3;
      fragNote = `frag (${off * 8}|${plen - 8}) `;
      nh = d[l4]!;
      l4 += 8;
      len -= 8;
      if (off !== 0) return `${this.fam('IP6')}${src} > ${dst}: ${fragNote.trimEnd()}`;
    }
    return `${fragNote ? `${this.fam('IP6')}${src} > ${dst}: ${fragNote}` : ''}${this.transport(fragNote ? '' : 'IP6', d, l4, nh, src, dst, len, Math.min(d.length, at + 40 + plen), fragNote !== '')}`;
  }

  private transport(fam: string, d: Uint8Array, at: number, proto: number, src: string, dst: string, len: number, end: number, bare = false): string {
    const head = (ports: boolean): string => {
      // behind an IPv6 fragment header tcpdump prints the ports alone
      if (bare) return ports ? `${(d[at]! << 8) | d[at + 1]!} > ${(d[at + 2]! << 8) | d[at + 3]!}: ` : '';
      if (!ports) return `${this.fam(fam)}${src} > ${dst}: `;
      return `${this.fam(fam)}${src}.${(d[at]! << 8) | d[at + 1]!} > ${dst}.${(d[at + 2]! << 8) | d[at + 3]!}: `;
    };
    switch (proto) {
      case 6: {
        if (end < at + 20) return `${head(false)}tcp`;
        const flags = d[at + 13]!;
        const hl = (d[at + 12]! >> 4) * 4;
        const u32 = (o: number): number => ((d[at + o]! << 24) | (d[at + o + 1]! << 16) | (d[at + o + 2]! << 8) | d[at + o + 3]!) >>> 0;
        let seq = u32(4);
        let ack = u32(8);
        const win = (d[at + 14]! << 8) | d[at + 15]!;
        const plen = len - hl;
        if (!this.o.absoluteSeq && flags & 0x10) [seq, ack] = this.relative(src, dst, (d[at]! << 8) | d[at + 1]!, (d[at + 2]! << 8) | d[at + 3]!, seq, ack);
        let s = `${head(true)}${this.o.quiet ? 'tcp' : `Flags [${TCP_FLAGS.filter(([b]) => flags & b).map(([, c]) => c).join('') || 'none'}]`}`;
        if (this.o.quiet) return `${s} ${plen}`;
        if (plen > 0 || flags & 0x07) s += plen > 0 ? `, seq ${seq}:${(seq + plen) >>> 0}` : `, seq ${seq}`;
        if (flags & 0x10) s += `, ack ${ack}`;
        s += `, win ${win}`;
        if (flags & 0x20) s += `, urg ${(d[at + 18]! << 8) | d[at + 19]!}`;
        if (hl > 20) s += `, options [${tcpOptions(d.subarray(at + 20, Math.min(end, at + hl)))}]`;
        return `${s}, length ${plen}`;
      }
      case 17: {
        if (end < at + 8) return `${head(false)}udp`;
        const ulen = (d[at + 4]! << 8) | d[at + 5]!;
        return `${head(true)}${this.o.quiet ? 'UDP' : 'UDP'}, length ${ulen - 8}`;
      }
      case 1: {
        if (end < at + 4) return `${head(false)}ICMP`;
        const t = d[at]!;
        const idseq = (): string => `id ${(d[at + 4]! << 8) | d[at + 5]!}, seq ${(d[at + 6]! << 8) | d[at + 7]!}`;
        const what = t === 8 ? `echo request, ${idseq()}` : t === 0 ? `echo reply, ${idseq()}` : (ICMP_NAMES[t] ?? `type-#${t}`);
        return `${head(false)}ICMP ${what}, length ${len}`;
      }
      case 58: {
        if (end < at + 4) return `${head(false)}ICMP6`;
        const t = d[at]!;
        const idseq = (): string => `id ${(d[at + 4]! << 8) | d[at + 5]!}, seq ${(d[at + 6]! << 8) | d[at + 7]!}`;
        const what = t === 128 ? `echo request, ${idseq()}` : t === 129 ? `echo reply, ${idseq()}` : (ICMP6_NAMES[t] ?? `type-#${t}`);
        return `${head(false)}ICMP6, ${what}, length ${len}`;
      }
      case 132:
        return `${head(true)}sctp`;
      default:
        return `${head(false)}${PROTO_NAMES[proto] ?? `ip-proto-${proto}`} ${len}`;
    }
  }

  /** tcpdump's tcp_seq_hash: the first ACK-bearing segment of a connection sets the bases. */
  private relative(src: string, dst: string, sport: number, dport: number, seq: number, ack: number): [number, number] {
    const a = `${src}.${sport}`;
    const b = `${dst}.${dport}`;
    const rev = a > b;
    const key = rev ? `${b}>${a}` : `${a}>${b}`;
    const th = this.tcpSeq.get(key);
    if (!th) {
      this.tcpSeq.set(key, rev ? { ack: seq, seq: (ack - 1) >>> 0 } : { seq, ack: (ack - 1) >>> 0 });
      return [seq, ack];
    }
    return rev ? [(seq - th.ack) >>> 0, (ack - th.seq) >>> 0] : [(seq - th.seq) >>> 0, (ack - th.ack) >>> 0];
  }

  /** The protocol word tcpdump puts before addresses, which -e replaces by the MAC line. */
  private fam(name: string): string {
    return this.o.linkHeader ? '' : `${name} `;
  }

  private arp(d: Uint8Array, at: number): string {
    const name = this.o.linkHeader ? '' : 'ARP, ';
    if (d.length < at + 28) return `${name}[|arp]`;
    const op = (d[at + 6]! << 8) | d[at + 7]!;
    const len = d.length - at;
    const spa = ip4(d, at + 14);
    const tpa = ip4(d, at + 24);
    const sha = mac(d, at + 8);
    const tha = mac(d, at + 18);
    switch (op) {
      case 1:
        return `${name}Request who-has ${tpa} tell ${spa}, length ${len}`;
      case 2:
        return `${name}Reply ${spa} is-at ${sha}, length ${len}`;
      case 3:
        return `${name}Reverse Request who-is ${tha} tell ${sha}, length ${len}`;
      case 4:
        return `${name}Reverse Reply ${tha} at ${tpa}, length ${len}`;
      default:
        return `${name}unknown operation (${op}), length ${len}`;
    }
  }
}

const PROTO_NAMES: Readonly<Record<number, string>> = { 1: 'ICMP', 2: 'igmp', 6: 'tcp', 17: 'udp', 47: 'GREv0', 58: 'ICMP6', 132: 'sctp' };
const ICMP_NAMES: Readonly<Record<number, string>> = { 3: 'unreachable', 4: 'source quench', 5: 'redirect', 11: 'time exceeded in-transit', 12: 'parameter problem', 13: 'time stamp request', 14: 'time stamp reply' };
const ICMP6_NAMES: Readonly<Record<number, string>> = { 1: 'destination unreachable', 2: 'packet too big', 3: 'time exceeded in-transit', 4: 'parameter problem', 133: 'router solicitation', 134: 'router advertisement', 135: 'neighbor solicitation', 136: 'neighbor advertisement' };

function tcpOptions(o: Uint8Array): string {
  const out: string[] = [];
  // each step consumes at least one byte
  for (let i = 0; i < o.length; ) {
    const kind = o[i]!;
    if (kind === 0) {
      out.push('eol');
      i++;
      continue;
    }
    if (kind === 1) {
      out.push('nop');
      i++;
      continue;
    }
    const len = o[i + 1] ?? 0;
    if (len < 2 || i + len > o.length) {
      out.push('[bad opt]');
      break;
    }
    const v = o.subarray(i + 2, i + len);
    const u = (a: number, n: number): number => Array.from(v.subarray(a, a + n)).reduce((x, y) => x * 256 + y, 0);
    if (kind === 2 && len === 4) out.push(`mss ${u(0, 2)}`);
    else if (kind === 3 && len === 3) out.push(`wscale ${u(0, 1)}`);
    else if (kind === 4 && len === 2) out.push('sackOK');
    else if (kind === 8 && len === 10) out.push(`TS val ${u(0, 4)} ecr ${u(4, 4)}`);
    else out.push(`opt-${kind}:${Array.from(v, (x) => x.toString(16).padStart(2, '0')).join('')}`);
    i += len;
  }
  return out.join(',');
}
