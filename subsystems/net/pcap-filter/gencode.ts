/**
 * Syntax tree → block DAG for DLT_EN10MB (Ethernet) frames, following the instruction
 * sequences libpcap's gencode.c emits (the facts of pcap-filter(7) and of `tcpdump -d`):
 *
 *   link type      ldh [12]; jeq #type          (<= 1500: an 802.3 length, then [14])
 *   ip proto p     ip and ldb [23] == p
 *   ip6 proto p    ip6 and (ldb [20] == p or (ldb [20] == 44 and ldb [54] == p))
 *   tcp|udp|sctp   ip proto p or ip6 proto p
 *   port (IPv4)    ip, proto, ldh [20] jset #0x1fff (later fragments never match),
 *                  ldxb 4*([14]&0xf), ldh [x+14] / [x+16]
 *   port (IPv6)    ip6, ldb [20] == p (no extension header walk), ldh [54] / [56]
 *   vlan           ldh [12] in {0x8100, 0x88a8, 0x9100}; every later offset moves by 4
 *
 * A predicate is built in continuation-passing style: Pred(t, f) makes the blocks that
 * go to t when the condition holds and to f otherwise, so and/or/not are one line each
 * and the result is a DAG with one `ret` per outcome.
 */
import { FilterError } from './errors.js';
import { IP_PROTOS, ETHER_PROTOS, SERVICES } from './names.js';
import type { Arith, Dir, Expr, IdValue, Proto, Qual, RelOp } from './parser.js';
import { newBlock, retBlock, type Block, type Stmt } from './blocks.js';
import {
  BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_B, BPF_DIV, BPF_H, BPF_IMM, BPF_IND, BPF_JEQ, BPF_JGE, BPF_JGT,
  BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_LDX, BPF_LEN, BPF_LSH, BPF_MEM, BPF_MOD, BPF_MSH, BPF_MUL, BPF_NEG,
  BPF_OR, BPF_RSH, BPF_ST, BPF_SUB, BPF_W, BPF_X, BPF_XOR,
} from '../../../kernel/bpf/isa.js';
import { BPF_MEMWORDS, BPF_MISC, BPF_TAX } from '../../../kernel/bpf/classic/isa.js';
import { isIPv6 } from 'node:net';

export type Pred = (t: Block, f: Block) => Block;

export const TRUE: Pred = (t) => t;
export const FALSE: Pred = (_t, f) => f;
export const and = (a: Pred, b: Pred): Pred => (t, f) => a(b(t, f), f);
export const or = (a: Pred, b: Pred): Pred => (t, f) => a(t, b(t, f));
export const not = (a: Pred): Pred => (t, f) => a(f, t);
const anyOf = (ps: Pred[]): Pred => ps.reduce((x, y) => or(x, y));
const allOf = (ps: Pred[]): Pred => ps.reduce((x, y) => and(x, y));

/** A test: run stmts, then jump on A (op #k, or op x with src BPF_X). */
function test(stmts: Stmt[], op: number, k: number, src: number = BPF_K): Pred {
  return (t, f) => newBlock(stmts.map((s) => ({ ...s })), BPF_JMP | op | src, k, t, f);
}

const SIZE = { 1: BPF_B, 2: BPF_H, 4: BPF_W } as const;
const ldAbs = (size: 1 | 2 | 4, k: number): Stmt => ({ code: BPF_LD | BPF_ABS | SIZE[size], k });
const ldInd = (size: 1 | 2 | 4, k: number): Stmt => ({ code: BPF_LD | BPF_IND | SIZE[size], k });
const ldxMsh = (k: number): Stmt => ({ code: BPF_LDX | BPF_MSH | BPF_B, k });
const aluK = (op: number, k: number): Stmt => ({ code: BPF_ALU | op | BPF_K, k: k >>> 0 });
const ldImm = (k: number): Stmt => ({ code: BPF_LD | BPF_IMM, k: k >>> 0 });
const ldLen = (): Stmt => ({ code: BPF_LD | BPF_W | BPF_LEN, k: 0 });
const st = (m: number): Stmt => ({ code: BPF_ST, k: m });
const ldMem = (m: number): Stmt => ({ code: BPF_LD | BPF_MEM, k: m });
const tax = (): Stmt => ({ code: BPF_MISC | BPF_TAX, k: 0 });

