/**
 * The tracing subsystem's public surface: what tracefs (fs/tracefs.ts), the CLI and tests
 * call. Every function takes the kernel; errors are KernelErrors with Linux's errno.
 *
 * Boot: registerTracing() registers BPF_PROG_TYPE_TRACEPOINT, perf_event_open(2) and
 * routes bpf_trace_printk into the trace buffer (bpf_trace:bpf_trace_printk events).
 */
import { KernelError } from '../../kernel/errno.js';
import type { Kernel } from '../../kernel/kernel.js';
import { setTracePrintkSink } from '../../kernel/bpf/helpers/index.js';
import { BPF_CALL, BPF_JMP } from '../../kernel/bpf/isa.js';
import { registerProgType } from '../../kernel/bpf/progtypes.js';
import type { Task } from '../../kernel/task.js';
import { tracepointOf } from '../../kernel/trace/tracepoint.js';
import { dumpFilterXlated, type EventFilter } from './filter/index.js';
import { formatFile, traceLine, traceText } from './output.js';
import { registerPerfEventOpen } from './perf.js';
import { tracepointProgType } from './progtype.js';
import { tracingOf, type FilterEngine, type TraceEventFile } from './trace.js';

export { tracingOf, type TraceEventFile, type TraceEntry, type FilterEngine, TracingState, renderFilterError } from './trace.js';
export { formatFile, traceLine, traceText, traceHeader, latFlags } from './output.js';
export { perfEventOpen, PERF_EVENT_IOC_SET_BPF, PERF_EVENT_IOC_ENABLE, PERF_EVENT_IOC_DISABLE, PERF_TYPE_TRACEPOINT } from './perf.js';
export { tracepointProgType } from './progtype.js';
export { benchFilter, type BenchRow, type FilterBench } from './bench.js';

export const DEFAULT_SYS_FILTER_MESSAGE =
  '### global filter ###\n' +
  '# Use this to set filters for multiple events.\n' +
  '# Only events with the given fields will be affected.\n' +
  '# If no events are modified, an error message will be displayed here\n';

export function registerTracing(kernel: Kernel): void {
  registerProgType(kernel, tracepointProgType);
  registerPerfEventOpen(kernel);
  let printkEnabled = false;
  setTracePrintkSink(kernel, (text, env) => {
    const state = tracingOf(kernel);
    const f = state.file('bpf_trace', 'bpf_trace_printk');
    // Linux enables the event the first time a program uses bpf_trace_printk.
    if (!printkEnabled) {
      printkEnabled = true;
      if (!f.enabled) state.setEnabled(f, true);
    }
    tracepointOf(kernel, 'bpf_trace', 'bpf_trace_printk').fire(env.task, { bpf_string: text });
  });
}

// ---- events

/** "system:event" per line, as available_events prints. */
export function readAvailableEvents(kernel: Kernel): string {
  return tracingOf(kernel).allFiles().map((f) => `${f.def.system}:${f.def.name}\n`).join('');
}

export function listSystems(kernel: Kernel): string[] {
  return tracingOf(kernel).systems();
}

export function listEvents(kernel: Kernel, system: string): string[] {
  return tracingOf(kernel).allFiles().filter((f) => f.def.system === system).map((f) => f.def.name);
}

export function eventFile(kernel: Kernel, system: string, event: string): TraceEventFile {
  return tracingOf(kernel).file(system, event);
}

export function readFormat(kernel: Kernel, system: string, event: string): string {
  return formatFile(eventFile(kernel, system, event));
}

export function readId(kernel: Kernel, system: string, event: string): string {
  return `${eventFile(kernel, system, event).id}\n`;
}

// ---- enable

function enableState(files: TraceEventFile[]): string {
  const on = files.filter((f) => f.enabled).length;
  return on === 0 ? '0\n' : on === files.length ? '1\n' : 'X\n';
}

/** events/enable (system undefined), events/<sys>/enable or events/<sys>/<ev>/enable. */
export function readEnable(kernel: Kernel, system?: string, event?: string): string {
  const state = tracingOf(kernel);
  if (system !== undefined && event !== undefined) return state.file(system, event).enabled ? '1\n' : '0\n';
  return enableState(state.allFiles().filter((f) => system === undefined || f.def.system === system));
}

