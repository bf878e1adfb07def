/**
 * The tracing state of one kernel (Linux's top-level trace_array): the event files with
 * their ids, enable bits and filters, the per-CPU ring buffers, tracing_on, the error
 * log, trace_pipe readers and the BPF programs attached to events.
 *
 * Flow of one event (the probe attached to a tracepoint while the event is enabled or
 * has programs): the record is laid out in a per-kernel scratch area of the address
 * space, right after the filter header (CPU, current->comm); attached BPF programs run
 * with r1 = the record, and a 0 from any of them drops the event; then, when the event
 * is enabled and tracing_on, the filter decides (compiled program by default, the walker
 * when `engine` says so) and the record's bytes are copied into the CPU's ring buffer.
 */
import { KernelError, type ErrnoName } from '../../kernel/errno.js';
import { perKernel, type Kernel } from '../../kernel/kernel.js';
import { bpfProgPut } from '../../kernel/bpf/objects.js';
import { bpfProgRun } from '../../kernel/bpf/run.js';
import type { BpfProg } from '../../kernel/bpf/types.js';
import type { Task } from '../../kernel/task.js';
import { eventDefs, tracepointOf, type EventDef, type EventValues, type Tracepoint } from '../../kernel/trace/tracepoint.js';
import {
  fixedRecordSize, makeFieldFinder, putCString, recordSizeFor, TRACE_FLAG, writeRecord, type FilterField,
} from './fields.js';
import { buildFilter, ERR_TEXT, FILT_ERR, FILTER_HDR_SIZE, FilterError, HDR_COMM, HDR_CPU, type EventFilter } from './filter/index.js';
import { makePrinter, type EventPrinter } from './printfmt.js';
import { tracepointProgType } from './progtype.js';

/** First id handed to an event (Linux's dynamic ids start after the fixed ftrace types). */
const FIRST_EVENT_ID = 100;
/** Linux's default per-CPU buffer size as buffer_size_kb shows it on x86_64. */
export const DEFAULT_BUFFER_KB = 1410;
/** error_log keeps the last 8 entries (TRACING_LOG_ERRS_MAX). */
const ERROR_LOG_MAX = 8;
/** struct ring_buffer_event header + alignment, for buffer accounting. */
const EVENT_HEADER = 8;

export interface TraceEventFile {
  readonly id: number;
  readonly def: EventDef;
  readonly tp: Tracepoint;
  readonly fixedSize: number;
  readonly findField: (name: string) => FilterField | undefined;
  readonly printer: EventPrinter;
  enabled: boolean;
  /** The active filter; null means every event passes (also after a rejected write). */
  filter: EventFilter | null;
  /** What the filter file reads (without the final newline); null reads `none`. */
  filterText: string | null;
  progs: BpfProg[];
  detach: (() => void) | null;
}

export interface TraceEntry {
  ts: bigint;
  cpu: number;
  pid: number;
  comm: string;
  flags: number;
  preempt: number;
  /** The event, or null for a trace_marker write. */
  file: TraceEventFile | null;
  /** The record bytes (events) or the marker text. */
  data: Uint8Array;
  text: string;
  cost: number;
}

class CpuBuffer {
  entries: TraceEntry[] = [];
  head = 0;
  bytes = 0;
  overrun = 0;
  get count(): number {
    return this.entries.length - this.head;
  }
  push(e: TraceEntry, capacity: number): void {
    this.entries.push(e);
    this.bytes += e.cost;
    this.trim(capacity);
  }
  /** Overwrite mode: the oldest entries make room for new ones. */
  trim(capacity: number): void {
    while (this.bytes > capacity && this.count > 0) {
      this.bytes -= this.entries[this.head]!.cost;
      this.head++;
      this.overrun++;
    }
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
  shift(): TraceEntry | undefined {
    if (this.count === 0) return undefined;
    const e = this.entries[this.head++]!;
    this.bytes -= e.cost;
    return e;
  }
  clear(): void {
    this.entries = [];
    this.head = 0;
    this.bytes = 0;
    this.overrun = 0;
  }
}

export type FilterEngine = 'compiled' | 'walker';

export class TracingState {
  readonly files = new Map<string, TraceEventFile>();
  private nextId = FIRST_EVENT_ID;
  readonly buffers: CpuBuffer[];
  bufferKb = DEFAULT_BUFFER_KB;
  tracingOn = true;
  engine: FilterEngine = 'compiled';
  readonly errorLog: string[] = [];
  /** Subsystem filter files' text after a failed write (null: the default message). */
  readonly systemFilterText = new Map<string, string>();
  readonly waiters = new Set<() => void>();
  /** Scratch for laying out records: filter header, then the record. */
  private scratch = 0;
  private scratchSize = 0;

  constructor(readonly kernel: Kernel) {
    this.buffers = Array.from({ length: kernel.ncpus }, () => new CpuBuffer());
  }

