/**
 * The eBPF assembly of the bpf_conformance suite (LLVM-like, `mov32 %r0, 1`,
 * `ldxw %r0, [%r1+4]`, `jeq %r1, 3, +2`, `lock fetch add [%r10-8], %r1`) in both
 * directions, and the suite's `.data` file format. test/fixtures/conformance/README.md
 * describes the syntax; the mnemonic tables below are the whole of it.
 *
 * Who calls this: the conformance runner (parseDataFile → dataFileProgram), tests that
 * want to write programs as text, and the CLI. The kernel's own printed form
 * (`r0 = *(u32 *)(r1 +0)`) is disasm.ts.
 *
 * Invariant: disassembleConformance(insns) assembles back to exactly the same bytes; an
 * instruction the syntax cannot express (a reserved field set, a pseudo LD_IMM64, an
 * unknown opcode) makes the disassembler throw rather than print something lossy.
 */
import { KernelError } from '../errno.js';
import {
  BPF_ALU, BPF_ALU64, BPF_ATOMIC, BPF_CALL, BPF_CMPXCHG, BPF_END, BPF_EXIT, BPF_FETCH, BPF_JA,
  BPF_JMP, BPF_JMP32, BPF_K, BPF_LD, BPF_LDX, BPF_MEM, BPF_MEMSX, BPF_ABS, BPF_IND, BPF_IMM,
  BPF_NEG, BPF_PSEUDO_CALL, BPF_ST, BPF_STX, BPF_TO_BE, BPF_TO_LE, BPF_X, BPF_XCHG, BPF_DW,
  BPF_W, BPF_H, BPF_B, BPF_MOV, BPF_DIV, BPF_MOD, type Insn, cls, decodeInsns, encodeInsns,
  insn, isLdImm64, parseHexBytes,
} from './isa.js';

// ---------------------------------------------------------------------------------------
// Mnemonic tables: one place for the spelling ↔ opcode correspondence, read by both the
// assembler and the disassembler.

/** ALU operation mnemonics; `off` distinguishes sdiv/smod from div/mod (off = 1). */
const ALU_OPS: Record<string, { op: number; off: number }> = {
  add: { op: 0x00, off: 0 },
  sub: { op: 0x10, off: 0 },
  mul: { op: 0x20, off: 0 },
  div: { op: 0x30, off: 0 },
  sdiv: { op: 0x30, off: 1 },
  or: { op: 0x40, off: 0 },
  and: { op: 0x50, off: 0 },
  lsh: { op: 0x60, off: 0 },
  rsh: { op: 0x70, off: 0 },
  mod: { op: 0x90, off: 0 },
  smod: { op: 0x90, off: 1 },
  xor: { op: 0xa0, off: 0 },
  mov: { op: 0xb0, off: 0 },
  arsh: { op: 0xc0, off: 0 },
};

/** movsx<from><to>: the sign-extended source width lives in off. */
const MOVSX: Record<string, { cls: number; off: number }> = {
  movsx832: { cls: BPF_ALU, off: 8 },
  movsx1632: { cls: BPF_ALU, off: 16 },
  movsx864: { cls: BPF_ALU64, off: 8 },
  movsx1664: { cls: BPF_ALU64, off: 16 },
  movsx3264: { cls: BPF_ALU64, off: 32 },
};

const JMP_OPS: Record<string, number> = {
  jeq: 0x10, jgt: 0x20, jge: 0x30, jset: 0x40, jne: 0x50, jsgt: 0x60, jsge: 0x70,
  jlt: 0xa0, jle: 0xb0, jslt: 0xc0, jsle: 0xd0,
};

const SIZES: Record<string, number> = { b: BPF_B, h: BPF_H, w: BPF_W, dw: BPF_DW };
const SIZE_NAME: Record<number, string> = { [BPF_B]: 'b', [BPF_H]: 'h', [BPF_W]: 'w', [BPF_DW]: 'dw' };

/** imm of BPF_STX|BPF_ATOMIC without the fetch bit. */
const ATOMIC_OPS: Record<string, number> = { add: 0x00, or: 0x40, and: 0x50, xor: 0xa0 };

const invert = (r: Record<string, number>): Map<number, string> =>
  new Map(Object.entries(r).map(([k, v]) => [v, k]));
const JMP_NAME = invert(JMP_OPS);
const ATOMIC_NAME = invert(ATOMIC_OPS);

// ---------------------------------------------------------------------------------------
// Assembler

