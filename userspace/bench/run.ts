/**
 * `make bench`: every benchmark, one table each. Each area adds its module below; a
 * module prints its own table and the goal it is measured against.
 */
import { interpreterBench } from './interpreter.js';
import { testRunBench } from './testrun.js';
import { jitBench } from './jit.js';
import { tracingBench } from './tracing.js';
import { fsBench } from './fs.js';
import { seccompBench } from './seccomp.js';
import { netBench } from './net.js';

export interface Bench {
  name: string;
  run: (out: (line: string) => void) => Promise<void>;
}

const benches: Bench[] = [
  seccompBench,
  interpreterBench,
  testRunBench,
  jitBench,
  tracingBench,
  fsBench,
  netBench,
  // one line per area, e.g. interpreterBench,
];

async function main(): Promise<void> {
  const only = process.argv[2];
  for (const b of benches) {
    if (only && b.name !== only) continue;
    console.log(`\n== ${b.name} ==`);
    await b.run((l) => console.log(l));
  }
}

void main();
