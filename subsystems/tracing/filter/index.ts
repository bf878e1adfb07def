/**
 * An event filter ready to run: the parsed program, its walker and its compiled BPF
 * program (loaded as a kernel-internal BPF_PROG_TYPE_TRACEPOINT program, JITed when
 * bpf_jit_enable says so). Both evaluators read the same record bytes.
 */
import { KernelError } from '../../../kernel/errno.js';
import type { Kernel } from '../../../kernel/kernel.js';
import { dumpXlated } from '../../../kernel/bpf/disasm.js';
import { newBpfProg } from '../../../kernel/bpf/objects.js';
import { bpfProgRunner, bpfProgSelectRuntime, type ProgRunner } from '../../../kernel/bpf/run.js';
import type { BpfProg, ProgTypeDef } from '../../../kernel/bpf/types.js';
import type { FilterField } from '../fields.js';
import { compileFilter } from './compile.js';
import { parseFilter, type FilterProg } from './parse.js';
import { makeWalker } from './walker.js';

export { FilterError, parseFilter, type FilterProg, type Pred } from './parse.js';
export { ERR_TEXT, FILT_ERR } from './errors.js';
export { FILTER_HDR_SIZE, HDR_COMM, HDR_CPU, makeWalker } from './walker.js';
export { compileFilter, TRACE_FILTER_STRMATCH_ID } from './compile.js';

export interface EventFilter {
  text: string;
  prog: FilterProg;
  walk: (u8: Uint8Array, dv: DataView, base: number) => boolean;
  bpf: BpfProg;
  /**
   * The compiled program bound for per-event runs (run.ts's bpfProgRunner): takes the
   * record's address-space offset, returns r0's low 32 bits. `run` picks the engine as
   * bpf_jit_enable says; `runInterp`/`runJit` force one (runJit null: no JIT image).
   * Without string helpers the JIT runner is one call into the module: no RunEnv, no
   * BigInt, on the kernel's stack region for such runs.
   */
  run: ProgRunner;
  runInterp: ProgRunner;
  runJit: ProgRunner | null;
}

/** Builds the BPF program of a parsed filter (not in the prog idr: id 0, like Linux's internal programs). */
export function loadFilterProg(kernel: Kernel, prog: FilterProg, type: ProgTypeDef): BpfProg {
  const { insns, helpers } = compileFilter(prog);
  const bpf = newBpfProg(kernel, { type, name: 'trace_filter', license: 'GPL', insns, helpers, stackDepth: 0 });
  bpfProgSelectRuntime(kernel, bpf);
  return bpf;
}

export function buildFilter(
  kernel: Kernel,
  text: string,
  findField: (name: string) => FilterField | undefined,
  type: ProgTypeDef,
): EventFilter {
  const prog = parseFilter(text, findField);
  const bpf = loadFilterProg(kernel, prog, type);
  return {
    text,
    prog,
    walk: makeWalker(prog),
    bpf,
    run: bpfProgRunner(kernel, bpf),
    runInterp: bpfProgRunner(kernel, bpf, 'interp'),
    runJit: bpf.jited !== null ? bpfProgRunner(kernel, bpf, 'jit') : null,
  };
}

/** Runs the compiled filter on the record at address-space offset `base`. */
export function runCompiled(_kernel: Kernel, f: EventFilter, base: number, engine?: 'interp' | 'jit'): boolean {
  if (engine === 'jit') {
    if (f.runJit === null) throw new KernelError('ENOTSUPP', `filter program is not JIT-compiled: ${f.bpf.jitError ?? 'JIT disabled at load'}`);
    return f.runJit(base) !== 0;
  }
  return (engine === 'interp' ? f.runInterp : f.run)(base) !== 0;
}

/** The compiled program as `bpftool prog dump xlated` prints it. */
export function dumpFilterXlated(f: EventFilter): string {
  return dumpXlated(f.bpf.xlated, { helperName: (id) => f.bpf.helpers.get(id)?.name });
}