const ETHERTYPE = { ip: 0x0800, ip6: 0x86dd, arp: 0x0806, rarp: 0x8035 } as const;
const IPPROTO = { tcp: 6, udp: 17, sctp: 132, icmp: 1, igmp: 2, icmp6: 58 } as const;
const IPPROTO_FRAGMENT = 44;
const ETHERMTU = 1500;

/** Compiler state: the link-layer offsets, moved by each `vlan` as parsing proceeds. */
interface Off {
  /** Where the EtherType is (12, +4 per vlan). */
  l: number;
  /** Where the network header starts (14, +4 per vlan). */
  n: number;
}

class Gen {
  private off: Off = { l: 12, n: 14 };
  private scratch = 0;

  linktype(type: number, off: Off = this.off): Pred {
    if (type <= ETHERMTU) {
      // an 802.3 length field, then the LLC DSAP
      return and(not(test([ldAbs(2, off.l)], BPF_JGT, ETHERMTU)), test([ldAbs(1, off.n)], BPF_JEQ, type));
    }
    return test([ldAbs(2, off.l)], BPF_JEQ, type);
  }

  ipProto(p: number): Pred {
    return and(this.linktype(ETHERTYPE.ip), test([ldAbs(1, this.off.n + 9)], BPF_JEQ, p));
  }

  /** ip6 next header p, also behind one fragment header (libpcap's gen_proto for ip6). */
  ip6Proto(p: number): Pred {
    const n = this.off.n;
    return and(
      this.linktype(ETHERTYPE.ip6),
      or(test([ldAbs(1, n + 6)], BPF_JEQ, p), and(test([ldAbs(1, n + 6)], BPF_JEQ, IPPROTO_FRAGMENT), test([ldAbs(1, n + 40)], BPF_JEQ, p))),
    );
  }

  protoAbbrev(p: Proto, pos: number): Pred {
    switch (p) {
      case 'ip':
      case 'ip6':
      case 'arp':
      case 'rarp':
        return this.linktype(ETHERTYPE[p]);
      case 'tcp':
      case 'udp':
      case 'sctp':
        return or(this.ipProto(IPPROTO[p]), this.ip6Proto(IPPROTO[p]));
      case 'icmp':
      case 'igmp':
        return this.ipProto(IPPROTO[p]);
      case 'icmp6':
        return this.ip6Proto(IPPROTO.icmp6);
      case 'link':
        throw new FilterError(`'link' (ether) needs a qualifier such as host, proto or broadcast`, pos);
    }
  }

  notFragment(): Pred {
    return not(test([ldAbs(2, this.off.n + 6)], BPF_JSET, 0x1fff));
  }

  dir(d: Dir | null, src: () => Pred, dst: () => Pred): Pred {
    switch (d) {
      case 'src':
        return src();
      case 'dst':
        return dst();
      case 'src and dst':
        return and(src(), dst());
      case null:
      case 'src or dst':
        return or(src(), dst());
    }
  }

  // ---- hosts and nets ----------------------------------------------------------------

  private cmp32(off: number, v: number, mask: number): Pred {
    const stmts = [ldAbs(4, off)];
    if (mask >>> 0 !== 0xffffffff) stmts.push(aluK(BPF_AND, mask));
    return test(stmts, BPF_JEQ, (v & mask) >>> 0);
  }

  host4(q: Qual, addr: number, mask: number, pos: number): Pred {
    const n = this.off.n;
    const ip = (): Pred => and(this.linktype(ETHERTYPE.ip), this.dir(q.dir, () => this.cmp32(n + 12, addr, mask), () => this.cmp32(n + 16, addr, mask)));
    const arp = (type: number): Pred =>
      and(this.linktype(type), this.dir(q.dir, () => this.cmp32(n + 14, addr, mask), () => this.cmp32(n + 24, addr, mask)));
    const what = q.type === 'net' ? 'net' : 'host';
    switch (q.proto) {
      case null:
        return or(or(ip(), arp(ETHERTYPE.arp)), arp(ETHERTYPE.rarp));
      case 'ip':
        return ip();
      case 'arp':
        return arp(ETHERTYPE.arp);
      case 'rarp':
        return arp(ETHERTYPE.rarp);
      case 'link':
        throw new FilterError('illegal link layer address', pos);
      default:
        throw new FilterError(`'${q.proto}' modifier applied to ${what}`, pos);
    }
  }

