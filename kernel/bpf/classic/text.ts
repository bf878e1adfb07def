/**
 * Classic BPF as text, in the formats the real tools use:
 *
 *   tcpdump -d     (000) ldh      [12]                 listing, libpcap's bpf_image()
 *                  (001) jeq      #0x800           jt 2	jf 3
 *   tcpdump -dd    { 0x28, 0, 0, 0x0000000c },         C initialisers
 *   tcpdump -ddd   4                                   count, then `code jt jf k` lines
 *                  40 0 0 12
 *   one line       4,40 0 0 12,21 0 1 2048,...         -ddd joined by commas, as bpf_asm
 *                                                      prints it and cbpf-run reads it
 *   bpf_asm        l0: ldh [12]                        tools/bpf/bpf_asm (labels, jneq,
 *                      jeq #0x800, l1, l2              ld #proto, ldx 4*([14]&0xf) ...)
 *
 * Printers produce exactly what the tools print; parseClassic() reads any of them.
 * Parse errors are KernelError EINVAL with a line number.
 */
import { KernelError } from '../../errno.js';
import {
  BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_B, BPF_DIV, BPF_H, BPF_IMM, BPF_IND, BPF_JA, BPF_JEQ,
  BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_LDX, BPF_LEN, BPF_LSH, BPF_MEM, BPF_MOD,
  BPF_MSH, BPF_MUL, BPF_NEG, BPF_OR, BPF_RSH, BPF_ST, BPF_STX, BPF_SUB, BPF_W, BPF_X, BPF_XOR,
} from '../isa.js';
import { isConditionalJump } from './checker.js';
import {
  ANCILLARY_NAMES, BPF_A, BPF_MAXINSNS, BPF_MISC, BPF_RET, BPF_TAX, BPF_TXA, SKF_AD,
  ancillaryK, ancillaryOf, sf, type SockFilter,
} from './isa.js';

function parseError(line: number, why: string): never {
  throw new KernelError('EINVAL', `line ${line}: ${why}`);
}

// ---------------------------------------------------------------------------------------
// Numeric forms

export function formatDdd(prog: readonly SockFilter[]): string {
  return `${prog.length}\n${prog.map((f) => `${f.code} ${f.jt} ${f.jf} ${f.k >>> 0}\n`).join('')}`;
}

export function formatDd(prog: readonly SockFilter[]): string {
  return prog
    .map((f) => `{ 0x${f.code.toString(16)}, ${f.jt}, ${f.jf}, 0x${(f.k >>> 0).toString(16).padStart(8, '0')} },\n`)
    .join('');
}

/** `N,code jt jf k,...` (no trailing comma; the parser accepts one). */
export function formatOneLine(prog: readonly SockFilter[]): string {
  return [String(prog.length), ...prog.map((f) => `${f.code} ${f.jt} ${f.jf} ${f.k >>> 0}`)].join(',');
}

function parseNumber(s: string, line: number): number {
  const t = s.trim();
  let v: number;
  if (/^[-+]?0x[0-9a-f]+$/i.test(t)) v = parseInt(t, 16);
  else if (/^[-+]?\d+$/.test(t)) v = parseInt(t, 10);
  else parseError(line, `bad number '${t}'`);
  if (v < -0x80000000 || v > 0xffffffff) parseError(line, `number out of range '${t}'`);
  return v;
}

function fromNumbers(nums: number[], line: number): SockFilter {
  const [code, jt, jf, k] = nums as [number, number, number, number];
  if (code < 0 || code > 0xffff) parseError(line, `bad opcode ${code}`);
  if (jt < 0 || jt > 255 || jf < 0 || jf > 255) parseError(line, `jump offsets must be 0..255`);
  return sf(code, jt, jf, k);
}

/** The `-ddd` listing and the one-line comma form (the count must match). */
function parseDdd(text: string): SockFilter[] {
  const parts = text.split(/[\n,]/).map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) parseError(1, 'empty program');
  const count = parseNumber(parts[0]!, 1);
  const body = parts.slice(1).map((p, n) => {
    const nums = p.split(/\s+/).map((x) => parseNumber(x, n + 2));
    if (nums.length !== 4) parseError(n + 2, `expected 'code jt jf k', got '${p}'`);
    return fromNumbers(nums, n + 2);
  });
  if (body.length !== count) parseError(1, `count ${count} does not match ${body.length} instructions`);
  return body;
}

