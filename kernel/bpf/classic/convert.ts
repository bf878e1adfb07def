/**
 * Classic BPF -> eBPF, as Linux's bpf_convert_filter() (net/core/filter.c) does it, so that
 * classic programs run on the one engine (DESIGN.md decision 4). The program must have
 * passed checkClassic() (or seccomp's checker) first.
 *
 * Register mapping (Linux's):  A -> r0, X -> r7, ctx -> r6 (kept for LD_ABS/LD_IND, which
 * read the packet through it), r2 scratch (BPF_REG_TMP), M[k] -> the stack word at
 * r10 - (4k + 4). Every A/X write is a 32-bit ALU op, so both stay zero-extended and the
 * 64-bit conditional jumps compare them as u32 exactly as classic does.
 *
 * Shape of the output:
 *   prologue     w0 ^= w0; w7 ^= w7; r6 = r1            (A = X = 0)
 *   ALU          as is, dst r0, src r7; DIV/MOD by X first checks X: 0 ends with 0
 *   LD_ABS/IND   eBPF LD_ABS/LD_IND (an out-of-range load ends the program with 0);
 *                ancillary offsets become __sk_buff loads or calls (convertAncillary)
 *   LDX MSH      X = 4 * (P[k] & 0xf), saving A in X around the load as Linux does
 *   jumps        JEQ/JGT/JGE/JSET with jf == 0 -> one jump; jt == 0 -> the negated jump
 *                (JNE/JLE/JLT); otherwise a jump and a JA. A negative k is moved to r2
 *                first (eBPF immediates are sign-extended, classic ones are not).
 *   RET          w0 = k (RET K); exit
 */
import { KernelError } from '../../errno.js';
import {
  BPF_ABS, BPF_ALU, BPF_ALU64, BPF_AND, BPF_B, BPF_CALL, BPF_DIV, BPF_EXIT, BPF_H, BPF_IMM, BPF_IND,
  BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JLE, BPF_JLT, BPF_JMP, BPF_JNE, BPF_JSET, BPF_K, BPF_LD,
  BPF_LDX, BPF_LEN, BPF_LSH, BPF_MEM, BPF_MOD, BPF_MOV, BPF_MSH, BPF_STX, BPF_TO_BE, BPF_END, BPF_W,
  BPF_X, BPF_XOR, insn, type Insn,
} from '../isa.js';
import { CLASSIC_FUNC } from './helpers.js';
import { BPF_A, BPF_MISC, BPF_RET, BPF_TAX, BPF_TXA, SKF_AD, SKF_AD_OFF, type SockFilter } from './isa.js';
import { SKB, SK_BUFF_SIZE } from '../skb-layout.js';

const A = 0;
const X = 7;
const CTX = 6;
const TMP = 2;
const FP = 10;

/** Pseudo opcode seccomp's checker rewrites `ld [k]` into: A = *(u32 *)(ctx + k). */
export const BPF_LDX_ABS_W_SECCOMP = BPF_LDX | BPF_ABS | BPF_W;

export interface ConvertedProgram {
  insns: Insn[];
  /** Bytes of stack the scratch words use (4 * (highest M[k] stored + 1)). */
  stackDepth: number;
}

const mov32Imm = (dst: number, imm: number): Insn => insn(BPF_ALU | BPF_MOV | BPF_K, dst, 0, 0, imm);
const mov32Reg = (dst: number, src: number): Insn => insn(BPF_ALU | BPF_MOV | BPF_X, dst, src);
const mov64Reg = (dst: number, src: number): Insn => insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src);
const alu32Imm = (op: number, dst: number, imm: number): Insn => insn(BPF_ALU | op | BPF_K, dst, 0, 0, imm);
const ldxW = (dst: number, src: number, off: number): Insn => insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off);
const ldxH = (dst: number, src: number, off: number): Insn => insn(BPF_LDX | BPF_MEM | BPF_H, dst, src, off);
const be16 = (dst: number): Insn => insn(BPF_ALU | BPF_END | BPF_TO_BE, dst, 0, 0, 16);
const exit = (): Insn => insn(BPF_JMP | BPF_EXIT);
const call = (id: number): Insn => insn(BPF_JMP | BPF_CALL, 0, 0, 0, id);

/** One classic instruction's eBPF, with jumps still naming classic targets. */
interface Piece {
  insns: Insn[];
  /** Index in insns -> classic target index. */
  jumps: Map<number, number>;
}

