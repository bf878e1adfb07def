/**
 * What the files print: the `format` file of an event (trace_events.c f_show), the
 * `trace` header and line layout (trace.c print_trace_header, trace_output.c
 * trace_print_context / trace_print_lat_fmt):
 *
 *              bash-1235    [000] d..1.    12.345678: signal_generate: sig=10 ...
 *     %16s comm - %-7d pid  [%03d cpu] flags  %5lu.%06lu: name: print fmt output
 */
import { fieldDecl } from '../../kernel/trace/tracepoint.js';
import { COMMON_FIELDS, TRACE_FLAG } from './fields.js';
import type { TraceEntry, TraceEventFile, TracingState } from './trace.js';

function formatFieldLine(f: { type: string; name: string; offset: number; size: number; signed: boolean }): string {
  return `\tfield:${fieldDecl(f)};\toffset:${f.offset};\tsize:${f.size};\tsigned:${f.signed ? 1 : 0};\n`;
}

export function formatFile(f: TraceEventFile): string {
  let s = `name: ${f.def.name}\nID: ${f.id}\nformat:\n`;
  for (const c of COMMON_FIELDS) s += formatFieldLine(c);
  s += '\n';
  for (const c of f.def.fields) s += formatFieldLine(c);
  s += `\nprint fmt: ${f.def.printFmt}\n`;
  return s;
}

/** The five latency columns: irqs-off, need-resched, hardirq/softirq, preempt-depth, migrate-disable. */
export function latFlags(flags: number, preempt: number): string {
  const irqs = flags & TRACE_FLAG.IRQS_OFF ? 'd' : flags & TRACE_FLAG.IRQS_NOSUPPORT ? 'X' : '.';
  const nr = flags & TRACE_FLAG.NEED_RESCHED;
  const pr = flags & TRACE_FLAG.PREEMPT_RESCHED;
  const resched = nr && pr ? 'N' : nr ? 'n' : pr ? 'p' : '.';
  const nmi = flags & TRACE_FLAG.NMI;
  const hard = flags & TRACE_FLAG.HARDIRQ;
  const soft = flags & TRACE_FLAG.SOFTIRQ;
  const irq = nmi && hard ? 'Z' : nmi ? 'z' : hard && soft ? 'H' : hard ? 'h' : soft ? 's' : '.';
  const depth = preempt & 0xf ? (preempt & 0xf).toString(16) : '.';
  const migrate = (preempt >> 4) & 0xf ? ((preempt >> 4) & 0xf).toString(16) : '.';
  return `${irqs}${resched}${irq}${depth}${migrate}`;
}

function timestamp(ns: bigint): string {
  const us = ns / 1000n;
  return `${String(us / 1_000_000n).padStart(5)}.${String(us % 1_000_000n).padStart(6, '0')}`;
}

/** The text after `name: ` for an entry. */
export function entryBody(entry: TraceEntry): string {
  const f = entry.file;
  if (!f) return `tracing_mark_write: ${entry.text}`;
  const u8 = entry.data;
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  let text = f.printer(u8, dv, 0);
  if (f.def.name === 'bpf_trace_printk' && text.endsWith('\n')) text = text.slice(0, -1);
  return `${f.def.name}: ${text}`;
}

export function traceLine(entry: TraceEntry): string {
  return `${entry.comm.padStart(16)}-${String(entry.pid).padEnd(7)} [${String(entry.cpu).padStart(3, '0')}] ${latFlags(entry.flags, entry.preempt)} ${timestamp(entry.ts)}: ${entryBody(entry)}\n`;
}

export function traceHeader(state: TracingState): string {
  const { inBuffer, written } = state.counts();
  return (
    '# tracer: nop\n' +
    '#\n' +
    `# entries-in-buffer/entries-written: ${inBuffer}/${written}   #P:${state.buffers.length}\n` +
    '#\n' +
    '#                                _-----=> irqs-off/BH-disabled\n' +
    '#                               / _----=> need-resched\n' +
    '#                              | / _---=> hardirq/softirq\n' +
    '#                              || / _--=> preempt-depth\n' +
    '#                              ||| / _-=> migrate-disable\n' +
    '#                              |||| /     delay\n' +
    '#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n' +
    '#              | |         |   |||||     |         |\n'
  );
}

export function traceText(state: TracingState): string {
  let s = traceHeader(state);
  for (const e of state.snapshot()) s += traceLine(e);
  return s;
}
