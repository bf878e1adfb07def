/**
 * The classic BPF checker: Linux's bpf_check_classic() and check_load_and_stores()
 * (net/core/filter.c), as run by SO_ATTACH_FILTER before a program is converted to eBPF.
 * Every refusal is EINVAL, as in Linux; the message says which rule failed.
 *
 * Rules, in Linux's order:
 *   - 1..BPF_MAXINSNS instructions (bpf_check_basics_ok);
 *   - every opcode is one of the known ones (chk_code_allowed: exact codes, so stray
 *     bits in a code are refused);
 *   - DIV/MOD by constant 0, LSH/RSH by a constant >= 32;
 *   - M[k] with k >= BPF_MEMWORDS;
 *   - JA forward and inside the program (k < len - pc - 1), both branches of a
 *     conditional jump inside the program (jumps are forward by construction: u8);
 *   - LD_ABS in the ancillary window (k >= SKF_AD_OFF as u32) must name a known extension;
 *   - the last instruction is RET K or RET A;
 *   - scratch memory is read only where every path has written it.
 */
import { KernelError } from '../../errno.js';
import {
  BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_B, BPF_DIV, BPF_H, BPF_IMM, BPF_IND, BPF_JA, BPF_JEQ,
  BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_LDX, BPF_LEN, BPF_LSH, BPF_MEM, BPF_MOD,
  BPF_MSH, BPF_MUL, BPF_NEG, BPF_OR, BPF_RSH, BPF_ST, BPF_STX, BPF_SUB, BPF_W, BPF_X, BPF_XOR,
} from '../isa.js';
import {
  BPF_A, BPF_MAXINSNS, BPF_MEMWORDS, BPF_MISC, BPF_RET, BPF_TAX, BPF_TXA, SKF_AD_OFF, ancillaryOf,
  SKF_AD, type SockFilter,
} from './isa.js';

/** Every opcode Linux's chk_code_allowed() accepts. */
export const CLASSIC_CODES: ReadonlySet<number> = new Set([
  ...[BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_MOD, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH].flatMap(
    (op) => [BPF_ALU | op | BPF_K, BPF_ALU | op | BPF_X],
  ),
  BPF_ALU | BPF_NEG,
  BPF_LD | BPF_W | BPF_ABS, BPF_LD | BPF_H | BPF_ABS, BPF_LD | BPF_B | BPF_ABS,
  BPF_LD | BPF_W | BPF_LEN,
  BPF_LD | BPF_W | BPF_IND, BPF_LD | BPF_H | BPF_IND, BPF_LD | BPF_B | BPF_IND,
  BPF_LD | BPF_IMM, BPF_LD | BPF_MEM,
  BPF_LDX | BPF_W | BPF_LEN, BPF_LDX | BPF_B | BPF_MSH, BPF_LDX | BPF_IMM, BPF_LDX | BPF_MEM,
  BPF_ST, BPF_STX,
  BPF_MISC | BPF_TAX, BPF_MISC | BPF_TXA,
  BPF_RET | BPF_K, BPF_RET | BPF_A,
  BPF_JMP | BPF_JA,
  ...[BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JSET].flatMap((op) => [BPF_JMP | op | BPF_K, BPF_JMP | op | BPF_X]),
]);

const SKF_AD_KNOWN: ReadonlySet<number> = new Set(Object.values(SKF_AD));

export function isConditionalJump(code: number): boolean {
  return (code & 0x07) === BPF_JMP && (code & 0xf0) !== BPF_JA;
}

function reject(pc: number | null, why: string): never {
  throw new KernelError('EINVAL', pc === null ? why : `insn ${pc}: ${why}`);
}

/** Throws EINVAL (with the reason) unless Linux would accept the program. */
export function checkClassic(prog: readonly SockFilter[]): void {
  const flen = prog.length;
  if (flen === 0 || flen > BPF_MAXINSNS) reject(null, `program length ${flen} not in 1..${BPF_MAXINSNS}`);
  prog.forEach((f, pc) => {
    if (!CLASSIC_CODES.has(f.code)) reject(pc, `unknown opcode 0x${f.code.toString(16)}`);
    const k = f.k >>> 0;
    switch (f.code) {
      case BPF_ALU | BPF_DIV | BPF_K:
      case BPF_ALU | BPF_MOD | BPF_K:
        if (k === 0) reject(pc, 'division by constant zero');
        break;
      case BPF_ALU | BPF_LSH | BPF_K:
      case BPF_ALU | BPF_RSH | BPF_K:
        if (k >= 32) reject(pc, `shift by ${k}`);
        break;
      case BPF_LD | BPF_MEM:
      case BPF_LDX | BPF_MEM:
      case BPF_ST:
      case BPF_STX:
        if (k >= BPF_MEMWORDS) reject(pc, `scratch memory index ${k} out of range`);
        break;
      case BPF_JMP | BPF_JA:
        if (k >= flen - pc - 1) reject(pc, `jump out of range (ja +${k})`);
        break;
      case BPF_LD | BPF_W | BPF_ABS:
      case BPF_LD | BPF_H | BPF_ABS:
      case BPF_LD | BPF_B | BPF_ABS: {
        // Linux compares the u32 k with SKF_AD_OFF converted to unsigned.
        const ad = ancillaryOf(k);
        if (k >= SKF_AD_OFF >>> 0 && (ad === null || !SKF_AD_KNOWN.has(ad))) {
          reject(pc, `unknown ancillary load 0x${k.toString(16)}`);
        }
        break;
      }
      default:
        if (isConditionalJump(f.code) && (pc + f.jt + 1 >= flen || pc + f.jf + 1 >= flen)) {
          reject(pc, `jump out of range (jt ${f.jt}, jf ${f.jf})`);
        }
    }
  });
  const last = prog[flen - 1]!.code;
  if (last !== (BPF_RET | BPF_K) && last !== (BPF_RET | BPF_A)) reject(flen - 1, 'last instruction is not RET');
  checkLoadAndStores(prog);
}

/**
 * check_load_and_stores(): a forward dataflow over the (acyclic) program. masks[pc] holds the
 * scratch words written on every path reaching pc (all ones = not reached yet), so a read
 * of M[k] is accepted only when each path wrote it. As in Linux, RET does not reset the
 * state: code after a RET that no jump reaches inherits what was valid before it.
 */
function checkLoadAndStores(prog: readonly SockFilter[]): void {
  const ALL = 0xffff;
  const masks = new Array<number>(prog.length).fill(ALL);
  let memvalid = 0;
  prog.forEach((f, pc) => {
    memvalid &= masks[pc]!;
    switch (f.code) {
      case BPF_ST:
      case BPF_STX:
        memvalid |= 1 << f.k;
        break;
      case BPF_LD | BPF_MEM:
      case BPF_LDX | BPF_MEM:
        if (!(memvalid & (1 << f.k))) reject(pc, `M[${f.k}] read before it is written`);
        break;
      case BPF_JMP | BPF_JA:
        masks[pc + 1 + f.k]! &= memvalid;
        memvalid = ALL;
        break;
      default:
        if (isConditionalJump(f.code)) {
          masks[pc + 1 + f.jt]! &= memvalid;
          masks[pc + 1 + f.jf]! &= memvalid;
          memvalid = ALL;
        }
    }
  });
}
