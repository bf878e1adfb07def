// The conformance fixtures (test/fixtures/conformance) as runnable cases, for every engine:
// the interpreter's conformance test and the JIT's reuse this.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseDataFile } from '../../kernel/bpf/asm.js';
import { conformanceProg, conformanceRun } from '../../kernel/bpf/conformance.js';
import { parseHexBytes } from '../../kernel/bpf/isa.js';
import type { Engine } from '../../kernel/bpf/run.js';
import type { BpfProg } from '../../kernel/bpf/types.js';
import { Kernel } from '../../kernel/kernel.js';

export const CONFORMANCE_DIR = join(import.meta.dirname, '../fixtures/conformance');

export interface ConformanceCase {
  name: string;
  /** Pre-assembled program bytes (hex/NAME.hex). */
  code: Uint8Array;
  mem: Uint8Array | null;
  /** Expected r0, unsigned 64-bit. */
  result: bigint;
}

export function conformanceCases(): ConformanceCase[] {
  return readdirSync(CONFORMANCE_DIR)
    .filter((f) => f.endsWith('.data'))
    .sort()
    .map((file) => {
      const name = file.replace(/\.data$/, '');
      const df = parseDataFile(readFileSync(join(CONFORMANCE_DIR, file), 'utf8'));
      const code = parseHexBytes(readFileSync(join(CONFORMANCE_DIR, 'hex', `${name}.hex`), 'utf8'));
      if (code === null) throw new Error(`${name}: bad hex file`);
      if (df.result === undefined) throw new Error(`${name}: no -- result section`);
      return { name, code, mem: df.mem ?? null, result: df.result };
    });
}

/** Builds the program from raw bytes for an engine ('jit' throws if the JIT declines). */
export function progFromHex(kernel: Kernel, code: Uint8Array, engine: Engine): BpfProg {
  return conformanceProg(kernel, code, engine);
}

/** Runs one case on a fresh kernel (or the given one); returns r0. */
export function runConformanceCase(c: ConformanceCase, engine: Engine, kernel = new Kernel()): bigint {
  return conformanceRun(kernel, progFromHex(kernel, c.code, engine), c.mem, engine);
}