/** convert_bpf_extensions(): the ancillary load at k, or null when k names none. */
function convertAncillary(k: number): Insn[] | null {
  switch ((k | 0) - SKF_AD_OFF) {
    case SKF_AD.SKF_AD_PROTOCOL:
      return [ldxH(A, CTX, SKB.protocol), be16(A)];
    case SKF_AD.SKF_AD_PKTTYPE:
      return [ldxW(A, CTX, SKB.pkt_type)];
    case SKF_AD.SKF_AD_IFINDEX:
    case SKF_AD.SKF_AD_HATYPE: {
      // No device: Linux leaves with whatever A holds (`if (dev == NULL) exit`).
      const guard = [ldxW(TMP, CTX, SKB.ifindex), insn(BPF_JMP | BPF_JNE | BPF_K, TMP, 0, 1, 0), exit()];
      return (k | 0) - SKF_AD_OFF === SKF_AD.SKF_AD_IFINDEX
        ? [...guard, mov32Reg(A, TMP)]
        : [...guard, mov64Reg(1, CTX), call(CLASSIC_FUNC.skb_dev_type)];
    }
    case SKF_AD.SKF_AD_MARK:
      return [ldxW(A, CTX, SKB.mark)];
    case SKF_AD.SKF_AD_RXHASH:
      return [ldxW(A, CTX, SKB.hash)];
    case SKF_AD.SKF_AD_QUEUE:
      return [ldxH(A, CTX, SKB.queue_mapping)];
    case SKF_AD.SKF_AD_VLAN_TAG:
      return [ldxH(A, CTX, SKB.vlan_tci)];
    case SKF_AD.SKF_AD_VLAN_TAG_PRESENT:
      return [ldxW(A, CTX, SKB.vlan_present), insn(BPF_JMP | BPF_JEQ | BPF_K, A, 0, 1, 0), mov32Imm(A, 1)];
    case SKF_AD.SKF_AD_VLAN_TPID:
      return [ldxH(A, CTX, SKB.vlan_proto), be16(A)];
    case SKF_AD.SKF_AD_PAY_OFFSET:
    case SKF_AD.SKF_AD_NLATTR:
    case SKF_AD.SKF_AD_NLATTR_NEST:
    case SKF_AD.SKF_AD_CPU:
    case SKF_AD.SKF_AD_RANDOM: {
      const id = {
        [SKF_AD.SKF_AD_PAY_OFFSET]: CLASSIC_FUNC.skb_get_pay_offset,
        [SKF_AD.SKF_AD_NLATTR]: CLASSIC_FUNC.skb_get_nlattr,
        [SKF_AD.SKF_AD_NLATTR_NEST]: CLASSIC_FUNC.skb_get_nlattr_nest,
        [SKF_AD.SKF_AD_CPU]: CLASSIC_FUNC.get_raw_cpu_id,
        [SKF_AD.SKF_AD_RANDOM]: CLASSIC_FUNC.user_rnd_u32,
      }[(k | 0) - SKF_AD_OFF]!;
      // (r1 = ctx, r2 = A, r3 = X); the result is the new A. The functions return u32s.
      return [mov64Reg(1, CTX), mov64Reg(2, A), mov64Reg(3, X), call(id)];
    }
    case SKF_AD.SKF_AD_ALU_XOR_X:
      return [insn(BPF_ALU | BPF_XOR | BPF_X, A, X)];
    default:
      return null;
  }
}

const COND_OPS: ReadonlySet<number> = new Set([BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET]);
const NEGATED: Readonly<Record<number, number>> = { [BPF_JEQ]: BPF_JNE, [BPF_JGT]: BPF_JLE, [BPF_JGE]: BPF_JLT };

