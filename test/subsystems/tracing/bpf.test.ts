/**
 * BPF programs on tracepoints, the way perf and libbpf attach them: a
 * BPF_PROG_TYPE_TRACEPOINT program loaded with bpf(BPF_PROG_LOAD), perf_event_open(2)
 * on the event's id, ioctl(PERF_EVENT_IOC_SET_BPF). The program counts every event in
 * an array map and its return value decides whether the event is also recorded; closing
 * the perf fd detaches it. bpf_trace_printk lines land in trace and trace_pipe as Linux
 * prints them. Both engines (bpf_jit_enable 0 and 1).
 */
import { describe, expect, it } from 'vitest';
import type { BootedKernel } from '../../../index.js';
import { assemble } from '../../../kernel/bpf/asm.js';
import { BPF_CMD, BPF_PROG_TYPE } from '../../../kernel/bpf/isa.js';
import { progFromFd } from '../../../kernel/bpf/objects.js';
import type { BpfAttr } from '../../../kernel/bpf/syscall.js';
import type { Kernel } from '../../../kernel/kernel.js';
import type { Task } from '../../../kernel/task.js';
import { tracepointOf } from '../../../kernel/trace/tracepoint.js';
import { counterSetup, insnsWithMap, sysSync, TRACEFS } from '../../helpers/tracepoint-prog.js';
import {
  openTracePipe, PERF_EVENT_IOC_DISABLE, PERF_EVENT_IOC_ENABLE, PERF_EVENT_IOC_SET_BPF, PERF_TYPE_TRACEPOINT, tracingOf,
} from '../../../subsystems/tracing/index.js';

const T = TRACEFS;

const sys = sysSync;

// signal_generate: sig at offset 8. Count the event in map[0], record it only when sig > 10.
const COUNT_AND_FILTER = `
  mov %r6, %r1
  stw [%r10-4], 0
  lddw %r1, 0
  mov %r2, %r10
  add %r2, -4
  call 1
  jeq %r0, 0, +2
  mov %r1, 1
  lock add [%r0+0], %r1
  ldxw %r1, [%r6+8]
  mov %r0, 0
  jsle %r1, 10, +1
  mov %r0, 1
  exit
`;

function setup(jit: 0 | 1) {
  const { eventId, ...rest } = counterSetup(7, 'perftool', jit);
  return { ...rest, id: eventId };
}

function fireSignals(k: Kernel, from: Task): void {
  const tp = tracepointOf(k, 'signal', 'signal_generate');
  for (let sig = 9; sig <= 18; sig++) tp.fire(from, { sig, errno: 0, code: 0, comm: 'sleep', pid: 77, group: 1, result: 0 });
}

const sigsInTrace = (k: BootedKernel): number[] =>
  [...(k.fs.readFileSync(`${T}/trace`, 'utf8') as string).matchAll(/signal_generate: sig=(\d+)/g)].map((m) => Number(m[1]));

