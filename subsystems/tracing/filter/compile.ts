/**
 * Event filters compiled to eBPF (the "compiled path"). The walker's flat program maps
 * one to one onto BPF: each entry becomes a predicate test that jumps to the entry after
 * its target when the result equals whenToBranch, else falls through; two labels at the
 * end return 1 (record) and 0 (drop).
 *
 * Context (r1) is the event record laid out as its format file says. Two pseudo-fields
 * are not in the record; the tracing subsystem writes them just before it (the filter
 * header, FILTER_HDR_SIZE bytes):
 *
 *     ctx-24  u32       CPU the event fired on     (CPU, cpu, common_cpu)
 *     ctx-16  char[16]  current->comm              (COMM, comm)
 *
 * Numbers: loads of the field's size, sign extended where the field is signed; 32-bit
 * fields use JMP32 so no extension is needed. Strings: exact and prefix matches on fixed
 * arrays are inlined as word compares against the pattern's bytes (with its NUL); the
 * rest (data_loc strings, suffix/substring/glob) call a per-program helper that runs the
 * same matcher as the walker.
 *
 * The program is kernel-made and never goes through the verifier (Linux's own filters
 * are not BPF at all; this is bpfkern's addition), but it follows the verifier's rules
 * except for the negative ctx offsets of the header.
 */
import {
  BPF_ALU64, BPF_ARSH, BPF_B, BPF_CALL, BPF_DW, BPF_EXIT, BPF_H, BPF_IMM, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT,
  BPF_JLE, BPF_JLT, BPF_JMP, BPF_JMP32, BPF_JNE, BPF_JSET, BPF_JSGE, BPF_JSGT, BPF_JSLE, BPF_JSLT, BPF_K, BPF_LD,
  BPF_LDX, BPF_LSH, BPF_MEM, BPF_MOV, BPF_W, BPF_X, insn, type Insn,
} from '../../../kernel/bpf/isa.js';
import type { FuncProto, RunEnv } from '../../../kernel/bpf/types.js';
import { matchString } from './match.js';
import type { FilterOp, FilterProg, Pred } from './parse.js';
import { HDR_COMM, HDR_CPU, stringLocation } from './walker.js';

/** Func id of the per-program string-match helper (outside Linux's enum bpf_func_id). */
export const TRACE_FILTER_STRMATCH_ID = 0x7f01;

const encoder = new TextEncoder();

interface Jump {
  at: number;
  label: number;
}

class Emitter {
  readonly insns: Insn[] = [];
  private readonly labelPos = new Map<number, number>();
  private readonly jumps: Jump[] = [];
  private nextLabel = 0;

  newLabel(): number {
    return this.nextLabel++;
  }
  bind(label: number): void {
    this.labelPos.set(label, this.insns.length);
  }
  emit(i: Insn): void {
    this.insns.push(i);
  }
  jmp(code: number, dst: number, src: number, imm: number, label: number): void {
    this.jumps.push({ at: this.insns.length, label });
    this.insns.push(insn(code, dst, src, 0, imm));
  }
  ldImm64(dst: number, v: bigint): void {
    const u = BigInt.asUintN(64, v);
    this.insns.push(insn(BPF_LD | BPF_IMM | BPF_DW, dst, 0, 0, Number(BigInt.asIntN(32, u & 0xffffffffn))));
    this.insns.push(insn(0, 0, 0, 0, Number(BigInt.asIntN(32, u >> 32n))));
  }
  finish(): Insn[] {
    for (const j of this.jumps) {
      const pos = this.labelPos.get(j.label);
      if (pos === undefined) throw new Error(`unbound label ${j.label}`);
      this.insns[j.at] = { ...this.insns[j.at]!, off: pos - j.at - 1 };
    }
    return this.insns;
  }
}

const CTX = 6; // r6 keeps the context across helper calls

function jmpOp(op: FilterOp, signed: boolean): number {
  switch (op) {
    case 'EQ':
      return BPF_JEQ;
    case 'NE':
      return BPF_JNE;
    case 'LT':
      return signed ? BPF_JSLT : BPF_JLT;
    case 'LE':
      return signed ? BPF_JSLE : BPF_JLE;
    case 'GT':
      return signed ? BPF_JSGT : BPF_JGT;
    case 'GE':
      return signed ? BPF_JSGE : BPF_JGE;
    case 'BAND':
      return BPF_JSET;
    case 'GLOB':
      return BPF_JEQ;
  }
}

const sizeCode = (n: number): number => (n === 8 ? BPF_DW : n === 4 ? BPF_W : n === 2 ? BPF_H : BPF_B);