  host6(q: Qual, words: number[], masklen: number, pos: number): Pred {
    if (q.proto !== null && q.proto !== 'ip6') {
      throw new FilterError(q.proto === 'link' ? 'illegal link layer address' : `'${q.proto}' modifier applied to ip6 ${q.type === 'net' ? 'net' : 'host'}`, pos);
    }
    const n = this.off.n;
    const at = (base: number): Pred => {
      const tests: Pred[] = [];
      for (let w = 0; w < 4; w++) {
        const bits = Math.max(0, Math.min(32, masklen - 32 * w));
        if (bits === 0) continue;
        const mask = bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
        tests.push(this.cmp32(base + 4 * w, words[w]!, mask));
      }
      return tests.length === 0 ? TRUE : allOf(tests);
    };
    return and(this.linktype(ETHERTYPE.ip6), this.dir(q.dir, () => at(n + 8), () => at(n + 24)));
  }

  ether(q: Qual, mac: number[], pos: number): Pred {
    if (q.proto !== null && q.proto !== 'link') throw new FilterError(`'${q.proto}' modifier applied to link layer address`, pos);
    const lo = ((mac[2]! << 24) | (mac[3]! << 16) | (mac[4]! << 8) | mac[5]!) >>> 0;
    const hi = (mac[0]! << 8) | mac[1]!;
    const at = (off: number): Pred => and(test([ldAbs(4, off + 2)], BPF_JEQ, lo), test([ldAbs(2, off)], BPF_JEQ, hi));
    return this.dir(q.dir, () => at(6), () => at(0));
  }

  // ---- ports -------------------------------------------------------------------------

  private portProtos(q: Qual, pos: number): number[] {
    switch (q.proto) {
      case null:
        return [IPPROTO.tcp, IPPROTO.udp, IPPROTO.sctp];
      case 'tcp':
      case 'udp':
      case 'sctp':
        return [IPPROTO[q.proto]];
      default:
        throw new FilterError(`'${q.proto}' modifier applied to ${q.type ?? 'port'}`, pos);
    }
  }

  /** cmp(offsetWithinL4Header) → the port test at that offset. */
  ports(q: Qual, pos: number, cmp: (load4: Stmt[], load6: Stmt[]) => Pred): Pred {
    const protos = this.portProtos(q, pos);
    const n = this.off.n;
    const at4 = (o: number): Pred => cmp([ldxMsh(n), ldInd(2, n + o)], []);
    const at6 = (o: number): Pred => cmp([ldAbs(2, n + 40 + o)], []);
    const v6 = allOf([
      this.linktype(ETHERTYPE.ip6),
      anyOf(protos.map((p) => test([ldAbs(1, n + 6)], BPF_JEQ, p))),
      this.dir(q.dir, () => at6(0), () => at6(2)),
    ]);
    const v4 = allOf([
      this.linktype(ETHERTYPE.ip),
      anyOf(protos.map((p) => test([ldAbs(1, n + 9)], BPF_JEQ, p))),
      this.notFragment(),
      this.dir(q.dir, () => at4(0), () => at4(2)),
    ]);
    return or(v6, v4);
  }

  // ---- primitives --------------------------------------------------------------------

