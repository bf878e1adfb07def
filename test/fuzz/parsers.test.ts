// Fuzzes the parsers of untrusted text and bytes (test/helpers/fuzz.ts): eBPF assembly
// and .data files, hex and raw instruction bytes, classic BPF in every text format,
// tcpdump expressions and OCI seccomp profiles. Each input either parses or fails with a
// KernelError naming a valid errno, quickly. The fixed corpus at the top of each block
// holds the inputs that once broke a parser (regressions) and the valid seeds.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'vitest';
import { assemble, parseDataFile, dataFileProgram } from '../../kernel/bpf/asm.js';
import { checkProgram } from '../../kernel/bpf/check.js';
import { decodeInsns, encodeInsns, parseHexBytes } from '../../kernel/bpf/isa.js';
import { checkClassic } from '../../kernel/bpf/classic/checker.js';
import { convertClassic } from '../../kernel/bpf/classic/convert.js';
import { decodeSockFilters, type SockFilter } from '../../kernel/bpf/classic/isa.js';
import {
  formatBpfAsm, formatDd, formatDdd, formatOneLine, formatTcpdump, parseClassic, type ClassicTextFormat,
} from '../../kernel/bpf/classic/text.js';
import { compileFilter } from '../../subsystems/net/pcap-filter/index.js';
import { seccompCheckFilter } from '../../subsystems/seccomp/check.js';
import { compileProfile, decide, type Profile } from '../../subsystems/seccomp/profile.js';
import { DIFF_EXPRS } from '../subsystems/net/pcap-filter/exprs.js';
import { Fuzz, check, expectClean, iterations } from '../helpers/fuzz.js';

const FIXTURES = new URL('../fixtures/', import.meta.url);
const DATA_FILES = readdirSync(new URL('conformance/', FIXTURES)).filter((f) => f.endsWith('.data')).sort();
const dataText = (f: string): string => readFileSync(new URL(`conformance/${f}`, FIXTURES), 'utf8');

// ---------------------------------------------------------------------------------------
// eBPF text and bytes

const ASM_VOCAB = [
  'mov', 'mov32', 'add', 'add32', 'sub', 'mul', 'div', 'sdiv', 'mod', 'smod32', 'or', 'and', 'lsh', 'rsh', 'arsh32',
  'xor', 'neg', 'neg32', 'be16', 'le64', 'bswap32', 'movsx832', 'movsx3264', 'lddw', 'ldxw', 'ldxdw', 'ldxb', 'ldxsh',
  'stw', 'stxdw', 'stxb', 'ja', 'jeq', 'jne', 'jgt', 'jsgt', 'jset', 'jslt32', 'call', 'callx', 'exit', 'lock', 'fetch',
  'xchg', 'cmpxchg', 'ldabsw', 'ldindb', '%r0', '%r1', '%r10', '%r11', 'r3', '[%r1+4]', '[%r10-8]', '[%r1]', '[', ']',
  '+1', '-1', '+32767', '-32769', ',', 'local', 'label:', 'label', '#', '.', '0x', '%r99999999999999999999',
];

