/** The benches' shared timing loop. */

/**
 * Calls fn `runs` times in each of `rounds` timed rounds; returns the best round's mean
 * ns per call (the machine is shared, so the fastest round is the figure).
 */
export function bestNsPerCall(fn: () => void, runs: number, rounds = 7): number {
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < runs; i++) fn();
    const ns = Number(process.hrtime.bigint() - t0) / runs;
    if (ns < best) best = ns;
  }
  return best;
}
