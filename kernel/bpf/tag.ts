/**
 * The program tag bpftool shows (`tag 3b185187f1855c4c`): the first 8 bytes of SHA-1 over
 * the instructions as loaded, with the imm of map-referencing LD_IMM64 pairs zeroed so the
 * tag does not depend on fd numbers (bpf_prog_calc_tag).
 */
import { createHash } from 'node:crypto';
import { BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE, encodeInsns, isLdImm64, toHex, type Insn } from './isa.js';

export const BPF_TAG_SIZE = 8;

export function progTag(insns: readonly Insn[]): string {
  const copy = insns.map((i) => ({ ...i }));
  for (let n = 0; n + 1 < copy.length; n++) {
    const i = copy[n]!;
    if (isLdImm64(i) && (i.src === BPF_PSEUDO_MAP_FD || i.src === BPF_PSEUDO_MAP_VALUE)) {
      i.imm = 0;
      copy[n + 1]!.imm = 0;
      n++;
    }
  }
  const digest = createHash('sha1').update(encodeInsns(copy)).digest();
  return toHex(new Uint8Array(digest.subarray(0, BPF_TAG_SIZE)));
}