describe('eBPF assembly, .data files, hex', () => {
  it('regressions and corpus', () => {
    for (const t of ['', 'exit', 'mov %r0, 1\nexit', 'lddw %r0, 0x10000000000000000', 'ja +32768', 'ldxw %r0, [%r1+99999999999999999999]',
      'jeq %r1, 3, label\nlabel: exit', '-- raw\n0x' + 'f'.repeat(17), '-- mem\n0', '-- result\nx', '-- raw\n-1', '-- asm\nexit\n-- result\n0x1']) {
      expectClean('assemble', t, () => assemble(t));
      expectClean('parseDataFile', t, () => dataFileProgram(parseDataFile(t)));
    }
  });

  it('mutated conformance .data files', () => {
    const f = new Fuzz(101);
    const n = iterations(600);
    for (let i = 0; i < n; i++) {
      const t = f.mutate(dataText(f.pick(DATA_FILES)), ASM_VOCAB);
      const r = expectClean('parseDataFile', t, () => parseDataFile(t));
      if (r.ok) {
        const p = expectClean('dataFileProgram', t, () => dataFileProgram(r.value));
        if (p.ok && p.value.length > 0 && p.value.length < 4096) expectClean('checkProgram', t, () => checkProgram(p.value));
      }
    }
  });

  it('random assembler token soup', () => {
    const f = new Fuzz(102);
    const n = iterations(1500);
    for (let i = 0; i < n; i++) {
      const t = f.tokens(ASM_VOCAB, 1 + f.int(12));
      expectClean('assemble', t, () => assemble(t));
    }
  });

  it('hex text and raw instruction bytes', () => {
    const f = new Fuzz(103);
    const n = iterations(1500);
    for (let i = 0; i < n; i++) {
      const t = f.chance(0.5) ? f.text(f.int(64)) : f.tokens(['0x', 'ff', '00', 'a', ' ', ',', 'g', '0X1f', '\n'], f.int(40));
      const b = parseHexBytes(t);
      check(b === null || b instanceof Uint8Array, 'parseHexBytes returned junk', t);
      const raw = f.bytes(8 * (1 + f.int(16)));
      const insns = decodeInsns(raw);
      check(Buffer.from(encodeInsns(insns)).equals(Buffer.from(raw)), 'decode/encode does not round-trip', raw);
      expectClean('checkProgram', raw, () => checkProgram(insns));
      expectClean('checkProgram unpriv', raw, () => checkProgram(insns, { privileged: false, allowsLdAbs: false }));
    }
  });
});

// ---------------------------------------------------------------------------------------
// Classic BPF

const CLASSIC_VOCAB = [
  'ld', 'ldh', 'ldb', 'ldi', 'ldx', 'ldxi', 'ldxb', 'ldxh', 'st', 'stx', 'add', 'sub', 'mul', 'div', 'mod', 'neg', 'and',
  'or', 'xor', 'lsh', 'rsh', 'tax', 'txa', 'jmp', 'ja', 'jeq', 'jneq', 'jne', 'jlt', 'jle', 'jgt', 'jge', 'jset', 'ret',
  '#0', '#1', '#0x800', '#-1', '#4294967296', 'a', 'x', '%a', '%x', 'M[0]', 'M[15]', 'M[16]', 'M[-1]', '[12]', '[x+14]',
  '[x + 14]', '4*([14]&0xf)', '#len', 'len', '#proto', 'proto', 'type', 'ifidx', 'nla', 'rxhash', 'cpu', 'vlan_tci', 'rand',
  'poff', 'L1', 'L1:', 'lbl:', 'lbl', ',', 'jt', 'jf', '{', '}', '0x28,', '(000)', 'k', '=', 'code:', 'if', '/*', '*/', ';',
];

function classicCorpus(): string[] {
  const progs: SockFilter[][] = DIFF_EXPRS.slice(0, 40).map((e) => compileFilter(e));
  const out: string[] = [];
  for (const p of progs) out.push(formatDdd(p), formatDd(p), formatOneLine(p), formatTcpdump(p), formatBpfAsm(p));
  return out;
}

const FORMATS: (ClassicTextFormat | undefined)[] = [undefined, 'ddd', 'oneline', 'dd', 'd', 'bpf_asm'];

function classicAll(f: Fuzz, t: string): void {
  const fmt = f.pick(FORMATS);
  const r = expectClean('parseClassic', t, () => parseClassic(t, fmt));
  if (!r.ok) return;
  classicProgram(r.value, t);
}

function classicProgram(prog: SockFilter[], input: unknown): void {
  if (expectClean('checkClassic', input, () => checkClassic(prog)).ok) {
    expectClean('convertClassic', input, () => convertClassic(prog));
  }
  const s = expectClean('seccompCheckFilter', input, () => seccompCheckFilter(prog));
  if (s.ok) expectClean('convertClassic seccomp', input, () => convertClassic(s.value, { seccomp: true }));
}