function parseDd(text: string): SockFilter[] {
  const out: SockFilter[] = [];
  const re = /\{\s*([^,}]+),\s*([^,}]+),\s*([^,}]+),\s*([^,}]+?)\s*\}/g;
  for (const m of text.matchAll(re)) {
    const line = text.slice(0, m.index).split('\n').length;
    out.push(fromNumbers([m[1]!, m[2]!, m[3]!, m[4]!].map((x) => parseNumber(x, line)), line));
  }
  if (out.length === 0) parseError(1, 'no { code, jt, jf, k } entries');
  return out;
}

// ---------------------------------------------------------------------------------------
// Mnemonics, shared by the -d listing and bpf_asm

const ALU_NAMES: readonly [string, number][] = [
  ['add', BPF_ADD], ['sub', BPF_SUB], ['mul', BPF_MUL], ['div', BPF_DIV], ['mod', BPF_MOD],
  ['and', BPF_AND], ['or', BPF_OR], ['xor', BPF_XOR], ['lsh', BPF_LSH], ['rsh', BPF_RSH],
];
const JMP_NAMES: readonly [string, number][] = [['jeq', BPF_JEQ], ['jgt', BPF_JGT], ['jge', BPF_JGE], ['jset', BPF_JSET]];
const SIZE_NAMES: readonly [string, number][] = [['ld', BPF_W], ['ldh', BPF_H], ['ldb', BPF_B]];

/** libpcap's names for ancillary offsets in `tcpdump -d` (they differ from bpf_asm's). */
const TCPDUMP_ANCILLARY: Readonly<Record<number, string>> = {
  ...ANCILLARY_NAMES,
  [SKF_AD.SKF_AD_ALU_XOR_X]: 'xor_x',
  [SKF_AD.SKF_AD_VLAN_TAG_PRESENT]: 'vlanp',
  [SKF_AD.SKF_AD_RANDOM]: 'random',
};

const hex = (k: number): string => `0x${(k >>> 0).toString(16)}`;

/** bpf_image(): op and operand of one instruction ('unimp' for unknown codes). */
function image(f: SockFilter, n: number): { op: string; operand: string } {
  const k = f.k >>> 0;
  const kd = k | 0; // libpcap prints %d of the u32
  const cls = f.code & 0x07;
  if (f.code === (BPF_RET | BPF_K)) return { op: 'ret', operand: `#${kd}` };
  if (f.code === (BPF_RET | BPF_A)) return { op: 'ret', operand: '' };
  for (const [name, size] of SIZE_NAMES) {
    if (f.code === (BPF_LD | size | BPF_ABS)) {
      const ad = ancillaryOf(k);
      const sym = ad === null ? undefined : TCPDUMP_ANCILLARY[ad];
      return { op: name, operand: sym !== undefined ? `[${sym}]` : `[${kd}]` };
    }
    if (f.code === (BPF_LD | size | BPF_IND)) return { op: name, operand: `[x + ${kd}]` };
  }
  switch (f.code) {
    case BPF_LD | BPF_W | BPF_LEN: return { op: 'ld', operand: '#pktlen' };
    case BPF_LD | BPF_IMM: return { op: 'ld', operand: `#${hex(k)}` };
    case BPF_LDX | BPF_IMM: return { op: 'ldx', operand: `#${hex(k)}` };
    case BPF_LDX | BPF_MSH | BPF_B: return { op: 'ldxb', operand: `4*([${kd}]&0xf)` };
    case BPF_LD | BPF_MEM: return { op: 'ld', operand: `M[${kd}]` };
    case BPF_LDX | BPF_MEM: return { op: 'ldx', operand: `M[${kd}]` };
    case BPF_ST: return { op: 'st', operand: `M[${kd}]` };
    case BPF_STX: return { op: 'stx', operand: `M[${kd}]` };
    case BPF_JMP | BPF_JA: return { op: 'ja', operand: `${(n + 1 + kd) | 0}` };
    case BPF_ALU | BPF_NEG: return { op: 'neg', operand: '' };
    case BPF_MISC | BPF_TAX: return { op: 'tax', operand: '' };
    case BPF_MISC | BPF_TXA: return { op: 'txa', operand: '' };
    default:
  }
  if (cls === BPF_JMP) {
    const j = JMP_NAMES.find(([, op]) => (f.code & ~BPF_X) === (BPF_JMP | op));
    if (j) return { op: j[0], operand: f.code & BPF_X ? 'x' : `#${hex(k)}` };
  }
  if (cls === BPF_ALU) {
    const a = ALU_NAMES.find(([, op]) => (f.code & ~BPF_X) === (BPF_ALU | op));
    if (a) {
      if (f.code & BPF_X) return { op: a[0], operand: 'x' };
      const asHex = a[1] === BPF_AND || a[1] === BPF_OR || a[1] === BPF_XOR;
      return { op: a[0], operand: asHex ? `#${hex(k)}` : `#${kd}` };
    }
  }
  return { op: 'unimp', operand: hex(f.code) };
}

