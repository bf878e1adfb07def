/**
 * The execution model of the bpf_conformance suite (Alan-Jowett/bpf_conformance), shared
 * by the conformance tests and `bpfkern conformance-plugin`: r1 = address of a private
 * writable copy of the test's memory (0 when there is none), r2 = its length, a full
 * stack, and one helper, id 5, that returns its first argument. Programs run unverified,
 * so this is where the engines' own defences (EFAULT, the instruction budget) show.
 */
import { KernelError } from '../errno.js';
import type { Kernel } from '../kernel.js';
import { decodeInsns } from './isa.js';
import { jitCompile } from './jit/index.js';
import { newBpfProg } from './objects.js';
import { bpfProgRun, type Engine } from './run.js';
import type { BpfProg, FuncProto, ProgTypeDef } from './types.js';

const identityProto: FuncProto = {
  id: 5,
  name: 'conformance_identity',
  ret: 'INTEGER',
  args: ['ANYTHING'],
  call: (_env, r1) => r1,
};
const conformanceHelpers: ReadonlyMap<number, FuncProto> = new Map([[identityProto.id, identityProto]]);

export const conformanceProgType: ProgTypeDef = {
  id: 0,
  name: 'conformance',
  ctxSize: 0,
  ctxFields: [],
  allowedHelpers: new Set([5]),
  allowsLdAbs: false,
};

let nextId = 1;

/**
 * A program as the conformance runner hands it over (raw instruction bytes). With engine
 * 'jit' it is compiled now and a JIT refusal is an error (never a silent fallback).
 */
export function conformanceProg(kernel: Kernel, code: Uint8Array, engine: Engine = 'interp'): BpfProg {
  if (code.length === 0 || code.length % 8 !== 0) {
    throw new KernelError('EINVAL', `program length ${code.length} is not a positive multiple of 8`);
  }
  const insns = decodeInsns(code);
  const prog = newBpfProg(kernel, {
    id: nextId++, type: conformanceProgType, name: 'conformance', license: 'GPL', insns, helpers: conformanceHelpers,
  });
  if (engine === 'jit') {
    try {
      prog.jited = jitCompile(kernel, prog);
    } catch (e) {
      if (e instanceof KernelError) throw new KernelError(e.errno, `JIT cannot compile the program: ${e.detail}`);
      throw e;
    }
  }
  return prog;
}

/** Runs prog on a private copy of mem (null: no memory); returns r0. */
export function conformanceRun(
  kernel: Kernel,
  prog: BpfProg,
  mem: Uint8Array | null,
  engine: Engine = 'interp',
  insnLimit?: number,
): bigint {
  const len = mem?.length ?? 0;
  const off = len > 0 ? kernel.mem.alloc(len) : -1;
  try {
    if (mem !== null && off >= 0) kernel.mem.write(off, mem);
    const r1 = off >= 0 ? kernel.mem.addr(off) : 0n;
    return bpfProgRun(kernel, prog, r1, {
      args: [r1, BigInt(len)],
      engine,
      ...(insnLimit !== undefined ? { insnLimit } : {}),
    });
  } finally {
    if (off >= 0) kernel.mem.free(off);
  }
}
