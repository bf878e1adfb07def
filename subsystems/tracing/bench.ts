/**
 * Cost per event of the filter check: no filter, the walker, the compiled program on the
 * interpreter and on the JIT, and (for the bench) a hand-written predicate. Records are
 * built once with varied field values and laid out in the address space like real events;
 * every evaluator sees the same records and must let the same number through.
 */
import type { Kernel } from '../../kernel/kernel.js';
import type { EventValues } from '../../kernel/trace/tracepoint.js';
import { buildFilter, type EventFilter } from './filter/index.js';
import { tracepointProgType } from './progtype.js';
import { tracingOf, type TraceEventFile } from './trace.js';

export interface BenchRow {
  name: string;
  nsPerEvent: number;
  passed: number;
}

const COMMS = ['bash', 'sleep', 'sh', 'kworker/0:1', 'systemd', 'sshd', 'bashful', 'cron'];

/** Varied values for any event: integers cycle through small and negative numbers, strings through COMMS. */
export function variedValues(f: TraceEventFile, i: number, rnd: () => number): EventValues {
  const v: Record<string, number | string | number[]> = {};
  for (const field of f.def.fields) {
    if (field.type.includes('char')) v[field.name] = COMMS[Math.floor(rnd() * COMMS.length)]!;
    else if (field.type.includes('[')) v[field.name] = [i, i + 1, 2, 3, 4, 5];
    else v[field.name] = Math.floor(rnd() * 40) - 4;
  }
  return v;
}

export interface FilterBench {
  rows: BenchRow[];
  filter: EventFilter;
  offsets: Int32Array;
}

/**
 * Best of `rounds` timed runs after a warm-up (the warm-up also lets V8 optimize the loop
 * and, for the JIT, tier the module up); ns per event of the fastest run.
 */
function time(n: number, rounds: number, fn: () => number): { ns: number; passed: number } {
  let passed = fn();
  fn();
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    passed = fn();
    const dt = Number(process.hrtime.bigint() - t0);
    best = Math.min(best, dt);
  }
  return { ns: best / n, passed };
}

/**
 * Measures the filter check on n records of system:event. `extra` adds named rows
 * (the bench's hand-written predicate) that get (u8, dv, base) like the walker.
 */
export function benchFilter(
  kernel: Kernel,
  system: string,
  event: string,
  text: string,
  n: number,
  extra: Record<string, (u8: Uint8Array, dv: DataView, base: number) => boolean> = {},
  rounds = 7,
): FilterBench {
  const state = tracingOf(kernel);
  const f = state.file(system, event);
  const filter = buildFilter(kernel, text, f.findField, tracepointProgType);
  let seed = 12345;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const offsets = new Int32Array(n);
  const tasks = ['bash', 'sleep', 'sh'].map((comm) => kernel.tasks.spawn({ comm }));
  for (let i = 0; i < n; i++) {
    const [off, len] = state.layout(f, tasks[i % 3]!, variedValues(f, i, rnd), i % kernel.ncpus);
    const copy = kernel.mem.alloc(len + 32) + 24;
    kernel.mem.u8.copyWithin(copy - 24, off - 24, off + len);
    offsets[i] = copy;
  }
  const mem = kernel.mem;
  const rows: BenchRow[] = [];
  const add = (name: string, r: { ns: number; passed: number }): void => {
    rows.push({ name, nsPerEvent: r.ns, passed: r.passed });
  };
  // One loop per row (separate closures, so V8's feedback of one does not pollute another).
  add('no filter', time(n, rounds, () => {
    let c = 0;
    for (let i = 0; i < n; i++) if (offsets[i]! !== 0) c++;
    return c;
  }));
  const walk = filter.walk;
  add('walker', time(n, rounds, () => {
    let c = 0;
    const { u8, dv } = mem;
    for (let i = 0; i < n; i++) if (walk(u8, dv, offsets[i]!)) c++;
    return c;
  }));
  const interp = filter.runInterp;
  add('compiled (interpreter)', time(n, rounds, () => {
    let c = 0;
    for (let i = 0; i < n; i++) if (interp(offsets[i]!) !== 0) c++;
    return c;
  }));
  const jit = filter.runJit;
  if (jit !== null) {
    add('compiled (JIT)', time(n, rounds, () => {
      let c = 0;
      for (let i = 0; i < n; i++) if (jit(offsets[i]!) !== 0) c++;
      return c;
    }));
  }
  for (const [name, fn] of Object.entries(extra)) {
    add(name, time(n, rounds, () => {
      let c = 0;
      const { u8, dv } = mem;
      for (let i = 0; i < n; i++) if (fn(u8, dv, offsets[i]!)) c++;
      return c;
    }));
  }
  return { rows, filter, offsets };
}
