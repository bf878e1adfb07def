// The instruction budget on the JIT: a runaway loop stops with ELOOP as on the interpreter
// (regression: `r0 = 0; if r0 == 0 goto -1; exit` hung the process under PROG_TEST_RUN).
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../../../index.js';
import { KernelError } from '../../../../kernel/errno.js';
import { DEFAULT_INSN_LIMIT } from '../../../../kernel/bpf/interpreter.js';
import { BPF_CMD, insn } from '../../../../kernel/bpf/isa.js';
import { bpfPacketRunner, bpfProgRun, bpfProgRunner } from '../../../../kernel/bpf/run.js';
import { bpfCommand } from '../../../../kernel/bpf/syscall.js';
import type { FuncProto } from '../../../../kernel/bpf/types.js';
import { Kernel } from '../../../../kernel/kernel.js';
import { asm, jit, makeProg } from './util.js';

const FOREVER = 'mov %r0, 0\nloop:\njeq %r0, 0, loop\nexit';

function eloop(fn: () => unknown): KernelError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(KernelError);
    expect((e as KernelError).errno).toBe('ELOOP');
    return e as KernelError;
  }
  throw new Error('expected ELOOP');
}

describe('instruction budget on the JIT', () => {
  it('the default stops a runaway loop in about a second or less', () => {
    expect(DEFAULT_INSN_LIMIT).toBe(2 ** 26);
  });

  for (const dispatch of [false, true]) {
    const mode = dispatch ? 'dispatch loop' : 'structured';
    it(`an infinite loop stops with ELOOP, same message as the interpreter (${mode})`, () => {
      const kernel = new Kernel();
      const prog = makeProg(asm(FOREVER));
      const image = jit(kernel, prog, { forceDispatch: dispatch });
      expect(image.dispatched.length).toBe(dispatch ? 1 : 0);
      const j = eloop(() => bpfProgRun(kernel, prog, 0n, { engine: 'jit', insnLimit: 1000 }));
      const i = eloop(() => bpfProgRun(kernel, prog, 0n, { engine: 'interp', insnLimit: 1000 }));
      expect(j.message).toBe(i.message);
      // the default budget, and again (nothing left over from the stopped run)
      const t0 = Date.now();
      eloop(() => bpfProgRun(kernel, prog, 0n, { engine: 'jit' }));
      expect(Date.now() - t0).toBeLessThan(5000);
      eloop(() => bpfProgRun(kernel, prog, 0n, { engine: 'jit', insnLimit: 10 }));
      // through the runners (raw entry: the body compiled into $main_raw)
      eloop(() => bpfProgRunner(kernel, prog, 'jit')(0));
      eloop(() => bpfPacketRunner(kernel, prog, 'jit')(0, 0, 0, 0, 0));
    });

    it(`loops within the budget give the interpreter's r0, and back edges charge the same (${mode})`, () => {
      const kernel = new Kernel();
      // 3 nested loops and a bpf-to-bpf call with its own loop
      const prog = makeProg(asm(`
        mov %r0, 0
        mov %r6, 0
        mov %r9, 0
      outer:
        mov %r7, 0
      inner:
        add %r0, %r7
        add %r7, 1
        jlt %r7, 50, inner
        mov %r1, %r6
        call 99
        add %r9, %r0
        add %r6, 1
        jlt %r6, 40, outer
        add %r0, %r9
        exit
        mov %r0, 0
      l:
        add %r0, 3
        add %r1, -1
        jsgt %r1, 0, l
        exit`).map((i, k, all) => (i.code === 0x85 && i.imm === 99
        ? { ...i, src: 1, imm: all.findIndex((x) => x.code === 0x95) + 1 - (k + 1) } // call the subprogram after the first exit
        : i)), []);
      jit(kernel, prog, { forceDispatch: dispatch });
      const want = bpfProgRun(kernel, prog, 0n, { engine: 'interp' });
      expect(bpfProgRun(kernel, prog, 0n, { engine: 'jit' })).toBe(want);
      expect(bpfProgRunner(kernel, prog, 'jit')(0)).toBe(Number(want) | 0);
      const ok = (engine: 'jit' | 'interp', n: number): boolean => {
        try {
          return bpfProgRun(kernel, prog, 0n, { engine, insnLimit: n }) === want;
        } catch (e) {
          if (e instanceof KernelError && e.errno === 'ELOOP') return false;
          throw e;
        }
      };
      const least = (engine: 'jit' | 'interp'): number => {
        let lo = 0;
        let hi = 1 << 20;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (ok(engine, mid)) hi = mid;
          else lo = mid + 1;
        }
        return lo;
      };
      // Back edges charge the same on both; the interpreter also charges 1 per
      // bpf-to-bpf call (40 here), the JIT does not (calls cannot loop: no recursion).
      expect(least('jit')).toBe(least('interp') - 40);
    });
  }

  it('nested runs keep separate budgets, also when the inner one runs out', () => {
    const kernel = new Kernel();
    // Loops 100 times, calling helper 30 on each iteration; the helper runs the same
    // program again (depth 1), whose loop runs 100 times too: with a budget of 1000 per
    // run, a shared budget would run out, separate ones do not.
    let depth = 0;
    let innerLimit = 1000;
    const holder: { p: ReturnType<typeof makeProg> | null } = { p: null };
    const again: FuncProto = { id: 30, name: 'again', ret: 'INTEGER', args: [], call: (env) => {
      if (depth > 0) return 0n;
      depth++;
      try {
        return bpfProgRun(env.kernel, holder.p!, 0n, { engine: 'jit', insnLimit: innerLimit });
      } catch (e) {
        if (e instanceof KernelError && e.errno === 'ELOOP') return 1000n;
        throw e;
      } finally {
        depth--;
      }
    } };
    const prog = makeProg(asm(`
      mov %r6, 0
      mov %r8, 0
    l:
      call 30
      add %r8, %r0
      add %r6, 1
      jlt %r6, 100, l
      mov %r0, %r8
      exit`), [again]);
    holder.p = prog;
    jit(kernel, prog);
    const want = bpfProgRun(kernel, prog, 0n, { engine: 'interp', insnLimit: 1000 });
    expect(bpfProgRun(kernel, prog, 0n, { engine: 'jit', insnLimit: 1000 })).toBe(want);
    // Each inner run runs out (ELOOP, caught by the helper): the outer run is unaffected.
    innerLimit = 50;
    expect(bpfProgRun(kernel, prog, 0n, { engine: 'jit', insnLimit: 1000 })).toBe(
      bpfProgRun(kernel, prog, 0n, { engine: 'interp', insnLimit: 1000 }),
    );
  });

  it('PROG_TEST_RUN through bpf(2) stops a runaway loop as root with the JIT on', () => {
    const kernel = bootKernel();
    kernel.sysctl.bpfJitEnable = 1;
    const task = kernel.tasks.spawn({ comm: 'loop' });
    const fd = bpfCommand(kernel, task, BPF_CMD.BPF_PROG_LOAD, {
      prog_type: 1, license: 'GPL', insns: [insn(0xb7, 0, 0, 0, 0), insn(0x15, 0, 0, -1, 0), insn(0x95)],
    }) as number;
    const t0 = Date.now();
    let err: unknown = null;
    try {
      bpfCommand(kernel, task, BPF_CMD.BPF_PROG_TEST_RUN, { prog_fd: fd, data_in: new Uint8Array(64), repeat: 1 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KernelError);
    expect((err as KernelError).errno).toBe('ELOOP');
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
