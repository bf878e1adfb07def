// Differential test against the host Linux kernel (DESIGN.md: the kernel is the
// specification): seeded random programs and hand-written corner programs must give the
// same low 32 bits of r0 on both engines (interpreter and JIT) as BPF_PROG_TEST_RUN gives
// on the host.
// Skips with the reason when the host cannot answer (no gcc, bpf() refused).
import { describe, expect, it } from 'vitest';
import { assemble } from '../../../kernel/bpf/asm.js';
import { conformanceProg, conformanceRun } from '../../../kernel/bpf/conformance.js';
import { encodeInsns, toHex, type Insn } from '../../../kernel/bpf/isa.js';
import { jitCompile } from '../../../kernel/bpf/jit/index.js';
import { Kernel } from '../../../kernel/kernel.js';
import { genProgram } from '../../helpers/gen-ebpf.js';
import { hostOracle } from '../../helpers/oracle.js';

const oracle = hostOracle();
const kernel = new Kernel();

function runOn(engine: 'interp' | 'jit', insns: Insn[]): number {
  const prog = conformanceProg(kernel, encodeInsns(insns));
  if (engine === 'jit') prog.jited = jitCompile(kernel, prog);
  const r0 = conformanceRun(kernel, prog, null, engine, 10_000_000);
  return Number(r0 & 0xffffffffn);
}

/** Disagreements of either engine with the host's value. */
function compare(label: string, insns: Insn[], host: number): string[] {
  return (['interp', 'jit'] as const).flatMap((engine) => {
    const mine = runOn(engine, insns);
    return mine === host ? [] : [`${label}: host ${host}, ${engine} ${mine}`];
  });
}

const FOLD = 'mov %r1, %r0\nrsh %r1, 32\nxor %r0, %r1\nexit';
// Each ends by folding r0's high word into the low word (test_run reports 32 bits).
const CORNERS: Record<string, string> = {
  'div64 by zero reg': 'lddw %r0, 0x123456789\nmov %r2, 0\ndiv %r0, %r2',
  'mod64 by zero reg': 'lddw %r0, 0x123456789\nmov %r2, 0\nmod %r0, %r2',
  'mod32 by zero reg zero-extends': 'lddw %r0, 0xffffffff12345678\nmov %r2, 0\nmod32 %r0, %r2',
  'div32 high divisor bits ignored': 'mov %r0, 100\nlddw %r2, 0x100000007\ndiv32 %r0, %r2',
  'sdiv64 INT_MIN/-1': 'lddw %r0, 0x8000000000000000\nmov %r2, -1\nsdiv %r0, %r2',
  'smod64 INT_MIN%-1': 'lddw %r0, 0x8000000000000000\nmov %r2, -1\nsmod %r0, %r2',
  'sdiv32 INT_MIN/-1': 'mov32 %r0, 0x80000000\nmov %r2, -1\nsdiv32 %r0, %r2',
  'smod32 by zero': 'mov %r0, -5\nmov %r2, 0\nsmod32 %r0, %r2',
  'udiv by imm -1': 'lddw %r0, 0xffffffffffffffff\ndiv %r0, -1',
  'umod by imm -2': 'lddw %r0, 0xffffffffffffffff\nmod %r0, -2',
  'lsh reg 64+3': 'mov %r0, 1\nmov %r2, 67\nlsh %r0, %r2',
  'rsh32 reg 35': 'mov %r0, -1\nmov %r2, 35\nrsh32 %r0, %r2',
  'arsh64 by 32': 'lddw %r0, 0x8000000100000000\narsh %r0, 32',
  'arsh64 reg 63+64': 'lddw %r0, 0x8000000000000000\nmov %r2, 127\narsh %r0, %r2',
  'rsh64 by 32': 'lddw %r0, 0x8000000100000000\nrsh %r0, 32',
  'lsh64 by 32': 'lddw %r0, 0x8000000180000001\nlsh %r0, 32',
  'mul64 wrap': 'lddw %r0, 0xfedcba9876543210\nlddw %r2, 0xfedcba9876543210\nmul %r0, %r2',
  'le16 truncates': 'lddw %r0, 0x1122334455667788\nle16 %r0',
  'be32 zero-extends': 'lddw %r0, 0x1122334455667788\nbe32 %r0',
  'bswap64': 'lddw %r0, 0x1122334455667788\nbswap64 %r0',
  'movsx3264': 'mov32 %r2, 0x80000001\nmovsx3264 %r0, %r2',
  'ldxsw from the stack': 'stdw [%r10-8], -3\nldxsw %r0, [%r10-8]',
  'atomic fetch add32 zero-extends': 'stw [%r10-8], -1\nmov %r0, -1\nlock fetch add32 [%r10-8], %r0',
  'cmpxchg32 zero-extends r0': 'stw [%r10-8], -1\nmov %r0, -1\nmov %r2, 5\nlock cmpxchg32 [%r10-8], %r2\nldxw %r3, [%r10-8]\nadd %r0, %r3',
  'xchg64': 'stdw [%r10-8], -9\nmov %r0, 4\nlock xchg [%r10-8], %r0',
  'jsgt32 vs jgt': 'mov %r0, 0\nmov %r2, -1\njsgt32 %r2, 1, +1\nmov %r0, 7\njgt %r2, 1, +1\nmov %r0, 9',
  'bounded loop': 'mov %r0, 0\nmov %r2, 0\nl: add %r0, %r2\nadd %r2, 1\njlt %r2, 100, l',
};

describe.skipIf(!oracle.ok)(`interpreter and JIT vs host kernel${oracle.ok ? '' : ` (skipped: ${oracle.reason})`}`, () => {
  const run = oracle.ok ? oracle.run : () => [];

  it(`hand-written corner programs (${Object.keys(CORNERS).length}) agree`, () => {
    const names = Object.keys(CORNERS);
    const progs = names.map((n) => assemble(`${CORNERS[n]}\n${FOLD}`));
    const host = run(progs.map((p) => ({ hex: toHex(encodeInsns(p)) })));
    const diffs = names.flatMap((n, i) => {
      const h = host[i]!;
      if (!h.loaded) return [`${n}: host rejected (errno ${h.errno}): ${h.log ?? ''}`];
      return compare(n, progs[i]!, h.retval ?? -1);
    });
    expect(diffs).toEqual([]);
  });

  const SEEDS = [1, 2];
  const COUNT = 200;
  it.each(SEEDS)(`${COUNT} random programs with seed %i agree`, (seed) => {
    const progs = Array.from({ length: COUNT }, (_, i) => genProgram(seed, i));
    const host = run(progs.map((p) => ({ hex: toHex(encodeInsns(p)) })));
    const diffs: string[] = [];
    progs.forEach((p, i) => {
      const h = host[i]!;
      const hex = toHex(encodeInsns(p));
      if (!h.loaded) diffs.push(`program ${i} rejected by the host (errno ${h.errno}): ${hex}\n${(h.log ?? '').split('\n').slice(-4).join('\n')}`);
      else diffs.push(...compare(`program ${i} (${hex})`, p, h.retval ?? -1));
    });
    expect(diffs.slice(0, 3)).toEqual([]);
  });
});
