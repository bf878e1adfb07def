// The JIT's own behaviour: arithmetic corners, control-flow structuring and the dispatch
// fallback, faults, helper calls, bpf-to-bpf calls, tail calls, constant blinding, the
// jited dump.
import { describe, expect, it } from 'vitest';
import { BPF_REG_AX, blindConstants, compileProgram } from '../../../../kernel/bpf/jit/index.js';
import { structure } from '../../../../kernel/bpf/jit/structure.js';
import { insn, type Insn } from '../../../../kernel/bpf/isa.js';
import { bpfProgRun, bpfProgRunner } from '../../../../kernel/bpf/run.js';
import type { FuncProto } from '../../../../kernel/bpf/types.js';
import { KernelError } from '../../../../kernel/errno.js';
import { Kernel } from '../../../../kernel/kernel.js';
import { asm, identity, jit, makeProg, runOn } from './util.js';

function both(text: string | Insn[], mem: Uint8Array | null = null): { jit: bigint; interp: bigint } {
  const kernel = new Kernel();
  const prog = makeProg(typeof text === 'string' ? asm(text) : text);
  jit(kernel, prog);
  return { jit: runOn(kernel, prog, 'jit', mem), interp: runOn(kernel, prog, 'interp', mem) };
}

const M64 = (1n << 64n) - 1n;

describe('arithmetic corners', () => {
  const table: [string, string, bigint][] = [
    ['div64 by zero reg', 'mov %r0, 7\nmov %r1, 0\ndiv %r0, %r1\nexit', 0n],
    ['div32 by zero imm', 'mov %r0, 7\ndiv32 %r0, 0\nexit', 0n],
    ['mod64 by zero keeps dst', 'lddw %r0, 0x1122334455667788\nmov %r1, 0\nmod %r0, %r1\nexit', 0x1122334455667788n],
    ['mod32 by zero zero-extends', 'lddw %r0, 0x1122334455667788\nmov %r1, 0\nmod32 %r0, %r1\nexit', 0x55667788n],
    ['sdiv64 INT_MIN/-1', 'lddw %r0, 0x8000000000000000\nmov %r1, -1\nsdiv %r0, %r1\nexit', 0x8000000000000000n],
    ['sdiv64 INT_MIN/-1 imm', 'lddw %r0, 0x8000000000000000\nsdiv %r0, -1\nexit', 0x8000000000000000n],
    ['sdiv32 INT_MIN/-1', 'mov32 %r0, 0x80000000\nmov32 %r1, -1\nsdiv32 %r0, %r1\nexit', 0x80000000n],
    ['smod64 by -1', 'lddw %r0, 0x8000000000000000\nmov %r1, -1\nsmod %r0, %r1\nexit', 0n],
    ['smod32 by -1 imm', 'mov32 %r0, 0x80000000\nsmod32 %r0, -1\nexit', 0n],
    ['sdiv by zero', 'mov %r0, -5\nmov %r1, 0\nsdiv %r0, %r1\nexit', 0n],
    ['smod by zero keeps dst', 'mov %r0, -5\nmov %r1, 0\nsmod %r0, %r1\nexit', M64 - 4n],
    ['unsigned div by negative imm is sign-extended', 'mov %r0, -1\ndiv %r0, -1\nexit', 1n],
    ['unsigned mod32 by imm is 32-bit', 'mov %r0, -1\nmod32 %r0, -2\nexit', 1n],
    ['lsh64 masks by 63', 'mov %r0, 1\nmov %r1, 65\nlsh %r0, %r1\nexit', 2n],
    ['rsh32 masks by 31', 'mov32 %r0, 0x80000000\nmov %r1, 63\nrsh32 %r0, %r1\nexit', 1n],
    ['arsh64', 'mov %r0, -16\narsh %r0, 2\nexit', M64 - 3n],
    ['arsh32 zero-extends', 'mov32 %r0, -16\narsh32 %r0, 2\nexit', 0xfffffffcn],
    ['add32 zero-extends', 'mov %r0, -1\nadd32 %r0, 1\nexit', 0n],
    ['neg32', 'mov %r0, 1\nneg32 %r0\nexit', 0xffffffffn],
    ['le16 truncates', 'lddw %r0, 0x1122334455667788\nle16 %r0\nexit', 0x7788n],
    ['le32 truncates', 'lddw %r0, 0x1122334455667788\nle32 %r0\nexit', 0x55667788n],
    ['be16', 'lddw %r0, 0x1122334455667788\nbe16 %r0\nexit', 0x8877n],
    ['be32', 'lddw %r0, 0x1122334455667788\nbe32 %r0\nexit', 0x88776655n],
    ['be64', 'lddw %r0, 0x1122334455667788\nbe64 %r0\nexit', 0x8877665544332211n],
    ['bswap16', 'lddw %r0, 0x1122334455667788\nbswap16 %r0\nexit', 0x8877n],
    ['movsx3264', 'mov32 %r1, 0x80000000\nmovsx3264 %r0, %r1\nexit', 0xffffffff80000000n],
    ['movsx832', 'mov %r1, 0x80\nmovsx832 %r0, %r1\nexit', 0xffffff80n],
    ['jslt signed compare', 'mov %r0, 0\nmov %r1, -1\njslt %r1, 0, +1\nexit\nmov %r0, 1\nexit', 1n],
    ['jset32 ignores high word', 'lddw %r1, 0x100000000\nmov %r0, 0\njset32 %r1, -1, +1\nexit\nmov %r0, 1\nexit', 0n],
  ];
  for (const [name, text, want] of table) {
    it(name, () => {
      const r = both(text);
      expect(r.jit).toBe(want);
      expect(r.interp).toBe(want);
    });
  }
});