  /** Picks up events declared since the last call (syscall events are declared late). */
  sync(): void {
    if (this.files.size === eventDefs.length) return;
    for (const def of eventDefs) {
      const key = `${def.system}:${def.name}`;
      if (this.files.has(key)) continue;
      this.files.set(key, {
        id: this.nextId++,
        def,
        tp: tracepointOf(this.kernel, def.system, def.name),
        fixedSize: fixedRecordSize(def),
        findField: makeFieldFinder(def),
        printer: makePrinter(def),
        enabled: false,
        filter: null,
        filterText: null,
        progs: [],
        detach: null,
      });
    }
  }

  allFiles(): TraceEventFile[] {
    this.sync();
    return [...this.files.values()];
  }

  file(system: string, name: string): TraceEventFile {
    this.sync();
    const f = this.files.get(`${system}:${name}`);
    if (!f) throw new KernelError('ENOENT', `no event ${system}:${name}`);
    return f;
  }

  systems(): string[] {
    return [...new Set(this.allFiles().map((f) => f.def.system))];
  }

  capacity(): number {
    return this.bufferKb * 1024;
  }

  /** Attaches or detaches the probe so that idle events cost nothing. */
  updateProbe(f: TraceEventFile): void {
    const want = f.enabled || f.progs.length > 0;
    if (want && !f.detach) f.detach = f.tp.attach((task, values) => this.probe(f, task, values));
    else if (!want && f.detach) {
      f.detach();
      f.detach = null;
    }
  }

  private scratchFor(size: number): number {
    if (size > this.scratchSize) {
      if (this.scratch) this.kernel.mem.free(this.scratch);
      this.scratchSize = Math.max(4096, size);
      this.scratch = this.kernel.mem.alloc(this.scratchSize);
    }
    return this.scratch + FILTER_HDR_SIZE;
  }

  /** The CPU/comm header and the record, laid out in the scratch area; returns [offset, length]. */
  layout(f: TraceEventFile, task: Task | null, values: EventValues, cpu: number): [number, number] {
    const size = recordSizeFor(f.def, f.fixedSize, values);
    const off = this.scratchFor(size + FILTER_HDR_SIZE);
    const mem = this.kernel.mem;
    mem.dv.setUint32(off + HDR_CPU, cpu, true);
    putCString(mem.u8, off + HDR_COMM, 16, task?.comm ?? 'swapper');
    const flags = f.def.system === 'signal' ? TRACE_FLAG.IRQS_OFF : 0;
    const len = writeRecord(mem.u8, mem.dv, off, f.def, f.fixedSize, { type: f.id, flags, preemptCount: 1, pid: task?.pid ?? 0 }, values);
    return [off, len];
  }

  /** Runs the event's filter on a laid-out record. */
  passes(f: TraceEventFile, off: number): boolean {
    const filter = f.filter;
    if (!filter) return true;
    if (this.engine === 'walker') return filter.walk(this.kernel.mem.u8, this.kernel.mem.dv, off);
    return filter.run(off) !== 0;
  }

  private probe(f: TraceEventFile, task: Task | null, values: EventValues): void {
    const kernel = this.kernel;
    const cpu = kernel.currentCpu;
    const [off, len] = this.layout(f, task, values, cpu);
    let record = true;
    for (const prog of f.progs) {
      if (bpfProgRun(kernel, prog, kernel.mem.addr(off), { task, cpu }) === 0n) record = false;
    }
    if (!record || !f.enabled || !this.tracingOn) return;
    if (!this.passes(f, off)) return;
    const data = kernel.mem.u8.slice(off, off + len);
    this.push({ ts: kernel.clock.now(), cpu, pid: task?.pid ?? 0, comm: task?.comm ?? '<idle>', flags: data[2]!, preempt: data[3]!, file: f, data, text: '', cost: EVENT_HEADER + ((len + 3) & ~3) });
  }

  push(e: TraceEntry): void {
    const buf = this.buffers[e.cpu % this.buffers.length]!;
    buf.push(e, this.capacity());
    for (const w of [...this.waiters]) w();
  }

  /** trace_marker: one TRACE_PRINT entry from the writing task. */
  mark(task: Task | null, text: string): void {
    if (!this.tracingOn) return;
    const body = text.endsWith('\n') ? text.slice(0, -1) : text;
    const data = new TextEncoder().encode(body);
    this.push({ ts: this.kernel.clock.now(), cpu: this.kernel.currentCpu, pid: task?.pid ?? 0, comm: task?.comm ?? '<idle>', flags: 0, preempt: 1, file: null, data, text: body, cost: EVENT_HEADER + ((data.length + 16 + 3) & ~3) });
  }

