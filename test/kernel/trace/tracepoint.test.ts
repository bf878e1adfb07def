// kernel/trace: declaring events (declareEvent, format-file parsing), and tracepoints:
// one per system:event per kernel, fire/attach/detach, idle tracepoints have no probes,
// and attaching or detaching while a tracepoint fires (copy-on-write probe list).
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../../kernel/kernel.js';
import {
  allTracepoints, declareEvent, declareFromFormat, eventDefs, fieldDecl, parseFormatFields, tracepointOf,
  type EventValues, type Probe,
} from '../../../kernel/trace/tracepoint.js';
import type { Task } from '../../../kernel/task.js';

describe('event declarations', () => {
  it('parses format-file field lines the way Linux prints them', () => {
    const fields = parseFormatFields(
      '\tfield:int sig;\toffset:8;\tsize:4;\tsigned:1;\n' +
        '\tfield:char comm[16];\toffset:20;\tsize:16;\tsigned:0;\n' +
        '\tfield:__data_loc char[] name;\toffset:36;\tsize:4;\tsigned:0;\n' +
        '\tfield:unsigned long args[6];\toffset:16;\tsize:48;\tsigned:0;\n',
    );
    expect(fields).toEqual([
      { type: 'int', name: 'sig', offset: 8, size: 4, signed: true },
      { type: 'char[16]', name: 'comm', offset: 20, size: 16, signed: false },
      { type: '__data_loc char[]', name: 'name', offset: 36, size: 4, signed: false },
      { type: 'unsigned long[6]', name: 'args', offset: 16, size: 48, signed: false },
    ]);
    expect(fields.map(fieldDecl)).toEqual(['int sig', 'char comm[16]', '__data_loc char[] name', 'unsigned long args[6]']);
  });

  it('declares an event once; a second declaration returns the first', () => {
    const a = declareFromFormat('tptest', 'ev', '\tfield:int x;\toffset:8;\tsize:4;\tsigned:1;', '"x=%d", REC->x');
    const b = declareEvent({ system: 'tptest', name: 'ev', fields: [], printFmt: '""' });
    expect(b).toBe(a);
    expect(eventDefs.filter((d) => d.system === 'tptest' && d.name === 'ev')).toHaveLength(1);
  });

  it('knows the events bpfkern fires (signal, sched, raw_syscalls, bpf_trace)', () => {
    const names = new Set(eventDefs.map((d) => `${d.system}:${d.name}`));
    for (const e of ['signal:signal_generate', 'signal:signal_deliver', 'sched:sched_process_fork', 'raw_syscalls:sys_enter', 'bpf_trace:bpf_trace_printk']) {
      expect(names.has(e), e).toBe(true);
    }
  });
});

describe('tracepoints', () => {
  const values: EventValues = { sig: 9, errno: 0, code: 0, comm: 'x', pid: 1, group: 1, result: 0 };

  it('one per kernel and event; undeclared events are a bug (throw)', () => {
    const k1 = new Kernel();
    const k2 = new Kernel();
    const tp = tracepointOf(k1, 'signal', 'signal_generate');
    expect(tracepointOf(k1, 'signal', 'signal_generate')).toBe(tp);
    expect(tracepointOf(k2, 'signal', 'signal_generate')).not.toBe(tp);
    expect(tp.def.name).toBe('signal_generate');
    expect(() => tracepointOf(k1, 'nope', 'nothing')).toThrow(/undeclared tracepoint nope:nothing/);
    expect(allTracepoints(k1).length).toBe(eventDefs.length);
  });

  it('fire calls every probe in attach order with the task and values; detach stops it', () => {
    const k = new Kernel();
    const tp = tracepointOf(k, 'signal', 'signal_generate');
    const task = k.tasks.spawn({ comm: 'firer' });
    expect(tp.probes).toHaveLength(0);
    tp.fire(task, values); // nobody listens: nothing happens
    const seen: string[] = [];
    const d1 = tp.attach((t, v) => seen.push(`a:${t?.comm}:${String(v['sig'])}`));
    const d2 = tp.attach((t) => seen.push(`b:${t === null ? 'null' : t.comm}`));
    expect(tp.probes).toHaveLength(2);
    tp.fire(task, values);
    tp.fire(null, values);
    expect(seen).toEqual(['a:firer:9', 'b:firer', 'a:undefined:9', 'b:null']);
    d1();
    d1(); // detaching twice is harmless
    seen.length = 0;
    tp.fire(task, values);
    expect(seen).toEqual(['b:firer']);
    d2();
    expect(tp.probes).toHaveLength(0);
  });

  it('the same probe attached twice runs twice, and each detach removes one', () => {
    const k = new Kernel();
    const tp = tracepointOf(k, 'signal', 'signal_generate');
    let n = 0;
    const p: Probe = () => n++;
    const d1 = tp.attach(p);
    const d2 = tp.attach(p);
    tp.fire(null, values);
    expect(n).toBe(2);
    d1();
    tp.fire(null, values);
    expect(n).toBe(3);
    d2();
    tp.fire(null, values);
    expect(n).toBe(3);
  });

  it('a probe detaching itself or attaching another while firing: every current probe runs once, changes apply next time', () => {
    const k = new Kernel();
    const tp = tracepointOf(k, 'signal', 'signal_generate');
    const seen: string[] = [];
    let late: (() => void) | null = null;
    const dSelf: () => void = tp.attach(() => {
      seen.push('self');
      dSelf();
    });
    tp.attach(() => {
      seen.push('second');
      if (!late) late = tp.attach(() => seen.push('late'));
    });
    tp.fire(null, values);
    expect(seen).toEqual(['self', 'second']);
    seen.length = 0;
    tp.fire(null, values);
    expect(seen).toEqual(['second', 'late']);
  });

  it('a probe may fire another tracepoint (nesting)', () => {
    const k = new Kernel();
    const outer = tracepointOf(k, 'signal', 'signal_generate');
    const inner = tracepointOf(k, 'signal', 'signal_deliver');
    const order: string[] = [];
    inner.attach((_t: Task | null, v) => order.push(`inner ${String(v['sig'])}`));
    outer.attach((t, v) => {
      order.push('outer');
      inner.fire(t, { ...v, sig: 10 });
    });
    outer.fire(null, values);
    expect(order).toEqual(['outer', 'inner 10']);
  });
});