  id(e: Extract<Expr, { k: 'id' }>): Pred {
    const { q, val, pos } = e;
    switch (q.type) {
      case 'port': {
        const port = this.portNumber(val, pos);
        return this.ports(q, pos, (s) => test(s, BPF_JEQ, port));
      }
      case 'portrange': {
        let lo: number;
        let hi: number;
        if (val.t === 'range') {
          lo = val.lo;
          hi = val.hi;
        } else if (val.t === 'name' && val.s.includes('-')) {
          const [a, b] = val.s.split('-') as [string, string];
          lo = this.portNumber({ t: 'name', s: a }, pos);
          hi = this.portNumber({ t: 'name', s: b }, pos);
        } else {
          lo = hi = this.portNumber(val, pos);
        }
        for (const p of [lo, hi]) if (p > 65535) throw new FilterError(`illegal port number ${p} > 65535`, pos);
        if (lo > hi) [lo, hi] = [hi, lo];
        return this.ports(q, pos, (s) => and(test(s, BPF_JGE, lo), not(test([], BPF_JGT, hi))));
      }
      case 'proto':
        return this.protoQual(q.proto, val, pos);
      case 'gateway':
        throw new FilterError(val.t === 'name' ? `unknown host '${val.s}'` : "'gateway' requires a name", pos);
      case 'host':
      case 'net':
      case null:
        return this.hostOrNet(q, val, pos);
    }
  }

  private portNumber(val: IdValue, pos: number): number {
    let p: number;
    if (val.t === 'num') p = val.v;
    else if (val.t === 'name') {
      const s = SERVICES[val.s];
      if (s === undefined) throw new FilterError(`unknown port '${val.s}'`, pos);
      p = s;
    } else if (val.t === 'range') {
      throw new FilterError(`unknown port '${val.text}'`, pos);
    } else {
      throw new FilterError(`illegal port number ${val.s}`, pos);
    }
    if (p > 65535) throw new FilterError(`illegal port number ${p} > 65535`, pos);
    return p;
  }

  private protoQual(p: Proto | null, val: IdValue, pos: number): Pred {
    let n: number;
    if (val.t === 'num') n = val.v;
    else if (val.t === 'name') {
      const table = p === 'link' ? ETHER_PROTOS : IP_PROTOS;
      const v = table[val.s];
      if (v === undefined) throw new FilterError(`unknown ${p === 'link' ? 'ether' : p === 'ip6' ? 'ip6' : 'ip'} proto '${val.s}'`, pos);
      n = v;
    } else throw new FilterError('syntax error in filter expression', pos);
    switch (p) {
      case 'link':
        return this.linktype(n);
      case 'ip':
        return this.ipProto(n);
      case 'ip6':
        return this.ip6Proto(n);
      case null:
        return or(this.ipProto(n), this.ip6Proto(n));
      default:
        throw new FilterError(`'${p}' modifier applied to proto`, pos);
    }
  }

  private hostOrNet(q: Qual, val: IdValue, pos: number): Pred {
    switch (val.t) {
      case 'mac':
        return this.ether(q, parseMac(val.s, pos), pos);
      case 'ipv6': {
        const masklen = val.masklen ?? 128;
        if (masklen > 128) throw new FilterError('mask length must be <= 128', pos);
        if (q.type !== 'net' && val.masklen !== undefined) throw new FilterError('Mask syntax for networks only', pos);
        const words = ipv6Words(val.s);
        const masked = words.map((w, i) => {
          const bits = Math.max(0, Math.min(32, masklen - 32 * i));
          const m = bits === 0 ? 0 : bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
          return (w & m) >>> 0;
        });
        if (masked.some((w, i) => w !== words[i])) throw new FilterError(`non-network bits set in "${val.s}/${masklen}"`, pos);
        return this.host6(q, words, masklen, pos);
      }
      case 'ipv4':
      case 'num': {
        const text = val.t === 'num' ? val.text : val.s;
        let { addr, bits } = val.t === 'num' && q.type !== 'net' ? { addr: val.v >>> 0, bits: 32 } : atoin(text, pos);
        // a partial address names the network it starts: 10.1 is 10.1.0.0/16
        addr = bits === 0 ? 0 : (addr << (32 - bits)) >>> 0;
        let mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
        if (val.t === 'ipv4' && val.masklen !== undefined) {
          if (q.type !== 'net') throw new FilterError('Mask syntax for networks only', pos);
          if (val.masklen > 32) throw new FilterError('mask length must be <= 32', pos);
          mask = val.masklen === 0 ? 0 : (0xffffffff << (32 - val.masklen)) >>> 0;
          if ((addr & ~mask) !== 0) throw new FilterError(`non-network bits set in "${text}/${val.masklen}"`, pos);
        } else if (val.t === 'ipv4' && val.mask !== undefined) {
          if (q.type !== 'net') throw new FilterError('Mask syntax for networks only', pos);
          mask = atoin(val.mask, pos).addr;
          if ((addr & ~mask) !== 0) throw new FilterError(`non-network bits set in "${text} mask ${val.mask}"`, pos);
        }
        return this.host4(q, addr, mask, pos);
      }
      case 'name':
        throw new FilterError(q.type === 'net' ? `unknown network '${val.s}'` : `unknown host '${val.s}'`, pos);
      case 'range':
        throw new FilterError('syntax error in filter expression', pos);
    }
  }