type Operand =
  | { kind: 'reg'; reg: number }
  | { kind: 'imm'; value: bigint }
  | { kind: 'mem'; reg: number; off: number }
  | { kind: 'target'; text: string };

interface Line {
  no: number;
  mnemonic: string;
  operands: string[];
  pc: number;
}

class AsmError extends Error {}

const fail = (msg: string): never => {
  throw new AsmError(msg);
};

const NUM_RE = /^[+-]?(0x[0-9a-f]+|[0-9]+)$/i;

function parseNumber(text: string): bigint | null {
  const t = text.trim();
  if (!NUM_RE.test(t)) return null;
  const neg = t.startsWith('-');
  const body = t.replace(/^[+-]/, '');
  const v = BigInt(body);
  return neg ? -v : v;
}

function parseReg(text: string): number | null {
  const m = /^%?r(\d+)$/i.exec(text.trim());
  if (!m || m[1] === undefined) return null;
  const n = Number(m[1]);
  if (n > 10) fail(`invalid register '${text.trim()}'`);
  return n;
}

function parseMem(text: string): { reg: number; off: number } | null {
  const m = /^\[\s*([^\]+-]+?)\s*(?:([+-])\s*([0-9a-fx]+))?\s*\]$/i.exec(text.trim());
  if (!m || m[1] === undefined) return null;
  const reg = parseReg(m[1]);
  if (reg === null) return fail(`invalid register '${m[1]}' in '${text.trim()}'`);
  let off = 0n;
  if (m[3] !== undefined) {
    const v = parseNumber(m[3]);
    if (v === null) return fail(`invalid offset in '${text.trim()}'`);
    off = m[2] === '-' ? -v : v;
  }
  if (off < -32768n || off > 32767n) fail(`offset out of range in '${text.trim()}'`);
  return { reg, off: Number(off) };
}

function operand(text: string): Operand {
  const t = text.trim();
  if (t.startsWith('[')) {
    const mem = parseMem(t);
    if (!mem) return fail(`invalid memory operand '${t}'`);
    return { kind: 'mem', ...mem };
  }
  const reg = parseReg(t);
  if (reg !== null) return { kind: 'reg', reg };
  const value = parseNumber(t);
  if (value !== null) return { kind: 'imm', value };
  if (/^[A-Za-z_.][\w.]*$/.test(t)) return { kind: 'target', text: t };
  return fail(`invalid operand '${t}'`);
}

/** A 32-bit immediate: accepts -2^31 .. 2^32-1 (hex masks like 0xffffff80 are common). */
function imm32(v: bigint): number {
  if (v < -(1n << 31n) || v >= 1n << 32n) fail(`immediate out of range: ${v}`);
  return Number(BigInt.asIntN(32, v));
}

function want(line: Line, n: number): Operand[] {
  if (line.operands.length !== n) {
    fail(`'${line.mnemonic}' takes ${n} operand${n === 1 ? '' : 's'}, got ${line.operands.length}`);
  }
  return line.operands.map(operand);
}

function asReg(o: Operand | undefined, what: string): number {
  if (o?.kind !== 'reg') return fail(`expected a register as ${what}`);
  return o.reg;
}

function asMem(o: Operand | undefined): { reg: number; off: number } {
  if (o?.kind !== 'mem') return fail('expected a memory operand [%rN+off]');
  return o;
}

function asImm(o: Operand | undefined, what: string): bigint {
  if (o?.kind !== 'imm') return fail(`expected an immediate as ${what}`);
  return o.value;
}

/** Splits `a, b, [c+1]` at top-level commas. */
function splitOperands(text: string): string[] {
  const t = text.trim();
  if (t === '') return [];
  return t.split(',').map((s) => s.trim());
}

/** How many slots an instruction line takes (lddw: two). */
const slots = (mnemonic: string): number => (mnemonic === 'lddw' ? 2 : 1);

/**
 * Assembles conformance-syntax text. Labels (`name:`) may stand alone or precede an
 * instruction; the first `exit` also defines the label `exit` unless one is declared.
 * Throws KernelError(EINVAL, `line N: message`).
 */