describe('control flow', () => {
  it('structures forward branches and bounded loops without the dispatch loop', () => {
    const kernel = new Kernel();
    const prog = makeProg(asm(`
      mov %r0, 0
      mov %r1, 1000
    loop:
      add %r0, %r1
      jgt %r0, 100000000, out
      sub %r1, 1
      jne %r1, 0, loop
    out:
      exit`));
    const image = jit(kernel, prog);
    expect(image.dispatched).toEqual([]);
    expect(runOn(kernel, prog, 'jit')).toBe(500500n);
  });

  it('nests crossing loops by extending the outer one', () => {
    expect(structure([[3, 0], [5, 2]])).not.toBeNull();
    // A jump from before a loop into its middle cannot be structured.
    expect(structure([[0, 3], [5, 2]])).toBeNull();
  });

  it('runs irreducible control flow through the dispatch loop', () => {
    // Two entries into one loop: from the top (jump to b) and by falling into a.
    const text = `
      mov %r0, 0
      mov %r1, 10
      jeq %r2, 0, b
    a:
      add %r0, 3
    b:
      add %r0, 1
      sub %r1, 1
      jne %r1, 0, a
      exit`;
    const kernel = new Kernel();
    const prog = makeProg(asm(text));
    const image = jit(kernel, prog);
    expect(image.dispatched).toEqual([0]);
    expect(image.dump()).toContain('(dispatch loop)');
    expect(image.dump()).toContain('br_table');
    expect(runOn(kernel, prog, 'jit')).toBe(37n); // entered at b: 1 + 9*(3+1)
    expect(runOn(kernel, prog, 'jit', new Uint8Array(8))).toBe(40n); // r2 = 8: entered at a: 10*(3+1)
    expect(runOn(kernel, prog, 'interp', new Uint8Array(8))).toBe(runOn(kernel, prog, 'jit', new Uint8Array(8)));
  });

  it('compiles bpf-to-bpf calls as wasm functions and keeps r6-r9', () => {
    const r = both(`
      mov %r6, 6
      mov %r1, 20
      call local f
      add %r0, %r6
      exit
    f:
      mov %r6, 100
      mov %r0, %r1
      stxdw [%r10-8], %r1
      ldxdw %r0, [%r10-8]
      add %r0, 1
      exit`);
    expect(r.jit).toBe(27n);
    expect(r.interp).toBe(27n);
  });

  it('refuses recursion and too-deep call chains', () => {
    const rec = asm('call local f\nexit\nf:\ncall local f\nexit');
    expect(() => compileProgram(rec, new Map())).toThrow(/recursive/);
    let deep = 'mov %r0, 0\ncall local f1\nexit\n';
    for (let k = 1; k <= 8; k++) deep += `f${k}:\n${k < 8 ? `call local f${k + 1}\n` : ''}add %r0, 1\nexit\n`;
    expect(() => compileProgram(asm(deep), new Map())).toThrow(/too deep/);
  });

  it('rejects jumps out of the program with EINVAL', () => {
    const e = (() => {
      try {
        compileProgram([insn(0x05, 0, 0, 5), insn(0x95)], new Map());
      } catch (err) {
        return err;
      }
      return null;
    })();
    expect(e).toBeInstanceOf(KernelError);
    expect((e as KernelError).errno).toBe('EINVAL');
  });
});

