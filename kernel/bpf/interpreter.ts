/**
 * The eBPF interpreter: the reference semantics of the machine (Linux's ___bpf_prog_run).
 * The JIT must agree with it on every program; the conformance suite and the host
 * differential test pin it to what Linux 6.x computes.
 *
 * Why it looks the way it does (speed is a goal, ~3x a C switch interpreter):
 * - No BigInt on the hot path. A 64-bit register is two int32 halves in one Int32Array
 *   (`R[2*i]` low word, `R[2*i+1]` high word); add/sub/mul/shift/compare work on halves.
 *   BigInt is used only for 64-bit division with a high word set and at helper boundaries.
 * - Each program is decoded once (cached per xlated array) into a flat Int32Array, four
 *   words per slot:
 *
 *       word 0: internal op (bits 0..15) | dst*2 (bits 16..)
 *       word 1: index in R of the source operand
 *       word 2: off (jumps: relative target, already bounds-checked)
 *       word 3: imm
 *
 *   Immediate (BPF_K) forms are folded into register (BPF_X) forms: the decoder gives
 *   every slot a constant "register" in R (index 22 + 2*pc) holding imm sign-extended to
 *   64 bits (LD_IMM64: the full value), so one case handles both. The register file is
 *   therefore per decoded program; files are pooled so nested and re-entrant runs each
 *   get their own.
 * - Jumps whose target lies outside the program go to a sentinel slot after the last
 *   one, which stops the run; so do unknown opcodes. Nothing is trusted: every memory
 *   access is checked against the address space (BPF pointer = KERNEL_BASE + offset) and
 *   a bad one stops the run with EFAULT before touching anything.
 * - Unverified programs may loop forever, so taken backward jumps charge their distance
 *   against an instruction budget (an upper bound of the instructions executed).
 * - Short packet filters are dominated by entry cost and dispatches, so: a leaf program
 *   (no helper calls) runs in its own register file with no pool, RunState or finally
 *   work; at entry only the registers some path may read before writing are cleared
 *   (r0..r9 still read as 0, as the conformance model wants); LD_ABS at a constant offset
 *   is checked against one precomputed bound; and the shapes classic BPF converts to
 *   (prologue, load + compare-and-jump, LDX MSH, `return K`) run as superinstructions
 *   that leave the slots they cover intact, so jumps into them behave as before.
 * - The switch's case labels are all number literals: V8 compiles it to a jump table
 *   only over the literal cases that come before the first non-literal one.
 *
 * Invariant for callers: a program's xlated array must not be mutated after its first
 * run (replace the array instead), because the decoded form is cached on it.
 */
import { KernelError } from '../errno.js';
import type { Insn } from './isa.js';
import {
  BPF_ADD, BPF_AND, BPF_CMPXCHG, BPF_FETCH, BPF_OR, BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC, BPF_XCHG, BPF_XOR,
  MAX_BPF_STACK, MAX_CALL_FRAMES,
} from './isa.js';
import { KERNEL_BASE_HI, PAGE_SIZE } from './memory.js';
import type { BpfProg, RunEnv } from './types.js';

/**
 * Default instruction budget of one run, on both engines (unverified programs may loop
 * forever): 2^26 (67M) instructions, charged at taken backward jumps. A runaway loop
 * stops in about 0.2 s on the interpreter (~3 ns per instruction) and well under that on
 * the JIT, so nothing hangs; a real program has room to spare: Linux's verifier gives up
 * after exploring 1M instructions, and bpf_loop's up to 8M iterations (BPF_MAX_LOOPS)
 * charge nothing for the loop itself, only for back edges inside the callback.
 * bpfProgRun's insnLimit overrides it.
 */
export const DEFAULT_INSN_LIMIT = 2 ** 26;

/** SKF_NET_OFF / SKF_LL_OFF: negative LD_ABS offsets relative to the network / link header. */
export const SKF_NET_OFF = -0x100000;
export const SKF_LL_OFF = -0x200000;

// Internal ops for forms the opcode byte alone does not tell apart (0x100+).
const OP_SDIV32 = 0x100;
const OP_SDIV64 = 0x101;
const OP_SMOD32 = 0x102;
const OP_SMOD64 = 0x103;
const OP_MOVSX32_8 = 0x104;
const OP_MOVSX32_16 = 0x105;
const OP_MOVSX64_8 = 0x106;
const OP_MOVSX64_16 = 0x107;
const OP_MOVSX64_32 = 0x108;
const OP_CALL_HELPER = 0x109;
const OP_CALL_LOCAL = 0x10a;
const OP_CALLX = 0x10b;
const OP_BAD = 0x10c;
// LD_ABS with a non-negative offset whose end fits in an int32: word 2 holds offset+size
// (the packet length the load needs), word 3 the offset.
const OP_LDABS_W = 0x10d;
const OP_LDABS_H = 0x10e;
const OP_LDABS_B = 0x10f;
// Superinstructions for the shapes classic BPF converts to (kernel/bpf/classic/convert.ts).
// The fused slot replaces only the first slot's op: the slots it covers keep their own
// decoding, so a jump into the middle of a fused sequence runs the plain instructions.
// - a packet load (LD_ABS fast form, LD_IND) followed by `if r0 <op> K goto` with K >= 0
//   and a forward target, op in JEQ/JNE/JSET/JGT/JGE (64-bit): the load's dst bits hold
//   the condition (JCC_*), the jump is read from the next slot
const OP_LDABS_W_J = 0x110;
const OP_LDABS_H_J = 0x111;
const OP_LDABS_B_J = 0x112;
const OP_LDIND_W_J = 0x113;
const OP_LDIND_H_J = 0x114;
const OP_LDIND_B_J = 0x115;
// - LDX MSH: r7 = r0; r0 = P[k] (byte); w0 &= 0xf; w0 <<= 2; r2 = r7; r7 = r0; r0 = r2
const OP_CLASSIC_MSH = 0x116;
// - the prologue: w0 ^= w0; w7 ^= w7; r6 = r1
const OP_CLASSIC_ENTRY = 0x117;
// - a return of a constant: w0 = K; exit
const OP_RET_K = 0x118;
const JCC_EQ = 0;
const JCC_NE = 1;
const JCC_SET = 2;
const JCC_GT = 3;
const JCC_GE = 4;

const KHI = KERNEL_BASE_HI | 0;
/** R layout: r0..r10 as halves, then one constant per slot, then saved call frames. */
const NREGS = 22;
const FRAME_WORDS = 12; // return pc, r6..r9 (8 words), r10 (2 words), spare

interface Decoded {
  readonly code: Int32Array;
  readonly n: number;
  /** Register file image with the constants filled in; copied for each new file. */
  readonly template: Int32Array;
  readonly framesAt: number;
  readonly pool: Int32Array[];
  /**
   * No helper calls (so no tail calls, no callbacks, nothing that can run other code
   * during a run): such a run cannot nest or be re-entered, and uses `file` (made on
   * first use) with no pool traffic and a shared RunState.
   */
  readonly leaf: boolean;
  file: Int32Array | null;
  /**
   * Indices in R of the register words to clear at entry: r0, r2..r9 in general; for a
   * leaf program without bpf-to-bpf calls only the registers some path may read before
   * writing (a register written before any read on every path cannot show its old value,
   * so it need not start at 0).
   */
  readonly zero: Int32Array;
  /** Why a slot decoded to OP_BAD. */
  readonly bad: Map<number, string>;
}

