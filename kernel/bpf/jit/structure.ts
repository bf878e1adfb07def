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
  const all = [...blocks.values(), ...loops.values()];
  for (let changed = true; changed; ) {
    changed = false;
    for (const x of all) {
      for (const y of all) {
        // Crossing: x starts first, y starts inside x and ends after it.
        if (!(x.s < y.s && y.s < x.e && x.e < y.e)) continue;
        if (!y.loop) {
          y.s = x.s; // the later block now also encloses x
        } else if (x.loop) {
          x.e = y.e; // the outer loop's end moves past the inner loop
        } else {
          return null; // a block entering a loop from outside
        }
        changed = true;
      }
    }
  }
  const order = all.sort((a, b) => a.s - b.s || b.e - a.e || Number(a.loop) - Number(b.loop));
  return { blocks, loops, order };
}
