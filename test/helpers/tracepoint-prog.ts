// What the tracepoint-program tests share: a synchronous syscall, assembling a program
// whose `lddw %rN, 0` loads a map fd (what libbpf's relocation does), and a booted kernel
// with a task and a one-slot u64 counter map whose value the test reads back.
import { bootKernel, type BootedKernel } from '../../index.js';
import { assemble } from '../../kernel/bpf/asm.js';
import { BPF_CMD, BPF_MAP_TYPE, BPF_PSEUDO_MAP_FD, isLdImm64, type Insn } from '../../kernel/bpf/isa.js';
import type { BpfAttr } from '../../kernel/bpf/syscall.js';
import type { Kernel } from '../../kernel/kernel.js';
import { syscall } from '../../kernel/syscall.js';
import type { Task } from '../../kernel/task.js';

export const TRACEFS = '/sys/kernel/tracing';

/** A syscall that must complete without blocking; returns its value or -errno. */
export function sysSync(k: Kernel, task: Task, name: string, args: unknown[]): number {
  const r = syscall(k, task, name, args as never);
  if (typeof r !== 'number') throw new Error(`${name} did not complete synchronously`);
  return r;
}

/** Assembles `text`; every `lddw %rN, 0` becomes a BPF_PSEUDO_MAP_FD load of mapFd. */
export function insnsWithMap(text: string, mapFd: number): Insn[] {
  const insns = assemble(text);
  for (let n = 0; n < insns.length; n++) {
    const i = insns[n]!;
    if (isLdImm64(i)) {
      i.src = BPF_PSEUDO_MAP_FD;
      i.imm = mapFd;
      n++; // the second slot of LD_IMM64
    }
  }
  return insns;
}

export interface CounterSetup {
  k: BootedKernel;
  task: Task;
  bpf: (cmd: number, attr: BpfAttr) => number;
  mapFd: number;
  /** map[0] as a u64. */
  count: () => bigint;
  /** signal:signal_generate's event id, as perf_event_open takes it. */
  eventId: number;
}

export function counterSetup(seed: number, comm: string, jit: 0 | 1): CounterSetup {
  const k = bootKernel({ seed });
  k.sysctl.bpfJitEnable = jit;
  const task = k.tasks.spawn({ comm });
  const bpf = (cmd: number, attr: BpfAttr): number => sysSync(k, task, 'bpf', [cmd, attr]);
  const mapFd = bpf(BPF_CMD.BPF_MAP_CREATE, { map_type: BPF_MAP_TYPE.BPF_MAP_TYPE_ARRAY, key_size: 4, value_size: 8, max_entries: 1 });
  if (mapFd < 0) throw new Error(`MAP_CREATE failed: ${mapFd}`);
  const count = (): bigint => {
    const value = new Uint8Array(8);
    const r = bpf(BPF_CMD.BPF_MAP_LOOKUP_ELEM, { map_fd: mapFd, key: new Uint8Array(4), value });
    if (r !== 0) throw new Error(`MAP_LOOKUP_ELEM failed: ${r}`);
    return new DataView(value.buffer).getBigUint64(0, true);
  };
  const eventId = Number(k.fs.readFileSync(`${TRACEFS}/events/signal/signal_generate/id`, 'utf8'));
  return { k, task, bpf, mapFd, count, eventId };
}