const cache = new WeakMap<readonly Insn[], Decoded>();
/** The last lookup (a hot caller runs one program over and over). */
let lastInsns: readonly Insn[] | null = null;
let lastDecoded: Decoded | null = null;

function decoded(prog: BpfProg): Decoded {
  const insns = prog.xlated;
  if (insns === lastInsns) return lastDecoded!;
  let d = cache.get(insns);
  if (d === undefined) {
    d = decode(insns);
    cache.set(insns, d);
  }
  lastInsns = insns;
  lastDecoded = d;
  return d;
}

function decode(insns: readonly Insn[]): Decoded {
  const n = insns.length;
  const code = new Int32Array((n + 1) * 4);
  const framesAt = NREGS + 2 * (n + 1);
  const template = new Int32Array(framesAt + FRAME_WORDS * (MAX_CALL_FRAMES + 1));
  const bad = new Map<number, string>();
  const setBad = (pc: number, why: string): void => {
    code[pc * 4] = OP_BAD;
    bad.set(pc, why);
  };
  // Targets outside [0, n) go to the sentinel slot n.
  const rel = (pc: number, off: number): number => {
    const t = pc + 1 + off;
    return t >= 0 && t < n ? off : n - pc - 1;
  };
  for (let pc = 0; pc < n; pc++) {
    const i = insns[pc]!;
    const k = NREGS + 2 * pc;
    template[k] = i.imm | 0;
    template[k + 1] = i.imm >> 31;
    if (i.dst > 10 || i.src > 10) {
      setBad(pc, `R${Math.max(i.dst, i.src)} is invalid`);
      continue;
    }
    let op = i.code;
    let src = i.src * 2;
    let off = i.off;
    const cls = op & 7;
    const isK = (op & 8) === 0;
    const aop = op & 0xf0;
    switch (cls) {
      case 4: // BPF_ALU
      case 7: // BPF_ALU64
        if (aop === 0xd0) {
          if (cls === 7 && !isK) setBad(pc, `unknown opcode ${hex2(op)}`);
          break;
        }
        if (aop === 0x80) {
          if (!isK) setBad(pc, `unknown opcode ${hex2(op)}`);
          break;
        }
        if (aop > 0xd0) {
          setBad(pc, `unknown opcode ${hex2(op)}`);
          continue;
        }
        if (isK) {
          op |= 8;
          src = k;
        }
        if ((aop === 0x30 || aop === 0x90) && off !== 0) {
          if (off !== 1) setBad(pc, `BPF_ALU uses reserved fields`);
          else op = cls === 7 ? (aop === 0x30 ? OP_SDIV64 : OP_SMOD64) : aop === 0x30 ? OP_SDIV32 : OP_SMOD32;
        } else if (aop === 0xb0 && off !== 0) {
          if (isK) setBad(pc, `BPF_MOV uses reserved fields`);
          else if (cls === 7 && off === 8) op = OP_MOVSX64_8;
          else if (cls === 7 && off === 16) op = OP_MOVSX64_16;
          else if (cls === 7 && off === 32) op = OP_MOVSX64_32;
          else if (cls === 4 && off === 8) op = OP_MOVSX32_8;
          else if (cls === 4 && off === 16) op = OP_MOVSX32_16;
          else setBad(pc, `BPF_MOV uses reserved fields`);
        }
        break;
      case 5: // BPF_JMP
      case 6: // BPF_JMP32
        if (aop === 0x00) {
          if (op !== 0x05 && op !== 0x06) setBad(pc, `unknown opcode ${hex2(op)}`);
          // gotol (JMP32|JA) keeps its offset in imm
          off = rel(pc, op === 0x06 ? i.imm : off);
          op = 0x05;
        } else if (aop === 0x80) {
          if (cls === 6) setBad(pc, `unknown opcode ${hex2(op)}`);
          else if (!isK) op = OP_CALLX;
          else if (i.src === BPF_PSEUDO_CALL) {
            op = OP_CALL_LOCAL;
            off = rel(pc, i.imm);
          } else if (i.src === 0) op = OP_CALL_HELPER;
          else setBad(pc, `unsupported call (src_reg ${i.src})`);
          src = 0;
        } else if (aop === 0x90) {
          if (op !== 0x95) setBad(pc, `unknown opcode ${hex2(op)}`);
        } else if (aop > 0xd0) {
          setBad(pc, `unknown opcode ${hex2(op)}`);
        } else {
          if (isK) {
            op |= 8;
            src = k;
          }
          off = rel(pc, off);
        }
        break;
      case 0: // BPF_LD
        if (op === 0x18) {
          const hi = insns[pc + 1];
          if (hi === undefined || hi.code !== 0) {
            setBad(pc, 'invalid BPF_LD_IMM insn');
            continue;
          }
          if (i.src === BPF_PSEUDO_FUNC) {
            // A callback's "address" is its absolute instruction index (what callSubprog
            // takes); the load keeps Linux's relative imm, as the JIT reads it too.
            template[k] = pc + 1 + i.imm;
            template[k + 1] = 0;
          } else {
            template[k + 1] = hi.imm | 0;
          }
          src = k;
        } else if (op === 0x20 || op === 0x28 || op === 0x30) {
          const size = op === 0x20 ? 4 : op === 0x28 ? 2 : 1;
          if (i.imm >= 0 && i.imm <= 0x7fffffff - size) {
            op = op === 0x20 ? OP_LDABS_W : op === 0x28 ? OP_LDABS_H : OP_LDABS_B;
            off = i.imm + size;
          }
        } else if (!(op === 0x40 || op === 0x48 || op === 0x50)) {
          setBad(pc, `unknown opcode ${hex2(op)}`);
        }
        break;
      case 1: // BPF_LDX
        if (!(op === 0x61 || op === 0x69 || op === 0x71 || op === 0x79 || op === 0x81 || op === 0x89 || op === 0x91)) {
          setBad(pc, `unknown opcode ${hex2(op)}`);
        }
        break;
      case 2: // BPF_ST: the immediate becomes the source register of the STX form
        if (!(op === 0x62 || op === 0x6a || op === 0x72 || op === 0x7a)) setBad(pc, `unknown opcode ${hex2(op)}`);
        op += 1;
        src = k;
        break;
      case 3: // BPF_STX
        if (!(op === 0x63 || op === 0x6b || op === 0x73 || op === 0x7b || op === 0xc3 || op === 0xdb)) {
          setBad(pc, `unknown opcode ${hex2(op)}`);
        }
        break;
    }
    if (bad.has(pc)) continue;
    code[pc * 4] = op | ((i.dst * 2) << 16);
    code[pc * 4 + 1] = src;
    code[pc * 4 + 2] = off;
    code[pc * 4 + 3] = i.imm | 0;
  }
  code[n * 4] = OP_BAD;
  bad.set(n, n === 0 ? 'empty program' : 'fell off the end of the program (jump out of range or no exit)');
  let leaf = true;
  let localCalls = false;
  for (let pc = 0; pc < n; pc++) {
    const op = code[pc * 4]! & 0xffff;
    if (op === OP_CALL_HELPER || op === OP_CALLX) leaf = false;
    else if (op === OP_CALL_LOCAL) localCalls = true;
  }
  const need = leaf && !localCalls ? readBeforeWrite(code, n) : 0x3fd; // r0, r2..r9
  fuse(code, n);
  const zero: number[] = [];
  for (let r = 0; r < 10; r++) if ((need & (1 << r)) !== 0 && r !== 1) zero.push(2 * r, 2 * r + 1);
  return { code, n, template, framesAt, pool: [], bad, leaf, file: null, zero: Int32Array.from(zero) };
}

