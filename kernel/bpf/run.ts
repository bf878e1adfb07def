/**
 * The run engine: how every user of the BPF machine (socket filters, seccomp, tracing,
 * BPF_PROG_TEST_RUN) runs a program, like Linux's bpf_prog_run() and
 * bpf_prog_select_runtime(). It builds the RunEnv, lends the run a stack region and
 * picks the engine: the JIT image when there is one and bpf_jit_enable is on, else the
 * interpreter (the reference).
 */
import { KernelError } from '../errno.js';
import type { Kernel } from '../kernel.js';
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

