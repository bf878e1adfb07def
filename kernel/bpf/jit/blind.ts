/**
 * Constant blinding (Linux kernel/bpf/core.c, bpf_jit_blind_constants): before the JIT
 * sees a program, every user-chosen immediate is replaced by `imm ^ rnd` loaded into the
 * hidden register AX and xored with `rnd` again at run time, so that an attacker cannot
 * plant chosen byte sequences in executable memory (JIT spraying). Each instruction gets
 * a fresh random key.
 *
 *   ALU[64] op dst, K      ->  AX = K ^ rnd; AX ^= rnd; ALU[64] op dst, AX
 *   JMP[32] op dst, K, off ->  AX = K ^ rnd; AX ^= rnd; JMP[32] op dst, AX, off'
 *   ST  [dst+off], K       ->  AX = K ^ rnd; AX ^= rnd; STX [dst+off], AX
 *   LD_IMM64 dst, hi:lo    ->  AX = hi ^ rnd; AX ^= rnd; AX <<= 32; dst = AX;
 *                              w(AX) = lo ^ rnd'; w(AX) ^= rnd'; dst |= AX
 *   mov dst, 0             ->  dst ^= dst
 *
 * As in Linux, shifts are left alone (their immediates are below 64), and so are the
 * LD_IMM64s holding a subprogram address (BPF_PSEUDO_FUNC). Where Linux patches one
 * instruction at a time and adjusts branches each time, we rewrite the whole program
 * once and then recompute every branch offset from an old -> new index map.
 */
import {
  BPF_ALU, BPF_ALU64, BPF_CALL, BPF_EXIT, BPF_JA, BPF_JMP, BPF_JMP32, BPF_K, BPF_MEM,
  BPF_MOV, BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC, BPF_ST, BPF_STX, BPF_X, BPF_XOR, BPF_LSH, BPF_OR,
  type Insn, aluOp, cls, isLdImm64, modeOf, sizeOf, srcBit,
} from '../isa.js';

/** The hidden register the JIT keeps in a wasm local (Linux's BPF_REG_AX = MAX_BPF_REG). */
export const BPF_REG_AX = 11;

const BLINDED_ALU = new Set([0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x90, 0xa0, 0xb0]); // add sub mul div or and mod xor mov

const ins = (code: number, dst: number, src: number, off: number, imm: number): Insn => ({
  code, dst, src, off, imm: imm | 0,
});

/** Jump-like instructions whose offset is relative (index of the target - index - 1). */
function relTarget(i: Insn): 'off' | 'imm' | null {
  const c = cls(i.code);
  if (c === BPF_JMP || c === BPF_JMP32) {
    const op = aluOp(i.code);
    if (op === BPF_EXIT) return null;
    if (op === BPF_CALL) return i.src === BPF_PSEUDO_CALL ? 'imm' : null;
    if (op === BPF_JA && c === BPF_JMP32) return 'imm';
    return 'off';
  }
  if (isLdImm64(i) && i.src === BPF_PSEUDO_FUNC) return 'imm';
  return null;
}

/**
 * Returns the blinded program. `rnd` gives a fresh 32-bit key per use. The input must not
 * already use AX (r11); instructions that do are copied unchanged, as Linux does.
 */
