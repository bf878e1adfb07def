/**
 * JIT speed: ns per run of the JIT against the interpreter on the interpreter bench's
 * programs, the per-call cost of `r0 = 1; exit`, compile time per instruction, and how the
 * first runs (V8's baseline Liftoff code) compare with the steady state (TurboFan after
 * tier-up). Goals: JIT >= 10x the interpreter on ALU code; <= 2x the host kernel's JIT
 * per run (host figures measured with /tmp/oracle/bin/ebpf-run --repeat, see README).
 */
import { assemble } from '../../kernel/bpf/asm.js';
import { conformanceProg } from '../../kernel/bpf/conformance.js';
import { encodeInsns } from '../../kernel/bpf/isa.js';
import { jitCompile } from '../../kernel/bpf/jit/index.js';
import { bpfProgRun, type Engine } from '../../kernel/bpf/run.js';
import type { BpfProg } from '../../kernel/bpf/types.js';
import { Kernel } from '../../kernel/kernel.js';
import { aluProgram, LOOP_PROGRAM, PACKET_PROGRAM } from './interpreter.js';
import type { Bench } from './run.js';

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

function time(fn: () => void, runs: number, rounds = 7): number {
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < runs; i++) fn();
    const ns = Number(process.hrtime.bigint() - t0) / runs;
    if (ns < best) best = ns;
  }
  return best;
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
  const rows: JitRow[] = [];
  for (const p of progs) {
    const prog: BpfProg = conformanceProg(kernel, encodeInsns(assemble(p.text)), 'jit');
    const opts = (engine: Engine) => (p.args ? { args: p.args, engine } : { engine });
    const interpResult = bpfProgRun(kernel, prog, p.ctx, opts('interp'));
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 10; i++) bpfProgRun(kernel, prog, p.ctx, opts('jit'));
    const firstJitNs = Number(process.hrtime.bigint() - t0) / 10;
    if (bpfProgRun(kernel, prog, p.ctx, opts('jit')) !== interpResult) throw new Error(`${p.name}: JIT and interpreter disagree`);
    const jitNs = time(() => bpfProgRun(kernel, prog, p.ctx, opts('jit')), Math.ceil(p.runs * scale));
    const interpNs = time(() => bpfProgRun(kernel, prog, p.ctx, opts('interp')), Math.ceil((p.runs / 10) * scale));
    rows.push({ name: p.name, interpNs, firstJitNs, jitNs, hostNs: p.host });
  }
  // Compile time: encode + WebAssembly.Module for the ALU program, best of several.
  const alu = conformanceProg(kernel, encodeInsns(assemble(aluProgram())));
  let best = Infinity;
  for (let r = 0; r < Math.max(3, Math.ceil(20 * scale)); r++) {
    const t0 = process.hrtime.bigint();
    jitCompile(kernel, alu);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1000);
  }
  kernel.mem.free(off);
  kernel.mem.free(inOff);
  return { rows, compileUsPerInsn: best / alu.xlated.length, compileInsns: alu.xlated.length };
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
    out('goals: JIT >= 10x the interpreter on ALU code; <= 2x the host JIT per run');
    await Promise.resolve();
  },
};