describe('classic BPF text, checkers and conversion', () => {
  const corpus = classicCorpus();

  it('regressions and corpus', () => {
    const f = new Fuzz(200);
    for (const t of [...corpus, '', '0', '1\n6 0 0 4294967296', '{ 0x06, 0, 0, 0 }', '(000) ret #0', 'ret #0', 'l: l: ret #0',
      'jmp l', 'jeq #1, a, b\na: ret #1\nb: ret #0', 'ld [x+4294967295]\nret a', '/* unterminated', 'ld M[99999999999]\nret a',
      // regression: a lone \r (or U+2028) inside a bpf_asm line made the operand regex fail (TypeError)
      '4,40 0 0 12,21 0 \r2821,6 0 0 262144,6 0 \u0007 0', 'ld\r[12]\nret #0', 'ret\u2028#0']) classicAll(f, t);
  });

  it('mutated tcpdump -d/-dd/-ddd and bpf_asm listings', () => {
    const f = new Fuzz(201);
    const n = iterations(1500);
    for (let i = 0; i < n; i++) classicAll(f, f.mutate(f.pick(corpus), CLASSIC_VOCAB));
  });

  it('random bpf_asm token soup', () => {
    const f = new Fuzz(202);
    const n = iterations(1500);
    for (let i = 0; i < n; i++) {
      const lines: string[] = [];
      for (let k = 0, m = 1 + f.int(8); k < m; k++) lines.push(f.tokens(CLASSIC_VOCAB, 1 + f.int(5)));
      classicAll(f, lines.join('\n'));
    }
  });

  it('random sock_filter arrays through the classic and seccomp checkers', () => {
    const f = new Fuzz(203);
    const n = iterations(2000);
    const codes = [0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x07, 0x14, 0x15, 0x16, 0x1c, 0x1d, 0x20, 0x25, 0x28, 0x30, 0x35, 0x40,
      0x45, 0x48, 0x50, 0x54, 0x60, 0x61, 0x64, 0x74, 0x80, 0x84, 0x87, 0x94, 0xa4, 0xb1, 0x16, 0x0e];
    for (let i = 0; i < n; i++) {
      const len = 1 + f.int(12);
      const prog: SockFilter[] = [];
      for (let k = 0; k < len; k++) {
        prog.push({
          code: f.chance(0.8) ? f.pick(codes) : f.int(0x10000),
          jt: f.int(4), jf: f.int(4),
          k: f.chance(0.5) ? f.int(70) : f.chance(0.5) ? (0xfffff000 + f.int(0x1000)) >>> 0 : f.u32(),
        });
      }
      if (f.chance(0.7)) prog.push({ code: 0x06, jt: 0, jf: 0, k: f.u32() });
      classicProgram(prog, prog);
      const raw = f.bytes(8 * f.int(6));
      expectClean('decodeSockFilters', raw, () => classicProgram(decodeSockFilters(raw), raw));
    }
  });
});

// ---------------------------------------------------------------------------------------
// tcpdump expressions

const PCAP_VOCAB = [
  'ip', 'ip6', 'arp', 'rarp', 'tcp', 'udp', 'icmp', 'icmp6', 'sctp', 'igmp', 'ether', 'host', 'net', 'port', 'portrange',
  'src', 'dst', 'and', 'or', 'not', '&&', '||', '!', '(', ')', 'proto', 'len', 'greater', 'less', 'mask', 'broadcast',
  'multicast', 'vlan', 'mpls', 'gateway', 'tcp[13]', 'tcp[tcpflags]', 'tcp-syn', 'tcp-ack', 'icmp[icmptype]', 'icmp-echo',
  'ip[0:1]', 'ip[2:2]', 'ether[0:4]', 'ip6[40]', '[', ']', ':', '+', '-', '*', '/', '%', '&', '|', '^', '<<', '>>', '=',
  '==', '!=', '<', '<=', '>', '>=', '10.0.0.1', '10.0.0.0/8', '10.0.0', '255.255.0.0', '2001:db8::1', 'fe80::/10', '::',
  '1:2:3:4:5:6', 'aa:bb:cc:dd:ee:ff', '80', '65535', '65536', '1-100', 'http', 'domain', 'localhost', '\\tcp', '\\udp',
  'protochain', 'inbound', 'outbound', 'llc', 'ifname', 'eth0', 'type', 'subtype', 'wlan', 'decnet', 'iso', 'atalk', 'ipx',
];

