/**
 * JIT speed: ns per run of the JIT against the interpreter on the interpreter bench's
 * programs, the per-call cost of `r0 = 1; exit`, compile time per instruction, and how the
 * first runs (V8's baseline Liftoff code) compare with the steady state (TurboFan after
 * tier-up). Goals: JIT >= 10x the interpreter on ALU code; <= 2x the host kernel's JIT
 * per run (host figures measured with /tmp/oracle/bin/ebpf-run --repeat, see README).
 */
import { assemble } from '../../kernel/bpf/asm.js';
import { conformanceProg } from '../../kernel/bpf/conformance.js';
import { encodeInsns, insn, type Insn } from '../../kernel/bpf/isa.js';
import { compileProgram, type CompiledModule } from '../../kernel/bpf/jit/index.js';
import { KernelError } from '../../kernel/errno.js';
import { bpfProgRun, type Engine } from '../../kernel/bpf/run.js';
import type { BpfProg } from '../../kernel/bpf/types.js';
import { Kernel } from '../../kernel/kernel.js';
import { aluProgram, LOOP_PROGRAM, PACKET_PROGRAM } from './interpreter.js';
import type { Bench } from './run.js';
import { bestNsPerCall } from './timing.js';

const FRAME = Uint8Array.from(
  Buffer.from('00112233445566778899aabb08004500002412344000401100000a0000010a0000023039003500100000646174612d2d2d2d', 'hex'),
);

/** Host Linux 6.18 x86-64 JIT, ns per run (BPF_PROG_TEST_RUN duration). */
const HOST_NS = { one: 26, alu: 127, loop: 561, packet: NaN };

/** aluProgram() with `mov %rN, K` replaced by loads of r0..r9 from the buffer at r1. */
function aluFromMemory(): string {
  const body = aluProgram().split('\n').slice(10); // its first 10 lines set r0..r9
  const loads: string[] = [];
  for (let r = 0; r < 10; r++) if (r !== 1) loads.push(`ldxdw %r${r}, [%r1+${8 * r}]`);
  loads.push('ldxdw %r1, [%r1+8]');
  return [...loads, ...body].join('\n');
}

export interface JitRow {
  name: string;
  interpNs: number;
  /** Mean of the first 10 runs right after compiling (V8 baseline code). */
  firstJitNs: number;
  jitNs: number;
  hostNs: number;
}

export interface JitFigures {
  rows: JitRow[];
  compileUsPerInsn: number;
  compileInsns: number;
}

