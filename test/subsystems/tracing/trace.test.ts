/**
 * The seed's scenario and the trace file's layout: events from tasks named bash and
 * sleep with signals 9..18; with the seed's filter only the right ones reach `trace`,
 * whichever evaluator runs. Also the format file against Linux 6.18's text, trace_pipe
 * consumption and waiting, tracing_on, buffer overwrite.
 */
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../../index.js';
import { tracepointOf } from '../../../kernel/trace/tracepoint.js';
import { openTracePipe, setFilterEngine, readFilterXlated, tracingOf } from '../../../subsystems/tracing/index.js';

const T = '/sys/kernel/tracing';
const SEED = '((sig >= 10 && sig < 15) || sig == 17) && comm != bash';

function scenario(engine: 'compiled' | 'walker'): { lines: string[]; expected: number[] } {
  const k = bootKernel({ seed: 1 });
  setFilterEngine(k, engine);
  const bash = k.tasks.spawn({ comm: 'bash' });
  const sleep = k.tasks.spawn({ comm: 'sleep' });
  k.fs.writeFileSync(`${T}/events/signal/signal_generate/filter`, `${SEED}\n`);
  k.fs.writeFileSync(`${T}/events/signal/signal_generate/enable`, '1\n');
  const tp = tracepointOf(k, 'signal', 'signal_generate');
  const expected: number[] = [];
  for (let sig = 9; sig <= 18; sig++) {
    for (const [sender, target] of [[bash, sleep], [sleep, bash]] as const) {
      tp.fire(sender, { sig, errno: 0, code: 0, comm: target.comm, pid: target.pid, group: 1, result: 0 });
      if (((sig >= 10 && sig < 15) || sig === 17) && target.comm !== 'bash') expected.push(sig);
    }
  }
  const text = k.fs.readFileSync(`${T}/trace`, 'utf8') as string;
  return { lines: text.split('\n').filter((l) => l && !l.startsWith('#')), expected };
}

describe('the seed scenario', () => {
  it.each(['compiled', 'walker'] as const)('only the right events appear in trace (%s)', (engine) => {
    const { lines, expected } = scenario(engine);
    expect(expected).toEqual([10, 11, 12, 13, 14, 17]);
    expect(lines.map((l) => Number(/sig=(\d+)/.exec(l)![1]))).toEqual(expected);
    for (const l of lines) expect(l).toMatch(/^ {12}bash-\d+ +\[\d{3}\] d\.\.1\. +\d+\.\d{6}: signal_generate: sig=\d+ errno=0 code=0 comm=sleep pid=\d+ grp=1 res=0$/);
  });
});

