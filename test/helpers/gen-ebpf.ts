// Seeded random eBPF programs for differential tests against the host kernel: straight
// line code with forward-only branches that the Linux verifier accepts (as root) and whose
// result depends on every ALU corner: div/mod by zero, INT_MIN/-1, shifts, be/le/bswap,
// movsx, sdiv/smod, sign-extending loads, stack loads/stores and stack atomics.
// Program i depends only on (seed, i). Before every exit r0 is folded (r0 ^= r0 >> 32)
// because BPF_PROG_TEST_RUN reports only the low 32 bits.
import { insn, type Insn } from '../../kernel/bpf/isa.js';

/** mulberry32 */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CORNERS = [
  0n, 1n, 2n, 3n, 7n, 0xffn, 0x7fffn, 0x8000n, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn,
  0x100000000n, 0x7fffffffffffffffn, 0x8000000000000000n, 0xffffffffffffffffn, 0xfffffffffffffffen,
  0xffffffff80000000n, 0x123456789abcdef0n, 0xfedcba9876543210n,
];
const IMM_CORNERS = [0, 1, -1, 2, -2, 31, 32, 63, 0x7fffffff, -0x80000000, 0xffff, -0x8000, 17, 1000];

const ALU_OPS = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xa0, 0xb0, 0xc0];
const JMP_OPS = [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0];

export interface GenOptions {
  /** Body items (default 20..60). */
  minItems?: number;
  maxItems?: number;
}

export function genProgram(seed: number, index: number, opts: GenOptions = {}): Insn[] {
  const r = rng((Math.imul(seed, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0);
  const int = (n: number): number => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const reg = (): number => int(10);
  const imm = (): number => (r() < 0.5 ? pick(IMM_CORNERS) : (int(0x100000000) | 0));
  const value = (): bigint => (r() < 0.6 ? pick(CORNERS) : BigInt(int(0x100000000)) * 0x100000000n + BigInt(int(0x100000000)));
  const out: Insn[] = [];

  const lddw = (dst: number, v: bigint): void => {
    out.push(insn(0x18, dst, 0, 0, Number(BigInt.asIntN(32, v))), insn(0, 0, 0, 0, Number(BigInt.asIntN(32, v >> 32n))));
  };
  const fold = (): void => {
    out.push(insn(0xbf, 1, 0), insn(0x77, 1, 0, 0, 32), insn(0xaf, 0, 1));
  };

  // Prologue: every register and eight stack slots hold known values.
  for (let i = 0; i < 10; i++) lddw(i, value());
  for (let k = 1; k <= 8; k++) out.push(insn(0x7b, 10, reg(), -8 * k));

  const alu = (): void => {
    const is64 = r() < 0.6;
    const cls = is64 ? 0x07 : 0x04;
    const kind = int(20);
    const dst = reg();
    if (kind === 0) {
      out.push(insn(cls | 0x80, dst)); // neg
    } else if (kind === 1) {
      const bits = pick([16, 32, 64]);
      const code = pick([0xd4, 0xdc, 0xd7]); // le, be, bswap
      out.push(insn(code, dst, 0, 0, bits));
    } else if (kind === 2) {
      const off = is64 ? pick([8, 16, 32]) : pick([8, 16]);
      out.push(insn(cls | 0xb8, dst, reg(), off)); // movsx
    } else if (kind === 3 || kind === 4) {
      const op = pick([0x30, 0x90]); // sdiv / smod
      if (r() < 0.5) out.push(insn(cls | op | 0x08, dst, reg(), 1));
      else out.push(insn(cls | op, dst, 0, 1, pick([-1, 1, 2, -3, 7, 0x7fffffff, -0x80000000])));
    } else {
      const op = pick(ALU_OPS);
      const shift = op === 0x60 || op === 0x70 || op === 0xc0;
      if (r() < 0.5) {
        out.push(insn(cls | op | 0x08, dst, reg()));
      } else {
        let k = shift ? int(is64 ? 64 : 32) : imm();
        if ((op === 0x30 || op === 0x90) && k === 0) k = -1; // the verifier rejects div by imm 0
        out.push(insn(cls | op, dst, 0, 0, k));
      }
    }
  };

  const mem = (): void => {
    const kind = int(4);
    const size = pick([1, 2, 4, 8]);
    const sz = size === 1 ? 0x10 : size === 2 ? 0x08 : size === 4 ? 0x00 : 0x18;
    const off = -8 * (1 + int(8)) + size * int(8 / size);
    if (kind === 0) out.push(insn(0x61 | sz, reg(), 10, off)); // ldx
    else if (kind === 1 && size !== 8) out.push(insn(0x81 | sz, reg(), 10, off)); // ldsx
    else if (kind === 2) out.push(insn(0x63 | sz, 10, reg(), off)); // stx
    else out.push(insn(0x62 | sz, 10, 0, off, imm())); // st
  };

  const atomic = (): void => {
    const dw = r() < 0.5;
    const off = -8 * (1 + int(8)) + (dw ? 0 : 4 * int(2));
    const op = pick([0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1]);
    out.push(insn(dw ? 0xdb : 0xc3, 10, reg(), off, op));
  };

  // mayExit: the block may end in an early exit (only where nothing follows it inside
  // the block, or the verifier would find unreachable code)
  const items = (n: number, depth: number, mayExit = false): void => {
    for (let i = 0; i < n; i++) {
      const kind = r();
      if (kind < 0.55) alu();
      else if (kind < 0.72) mem();
      else if (kind < 0.8) atomic();
      else if (kind < 0.95 && depth < 2) branch(depth);
      else alu();
    }
    if (mayExit && r() < 0.3) {
      fold();
      out.push(insn(0x95));
    }
  };

  const branch = (depth: number): void => {
    const at = out.length;
    const is64 = r() < 0.6;
    const op = pick(JMP_OPS);
    if (r() < 0.5) out.push(insn((is64 ? 0x05 : 0x06) | op | 0x08, reg(), reg()));
    else out.push(insn((is64 ? 0x05 : 0x06) | op, reg(), 0, 0, imm()));
    const withElse = r() < 0.3;
    items(1 + int(4), depth + 1, !withElse);
    if (withElse) {
      // if/else: the then-block ends with a jump over the else-block (ja or gotol)
      const ja = out.length;
      const gotol = r() < 0.3;
      out.push(gotol ? insn(0x06) : insn(0x05));
      out[at]!.off = out.length - at - 1;
      items(1 + int(3), depth + 1, true);
      if (gotol) out[ja]!.imm = out.length - ja - 1;
      else out[ja]!.off = out.length - ja - 1;
    } else {
      out[at]!.off = out.length - at - 1;
    }
  };

  const min = opts.minItems ?? 20;
  const max = opts.maxItems ?? 60;
  items(min + int(max - min + 1), 0);
  fold();
  out.push(insn(0x95));
  return out;
}