export function measureJit(scale = 1): JitFigures {
  const kernel = new Kernel();
  const off = kernel.mem.alloc(FRAME.length);
  kernel.mem.write(off, FRAME);
  const addr = kernel.mem.addr(off);
  const pktArgs = [addr, BigInt(FRAME.length)] as const;
  const inOff = kernel.mem.alloc(80);
  for (let k = 0; k < 80; k++) kernel.mem.u8[inOff + k] = (k * 37 + 11) & 0xff;
  const inAddr = kernel.mem.addr(inOff);
  const progs: { name: string; text: string; ctx: bigint; args?: readonly bigint[]; runs: number; host: number }[] = [
    { name: 'r0 = 1; exit (per-call cost)', text: 'mov %r0, 1\nexit', ctx: 0n, runs: 200000, host: HOST_NS.one },
    { name: '1000 straight-line ALU insns', text: aluProgram(), ctx: 0n, runs: 20000, host: HOST_NS.alu },
    // The same ALU code with its inputs loaded from memory, so V8 cannot fold it away.
    { name: '1000 ALU insns, inputs from mem', text: aluFromMemory(), ctx: inAddr, args: [inAddr, 80n], runs: 20000, host: HOST_NS.alu },
    { name: '1000-iteration loop, 4 insns', text: LOOP_PROGRAM, ctx: 0n, runs: 5000, host: HOST_NS.loop },
    { name: 'Ethernet/IPv4/UDP parse', text: PACKET_PROGRAM, ctx: addr, args: pktArgs, runs: 100000, host: HOST_NS.packet },
  ];
  // Compile time of the ALU program, before anything else compiles it: compileProgram
  // best of several, plus one WebAssembly.Module (V8 caches modules by their bytes, so
  // compiling the same program again measures a cache hit).
  const aluInsns = assemble(aluProgram());
  let encode = Infinity;
  let bytes = compileProgram(aluInsns, new Map()).bytes;
  for (let r = 0; r < Math.max(3, Math.ceil(20 * scale)); r++) {
    const t0 = process.hrtime.bigint();
    bytes = compileProgram(aluInsns, new Map()).bytes;
    encode = Math.min(encode, Number(process.hrtime.bigint() - t0) / 1000);
  }
  const t0 = process.hrtime.bigint();
  new WebAssembly.Module(bytes);
  const compileUs = encode + Number(process.hrtime.bigint() - t0) / 1000;
  const rows: JitRow[] = [];
  for (const p of progs) {
    const prog: BpfProg = conformanceProg(kernel, encodeInsns(assemble(p.text)), 'jit');
    const opts = (engine: Engine) => (p.args ? { args: p.args, engine } : { engine });
    const interpResult = bpfProgRun(kernel, prog, p.ctx, opts('interp'));
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 10; i++) bpfProgRun(kernel, prog, p.ctx, opts('jit'));
    const firstJitNs = Number(process.hrtime.bigint() - t0) / 10;
    if (bpfProgRun(kernel, prog, p.ctx, opts('jit')) !== interpResult) throw new Error(`${p.name}: JIT and interpreter disagree`);
    const jitNs = bestNsPerCall(() => bpfProgRun(kernel, prog, p.ctx, opts('jit')), Math.ceil(p.runs * scale));
    const interpNs = bestNsPerCall(() => bpfProgRun(kernel, prog, p.ctx, opts('interp')), Math.ceil((p.runs / 10) * scale));
    rows.push({ name: p.name, interpNs, firstJitNs, jitNs, hostNs: p.host });
  }
  kernel.mem.free(off);
  kernel.mem.free(inOff);
  return { rows, compileUsPerInsn: compileUs / aluInsns.length, compileInsns: aluInsns.length };
}

// --- Compile time against program size --------------------------------------------------

/**
 * Program shapes for compile time per instruction. Each program of about `n` instructions
 * terminates, reads r1..r5 (so runs differ with the input) and returns r0; none calls a
 * helper, so any of them runs on either engine with no setup.
 *
 * - straight:  straight-line ALU code
 * - branches:  a conditional forward branch every third instruction, over 1..48
 *              instructions (overlapping: most blocks must be widened to nest)
 * - loops:     3-deep nested counted loops (3 x 3 x 2 iterations), one after another,
 *              with forward branches in the innermost body
 * - funcs:     main calls ~n/11 small bpf-to-bpf functions (one wasm function each)
 * - crossing:  chains of 256 forward branches, each crossing the next (i -> i+3): every
 *              block of a chain is widened to the chain's start (256-deep nesting); the
 *              old all-pairs fixpoint was cubic on these
 * - nested:    jumps from the first half of each 32k window to the mirror point of its
 *              second half: 16k-deep block nesting (the deepest the 16-bit offsets allow)
 * - irreducible: jumps into the middle of a loop from before it: the dispatch loop; above
 *              65520 basic blocks V8 refuses the br_table (ENOTSUPP: the interpreter runs it)
 */
export const SCALING_SHAPES = ['straight', 'branches', 'loops', 'funcs', 'crossing', 'nested', 'irreducible'] as const;
export type ScalingShape = (typeof SCALING_SHAPES)[number];

/** ALU ops that lose no information (the result keeps depending on every input). */
const ALU_OPS = [0x07, 0xa7, 0x17, 0x27, 0x0f, 0xaf, 0x1f, 0x04, 0xbc] as const;