function emitNumeric(e: Emitter, pred: Pred, onTrue: number, onFalse: number): void {
  const { offset, size, signed, filterType } = pred.field;
  if (filterType === 'cpu') {
    if (pred.op === 'BAND' || pred.op === 'GLOB') {
      e.jmp(BPF_JMP | BPF_JA, 0, 0, 0, onFalse);
      return;
    }
    e.emit(insn(BPF_LDX | BPF_MEM | BPF_W, 2, CTX, HDR_CPU));
    e.jmp(BPF_JMP32 | jmpOp(pred.op, true) | BPF_K, 2, 0, Number(BigInt.asIntN(32, pred.val)), onTrue);
    e.jmp(BPF_JMP | BPF_JA, 0, 0, 0, onFalse);
    return;
  }
  if (size !== 8 && size !== 4 && size !== 2 && size !== 1) {
    e.jmp(BPF_JMP | BPF_JA, 0, 0, 0, onFalse); // Linux has no comparison for this size
    return;
  }
  // EQ/NE compare the unsigned bits; `not` turns EQ into NE (pred.not is set for '!=').
  const op: FilterOp = pred.op === 'NE' ? 'EQ' : pred.op;
  const [t, f] = pred.not ? [onFalse, onTrue] : [onTrue, onFalse];
  e.emit(insn(BPF_LDX | BPF_MEM | sizeCode(size), 2, CTX, offset));
  const bits = size * 8;
  if (size === 4) {
    e.jmp(BPF_JMP32 | jmpOp(op, signed) | BPF_K, 2, 0, Number(BigInt.asIntN(32, pred.val)), t);
  } else if (size === 8) {
    const v = BigInt.asIntN(64, pred.val);
    if (v >= -(1n << 31n) && v < 1n << 31n) {
      e.jmp(BPF_JMP | jmpOp(op, signed) | BPF_K, 2, 0, Number(v), t);
    } else {
      e.ldImm64(3, v);
      e.jmp(BPF_JMP | jmpOp(op, signed) | BPF_X, 2, 3, 0, t);
    }
  } else {
    const ordered = op !== 'EQ' && op !== 'BAND';
    let v = BigInt.asUintN(bits, pred.val);
    if (signed && ordered) {
      // Sign-extend the loaded value and the operand to 64 bits.
      e.emit(insn(BPF_ALU64 | BPF_LSH | BPF_K, 2, 0, 0, 64 - bits));
      e.emit(insn(BPF_ALU64 | BPF_ARSH | BPF_K, 2, 0, 0, 64 - bits));
      v = BigInt.asIntN(bits, v);
    }
    e.jmp(BPF_JMP | jmpOp(op, signed) | BPF_K, 2, 0, Number(v), t);
  }
  e.jmp(BPF_JMP | BPF_JA, 0, 0, 0, f);
}

/** Inline byte compare of [off, off+bytes.length) against bytes; mismatch -> onMismatch. */
function emitBytesEqual(e: Emitter, base: number, bytes: Uint8Array, onMismatch: number): void {
  let k = 0;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  while (k < bytes.length) {
    const left = bytes.length - k;
    const n = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
    e.emit(insn(BPF_LDX | BPF_MEM | sizeCode(n), 2, CTX, base + k));
    if (n === 8) {
      e.ldImm64(3, dv.getBigUint64(k, true));
      e.jmp(BPF_JMP | BPF_JNE | BPF_X, 2, 3, 0, onMismatch);
    } else if (n === 4) {
      e.jmp(BPF_JMP32 | BPF_JNE | BPF_K, 2, 0, dv.getInt32(k, true), onMismatch);
    } else {
      e.jmp(BPF_JMP | BPF_JNE | BPF_K, 2, 0, n === 2 ? dv.getUint16(k, true) : dv.getUint8(k), onMismatch);
    }
    k += n;
  }
}

