/**
 * Event filter cost per event: no filter, the predicate walker, the compiled filter on
 * the interpreter and the JIT, and a hand-written TypeScript predicate reading the same
 * record (the floor), for the seed's filter and a 10-predicate filter.
 * Goals: compiled+JIT >= 20x faster than the walker on the filter check, and within 2x
 * of the hand-written predicate.
 *
 * Each case runs in its own worker thread (a fresh V8 isolate): the loops, the walker
 * and the runners are shared code, and measuring a second filter in the same isolate
 * measures V8's type feedback from the first one (polymorphic call sites) as much as the
 * filter. Each row is the best of several timed runs after a warm-up (bench.ts).
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Kernel } from '../../kernel/kernel.js';
import { benchFilter, type BenchRow } from '../../subsystems/tracing/bench.js';
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

interface CaseRequest {
  tracingBenchCase: number;
}

function runCase(index: number): BenchRow[] {
  const c = CASES[index]!;
  const kernel = new Kernel(); // the filter check needs no other subsystem
  return benchFilter(kernel, 'signal', 'signal_generate', c.filter, N, { 'hand-written TS': c.hand }).rows;
}

function inWorker(index: number): Promise<BenchRow[]> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: { tracingBenchCase: index } satisfies CaseRequest });
    w.once('message', (rows: BenchRow[]) => resolve(rows));
    w.once('error', reject);
  });
}

if (!isMainThread && typeof (workerData as Partial<CaseRequest> | null)?.tracingBenchCase === 'number') {
  parentPort!.postMessage(runCase((workerData as CaseRequest).tracingBenchCase));
}

export const tracingBench: Bench = {
  name: 'tracing',
  run: async (out) => {
    for (let i = 0; i < CASES.length; i++) {
      const c = CASES[i]!;
      const rows = await inWorker(i);
      out(`signal:signal_generate, ${c.name}: ${c.filter}`);
      for (const r of rows) out(`  ${r.name.padEnd(24)} ${r.nsPerEvent.toFixed(1).padStart(8)} ns/event  ${r.passed} passed`);
      const ns = (name: string): number | undefined => rows.find((r) => r.name === name)?.nsPerEvent;
      const walker = ns('walker')!;
      const jit = ns('compiled (JIT)');
      const hand = ns('hand-written TS')!;
      if (jit === undefined) out('  goal: JIT not available for this program (interpreter only)');
      else {
        out(`  goal: walker/JIT ${(walker / jit).toFixed(1)}x (>= 20x), JIT/hand ${(jit / hand).toFixed(2)}x (<= 2x)`);
        out(`  (ceiling of walker/JIT: walker/hand-written = ${(walker / hand).toFixed(1)}x; no evaluator beats the floor)`);
      }
    }
  },
};