/** A deterministic 32-bit LCG (the shapes are the same on every run). */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0);
}

function aluInsn(r: () => number): Insn {
  const code = ALU_OPS[r() % ALU_OPS.length]!;
  const dst = r() % 6;
  let src = 1 + (r() % 5); // r1..r5, never dst (x ^= x, x -= x would clear x)
  if (src === dst) src = (src % 5) + 1;
  if (code === 0xbc) return insn(0xac, dst, src); // xor32 (zero-extends: the high half goes)
  const imm = (r() % 2001) - 1000;
  return insn(code, dst, src, 0, code === 0x27 ? imm | 1 : imm); // mul by odd constants only
}

export function scalingProgram(shape: ScalingShape, n: number): Insn[] {
  const r = lcg(n * 31 + SCALING_SHAPES.indexOf(shape));
  const out: Insn[] = [insn(0xb7, 0, 0, 0, 0)];
  const room = (): number => n - 1 - out.length; // keep the last slot for exit
  switch (shape) {
    case 'straight':
      while (room() > 0) out.push(aluInsn(r));
      break;
    case 'branches':
      while (room() > 0) {
        if (out.length % 3 === 0 && room() > 2) {
          const d = 1 + (r() % Math.min(48, room() - 1));
          out.push(insn([0x15, 0x55, 0x25, 0xa5, 0x45][r() % 5]!, 1 + (r() % 5), 0, d, r() % 4));
        } else out.push(aluInsn(r));
      }
      break;
    case 'loops': {
      const CHUNK = 40;
      while (room() >= CHUNK) {
        const at = out.length;
        out.push(insn(0xb7, 6, 0, 0, 3)); // r6 = 3
        out.push(insn(0xb7, 7, 0, 0, 3)); // L1: r7 = 3
        out.push(insn(0xb7, 8, 0, 0, 2)); // L2: r8 = 2
        const l3 = out.length; // L3:
        while (out.length < at + CHUNK - 6) {
          if (out.length % 4 === 0 && out.length + 2 < at + CHUNK - 6) out.push(insn(0x45, 1 + (r() % 5), 0, 1, 1 << (r() % 8)));
          else out.push(aluInsn(r));
        }
        out.push(insn(0x17, 8, 0, 0, 1)); // r8 -= 1
        out.push(insn(0x55, 8, 0, l3 - out.length - 1, 0)); // if r8 != 0 goto L3
        out.push(insn(0x17, 7, 0, 0, 1));
        out.push(insn(0x55, 7, 0, at + 2 - out.length - 1, 0)); // goto L2
        out.push(insn(0x17, 6, 0, 0, 1));
        out.push(insn(0x55, 6, 0, at + 1 - out.length - 1, 0)); // goto L1
      }
      while (room() > 0) out.push(aluInsn(r));
      break;
    }
    case 'funcs': {
      const FN = 8;
      const m = Math.max(1, Math.floor((n - 4) / (FN + 4)));
      out.push(insn(0xb7, 6, 0, 0, 0)); // r6 = 0 (sum)
      out.push(insn(0xbf, 9, 1)); // r9 = r1 (r1..r5 are clobbered by calls)
      const calls: number[] = [];
      for (let k = 0; k < m; k++) {
        out.push(insn(0xbf, 1, 9));
        out.push(insn(0xb7, 2, 0, 0, k));
        calls.push(out.length);
        out.push(insn(0x85, 0, 1, 0, 0)); // call local f_k (patched below)
        out.push(insn(0x0f, 6, 0)); // r6 += r0
      }
      out.push(insn(0xbf, 0, 6));
      out.push(insn(0x95));
      for (let k = 0; k < m; k++) {
        out[calls[k]!]!.imm = out.length - calls[k]! - 1;
        out.push(insn(0xbf, 0, 1));
        for (let j = 0; j < FN - 2; j++) {
          const i = aluInsn(r);
          out.push(insn(i.code, j % 2 === 0 ? 0 : 2, i.src === 1 || i.src === 2 ? i.src : 2, 0, i.imm));
        }
        out.push(insn(0x95));
      }
      return out;
    }
    case 'crossing':
      while (room() > 0) {
        // a chain of 256 overlapping branches i -> i + 3, then 4 ALU insns
        for (let k = 0; k < 256 && room() > 4; k++) out.push(insn(0x45, 1 + (k % 5), 0, 2, 1 << (k % 16)));
        for (let k = 0; k < 4 && room() > 0; k++) out.push(aluInsn(r));
      }
      break;
    case 'nested':
      while (room() > 0) {
        // jumps from the first half of a window to the mirror point of its second half
        const w = Math.min(32000, room());
        const h = Math.floor(w / 2);
        const at = out.length;
        for (let k = 0; k < h; k++) out.push(insn(0x15, 1 + (k % 5), 0, 2 * (h - k) - 1, k)); // if rX == k
        while (out.length < at + w) out.push(aluInsn(r));
      }
      break;
    case 'irreducible':
      while (room() > 0) {
        if (room() < 12) {
          out.push(aluInsn(r));
          continue;
        }
        // r6 = 2; if r1 & bit goto b; a: alu; b: alu; r6 -= 1; if r6 != 0 goto a
        const at = out.length;
        out.push(insn(0xb7, 6, 0, 0, 2));
        out.push(insn(0x45, 1 + (r() % 5), 0, 2, 1 << (r() % 8)));
        out.push(aluInsn(r), aluInsn(r)); // a
        out.push(aluInsn(r), aluInsn(r)); // b
        out.push(insn(0x17, 6, 0, 0, 1));
        out.push(insn(0x55, 6, 0, at + 2 - out.length - 1, 0));
      }
      break;
  }
  out.push(insn(0x95));
  return out;
}