function emitString(e: Emitter, pred: Pred, index: number, onTrue: number, onFalse: number): void {
  const f = pred.field;
  const [t, fl] = pred.not ? [onFalse, onTrue] : [onTrue, onFalse];
  const fixed = f.filterType === 'static_string' ? { off: f.offset, len: f.size } : f.filterType === 'comm' ? { off: HDR_COMM, len: 16 } : null;
  if (fixed && (pred.match === 'full' || pred.match === 'front')) {
    const pat = encoder.encode(pred.pattern);
    if (pred.match === 'front' && fixed.len < pat.length) {
      e.jmp(BPF_JMP | BPF_JA, 0, 0, 0, fl);
      return;
    }
    let bytes: Uint8Array;
    if (pred.match === 'front') bytes = pat;
    else {
      // strncmp(str, pattern, len): the pattern and its NUL, cut at the field's size.
      bytes = new Uint8Array(Math.min(pat.length + 1, fixed.len));
      bytes.set(pat.subarray(0, bytes.length));
    }
    emitBytesEqual(e, fixed.off, bytes, fl);
    e.jmp(BPF_JMP | BPF_JA, 0, 0, 0, t);
    return;
  }
  e.emit(insn(BPF_ALU64 | BPF_MOV | BPF_X, 1, CTX, 0, 0));
  e.emit(insn(BPF_ALU64 | BPF_MOV | BPF_K, 2, 0, 0, index));
  e.emit(insn(BPF_JMP | BPF_CALL, 0, 0, 0, TRACE_FILTER_STRMATCH_ID));
  e.jmp(BPF_JMP | BPF_JNE | BPF_K, 0, 0, 0, t);
  e.jmp(BPF_JMP | BPF_JA, 0, 0, 0, fl);
}

export interface CompiledFilter {
  insns: Insn[];
  /** The helpers the program calls (its own string matcher), for BpfProg.helpers. */
  helpers: Map<number, FuncProto>;
}

/** Compiles a parsed filter to eBPF. */
export function compileFilter(prog: FilterProg): CompiledFilter {
  const e = new Emitter();
  const n = prog.entries.length;
  const labels = Array.from({ length: n + 2 }, () => e.newLabel());
  e.emit(insn(BPF_ALU64 | BPF_MOV | BPF_X, CTX, 1, 0, 0));
  prog.entries.forEach((entry, i) => {
    e.bind(labels[i]!);
    const branch = labels[entry.target + 1]!;
    const next = labels[i + 1]!;
    const [onTrue, onFalse] = entry.whenToBranch ? [branch, next] : [next, branch];
    const p = entry.pred;
    if (p.field.filterType === 'other' || p.field.filterType === 'cpu') emitNumeric(e, p, onTrue, onFalse);
    else emitString(e, p, i, onTrue, onFalse);
  });
  e.bind(labels[n]!);
  e.emit(insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1));
  e.emit(insn(BPF_JMP | BPF_EXIT));
  e.bind(labels[n + 1]!);
  e.emit(insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0));
  e.emit(insn(BPF_JMP | BPF_EXIT));
  const insns = removeFallthroughJumps(e.finish());

  const patterns = prog.entries.map((en) => encoder.encode(en.pred.pattern));
  const strmatch: FuncProto = {
    id: TRACE_FILTER_STRMATCH_ID,
    name: 'trace_filter_strmatch',
    ret: 'INTEGER',
    args: ['PTR_TO_CTX', 'ANYTHING'],
    call: (env: RunEnv, r1: bigint, r2: bigint): bigint => {
      const pred = prog.entries[Number(r2)]?.pred;
      if (!pred) return 0n;
      const mem = env.kernel.mem;
      const base = mem.offsetOf(r1);
      const loc = stringLocation(pred, mem.u8, mem.dv, base);
      if (!loc) return 0n;
      return matchString(pred.match, mem.u8, loc[0], loc[1], patterns[Number(r2)]!) ? 1n : 0n;
    },
  };
  return { insns, helpers: new Map([[TRACE_FILTER_STRMATCH_ID, strmatch]]) };
}

/** Drops `goto +0` (a jump to the next instruction), fixing up the other jumps. */
function removeFallthroughJumps(insns: Insn[]): Insn[] {
  const isJa = (i: Insn): boolean => i.code === (BPF_JMP | BPF_JA) && i.off === 0;
  const keep: boolean[] = insns.map((i, k) => !(isJa(i) && !(k > 0 && insns[k - 1]!.code === (BPF_LD | BPF_IMM | BPF_DW))));
  const newIndex: number[] = [];
  let c = 0;
  for (let k = 0; k <= insns.length; k++) {
    newIndex[k] = c;
    if (k < insns.length && keep[k]) c++;
  }
  const out: Insn[] = [];
  insns.forEach((i, k) => {
    if (!keep[k]) return;
    const cls = i.code & 7;
    const isJump = (cls === BPF_JMP || cls === BPF_JMP32) && (i.code & 0xf0) !== BPF_CALL && (i.code & 0xf0) !== BPF_EXIT;
    if (isJump) {
      const target = k + 1 + i.off;
      out.push({ ...i, off: newIndex[target]! - newIndex[k]! - 1 });
    } else out.push(i);
  });
  return out;
}