/** `tcpdump -d`: libpcap's bpf_image() lines, byte for byte (trailing spaces included). */
export function formatTcpdump(prog: readonly SockFilter[]): string {
  return prog
    .map((f, n) => {
      const { op, operand } = image(f, n);
      const idx = String(n).padStart(3, '0');
      if ((f.code & 0x07) === BPF_JMP && (f.code & 0xf0) !== BPF_JA) {
        return `(${idx}) ${op.padEnd(8)} ${operand.padEnd(16)} jt ${n + 1 + f.jt}\tjf ${n + 1 + f.jf}\n`;
      }
      return `(${idx}) ${op.padEnd(8)} ${operand}\n`;
    })
    .join('');
}

// ---------------------------------------------------------------------------------------
// One instruction in words (shared by the -d and bpf_asm parsers)

const ANC_BY_NAME = new Map<string, number>([
  ...Object.entries(TCPDUMP_ANCILLARY).map(([ad, name]) => [name, Number(ad)] as [string, number]),
  // bpf_asm's spellings (tools/bpf/bpf_exp.l)
  ...Object.entries(ANCILLARY_NAMES).map(([ad, name]) => [name, Number(ad)] as [string, number]),
  ['vlan_pr', SKF_AD.SKF_AD_VLAN_TAG_PRESENT],
  ['rand', SKF_AD.SKF_AD_RANDOM],
]);

interface Operand {
  kind: 'imm' | 'x' | 'a' | 'abs' | 'ind' | 'mem' | 'msh' | 'len' | 'anc' | 'none' | 'label';
  k: number;
  label?: string;
}

