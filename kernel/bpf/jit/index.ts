/**
 * The eBPF -> WebAssembly JIT (DESIGN.md decision 3): jitCompile turns a loaded program
 * into a JitImage. compile.ts writes the module bytes; this file instantiates the module
 * against the kernel's memory, wires helper imports, and runs it.
 *
 * One run: take a stack region, point the import wrappers at this run's RunEnv, call
 * `main(ctxLo, ctxHi, stackTop, pdata, plen, pmac, pnet)` (numbers only, so no BigInt is
 * made on the way in; the module stores the packet into its globals itself), and give
 * the stack back. runRaw is the lean variant for hot callers (run.ts's bpfProgRunner):
 * `main_raw(ctxOff, stackTop, pdata, plen, pmac, pnet)` returns r0's low 32 bits as a
 * number, on a stack the caller owns, with no RunEnv at all when the program calls no
 * helpers (packet filters included). A wasm trap (an address outside the kernel's memory) becomes
 * KernelError('EFAULT'). A program with back edges counts them against an instruction
 * budget as the interpreter does (compile.ts: $budget, $limit, FuncCompiler.charge) and
 * stops with KernelError('ELOOP') when it runs out. A pending tail call (a helper set env.tailCallTarget) makes the
 * compiled code return at once; run() returns with env.tailCallTarget still set and the
 * runner continues with the target.
 */
import { KernelError } from '../../errno.js';
import type { Kernel } from '../../kernel.js';
import { DEFAULT_INSN_LIMIT, interpRun } from '../interpreter.js';
import { acquireStack, releaseStack } from '../stack.js';
import type { BpfProg, FuncProto, JitImage, RunEnv, RunPacket } from '../types.js';
import type { Insn } from '../isa.js';
import { blindConstants } from './blind.js';
import { compileProgram, type CompiledModule } from './compile.js';

export { compileProgram, type CompiledModule, type CompileOptions } from './compile.js';
export { blindConstants, BPF_REG_AX } from './blind.js';

/** Whether bpf_jit_harden asks for constant blinding of this program. */
export function jitHardenFor(kernel: Kernel, prog: BpfProg): boolean {
  const h = kernel.sysctl.bpfJitHarden;
  return h === 2 || (h === 1 && prog.uid !== 0);
}

type WasmFn = (...args: (number | bigint)[]) => bigint;

const U64 = (v: bigint): bigint => BigInt.asUintN(64, v);

/** A JitImage plus what tests and bpftool want to look at. */
export interface WasmJitImage extends JitImage {
  /** Always there on wasm images (see JitImage.runRaw). */
  readonly runRaw: (ctxOff: number, stackTop: number, env: RunEnv | null, packet?: RunPacket | null) => number;
  readonly rawNeedsEnv: boolean;
  readonly rawEntry?: (ctxOff: number, stackTop: number, data: number, len: number, mac: number, net: number) => number;
  /** The module bytes. */
  readonly bytes: Uint8Array;
  /** The instructions that were compiled (after blinding, when on). */
  readonly compiled: readonly Insn[];
  readonly blinded: boolean;
  /** Subprograms that needed the dispatch loop. */
  readonly dispatched: readonly number[];
  /** Microseconds spent compiling (encode + WebAssembly.Module). */
  readonly compileUs: number;
}

export interface JitOptions {
  /** Compile every function through the dispatch loop (tests of the fallback). */
  forceDispatch?: boolean;
}

