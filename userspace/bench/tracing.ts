/**
 * Event filter cost per event: no filter, the predicate walker, the compiled filter on
 * the interpreter and the JIT, and a hand-written TypeScript predicate reading the same
 * record (the floor), for the seed's filter and a 10-predicate filter.
 * Goals: compiled+JIT >= 20x faster than the walker on the filter check, and within 2x
 * of the hand-written predicate.
 */
import { Kernel } from '../../kernel/kernel.js';
import { benchFilter } from '../../subsystems/tracing/bench.js';
import type { Bench } from './run.js';

const N = 200_000;

/** signal_generate offsets: sig 8, errno 12, code 16, comm 20, pid 36, group 40, result 44. */
function commIs(u8: Uint8Array, b: number, s: string): boolean {
  for (let i = 0; i < s.length; i++) if (u8[b + 20 + i] !== s.charCodeAt(i)) return false;
  return u8[b + 20 + s.length] === 0;
}

const CASES = [
  {
    name: 'seed',
    filter: '((sig >= 10 && sig < 15) || sig == 17) && comm != bash',
    hand: (u8: Uint8Array, dv: DataView, b: number): boolean => {
      const sig = dv.getInt32(b + 8, true);
      return ((sig >= 10 && sig < 15) || sig === 17) && !commIs(u8, b, 'bash');
    },
  },
  {
    name: '10 predicates',
    filter: 'sig > 3 && sig < 30 && errno >= -1 && code != 7 && pid > 0 && group != 5 && result < 20 && comm != "bash" && sig != 11 && common_pid > 0',
    hand: (u8: Uint8Array, dv: DataView, b: number): boolean => {
      const sig = dv.getInt32(b + 8, true);
      return (
        sig > 3 && sig < 30 && dv.getInt32(b + 12, true) >= -1 && dv.getInt32(b + 16, true) !== 7 &&
        dv.getInt32(b + 36, true) > 0 && dv.getInt32(b + 40, true) !== 5 && dv.getInt32(b + 44, true) < 20 &&
        !commIs(u8, b, 'bash') && sig !== 11 && dv.getInt32(b + 4, true) > 0
      );
    },
  },
];

export const tracingBench: Bench = {
  name: 'tracing',
  run: async (out) => {
    const kernel = new Kernel(); // the filter check needs no other subsystem
    for (const c of CASES) {
      const { rows } = benchFilter(kernel, 'signal', 'signal_generate', c.filter, N, { 'hand-written TS': c.hand });
      out(`signal:signal_generate, ${c.name}: ${c.filter}`);
      for (const r of rows) out(`  ${r.name.padEnd(24)} ${r.nsPerEvent.toFixed(1).padStart(8)} ns/event  ${r.passed} passed`);
      const ns = (name: string): number | undefined => rows.find((r) => r.name === name)?.nsPerEvent;
      const walker = ns('walker')!;
      const jit = ns('compiled (JIT)');
      const hand = ns('hand-written TS')!;
      if (jit === undefined) out('  goal: JIT not available for this program (interpreter only)');
      else out(`  goal: walker/JIT ${(walker / jit).toFixed(1)}x (>= 20x), JIT/hand ${(jit / hand).toFixed(2)}x (<= 2x)`);
    }
    await Promise.resolve();
  },
};