describe('memory', () => {
  it('faults with EFAULT on NULL and on addresses outside the kernel memory', () => {
    for (const text of ['mov %r1, 0\nldxdw %r0, [%r1]\nexit', 'lddw %r1, 0xffff888000000008\nldxb %r0, [%r1]\nexit',
      'lddw %r1, 0xffff8880fffffff0\nstdw [%r1], 1\nmov %r0, 0\nexit', 'lddw %r1, 0x1234\nldxw %r0, [%r1]\nexit']) {
      const kernel = new Kernel();
      const prog = makeProg(asm(text));
      jit(kernel, prog);
      expect(() => runOn(kernel, prog, 'jit')).toThrow(expect.objectContaining({ errno: 'EFAULT' }));
    }
  });

  it('loads, stores and atomics on caller memory', () => {
    const mem = new Uint8Array(16).map((_, k) => k + 1);
    const r = both(`
      ldxw %r0, [%r1+4]
      ldxsb %r3, [%r1+15]
      add %r0, %r3
      mov %r2, 0x100
      lock add [%r1], %r2
      ldxdw %r4, [%r1]
      add %r0, %r4
      exit`, mem);
    expect(r.jit).toBe(r.interp);
  });

  it('reads packets with LD_ABS/LD_IND and returns 0 past the end', () => {
    const kernel = new Kernel();
    const data = kernel.mem.alloc(64);
    kernel.mem.write(data, new Uint8Array([0x45, 0x00, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef]));
    const packet = { data, len: 8, mac: data, net: data };
    const run = (insns: Insn[]): bigint => {
      const prog = makeProg(insns);
      jit(kernel, prog);
      const a = bpfProgRun(kernel, prog, 0n, { packet, engine: 'jit' });
      expect(bpfProgRun(kernel, prog, 0n, { packet, engine: 'interp' })).toBe(a);
      return a;
    };
    expect(run([insn(0x28, 0, 0, 0, 2), insn(0x95)])).toBe(0x1234n); // ldh [2]
    expect(run([insn(0x20, 0, 0, 0, 4), insn(0x95)])).toBe(0xdeadbeefn); // ldw [4]
    expect(run([insn(0xb7, 2, 0, 0, 3), insn(0x50, 0, 2, 0, 1), insn(0x95)])).toBe(0xden); // ldb [x+1]
    expect(run([insn(0xb7, 0, 0, 0, 9), insn(0x20, 0, 0, 0, 6), insn(0x95)])).toBe(0n); // past the end
  });
});

