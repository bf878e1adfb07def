/**
 * The Kernel: one booted instance with its address space, clock, seeded randomness, CPUs,
 * sysctls, kernel log and task table. Everything else hangs off it.
 *
 * Subsystems (net, seccomp, tracing) and fs keep their per-kernel state with perKernel()
 * instead of adding fields here: kernel/ must not know about them (DESIGN.md layers). They
 * are wired in at boot by the root index.ts, which calls each one's register function.
 */
import { AddressSpace, type AddressSpaceOptions } from './bpf/memory.js';
import { TaskTable } from './task.js';

export interface BootOptions {
  /** Seed for the clock start, prandom and workloads (default 1). */
  seed?: number;
  /** Number of CPUs (default 2). */
  ncpus?: number;
  /** Use the host's monotonic clock instead of the deterministic one. */
  realTime?: boolean;
  memory?: AddressSpaceOptions;
}

/** Tunables that Linux exposes under /proc/sys; fs/procfs serves them. */
export interface Sysctl {
  /** /proc/sys/net/core/bpf_jit_enable: 0 interpreter, 1 JIT, 2 JIT + dump to the log. */
  bpfJitEnable: 0 | 1 | 2;
  /** /proc/sys/net/core/bpf_jit_harden: 0 off, 1 unprivileged loaders, 2 everyone. */
  bpfJitHarden: 0 | 1 | 2;
  /** /proc/sys/kernel/unprivileged_bpf_disabled: 0, 1 (locked) or 2. */
  unprivilegedBpfDisabled: 0 | 1 | 2;
}

/**
 * The clock. Deterministic by default: it starts at a seeded boot offset and advances a
 * fixed step each time it is read, so traces and replays are exact.
 */
export class Clock {
  private ns: bigint;
  private readonly startHost = process.hrtime.bigint();
  constructor(
    seed: number,
    /** Host time (BootOptions.realTime) rather than the deterministic clock. */
    readonly realTime: boolean,
    private readonly stepNs = 1000n,
  ) {
    this.ns = 10_000_000_000n + BigInt(seed % 1000) * 1_000_000n;
  }
  /** Monotonic nanoseconds since boot (ktime_get_ns). */
  now(): bigint {
    if (this.realTime) return this.ns + (process.hrtime.bigint() - this.startHost);
    this.ns += this.stepNs;
    return this.ns;
  }
  /** Moves the deterministic clock forward (a workload's sleep). */
  advance(ns: bigint): void {
    this.ns += ns;
  }
}

/** xorshift32 seeded per kernel; the source of bpf_get_prandom_u32 and workload choices. */
export class Prandom {
  private state: number;
  constructor(seed: number) {
    this.state = (seed ^ 0x9e3779b9) >>> 0 || 1;
  }
  u32(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }
  /** An integer in [0, n). */
  below(n: number): number {
    return this.u32() % n;
  }
}

/** The kernel log (dmesg): bounded, newest last. */
export class KernelLog {
  readonly lines: string[] = [];
  constructor(
    private readonly clock: Clock,
    private readonly limit = 4096,
  ) {}
  printk(text: string): void {
    const ns = this.clock.now();
    const stamp = `[${(Number(ns / 1000n) / 1e6).toFixed(6).padStart(12)}]`;
    for (const line of text.split('\n')) {
      this.lines.push(`${stamp} ${line}`);
      if (this.lines.length > this.limit) this.lines.shift();
    }
  }
}

export class Kernel {
  readonly seed: number;
  readonly ncpus: number;
  readonly mem: AddressSpace;
  readonly clock: Clock;
  readonly random: Prandom;
  readonly log: KernelLog;
  readonly tasks: TaskTable;
  readonly sysctl: Sysctl = { bpfJitEnable: 1, bpfJitHarden: 0, unprivilegedBpfDisabled: 2 };
  /** The CPU the current code runs on; the scheduler and workloads move it. */
  currentCpu = 0;

  constructor(opts: BootOptions = {}) {
    this.seed = opts.seed ?? 1;
    this.ncpus = opts.ncpus ?? 2;
    this.mem = new AddressSpace(opts.memory);
    this.clock = new Clock(this.seed, opts.realTime ?? false);
    this.random = new Prandom(this.seed);
    this.log = new KernelLog(this.clock);
    this.tasks = new TaskTable(this);
  }
}

/**
 * Per-kernel state for code that kernel/ must not know about. Returns an accessor that
 * creates the state on first use:  const netOf = perKernel((k) => new NetState(k));
 */
export function perKernel<T>(init: (kernel: Kernel) => T): (kernel: Kernel) => T {
  const states = new WeakMap<Kernel, T>();
  return (kernel) => {
    let s = states.get(kernel);
    if (s === undefined) {
      s = init(kernel);
      states.set(kernel, s);
    }
    return s;
  };
}
