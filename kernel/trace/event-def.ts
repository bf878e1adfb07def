/**
 * Event definitions: what a tracepoint's record holds (Linux's TRACE_EVENT). Kept apart
 * from tracepoint.ts so that kernel/trace/events/*.ts can declare events while
 * tracepoint.ts imports them all (no import cycle).
 */
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

/**
 * A field value as firing code passes it: numbers/bigints for integers and pointers, a
 * string for `char[N]` and `__data_loc char[]` fields, an array for array fields such as
 * raw_syscalls:sys_enter's `args[6]`.
 */
export type EventValue = number | bigint | string | readonly (number | bigint)[];
export type EventValues = Readonly<Record<string, EventValue>>;

/** All event definitions known to the kernel, registered by kernel/trace/events/*.ts. */
export const eventDefs: EventDef[] = [];

/** Declares an event once (a second declaration of system:name returns the first). */
export function declareEvent(def: EventDef): EventDef {
  const old = eventDefs.find((d) => d.system === def.system && d.name === def.name);
  if (old) return old;
  eventDefs.push(def);
  return def;
}

/**
 * Parses the field lines of a format file (the part after the common_ fields), so event
 * declarations can be copied verbatim from Linux's /sys/kernel/tracing/events/.../format:
 *     field:int sig;	offset:8;	size:4;	signed:1;
 */
export function parseFormatFields(text: string): EventField[] {
  const fields: EventField[] = [];
  const re = /field:(.+?);\s*offset:(\d+);\s*size:(\d+);\s*signed:([01]);/g;
  for (const m of text.matchAll(re)) {
    const decl = m[1]!.trim();
    const sp = decl.lastIndexOf(' ');
    const nameWithDims = decl.slice(sp + 1);
    const bracket = nameWithDims.indexOf('[');
    const name = bracket < 0 ? nameWithDims : nameWithDims.slice(0, bracket);
    // The format file prints `char comm[16]`; keep the C type as `char[16]` for readers.
    const type = bracket < 0 ? decl.slice(0, sp) : `${decl.slice(0, sp)}${nameWithDims.slice(bracket)}`;
    fields.push({ type, name, offset: Number(m[2]), size: Number(m[3]), signed: m[4] === '1' });
  }
  return fields;
}

/** Declares an event from format-file text (fields) and its print fmt. */
export function declareFromFormat(system: string, name: string, fieldsText: string, printFmt: string): EventDef {
  return declareEvent({ system, name, fields: parseFormatFields(fieldsText), printFmt });
}

/** The C declaration as the format file prints it: `char comm[16]`, `unsigned long args[6]`. */
export function fieldDecl(f: EventField): string {
  const b = f.type.indexOf('[');
  if (b < 0 || f.type.startsWith('__data_loc')) return `${f.type} ${f.name}`;
  return `${f.type.slice(0, b)} ${f.name}${f.type.slice(b)}`;
}

