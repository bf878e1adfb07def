// Builds programs for driving the JIT directly (no verifier, no PROG_LOAD), and runs
// them on either engine through kernel/bpf/run.ts.
import { assemble } from '../../../../kernel/bpf/asm.js';
import { conformanceProgType } from '../../../../kernel/bpf/conformance.js';
import type { Insn } from '../../../../kernel/bpf/isa.js';
import { jitCompile, type JitOptions, type WasmJitImage } from '../../../../kernel/bpf/jit/index.js';
import { bpfProgRun, type Engine } from '../../../../kernel/bpf/run.js';
import type { BpfProg, FuncProto } from '../../../../kernel/bpf/types.js';
import type { Kernel } from '../../../../kernel/kernel.js';

export const identity: FuncProto = {
  id: 5, name: 'identity', ret: 'INTEGER', args: ['ANYTHING'], call: (_env, r1) => r1,
};

let nextId = 1000;

export function makeProg(insns: readonly Insn[], helpers: FuncProto[] = [identity], uid = 0): BpfProg {
  return {
    id: nextId++, type: conformanceProgType, name: 'jit_test', tag: '0000000000000000', license: 'GPL',
    gplCompatible: true, insns, xlated: insns.slice(), helpers: new Map(helpers.map((h) => [h.id, h])),
    usedMaps: [], stackDepth: 512, loadTimeNs: 0n, uid, jited: null, jitError: null, refcnt: 1,
    runCount: 0, runTimeNs: 0n,
  };
}

export function asm(text: string): Insn[] {
  return assemble(text);
}

export function jit(kernel: Kernel, prog: BpfProg, opts: JitOptions = {}): WasmJitImage {
  const image = jitCompile(kernel, prog, opts);
  prog.jited = image;
  return image;
}

/** Runs with r1 = address of a copy of mem (or 0), r2 = its length. */
export function runOn(kernel: Kernel, prog: BpfProg, engine: Engine, mem: Uint8Array | null = null): bigint {
  const len = mem?.length ?? 0;
  const off = len > 0 ? kernel.mem.alloc(len) : -1;
  try {
    if (mem && off >= 0) kernel.mem.write(off, mem);
    const r1 = off >= 0 ? kernel.mem.addr(off) : 0n;
    return bpfProgRun(kernel, prog, r1, { args: [r1, BigInt(len)], engine });
  } finally {
    if (off >= 0) kernel.mem.free(off);
  }
}
