/**
 * Control-flow structuring: eBPF jumps are arbitrary gotos, WebAssembly only has
 * structured `block` (branch = jump to its end) and `loop` (branch = jump to its start).
 *
 * Each forward target u becomes a block [s, u) that opens before its first source s and
 * ends right before u. Each backward target t becomes a loop [t, e) that starts at t and
 * ends after its last back edge. The intervals must nest; crossing pairs are repaired by
 * moving what can move — a block's start can move earlier (to the start of whatever it
 * crosses), a loop's end can move later — until nothing crosses. A block that starts
 * before a loop and ends inside it (a jump into the middle of a loop: two loop entries,
 * irreducible control flow) cannot be repaired: the caller then uses the dispatch loop.
 *
 * The repair is computed directly, in O(k log n) for k intervals in an n-instruction
 * function (two range-min/max trees over positions), not by iterating over crossing
 * pairs (quadratic per pass):
 *
 * 1. Loops only move for other loops (a loop's end moves past a loop starting inside it
 *    and ending after it). Taken by decreasing start, a loop's final end is the largest
 *    final end of the loops starting inside it, if larger than its own: those loops are
 *    already final and nest among themselves, so one range-max query per loop suffices
 *    (a loop starting between the old and the new end starts inside the one that set
 *    the new end, so it ends no later).
 * 2. A block [s, u) must start no later than any interval that starts before s and ends
 *    inside (s, u). Only intervals ending before u matter, so blocks are taken by
 *    increasing end against the (final) loops and the blocks before them: s becomes the
 *    smallest start among the intervals ending in (s, u). Once is enough (that interval
 *    nests with everything before it), except when it is a loop a block enters: null.
 * 3. A block that crosses a loop it starts before (s < t < u < e) makes the flow
 *    unstructurable: null.
 *
 * This is the least repair (every crossing pair forces exactly these moves), so the result
 * nests by construction; FuncCompiler still checks the nesting as it emits the blocks.
 *
 * Positions are instruction indices relative to the function: an interval [s, e) opens
 * before instruction s and closes before instruction e.
 */

export interface Interval {
  s: number;
  e: number;
  loop: boolean;
}

export interface Structure {
  /** Forward block per target index. */
  blocks: Map<number, Interval>;
  /** Loop per back-edge target index. */
  loops: Map<number, Interval>;
  /** All intervals sorted in opening order (start asc, end desc, block before loop). */
  order: Interval[];
}

/** edges: [from, to] pairs of relative instruction indices, to in [0, n]. */
export function structure(edges: readonly (readonly [number, number])[]): Structure | null {
  const blocks = new Map<number, Interval>();
  const loops = new Map<number, Interval>();
  for (const [from, to] of edges) {
    if (to === from + 1) continue; // a branch to the next instruction is a no-op
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
  let size = 1; // positions 0..n, n = the largest target or source + 1
  for (const [from, to] of edges) size = Math.max(size, from + 2, to + 1);

  // 1. Loops by decreasing start: the largest final end of the loops starting inside.
  const loopList = [...loops.values()].sort((a, b) => b.s - a.s);
  const maxEnd = new RangeTree(size, -1, Math.max);
  for (const l of loopList) {
    const m = maxEnd.query(l.s + 1, l.e - 1);
    if (m > l.e) l.e = m;
    maxEnd.set(l.s, l.e);
  }

  // 2. Blocks by increasing end, against the loops and the blocks ending before them.
  const blockList = [...blocks.values()].sort((a, b) => a.e - b.e);
  const minStart = new RangeTree(size, Infinity, Math.min);
  for (const l of loopList) minStart.set(l.e, Math.min(minStart.get(l.e), l.s));
  for (const b of blockList) {
    const m = minStart.query(b.s + 1, b.e - 1);
    if (m < b.s) {
      b.s = m;
      // The interval x that starts at m is final and nests with everything ending before
      // it, so nothing ending in (m, old s] starts before m — unless x is a loop that a
      // block enters from before it (step 3's case).
      if (minStart.query(m + 1, b.e - 1) < m) return null;
    }
    minStart.set(b.e, Math.min(minStart.get(b.e), b.s));
  }

  // 3. A block entering a loop from before it: s < t < u < e.
  const blockStart = new RangeTree(size, Infinity, Math.min);
  for (const b of blockList) blockStart.set(b.e, b.s); // one block per end (its target)
  for (const l of loopList) {
    if (blockStart.query(l.s + 1, l.e - 1) < l.s) return null;
  }

  const all = [...blockList, ...loopList];
  const order = all.sort((a, b) => a.s - b.s || b.e - a.e || Number(a.loop) - Number(b.loop));
  return { blocks, loops, order };
}

/** A segment tree over positions 0..size-1 with one associative, idempotent operation. */
class RangeTree {
  private readonly n: number;
  private readonly t: Float64Array;

  constructor(
    size: number,
    private readonly empty: number,
    private readonly op: (a: number, b: number) => number,
  ) {
    let n = 1;
    while (n < size) n <<= 1;
    this.n = n;
    this.t = new Float64Array(2 * n).fill(empty);
  }

  get(pos: number): number {
    return this.t[this.n + pos]!;
  }

  set(pos: number, v: number): void {
    const t = this.t;
    let p = this.n + pos;
    t[p] = v;
    for (p >>= 1; p >= 1; p >>= 1) t[p] = this.op(t[2 * p]!, t[2 * p + 1]!);
  }

  /** op over positions lo..hi inclusive (empty when lo > hi). */
  query(lo: number, hi: number): number {
    const t = this.t;
    let r = this.empty;
    let l = this.n + Math.max(0, lo);
    let h = this.n + Math.min(this.n - 1, hi) + 1;
    while (l < h) {
      if (l & 1) r = this.op(r, t[l++]!);
      if (h & 1) r = this.op(r, t[--h]!);
      l >>= 1;
      h >>= 1;
    }
    return r;
  }
}
