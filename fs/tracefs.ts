/**
 * tracefs at /sys/kernel/tracing (debugfs shows it again as /sys/kernel/debug/tracing):
 * the files of the tracing subsystem, served through its public API
 * (subsystems/tracing/index.ts). Names, modes and texts are Linux 6.x's.
 *
 *   available_events set_event tracing_on trace trace_pipe trace_marker error_log
 *   buffer_size_kb events/enable events/<sys>/{enable,filter}
 *   events/<sys>/<event>/{enable,filter,format,id}
 *
 * `echo x > file` is one write: a rejected filter fails that write with the errno Linux
 * gives. Opening `trace`, `set_event` or `error_log` with O_TRUNC (`>`) clears them.
 */
import type { Kernel } from '../kernel/kernel.js';
import {
  clearErrorLog, clearTrace, listEvents, listSystems, readAvailableEvents, readBufferSizeKb, readEnable, readErrorLog,
  readFilter, readFormat, readId, readSetEvent, readSystemFilter, readTrace, readTracingOn, tracingOf, traceLine,
  writeBufferSizeKb, writeEnable, writeFilter, writeSetEvent, writeSystemFilter, writeTraceMarker, writeTracingOn,
} from '../subsystems/tracing/index.js';
import { attrFile, dynamicDir, mountAt, seqFile, staticDir, streamFile, type Inode, type OpenFile } from './vfs.js';

export const TRACEFS_ROOT = '/sys/kernel/tracing';

function eventDir(kernel: Kernel, sys: string, ev: string): Inode {
  const d = staticDir(0o755);
  d.add('enable', attrFile({ show: () => readEnable(kernel, sys, ev), store: (t) => writeEnable(kernel, t, sys, ev) }));
  d.add('filter', attrFile({ show: () => readFilter(kernel, sys, ev), store: (t) => writeFilter(kernel, sys, ev, t) }));
  d.add('format', seqFile(() => readFormat(kernel, sys, ev)));
  d.add('id', seqFile(() => readId(kernel, sys, ev)));
  return d;
}

function systemDir(kernel: Kernel, sys: string): Inode {
  const files: Record<string, () => Inode> = {
    enable: () => attrFile({ show: () => readEnable(kernel, sys), store: (t) => writeEnable(kernel, t, sys) }),
    filter: () => attrFile({ show: () => readSystemFilter(kernel, sys), store: (t) => writeSystemFilter(kernel, sys, t) }),
  };
  return dynamicDir(
    {
      list: () => [...listEvents(kernel, sys), 'enable', 'filter'],
      make: (name) => files[name]?.() ?? eventDir(kernel, sys, name),
    },
    0o755,
  );
}

interface PipeState {
  pending: string;
}

export function makeTracefs(kernel: Kernel): Inode {
  const root = staticDir(0o755);
  root.add('available_events', seqFile(() => readAvailableEvents(kernel)));
  root.add('set_event', attrFile({ show: () => readSetEvent(kernel), store: (t) => writeSetEvent(kernel, t, false), truncate: () => writeSetEvent(kernel, '', true) }));
  root.add('tracing_on', attrFile({ show: () => readTracingOn(kernel), store: (t) => writeTracingOn(kernel, t) }));
  root.add('trace', attrFile({ show: () => readTrace(kernel), store: () => undefined, truncate: () => clearTrace(kernel) }));
  root.add('trace_marker', attrFile({ mode: 0o220, store: (t, f: OpenFile) => writeTraceMarker(kernel, f.ctx.task, t) }));
  root.add('error_log', attrFile({ show: () => readErrorLog(kernel), store: () => undefined, truncate: () => clearErrorLog(kernel) }));
  root.add('buffer_size_kb', attrFile({ show: () => readBufferSizeKb(kernel), store: (t) => writeBufferSizeKb(kernel, t) }));
  root.add(
    'trace_pipe',
    streamFile({
      take: (f, max) => {
        const st = (f.private ?? { pending: '' }) as PipeState;
        f.private = st;
        const state = tracingOf(kernel);
        while (st.pending.length < Math.max(1, max)) {
          const e = state.consume();
          if (!e) break;
          st.pending += traceLine(e);
        }
        if (max === 0) return st.pending.length ? ' ' : '';
        const out = st.pending.slice(0, max);
        st.pending = st.pending.slice(out.length);
        return out;
      },
      wait: () =>
        new Promise<void>((resolve) => {
          const waiters = tracingOf(kernel).waiters;
          const w = (): void => {
            waiters.delete(w);
            resolve();
          };
          waiters.add(w);
        }),
    }),
  );
  const events = dynamicDir(
    {
      list: () => [...listSystems(kernel), 'enable'],
      make: (name) =>
        name === 'enable'
          ? attrFile({ show: () => readEnable(kernel), store: (t) => writeEnable(kernel, t) })
          : systemDir(kernel, name),
    },
    0o755,
  );
  root.add('events', events);
  return root;
}

export function registerTracefs(kernel: Kernel): void {
  mountAt(kernel, TRACEFS_ROOT, makeTracefs(kernel));
}