describe.each([0, 1] as const)('perf_event_open + PERF_EVENT_IOC_SET_BPF (bpf_jit_enable=%i)', (jit) => {
  it('loads a tracepoint program through bpf(), counts in a map, and its verdict decides what is recorded', () => {
    const { k, task, bpf, mapFd, count, id } = setup(jit);
    const progFd = bpf(BPF_CMD.BPF_PROG_LOAD, {
      prog_type: BPF_PROG_TYPE.BPF_PROG_TYPE_TRACEPOINT, insns: insnsWithMap(COUNT_AND_FILTER, mapFd), license: 'GPL',
    });
    expect(progFd).toBeGreaterThanOrEqual(0);
    expect(progFromFd(task, progFd).jited !== null).toBe(jit === 1);
    k.fs.writeFileSync(`${T}/events/signal/signal_generate/enable`, '1');

    const perfFd = sys(k, task, 'perf_event_open', [{ type: PERF_TYPE_TRACEPOINT, config: id }]);
    expect(perfFd).toBeGreaterThanOrEqual(0);
    expect(sys(k, task, 'ioctl', [perfFd, PERF_EVENT_IOC_SET_BPF, progFd])).toBe(0);
    fireSignals(k, task);
    expect(count()).toBe(10n);
    expect(sigsInTrace(k)).toEqual([11, 12, 13, 14, 15, 16, 17, 18]);

    // A second program on the same perf event: EEXIST.
    expect(sys(k, task, 'ioctl', [perfFd, PERF_EVENT_IOC_SET_BPF, progFd])).toBe(-17);

    // DISABLE detaches (events all recorded, not counted); ENABLE attaches again.
    expect(sys(k, task, 'ioctl', [perfFd, PERF_EVENT_IOC_DISABLE, 0])).toBe(0);
    k.fs.writeFileSync(`${T}/trace`, '');
    fireSignals(k, task);
    expect(count()).toBe(10n);
    expect(sigsInTrace(k)).toHaveLength(10);
    expect(sys(k, task, 'ioctl', [perfFd, PERF_EVENT_IOC_ENABLE, 0])).toBe(0);
    k.fs.writeFileSync(`${T}/trace`, '');
    fireSignals(k, task);
    expect(count()).toBe(20n);
    expect(sigsInTrace(k)).toHaveLength(8);

    // Closing the perf fd detaches the program; the prog fd still holds it.
    expect(sys(k, task, 'close', [perfFd])).toBe(0);
    k.fs.writeFileSync(`${T}/trace`, '');
    fireSignals(k, task);
    expect(count()).toBe(20n);
    expect(sigsInTrace(k)).toHaveLength(10);
    expect(tracingOf(k).file('signal', 'signal_generate').progs).toEqual([]);
  });

  it('runs the program while the event is disabled (counting only), with the probe detached after close', () => {
    const { k, task, bpf, mapFd, count, id } = setup(jit);
    const progFd = bpf(BPF_CMD.BPF_PROG_LOAD, {
      prog_type: BPF_PROG_TYPE.BPF_PROG_TYPE_TRACEPOINT, insns: insnsWithMap(COUNT_AND_FILTER, mapFd), license: 'GPL',
    });
    const tp = tracepointOf(k, 'signal', 'signal_generate');
    expect(tp.probes).toHaveLength(0);
    const perfFd = sys(k, task, 'perf_event_open', [{ type: PERF_TYPE_TRACEPOINT, config: id }]);
    sys(k, task, 'ioctl', [perfFd, PERF_EVENT_IOC_SET_BPF, progFd]);
    expect(tp.probes).toHaveLength(1);
    fireSignals(k, task);
    expect(count()).toBe(10n);
    expect(sigsInTrace(k)).toEqual([]);
    sys(k, task, 'close', [perfFd]);
    expect(tp.probes).toHaveLength(0);
  });

  it('refuses what Linux refuses: other program types (EINVAL), unknown ids (ENOENT), bad ioctls (ENOTTY)', () => {
    const { k, task, bpf, id } = setup(jit);
    const sockFd = bpf(BPF_CMD.BPF_PROG_LOAD, {
      prog_type: BPF_PROG_TYPE.BPF_PROG_TYPE_SOCKET_FILTER, insns: assemble('mov %r0, 0\nexit'), license: 'GPL',
    });
    const perfFd = sys(k, task, 'perf_event_open', [{ type: PERF_TYPE_TRACEPOINT, config: id }]);
    expect(sys(k, task, 'ioctl', [perfFd, PERF_EVENT_IOC_SET_BPF, sockFd])).toBe(-22);
    expect(sys(k, task, 'perf_event_open', [{ type: PERF_TYPE_TRACEPOINT, config: 999999 }])).toBe(-2);
    expect(sys(k, task, 'ioctl', [perfFd, 0x1234, 0])).toBe(-25);
  });

  it('bpf_trace_printk writes `<task>-<pid> [cpu] flags ts: bpf_trace_printk: text` to trace and trace_pipe', async () => {
    const { k, task, bpf, id } = setup(jit);
    // "sig=%d\n" on the stack, then bpf_trace_printk(fmt, 8, sig).
    const prog = assemble(`
      ldxw %r3, [%r1+8]
      lddw %r1, 0x000a64253d676973
      stxdw [%r10-8], %r1
      mov %r1, %r10
      add %r1, -8
      mov %r2, 8
      call 6
      mov %r0, 1
      exit
    `);
    const progFd = bpf(BPF_CMD.BPF_PROG_LOAD, { prog_type: BPF_PROG_TYPE.BPF_PROG_TYPE_TRACEPOINT, insns: prog, license: 'GPL' });
    expect(progFd).toBeGreaterThanOrEqual(0);
    const perfFd = sys(k, task, 'perf_event_open', [{ type: PERF_TYPE_TRACEPOINT, config: id }]);
    sys(k, task, 'ioctl', [perfFd, PERF_EVENT_IOC_SET_BPF, progFd]);
    const pipe = openTracePipe(k);
    const pending = pipe.read();
    tracepointOf(k, 'signal', 'signal_generate').fire(task, { sig: 12, errno: 0, code: 0, comm: 'sleep', pid: 77, group: 1, result: 0 });
    const line = await pending;
    const want = new RegExp(`^ +perftool-${task.pid} +\\[\\d{3}\\] [.a-zA-Z0-9]{5} +\\d+\\.\\d{6}: bpf_trace_printk: sig=12\\n$`);
    expect(line).toMatch(want);
    tracepointOf(k, 'signal', 'signal_generate').fire(task, { sig: 13, errno: 0, code: 0, comm: 'sleep', pid: 77, group: 1, result: 0 });
    const trace = k.fs.readFileSync(`${T}/trace`, 'utf8') as string;
    const body = trace.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(body).toHaveLength(1);
    expect(`${body[0]}\n`).toMatch(new RegExp(want.source.replace('sig=12', 'sig=13')));
    expect(k.fs.readFileSync(`${T}/events/bpf_trace/bpf_trace_printk/enable`, 'utf8')).toBe('1\n');
    pipe.close();
  });
});