export function assemble(text: string): Insn[] {
  const lines: Line[] = [];
  const labels = new Map<string, number>();
  let pc = 0;
  const rawLines = text.split(/\r?\n/);
  for (let i = 0; i < rawLines.length; i++) {
    const no = i + 1;
    let body = (rawLines[i] ?? '').replace(/(#|\/\/|;).*$/, '').trim();
    try {
      let m: RegExpExecArray | null;
      while ((m = /^([A-Za-z_.][\w.]*)\s*:\s*(.*)$/.exec(body)) !== null) {
        const name = m[1] ?? '';
        if (labels.has(name)) fail(`duplicate label '${name}'`);
        labels.set(name, pc);
        body = m[2] ?? '';
      }
    } catch (e) {
      throw wrap(e, no);
    }
    if (body === '') continue;
    const sp = body.search(/\s/);
    const mnemonic = (sp < 0 ? body : body.slice(0, sp)).toLowerCase();
    const rest = sp < 0 ? '' : body.slice(sp + 1);
    lines.push({ no, mnemonic, operands: splitOperands(rest), pc });
    pc += slots(mnemonic);
  }
  const firstExit = lines.find((l) => l.mnemonic === 'exit');
  if (firstExit && !labels.has('exit')) labels.set('exit', firstExit.pc);

  const out: Insn[] = [];
  for (const line of lines) {
    try {
      out.push(...assembleLine(line, labels));
    } catch (e) {
      throw wrap(e, line.no);
    }
  }
  return out;
}

function wrap(e: unknown, no: number): unknown {
  if (e instanceof AsmError) return new KernelError('EINVAL', `line ${no}: ${e.message}`);
  return e;
}

/** Relative offset to a jump target: a label, or `+N` / `-N` / `N` slots after pc+1. */
function target(o: Operand | undefined, line: Line, labels: Map<string, number>): bigint {
  if (o?.kind === 'imm') return o.value;
  if (o?.kind === 'target') {
    const at = labels.get(o.text);
    if (at === undefined) return fail(`undefined label '${o.text}'`);
    return BigInt(at - (line.pc + 1));
  }
  return fail('expected a jump target (label or +N)');
}

function off16(v: bigint): number {
  if (v < -32768n || v > 32767n) fail(`jump offset out of range: ${v}`);
  return Number(v);
}

function assembleLine(line: Line, labels: Map<string, number>): Insn[] {
  const mn = line.mnemonic;

  if (mn === 'exit') {
    want(line, 0);
    return [insn(BPF_JMP | BPF_EXIT)];
  }
  if (mn === 'lddw') {
    const [d, v] = want(line, 2);
    const value = asImm(v, 'value');
    if (value < -(1n << 63n) || value >= 1n << 64n) fail(`immediate out of range: ${value}`);
    const u = BigInt.asUintN(64, value);
    return [
      insn(BPF_LD | BPF_IMM | BPF_DW, asReg(d, 'destination'), 0, 0, Number(BigInt.asIntN(32, u))),
      insn(0, 0, 0, 0, Number(BigInt.asIntN(32, u >> 32n))),
    ];
  }
  if (mn === 'ja' || mn === 'ja32' || mn === 'gotol') {
    const [t] = want(line, 1);
    const rel = target(t, line, labels);
    if (mn === 'ja') return [insn(BPF_JMP | BPF_JA, 0, 0, off16(rel))];
    if (rel < -(1n << 31n) || rel >= 1n << 31n) fail(`jump offset out of range: ${rel}`);
    return [insn(BPF_JMP32 | BPF_JA, 0, 0, 0, Number(rel))];
  }
  if (mn === 'call' || mn === 'callx') {
    const first = line.operands[0] ?? '';
    const local = /^local\s+(.+)$/i.exec(first);
    if (mn === 'call' && local && line.operands.length === 1) {
      const rel = target(operand(local[1] ?? ''), line, labels);
      return [insn(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, imm32(rel))];
    }
    const [o] = want(line, 1);
    if (o?.kind === 'reg') return [insn(BPF_JMP | BPF_CALL | BPF_X, o.reg)];
    if (mn === 'callx') return fail('expected a register as call target');
    return [insn(BPF_JMP | BPF_CALL, 0, 0, 0, imm32(asImm(o, 'helper id')))];
  }
  if (mn === 'lock') return assembleAtomic(line);

  let m: RegExpExecArray | null;
  if ((m = /^(neg)(32|64)?$/.exec(mn))) {
    const [d] = want(line, 1);
    return [insn((m[2] === '32' ? BPF_ALU : BPF_ALU64) | BPF_NEG, asReg(d, 'destination'))];
  }
  const movsx = MOVSX[mn];
  if (movsx) {
    const [d, s] = want(line, 2);
    return [insn(movsx.cls | BPF_MOV | BPF_X, asReg(d, 'destination'), asReg(s, 'source'), movsx.off)];
  }
  if ((m = /^([a-z]+?)(32|64)?$/.exec(mn)) && m[1] !== undefined && ALU_OPS[m[1]]) {
    const def = ALU_OPS[m[1]];
    if (!def) return fail(`unknown mnemonic '${mn}'`);
    const c = m[2] === '32' ? BPF_ALU : BPF_ALU64;
    const [d, s] = want(line, 2);
    const dst = asReg(d, 'destination');
    if (s?.kind === 'reg') return [insn(c | def.op | BPF_X, dst, s.reg, def.off)];
    return [insn(c | def.op | BPF_K, dst, 0, def.off, imm32(asImm(s, 'source')))];
  }
  if ((m = /^(le|be|bswap|swap)(16|32|64)$/.exec(mn))) {
    const [d] = want(line, 1);
    const code = m[1] === 'le' ? BPF_ALU | BPF_END | BPF_TO_LE
      : m[1] === 'be' ? BPF_ALU | BPF_END | BPF_TO_BE : BPF_ALU64 | BPF_END;
    return [insn(code, asReg(d, 'destination'), 0, 0, Number(m[2]))];
  }
  if ((m = /^ldx(s?)(b|h|w|dw)$/.exec(mn))) {
    const size = SIZES[m[2] ?? ''] ?? 0;
    if (m[1] === 's' && size === BPF_DW) fail(`unknown mnemonic '${mn}'`);
    const [d, a] = want(line, 2);
    const mem = asMem(a);
    return [insn(BPF_LDX | (m[1] === 's' ? BPF_MEMSX : BPF_MEM) | size, asReg(d, 'destination'), mem.reg, mem.off)];
  }
  if ((m = /^st(x?)(b|h|w|dw)$/.exec(mn))) {
    const size = SIZES[m[2] ?? ''] ?? 0;
    const [a, s] = want(line, 2);
    const mem = asMem(a);
    if (m[1] === 'x') return [insn(BPF_STX | BPF_MEM | size, mem.reg, asReg(s, 'source'), mem.off)];
    return [insn(BPF_ST | BPF_MEM | size, mem.reg, 0, mem.off, imm32(asImm(s, 'value')))];
  }
  if ((m = /^ld(abs|ind)(b|h|w|dw)$/.exec(mn))) {
    const size = SIZES[m[2] ?? ''] ?? 0;
    if (m[1] === 'abs') {
      const [v] = want(line, 1);
      return [insn(BPF_LD | BPF_ABS | size, 0, 0, 0, imm32(asImm(v, 'offset')))];
    }
    const [s, v] = want(line, 2);
    return [insn(BPF_LD | BPF_IND | size, 0, asReg(s, 'source'), 0, imm32(asImm(v, 'offset')))];
  }
  if ((m = /^([a-z]+?)(32)?$/.exec(mn)) && m[1] !== undefined && JMP_OPS[m[1]] !== undefined) {
    const op = JMP_OPS[m[1]] ?? 0;
    const c = m[2] === '32' ? BPF_JMP32 : BPF_JMP;
    const [d, s, t] = want(line, 3);
    const dst = asReg(d, 'destination');
    const off = off16(target(t, line, labels));
    if (s?.kind === 'reg') return [insn(c | op | BPF_X, dst, s.reg, off)];
    return [insn(c | op | BPF_K, dst, 0, off, imm32(asImm(s, 'comparand')))];
  }
  return fail(`unknown mnemonic '${mn}'`);
}

/** `lock [fetch] add|and|or|xor[32] [mem], %rS`, `lock xchg[32]|cmpxchg[32] [mem], %rS`. */
function assembleAtomic(line: Line): Insn[] {
  const first = line.operands[0] ?? '';
  const m = /^(fetch\s+)?(add|and|or|xor|xchg|cmpxchg)(32|64)?\s+(\[.*\])$/i.exec(first);
  if (!m || line.operands.length !== 2) return fail(`invalid atomic operation 'lock ${line.operands.join(', ')}'`);
  const name = (m[2] ?? '').toLowerCase();
  let imm: number;
  if (name === 'xchg' || name === 'cmpxchg') {
    if (m[1]) fail(`'${name}' always fetches`);
    imm = name === 'xchg' ? BPF_XCHG : BPF_CMPXCHG;
  } else {
    imm = (ATOMIC_OPS[name] ?? 0) | (m[1] ? BPF_FETCH : 0);
  }
  const mem = asMem(operand(m[4] ?? ''));
  const src = asReg(operand(line.operands[1] ?? ''), 'source');
  const size = m[3] === '32' ? BPF_W : BPF_DW;
  return [insn(BPF_STX | BPF_ATOMIC | size, mem.reg, src, mem.off, imm)];
}

// ---------------------------------------------------------------------------------------
// Disassembler (conformance syntax)

const sgn = (n: number): string => (n < 0 ? `${n}` : `+${n}`);
const memText = (reg: number, off: number): string => (off === 0 ? `[%r${reg}]` : `[%r${reg}${sgn(off)}]`);

/** One instruction (or LD_IMM64 pair) as text, or null when the syntax cannot say it. */
function disasmOne(i: Insn, next: Insn | undefined): string | null {
  const c = cls(i.code);
  const op = i.code & 0xf0;
  const x = (i.code & 0x08) === BPF_X;
  const sfx = c === BPF_ALU || c === BPF_JMP32 ? '32' : '';
  switch (c) {
    case BPF_ALU:
    case BPF_ALU64: {
      if (op === BPF_NEG) return `neg${sfx} %r${i.dst}`;
      if (op === BPF_END) {
        const kind = c === BPF_ALU64 ? 'bswap' : x ? 'be' : 'le';
        return `${kind}${i.imm} %r${i.dst}`;
      }
      if (op === BPF_MOV && i.off !== 0) return `movsx${i.off}${c === BPF_ALU ? '32' : '64'} %r${i.dst}, %r${i.src}`;
      const name = Object.entries(ALU_OPS).find(([, d]) => d.op === op && d.off === ((op === BPF_DIV || op === BPF_MOD) ? i.off : 0))?.[0];
      if (!name) return null;
      return `${name}${sfx} %r${i.dst}, ${x ? `%r${i.src}` : i.imm}`;
    }
    case BPF_JMP:
    case BPF_JMP32: {
      if (i.code === (BPF_JMP | BPF_EXIT)) return 'exit';
      if (i.code === (BPF_JMP | BPF_JA)) return `ja ${sgn(i.off)}`;
      if (i.code === (BPF_JMP32 | BPF_JA)) return `ja32 ${sgn(i.imm)}`;
      if (i.code === (BPF_JMP | BPF_CALL)) return i.src === BPF_PSEUDO_CALL ? `call local ${sgn(i.imm)}` : `call ${i.imm}`;
      if (i.code === (BPF_JMP | BPF_CALL | BPF_X)) return `call %r${i.dst}`;
      const name = JMP_NAME.get(op);
      if (!name) return null;
      return `${name}${sfx} %r${i.dst}, ${x ? `%r${i.src}` : i.imm}, ${sgn(i.off)}`;
    }
    case BPF_LDX: {
      const s = (i.code & 0xe0) === BPF_MEMSX ? 's' : '';
      return `ldx${s}${SIZE_NAME[i.code & 0x18]} %r${i.dst}, ${memText(i.src, i.off)}`;
    }
    case BPF_ST:
      return `st${SIZE_NAME[i.code & 0x18]} ${memText(i.dst, i.off)}, ${i.imm}`;
    case BPF_STX: {
      if ((i.code & 0xe0) === BPF_ATOMIC) {
        const s32 = (i.code & 0x18) === BPF_W ? '32' : '';
        const name = i.imm === BPF_XCHG ? 'xchg' : i.imm === BPF_CMPXCHG ? 'cmpxchg'
          : `${i.imm & BPF_FETCH ? 'fetch ' : ''}${ATOMIC_NAME.get(i.imm & ~BPF_FETCH) ?? '?'}`;
        return `lock ${name}${s32} ${memText(i.dst, i.off)}, %r${i.src}`;
      }
      return `stx${SIZE_NAME[i.code & 0x18]} ${memText(i.dst, i.off)}, %r${i.src}`;
    }
    case BPF_LD: {
      if (isLdImm64(i) && next) {
        const v = (BigInt(next.imm >>> 0) << 32n) | BigInt(i.imm >>> 0);
        return `lddw %r${i.dst}, 0x${v.toString(16)}`;
      }
      const mode = i.code & 0xe0;
      if (mode === BPF_ABS) return `ldabs${SIZE_NAME[i.code & 0x18]} ${i.imm}`;
      if (mode === BPF_IND) return `ldind${SIZE_NAME[i.code & 0x18]} %r${i.src}, ${i.imm}`;
      return null;
    }
    default:
      return null;
  }
}

const sameInsn = (a: Insn | undefined, b: Insn | undefined): boolean =>
  !!a && !!b && a.code === b.code && a.dst === b.dst && a.src === b.src && a.off === b.off && a.imm === b.imm;

/**
 * Prints a program in conformance syntax, one instruction per line, with numeric jump
 * offsets (`jeq %r1, 3, +2`). Every line is checked by assembling it back, so the text
 * always reproduces the bytes; anything else throws KernelError(EINVAL).
 */
export function disassembleConformance(insns: readonly Insn[]): string {
  const out: string[] = [];
  for (let n = 0; n < insns.length; n++) {
    const i = insns[n];
    if (!i) break;
    const wide = isLdImm64(i);
    const next = wide ? insns[n + 1] : undefined;
    const text = disasmOne(i, next);
    let back: Insn[] = [];
    if (text !== null) {
      try {
        back = assemble(text);
      } catch {
        back = [];
      }
    }
    if (text === null || !sameInsn(back[0], i) || (wide && !sameInsn(back[1], next))) {
      throw new KernelError('EINVAL', `insn ${n}: (${i.code.toString(16).padStart(2, '0')}) cannot be written in conformance assembly`);
    }
    out.push(text);
    if (wide) n++;
  }
  return out.map((l) => `${l}\n`).join('');
}

// ---------------------------------------------------------------------------------------
// .data files

/** A bpf_conformance `.data` file, sections as found (the `-- c` text is dropped). */
export interface DataFile {
  /** The `-- asm` section, comments kept (assemble() strips them). */
  asm?: string;
  /** The `-- raw` section decoded; when present it wins over asm. */
  raw?: Insn[];
  /** The `-- mem` bytes. */
  mem?: Uint8Array;
  /** Expected r0 as an unsigned 64-bit value. */
  result?: bigint;
  /** Expected error text (`-- error` / `-- error pattern`). */
  error?: string;
}

/**
 * Parses a `.data` file: `#` comments, `-- NAME` section headers. Throws
 * KernelError(EINVAL, `line N: ...`) on malformed raw/mem/result sections.
 */
export function parseDataFile(text: string): DataFile {
  const sections = new Map<string, { start: number; lines: string[] }>();
  let current: string | null = null;
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    const header = /^\s*--\s*(.*?)\s*$/.exec(line);
    if (header) {
      current = (header[1] ?? '').toLowerCase();
      sections.set(current, { start: i + 2, lines: [] });
      return;
    }
    if (current !== null) sections.get(current)?.lines.push(line);
  });
  const df: DataFile = {};
  const asm = sections.get('asm');
  if (asm) df.asm = asm.lines.join('\n');
  const stripped = (name: string): { no: number; text: string }[] => {
    const s = sections.get(name);
    if (!s) return [];
    return s.lines
      .map((l, k) => ({ no: s.start + k, text: l.replace(/#.*$/, '').trim() }))
      .filter((l) => l.text !== '');
  };
  if (sections.has('raw')) {
    df.raw = stripped('raw').map(({ no, text: t }) => {
      const v = parseNumber(t);
      if (v === null || v < 0n || v >= 1n << 64n) throw new KernelError('EINVAL', `line ${no}: invalid raw instruction '${t}'`);
      // The word is the instruction read as one little-endian u64: code in the low byte.
      const bytes = new Uint8Array(8);
      new DataView(bytes.buffer).setBigUint64(0, v, true);
      return decodeInsns(bytes)[0] ?? insn(0);
    });
  }
  if (sections.has('mem')) {
    const memLines = stripped('mem');
    const bytes = parseHexBytes(memLines.map((l) => l.text).join(' '));
    if (!bytes) throw new KernelError('EINVAL', `line ${memLines[0]?.no ?? 0}: invalid hex in mem section`);
    df.mem = bytes;
  }
  const result = stripped('result')[0];
  if (result) {
    const v = parseNumber(result.text);
    if (v === null) throw new KernelError('EINVAL', `line ${result.no}: invalid result '${result.text}'`);
    df.result = BigInt.asUintN(64, v);
  }
  for (const [name, s] of sections) {
    if (name.startsWith('error')) df.error = s.lines.join('\n').trim();
  }
  return df;
}

/** The program of a data file: `-- raw` when present, else the assembled `-- asm`. */
export function dataFileProgram(df: DataFile): Insn[] {
  if (df.raw) return df.raw;
  if (df.asm !== undefined) return assemble(df.asm);
  throw new KernelError('EINVAL', 'data file has no program');
}

/** Convenience for tests and tools: assemble straight to bytes. */
export function assembleBytes(text: string): Uint8Array {
  return encodeInsns(assemble(text));
}
