// The JIT's fast entry (JitImage.runRaw, $main_raw) and run.ts's bpfProgRunner: every
// conformance program through runRaw agrees with the interpreter given the same r1/r2
// (both ways of building $main_raw: the body compiled into it, and the call to $sub_0);
// helpers get the caller's env; faults are EFAULT; runners reuse their env safely.
import { describe, expect, it } from 'vitest';
import { conformanceCases, progFromHex } from '../../../helpers/conformance.js';
import { Kernel } from '../../../../kernel/kernel.js';
import { isKernelError } from '../../../../kernel/errno.js';
import { bpfProgRun, bpfProgRunner } from '../../../../kernel/bpf/run.js';
import { acquireStack, releaseStack } from '../../../../kernel/bpf/stack.js';
import type { FuncProto, RunEnv } from '../../../../kernel/bpf/types.js';
import { asm, jit, makeProg } from './util.js';

const CASES = conformanceCases().filter((c) => c.mem !== null);

/** r0's low 32 bits, or the errno of the failure. */
function outcome(fn: () => number | bigint): string {
  try {
    const r = fn();
    return `r0=${typeof r === 'bigint' ? Number(BigInt.asUintN(32, r)) | 0 : r}`;
  } catch (e) {
    if (isKernelError(e)) return e.errno;
    throw e;
  }
}

describe('JIT runRaw', () => {
  for (const mode of ['structured', 'dispatch'] as const) {
    it(`agrees with the interpreter on the conformance programs with memory (${mode})`, () => {
      const failures: string[] = [];
      let raw = 0;
      for (const c of CASES) {
        const kernel = new Kernel();
        const prog = progFromHex(kernel, c.code, 'interp');
        let image;
        try {
          image = jit(kernel, prog, { forceDispatch: mode === 'dispatch' });
        } catch {
          continue; // programs the JIT declines are the conformance test's business
        }
        const off = kernel.mem.alloc(c.mem!.length);
        kernel.mem.write(off, c.mem!);
        const want = outcome(() => bpfProgRun(kernel, prog, kernel.mem.addr(off), { args: [kernel.mem.addr(off), 0n], engine: 'interp' }));
        kernel.mem.write(off, c.mem!);
        const top = acquireStack(kernel);
        const env: RunEnv = { kernel, prog, ctx: kernel.mem.addr(off), cpu: 0, task: null, tailCalls: 0, tailCallTarget: null };
        const got = outcome(() => image.runRaw(off, top, image.rawNeedsEnv ? env : null));
        releaseStack(kernel, top);
        if (!image.rawNeedsEnv) raw++;
        if (got !== want) failures.push(`${c.name}: runRaw ${got}, interpreter ${want}`);
      }
      expect(failures).toEqual([]);
      expect(raw).toBeGreaterThan(30); // 40 today: the rest call helpers
    });
  }

  it('returns the low 32 bits of r0 and takes r1 = the ctx address', () => {
    const kernel = new Kernel();
    const prog = makeProg(asm('lddw %r0, 0x1234567887654321\nmov %r2, %r1\nrsh %r2, 32\nadd %r0, %r2\nexit'));
    const image = jit(kernel, prog);
    expect(image.rawNeedsEnv).toBe(false);
    const top = acquireStack(kernel);
    // r0 + high word of r1 (0xffff8880): low 32 bits of 0x12345678_87654321 + 0xffff8880
    expect(image.runRaw(4096, top, null)).toBe((0x87654321 + 0xffff8880) | 0);
    releaseStack(kernel, top);
  });

  it('passes the env to helpers and refuses to run them without one', () => {
    const kernel = new Kernel();
    const seen: bigint[] = [];
    const h: FuncProto = { id: 5, name: 'identity', ret: 'INTEGER', args: ['ANYTHING'], call: (env, r1) => { seen.push(env.ctx, r1); return r1 + 1n; } };
    const prog = makeProg(asm('mov %r1, 41\ncall 5\nexit'), [h]);
    const image = jit(kernel, prog);
    expect(image.rawNeedsEnv).toBe(true);
    const top = acquireStack(kernel);
    const env: RunEnv = { kernel, prog, ctx: 7n, cpu: 0, task: null, tailCalls: 0, tailCallTarget: null };
    expect(image.runRaw(8192, top, env)).toBe(42);
    expect(seen).toEqual([7n, 41n]);
    expect(() => image.runRaw(8192, top, null)).toThrow(/needs a RunEnv/);
    releaseStack(kernel, top);
  });

  it('turns a bad access into EFAULT', () => {
    const kernel = new Kernel();
    const prog = makeProg(asm('ldxw %r0, [%r1+0]\nexit'));
    const image = jit(kernel, prog);
    const top = acquireStack(kernel);
    expect(outcome(() => image.runRaw(kernel.mem.u8.length + 64, top, null))).toBe('EFAULT');
    expect(outcome(() => image.runRaw(16, top, null))).toBe('EFAULT'); // the reserved first page
    releaseStack(kernel, top);
  });
});

