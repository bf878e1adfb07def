// Seeded random programs on the JIT and on the interpreter (the reference): r0, the
// stack region and the memory the program writes must be identical.
import { describe, expect, it } from 'vitest';
import { genProgram, rng } from '../../../helpers/gen-ebpf.js';
import { insn, type Insn } from '../../../../kernel/bpf/isa.js';
import { acquireStack, releaseStack, STACK_REGION_SIZE } from '../../../../kernel/bpf/stack.js';
import { Kernel } from '../../../../kernel/kernel.js';
import { jit, makeProg, runOn } from './util.js';

/** Runs on one engine; returns r0 (or the error) and the stack region + buffer bytes after. */
function observe(kernel: Kernel, insns: Insn[], engine: 'jit' | 'interp', harden = 0): string {
  const prog = makeProg(insns);
  kernel.sysctl.bpfJitHarden = harden as 0 | 2;
  if (engine === 'jit') jit(kernel, prog);
  const top = acquireStack(kernel);
  releaseStack(kernel, top); // LIFO pool: the run gets this same region
  kernel.mem.u8.fill(0, top - STACK_REGION_SIZE, top);
  let r0: string;
  let after: string;
  try {
    r0 = runOn(kernel, prog, engine, null).toString(16);
  } catch (e) {
    r0 = `error ${(e as { errno?: string }).errno ?? (e as Error).message}`;
  }
  after = Buffer.from(kernel.mem.bytes(top - STACK_REGION_SIZE, STACK_REGION_SIZE)).toString('hex');
  return `${r0} ${after}`;
}

/** A bounded loop around random ALU, stack and atomic work, with forward branches inside. */
function loopProgram(seed: number): Insn[] {
  const r = rng(seed);
  const int = (n: number): number => Math.floor(r() * n);
  const imms = [0, 1, -1, 7, 31, 32, 63, 0x7fffffff, -0x80000000, 0x1234, -3];
  const body: Insn[] = [];
  const n = 10 + int(30);
  for (let k = 0; k < n; k++) {
    const kind = int(10);
    const dst = int(6); // r0..r5 (r6 is the loop counter)
    const src = int(6);
    if (kind < 5) {
      const op = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xa0, 0xb0, 0xc0][int(12)]!;
      const c = int(2) ? 0x07 : 0x04;
      const x = int(2) ? 0x08 : 0;
      const off = (op === 0x30 || op === 0x90) && int(2) ? 1 : 0;
      body.push(insn(c | op | x, dst, src, off, imms[int(imms.length)]!));
    } else if (kind < 7) {
      const slot = -8 * (1 + int(8));
      body.push(insn(0x7b, 10, dst, slot)); // *(u64 *)(r10 + slot) = dst
      body.push(insn(0x79, src, 10, -8 * (1 + int(8)))); // src = *(u64 *)(r10 + slot')
    } else if (kind < 8) {
      const atomic = [0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1][int(10)]!;
      body.push(insn(0xdb, 10, src === 0 ? 1 : src, -8 * (1 + int(8)), atomic));
    } else {
      // forward branch over the next 1..3 instructions
      const skip = 1 + int(3);
      body.push(insn([0x15, 0x25, 0x35, 0x45, 0x55, 0x65, 0xa5, 0xd5, 0x1e, 0x2e][int(10)]!, dst, 0, skip, imms[int(imms.length)]!));
      for (let s = 0; s < skip; s++) body.push(insn(0x07, int(6), 0, 0, int(1000)));
    }
  }
  const out: Insn[] = [];
  for (let reg = 0; reg <= 5; reg++) out.push(insn(0xb7, reg, 0, 0, int(2) ? imms[int(imms.length)]! : int(100000)));
  for (let s = 1; s <= 8; s++) out.push(insn(0x7a, 10, 0, -8 * s, int(1 << 30)));
  out.push(insn(0xb7, 6, 0, 0, 1 + int(20))); // r6 = iterations
  out.push(...body);
  out.push(insn(0x17, 6, 0, 0, 1)); // r6 -= 1
  out.push(insn(0x55, 6, 0, -(body.length + 2), 0)); // if r6 != 0 goto body
  out.push(insn(0x95));
  return out;
}

describe('JIT vs interpreter', () => {
  it('agree on 400 generated straight-line/branchy programs', () => {
    const kernel = new Kernel({ seed: 3 });
    const bad: string[] = [];
    let errors = 0;
    for (let i = 0; i < 400; i++) {
      const p = genProgram(7, i);
      const a = observe(kernel, p, 'interp');
      const b = observe(kernel, p, 'jit');
      if (a !== b) bad.push(`program ${i}: interp ${a.slice(0, 40)} jit ${b.slice(0, 40)}`);
      if (a.startsWith('error')) errors++;
    }
    expect(bad).toEqual([]);
    expect(errors).toBe(0);
  });

  it('agree on 300 random bounded loops with stack atomics', () => {
    const kernel = new Kernel({ seed: 4 });
    const bad: string[] = [];
    for (let i = 0; i < 300; i++) {
      const p = loopProgram(1000 + i);
      const a = observe(kernel, p, 'interp');
      const b = observe(kernel, p, 'jit');
      if (a !== b) bad.push(`program ${i}: interp ${a.slice(0, 40)} jit ${b.slice(0, 40)}`);
    }
    expect(bad).toEqual([]);
  });

  it('agree when the JIT blinds constants', () => {
    const kernel = new Kernel({ seed: 5 });
    const bad: string[] = [];
    for (let i = 0; i < 100; i++) {
      const p = i % 2 ? genProgram(9, i) : loopProgram(5000 + i);
      const a = observe(kernel, p, 'interp');
      const b = observe(kernel, p, 'jit', 2);
      if (a !== b) bad.push(`program ${i}`);
    }
    expect(bad).toEqual([]);
  });
});