describe('tcpdump expressions (compileFilter)', () => {
  it('regressions and corpus', () => {
    // regressions: 2000 nested '(' or '!' overflowed the JS stack (RangeError)
    for (const t of [...DIFF_EXPRS, '!'.repeat(5000) + 'ip', 'not '.repeat(3000) + 'ip', 'len = ' + '-'.repeat(3000) + '1', '', '(', ')', 'ip[', 'tcp[1:3]', 'ip[0:0]', 'len / 0 = 1', 'len % 0 = 1', 'ip[99999999999] = 1',
      'port 99999', 'net 10.0.0.1/33', '1:2:3:4:5:6:7', '!'.repeat(2000) + 'ip', '('.repeat(2000) + 'ip' + ')'.repeat(2000),
      Array(500).fill('ip').join(' or '), Array(250).fill('tcp port 80').join(' and '), 'ip[0] = ' + '9'.repeat(400)]) {
      expectClean('compileFilter', t, () => compileFilter(t));
      expectClean('compileFilter -O', t, () => compileFilter(t, { optimize: false }));
    }
  });

  it('mutated expressions', () => {
    const f = new Fuzz(301);
    const n = iterations(1500);
    for (let i = 0; i < n; i++) {
      const t = f.mutate(f.pick(DIFF_EXPRS), PCAP_VOCAB);
      const r = expectClean('compileFilter', t, () => compileFilter(t, { optimize: f.chance(0.8) }));
      if (r.ok) expectClean('checkClassic', t, () => checkClassic(r.value));
    }
  });

  it('random token soup', () => {
    const f = new Fuzz(302);
    const n = iterations(1500);
    for (let i = 0; i < n; i++) {
      const t = f.tokens(PCAP_VOCAB, 1 + f.int(10));
      expectClean('compileFilter', t, () => compileFilter(t, { optimize: f.chance(0.8) }));
    }
  });
});

// ---------------------------------------------------------------------------------------
// OCI / Docker seccomp profiles

const DOCKER = readFileSync(new URL('profiles/docker-default.json', FIXTURES), 'utf8');