/** Installs the superinstructions (see OP_LDABS_W_J...) over decoded code. */
function fuse(code: Int32Array, n: number): void {
  const op = (pc: number): number => code[pc * 4]! & 0xffff;
  for (let pc = 0; pc + 1 < n; pc++) {
    const o = op(pc);
    let fused: number;
    if (o === OP_LDABS_W) fused = OP_LDABS_W_J;
    else if (o === OP_LDABS_H) fused = OP_LDABS_H_J;
    else if (o === OP_LDABS_B) fused = OP_LDABS_B_J;
    else if (o === 0x40) fused = OP_LDIND_W_J;
    else if (o === 0x48) fused = OP_LDIND_H_J;
    else if (o === 0x50) fused = OP_LDIND_B_J;
    else continue;
    const j = (pc + 1) * 4;
    const jw = code[j]!;
    const jo = jw & 0xffff;
    const cc = jo === 0x1d ? JCC_EQ : jo === 0x5d ? JCC_NE : jo === 0x4d ? JCC_SET : jo === 0x2d ? JCC_GT : jo === 0x3d ? JCC_GE : -1;
    // K form (the source is the slot's constant), dst r0, K >= 0, forward
    if (cc < 0 || jw >>> 16 !== 0 || code[j + 1]! < NREGS || code[j + 3]! < 0 || code[j + 2]! < 0) continue;
    code[pc * 4] = fused | (cc << 16);
  }
  for (let pc = 0; pc + 6 < n; pc++) {
    const w = (k: number): number => code[(pc + k) * 4]!;
    const src = (k: number): number => code[(pc + k) * 4 + 1]!;
    const imm = (k: number): number => code[(pc + k) * 4 + 3]!;
    if (
      w(0) === (0xbf | (14 << 16)) && src(0) === 0 &&
      (w(1) & 0xffff) === OP_LDABS_B &&
      w(2) === 0x5c && src(2) >= NREGS && imm(2) === 0xf &&
      w(3) === 0x6c && src(3) >= NREGS && imm(3) === 2 &&
      w(4) === (0xbf | (4 << 16)) && src(4) === 14 &&
      w(5) === (0xbf | (14 << 16)) && src(5) === 0 &&
      w(6) === 0xbf && src(6) === 4
    ) {
      code[pc * 4] = OP_CLASSIC_MSH;
    }
  }
  for (let pc = 0; pc + 1 < n; pc++) {
    if (code[pc * 4] === 0xbc && code[pc * 4 + 1]! >= NREGS && code[pc * 4 + 4] === 0x95) code[pc * 4] = OP_RET_K;
  }
  for (let pc = 0; pc + 2 < n; pc++) {
    if (
      code[pc * 4] === 0xac && code[pc * 4 + 1] === 0 &&
      code[pc * 4 + 4] === (0xac | (14 << 16)) && code[pc * 4 + 5] === 14 &&
      code[pc * 4 + 8] === (0xbf | (12 << 16)) && code[pc * 4 + 9] === 2
    ) {
      code[pc * 4] = OP_CLASSIC_ENTRY;
    }
  }
}

/**
 * The registers (bit i: ri) that some path from insn 0 may read before writing, r1 and
 * r10 being set at entry; over decoded code without calls. Reads and writes are
 * approximated safely (an operand that may be read counts as read; atomics count as
 * writing nothing); `xor`/`sub` of a register with itself only writes it.
 */
function readBeforeWrite(code: Int32Array, n: number): number {
  const bit = (idx: number): number => (idx < NREGS ? 1 << (idx >> 1) : 0);
  const written = new Int32Array(n + 1).fill(-1); // -1: not reached yet
  written[0] = (1 << 1) | (1 << 10);
  const work = [0];
  let need = 0;
  const flow = (t: number, w: number): void => {
    const old = written[t]!;
    const nw = old === -1 ? w : old & w;
    if (nw !== old) {
      written[t] = nw;
      work.push(t);
    }
  };
  while (work.length > 0) {
    const pc = work.pop()!;
    const w = written[pc]!;
    const word = code[pc * 4]!;
    const op = word & 0xffff;
    const d = word >>> 16;
    const s = code[pc * 4 + 1]!;
    let reads = 0;
    let writes = 0;
    let next = pc + 1;
    let jump = -1;
    if (op === OP_BAD || pc === n) continue;
    if (op === 0x95) {
      need |= 1 & ~w;
      continue;
    }
    if (op === 0x05) {
      flow(pc + 1 + code[pc * 4 + 2]!, w);
      continue;
    }
    const cls = op & 7;
    if (op >= 0x100 && op <= 0x108) {
      // signed div/mod read both; movsx reads the source only
      reads = op <= 0x103 ? bit(d) | bit(s) : bit(s);
      writes = bit(d);
    } else if (op >= OP_LDABS_W && op <= OP_LDABS_B) {
      writes = 1;
    } else if (cls === 4 || cls === 7) {
      const aop = op & 0xf0;
      if (aop === 0xb0) reads = bit(s);
      else if (aop === 0x80 || aop === 0xd0) reads = bit(d);
      else if ((aop === 0xa0 || aop === 0x10) && s === d) reads = 0;
      else reads = bit(d) | bit(s);
      writes = bit(d);
    } else if (cls === 5 || cls === 6) {
      reads = bit(d) | bit(s);
      jump = pc + 1 + code[pc * 4 + 2]!;
    } else if (op === 0x18) {
      writes = bit(d);
      next = pc + 2;
    } else if (cls === 1) {
      reads = bit(s);
      writes = bit(d);
    } else if (cls === 3) {
      reads = bit(d) | bit(s) | 1;
    } else if (op === 0x20 || op === 0x28 || op === 0x30) {
      writes = 1;
    } else if (op === 0x40 || op === 0x48 || op === 0x50) {
      reads = bit(s);
      writes = 1;
    } else {
      reads = 0x7ff; // not expected here: be safe
    }
    need |= reads & ~w;
    const out = w | writes;
    flow(next, out);
    if (jump >= 0) flow(jump, out);
  }
  return need;
}

function hex2(v: number): string {
  return v.toString(16).padStart(2, '0');
}

// ---------------------------------------------------------------------------------------
// Slow-path operations (kept out of the main loop so that it stays small)

function u64(R: Int32Array, i: number): bigint {
  const hi = R[i + 1]!;
  const lo = BigInt(R[i]! >>> 0);
  return hi === 0 ? lo : (BigInt(hi >>> 0) << 32n) | lo;
}

function s64(R: Int32Array, i: number): bigint {
  return (BigInt(R[i + 1]!) << 32n) | BigInt(R[i]! >>> 0);
}

function setU64(R: Int32Array, i: number, v: bigint): void {
  R[i] = Number(BigInt.asUintN(32, v)) | 0;
  R[i + 1] = Number(BigInt.asUintN(32, v >> 32n)) | 0;
}

function mul64(R: Int32Array, d: number, s: number): void {
  const a = R[d]!;
  const b = R[s]!;
  // high word of the 32x32 product from 16-bit pieces (all exact in doubles)
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const mid = a1 * b0 + a0 * b1 + ((a0 * b0) >>> 16);
  const carry = Math.floor(mid / 65536);
  const hi = a1 * b1 + carry;
  R[d + 1] = (hi + Math.imul(a, R[s + 1]!) + Math.imul(R[d + 1]!, b)) | 0;
  R[d] = Math.imul(a, b);
}

