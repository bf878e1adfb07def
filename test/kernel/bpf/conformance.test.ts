// The bpf_conformance suite (313 files from Alan-Jowett/bpf_conformance) on the interpreter:
// every file's r0 must equal its `-- result` as a full 64-bit value.
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../../kernel/kernel.js';
import { conformanceCases, runConformanceCase } from '../../helpers/conformance.js';

const cases = conformanceCases();
const kernel = new Kernel();

describe(`conformance suite on the interpreter (${cases.length} files)`, () => {
  it('has all 313 files', () => {
    expect(cases.length).toBe(313);
  });

  it.each(cases)('$name', (c) => {
    const r0 = runConformanceCase(c, 'interp', kernel);
    expect(`0x${r0.toString(16)}`).toBe(`0x${c.result.toString(16)}`);
  });

  it(`all ${cases.length} files pass`, () => {
    const failed = cases.filter((c) => {
      try {
        return runConformanceCase(c, 'interp', kernel) !== c.result;
      } catch {
        return true;
      }
    });
    expect(failed.map((c) => c.name)).toEqual([]);
  });
});
