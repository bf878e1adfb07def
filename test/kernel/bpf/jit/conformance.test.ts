// Every bpf_conformance program (test/fixtures/conformance) on the JIT: as compiled
// normally, through the dispatch loop only, and with constant blinding.
import { describe, expect, it } from 'vitest';
import { conformanceCases, progFromHex } from '../../../helpers/conformance.js';
import { Kernel } from '../../../../kernel/kernel.js';
import { jit, runOn } from './util.js';

const CASES = conformanceCases();

describe('JIT conformance', () => {
  it('has the whole suite', () => {
    expect(CASES.length).toBe(313);
  });

  for (const mode of ['structured', 'dispatch', 'blinded'] as const) {
    it(`passes every case (${mode})`, () => {
      const failures: string[] = [];
      for (const c of CASES) {
        const kernel = new Kernel();
        if (mode === 'blinded') kernel.sysctl.bpfJitHarden = 2;
        try {
          const prog = progFromHex(kernel, c.code, 'interp');
          jit(kernel, prog, { forceDispatch: mode === 'dispatch' });
          const r0 = runOn(kernel, prog, 'jit', c.mem);
          if (r0 !== c.result) failures.push(`${c.name}: got 0x${r0.toString(16)}, want 0x${c.result.toString(16)}`);
        } catch (e) {
          failures.push(`${c.name}: ${(e as Error).message}`);
        }
      }
      expect(failures).toEqual([]);
    });
  }
});