function parseOperand(text: string, line: number): Operand {
  const t = text.replace(/\s+/g, '');
  if (t === '') return { kind: 'none', k: 0 };
  if (/^%?x$/i.test(t)) return { kind: 'x', k: 0 };
  if (/^%?a$/i.test(t)) return { kind: 'a', k: 0 };
  if (/^#?(len|pktlen)$/i.test(t)) return { kind: 'len', k: 0 };
  let m = /^#?\[?([a-z_]+)\]?$/i.exec(t);
  if (m && ANC_BY_NAME.has(m[1]!.toLowerCase())) return { kind: 'anc', k: ancillaryK(ANC_BY_NAME.get(m[1]!.toLowerCase())!) };
  if ((m = /^#(.+)$/.exec(t))) return { kind: 'imm', k: parseNumber(m[1]!, line) >>> 0 };
  if ((m = /^\[%?x\+(.+)\]$/i.exec(t))) return { kind: 'ind', k: parseNumber(m[1]!, line) >>> 0 };
  if ((m = /^\[%?x\]$/i.exec(t))) return { kind: 'ind', k: 0 };
  if ((m = /^\[(.+)\]$/.exec(t))) return { kind: 'abs', k: parseNumber(m[1]!, line) >>> 0 };
  if ((m = /^M\[(.+)\]$/.exec(t))) return { kind: 'mem', k: parseNumber(m[1]!, line) >>> 0 };
  if ((m = /^4\*\(\[(.+)\]&0xf\)$/i.exec(t))) return { kind: 'msh', k: parseNumber(m[1]!, line) >>> 0 };
  if (/^[-+]?(0x[0-9a-f]+|\d+)$/i.test(t)) return { kind: 'imm', k: parseNumber(t, line) >>> 0 };
  if (/^[a-z_][a-z0-9_]*$/i.test(t)) return { kind: 'label', k: 0, label: t };
  parseError(line, `bad operand '${text.trim()}'`);
}

/** Encodes op + operand (no jump targets) into code and k. */
function encode(op: string, o: Operand, line: number): { code: number; k: number } {
  const bad = (): never => parseError(line, `bad operand for ${op}`);
  const size = SIZE_NAMES.find(([n]) => n === op)?.[1];
  if (size !== undefined) {
    switch (o.kind) {
      case 'abs': return { code: BPF_LD | size | BPF_ABS, k: o.k };
      case 'ind': return { code: BPF_LD | size | BPF_IND, k: o.k };
      case 'anc': return { code: BPF_LD | size | BPF_ABS, k: o.k };
      default:
    }
    if (op !== 'ld') bad();
    switch (o.kind) {
      case 'imm': return { code: BPF_LD | BPF_IMM, k: o.k };
      case 'len': return { code: BPF_LD | BPF_W | BPF_LEN, k: 0 };
      case 'mem': return { code: BPF_LD | BPF_MEM, k: o.k };
      default: return bad();
    }
  }
  switch (op) {
    case 'ldi': return o.kind === 'imm' ? { code: BPF_LD | BPF_IMM, k: o.k } : bad();
    case 'ldxi': return o.kind === 'imm' ? { code: BPF_LDX | BPF_IMM, k: o.k } : bad();
    case 'ldx':
    case 'ldxb':
      if (o.kind === 'msh') return { code: BPF_LDX | BPF_MSH | BPF_B, k: o.k };
      if (op === 'ldxb') return bad();
      if (o.kind === 'imm') return { code: BPF_LDX | BPF_IMM, k: o.k };
      if (o.kind === 'len') return { code: BPF_LDX | BPF_W | BPF_LEN, k: 0 };
      if (o.kind === 'mem') return { code: BPF_LDX | BPF_MEM, k: o.k };
      return bad();
    case 'st': return o.kind === 'mem' ? { code: BPF_ST, k: o.k } : bad();
    case 'stx': return o.kind === 'mem' ? { code: BPF_STX, k: o.k } : bad();
    case 'ret':
      if (o.kind === 'imm') return { code: BPF_RET | BPF_K, k: o.k };
      if (o.kind === 'a' || o.kind === 'none') return { code: BPF_RET | BPF_A, k: 0 };
      if (o.kind === 'x') return { code: BPF_RET | BPF_X, k: 0 };
      return bad();
    case 'tax': return { code: BPF_MISC | BPF_TAX, k: 0 };
    case 'txa': return { code: BPF_MISC | BPF_TXA, k: 0 };
    case 'neg': return { code: BPF_ALU | BPF_NEG, k: 0 };
    default:
  }
  const alu = ALU_NAMES.find(([n]) => n === op)?.[1];
  if (alu !== undefined) {
    if (o.kind === 'x') return { code: BPF_ALU | alu | BPF_X, k: 0 };
    if (o.kind === 'imm') return { code: BPF_ALU | alu | BPF_K, k: o.k };
    return bad();
  }
  const jmp = JMP_NAMES.find(([n]) => n === op)?.[1];
  if (jmp !== undefined) {
    if (o.kind === 'x') return { code: BPF_JMP | jmp | BPF_X, k: 0 };
    if (o.kind === 'imm') return { code: BPF_JMP | jmp | BPF_K, k: o.k };
    return bad();
  }
  return parseError(line, `unknown instruction '${op}'`);
}

/** Lines of `tcpdump -d`: `(NNN) op operand [jt T jf F]` with absolute targets. */
function parseListing(text: string): SockFilter[] {
  const out: SockFilter[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    const m = /^\((\d+)\)\s+(\S+)\s*(.*?)\s*(?:jt\s+(\d+)\s+jf\s+(\d+))?\s*$/.exec(raw);
    if (!m) parseError(line, `not a tcpdump -d line: '${raw}'`);
    const n = Number(m[1]);
    if (n !== out.length) parseError(line, `expected instruction (${String(out.length).padStart(3, '0')})`);
    const op = m[2]!.toLowerCase();
    if (op === 'unimp') {
      // libpcap prints codes it has no name for (ldx #len among them) as `unimp 0xCODE`.
      out.push(sf(parseNumber(m[3]!, line), 0, 0, 0));
      return;
    }
    if (op === 'ja') {
      out.push(sf(BPF_JMP | BPF_JA, 0, 0, parseNumber(m[3]!, line) - n - 1));
      return;
    }
    const { code, k } = encode(op, parseOperand(m[3]!, line), line);
    let jt = 0;
    let jf = 0;
    if (isConditionalJump(code)) {
      if (m[4] === undefined) parseError(line, `${op} needs jt and jf`);
      jt = Number(m[4]) - n - 1;
      jf = Number(m[5]) - n - 1;
      if (jt < 0 || jt > 255 || jf < 0 || jf > 255) parseError(line, 'jump target out of range');
    }
    out.push(sf(code, jt, jf, k));
  });
  return out;
}

// ---------------------------------------------------------------------------------------
// bpf_asm

/**
 * tools/bpf/bpf_asm syntax: `label:` prefixes, `;` and `/* *\/` comments, `#` comment lines,
 * conditional jumps with one (`jeq #1, yes` — false falls through) or two labels, `jneq`/
 * `jne`/`jlt`/`jle` (encoded as the opposite jump, true falls through), `jmp`/`ja label`,
 * `ret a|x|#k`, `%x`/`%a` register spellings, numbers in decimal, 0x hex, 0b binary and
 * 0-prefixed octal.
 */
export function parseBpfAsm(text: string): SockFilter[] {
  const stripped = text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' '));
  interface Pending { code: number; k: number; jt?: string; jf?: string; ja?: string; line: number }
  const insns: Pending[] = [];
  const labels = new Map<string, number>();
  stripped.split('\n').forEach((raw, i) => {
    const line = i + 1;
    let s = raw.replace(/;.*$/, '');
    if (/^#/.test(s)) return;
    s = s.trim();
    let m: RegExpExecArray | null;
    while ((m = /^([a-z_][a-z0-9_]*)\s*:\s*/i.exec(s))) {
      if (labels.has(m[1]!)) parseError(line, `label '${m[1]}' defined twice`);
      labels.set(m[1]!, insns.length);
      s = s.slice(m[0].length);
    }
    if (s === '') return;
    if (insns.length >= BPF_MAXINSNS) parseError(line, `only max ${BPF_MAXINSNS} insns allowed`);
    const sp = /^(\S+)\s*([\s\S]*)$/.exec(s)!; // [\s\S]: a lone \r or U+2028 inside the line
    const op = sp[1]!.toLowerCase();
    const args = sp[2]! === '' ? [] : sp[2]!.split(',').map((a) => a.trim());
    if (op === 'jmp' || op === 'ja') {
      if (args.length !== 1) parseError(line, `${op} takes one label`);
      insns.push({ code: BPF_JMP | BPF_JA, k: 0, ja: args[0]!, line });
      return;
    }
    const jumpLike: Readonly<Record<string, [string, boolean]>> = {
      jeq: ['jeq', false], jgt: ['jgt', false], jge: ['jge', false], jset: ['jset', false],
      jneq: ['jeq', true], jne: ['jeq', true], jlt: ['jge', true], jle: ['jgt', true],
    };
    const jl = jumpLike[op];
    if (jl) {
      const [base, inverted] = jl;
      const labelsGiven = args.slice(1);
      if (labelsGiven.length < 1 || labelsGiven.length > (inverted ? 1 : 2)) parseError(line, `bad labels for ${op}`);
      const { code, k } = encode(base, parseOperand(args[0] ?? '', line), line);
      if (inverted) insns.push({ code, k, jf: labelsGiven[0]!, line });
      else insns.push({ code, k, jt: labelsGiven[0]!, ...(labelsGiven[1] !== undefined ? { jf: labelsGiven[1] } : {}), line });
      return;
    }
    if (args.length > 1) parseError(line, `too many operands for ${op}`);
    const { code, k } = encode(op, parseOperand(normaliseNumbers(args[0] ?? ''), line), line);
    insns.push({ code, k, line });
  });
  const resolve = (label: string, from: Pending, idx: number, wide: boolean): number => {
    const to = labels.get(label);
    if (to === undefined) parseError(from.line, `no such label '${label}'`);
    const delta = to - idx - 1;
    if (!wide && (delta < 0 || delta > 255)) parseError(from.line, `insn #${idx} jumps to insn #${to}, which is out of range`);
    return delta;
  };
  return insns.map((p, idx) =>
    sf(
      p.code,
      p.jt !== undefined ? resolve(p.jt, p, idx, false) : 0,
      p.jf !== undefined ? resolve(p.jf, p, idx, false) : 0,
      p.ja !== undefined ? resolve(p.ja, p, idx, true) : p.k,
    ),
  );
}

/** bpf_asm's 0b binary and 0-prefixed octal, turned into decimal for parseOperand. */
function normaliseNumbers(s: string): string {
  return s
    .replace(/\b0b([01]+)\b/gi, (_, b: string) => String(parseInt(b, 2)))
    .replace(/(^|[^0-9a-fx])0([0-7]+)\b/gi, (_, pre: string, o: string) => `${pre}${parseInt(o, 8)}`);
}

/**
 * bpf_asm text for a program: a label `lN:` on every jump target, jumps by label, ancillary
 * loads by bpf_asm's names. parseBpfAsm(formatBpfAsm(p)) gives p back for any program whose
 * jumps land inside it.
 */
export function formatBpfAsm(prog: readonly SockFilter[]): string {
  const targets = new Set<number>();
  prog.forEach((f, n) => {
    if (f.code === (BPF_JMP | BPF_JA)) targets.add(n + 1 + (f.k >>> 0));
    else if (isConditionalJump(f.code)) {
      targets.add(n + 1 + f.jt);
      targets.add(n + 1 + f.jf);
    }
  });
  const label = (n: number): string => `l${n}`;
  return prog
    .map((f, n) => {
      const prefix = targets.has(n) ? `${label(n)}:` : '';
      let body: string;
      const ad = ancillaryOf(f.k >>> 0);
      if ((f.code & 0xe7) === (BPF_LD | BPF_ABS) && ad !== null && ANCILLARY_NAMES[ad] !== undefined) {
        const op = f.code === (BPF_LD | BPF_W | BPF_ABS) ? 'ld' : f.code === (BPF_LD | BPF_H | BPF_ABS) ? 'ldh' : 'ldb';
        body = `${op} #${ANCILLARY_NAMES[ad]}`;
      } else if (f.code === (BPF_JMP | BPF_JA)) {
        body = `jmp ${label(n + 1 + (f.k >>> 0))}`;
      } else if (isConditionalJump(f.code)) {
        const { op, operand } = image(f, n);
        body = `${op} ${operand}, ${label(n + 1 + f.jt)}, ${label(n + 1 + f.jf)}`;
      } else if (f.code === (BPF_RET | BPF_A)) {
        body = 'ret a';
      } else if (f.code === (BPF_RET | BPF_X)) {
        body = 'ret x';
      } else if (f.code === (BPF_LD | BPF_W | BPF_LEN)) {
        body = 'ld #len';
      } else if (f.code === (BPF_LDX | BPF_W | BPF_LEN)) {
        body = 'ldx #len';
      } else if (f.code === (BPF_LDX | BPF_MSH | BPF_B)) {
        body = `ldx 4*([${f.k >>> 0}]&0xf)`;
      } else {
        const { op, operand } = image(f, n);
        if (op === 'unimp') throw new KernelError('EINVAL', `insn ${n}: opcode 0x${f.code.toString(16)} has no bpf_asm form`);
        body = operand === '' ? op : `${op} ${operand}`;
      }
      return `${prefix.padEnd(6)}${body}\n`;
    })
    .join('');
}

// ---------------------------------------------------------------------------------------
// Any format

export type ClassicTextFormat = 'ddd' | 'oneline' | 'dd' | 'd' | 'bpf_asm';

export function detectFormat(text: string): ClassicTextFormat {
  const t = text.trim();
  if (/^\d+\s*,/.test(t)) return 'oneline';
  if (/^\d+\s*\n/.test(t) || /^\d+$/.test(t)) return 'ddd';
  if (t.startsWith('{')) return 'dd';
  if (/^\(\d+\)/.test(t)) return 'd';
  return 'bpf_asm';
}

/** Reads a classic program written in any of the formats above. */
export function parseClassic(text: string, format: ClassicTextFormat = detectFormat(text)): SockFilter[] {
  switch (format) {
    case 'ddd':
    case 'oneline':
      return parseDdd(text);
    case 'dd':
      return parseDd(text);
    case 'd':
      return parseListing(text);
    case 'bpf_asm':
      return parseBpfAsm(text);
  }
}