export function writeEnable(kernel: Kernel, text: string, system?: string, event?: string): void {
  const v = text.trim();
  if (v !== '0' && v !== '1') throw new KernelError('EINVAL', `enable takes 0 or 1, not '${v}'`);
  const state = tracingOf(kernel);
  const files =
    system !== undefined && event !== undefined
      ? [state.file(system, event)]
      : state.allFiles().filter((f) => system === undefined || f.def.system === system);
  for (const f of files) state.setEnabled(f, v === '1');
}

export function setEnable(kernel: Kernel, system: string, event: string, on: boolean): void {
  const state = tracingOf(kernel);
  state.setEnabled(state.file(system, event), on);
}

/** set_event: the enabled events, "system:event" per line. */
export function readSetEvent(kernel: Kernel): string {
  return tracingOf(kernel).allFiles().filter((f) => f.enabled).map((f) => `${f.def.system}:${f.def.name}\n`).join('');
}

/**
 * Writes set_event: whitespace-separated `sys:event`, `sys:*`, `*:event`, `event`, `sys:`,
 * each optionally prefixed with `!` to disable. `truncate` (open with O_TRUNC, `>`)
 * disables everything first, as Linux does; `>>` appends.
 */
export function writeSetEvent(kernel: Kernel, text: string, truncate: boolean): void {
  const state = tracingOf(kernel);
  const files = state.allFiles();
  if (truncate) for (const f of files) if (f.enabled) state.setEnabled(f, false);
  for (let tok of text.split(/\s+/).filter(Boolean)) {
    const on = !tok.startsWith('!');
    if (!on) tok = tok.slice(1);
    let sys = '*';
    let ev = tok;
    const colon = tok.indexOf(':');
    if (colon >= 0) {
      sys = tok.slice(0, colon) || '*';
      ev = tok.slice(colon + 1) || '*';
    }
    const hits = files.filter((f) => (sys === '*' || f.def.system === sys) && (ev === '*' || f.def.name === ev));
    if (!hits.length) throw new KernelError('EINVAL', `no event matches '${tok}'`);
    for (const f of hits) state.setEnabled(f, on);
  }
}

// ---- filters

export function readFilter(kernel: Kernel, system: string, event: string): string {
  const f = eventFile(kernel, system, event);
  return f.filterText === null ? 'none\n' : `${f.filterText}\n`;
}

/** Writes an event's filter; a rejected filter throws (EINVAL mostly) and leaves the event unfiltered. */
export function writeFilter(kernel: Kernel, system: string, event: string, text: string): void {
  const state = tracingOf(kernel);
  state.setFilter(state.file(system, event), text);
}

export function readSystemFilter(kernel: Kernel, system: string): string {
  const t = tracingOf(kernel).systemFilterText.get(system);
  return t === undefined ? DEFAULT_SYS_FILTER_MESSAGE : `${t}\n`;
}

export function writeSystemFilter(kernel: Kernel, system: string, text: string): void {
  tracingOf(kernel).setSystemFilter(system, text);
}

/** The compiled filter of an event as `bpftool prog dump xlated` prints it (debugfs shows it). */
export function readFilterXlated(kernel: Kernel, system: string, event: string): string {
  const f = eventFile(kernel, system, event);
  return f.filter ? dumpFilterXlated(f.filter) : '';
}

/** The events that have a compiled filter now, as [system, event] (debugfs trace_filters/). */
export function listFilteredEvents(kernel: Kernel): [string, string][] {
  return tracingOf(kernel).allFiles().filter((f) => f.filter !== null).map((f) => [f.def.system, f.def.name]);
}

function activeFilter(kernel: Kernel, system: string, event: string): EventFilter {
  const f = eventFile(kernel, system, event).filter;
  if (!f) throw new KernelError('ENOENT', `${system}:${event} has no filter`);
  return f;
}

/**
 * The compiled filter's JIT image as `bpftool prog dump jited` shows it (the WebAssembly
 * text), or `not jited` and why: the JIT ran or not as bpf_jit_enable said when the filter
 * was written, as for any program (bpf_prog_select_runtime at load).
 */
export function readFilterJited(kernel: Kernel, system: string, event: string): string {
  const bpf = activeFilter(kernel, system, event).bpf;
  if (bpf.jited) return bpf.jited.dump();
  return `not jited (${bpf.jitError ?? 'bpf_jit_enable was 0 when the filter was written'})\n`;
}

