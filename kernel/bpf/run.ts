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
import { interpRun } from './interpreter.js';
import { jitCompile } from './jit/index.js';
import { acquireStack, releaseStack } from './stack.js';
import type { BpfProg, RunEnv } from './types.js';

export type Engine = 'interp' | 'jit';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface RunOptions {
  task?: Task | null;
  /** Packet for LD_ABS/LD_IND and skb helpers (address-space offsets, see RunEnv). */
  packet?: { data: number; len: number; mac: number; net: number };
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
  /** Instruction budget of the interpreter (default 2^31). */
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
    return image.run(env); // the image takes its own stack region (stack.ts)
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
 * A program bound to a caller that runs it very often with only the context changing
 * (tracing event filters: every event of a filtered tracepoint). Returns the low 32 bits
 * of r0, as Linux's bpf_prog_run() does. What it saves over bpfProgRun, per run:
 *
 * - JIT, program without helpers (JitImage.runRaw, rawNeedsEnv false): no RunEnv, no
 *   BigInt, no stack pool traffic: one call into the module on a stack region the kernel
 *   keeps for such runs (they cannot nest: nothing inside them can run another program).
 * - otherwise: one RunEnv preallocated for this runner and reset per run (the stack
 *   comes from the pool as usual); a nested run of the same runner (a helper firing the event the
 *   program filters) is detected and takes the ordinary bpfProgRun path.
 *
 * `engine` fixes the engine (the bench, tests); without it each run picks as bpfProgRun
 * does (the JIT image when there is one and bpf_jit_enable is on).
 */
export type ProgRunner = (ctxOff: number, task?: Task | null) => number;

/** One stack region per kernel for raw (env-free) JIT runs; see bpfProgRunner. */
const rawStackOf = perKernel((kernel: Kernel): number => acquireStack(kernel));

export function bpfProgRunner(kernel: Kernel, prog: BpfProg, engine?: Engine): ProgRunner {
  if (engine === 'jit' && prog.jited === null) {
    throw new KernelError('ENOTSUPP', `program is not JIT-compiled: ${prog.jitError ?? 'JIT disabled at load'}`);
  }
  const image = prog.jited;
  const raw = image !== null && image.runRaw !== undefined && image.rawNeedsEnv === false ? image.runRaw : null;
  const rawTop = raw !== null ? rawStackOf(kernel) : 0;
  const env: Mutable<RunEnv> = { kernel, prog, ctx: 0n, cpu: 0, task: null, tailCalls: 0, tailCallTarget: null };
  let busy = false;
  const slow = (ctxOff: number, task: Task | null, eng: Engine): number =>
    Number(BigInt.asUintN(32, bpfProgRun(kernel, prog, kernel.mem.addr(ctxOff), { task, engine: eng }))) | 0;
  const withEnv = (ctxOff: number, task: Task | null, eng: Engine): number => {
    if (busy) return slow(ctxOff, task, eng);
    busy = true;
    const top = acquireStack(kernel);
    env.ctx = kernel.mem.addr(ctxOff);
    env.prog = prog;
    env.cpu = kernel.currentCpu;
    env.task = task;
    env.tailCalls = 0;
    env.tailCallTarget = null;
    prog.runCount++;
    try {
      if (eng === 'jit') {
        const run = image!.runRaw;
        if (run !== undefined) return run(ctxOff, top, env);
        return Number(BigInt.asUintN(32, image!.run(env))) | 0;
      }
      return Number(BigInt.asUintN(32, interpRun(env, top))) | 0;
    } finally {
      releaseStack(kernel, top);
      busy = false;
    }
  };
  const jitRun = (ctxOff: number, task: Task | null = null): number => {
    if (raw !== null) {
      prog.runCount++;
      return raw(ctxOff, rawTop, null);
    }
    return withEnv(ctxOff, task, 'jit');
  };
  const interp = (ctxOff: number, task: Task | null = null): number => withEnv(ctxOff, task, 'interp');
  if (engine === 'jit') return jitRun;
  if (engine === 'interp') return interp;
  return (ctxOff, task = null) =>
    image !== null && kernel.sysctl.bpfJitEnable !== 0 ? jitRun(ctxOff, task) : interp(ctxOff, task);
}