describe('trace output', () => {
  it('prints ftrace header and line layout', () => {
    const k = bootKernel({ seed: 1 });
    const t = k.tasks.spawn({ comm: 'sleep' });
    k.fs.writeFileSync(`${T}/set_event`, 'signal:signal_generate\n');
    expect(k.fs.readFileSync(`${T}/set_event`, 'utf8')).toBe('signal:signal_generate\n');
    tracepointOf(k, 'signal', 'signal_generate').fire(t, { sig: 10, errno: 0, code: 0, comm: 'sleep', pid: 1235, group: 1, result: 0 });
    k.fs.writeFileSync(`${T}/trace_marker`, 'hello\n');
    const text = k.fs.readFileSync(`${T}/trace`, 'utf8') as string;
    const lines = text.split('\n');
    expect(lines.slice(0, 12).join('\n')).toBe(
      [
        '# tracer: nop',
        '#',
        '# entries-in-buffer/entries-written: 2/2   #P:2',
        '#',
        '#                                _-----=> irqs-off/BH-disabled',
        '#                               / _----=> need-resched',
        '#                              | / _---=> hardirq/softirq',
        '#                              || / _--=> preempt-depth',
        '#                              ||| / _-=> migrate-disable',
        '#                              |||| /     delay',
        '#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION',
        '#              | |         |   |||||     |         |',
      ].join('\n'),
    );
    expect(lines[12]).toMatch(/^ {11}sleep-\d{4}    \[000\] d\.\.1\. {4}\d\d\.\d{6}: signal_generate: sig=10 errno=0 code=0 comm=sleep pid=1235 grp=1 res=0$/);
    expect(lines[13]).toMatch(/^ {10}<idle>-0       \[000\] \.\.\.1\. {4}\d\d\.\d{6}: tracing_mark_write: hello$/);
    k.fs.writeFileSync(`${T}/trace`, '\n');
    expect(k.fs.readFileSync(`${T}/trace`, 'utf8')).toMatch(/entries-written: 0\/0/);
  });

  it('prints sched_switch through its print fmt', () => {
    const k = bootKernel();
    k.fs.writeFileSync(`${T}/events/sched/sched_switch/enable`, '1');
    tracepointOf(k, 'sched', 'sched_switch').fire(null, { prev_comm: 'bash', prev_pid: 5, prev_prio: 120, prev_state: 1, next_comm: 'swapper/0', next_pid: 0, next_prio: 120 });
    tracepointOf(k, 'sched', 'sched_switch').fire(null, { prev_comm: 'a', prev_pid: 6, prev_prio: 120, prev_state: 0, next_comm: 'b', next_pid: 7, next_prio: 100 });
    const text = k.fs.readFileSync(`${T}/trace`, 'utf8') as string;
    expect(text).toContain('sched_switch: prev_comm=bash prev_pid=5 prev_prio=120 prev_state=S ==> next_comm=swapper/0 next_pid=0 next_prio=120\n');
    expect(text).toContain('sched_switch: prev_comm=a prev_pid=6 prev_prio=120 prev_state=R ==> next_comm=b next_pid=7 next_prio=100\n');
  });

  it('tracing_on 0 stops recording; overwrite keeps the newest', () => {
    const k = bootKernel();
    const tp = tracepointOf(k, 'raw_syscalls', 'sys_exit');
    k.fs.writeFileSync(`${T}/events/raw_syscalls/sys_exit/enable`, '1');
    k.fs.writeFileSync(`${T}/tracing_on`, '0');
    tp.fire(null, { id: 1, ret: 0 });
    expect(tracingOf(k).counts().inBuffer).toBe(0);
    k.fs.writeFileSync(`${T}/tracing_on`, '1');
    k.fs.writeFileSync(`${T}/buffer_size_kb`, '1');
    for (let i = 0; i < 100; i++) tp.fire(null, { id: i, ret: 0 });
    const { inBuffer, written } = tracingOf(k).counts();
    expect(written).toBe(100);
    expect(inBuffer).toBeLessThan(100);
    expect(k.fs.readFileSync(`${T}/trace`, 'utf8')).toContain('NR 99 = 0');
    expect(k.fs.readFileSync(`${T}/trace`, 'utf8')).not.toContain('NR 0 = 0\n');
  });

  it('trace_pipe consumes and waits for events', async () => {
    const k = bootKernel();
    k.fs.writeFileSync(`${T}/events/raw_syscalls/sys_exit/enable`, '1');
    const pipe = openTracePipe(k);
    const pending = pipe.read();
    tracepointOf(k, 'raw_syscalls', 'sys_exit').fire(null, { id: 39, ret: 1000 });
    expect(await pending).toMatch(/sys_exit: NR 39 = 1000\n$/);
    expect(pipe.readNow()).toBe('');
    expect(tracingOf(k).counts().inBuffer).toBe(0);
  });

  it('shows the compiled filter as an xlated dump', () => {
    const k = bootKernel();
    k.fs.writeFileSync(`${T}/events/signal/signal_generate/filter`, 'sig == 9');
    const dump = readFilterXlated(k, 'signal', 'signal_generate');
    expect(dump).toContain('r6 = r1');
    expect(dump).toMatch(/exit/);
  });
});

const HOST_FORMAT = `name: signal_generate
ID: ID
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int sig;\toffset:8;\tsize:4;\tsigned:1;
\tfield:int errno;\toffset:12;\tsize:4;\tsigned:1;
\tfield:int code;\toffset:16;\tsize:4;\tsigned:1;
\tfield:char comm[16];\toffset:20;\tsize:16;\tsigned:0;
\tfield:pid_t pid;\toffset:36;\tsize:4;\tsigned:1;
\tfield:int group;\toffset:40;\tsize:4;\tsigned:1;
\tfield:int result;\toffset:44;\tsize:4;\tsigned:1;

print fmt: "sig=%d errno=%d code=%d comm=%s pid=%d grp=%d res=%d", REC->sig, REC->errno, REC->code, REC->comm, REC->pid, REC->group, REC->result
`;

describe('format files', () => {
  it('signal_generate matches Linux 6.18 (ID aside)', () => {
    const k = bootKernel();
    const text = k.fs.readFileSync(`${T}/events/signal/signal_generate/format`, 'utf8') as string;
    expect(text.replace(/^ID: \d+$/m, 'ID: ID')).toBe(HOST_FORMAT);
    const id = Number(k.fs.readFileSync(`${T}/events/signal/signal_generate/id`, 'utf8'));
    expect(text).toContain(`ID: ${id}\n`);
  });
});