/** Which evaluator runs an event's filter now (the same choice TracingState.passes makes). */
export function filterEngineNow(kernel: Kernel, f: EventFilter): string {
  if (tracingOf(kernel).engine === 'walker') return 'walker (the predicate program, filter_match_preds)';
  if (f.bpf.jited && kernel.sysctl.bpfJitEnable !== 0) {
    const raw = f.bpf.jited.runRaw !== undefined && f.bpf.jited.rawNeedsEnv === false;
    return `jit (WebAssembly${raw ? ', raw entry: no RunEnv, no BigInt' : ', with a RunEnv for helpers'})`;
  }
  if (f.bpf.jited) return 'interpreter (JIT image kept, but bpf_jit_enable is 0 now)';
  return 'interpreter';
}

/** A summary of an event's compiled filter: text, program, engine, runs. */
export function readFilterInfo(kernel: Kernel, system: string, event: string): string {
  const file = eventFile(kernel, system, event);
  const f = activeFilter(kernel, system, event);
  const bpf = f.bpf;
  const helpers = [...new Set(bpf.xlated.filter((i) => i.code === (BPF_JMP | BPF_CALL) && i.src === 0).map((i) => i.imm))]
    .map((id) => `${bpf.helpers.get(id)?.name ?? 'helper'}#${id}`);
  const lines = [
    `event: ${system}:${event} (id ${file.id})`,
    `filter: ${f.text}`,
    `predicates: ${f.prog.entries.length}`,
    `prog: ${bpf.type.name} name ${bpf.name} tag ${bpf.tag}`,
    `xlated: ${bpf.xlated.length * 8}B (${bpf.xlated.length} insns)`,
    `jited: ${bpf.jited ? `${bpf.jited.size}B (WebAssembly module)` : `no (${bpf.jitError ?? 'bpf_jit_enable was 0 when the filter was written'})`}`,
    `helpers: ${helpers.length ? helpers.join(' ') : 'none'}`,
    `evaluator: ${filterEngineNow(kernel, f)}`,
    `run_cnt: ${bpf.runCount}`,
  ];
  return lines.join('\n') + '\n';
}

export function setFilterEngine(kernel: Kernel, engine: FilterEngine): void {
  tracingOf(kernel).engine = engine;
}

// ---- buffer

export function readTrace(kernel: Kernel): string {
  return traceText(tracingOf(kernel));
}

export function clearTrace(kernel: Kernel): void {
  tracingOf(kernel).clear();
}

export function readTracingOn(kernel: Kernel): string {
  return tracingOf(kernel).tracingOn ? '1\n' : '0\n';
}

export function writeTracingOn(kernel: Kernel, text: string): void {
  const v = Number(text.trim());
  if (!Number.isInteger(v)) throw new KernelError('EINVAL', `tracing_on takes a number`);
  tracingOf(kernel).tracingOn = v !== 0;
}

export function readBufferSizeKb(kernel: Kernel): string {
  return `${tracingOf(kernel).bufferKb}\n`;
}

export function writeBufferSizeKb(kernel: Kernel, text: string): void {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new KernelError('EINVAL', `bad buffer_size_kb '${t}'`);
  tracingOf(kernel).setBufferKb(Number(t));
}

export function writeTraceMarker(kernel: Kernel, task: Task | null, text: string): void {
  tracingOf(kernel).mark(task, text);
}

export function readErrorLog(kernel: Kernel): string {
  return tracingOf(kernel).errorLog.join('');
}

/** Writing anything empty (`echo > error_log`) clears it, as Linux. */
export function clearErrorLog(kernel: Kernel): void {
  tracingOf(kernel).errorLog.length = 0;
}

export interface TracePipe {
  /** Consumes what is there now ('' when empty). */
  readNow(maxBytes?: number): string;
  /** Waits until at least one entry is there (or the pipe is closed), then consumes. */
  read(maxBytes?: number): Promise<string>;
  close(): void;
}

/** A consuming reader of the trace buffer (trace_pipe). */
export function openTracePipe(kernel: Kernel): TracePipe {
  const state = tracingOf(kernel);
  let closed = false;
  let wake: (() => void) | null = null;
  const readNow = (maxBytes = 1 << 20): string => {
    let out = '';
    for (;;) {
      const e = state.consume();
      if (!e) break;
      out += traceLine(e);
      if (out.length >= maxBytes) break;
    }
    return out;
  };
  return {
    readNow,
    read(maxBytes?: number): Promise<string> {
      const now = readNow(maxBytes);
      if (now || closed) return Promise.resolve(now);
      return new Promise((resolve) => {
        wake = () => {
          state.waiters.delete(wake!);
          wake = null;
          resolve(readNow(maxBytes));
        };
        state.waiters.add(wake);
      });
    },
    close(): void {
      closed = true;
      if (wake) wake();
    },
  };
}
