/**
 * seccomp_check_filter (kernel/seccomp.c): after the classic checker, only the
 * instructions a syscall filter needs are allowed, and loads are rewritten for the
 * converter: `ld [k]` must be a 32-bit aligned load inside struct seccomp_data and becomes
 * the seccomp pseudo load A = *(u32 *)(ctx + k); `ld #len` / `ldx #len` become immediates
 * of sizeof(struct seccomp_data). Anything else is EINVAL (packet loads, MOD, MSH, ...).
 */
import { KernelError } from '../../kernel/errno.js';
import {
  BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_DIV, BPF_IMM, BPF_JA, BPF_JEQ, BPF_JGE, BPF_JGT,
  BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_LDX, BPF_LEN, BPF_LSH, BPF_MEM, BPF_MUL, BPF_NEG,
  BPF_OR, BPF_RSH, BPF_ST, BPF_STX, BPF_SUB, BPF_W, BPF_X, BPF_XOR,
} from '../../kernel/bpf/isa.js';
import { BPF_MISC, BPF_RET, BPF_TAX, BPF_TXA, BPF_A, type SockFilter } from '../../kernel/bpf/classic/isa.js';
import { SECCOMP_DATA_SIZE } from './uapi.js';

const ALLOWED = new Set<number>([
  BPF_RET | BPF_K, BPF_RET | BPF_A,
  ...[BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH].flatMap((op) => [
    BPF_ALU | op | BPF_K, BPF_ALU | op | BPF_X,
  ]),
  BPF_ALU | BPF_NEG,
  BPF_LD | BPF_IMM, BPF_LDX | BPF_IMM,
  BPF_MISC | BPF_TAX, BPF_MISC | BPF_TXA,
  BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM, BPF_ST, BPF_STX,
  BPF_JMP | BPF_JA,
  ...[BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JSET].flatMap((op) => [BPF_JMP | op | BPF_K, BPF_JMP | op | BPF_X]),
]);

/** Returns the rewritten program or throws EINVAL with the reason. */
export function seccompCheckFilter(prog: readonly SockFilter[]): SockFilter[] {
  return prog.map((f, pc) => {
    const k = f.k >>> 0;
    switch (f.code) {
      case BPF_LD | BPF_W | BPF_ABS:
        if (k >= SECCOMP_DATA_SIZE || (k & 3) !== 0) {
          throw new KernelError('EINVAL', `insn ${pc}: load of seccomp_data offset ${k} (must be 32-bit aligned and below ${SECCOMP_DATA_SIZE})`);
        }
        return { code: BPF_LDX | BPF_W | BPF_ABS, jt: f.jt, jf: f.jf, k };
      case BPF_LD | BPF_W | BPF_LEN:
        return { code: BPF_LD | BPF_IMM, jt: f.jt, jf: f.jf, k: SECCOMP_DATA_SIZE };
      case BPF_LDX | BPF_W | BPF_LEN:
        return { code: BPF_LDX | BPF_IMM, jt: f.jt, jf: f.jf, k: SECCOMP_DATA_SIZE };
      default:
        if (!ALLOWED.has(f.code)) throw new KernelError('EINVAL', `insn ${pc}: opcode 0x${f.code.toString(16)} not allowed in seccomp filters`);
        return { code: f.code, jt: f.jt, jf: f.jf, k };
    }
  });
}