  logError(loc: string, msg: string, cmd: string, pos: number): void {
    const ns = this.kernel.clock.now();
    const stamp = `[${String(ns / 1_000_000_000n).padStart(5)}.${String((ns / 1000n) % 1_000_000n).padStart(6, '0')}]`;
    this.errorLog.push(`${stamp} ${loc}: error: ${msg}\n  Command: ${cmd}\n${' '.repeat(11 + pos)}^\n`);
    while (this.errorLog.length > ERROR_LOG_MAX) this.errorLog.shift();
  }

  // ---- filters

  setFilter(f: TraceEventFile, raw: string): void {
    const text = raw.replace(/\s+$/, '');
    if (text.trim() === '0') {
      f.filter = null;
      f.filterText = null;
      return;
    }
    try {
      f.filter = buildFilter(this.kernel, text, f.findField, tracepointProgType);
      f.filterText = text;
    } catch (e) {
      if (!(e instanceof FilterError)) throw e;
      // Linux swaps in the broken filter anyway: the event is no longer filtered.
      f.filter = null;
      f.filterText = renderFilterError(text, e);
      this.logError('event filter parse error', ERR_TEXT[e.lasterr || FILT_ERR.ERRNO]!, text, e.pos);
      throw new KernelError(e.errno, e.lasterr ? ERR_TEXT[e.lasterr]! : 'Error');
    }
  }

  /** A subsystem's filter file: applies to each event of the system that has the fields. */
  setSystemFilter(system: string, raw: string): void {
    const files = this.allFiles().filter((f) => f.def.system === system);
    if (!files.length) throw new KernelError('ENODEV', `no events in ${system}`);
    const text = raw.replace(/\s+$/, '');
    this.systemFilterText.delete(system);
    if (text.trim() === '0') {
      for (const f of files) {
        f.filter = null;
        f.filterText = null;
      }
      return;
    }
    for (const f of files) {
      try {
        f.filter = buildFilter(this.kernel, text, f.findField, tracepointProgType);
        f.filterText = text;
      } catch (e) {
        if (!(e instanceof FilterError)) throw e;
        f.filter = null;
        f.filterText = renderFilterError(text, new FilterError(e.errno, FILT_ERR.BAD_SUBSYS_FILTER, 0));
      }
    }
  }

  // ---- enable

  setEnabled(f: TraceEventFile, on: boolean): void {
    f.enabled = on;
    this.updateProbe(f);
  }

  // ---- buffers

  clear(): void {
    for (const b of this.buffers) b.clear();
  }

  setBufferKb(kb: number): void {
    if (!Number.isInteger(kb) || kb < 1) throw new KernelError('EINVAL', `bad buffer size ${kb}`);
    this.bufferKb = kb;
    for (const b of this.buffers) b.trim(this.capacity());
  }

  /** All entries in the buffers in time order (non-consuming). */
  snapshot(): TraceEntry[] {
    const all: TraceEntry[] = [];
    for (const b of this.buffers) for (let i = b.head; i < b.entries.length; i++) all.push(b.entries[i]!);
    return all.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : a.cpu - b.cpu));
  }

  /** Removes and returns the oldest entry across CPUs (trace_pipe). */
  consume(): TraceEntry | undefined {
    let best: CpuBuffer | undefined;
    for (const b of this.buffers) {
      const e = b.entries[b.head];
      if (e && (!best || e.ts < best.entries[best.head]!.ts)) best = b;
    }
    return best?.shift();
  }

  counts(): { inBuffer: number; written: number } {
    let inBuffer = 0;
    let over = 0;
    for (const b of this.buffers) {
      inBuffer += b.count;
      over += b.overrun;
    }
    return { inBuffer, written: inBuffer + over };
  }

  // ---- BPF

  attachProg(f: TraceEventFile, prog: BpfProg): void {
    if (prog.type.id !== tracepointProgType.id) throw new KernelError('EINVAL', 'not a tracepoint program');
    if (f.progs.includes(prog)) throw new KernelError('EEXIST', 'program already attached');
    f.progs.push(prog);
    this.updateProbe(f);
  }

  detachProg(f: TraceEventFile, prog: BpfProg): void {
    const i = f.progs.indexOf(prog);
    if (i < 0) return;
    f.progs.splice(i, 1);
    this.updateProbe(f);
    bpfProgPut(this.kernel, prog);
  }
}

/** append_filter_err(): the text, a caret line and `parse_error: MSG` (or `Error: (N)`). */
export function renderFilterError(text: string, e: FilterError): string {
  let pos = Math.min(e.pos, text.length);
  if (pos) pos++;
  if (e.lasterr > 0) return `${text}\n${'^'.padStart(pos)}\nparse_error: ${ERR_TEXT[e.lasterr]}\n`;
  return `${text}\nError: (${-e.lasterr})\n`;
}

export const tracingOf = perKernel((k: Kernel) => new TracingState(k));

export type { ErrnoName };