function convertOne(f: SockFilter, i: number, seccomp: boolean): Piece {
  const out: Insn[] = [];
  const jumps = new Map<number, number>();
  const jumpTo = (j: Insn, target: number): void => {
    jumps.set(out.length, target);
    out.push(j);
  };
  const k = f.k >>> 0;
  const cls = f.code & 0x07;
  switch (f.code) {
    case BPF_LD | BPF_W | BPF_ABS:
    case BPF_LD | BPF_H | BPF_ABS:
    case BPF_LD | BPF_B | BPF_ABS: {
      const anc = seccomp ? null : convertAncillary(k);
      out.push(...(anc ?? [insn(f.code, A, 0, 0, k | 0)]));
      break;
    }
    case BPF_LD | BPF_W | BPF_IND:
    case BPF_LD | BPF_H | BPF_IND:
    case BPF_LD | BPF_B | BPF_IND:
      out.push(insn(f.code, A, X, 0, k | 0));
      break;
    case BPF_LDX | BPF_B | BPF_MSH:
      out.push(
        mov64Reg(X, A), // keep A in X: X is overwritten below anyway
        insn(BPF_LD | BPF_ABS | BPF_B, A, 0, 0, k | 0),
        alu32Imm(BPF_AND, A, 0xf),
        alu32Imm(BPF_LSH, A, 2),
        mov64Reg(TMP, X),
        mov64Reg(X, A),
        mov64Reg(A, TMP),
      );
      break;
    case BPF_RET | BPF_K:
      out.push(mov32Imm(A, k | 0), exit());
      break;
    case BPF_RET | BPF_A:
      out.push(exit());
      break;
    case 0x02: // BPF_ST
    case 0x03: // BPF_STX
      out.push(insn(BPF_STX | BPF_MEM | BPF_W, FP, cls === 0x02 ? A : X, -(k * 4 + 4)));
      break;
    case BPF_LD | BPF_MEM:
    case BPF_LDX | BPF_MEM:
      out.push(ldxW(cls === BPF_LD ? A : X, FP, -(k * 4 + 4)));
      break;
    case BPF_LD | BPF_IMM:
    case BPF_LDX | BPF_IMM:
      out.push(mov32Imm(cls === BPF_LD ? A : X, k | 0));
      break;
    case BPF_MISC | BPF_TAX:
      out.push(mov64Reg(X, A));
      break;
    case BPF_MISC | BPF_TXA:
      out.push(mov64Reg(A, X));
      break;
    case BPF_LD | BPF_W | BPF_LEN:
    case BPF_LDX | BPF_W | BPF_LEN:
      out.push(ldxW(cls === BPF_LD ? A : X, CTX, SKB.len));
      break;
    case BPF_LDX_ABS_W_SECCOMP:
      out.push(ldxW(A, CTX, k));
      break;
    case BPF_JMP | BPF_JA:
      jumpTo(insn(BPF_JMP | BPF_JA), i + k + 1);
      break;
    default:
      if (cls === BPF_ALU) {
        if (f.code === (BPF_ALU | BPF_DIV | BPF_X) || f.code === (BPF_ALU | BPF_MOD | BPF_X)) {
          // Classic division by X == 0 returns 0 from the program.
          out.push(mov32Reg(X, X), insn(BPF_JMP | BPF_JNE | BPF_K, X, 0, 2, 0), insn(BPF_ALU | BPF_XOR | BPF_X, A, A), exit());
        }
        out.push(insn(f.code, A, (f.code & BPF_X) !== 0 ? X : 0, 0, k | 0));
        break;
      }
      if (cls === BPF_JMP && COND_OPS.has(f.code & 0xf0)) {
        const op = f.code & 0xf0;
        let src = f.code & BPF_X;
        let imm = 0;
        let srcReg = 0;
        if (src === BPF_K && (k | 0) < 0) {
          out.push(mov32Imm(TMP, k | 0));
          src = BPF_X;
          srcReg = TMP;
        } else if (src === BPF_X) {
          srcReg = X;
        } else {
          imm = k | 0;
        }
        if (f.jf === 0) {
          jumpTo(insn(BPF_JMP | op | src, A, srcReg, 0, imm), i + f.jt + 1);
        } else if (f.jt === 0 && NEGATED[op] !== undefined) {
          jumpTo(insn(BPF_JMP | NEGATED[op]! | src, A, srcReg, 0, imm), i + f.jf + 1);
        } else {
          jumpTo(insn(BPF_JMP | op | src, A, srcReg, 0, imm), i + f.jt + 1);
          jumpTo(insn(BPF_JMP | BPF_JA), i + f.jf + 1);
        }
        break;
      }
      throw new KernelError('EINVAL', `insn ${i}: cannot convert opcode 0x${f.code.toString(16)}`);
  }
  return { insns: out, jumps };
}

/**
 * Converts a checked classic program. `seccomp: true` treats LD_ABS as plain loads (no
 * ancillary window), for filters whose checker has not rewritten them.
 */
export function convertClassic(prog: readonly SockFilter[], opts: { seccomp?: boolean } = {}): ConvertedProgram {
  const prologue = [insn(BPF_ALU | BPF_XOR | BPF_X, A, A), insn(BPF_ALU | BPF_XOR | BPF_X, X, X), mov64Reg(CTX, 1)];
  const pieces = prog.map((f, i) => convertOne(f, i, opts.seccomp ?? false));
  // addrs[i]: where classic insn i starts in the output (Linux's addrs[]).
  const addrs: number[] = [];
  let at = prologue.length;
  for (const p of pieces) {
    addrs.push(at);
    at += p.insns.length;
  }
  const out = [...prologue];
  let stackDepth = 0;
  pieces.forEach((p, i) => {
    p.insns.forEach((ins, n) => {
      const target = p.jumps.get(n);
      if (target !== undefined) {
        const to = addrs[target];
        if (to === undefined) throw new KernelError('EINVAL', `insn ${i}: jump to ${target} out of range`);
        const off = to - (addrs[i]! + n + 1);
        if (off < -0x8000 || off > 0x7fff) throw new KernelError('EINVAL', `insn ${i}: jump offset ${off} too large`);
        ins = { ...ins, off };
      }
      out.push(ins);
    });
    const f = prog[i]!;
    if (f.code === 0x02 || f.code === 0x03) stackDepth = Math.max(stackDepth, (f.k >>> 0) * 4 + 4);
  });
  return { insns: out, stackDepth };
}