  broadcast(p: Proto | null, pos: number): Pred {
    if (p === null || p === 'link') {
      return and(test([ldAbs(4, 2)], BPF_JEQ, 0xffffffff), test([ldAbs(2, 0)], BPF_JEQ, 0xffff));
    }
    if (p === 'ip') {
      // tcpdump without an interface knows no netmask (0): all-zero or all-ones host part
      const n = this.off.n;
      return and(this.linktype(ETHERTYPE.ip), or(test([ldAbs(4, n + 16)], BPF_JEQ, 0), test([ldAbs(4, n + 16)], BPF_JEQ, 0xffffffff)));
    }
    throw new FilterError('only link-layer/IP broadcast filters supported', pos);
  }

  multicast(p: Proto | null, pos: number): Pred {
    const n = this.off.n;
    if (p === null || p === 'link') return test([ldAbs(1, 0)], BPF_JSET, 1);
    if (p === 'ip') return and(this.linktype(ETHERTYPE.ip), test([ldAbs(1, n + 16)], BPF_JGE, 224));
    if (p === 'ip6') return and(this.linktype(ETHERTYPE.ip6), test([ldAbs(1, n + 24)], BPF_JEQ, 255));
    throw new FilterError('link-layer multicast filters supported only on ethernet/FDDI/token ring/ARCNET/802.11/ATM LANE/Fibre Channel', pos);
  }

  vlan(id: number | null): Pred {
    const l = this.off.l;
    const tpid = anyOf([0x8100, 0x88a8, 0x9100].map((t) => test([ldAbs(2, l)], BPF_JEQ, t)));
    const p = id === null ? tpid : and(tpid, test([ldAbs(2, l + 2), aluK(BPF_AND, 0xfff)], BPF_JEQ, id));
    this.off = { l: this.off.l + 4, n: this.off.n + 4 };
    return p;
  }

  // ---- arithmetic and relations ------------------------------------------------------

  /** Constant, or statements leaving the value in A plus the protocol checks loads need. */
  private arith(a: Arith): { c: number } | { stmts: Stmt[]; check: Pred | null } {
    switch (a.k) {
      case 'num':
        return { c: a.v >>> 0 };
      case 'len':
        return { stmts: [ldLen()], check: null };
      case 'neg': {
        const e = this.arith(a.e);
        if ('c' in e) return { c: -e.c >>> 0 };
        return { stmts: [...e.stmts, { code: BPF_ALU | BPF_NEG, k: 0 }], check: e.check };
      }
      case 'bin':
        return this.binary(a);
      case 'load':
        return this.load(a);
    }
  }

  private static readonly ALU: Readonly<Record<string, number>> = {
    '+': BPF_ADD, '-': BPF_SUB, '*': BPF_MUL, '/': BPF_DIV, '%': BPF_MOD, '&': BPF_AND, '|': BPF_OR,
    '^': BPF_XOR, '<<': BPF_LSH, '>>': BPF_RSH,
  };

  private binary(a: Extract<Arith, { k: 'bin' }>): { c: number } | { stmts: Stmt[]; check: Pred | null } {
    const l = this.arith(a.l);
    const r = this.arith(a.r);
    const op = Gen.ALU[a.op]!;
    if ('c' in r) {
      if ((a.op === '/' || a.op === '%') && r.c === 0) throw new FilterError(a.op === '/' ? 'division by zero' : 'modulus by zero', a.pos);
      if ((a.op === '<<' || a.op === '>>') && r.c > 31) throw new FilterError(`shift by more than 31 bits`, a.pos);
      if ('c' in l) return { c: fold(a.op, l.c, r.c) };
      return { stmts: [...l.stmts, aluK(op, r.c)], check: l.check };
    }
    const m = this.alloc(a.pos);
    const stmts = [...('c' in l ? [ldImm(l.c)] : l.stmts), st(m), ...r.stmts, tax(), ldMem(m), { code: BPF_ALU | op | BPF_X, k: 0 }];
    this.scratch--;
    return { stmts, check: joinChecks('c' in l ? null : l.check, r.check) };
  }

