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

/**
 * One tracepoint. The probe list is replaced, never changed in place (Linux swaps the
 * probe array under RCU): a probe attached or detached while the tracepoint fires takes
 * effect from the next firing, and the probes of the current one all run exactly once.
 */
export class Tracepoint {
  private list: readonly Probe[] = [];
  constructor(readonly def: EventDef) {}
  /** The attached probes (callers test `.length` to skip building the values). */
  get probes(): readonly Probe[] {
    return this.list;
  }
  fire(task: Task | null, values: EventValues): void {
    const list = this.list;
    for (let i = 0; i < list.length; i++) list[i]!(task, values);
  }
  /** Adds a probe (again if already there, as a second registration); returns its detach. */
  attach(probe: Probe): () => void {
    this.list = [...this.list, probe];
    let attached = true;
    return () => {
      if (!attached) return;
      attached = false;
      const i = this.list.indexOf(probe);
      if (i >= 0) this.list = [...this.list.slice(0, i), ...this.list.slice(i + 1)];
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