/** A JSON value of random shape, biased towards what a profile holds. */
function randomJson(f: Fuzz, depth: number): unknown {
  switch (f.int(depth > 2 ? 6 : 9)) {
    case 0: return null;
    case 1: return f.chance(0.5);
    case 2: return f.pick([0, 1, -1, 1.5, 2 ** 53, -(2 ** 63), 1e300, 4095, 4096, 0x7fffffff]);
    case 3: return f.pick(['SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO', 'SCMP_ACT_KILL', 'SCMP_CMP_EQ', 'SCMP_CMP_MASKED_EQ',
      'SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'read', 'write', 'socket', '', 'x', '1', '0x10', '-1', '6.18', '99.99.99']);
    case 4: return f.text(f.int(8));
    case 5: return f.pick(['names', 'action', 'args', 'index', 'value', 'valueTwo', 'op', 'errnoRet']);
    case 6: case 7: return Array.from({ length: f.int(4) }, () => randomJson(f, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let k = 0, m = f.int(4); k < m; k++) {
        o[f.pick(['defaultAction', 'defaultErrnoRet', 'architectures', 'archMap', 'syscalls', 'names', 'action', 'args',
          'errnoRet', 'includes', 'excludes', 'caps', 'arches', 'minKernel', 'index', 'value', 'valueTwo', 'op',
          'architecture', 'subArchitectures', '__proto__', 'constructor'])] = randomJson(f, depth + 1);
      }
      return o;
    }
  }
}

/** Replaces one random node of a JSON tree with a random value (or deletes it). */
function mutateJson(f: Fuzz, v: unknown): unknown {
  if (f.chance(0.15) || v === null || typeof v !== 'object') return f.chance(0.1) ? undefined : randomJson(f, 1);
  if (Array.isArray(v)) {
    if (v.length === 0) return [randomJson(f, 1)];
    const out = v.slice();
    const i = f.int(out.length);
    out[i] = mutateJson(f, out[i]);
    return out;
  }
  const o = { ...(v as Record<string, unknown>) };
  const keys = Object.keys(o);
  if (keys.length === 0 || f.chance(0.1)) o[f.pick(['defaultAction', 'syscalls', 'args', 'names', 'errnoRet'])] = randomJson(f, 1);
  else { const k = f.pick(keys); o[k] = mutateJson(f, o[k]); }
  return o;
}

function compileAndDecide(f: Fuzz, p: unknown): void {
  const r = expectClean('compileProfile', p, () => compileProfile(p as Profile, f.chance(0.2) ? { nativeArch: f.pick(['x86', 'arm64', 'x32', 'zz']) } : {}));
  if (!r.ok) return;
  const s = expectClean('seccompCheckFilter', p, () => seccompCheckFilter(r.value.program));
  check(s.ok, `compiled profile fails the seccomp checker: ${s.ok ? '' : s.message}`, p);
  expectClean('decide', p, () => decide(r.value, 0xc000003e, f.int(500), [0n, 1n, 2n, 3n, 4n, 5n]));
}

describe('seccomp profiles (compileProfile)', () => {
  const docker = JSON.parse(DOCKER) as Profile;
  const small: Profile = {
    defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
    syscalls: [
      { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
      { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] },
      { names: ['socket'], action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: [{ index: 0, value: 40, valueTwo: 0, op: 'SCMP_CMP_NE' }] },
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
    ],
  };

  it('regressions and corpus', () => {
    const f = new Fuzz(400);
    for (const p of [docker, small, null, 1, 'x', [], {}, { defaultAction: 'SCMP_ACT_ALLOW' }, { defaultAction: 'SCMP_ACT_NOPE' },
      { defaultAction: 'SCMP_ACT_ALLOW', syscalls: 'read' }, { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [null] },
      { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ action: 'SCMP_ACT_ERRNO' }] },
      { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: 'read', action: 'SCMP_ACT_ERRNO' }] },
      { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1.5, op: 'SCMP_CMP_EQ' }] }] },
      { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 'x', op: 'SCMP_CMP_EQ' }] }] },
      { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_BOGUS' }] }] },
      { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: null }] },
      { defaultAction: 'SCMP_ACT_ALLOW', architectures: 'SCMP_ARCH_X86', syscalls: [] },
      { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [7], action: 'SCMP_ACT_ERRNO', includes: { caps: 'CAP_SYS_ADMIN' } }] },
    ]) compileAndDecide(f, p);
  });

  it('mutated profiles', () => {
    const f = new Fuzz(401);
    const n = iterations(600);
    for (let i = 0; i < n; i++) {
      let p: unknown = f.chance(0.2) ? docker : small;
      for (let k = 0, m = 1 + f.int(3); k < m; k++) p = mutateJson(f, p);
      compileAndDecide(f, p);
    }
  });

  it('mutated profile JSON text (as the CLI reads it)', () => {
    const f = new Fuzz(402);
    const n = iterations(300);
    const texts = [JSON.stringify(small, null, 1), DOCKER.slice(0, 4000)];
    for (let i = 0; i < n; i++) {
      let p: unknown;
      try {
        p = JSON.parse(f.mutate(f.pick(texts), ['"names"', '"action"', '{', '}', '[', ']', 'null', '"args"', '"SCMP_ACT_LOG"']));
      } catch {
        continue;
      }
      compileAndDecide(f, p);
    }
  });
});