  private alloc(pos: number): number {
    if (this.scratch >= BPF_MEMWORDS) throw new FilterError('too many registers needed to evaluate expression', pos);
    return this.scratch++;
  }

  private load(a: Extract<Arith, { k: 'load' }>): { stmts: Stmt[]; check: Pred | null } {
    const n = this.off.n;
    let check: Pred | null;
    let transport = false;
    let base: number;
    switch (a.proto) {
      case 'link':
        check = null;
        base = 0;
        break;
      case 'ip':
      case 'ip6':
      case 'arp':
      case 'rarp':
        check = this.linktype(ETHERTYPE[a.proto]);
        base = n;
        break;
      case 'tcp':
      case 'udp':
      case 'sctp':
      case 'icmp':
      case 'igmp':
        check = and(this.ipProto(IPPROTO[a.proto]), this.notFragment());
        base = n;
        transport = true;
        break;
      case 'icmp6':
        check = and(this.linktype(ETHERTYPE.ip6), test([ldAbs(1, n + 6)], BPF_JEQ, IPPROTO.icmp6));
        base = n + 40;
        break;
    }
    const idx = this.arith(a.index);
    let stmts: Stmt[];
    if ('c' in idx) {
      stmts = transport ? [ldxMsh(n), ldInd(a.size, base + idx.c)] : [ldAbs(a.size, (base + idx.c) >>> 0)];
    } else {
      stmts = transport
        ? [...idx.stmts, ldxMsh(n), { code: BPF_ALU | BPF_ADD | BPF_X, k: 0 }, tax(), ldInd(a.size, base)]
        : [...idx.stmts, tax(), ldInd(a.size, base)];
      check = joinChecks(idx.check, check);
    }
    return { stmts, check };
  }

  relation(e: Extract<Expr, { k: 'rel' }>): Pred {
    let l = this.arith(e.l);
    let r = this.arith(e.r);
    let op = e.op;
    if ('c' in l && 'c' in r) return compare(op, l.c, r.c) ? TRUE : FALSE;
    if ('c' in l) {
      [l, r] = [r, l];
      op = SWAPPED[op];
    }
    if ('c' in l) throw new Error('unreachable');
    let rel: Pred;
    if ('c' in r) {
      // `x & m != 0` is a jset, as libpcap's optimizer leaves it
      const inner = e.l.k === 'bin' && e.l.op === '&' && r.c === 0 && (op === '=' || op === '!=') ? this.jsetOperand(e.l) : null;
      if (inner) rel = op === '!=' ? test(inner.stmts, BPF_JSET, inner.m) : not(test(inner.stmts, BPF_JSET, inner.m));
      else rel = relTest(l.stmts, op, r.c, BPF_K);
    } else {
      const m = this.alloc(e.pos);
      this.scratch--;
      rel = relTest([...l.stmts, st(m), ...r.stmts, tax(), ldMem(m)], op, 0, BPF_X);
    }
    const check = joinChecks(l.check, 'c' in r ? null : r.check);
    return check ? and(check, rel) : rel;
  }

  private jsetOperand(a: Extract<Arith, { k: 'bin' }>): { stmts: Stmt[]; m: number } | null {
    const m = this.arith(a.r);
    const x = this.arith(a.l);
    if (!('c' in m) || 'c' in x) return null;
    return { stmts: x.stmts, m: m.c };
  }

  // ---- expressions -------------------------------------------------------------------