describe('bpfProgRunner', () => {
  it('gives the same results as bpfProgRun on both engines, with and without helpers', () => {
    const kernel = new Kernel();
    const h: FuncProto = { id: 5, name: 'identity', ret: 'INTEGER', args: ['ANYTHING'], call: (_env, r1) => r1 };
    const plain = makeProg(asm('ldxw %r0, [%r1+0]\nadd %r0, 1\nexit'));
    const helper = makeProg(asm('ldxw %r1, [%r1+0]\ncall 5\nmul %r0, 3\nexit'), [h]);
    const off = kernel.mem.alloc(16);
    for (const prog of [plain, helper]) {
      jit(kernel, prog);
      const runners = [bpfProgRunner(kernel, prog, 'interp'), bpfProgRunner(kernel, prog, 'jit'), bpfProgRunner(kernel, prog)];
      for (const v of [0, 1, 99, 0x7fffffff, -5]) {
        kernel.mem.dv.setInt32(off, v, true);
        const want = Number(BigInt.asUintN(32, bpfProgRun(kernel, prog, kernel.mem.addr(off), { engine: 'interp' }))) | 0;
        for (const run of runners) expect(run(off)).toBe(want);
      }
    }
  });

  it('follows bpf_jit_enable when no engine is forced, and refuses a forced JIT without an image', () => {
    const kernel = new Kernel();
    const prog = makeProg(asm('mov %r0, 3\nexit'));
    expect(() => bpfProgRunner(kernel, prog, 'jit')).toThrow(/not JIT-compiled/);
    jit(kernel, prog);
    const run = bpfProgRunner(kernel, prog);
    const before = prog.runCount;
    kernel.sysctl.bpfJitEnable = 0;
    expect(run(4096)).toBe(3);
    kernel.sysctl.bpfJitEnable = 1;
    expect(run(4096)).toBe(3);
    expect(prog.runCount).toBe(before + 2);
  });

  it('survives a nested run of the same runner (a helper running the program again)', () => {
    const kernel = new Kernel();
    let inner: ((off: number) => number) | null = null;
    let depth = 0;
    const h: FuncProto = {
      id: 5, name: 'reenter', ret: 'INTEGER', args: ['ANYTHING'],
      call: (_env, r1) => (depth++ === 0 && inner ? BigInt(inner(4096)) + r1 : r1),
    };
    const prog = makeProg(asm('mov %r1, 10\ncall 5\nadd %r0, 1\nexit'), [h]);
    for (const engine of ['interp', 'jit'] as const) {
      if (engine === 'jit') jit(kernel, prog);
      depth = 0;
      const run = bpfProgRunner(kernel, prog, engine);
      inner = run;
      // inner run: 10 + 1 = 11; outer: 11 + 10 + 1 = 22
      expect(run(4096)).toBe(22);
    }
  });
});
