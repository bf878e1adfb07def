/**
 * The run engine: how every user of the BPF machine (socket filters, seccomp, tracing,
 * BPF_PROG_TEST_RUN) runs a program, like Linux's bpf_prog_run() and
 * bpf_prog_select_runtime(). It builds the RunEnv, lends the run a stack region and
 * picks the engine: the JIT image when there is one and bpf_jit_enable is on, else the
 * interpreter (the reference).
 */
import { KernelError } from '../errno.js';
import { perKernel, type Kernel } from '../kernel.js';
import type { Task } from '../task.js';
import { interpRun, interpRun32 } from './interpreter.js';
import { BPF_PSEUDO_CALL, type Insn } from './isa.js';
import { jitCompile, jitFault } from './jit/index.js';
import { acquireStack, releaseStack } from './stack.js';
import type { BpfProg, RunEnv, RunPacket } from './types.js';

export type Engine = 'interp' | 'jit';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface RunOptions {
  task?: Task | null;
  /** Packet for LD_ABS/LD_IND and skb helpers (address-space offsets, see RunEnv). */
  packet?: RunPacket;
  /** Subsystem data for helpers (the skb, the trace event...). */
  data?: unknown;
  cpu?: number;
  /** r1..r5 at entry (args[0] replaced by ctx); for harnesses such as conformance. */
  args?: readonly bigint[];
  /**
   * Force an engine (tests, differential checks, `conformance-plugin --jit`). 'jit'
   * fails with ENOTSUPP when the program has no JIT image; it never falls back.
   */
  engine?: Engine;
  /**
   * Instruction budget of the run, on either engine (default DEFAULT_INSN_LIMIT, 2^26):
   * taken backward jumps charge their distance, bpf-to-bpf and tail calls one; a run
   * that exceeds it stops with ELOOP. The JIT holds it in an i32 (at most 2^31 - 1).
   */
  insnLimit?: number;
}

/** Runs prog with r1 = ctx; returns r0 as an unsigned 64-bit value. */
export function bpfProgRun(kernel: Kernel, prog: BpfProg, ctx: bigint, opts: RunOptions = {}): bigint {
  // Optional fields are set only when given (exactOptionalPropertyTypes); spreading
  // conditional objects instead costs more than the rest of a short run.
  const env: Mutable<RunEnv> = {
    kernel,
    prog,
    ctx,
    cpu: opts.cpu ?? kernel.currentCpu,
    task: opts.task ?? null,
    tailCalls: 0,
    tailCallTarget: null,
  };
  if (opts.packet !== undefined) env.packet = opts.packet;
  if (opts.data !== undefined) env.data = opts.data;
  if (opts.args !== undefined) env.args = opts.args;
  const engine = opts.engine ?? (prog.jited !== null && kernel.sysctl.bpfJitEnable !== 0 ? 'jit' : 'interp');
  prog.runCount++;
  if (engine === 'jit') {
    const image = prog.jited;
    if (image === null) {
      throw new KernelError('ENOTSUPP', `program is not JIT-compiled: ${prog.jitError ?? 'JIT disabled at load'}`);
    }
    // the image takes its own stack region (stack.ts)
    return opts.insnLimit !== undefined ? image.run(env, opts.insnLimit) : image.run(env);
  }
  const top = acquireStack(kernel);
  try {
    return interpRun(env, top, opts.insnLimit !== undefined ? { insnLimit: opts.insnLimit } : {});
  } finally {
    releaseStack(kernel, top);
  }
}

/**
 * bpf_prog_select_runtime: called by PROG_LOAD once the program passed its checks. With
 * bpf_jit_enable set, tries the JIT; when it declines, the reason is kept in
 * prog.jitError, logged, and the interpreter runs the program. bpf_jit_enable 2 also
 * prints the generated code to the kernel log, as Linux's bpf_jit_dump().
 */
export function bpfProgSelectRuntime(kernel: Kernel, prog: BpfProg): void {
  prog.jited = null;
  prog.jitError = null;
  if (kernel.sysctl.bpfJitEnable === 0) return;
  try {
    prog.jited = jitCompile(kernel, prog);
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    prog.jitError = e.detail;
    kernel.log.printk(`bpf: prog ${prog.id} (${prog.name || 'anon'}) not JITed, using the interpreter: ${e.detail}`);
    return;
  }
  if (kernel.sysctl.bpfJitEnable === 2) {
    kernel.log.printk(`flen=${prog.xlated.length} proglen=${prog.jited.size} pass=1 image=${prog.tag} from=${prog.name || 'anon'}`);
    kernel.log.printk(prog.jited.dump());
  }
}