  expr(e: Expr): Pred {
    switch (e.k) {
      case 'and': {
        const l = this.expr(e.l);
        return and(l, this.expr(e.r));
      }
      case 'or': {
        const l = this.expr(e.l);
        return or(l, this.expr(e.r));
      }
      case 'not':
        return not(this.expr(e.e));
      case 'id':
        return this.id(e);
      case 'proto':
        return this.protoAbbrev(e.proto, e.pos);
      case 'broadcast':
        return this.broadcast(e.proto, e.pos);
      case 'multicast':
        return this.multicast(e.proto, e.pos);
      case 'less':
        return not(test([ldLen()], BPF_JGT, e.n));
      case 'greater':
        return test([ldLen()], BPF_JGE, e.n);
      case 'vlan':
        return this.vlan(e.id);
      case 'rel':
        return this.relation(e);
    }
  }
}

const SWAPPED: Readonly<Record<RelOp, RelOp>> = { '>': '<', '<': '>', '>=': '<=', '<=': '>=', '=': '=', '!=': '!=' };

function relTest(stmts: Stmt[], op: RelOp, k: number, src: number): Pred {
  switch (op) {
    case '>':
      return test(stmts, BPF_JGT, k, src);
    case '>=':
      return test(stmts, BPF_JGE, k, src);
    case '=':
      return test(stmts, BPF_JEQ, k, src);
    case '<':
      return not(test(stmts, BPF_JGE, k, src));
    case '<=':
      return not(test(stmts, BPF_JGT, k, src));
    case '!=':
      return not(test(stmts, BPF_JEQ, k, src));
  }
}

function compare(op: RelOp, a: number, b: number): boolean {
  switch (op) {
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '=':
      return a === b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '!=':
      return a !== b;
  }
}

/** u32 arithmetic as the BPF machine does it. */
function fold(op: string, a: number, b: number): number {
  switch (op) {
    case '+':
      return (a + b) >>> 0;
    case '-':
      return (a - b) >>> 0;
    case '*':
      return Math.imul(a, b) >>> 0;
    case '/':
      return Math.floor(a / b) >>> 0;
    case '%':
      return a % b >>> 0;
    case '&':
      return (a & b) >>> 0;
    case '|':
      return (a | b) >>> 0;
    case '^':
      return (a ^ b) >>> 0;
    case '<<':
      return (a << b) >>> 0;
    default:
      return a >>> b;
  }
}

function joinChecks(a: Pred | null, b: Pred | null): Pred | null {
  if (a && b) return and(a, b);
  return a ?? b;
}

/** __pcap_atoin: a dotted address, possibly partial; bits = 8 per component given. */
function atoin(text: string, pos: number): { addr: number; bits: number } {
  const parts = text.split('.');
  let addr = 0;
  for (const p of parts) {
    const v = Number(p);
    if (!/^\d+$/.test(p) || v > 255) throw new FilterError(`invalid IPv4 address '${text}'`, pos);
    addr = ((addr << 8) | v) >>> 0;
  }
  return { addr, bits: parts.length * 8 };
}

function parseMac(s: string, pos: number): number[] {
  const hex = s.includes(':') || s.includes('-') || /^[0-9a-f]{1,2}\./i.test(s) && s.split('.').length === 6
    ? s.split(/[:\-.]/).map((x) => x.padStart(2, '0')).join('')
    : s.replace(/\./g, '');
  if (!/^[0-9a-f]{12}$/i.test(hex)) throw new FilterError(`bogus ethernet address ${s}`, pos);
  return Array.from({ length: 6 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
}

function ipv6Words(s: string): number[] {
  if (!isIPv6(s)) throw new Error(`not IPv6: ${s}`);
  let text = s;
  // an embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = text.slice(0, v4.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, null];
  const h = head === '' ? [] : head.split(':');
  const t = tail === null || tail === '' ? [] : tail.split(':');
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t].map((g) => parseInt(g, 16));
  return [0, 1, 2, 3].map((i) => ((groups[2 * i]! << 16) | groups[2 * i + 1]!) >>> 0);
}

/** The unoptimized DAG of an expression (null tree: accept all) and its two `ret` blocks. */
export function genCode(tree: Expr | null, snaplen: number): Block {
  const gen = new Gen();
  const accept = retBlock(snaplen);
  const reject = retBlock(0);
  if (tree === null) return accept;
  return gen.expr(tree)(accept, reject);
}