export interface ScalingRow {
  shape: ScalingShape;
  insns: number;
  /** compileProgram: structuring and encoding, µs per instruction. */
  encodeUsPerInsn: number;
  /** new WebAssembly.Module (V8's validation and Liftoff), µs per instruction; NaN if refused. */
  v8UsPerInsn: number;
  /** The first call of the instance (V8's lazy Liftoff compile of every function it reaches, and the run), µs per instruction. */
  firstCallUsPerInsn: number;
  bytes: number;
  dispatched: number;
  /** Why the JIT declined the program (over a V8 limit) or V8 refused the module, or null; it then runs on the interpreter. */
  refused: string | null;
}

export const SCALING_SIZES = [1_000, 10_000, 100_000, 1_000_000] as const;

/**
 * Compile time per instruction for one shape and size: compileProgram best of `rounds`,
 * WebAssembly.Module once (V8 caches modules by their bytes: a second compile of the same
 * bytes costs nothing). Node's V8 compiles wasm functions lazily (--wasm-lazy-compilation):
 * the Module is validation plus setup, and each function is compiled by Liftoff on its
 * first call; `firstCallUs` is that first run (compile + one run of the program).
 */
export function measureScaling(shape: ScalingShape, n: number, rounds = 3): ScalingRow {
  const insns = scalingProgram(shape, n);
  let enc = Infinity;
  let cm: CompiledModule | null = null;
  let declined: string | null = null;
  for (let k = 0; k <= rounds; k++) { // round 0 warms up
    const t0 = process.hrtime.bigint();
    try {
      cm = compileProgram(insns, new Map());
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
      declined = e.detail.replace(/^JIT: /, '');
    }
    if (k > 0) enc = Math.min(enc, Number(process.hrtime.bigint() - t0) / 1000);
  }
  if (cm === null) {
    // Declined before V8 (over one of its limits): the program runs on the interpreter.
    return {
      shape, insns: insns.length, encodeUsPerInsn: enc / insns.length, v8UsPerInsn: NaN, firstCallUsPerInsn: NaN,
      bytes: 0, dispatched: 0, refused: declined,
    };
  }
  let refused: string | null = null;
  const t1 = process.hrtime.bigint();
  let module: WebAssembly.Module | null = null;
  try {
    module = new WebAssembly.Module(cm.bytes);
  } catch (e) {
    refused = (e as Error).message.replace(/^WebAssembly\.Module\(\): /, '');
  }
  const v8 = Number(process.hrtime.bigint() - t1) / 1000;
  let first = NaN;
  if (module !== null) {
    const kernel = new Kernel();
    const instance = new WebAssembly.Instance(module, { h: {}, k: { mem: kernel.mem.memory } });
    const main = instance.exports['main_args'] as (...a: (bigint | number)[]) => bigint;
    const top = kernel.mem.alloc(4096) + 4096;
    const t2 = process.hrtime.bigint();
    main(0x1234n, 0x5678n, 0x9abcn, 0xdef0n, 0x1357n, top, 0, 0, 0, 0);
    first = Number(process.hrtime.bigint() - t2) / 1000;
  }
  return {
    shape, insns: insns.length, encodeUsPerInsn: enc / insns.length, v8UsPerInsn: refused ? NaN : v8 / insns.length,
    firstCallUsPerInsn: first / insns.length, bytes: cm.bytes.length, dispatched: cm.dispatched.length, refused,
  };
}