/**
 * A program bound to a caller that runs it very often with only the context (and the
 * packet) changing: tracing event filters (every event of a filtered tracepoint), offline
 * packet filtering (tcpdump -r, the net bench), and any subsystem that wants it (socket
 * filters, seccomp: see the one-line changes in kernel/bpf/README.md). Returns the low
 * 32 bits of r0 as a signed 32-bit number, as Linux's bpf_prog_run() returns a u32 (use
 * `>>> 0` for the unsigned value).
 *
 *   run(ctxOff, task?, packet?, data?, cpu?)
 *
 * ctxOff is the context's address-space offset (r1 = its BPF address); packet is what
 * LD_ABS/LD_IND read (RunEnv.packet; a caller may reuse one object, it is read only
 * during the run); data is RunEnv.data for helpers (the skb's device for classic
 * ancillary loads); cpu defaults to kernel.currentCpu. What it saves over bpfProgRun,
 * per run:
 *
 * - JIT, program without helper calls (JitImage.runRaw, rawNeedsEnv false; packet
 *   filters included): no RunEnv, no BigInt, no stack pool traffic: one call into the
 *   module, the packet passed as i32 parameters, on a stack region the kernel keeps for
 *   such runs (they cannot nest: nothing inside them can run another program).
 * - interpreter, program without helper calls: the numeric entry (interpRun32: r1 from
 *   the offset, no BigInt in or out) on the same stack region, one RunEnv preallocated
 *   for this runner and reset per run.
 * - otherwise (helpers): the same preallocated RunEnv (its `ctx` is computed only when a
 *   helper reads it), a stack region from the pool; a nested run of the same runner (a
 *   helper firing the event the program filters) is detected and takes the ordinary
 *   bpfProgRun path.
 *
 * `engine` fixes the engine (the bench, tests); without it each run picks as bpfProgRun
 * does (the JIT image when there is one and bpf_jit_enable is on).
 */
export type ProgRunner = (
  ctxOff: number,
  task?: Task | null,
  packet?: RunPacket | null,
  data?: unknown,
  cpu?: number,
) => number;

/** One stack region per kernel for runs that cannot nest (no helper calls); see bpfProgRunner. */
const rawStackOf = perKernel((kernel: Kernel): number => acquireStack(kernel));

/** The RunEnv a runner reuses: `ctx` (a BigInt) is only made when a helper reads it. */
class RunnerEnv implements RunEnv {
  ctxOff = 0;
  cpu = 0;
  task: Task | null = null;
  tailCalls = 0;
  tailCallTarget: BpfProg | null = null;
  packet: RunPacket | undefined = undefined;
  data: unknown = undefined;
  callSubprog?: (insnIdx: number, args: readonly bigint[]) => bigint;
  constructor(
    readonly kernel: Kernel,
    public prog: BpfProg,
  ) {}
  get ctx(): bigint {
    return this.kernel.mem.addr(this.ctxOff);
  }
}

/** Whether a program calls helpers (or kfuncs, callx): then a run may nest or need an env. */
function callsHelpers(insns: readonly Insn[]): boolean {
  for (let k = 0; k < insns.length; k++) {
    const i = insns[k]!;
    if (i.code === 0x18) k++; // the second slot of LD_IMM64
    else if ((i.code === 0x85 && i.src !== BPF_PSEUDO_CALL) || i.code === 0x8d) return true;
  }
  return false;
}

export function bpfProgRunner(kernel: Kernel, prog: BpfProg, engine?: Engine): ProgRunner {
  if (engine === 'jit' && prog.jited === null) {
    throw new KernelError('ENOTSUPP', `program is not JIT-compiled: ${prog.jitError ?? 'JIT disabled at load'}`);
  }
  const image = prog.jited;
  const raw = image !== null && image.runRaw !== undefined && image.rawNeedsEnv === false ? image.runRaw : null;
  // A program without helper calls cannot run another program or be re-entered: its runs
  // share the kernel's raw stack region and this runner's env without any bookkeeping.
  const leaf = !callsHelpers(prog.xlated);
  const rawTop = raw !== null || leaf ? rawStackOf(kernel) : 0;
  const env = new RunnerEnv(kernel, prog);
  let busy = false;
  const slow = (ctxOff: number, task: Task | null, packet: RunPacket | null, data: unknown, cpu: number | undefined, eng: Engine): number => {
    const opts: RunOptions = { task, engine: eng };
    if (packet !== null) opts.packet = packet;
    if (data !== undefined) opts.data = data;
    if (cpu !== undefined) opts.cpu = cpu;
    return Number(BigInt.asUintN(32, bpfProgRun(kernel, prog, kernel.mem.addr(ctxOff), opts))) | 0;
  };
  const withEnv = (ctxOff: number, task: Task | null, packet: RunPacket | null, data: unknown, cpu: number | undefined, eng: Engine): number => {
    if (busy) return slow(ctxOff, task, packet, data, cpu, eng);
    busy = true;
    const top = leaf ? rawTop : acquireStack(kernel);
    env.ctxOff = ctxOff;
    env.prog = prog;
    env.cpu = cpu ?? kernel.currentCpu;
    env.task = task;
    env.packet = packet ?? undefined;
    env.data = data;
    env.tailCalls = 0;
    env.tailCallTarget = null;
    prog.runCount++;
    try {
      if (eng === 'jit') {
        const run = image!.runRaw;
        if (run !== undefined) return run(ctxOff, top, env);
        return Number(BigInt.asUintN(32, image!.run(env))) | 0;
      }
      return interpRun32(env, ctxOff, top);
    } finally {
      if (!leaf) releaseStack(kernel, top);
      busy = false;
    }
  };
  const jitRun = (ctxOff: number, task: Task | null = null, packet: RunPacket | null = null, data?: unknown, cpu?: number): number => {
    if (raw !== null) {
      prog.runCount++;
      return raw(ctxOff, rawTop, null, packet);
    }
    return withEnv(ctxOff, task, packet, data, cpu, 'jit');
  };
  const interp = (ctxOff: number, task: Task | null = null, packet: RunPacket | null = null, data?: unknown, cpu?: number): number =>
    withEnv(ctxOff, task, packet, data, cpu, 'interp');
  if (engine === 'jit') return jitRun;
  if (engine === 'interp') return interp;
  return (ctxOff, task = null, packet = null, data, cpu) =>
    image !== null && kernel.sysctl.bpfJitEnable !== 0 ? jitRun(ctxOff, task, packet, data, cpu) : interp(ctxOff, task, packet, data, cpu);
}

