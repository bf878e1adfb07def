/**
 * Tracepoints: the places in kernel code where events fire (include/linux/tracepoint.h).
 * Event definitions — system, name, fields with offsets, print fmt — are declared here
 * in kernel/trace/ (Linux keeps them in include/trace/events/), so kernel code can fire
 * them without knowing who listens. subsystems/tracing attaches probes (the ring buffer,
 * event filters, BPF programs) and assigns ids.
 *
 * Firing is cheap when nobody listens:   const tp = tracepointOf(k, 'signal', 'signal_generate');
 *                                        if (tp.probes.length) tp.fire(task, { sig: 9, ... });
 */
import { perKernel, type Kernel } from '../kernel.js';
import type { Task } from '../task.js';
import { eventDefs, type EventDef, type EventValues } from './event-def.js';
// Declares every event (kernel/trace/events/*), so tracepointOf() finds them wherever it is called.
import './events/index.js';

export * from './event-def.js';

/** A listener on a tracepoint: gets the task that fired it and the field values. */
export type Probe = (task: Task | null, values: EventValues) => void;

export class Tracepoint {
  readonly probes: Probe[] = [];
  constructor(readonly def: EventDef) {}
  fire(task: Task | null, values: EventValues): void {
    for (const p of this.probes) p(task, values);
  }
  attach(probe: Probe): () => void {
    this.probes.push(probe);
    return () => {
      const i = this.probes.indexOf(probe);
      if (i >= 0) this.probes.splice(i, 1);
    };
  }
}

const tracepointsOf = perKernel((): Map<string, Tracepoint> => new Map());

/** The kernel's tracepoint for system:name; throws for an undeclared event (a bug). */
export function tracepointOf(kernel: Kernel, system: string, name: string): Tracepoint {
  const map = tracepointsOf(kernel);
  const key = `${system}:${name}`;
  let tp = map.get(key);
  if (!tp) {
    const def = eventDefs.find((d) => d.system === system && d.name === name);
    if (!def) throw new Error(`undeclared tracepoint ${key}`);
    tp = new Tracepoint(def);
    map.set(key, tp);
  }
  return tp;
}

export function allTracepoints(kernel: Kernel): Tracepoint[] {
  return eventDefs.map((d) => tracepointOf(kernel, d.system, d.name));
}
export { declareSyscallEvents } from './events/syscalls.js';