describe('helpers and tail calls', () => {
  it('passes u64 arguments and returns r0 through the import', () => {
    const seen: bigint[] = [];
    const spy: FuncProto = { id: 7, name: 'spy', ret: 'INTEGER', args: ['ANYTHING', 'ANYTHING'],
      call: (_e, a, b) => { seen.push(a, b); return a + b; } };
    const kernel = new Kernel();
    const prog = makeProg(asm('mov %r1, -1\nmov %r2, 2\ncall 7\nexit'), [spy]);
    jit(kernel, prog);
    expect(runOn(kernel, prog, 'jit')).toBe(1n);
    expect(seen).toEqual([M64, 2n]);
  });

  it('continues with the tail call target after the helper sets it', () => {
    const kernel = new Kernel();
    const target = makeProg(asm('mov %r0, 42\nexit'));
    jit(kernel, target);
    const tail: FuncProto = { id: 12, name: 'tail_call', ret: 'VOID', args: ['PTR_TO_CTX', 'CONST_MAP_PTR', 'ANYTHING'],
      call: (env) => { env.tailCallTarget = target; return 0n; } };
    const prog = makeProg(asm('mov %r6, 1\ncall 12\nmov %r0, 7\nexit'), [tail]);
    jit(kernel, prog);
    expect(runOn(kernel, prog, 'jit')).toBe(42n);
    expect(runOn(kernel, prog, 'interp')).toBe(42n);
  });

  it('runs bpf_loop callbacks through env.callSubprog', () => {
    const loop: FuncProto = { id: 181, name: 'loop', ret: 'INTEGER', args: ['ANYTHING', 'PTR_TO_FUNC', 'PTR_TO_STACK_OR_NULL', 'ANYTHING'],
      call: (env, n, cb, ctx) => { for (let i = 0n; i < n; i++) env.callSubprog!(Number(cb), [i, ctx]); return n; } };
    // r2 = callback (LD_IMM64 BPF_PSEUDO_FUNC, relative), r3 = &stack counter
    const insns: Insn[] = [
      insn(0x7a, 10, 0, -8, 0), // *(u64 *)(r10-8) = 0
      insn(0xb7, 1, 0, 0, 5),
      insn(0x18, 2, 4, 0, 6), insn(0, 0, 0, 0, 0), // r2 = callback at 3 + 6 + ... see below
      insn(0xbf, 3, 10), insn(0x07, 3, 0, 0, -8),
      insn(0xb7, 4, 0, 0, 0),
      insn(0x85, 0, 0, 0, 181),
      insn(0x79, 0, 10, -8),
      insn(0x95),
      // callback(i, ctx): *ctx += i + 1; return 0
      insn(0x79, 3, 2, 0), insn(0x0f, 3, 1), insn(0x07, 3, 0, 0, 1), insn(0x7b, 2, 3, 0),
      insn(0xb7, 0, 0, 0, 0), insn(0x95),
    ];
    insns[2] = insn(0x18, 2, 4, 0, 10 - 3); // target 10 = 2 + 1 + imm
    const kernel = new Kernel();
    const prog = makeProg(insns, [loop]);
    jit(kernel, prog);
    expect(runOn(kernel, prog, 'jit')).toBe(15n);
  });
});

describe('constant blinding', () => {
  const text = `
    mov %r0, 0x1234567
    add %r0, 0x2345678
    stdw [%r10-8], 0x3456789
    ldxdw %r1, [%r10-8]
    add %r0, %r1
    lddw %r2, 0x4567890a5678901
    xor %r0, %r2
    jeq %r0, 0x6789012, +1
    mul %r0, 3
    exit`;

  it('computes the same result without the immediates in the code', () => {
    const kernel = new Kernel({ seed: 11 });
    const plain = makeProg(asm(text));
    const want = runOn(kernel, plain, 'interp');
    kernel.sysctl.bpfJitHarden = 2;
    const prog = makeProg(asm(text));
    const image = jit(kernel, prog);
    expect(image.blinded).toBe(true);
    expect(runOn(kernel, prog, 'jit')).toBe(want);
    const dump = image.dump();
    const bytes = Buffer.from(image.bytes).toString('hex');
    for (const imm of [0x1234567, 0x2345678, 0x3456789, 0x6789012, 0x4567890a5678901]) {
      expect(dump).not.toContain(`const ${imm}`);
      // signed LEB128 of the immediate, as i64.const would hold it
      let v = BigInt(imm);
      let leb = '';
      for (;;) {
        const b = Number(v & 0x7fn);
        v >>= 7n;
        const done = (v === 0n && (b & 0x40) === 0);
        leb += (done ? b : b | 0x80).toString(16).padStart(2, '0');
        if (done) break;
      }
      expect(bytes).not.toContain(leb);
    }
    expect(image.compiled.some((i) => i.dst === BPF_REG_AX)).toBe(true);
  });

  it('only for unprivileged loaders at bpf_jit_harden=1', () => {
    const kernel = new Kernel();
    kernel.sysctl.bpfJitHarden = 1;
    expect(jit(kernel, makeProg(asm(text), [identity], 0)).blinded).toBe(false);
    expect(jit(kernel, makeProg(asm(text), [identity], 1000)).blinded).toBe(true);
  });

  it('rewrites branches around the inserted instructions', () => {
    const insns = asm('mov %r0, 1\njeq %r0, 5, +2\nadd %r0, 7\nja -3\nexit');
    const out = blindConstants(insns, () => 0x55aa55aa);
    // mov(2) ... the backward ja must land on the first instruction of jeq's expansion
    const ja = out.findIndex((i) => i.code === 0x05);
    const jeq = out.findIndex((i) => i.code === 0x1d);
    expect(ja + 1 + out[ja]!.off).toBe(jeq - 2);
    expect(jeq + 1 + out[jeq]!.off).toBe(out.length - 1);
  });
});