/**
 * A runner for packet programs with the packet as numbers (what offline filtering and
 * socket filters have at hand): run(ctxOff, data, len, mac, net) with the meanings of
 * RunPacket, no task, no helper data; returns r0's low 32 bits as bpfProgRunner does.
 * On the JIT, for a program without helper calls (every tcpdump expression), it is the
 * module's $main_raw called straight with the five numbers and the kernel's stack region
 * for runs that cannot nest; otherwise it goes through bpfProgRunner with a packet object
 * of its own.
 */
export type PacketRunner = (ctxOff: number, data: number, len: number, mac: number, net: number) => number;

export function bpfPacketRunner(kernel: Kernel, prog: BpfProg, engine?: Engine): PacketRunner {
  const general = bpfProgRunner(kernel, prog, engine); // also refuses a forced JIT without an image
  const pkt: RunPacket = { data: 0, len: 0, mac: 0, net: 0 };
  let depth = 0;
  const viaRunner = (ctxOff: number, data: number, len: number, mac: number, net: number): number => {
    // A nested run (a helper running this program again) gets its own packet object.
    const p = depth === 0 ? pkt : { data, len, mac, net };
    p.data = data;
    p.len = len;
    p.mac = mac;
    p.net = net;
    depth++;
    try {
      return general(ctxOff, null, p);
    } finally {
      depth--;
    }
  };
  const top = rawStackOf(kernel);
  // The interpreter on a program without helper calls: nothing can nest or read the env
  // but LD_ABS/LD_IND, so one env with this runner's packet object, and the numeric entry.
  let interp = viaRunner;
  if (!callsHelpers(prog.xlated)) {
    const env = new RunnerEnv(kernel, prog);
    env.packet = pkt;
    interp = (ctxOff, data, len, mac, net) => {
      pkt.data = data;
      pkt.len = len;
      pkt.mac = mac;
      pkt.net = net;
      env.ctxOff = ctxOff;
      env.cpu = kernel.currentCpu;
      prog.runCount++;
      return interpRun32(env, ctxOff, top);
    };
  }
  const entry = prog.jited?.rawEntry;
  if (entry === undefined || engine === 'interp') {
    if (engine === 'interp' || prog.jited === null) return interp;
    return (ctxOff, data, len, mac, net) =>
      kernel.sysctl.bpfJitEnable !== 0 ? viaRunner(ctxOff, data, len, mac, net) : interp(ctxOff, data, len, mac, net);
  }
  const jit = (ctxOff: number, data: number, len: number, mac: number, net: number): number => {
    prog.runCount++;
    try {
      return entry(ctxOff, top, data, len, mac, net);
    } catch (e) {
      throw jitFault(prog, e);
    }
  };
  if (engine === 'jit') return jit;
  return (ctxOff, data, len, mac, net) =>
    kernel.sysctl.bpfJitEnable !== 0 ? jit(ctxOff, data, len, mac, net) : interp(ctxOff, data, len, mac, net);
}

const runnerCache = new WeakMap<BpfProg, { image: BpfProg['jited']; kernel: Kernel; run: ProgRunner }>();

/**
 * The default-engine bpfProgRunner of prog, made on first use and kept with the program
 * (remade if its JIT image changes): what a subsystem's hot path calls instead of
 * bpfProgRun, e.g. seccomp's `bpfProgRunnerOf(kernel, f.prog)(dataOff, task) >>> 0`.
 */
export function bpfProgRunnerOf(kernel: Kernel, prog: BpfProg): ProgRunner {
  const c = runnerCache.get(prog);
  if (c !== undefined && c.image === prog.jited && c.kernel === kernel) return c.run;
  const run = bpfProgRunner(kernel, prog);
  runnerCache.set(prog, { image: prog.jited, kernel, run });
  return run;
}
