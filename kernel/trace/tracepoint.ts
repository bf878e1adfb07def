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

export interface EventField {
  /** C type as the format file prints it: 'int', 'pid_t', 'char[16]', '__data_loc char[]'. */
  type: string;
  name: string;
  offset: number;
  size: number;
  signed: boolean;
}

export interface EventDef {
  system: string;
  name: string;
  /** The event's own fields (the common_ fields are added by the tracing subsystem). */
  fields: readonly EventField[];
  /** The `print fmt:` line of the format file, verbatim. */
  printFmt: string;
}

export type EventValue = number | bigint | string;
export type EventValues = Readonly<Record<string, EventValue>>;

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

/** All event definitions known to the kernel, registered by kernel/trace/events/*.ts. */
export const eventDefs: EventDef[] = [];

export function declareEvent(def: EventDef): EventDef {
  eventDefs.push(def);
  return def;
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