export function jitCompile(kernel: Kernel, prog: BpfProg, opts: JitOptions = {}): WasmJitImage {
  const t0 = process.hrtime.bigint();
  const source = prog.xlated.length > 0 ? prog.xlated : prog.insns;
  const blinded = jitHardenFor(kernel, prog);
  const insns = blinded ? blindConstants(source, () => kernel.random.u32()) : source;
  const copts = { forceDispatch: opts.forceDispatch ?? false };
  const cm = compileProgram(insns, prog.helpers, copts);
  let module: WebAssembly.Module;
  try {
    module = new WebAssembly.Module(cm.bytes);
  } catch (e) {
    // A module V8 refuses is a JIT bug; the runner logs it and uses the interpreter.
    throw new KernelError('ENOTSUPP', `JIT: generated module invalid: ${(e as Error).message}`);
  }
  const image = instantiate(kernel, prog, cm, module, insns, blinded, t0, copts.forceDispatch);
  // bpf_jit_enable=2 (dump to the log) is bpfProgSelectRuntime's job (run.ts).
  return image;
}

function instantiate(
  kernel: Kernel,
  prog: BpfProg,
  cm: CompiledModule,
  module: WebAssembly.Module,
  insns: readonly Insn[],
  blinded: boolean,
  t0: bigint,
  forceDispatch: boolean,
): WasmJitImage {
  // The env of the run in progress; nested runs (a helper firing another program) save
  // and restore it.
  let cur: RunEnv | null = null;
  let tcGlobal: WebAssembly.Global | null = null;
  const envNow = (): RunEnv => {
    if (cur === null) throw new Error('JIT helper called outside a run');
    return cur;
  };
  const afterHelper = (env: RunEnv): void => {
    if (env.tailCallTarget !== null) tcGlobal!.value = 1;
  };

  const h: Record<string, WebAssembly.ImportValue> = {};
  for (const { id, nargs } of cm.helperImports) {
    const proto = prog.helpers.get(id)!;
    h[String(id)] = wrapHelper(proto, nargs, envNow, afterHelper);
  }
  const k: Record<string, WebAssembly.ImportValue> = { mem: kernel.mem.memory };
  if (cm.usesCallx) {
    k['callx'] = (id: bigint, a: bigint, b: bigint, c: bigint, d: bigint, e: bigint): bigint => {
      const env = envNow();
      const proto = prog.helpers.get(Number(U64(id)));
      if (!proto) throw new KernelError('EINVAL', `callx to unknown helper ${U64(id)}`);
      const r = proto.call(env, U64(a), U64(b), U64(c), U64(d), U64(e));
      afterHelper(env);
      return r;
    };
  }
  if (cm.hasLoops) {
    k['eloop'] = (insn: number): never => {
      throw new KernelError('ELOOP', `program did not finish within its instruction budget (at insn ${insn})`);
    };
  }
  const instance = new WebAssembly.Instance(module, { h, k });
  const ex = instance.exports;
  type Pkt4 = [pdata: number, plen: number, pmac: number, pnet: number];
  const main = ex['main'] as unknown as (lo: number, hi: number, fp: number, ...p: Pkt4) => bigint;
  const mainRaw = ex['main_raw'] as unknown as (ctx: number, fp: number, ...p: Pkt4) => number;
  const mainArgs = ex['main_args'] as unknown as (a: bigint, b: bigint, c: bigint, d: bigint, e: bigint, fp: number, ...p: Pkt4) => bigint;
  const fpGlobal = ex['fp'] as WebAssembly.Global;
  tcGlobal = ex['tc'] as WebAssembly.Global;
  const budgetGlobal = ex['budget'] as WebAssembly.Global;
  const limitGlobal = ex['limit'] as WebAssembly.Global;
  limitGlobal.value = DEFAULT_INSN_LIMIT;
  const hasLoops = cm.hasLoops;
  const subs = new Map<number, WasmFn>();
  for (const s of cm.subprogs) subs.set(s, ex[`sub_${s}`] as unknown as WasmFn);

  // bpf_loop and friends call back into the program: the callback's frame goes right
  // below the frame that called the helper ($fp holds that frame's r10).
  const callSubprog = (insnIdx: number, args: readonly bigint[]): bigint => {
    const fn = subs.get(insnIdx);
    if (!fn) throw new KernelError('EINVAL', `no subprogram at insn ${insnIdx}`);
    const fp = (fpGlobal.value as bigint) - 512n;
    return U64(fn(args[0] ?? 0n, args[1] ?? 0n, args[2] ?? 0n, args[3] ?? 0n, args[4] ?? 0n, fp));
  };

  let lastCtx: bigint | null = null;
  let ctxLo = 0;
  let ctxHi = 0;
  const hasCalls = cm.hasCalls;
  const usesPacket = cm.usesPacket;
  const hasCallbacks = cm.hasCallbacks;

  const run = (env: RunEnv, insnLimit?: number): bigint => {
    if (insnLimit !== undefined) {
      // An explicit budget (bpfProgRun's insnLimit, what a tail call leaves): the entry
      // reads $limit, so set it around this run only.
      const old = limitGlobal.value as number;
      limitGlobal.value = clampLimit(insnLimit);
      try {
        return run(env);
      } finally {
        limitGlobal.value = old;
      }
    }
    const ctx = env.ctx;
    if (ctx !== lastCtx) {
      lastCtx = ctx;
      ctxLo = Number(BigInt.asUintN(32, ctx));
      ctxHi = Number(BigInt.asUintN(32, ctx >> 32n));
    }
    if (hasCallbacks) env.callSubprog = callSubprog;
    const prev = cur;
    cur = env;
    // A run nested in a run of this same image (a helper fired it): the outer run's budget
    // is in $budget, which this run's entry overwrites; it goes back in `finally`.
    const outerBudget = prev !== null && hasLoops ? (budgetGlobal.value as number) : -1;
    const top = acquireStack(kernel);
    try {
      const args = env.args;
      const p = usesPacket ? env.packet : undefined;
      const r0 = args === undefined
        ? p === undefined
          ? main(ctxLo, ctxHi, top, 0, 0, 0, 0)
          : main(ctxLo, ctxHi, top, p.data, p.len, p.mac, p.net)
        : p === undefined
          ? mainArgs(ctx, args[1] ?? 0n, args[2] ?? 0n, args[3] ?? 0n, args[4] ?? 0n, top, 0, 0, 0, 0)
          : mainArgs(ctx, args[1] ?? 0n, args[2] ?? 0n, args[3] ?? 0n, args[4] ?? 0n, top, p.data, p.len, p.mac, p.net);
      if (hasCalls && env.tailCallTarget !== null) return tailCall(env, top);
      return r0 < 0n ? U64(r0) : r0;
    } catch (e) {
      if (e instanceof WebAssembly.RuntimeError) {
        throw new KernelError('EFAULT', `BPF program ${prog.name || prog.id} faulted: ${e.message}`);
      }
      throw e;
    } finally {
      releaseStack(kernel, top);
      if (outerBudget >= 0) budgetGlobal.value = outerBudget;
      cur = prev;
    }
  };

  const rawNeedsEnv = hasCalls || hasCallbacks;
  const fault = (e: unknown): unknown => jitFault(prog, e);

  /**
   * The fast entry (JitImage.runRaw): the caller owns the stack region at `top`. Without
   * helpers nothing can re-enter, so there is no env to install (the packet, if any, is
   * `packet`); with an env it does what run() does around the call, on the caller's
   * stack, and the packet is env.packet.
   */
  const runRaw = (ctxOff: number, top: number, env: RunEnv | null, packet: RunPacket | null = null): number => {
    if (env === null) {
      if (rawNeedsEnv) throw new Error('JIT runRaw: this program needs a RunEnv');
      try {
        return packet === null
          ? mainRaw(ctxOff, top, 0, 0, 0, 0)
          : mainRaw(ctxOff, top, packet.data, packet.len, packet.mac, packet.net);
      } catch (e) {
        throw fault(e);
      }
    }
    if (hasCallbacks) env.callSubprog = callSubprog;
    const prev = cur;
    cur = env;
    const outerBudget = prev !== null && hasLoops ? (budgetGlobal.value as number) : -1;
    try {
      const p = env.packet;
      const r0 = p === undefined
        ? mainRaw(ctxOff, top, 0, 0, 0, 0)
        : mainRaw(ctxOff, top, p.data, p.len, p.mac, p.net);
      if (hasCalls && env.tailCallTarget !== null) return Number(BigInt.asUintN(32, tailCall(env, top))) | 0;
      return r0;
    } catch (e) {
      throw fault(e);
    } finally {
      if (outerBudget >= 0) budgetGlobal.value = outerBudget;
      cur = prev;
    }
  };

  /**
   * bpf_tail_call succeeded: the compiled code has unwound; continue with the target on
   * the same ctx and stack (its compiled image when the JIT is on, else the interpreter),
   * as the interpreter does in place. The target continues with what is left of this
   * run's budget, less one for the tail call (the interpreter's charge), so a chain of
   * tail calls cannot multiply it.
   */
  const tailCall = (env: RunEnv, top: number): bigint => {
    const target = env.tailCallTarget!;
    env.tailCallTarget = null;
    env.tailCalls++;
    env.prog = target;
    const left = (hasLoops ? (budgetGlobal.value as number) : (limitGlobal.value as number)) - 1;
    if (left < 0) throw new KernelError('ELOOP', 'program did not finish within its instruction budget (at insn 0)');
    if (target.jited !== null && kernel.sysctl.bpfJitEnable !== 0) return target.jited.run(env, left);
    return interpRun(env, top, { insnLimit: left });
  };

  let text: string | null = null;
  const dump = (): string => {
    if (text === null) text = compileProgram(insns, prog.helpers, { text: true, forceDispatch }).text!;
    return text;
  };

  return {
    run,
    runRaw,
    rawNeedsEnv,
    ...(rawNeedsEnv ? {} : { rawEntry: mainRaw }),
    size: cm.bytes.length,
    dump,
    bytes: cm.bytes,
    compiled: insns,
    blinded,
    dispatched: cm.dispatched,
    compileUs: Number(process.hrtime.bigint() - t0) / 1000,
  };
}