export function blindConstants(insns: readonly Insn[], rnd: () => number): Insn[] {
  const out: Insn[] = [];
  const newStart: number[] = new Array<number>(insns.length + 1);
  /** (new index of the jump, old index of its target, which field holds the offset) */
  const fixups: { at: number; target: number; field: 'off' | 'imm' }[] = [];

  for (let i = 0; i < insns.length; i++) {
    const from = insns[i]!;
    newStart[i] = out.length;
    const c = cls(from.code);
    const rel = relTarget(from);
    const untouchable = from.dst === BPF_REG_AX || from.src === BPF_REG_AX;

    if (isLdImm64(from) && i + 1 < insns.length) {
      const hi = insns[i + 1]!;
      if (from.src === BPF_PSEUDO_FUNC || untouchable) {
        fixups.push(...(rel ? [{ at: out.length, target: i + 1 + from.imm, field: rel }] : []));
        out.push({ ...from }, { ...hi });
      } else {
        const r1 = rnd() | 0;
        const r2 = rnd() | 0;
        out.push(
          ins(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_AX, 0, 0, r1 ^ hi.imm),
          ins(BPF_ALU64 | BPF_XOR | BPF_K, BPF_REG_AX, 0, 0, r1),
          ins(BPF_ALU64 | BPF_LSH | BPF_K, BPF_REG_AX, 0, 0, 32),
          ins(BPF_ALU64 | BPF_MOV | BPF_X, from.dst, BPF_REG_AX, 0, 0),
        );
        newStart[i + 1] = out.length;
        out.push(
          ins(BPF_ALU | BPF_MOV | BPF_K, BPF_REG_AX, 0, 0, r2 ^ from.imm),
          ins(BPF_ALU | BPF_XOR | BPF_K, BPF_REG_AX, 0, 0, r2),
          ins(BPF_ALU64 | BPF_OR | BPF_X, from.dst, BPF_REG_AX, 0, 0),
        );
        i++;
        continue;
      }
      newStart[i + 1] = out.length - 1;
      i++;
      continue;
    }

    if (untouchable) {
      if (rel) fixups.push({ at: out.length, target: i + 1 + (rel === 'off' ? from.off : from.imm), field: rel });
      out.push({ ...from });
      continue;
    }

    if ((c === BPF_ALU || c === BPF_ALU64) && srcBit(from.code) === BPF_K && BLINDED_ALU.has(aluOp(from.code))) {
      if (aluOp(from.code) === BPF_MOV && from.imm === 0) {
        out.push(ins(BPF_ALU64 | BPF_XOR | BPF_X, from.dst, from.dst, 0, 0));
        continue;
      }
      const r = rnd() | 0;
      out.push(
        ins(c | BPF_MOV | BPF_K, BPF_REG_AX, 0, 0, r ^ from.imm),
        ins(c | BPF_XOR | BPF_K, BPF_REG_AX, 0, 0, r),
        ins(c | aluOp(from.code) | BPF_X, from.dst, BPF_REG_AX, from.off, 0),
      );
      continue;
    }

    if ((c === BPF_JMP || c === BPF_JMP32) && rel === 'off' && aluOp(from.code) !== BPF_JA && srcBit(from.code) === BPF_K) {
      const r = rnd() | 0;
      const movCls = c === BPF_JMP ? BPF_ALU64 : BPF_ALU;
      out.push(
        ins(movCls | BPF_MOV | BPF_K, BPF_REG_AX, 0, 0, r ^ from.imm),
        ins(movCls | BPF_XOR | BPF_K, BPF_REG_AX, 0, 0, r),
      );
      fixups.push({ at: out.length, target: i + 1 + from.off, field: 'off' });
      out.push(ins(c | aluOp(from.code) | BPF_X, from.dst, BPF_REG_AX, from.off, 0));
      continue;
    }

    if (c === BPF_ST && modeOf(from.code) === BPF_MEM) {
      const r = rnd() | 0;
      out.push(
        ins(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_AX, 0, 0, r ^ from.imm),
        ins(BPF_ALU64 | BPF_XOR | BPF_K, BPF_REG_AX, 0, 0, r),
        ins(BPF_STX | BPF_MEM | sizeOf(from.code), from.dst, BPF_REG_AX, from.off, 0),
      );
      continue;
    }

    if (rel) fixups.push({ at: out.length, target: i + 1 + (rel === 'off' ? from.off : from.imm), field: rel });
    out.push({ ...from });
  }
  newStart[insns.length] = out.length;

  for (const f of fixups) {
    // A target outside the program stays outside (the compiler rejects it).
    const t = f.target >= 0 && f.target <= insns.length ? newStart[f.target]! : f.target + out.length;
    const rel = t - f.at - 1;
    const j = out[f.at]!;
    if (f.field === 'off') j.off = rel;
    else j.imm = rel;
  }
  return out;
}
