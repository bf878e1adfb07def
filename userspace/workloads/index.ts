/**
 * The workload registry: `--workload NAME[:ARG]` of `bpfkern mount`. One line per workload.
 */
import type { Kernel } from '../../kernel/kernel.js';
import { demoWorkload } from './demo.js';
import { idleWorkload } from './idle.js';
import { pcapWorkload } from './pcap.js';

export interface WorkloadOptions {
  seed: number;
  /** Milliseconds between two rounds of activity (demo: default 50 → a few hundred events/s). */
  intervalMs?: number;
  /** The part after the colon in `pcap:FILE`. */
  arg?: string;
}

export interface RunningWorkload {
  readonly name: string;
  /** Ends the loops and waits (bounded) for the workload's tasks to exit. */
  stop(): Promise<void>;
}

export interface Workload {
  name: string;
  summary: string;
  start(kernel: Kernel, opts: WorkloadOptions): RunningWorkload;
}

export const workloads: Workload[] = [demoWorkload, idleWorkload, pcapWorkload];

/** Starts `spec` (`demo`, `idle`, `pcap:FILE`); throws Error naming the choices for an unknown one. */
export function startWorkload(kernel: Kernel, spec: string, seed: number, intervalMs?: number): RunningWorkload {
  const colon = spec.indexOf(':');
  const name = colon < 0 ? spec : spec.slice(0, colon);
  const w = workloads.find((x) => x.name === name);
  if (!w) throw new Error(`unknown workload '${spec}' (choose from: ${workloads.map((x) => x.name).join(', ')})`);
  return w.start(kernel, {
    seed,
    ...(intervalMs !== undefined ? { intervalMs } : {}),
    ...(colon >= 0 ? { arg: spec.slice(colon + 1) } : {}),
  });
}