describe('dump', () => {
  it('prints WebAssembly text with each eBPF instruction as a comment', () => {
    const kernel = new Kernel();
    const prog = makeProg(asm('mov %r0, 1\nadd %r0, 1\nexit'));
    const image = jit(kernel, prog);
    const dump = image.dump();
    expect(dump.startsWith('(module')).toBe(true);
    expect(dump).toContain('(import "k" "mem" (memory 1))');
    expect(dump).toContain(';; 1: (07) r0 += 1');
    const lines = dump.split('\n');
    const at = lines.findIndex((l) => l.includes(';; 1: (07) r0 += 1'));
    expect(lines.slice(at + 1, at + 5).map((l) => l.trim())).toEqual(['local.get $r0', 'i64.const 1', 'i64.add', 'local.set $r0']);
    expect(image.size).toBe(image.bytes.length);
  });
});

describe('nested runs of one program', () => {
  /**
   * Program A calls helper 20 (reenter). In the outer run, reenter runs A again; in that
   * inner run helper 21 (inner) says so and A tail-calls a target returning 42. The outer
   * run then adds 100 to the inner result: 142. The tail-call pending flag must belong
   * to the inner run: if it leaked into the outer one, the outer run would stop right
   * after reenter returned and give 0.
   */
  const A = `
    call 21
    jne %r0, 0, inner
    call 20
    add %r0, 100
    exit
  inner:
    mov %r1, 0
    call 12
    mov %r0, 7
    exit`;

  function setup(runInner: (kernel: Kernel, prog: ReturnType<typeof makeProg>) => bigint) {
    const kernel = new Kernel();
    const target = makeProg(asm('mov %r0, 42\nexit'));
    jit(kernel, target);
    let depth = 0;
    const innerH: FuncProto = { id: 21, name: 'inner', ret: 'INTEGER', args: [], call: () => BigInt(depth > 0) };
    const tail: FuncProto = { id: 12, name: 'tail_call', ret: 'VOID', args: ['PTR_TO_CTX', 'CONST_MAP_PTR', 'ANYTHING'],
      call: (env) => { env.tailCallTarget = target; return 0n; } };
    const holder: { prog: ReturnType<typeof makeProg> | null } = { prog: null };
    const reenter: FuncProto = { id: 20, name: 'reenter', ret: 'INTEGER', args: [],
      call: (env) => {
        depth++;
        try {
          return runInner(env.kernel, holder.prog!);
        } finally {
          depth--;
        }
      } };
    const prog = makeProg(asm(A), [innerH, tail, reenter]);
    holder.prog = prog;
    return { kernel, prog };
  }

  for (const engine of ['jit', 'interp'] as const) {
    for (const dispatch of [false, true]) {
      if (engine === 'interp' && dispatch) continue;
      it(`a nested run that tail-calls does not end the outer run (${engine}${dispatch ? ', dispatch loop' : ''})`, () => {
        const { kernel, prog } = setup((k, p) => bpfProgRun(k, p, 0n, { engine }));
        jit(kernel, prog, { forceDispatch: dispatch });
        expect(bpfProgRun(kernel, prog, 0n, { engine })).toBe(142n);
        expect(bpfProgRun(kernel, prog, 0n, { engine })).toBe(142n); // and again: nothing left pending
      });
    }
    it(`the same through bpfProgRunner (runRaw) (${engine})`, () => {
      const { kernel, prog } = setup((k, p) => BigInt(bpfProgRunner(k, p, engine)(0) >>> 0));
      jit(kernel, prog);
      const run = bpfProgRunner(kernel, prog, engine);
      expect(run(0)).toBe(142);
      expect(run(0)).toBe(142);
    });
  }
});