function div64(R: Int32Array, d: number, s: number): void {
  const bl = R[s]!;
  const bh = R[s + 1]!;
  if (bl === 0 && bh === 0) {
    R[d] = 0;
    R[d + 1] = 0;
  } else if (bh === 0 && R[d + 1] === 0) {
    R[d] = (R[d]! >>> 0) / (bl >>> 0);
  } else {
    setU64(R, d, u64(R, d) / u64(R, s));
  }
}

function mod64(R: Int32Array, d: number, s: number): void {
  const bl = R[s]!;
  const bh = R[s + 1]!;
  if (bl === 0 && bh === 0) return;
  if (bh === 0 && R[d + 1] === 0) R[d] = (R[d]! >>> 0) % (bl >>> 0);
  else setU64(R, d, u64(R, d) % u64(R, s));
}

function sdiv64(R: Int32Array, d: number, s: number): void {
  const b = s64(R, s);
  setU64(R, d, b === 0n ? 0n : s64(R, d) / b);
}

function smod64(R: Int32Array, d: number, s: number): void {
  const b = s64(R, s);
  if (b !== 0n) setU64(R, d, s64(R, d) % b);
}

function bswap32(x: number): number {
  return ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24);
}

/** BPF_END: to-LE truncates (host is little-endian), to-BE and BSWAP swap; all zero-extend. */
function endian(R: Int32Array, d: number, bits: number, swap: boolean): void {
  const lo = R[d]!;
  if (bits === 16) {
    R[d] = swap ? ((lo & 0xff) << 8) | ((lo >>> 8) & 0xff) : lo & 0xffff;
    R[d + 1] = 0;
  } else if (bits === 32) {
    R[d] = swap ? bswap32(lo) : lo;
    R[d + 1] = 0;
  } else if (bits === 64) {
    if (swap) {
      R[d] = bswap32(R[d + 1]!);
      R[d + 1] = bswap32(lo);
    }
  } else {
    throw new KernelError('EINVAL', `BPF_END uses reserved fields (imm ${bits})`);
  }
}

function fault(pc: number, R: Int32Array, s: number, off: number, size: number, what: string): KernelError {
  const hi = (R[s + 1]! >>> 0).toString(16).padStart(8, '0');
  const lo = (R[s]! >>> 0).toString(16).padStart(8, '0');
  return new KernelError(
    'EFAULT',
    `invalid memory access at insn ${pc}: ${what} of ${size} bytes at 0x${hi}${lo}${off < 0 ? '' : '+'}${off}`,
  );
}

/**
 * LD_ABS/LD_IND as Linux's bpf_skb_load_helper_*: big-endian load from the packet;
 * SKF_NET_OFF/SKF_LL_OFF offsets are relative to the network/link header. Returns the
 * zero-extended value, or -1 when the load is out of range (the program then returns 0).
 */
function ldPacket(env: RunEnv, offset: number, size: number): number {
  const pkt = env.packet;
  if (pkt === undefined) return -1;
  const end = pkt.data + pkt.len;
  let at: number;
  if (offset >= 0) at = pkt.data + offset;
  else if (offset >= SKF_NET_OFF) at = pkt.net + offset - SKF_NET_OFF;
  else if (offset >= SKF_LL_OFF) at = pkt.mac + offset - SKF_LL_OFF;
  else return -1;
  const head = Math.min(pkt.mac, pkt.net, pkt.data);
  if (at < head || at + size > end) return -1;
  const dv = env.kernel.mem.dv;
  if (size === 4) return dv.getUint32(at, false);
  if (size === 2) return dv.getUint16(at, false);
  return dv.getUint8(at);
}

/** BPF_ATOMIC on a checked offset; the program is single-threaded here, so plain RMW. */
function atomic(dv: DataView, a: number, R: Int32Array, s: number, dw: boolean, imm: number, pc: number): void {
  const fetch = (imm & BPF_FETCH) !== 0;
  const kind = imm & ~BPF_FETCH;
  if (!dw) {
    const old = dv.getInt32(a, true);
    const v = R[s]!;
    let nv: number;
    if (imm === BPF_XCHG) nv = v;
    else if (imm === BPF_CMPXCHG) nv = old === R[0] ? v : old;
    else if (kind === BPF_ADD) nv = (old + v) | 0;
    else if (kind === BPF_OR) nv = old | v;
    else if (kind === BPF_AND) nv = old & v;
    else if (kind === BPF_XOR) nv = old ^ v;
    else throw new KernelError('EINVAL', `BPF_ATOMIC uses invalid atomic opcode ${hex2(imm)} at insn ${pc}`);
    dv.setInt32(a, nv, true);
    if (imm === BPF_CMPXCHG) {
      R[0] = old;
      R[1] = 0;
    } else if (fetch) {
      R[s] = old;
      R[s + 1] = 0;
    }
    return;
  }
  const ol = dv.getInt32(a, true);
  const oh = dv.getInt32(a + 4, true);
  const vl = R[s]!;
  const vh = R[s + 1]!;
  let nl: number;
  let nh: number;
  if (imm === BPF_XCHG) {
    nl = vl;
    nh = vh;
  } else if (imm === BPF_CMPXCHG) {
    const eq = ol === R[0] && oh === R[1];
    nl = eq ? vl : ol;
    nh = eq ? vh : oh;
  } else if (kind === BPF_ADD) {
    const l = (ol >>> 0) + (vl >>> 0);
    nl = l | 0;
    nh = (oh + vh + (l > 0xffffffff ? 1 : 0)) | 0;
  } else if (kind === BPF_OR) {
    nl = ol | vl;
    nh = oh | vh;
  } else if (kind === BPF_AND) {
    nl = ol & vl;
    nh = oh & vh;
  } else if (kind === BPF_XOR) {
    nl = ol ^ vl;
    nh = oh ^ vh;
  } else {
    throw new KernelError('EINVAL', `BPF_ATOMIC uses invalid atomic opcode ${hex2(imm)} at insn ${pc}`);
  }
  dv.setInt32(a, nl, true);
  dv.setInt32(a + 4, nh, true);
  if (imm === BPF_CMPXCHG) {
    R[0] = ol;
    R[1] = oh;
  } else if (fetch) {
    R[s] = ol;
    R[s + 1] = oh;
  }
}

// ---------------------------------------------------------------------------------------
// The run

/**
 * Mutable state of one top-level run shared by nested subprogram runs (bpf_loop). The
 * objects are pooled (with their callSubprog closure), so a run allocates none.
 */
class RunState {
  left = 0;
  prog: BpfProg | null = null;
  depth = 0;
  fp = 0;
  env: RunEnv | null = null;
  /** env.callSubprog for the run this state belongs to. */
  readonly callSubprog = (insnIdx: number, args: readonly bigint[]): bigint => {
    const env = this.env!;
    if (this.depth + 1 >= MAX_CALL_FRAMES) {
      throw new KernelError('E2BIG', `the call stack of ${this.depth + 2} frames is too deep`);
    }
    const prog = this.prog!;
    const depth = this.depth;
    const fp = this.fp;
    const r1 = args[0] ?? 0n;
    const dec = decoded(prog);
    const R = dec.pool.pop() ?? dec.template.slice();
    try {
      const lo = exec(env, this, prog, dec, R, insnIdx, depth + 1, fp - MAX_BPF_STACK, args, lo32(r1), hi32(r1));
      return toU64(lo, retHi);
    } finally {
      dec.pool.push(R);
      this.prog = prog;
      this.depth = depth;
      this.fp = fp;
    }
  };
}