export const jitBench: Bench = {
  name: 'jit',
  run: async (out) => {
    const f = measureJit();
    const row = (a: string, ...cols: string[]): string => `${a.padEnd(32)} ${cols.map((c) => c.padStart(9)).join(' ')}`;
    out(row('ns per run', 'interp', 'jit 1st10', 'jit', 'speedup', 'host jit', 'vs host'));
    for (const r of f.rows) {
      out(row(r.name, r.interpNs.toFixed(0), r.firstJitNs.toFixed(0), r.jitNs.toFixed(0),
        `${(r.interpNs / r.jitNs).toFixed(1)}x`, Number.isNaN(r.hostNs) ? '-' : String(r.hostNs),
        Number.isNaN(r.hostNs) ? '-' : `${(r.jitNs / r.hostNs).toFixed(2)}x`));
    }
    out(`compile: ${f.compileUsPerInsn.toFixed(2)} µs/insn (${f.compileInsns}-insn program, encode + WebAssembly.Module)`);
    out('');
    const crow = (a: string, ...cols: string[]): string => `${a.padEnd(15)} ${cols.map((c) => c.padStart(10)).join(' ')}`;
    out(crow('compile µs/insn', 'insns', 'encode', 'V8 module', 'total', '1st call', 'bytes/insn', 'dispatch'));
    for (const shape of SCALING_SHAPES) {
      for (const n of SCALING_SIZES) {
        const r = measureScaling(shape, n, n >= 1_000_000 ? 1 : 3);
        out(crow(shape, String(r.insns), r.encodeUsPerInsn.toFixed(2),
          r.refused ? '-' : r.v8UsPerInsn.toFixed(2),
          r.refused ? '-' : (r.encodeUsPerInsn + r.v8UsPerInsn).toFixed(2),
          r.refused ? '-' : r.firstCallUsPerInsn.toFixed(2),
          r.refused ? '-' : (r.bytes / r.insns).toFixed(1), r.refused ? '-' : String(r.dispatched)) + (r.refused ? `  declined: ${r.refused}` : ''));
      }
    }
    out('encode = compileProgram (structuring + wasm encoding), best of 3 (1 at 1M); V8 module = new');
    out('WebAssembly.Module (validation; Node compiles functions lazily), total = the two; 1st call =');
    out('the first run (Liftoff compiles what it reaches, then runs). Declined: over a V8 limit, the');
    out('program runs on the interpreter (encode = time until declined).');
    out('goals: JIT >= 10x the interpreter on ALU code; <= 2x the host JIT per run; compile linear in size');
    await Promise.resolve();
  },
};