/** $limit is an i32: budgets beyond 2^31 - 1 are cut to it (and negative ones to 0). */
function clampLimit(n: number): number {
  return n >= 0x7fffffff ? 0x7fffffff : n > 0 ? Math.floor(n) : 0;
}

/** What a trap of compiled code becomes: EFAULT (other errors pass unchanged). */
export function jitFault(prog: BpfProg, e: unknown): unknown {
  return e instanceof WebAssembly.RuntimeError
    ? new KernelError('EFAULT', `BPF program ${prog.name || prog.id} faulted: ${e.message}`)
    : e;
}

/** The import for one helper: i64 arguments arrive as signed BigInts; helpers take u64. */
function wrapHelper(
  proto: FuncProto,
  nargs: number,
  envNow: () => RunEnv,
  after: (env: RunEnv) => void,
): (...a: bigint[]) => bigint {
  const call = (env: RunEnv, a: bigint, b: bigint, c: bigint, d: bigint, e: bigint): bigint => {
    const r = proto.call(env, a, b, c, d, e);
    after(env);
    return r;
  };
  switch (nargs) {
    case 0:
      return () => call(envNow(), 0n, 0n, 0n, 0n, 0n);
    case 1:
      return (a) => call(envNow(), U64(a), 0n, 0n, 0n, 0n);
    case 2:
      return (a, b) => call(envNow(), U64(a), U64(b), 0n, 0n, 0n);
    case 3:
      return (a, b, c) => call(envNow(), U64(a), U64(b), U64(c), 0n, 0n);
    case 4:
      return (a, b, c, d) => call(envNow(), U64(a), U64(b), U64(c), U64(d), 0n);
    default:
      return (a, b, c, d, e) => call(envNow(), U64(a), U64(b), U64(c), U64(d), U64(e));
  }
}