const statePool: RunState[] = [];
/** The state of leaf runs (they cannot nest, and nothing reads it after the run). */
const leafState = new RunState();

/** High word of r0 of the exec that returned last (its return value is the low word). */
let retHi = 0;

function lo32(v: bigint): number {
  return Number(BigInt.asUintN(32, v)) | 0;
}

function hi32(v: bigint): number {
  return Number(BigInt.asUintN(32, v >> 32n)) | 0;
}

function toU64(lo: number, hi: number): bigint {
  return hi === 0 ? BigInt(lo >>> 0) : (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

export interface InterpOptions {
  /** Instruction budget (default DEFAULT_INSN_LIMIT); exceeding it stops the run with ELOOP. */
  insnLimit?: number;
}

/**
 * Runs env.prog from insn 0 with r1 = env.ctx (r2.. from env.args) and r10 = the stack
 * region top at `stackTop` (an address-space offset, see stack.ts). Returns r0 (u64).
 */
export function interpRun(env: RunEnv, stackTop: number, opts: InterpOptions = {}): bigint {
  const ctx = env.ctx;
  const lo = run(env, stackTop, opts.insnLimit ?? DEFAULT_INSN_LIMIT, env.args ?? null, lo32(ctx), hi32(ctx));
  return toU64(lo, retHi);
}

/**
 * The numeric entry for hot callers (run.ts's bpfProgRunner): r1 = the address of
 * address-space offset ctxOff, r2..r5 = 0, r10 = stackTop; returns the low 32 bits of r0
 * (as Linux's bpf_prog_run) as a signed 32-bit number. No BigInt and no allocation on
 * the way (env.ctx is not read: helpers that want it read it themselves).
 */
export function interpRun32(env: RunEnv, ctxOff: number, stackTop: number): number {
  return run(env, stackTop, DEFAULT_INSN_LIMIT, null, ctxOff, KHI);
}

function run(env: RunEnv, stackTop: number, limit: number, args: readonly bigint[] | null, r1lo: number, r1hi: number): number {
  const prog = env.prog;
  const dec = decoded(prog);
  if (dec.leaf) {
    // Nothing can run during a leaf run: no pools, no finally, the program's own file.
    leafState.left = limit;
    return exec(env, leafState, prog, dec, dec.file ?? (dec.file = dec.template.slice()), 0, 0, stackTop, args, r1lo, r1hi);
  }
  const st = statePool.pop() ?? new RunState();
  st.left = limit;
  st.prog = prog;
  st.depth = 0;
  st.fp = stackTop;
  st.env = env;
  env.callSubprog = st.callSubprog;
  const R = dec.pool.pop() ?? dec.template.slice();
  try {
    return exec(env, st, prog, dec, R, 0, 0, stackTop, args, r1lo, r1hi);
  } finally {
    dec.pool.push(R);
    st.env = null;
    st.prog = null;
    statePool.push(st);
  }
}

/**
 * Runs prog (decoded as dec) from pc0 in register file R0, which the caller owns (a file
 * taken for a tail call's target is returned to its pool here). Returns r0's low word;
 * its high word is left in retHi.
 */
function exec(
  env: RunEnv,
  st: RunState,
  prog0: BpfProg,
  dec0: Decoded,
  R0: Int32Array,
  pc0: number,
  depth0: number,
  fp: number,
  args: readonly bigint[] | null,
  r1lo: number,
  r1hi: number,
): number {
  let prog = prog0;
  let dec = dec0;
  let R = R0;
  {
    // r0, r2..r9 = 0 (only those the program may read before writing: see Decoded.zero)
    const Z = dec.zero;
    for (let i = 0; i < Z.length; i++) R[Z[i]!] = 0;
    R[2] = r1lo;
    R[3] = r1hi;
    if (args !== null) for (let i = 1; i < 5 && i < args.length; i++) setU64(R, 2 + 2 * i, args[i]!);
    R[20] = fp;
    R[21] = KHI;
    let C = dec.code;
    let F = dec.framesAt;
    let pc = pc0;
    let depth = depth0;
    let budget = st.left;
    let t = 0;
    const mem = env.kernel.mem;
    let dv = mem.dv;
    let memLen = mem.u8.length;
    // LD_ABS at a non-negative offset: the packet's start and length
    let pkt = env.packet;
    let pData = pkt === undefined ? 0 : pkt.data;
    let pLen = pkt === undefined ? -1 : pkt.len;

    // `break drop` (a packet load out of range) leaves this loop for the one epilogue after it
    drop: for (;;) {
      const p = pc << 2;
      const w = C[p]!;
      const d = w >>> 16;
      const s = C[p + 1]!;
      pc++;
      switch (w & 0xffff) {
        // ---- ALU64 (BPF_K forms folded into BPF_X: s indexes the slot's constant)
        case 0x0f: { // add
          const l = (R[d]! >>> 0) + (R[s]! >>> 0);
          R[d + 1] = (R[d + 1]! + R[s + 1]! + (l > 0xffffffff ? 1 : 0)) | 0;
          R[d] = l | 0;
          break;
        }
        case 0x1f: { // sub
          const l = (R[d]! >>> 0) - (R[s]! >>> 0);
          R[d + 1] = (R[d + 1]! - R[s + 1]! - (l < 0 ? 1 : 0)) | 0;
          R[d] = l | 0;
          break;
        }
        case 0x2f: mul64(R, d, s); break;
        case 0x3f: div64(R, d, s); break;
        case 0x4f: R[d] = R[d]! | R[s]!; R[d + 1] = R[d + 1]! | R[s + 1]!; break;
        case 0x5f: R[d] = R[d]! & R[s]!; R[d + 1] = R[d + 1]! & R[s + 1]!; break;
        case 0x6f: { // lsh
          const n = R[s]! & 63;
          if (n >= 32) {
            R[d + 1] = R[d]! << (n - 32);
            R[d] = 0;
          } else if (n !== 0) {
            R[d + 1] = (R[d + 1]! << n) | (R[d]! >>> (32 - n));
            R[d] = R[d]! << n;
          }
          break;
        }
        case 0x7f: { // rsh
          const n = R[s]! & 63;
          if (n >= 32) {
            R[d] = R[d + 1]! >>> (n - 32);
            R[d + 1] = 0;
          } else if (n !== 0) {
            R[d] = (R[d]! >>> n) | (R[d + 1]! << (32 - n));
            R[d + 1] = R[d + 1]! >>> n;
          }
          break;
        }
        case 0x87: { // neg
          const lo = -R[d]! | 0;
          R[d + 1] = (~R[d + 1]! + (lo === 0 ? 1 : 0)) | 0;
          R[d] = lo;
          break;
        }
        case 0x9f: mod64(R, d, s); break;
        case 0xaf: R[d] = R[d]! ^ R[s]!; R[d + 1] = R[d + 1]! ^ R[s + 1]!; break;
        case 0xbf: R[d] = R[s]!; R[d + 1] = R[s + 1]!; break;
        case 0xcf: { // arsh
          const n = R[s]! & 63;
          if (n >= 32) {
            R[d] = R[d + 1]! >> (n - 32);
            R[d + 1] = R[d + 1]! >> 31;
          } else if (n !== 0) {
            R[d] = (R[d]! >>> n) | (R[d + 1]! << (32 - n));
            R[d + 1] = R[d + 1]! >> n;
          }
          break;
        }
        case 0xd7: endian(R, d, C[p + 3]!, true); break; // bswap
        case 0x101: sdiv64(R, d, s); break; // OP_SDIV64
        case 0x103: smod64(R, d, s); break; // OP_SMOD64
        case 0x106: R[d] = (R[s]! << 24) >> 24; R[d + 1] = R[d]! >> 31; break; // OP_MOVSX64_8
        case 0x107: R[d] = (R[s]! << 16) >> 16; R[d + 1] = R[d]! >> 31; break; // OP_MOVSX64_16
        case 0x108: R[d] = R[s]!; R[d + 1] = R[s]! >> 31; break; // OP_MOVSX64_32

        // ---- ALU (32-bit: every result zero-extends)
        case 0x0c: R[d] = (R[d]! + R[s]!) | 0; R[d + 1] = 0; break;
        case 0x1c: R[d] = (R[d]! - R[s]!) | 0; R[d + 1] = 0; break;
        case 0x2c: R[d] = Math.imul(R[d]!, R[s]!); R[d + 1] = 0; break;
        case 0x3c: { // div
          const b = R[s]! >>> 0;
          R[d] = b === 0 ? 0 : (R[d]! >>> 0) / b;
          R[d + 1] = 0;
          break;
        }
        case 0x4c: R[d] = R[d]! | R[s]!; R[d + 1] = 0; break;
        case 0x5c: R[d] = R[d]! & R[s]!; R[d + 1] = 0; break;
        case 0x6c: R[d] = R[d]! << (R[s]! & 31); R[d + 1] = 0; break;
        case 0x7c: R[d] = R[d]! >>> (R[s]! & 31); R[d + 1] = 0; break;
        case 0x84: R[d] = -R[d]! | 0; R[d + 1] = 0; break;
        case 0x9c: { // mod: by zero leaves dst (zero-extended)
          const b = R[s]! >>> 0;
          if (b !== 0) R[d] = (R[d]! >>> 0) % b;
          R[d + 1] = 0;
          break;
        }
        case 0xac: R[d] = R[d]! ^ R[s]!; R[d + 1] = 0; break;
        case 0xbc: R[d] = R[s]!; R[d + 1] = 0; break;
        case 0xcc: R[d] = R[d]! >> (R[s]! & 31); R[d + 1] = 0; break;
        case 0xd4: endian(R, d, C[p + 3]!, false); break; // le
        case 0xdc: endian(R, d, C[p + 3]!, true); break; // be
        case 0x100: { // OP_SDIV32: INT_MIN / -1 wraps to INT_MIN through |0
          const b = R[s]!;
          R[d] = b === 0 ? 0 : (R[d]! / b) | 0;
          R[d + 1] = 0;
          break;
        }
        case 0x102: { // OP_SMOD32
          const b = R[s]!;
          if (b !== 0) R[d] = b === -1 ? 0 : (R[d]! % b) | 0;
          R[d + 1] = 0;
          break;
        }
        case 0x104: R[d] = (R[s]! << 24) >> 24; R[d + 1] = 0; break; // OP_MOVSX32_8
        case 0x105: R[d] = (R[s]! << 16) >> 16; R[d + 1] = 0; break; // OP_MOVSX32_16

        // ---- JMP (64-bit compares; a taken backward jump charges its distance to the budget)
        case 0x05: { pc += (t = C[p + 2]!); if (t < 0 && (budget += t) < 0) throw budgetExceeded(st, pc); } break; // ja, gotol
        case 0x1d: if (R[d] === R[s] && R[d + 1] === R[s + 1]) { pc += (t = C[p + 2]!); if (t < 0 && (budget += t) < 0) throw budgetExceeded(st, pc); } break;
        case 0x5d: if (R[d] !== R[s] || R[d + 1] !== R[s + 1]) { pc += (t = C[p + 2]!); if (t < 0 && (budget += t) < 0) throw budgetExceeded(st, pc); } break;
        case 0x4d: if ((R[d]! & R[s]!) !== 0 || (R[d + 1]! & R[s + 1]!) !== 0) { pc += (t = C[p + 2]!); if (t < 0 && (budget += t) < 0) throw budgetExceeded(st, pc); } break;
        case 0x2d: if ((R[d + 1]! >>> 0) > (R[s + 1]! >>> 0) || (R[d + 1] === R[s + 1] && (R[d]! >>> 0) > (R[s]! >>> 0))) { pc += (t = C[p + 2]!); if (t < 0 && (budget += t) < 0) throw budgetExceeded(st, pc); } break;
        case 0x3d: if ((R[d + 1]! >>> 0) > (R[s + 1]! >>> 0) || (R[d + 1] === R[s + 1] && (R[d]! >>> 0) >= (R[s]! >>> 0))) { pc += (t = C[p + 2]!); if (t < 0 && (budget += t) < 0) throw budgetExceeded(st, pc); } break;
        case 0xad: if ((R[d + 1]! >>> 0) < (R[s + 1]! >>> 0) || (R[d + 1] === R[s + 1] && (R[d]! >>> 0) < (R[s]! >>> 0))) { pc += (t = C[p + 2]!); if (t < 0 && (budget += t) < 0) throw budgetExceeded(st, pc); } break;
        case 0xbd: if ((R[d + 1]! >>> 0) < (R[s + 1]! >>> 0) || (R[d + 1] === R[s + 1] && (R[d]! >>> 0) <= (R[s]! >>> 0))) { pc += (t = C[p + 2]!); if (t < 0 && (budget += t) < 0) throw budgetExceeded(st, pc); } break;
        case 0x6d: if (R[d + 1]! > R[s + 1]! || (R[d + 1] === R[s + 1] && (R[d]! >>> 0) > (R[s]! >>> 0))) { pc += (t = C[p + 2]!); if (t < 0 && (budget += t) < 0) throw budgetExceeded(st, pc); } break;
        case 0x7d: if (R[d + 1]! > R[s + 1]! || (R[d + 1] === R[s + 1] && (R[d]! >>> 0) >= (R[s]! >>> 0))) { pc += (t = C[p + 2]!); if (t < 0 && (budget += t) < 0) throw budgetExceeded(st, pc); } break;
        case 0xcd: if (R[d + 1]! < R[s + 1]! || (R[d + 1] === R[s + 1] && (R[d]! >>> 0) < (R[s]! >>> 0))) { pc += (t = C[p + 2]!); if (t < 0 && (budget += t) < 0) throw budgetExceeded(st, pc); } break;
        case 0xdd: if (R[d + 1]! < R[s + 1]! || (R[d + 1] === R[s + 1] && (R[d]! >>> 0) <= (R[s]! >>> 0))) { pc += (t = C[p + 2]!); if (t < 0 && (budget += t) < 0) throw budgetExceeded(st, pc); } break;

        // ---- JMP32 (compare the low words)
        case 0x1e: if (R[d] === R[s]) { pc += (t = C[p + 2]!); if (t < 0 && (budget += t) < 0) throw budgetExceeded(st, pc); } break;
        case 0x5e: if (R[d] !== R[s]) { pc += (t = C[p + 2]!); if (t < 0 && (budget += t) < 0) throw budgetExceeded(st, pc); } break;
        case 0x4e: if ((R[d]! & R[s]!) !== 0) { pc += (t = C[p + 2]!); if (t < 0 && (budget += t) < 0) throw budgetExceeded(st, pc); } break;
        case 0x2e: if (R[d]! >>> 0 > R[s]! >>> 0) { pc += (t = C[p + 2]!); if (t < 0 && (budget += t) < 0) throw budgetExceeded(st, pc); } break;
        case 0x3e: if (R[d]! >>> 0 >= R[s]! >>> 0) { pc += (t = C[p + 2]!); if (t < 0 && (budget += t) < 0) throw budgetExceeded(st, pc); } break;
        case 0xae: if (R[d]! >>> 0 < R[s]! >>> 0) { pc += (t = C[p + 2]!); if (t < 0 && (budget += t) < 0) throw budgetExceeded(st, pc); } break;
        case 0xbe: if (R[d]! >>> 0 <= R[s]! >>> 0) { pc += (t = C[p + 2]!); if (t < 0 && (budget += t) < 0) throw budgetExceeded(st, pc); } break;
        case 0x6e: if (R[d]! > R[s]!) { pc += (t = C[p + 2]!); if (t < 0 && (budget += t) < 0) throw budgetExceeded(st, pc); } break;
        case 0x7e: if (R[d]! >= R[s]!) { pc += (t = C[p + 2]!); if (t < 0 && (budget += t) < 0) throw budgetExceeded(st, pc); } break;
        case 0xce: if (R[d]! < R[s]!) { pc += (t = C[p + 2]!); if (t < 0 && (budget += t) < 0) throw budgetExceeded(st, pc); } break;
        case 0xde: if (R[d]! <= R[s]!) { pc += (t = C[p + 2]!); if (t < 0 && (budget += t) < 0) throw budgetExceeded(st, pc); } break;

        // ---- calls and exit
        case 0x109: // OP_CALL_HELPER
        case 0x10b: { // OP_CALLX
          const id = (w & 0xffff) === OP_CALLX ? R[d]! : C[p + 3]!;
          const proto = prog.helpers.get(id);
          if (proto === undefined) throw new KernelError('EINVAL', `invalid func unknown#${id} at insn ${pc - 1}`);
          st.left = budget;
          st.prog = prog;
          st.depth = depth;
          st.fp = R[20]!;
          const r = proto.call(env, u64(R, 2), u64(R, 4), u64(R, 6), u64(R, 8), u64(R, 10));
          budget = st.left;
          setU64(R, 0, r);
          dv = mem.dv;
          memLen = mem.u8.length;
          pkt = env.packet;
          pData = pkt === undefined ? 0 : pkt.data;
          pLen = pkt === undefined ? -1 : pkt.len;
          const target = env.tailCallTarget;
          if (target !== null) {
            env.tailCallTarget = null;
            if (depth !== 0) {
              throw new KernelError('ENOTSUPP', 'tail call from a BPF subprogram needs the JIT');
            }
            env.tailCalls++;
            env.prog = target;
            const next = decoded(target);
            const R2 = next.pool.pop() ?? next.template.slice();
            R2.set(R.subarray(0, NREGS));
            if (R !== R0) dec.pool.push(R);
            prog = target;
            dec = next;
            R = R2;
            C = dec.code;
            F = dec.framesAt;
            pc = 0;
            if ((budget -= 1) < 0) throw budgetExceeded(st, pc);
          }
          break;
        }
        case 0x10a: { // OP_CALL_LOCAL
          if (depth + 1 >= MAX_CALL_FRAMES) {
            throw new KernelError('E2BIG', `the call stack of ${depth + 2} frames is too deep`);
          }
          const f = F + depth * FRAME_WORDS;
          R[f] = pc;
          for (let i = 0; i < 10; i++) R[f + 1 + i] = R[12 + i]!;
          depth++;
          R[20] = R[20]! - MAX_BPF_STACK;
          pc += C[p + 2]!;
          if ((budget -= 1) < 0) throw budgetExceeded(st, pc);
          break;
        }
        case 0x95: { // exit
          if (depth === depth0) {
            st.left = budget;
            retHi = R[1]!;
            if (R !== R0) dec.pool.push(R);
            return R[0]!;
          }
          depth--;
          const f = F + depth * FRAME_WORDS;
          pc = R[f]!;
          for (let i = 0; i < 10; i++) R[12 + i] = R[f + 1 + i]!;
          break;
        }

        // ---- loads and stores (every address checked against the address space)
        case 0x18: R[d] = R[s]!; R[d + 1] = R[s + 1]!; pc++; break; // lddw
        case 0x61: {
          const a = (R[s]! >>> 0) + C[p + 2]!;
          if (R[s + 1] !== KHI || a < PAGE_SIZE || a + 4 > memLen) throw fault(pc - 1, R, s, C[p + 2]!, 4, 'load');
          R[d] = dv.getInt32(a, true);
          R[d + 1] = 0;
          break;
        }
        case 0x69: {
          const a = (R[s]! >>> 0) + C[p + 2]!;
          if (R[s + 1] !== KHI || a < PAGE_SIZE || a + 2 > memLen) throw fault(pc - 1, R, s, C[p + 2]!, 2, 'load');
          R[d] = dv.getUint16(a, true);
          R[d + 1] = 0;
          break;
        }
        case 0x71: {
          const a = (R[s]! >>> 0) + C[p + 2]!;
          if (R[s + 1] !== KHI || a < PAGE_SIZE || a + 1 > memLen) throw fault(pc - 1, R, s, C[p + 2]!, 1, 'load');
          R[d] = dv.getUint8(a);
          R[d + 1] = 0;
          break;
        }
        case 0x79: {
          const a = (R[s]! >>> 0) + C[p + 2]!;
          if (R[s + 1] !== KHI || a < PAGE_SIZE || a + 8 > memLen) throw fault(pc - 1, R, s, C[p + 2]!, 8, 'load');
          R[d] = dv.getInt32(a, true);
          R[d + 1] = dv.getInt32(a + 4, true);
          break;
        }
        case 0x81: {
          const a = (R[s]! >>> 0) + C[p + 2]!;
          if (R[s + 1] !== KHI || a < PAGE_SIZE || a + 4 > memLen) throw fault(pc - 1, R, s, C[p + 2]!, 4, 'load');
          R[d] = dv.getInt32(a, true);
          R[d + 1] = R[d]! >> 31;
          break;
        }
        case 0x89: {
          const a = (R[s]! >>> 0) + C[p + 2]!;
          if (R[s + 1] !== KHI || a < PAGE_SIZE || a + 2 > memLen) throw fault(pc - 1, R, s, C[p + 2]!, 2, 'load');
          R[d] = dv.getInt16(a, true);
          R[d + 1] = R[d]! >> 31;
          break;
        }
        case 0x91: {
          const a = (R[s]! >>> 0) + C[p + 2]!;
          if (R[s + 1] !== KHI || a < PAGE_SIZE || a + 1 > memLen) throw fault(pc - 1, R, s, C[p + 2]!, 1, 'load');
          R[d] = dv.getInt8(a);
          R[d + 1] = R[d]! >> 31;
          break;
        }
        case 0x63: {
          const a = (R[d]! >>> 0) + C[p + 2]!;
          if (R[d + 1] !== KHI || a < PAGE_SIZE || a + 4 > memLen) throw fault(pc - 1, R, d, C[p + 2]!, 4, 'store');
          dv.setInt32(a, R[s]!, true);
          break;
        }
        case 0x6b: {
          const a = (R[d]! >>> 0) + C[p + 2]!;
          if (R[d + 1] !== KHI || a < PAGE_SIZE || a + 2 > memLen) throw fault(pc - 1, R, d, C[p + 2]!, 2, 'store');
          dv.setInt16(a, R[s]!, true);
          break;
        }
        case 0x73: {
          const a = (R[d]! >>> 0) + C[p + 2]!;
          if (R[d + 1] !== KHI || a < PAGE_SIZE || a + 1 > memLen) throw fault(pc - 1, R, d, C[p + 2]!, 1, 'store');
          dv.setInt8(a, R[s]!);
          break;
        }
        case 0x7b: {
          const a = (R[d]! >>> 0) + C[p + 2]!;
          if (R[d + 1] !== KHI || a < PAGE_SIZE || a + 8 > memLen) throw fault(pc - 1, R, d, C[p + 2]!, 8, 'store');
          dv.setInt32(a, R[s]!, true);
          dv.setInt32(a + 4, R[s + 1]!, true);
          break;
        }
        case 0xc3: case 0xdb: { // BPF_STX | BPF_ATOMIC | W / DW
          const size = (w & 0xffff) === 0xdb ? 8 : 4;
          const a = (R[d]! >>> 0) + C[p + 2]!;
          if (R[d + 1] !== KHI || a < PAGE_SIZE || a + size > memLen) throw fault(pc - 1, R, d, C[p + 2]!, size, 'atomic');
          atomic(dv, a, R, s, size === 8, C[p + 3]!, pc - 1);
          break;
        }
        case 0x20: case 0x28: case 0x30: case 0x40: case 0x48: case 0x50: { // LD_ABS / LD_IND
          const op = w & 0xffff;
          const size = (op & 0x18) === 0 ? 4 : (op & 0x18) === 0x08 ? 2 : 1;
          let off = C[p + 3]!;
          if (op >= 0x40) off = (off + R[s]!) | 0;
          const v =
            off >= 0 && off + size <= pLen
              ? size === 2 ? dv.getUint16(pData + off, false) : size === 1 ? dv.getUint8(pData + off) : dv.getUint32(pData + off, false)
              : ldPacket(env, off, size);
          if (v < 0) break drop; // packet load out of range
          R[0] = v | 0;
          R[1] = 0;
          break;
        }
        case 0x10d: // OP_LDABS_W
          if (C[p + 2]! > pLen) break drop; // packet load out of range
          R[0] = dv.getInt32(pData + C[p + 3]!, false);
          R[1] = 0;
          break;
        case 0x10e: // OP_LDABS_H
          if (C[p + 2]! > pLen) break drop; // packet load out of range
          R[0] = dv.getUint16(pData + C[p + 3]!, false);
          R[1] = 0;
          break;
        case 0x10f: // OP_LDABS_B
          if (C[p + 2]! > pLen) break drop; // packet load out of range
          R[0] = dv.getUint8(pData + C[p + 3]!);
          R[1] = 0;
          break;
        case 0x110: { // OP_LDABS_W_J: load, then the next slot's `if r0 <cond> K goto`
          if (C[p + 2]! > pLen) break drop; // packet load out of range
          pc += ldJump(R, C, p, d, dv.getUint32(pData + C[p + 3]!, false));
          break;
        }
        case 0x111: { // OP_LDABS_H_J: load, then the next slot's `if r0 <cond> K goto`
          if (C[p + 2]! > pLen) break drop; // packet load out of range
          pc += ldJump(R, C, p, d, dv.getUint16(pData + C[p + 3]!, false));
          break;
        }
        case 0x112: { // OP_LDABS_B_J: load, then the next slot's `if r0 <cond> K goto`
          if (C[p + 2]! > pLen) break drop; // packet load out of range
          pc += ldJump(R, C, p, d, dv.getUint8(pData + C[p + 3]!));
          break;
        }
        case 0x113: { // OP_LDIND_W_J
          const off = (C[p + 3]! + R[s]!) | 0;
          let v: number;
          if (off >= 0 && off + 4 <= pLen) v = dv.getUint32(pData + off, false);
          else if ((v = ldPacket(env, off, 4)) < 0) break drop; // packet load out of range
          pc += ldJump(R, C, p, d, v);
          break;
        }
        case 0x114: { // OP_LDIND_H_J
          const off = (C[p + 3]! + R[s]!) | 0;
          let v: number;
          if (off >= 0 && off + 2 <= pLen) v = dv.getUint16(pData + off, false);
          else if ((v = ldPacket(env, off, 2)) < 0) break drop; // packet load out of range
          pc += ldJump(R, C, p, d, v);
          break;
        }
        case 0x115: { // OP_LDIND_B_J
          const off = (C[p + 3]! + R[s]!) | 0;
          let v: number;
          if (off >= 0 && off + 1 <= pLen) v = dv.getUint8(pData + off);
          else if ((v = ldPacket(env, off, 1)) < 0) break drop; // packet load out of range
          pc += ldJump(R, C, p, d, v);
          break;
        }
        case 0x116: { // OP_CLASSIC_MSH: X = 4 * (P[k] & 0xf), A kept (r2 = A)
          if (C[p + 6]! > pLen) break drop; // packet load out of range
          R[14] = (dv.getUint8(pData + C[p + 7]!) & 0xf) << 2;
          R[15] = 0;
          R[4] = R[0]!;
          R[5] = R[1]!;
          pc += 6;
          break;
        }
        case 0x118: // OP_RET_K: w0 = K, then the next slot's exit
          R[0] = C[p + 3]!;
          R[1] = 0;
          if (depth === depth0) {
            st.left = budget;
            retHi = 0;
            if (R !== R0) dec.pool.push(R);
            return R[0]!;
          }
          break;
        case 0x117: // OP_CLASSIC_ENTRY: w0 ^= w0; w7 ^= w7; r6 = r1
          R[0] = 0;
          R[1] = 0;
          R[14] = 0;
          R[15] = 0;
          R[12] = R[2]!;
          R[13] = R[3]!;
          pc += 2;
          break;
        default: {
          const why = dec.bad.get(pc - 1) ?? `unknown opcode ${hex2(w & 0xff)}`;
          throw new KernelError('EINVAL', `${why} (insn ${pc - 1})`);
        }
      }
    }
    // a packet load out of range ends the program with 0 (as classic BPF on Linux)
    st.left = budget;
    retHi = 0;
    if (R !== R0) dec.pool.push(R);
    return 0;
  }
}

/**
 * The tail of the fused classic load + compare-and-jump ops (OP_LDABS_*_J, OP_LDIND_*_J):
 * r0 = v (the loaded packet value), then the next slot's `if r0 <cond> K goto`, cond = d
 * (JCC_*). Returns how far pc moves past the fused slot.
 */
function ldJump(R: Int32Array, C: Int32Array, p: number, d: number, v: number): number {
  const k = C[p + 7]!;
  R[0] = v;
  R[1] = 0;
  return (d === 0 ? v === k : d === 1 ? v !== k : d === 2 ? (v & k) !== 0 : d === 3 ? v > k : v >= k) ? C[p + 6]! + 1 : 1;
}

function budgetExceeded(st: RunState, pc: number): KernelError {
  st.left = 0;
  return new KernelError('ELOOP', `program did not finish within its instruction budget (at insn ${pc})`);
}
