// Compile time is linear in program size: the structuring step against the all-pairs
// fixpoint it replaced (on small random jump sets), and large branchy programs compiled
// in bounded time per instruction, agreeing with the interpreter.
import { describe, expect, it } from 'vitest';
import { compileProgram } from '../../../../kernel/bpf/jit/index.js';
import { structure, type Interval } from '../../../../kernel/bpf/jit/structure.js';
import { bpfProgRun } from '../../../../kernel/bpf/run.js';
import { Kernel } from '../../../../kernel/kernel.js';
import { scalingProgram, type ScalingShape } from '../../../../userspace/bench/jit.js';
import { jit, makeProg } from './util.js';

/** The original structuring: repair crossing pairs until none is left (cubic worst case). */
function structureAllPairs(edges: readonly (readonly [number, number])[]): Interval[] | null {
  const blocks = new Map<number, Interval>();
  const loops = new Map<number, Interval>();
  for (const [from, to] of edges) {
    if (to === from + 1) continue;
    if (to > from) {
      const b = blocks.get(to);
      if (b) b.s = Math.min(b.s, from);
      else blocks.set(to, { s: from, e: to, loop: false });
    } else {
      const l = loops.get(to);
      if (l) l.e = Math.max(l.e, from + 1);
      else loops.set(to, { s: to, e: from + 1, loop: true });
    }
  }
  const all = [...blocks.values(), ...loops.values()];
  for (let changed = true; changed;) {
    changed = false;
    for (const x of all) {
      for (const y of all) {
        if (!(x.s < y.s && y.s < x.e && x.e < y.e)) continue;
        if (!y.loop) y.s = x.s;
        else if (x.loop) x.e = y.e;
        else return null;
        changed = true;
      }
    }
  }
  return all;
}

function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** Opening order nests: each interval ends no later than the one it opens inside. */
function nests(order: readonly Interval[]): boolean {
  const open: Interval[] = [];
  for (const iv of order) {
    while (open.length > 0 && open[open.length - 1]!.e <= iv.s) open.pop();
    if (open.length > 0 && open[open.length - 1]!.e < iv.e) return false;
    open.push(iv);
  }
  return true;
}

describe('structuring', () => {
  it('is the least repair: same loops as the all-pairs fixpoint, blocks widened no more, never null where it is not', () => {
    let fewerDispatch = 0;
    for (let seed = 0; seed < 5000; seed++) {
      const r = rng(seed);
      const n = 2 + Math.floor(r() * 30);
      const edges: [number, number][] = [];
      for (let k = Math.floor(r() * 12); k > 0; k--) {
        const from = Math.floor(r() * n);
        edges.push([from, r() < 0.3 ? Math.floor(r() * (from + 1)) : from + 1 + Math.floor(r() * (n - from))]);
      }
      const ref = structureAllPairs(edges);
      const st = structure(edges);
      if (st === null) {
        expect(ref, JSON.stringify(edges)).toBeNull();
        continue;
      }
      expect(nests(st.order), JSON.stringify(edges)).toBe(true);
      for (const [from, to] of edges) {
        if (to === from + 1) continue;
        const iv = to > from ? st.blocks.get(to)! : st.loops.get(to)!;
        expect(iv.s <= Math.min(from, to) && iv.e >= Math.max(from + 1, to)).toBe(true); // holds its branch
      }
      if (ref === null) {
        fewerDispatch++;
        continue;
      }
      for (const iv of ref) {
        if (iv.loop) expect(st.loops.get(iv.s)!.e).toBe(iv.e);
        else expect(st.blocks.get(iv.e)!.s).toBeGreaterThanOrEqual(iv.s);
      }
    }
    expect(fewerDispatch).toBeGreaterThan(0); // the old repair over-widened some blocks into loops
  });
});

describe('compile time per instruction', () => {
  /** Best of two compileProgram runs, µs per instruction. */
  function usPerInsn(shape: ScalingShape, n: number): { us: number; n: number } {
    const insns = scalingProgram(shape, n);
    let best = Infinity;
    for (let k = 0; k < 2; k++) {
      const t0 = process.hrtime.bigint();
      compileProgram(insns, new Map());
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1000);
    }
    return { us: best / insns.length, n: insns.length };
  }

  // The all-pairs repair took 118 µs/insn on 100k 'branches' and did not finish 100k
  // 'crossing' in two minutes; now both are ~1-3 µs/insn. The bound leaves room for a
  // loaded machine while still failing a quadratic step by a wide margin.
  for (const shape of ['branches', 'crossing', 'nested'] as const) {
    it(`${shape}: 100k instructions compile in bounded time per instruction`, () => {
      const { us } = usPerInsn(shape, 100_000);
      expect(us).toBeLessThan(25);
    });
  }

  const inputs = [
    [0n, 0n, 0n, 0n, 0n],
    [1n, 2n, 3n, 4n, 5n],
    [0xffn, 0x1234n, 0xfffffffffn, 7n, 0x8000000000000000n],
  ] as const;
  for (const [shape, n] of [['branches', 100_000], ['crossing', 100_000], ['nested', 40_000], ['loops', 20_000],
    ['funcs', 20_000], ['irreducible', 20_000], ['straight', 20_000]] as const) {
    it(`${shape}: ${n} instructions agree with the interpreter`, () => {
      const kernel = new Kernel();
      const prog = makeProg(scalingProgram(shape, n));
      const image = jit(kernel, prog);
      expect(image.dispatched.length).toBe(shape === 'irreducible' ? 1 : 0);
      for (const args of inputs) {
        const want = bpfProgRun(kernel, prog, args[0], { args, engine: 'interp' });
        expect(bpfProgRun(kernel, prog, args[0], { args, engine: 'jit' })).toBe(want);
      }
    });
  }
});
