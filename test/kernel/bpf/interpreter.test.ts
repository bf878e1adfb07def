import { describe, expect, it } from 'vitest';
import { assemble } from '../../../kernel/bpf/asm.js';
import { conformanceProg, conformanceRun } from '../../../kernel/bpf/conformance.js';
import { SKF_LL_OFF, SKF_NET_OFF } from '../../../kernel/bpf/interpreter.js';
import { encodeInsns, insn, type Insn } from '../../../kernel/bpf/isa.js';
import { bpfProgRun, bpfProgSelectRuntime } from '../../../kernel/bpf/run.js';
import type { BpfProg, FuncProto, RunEnv } from '../../../kernel/bpf/types.js';
import { KernelError } from '../../../kernel/errno.js';
import { Kernel } from '../../../kernel/kernel.js';

const kernel = new Kernel();
kernel.sysctl.bpfJitEnable = 0;

function progOf(src: string | Insn[], helpers: FuncProto[] = []): BpfProg {
  const insns = typeof src === 'string' ? assemble(src) : src;
  const prog = conformanceProg(kernel, encodeInsns(insns));
  prog.helpers = new Map([...prog.helpers, ...helpers.map((h) => [h.id, h] as const)]);
  return prog;
}

function run(src: string | Insn[], mem: Uint8Array | null = null, helpers: FuncProto[] = []): bigint {
  return conformanceRun(kernel, progOf(src, helpers), mem, 'interp', 100_000);
}

function helper(id: number, call: FuncProto['call']): FuncProto {
  return { id, name: `test_${id}`, ret: 'INTEGER', args: [], call };
}

function errnoOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof KernelError) return `${e.errno}: ${e.detail}`;
    throw e;
  }
  return 'no error';
}

const M = (v: bigint): bigint => BigInt.asUintN(64, v);

describe('ALU corner semantics (Linux 6.x)', () => {
  const cases: { name: string; asm: string; r0: bigint }[] = [
    { name: 'div64 by zero register gives 0', asm: 'mov %r0, 7\nmov %r1, 0\ndiv %r0, %r1', r0: 0n },
    { name: 'div32 by zero register gives 0', asm: 'mov %r0, -1\nmov %r1, 0\ndiv32 %r0, %r1', r0: 0n },
    { name: 'mod64 by zero leaves dst', asm: 'mov %r0, -7\nmov %r1, 0\nmod %r0, %r1', r0: M(-7n) },
    { name: 'mod32 by zero leaves dst zero-extended', asm: 'mov %r0, -7\nmov %r1, 0\nmod32 %r0, %r1', r0: 0xfffffff9n },
    { name: 'sdiv64 INT_MIN / -1 = INT_MIN', asm: 'lddw %r0, 0x8000000000000000\nsdiv %r0, -1', r0: 1n << 63n },
    { name: 'sdiv32 INT_MIN / -1 = INT_MIN', asm: 'mov32 %r0, 0x80000000\nsdiv32 %r0, -1', r0: 0x80000000n },
    { name: 'smod64 by -1 = 0', asm: 'lddw %r0, 0x8000000000000000\nsmod %r0, -1', r0: 0n },
    { name: 'smod32 by -1 = 0', asm: 'mov32 %r0, 0x80000000\nsmod32 %r0, -1', r0: 0n },
    { name: 'smod64 sign of dividend', asm: 'mov %r0, -7\nsmod %r0, 2', r0: M(-1n) },
    { name: 'sdiv64 truncates toward zero', asm: 'mov %r0, -7\nsdiv %r0, 2', r0: M(-3n) },
    { name: 'sdiv64 by zero gives 0', asm: 'mov %r0, -7\nsdiv %r0, 0', r0: 0n },
    { name: 'smod64 by zero leaves dst', asm: 'mov %r0, -7\nsmod %r0, 0', r0: M(-7n) },
    { name: 'div64 by imm -1 is unsigned by 2^64-1', asm: 'mov %r0, 5\ndiv %r0, -1', r0: 0n },
    { name: 'mod64 by imm -1 (sign-extended)', asm: 'mov %r0, 5\nmod %r0, -1', r0: 5n },
    { name: 'div64 with high words', asm: 'lddw %r0, 0xfedcba9876543210\nlddw %r1, 0x100000001\ndiv %r0, %r1', r0: 0xfedcba9876543210n / 0x100000001n },
    { name: 'mod64 with high words', asm: 'lddw %r0, 0xfedcba9876543210\nlddw %r1, 0x100000003\nmod %r0, %r1', r0: 0xfedcba9876543210n % 0x100000003n },
    { name: 'lsh64 register amount masked to 63', asm: 'mov %r0, 1\nmov %r1, 65\nlsh %r0, %r1', r0: 2n },
    { name: 'lsh32 register amount masked to 31', asm: 'mov %r0, 1\nmov %r1, 33\nlsh32 %r0, %r1', r0: 2n },
    { name: 'lsh64 by 40', asm: 'mov %r0, 3\nlsh %r0, 40', r0: 3n << 40n },
    { name: 'rsh64 by 36', asm: 'lddw %r0, 0xf000000000000000\nrsh %r0, 36', r0: 0xf000000n },
    { name: 'rsh64 by 4 crosses words', asm: 'lddw %r0, 0x123456789\nrsh %r0, 4', r0: 0x12345678n },
    { name: 'arsh64 by 36', asm: 'lddw %r0, 0xf000000000000000\narsh %r0, 36', r0: M(-(1n << 24n)) },
    { name: 'arsh64 by exactly 32', asm: 'lddw %r0, 0x8000000100000000\narsh %r0, 32', r0: 0xffffffff80000001n },
    { name: 'rsh64 by exactly 32', asm: 'lddw %r0, 0x8000000100000000\nrsh %r0, 32', r0: 0x80000001n },
    { name: 'lsh64 by exactly 32', asm: 'lddw %r0, 0x8000000180000001\nlsh %r0, 32', r0: 0x8000000100000000n },
    { name: 'arsh64 by 4', asm: 'lddw %r0, 0x8000000000000010\narsh %r0, 4', r0: 0xf800000000000001n },
    { name: 'arsh32 zero-extends', asm: 'mov32 %r0, 0x80000000\narsh32 %r0, 4', r0: 0xf8000000n },
    { name: 'add32 zero-extends', asm: 'mov %r0, -1\nadd32 %r0, 0', r0: 0xffffffffn },
    { name: 'mov32 zero-extends', asm: 'mov %r1, -1\nmov32 %r0, %r1', r0: 0xffffffffn },
    { name: 'mov64 imm sign-extends', asm: 'mov %r0, -2', r0: M(-2n) },
    { name: 'add64 carries', asm: 'mov32 %r0, -1\nadd %r0, 1', r0: 1n << 32n },
    { name: 'sub64 borrows', asm: 'lddw %r0, 0x100000000\nsub %r0, 1', r0: 0xffffffffn },
    { name: 'mul64 full width', asm: 'lddw %r0, 0xfedcba9876543210\nlddw %r1, 0x123456789abcdef1\nmul %r0, %r1', r0: M(0xfedcba9876543210n * 0x123456789abcdef1n) },
    { name: 'mul64 by -1 imm', asm: 'mov %r0, 12345\nmul %r0, -1', r0: M(-12345n) },
    { name: 'mul32 truncates', asm: 'mov32 %r0, 0x10001\nmul32 %r0, 0x10001', r0: 0x20001n },
    { name: 'neg64 of 0', asm: 'mov %r0, 0\nneg %r0', r0: 0n },
    { name: 'neg64 of 1', asm: 'mov %r0, 1\nneg %r0', r0: M(-1n) },
    { name: 'neg64 of 2^32', asm: 'lddw %r0, 0x100000000\nneg %r0', r0: M(-(1n << 32n)) },
    { name: 'neg32 zero-extends', asm: 'mov %r0, 1\nneg32 %r0', r0: 0xffffffffn },
    { name: 'le16 truncates', asm: 'lddw %r0, 0x1122334455667788\nle16 %r0', r0: 0x7788n },
    { name: 'le32 truncates', asm: 'lddw %r0, 0x1122334455667788\nle32 %r0', r0: 0x55667788n },
    { name: 'le64 keeps', asm: 'lddw %r0, 0x1122334455667788\nle64 %r0', r0: 0x1122334455667788n },
    { name: 'be16 swaps and zero-extends', asm: 'lddw %r0, 0x1122334455667788\nbe16 %r0', r0: 0x8877n },
    { name: 'be32 swaps and zero-extends', asm: 'lddw %r0, 0x1122334455667788\nbe32 %r0', r0: 0x88776655n },
    { name: 'be64 swaps', asm: 'lddw %r0, 0x1122334455667788\nbe64 %r0', r0: 0x8877665544332211n },
    { name: 'bswap16', asm: 'lddw %r0, 0x1122334455667788\nbswap16 %r0', r0: 0x8877n },
    { name: 'bswap32', asm: 'lddw %r0, 0x1122334455667788\nbswap32 %r0', r0: 0x88776655n },
    { name: 'bswap64', asm: 'lddw %r0, 0x1122334455667788\nbswap64 %r0', r0: 0x8877665544332211n },
    { name: 'movsx864', asm: 'mov %r1, 0x80\nmovsx864 %r0, %r1', r0: M(-128n) },
    { name: 'movsx1664', asm: 'mov %r1, 0x8000\nmovsx1664 %r0, %r1', r0: M(-32768n) },
    { name: 'movsx3264', asm: 'mov32 %r1, 0x80000000\nmovsx3264 %r0, %r1', r0: M(-(1n << 31n)) },
    { name: 'movsx832 zero-extends', asm: 'mov %r1, 0x80\nmovsx832 %r0, %r1', r0: 0xffffff80n },
    { name: 'movsx1632 zero-extends', asm: 'mov %r1, 0x8000\nmovsx1632 %r0, %r1', r0: 0xffff8000n },
  ];
  it.each(cases)('$name', ({ asm, r0 }) => {
    expect(run(`${asm}\nexit`).toString(16)).toBe(r0.toString(16));
  });
});

describe('jumps', () => {
  // r1 = -1 (all ones), r2 = 1: signed -1 < 1, unsigned 2^64-1 > 1
  const cases: { name: string; cond: string; taken: boolean }[] = [
    { name: 'jgt unsigned', cond: 'jgt %r1, %r2', taken: true },
    { name: 'jsgt signed', cond: 'jsgt %r1, %r2', taken: false },
    { name: 'jlt unsigned', cond: 'jlt %r1, %r2', taken: false },
    { name: 'jslt signed', cond: 'jslt %r1, %r2', taken: true },
    { name: 'jge equal', cond: 'jge %r2, 1', taken: true },
    { name: 'jle imm sign-extended (-1 = 2^64-1)', cond: 'jle %r2, -1', taken: true },
    { name: 'jsle imm', cond: 'jsle %r1, -1', taken: true },
    { name: 'jsge', cond: 'jsge %r2, %r1', taken: true },
    { name: 'jeq needs both words', cond: 'jeq %r3, 1', taken: false },
    { name: 'jne needs both words', cond: 'jne %r3, 1', taken: true },
    { name: 'jset high word', cond: 'jset %r3, %r3', taken: true },
    { name: 'jeq32 ignores the high word', cond: 'jeq32 %r3, 1', taken: true },
    { name: 'jgt32 unsigned', cond: 'jgt32 %r1, 1', taken: true },
    { name: 'jsgt32 signed', cond: 'jsgt32 %r1, 1', taken: false },
    { name: 'jslt32', cond: 'jslt32 %r1, %r2', taken: true },
    { name: 'jle32', cond: 'jle32 %r2, 1', taken: true },
    { name: 'jset32 low word only', cond: 'jset32 %r4, -1', taken: false },
  ];
  it.each(cases)('$name', ({ cond, taken }) => {
    const asm = `mov %r1, -1\nmov %r2, 1\nlddw %r3, 0x100000001\nlddw %r4, 0x100000000\nmov %r0, 0\n${cond}, +1\nexit\nmov %r0, 1\nexit`;
    expect(run(asm)).toBe(taken ? 1n : 0n);
  });
  it('gotol jumps with a 32-bit offset', () => {
    expect(run('mov %r0, 1\ngotol +1\nexit\nmov %r0, 2\nexit')).toBe(2n);
  });
  it('a bounded loop counts', () => {
    expect(run('mov %r0, 0\nl: add %r0, 1\njlt %r0, 1000, l\nexit')).toBe(1000n);
  });
});

describe('memory', () => {
  it('loads, stores and sign-extending loads through r10 and r1', () => {
    const mem = Uint8Array.from([0x80, 0xff, 0x01, 0x02, 0, 0, 0, 0]);
    const asm = `stdw [%r10-8], -2
ldxdw %r0, [%r10-8]
ldxsb %r2, [%r1]
ldxsh %r3, [%r1]
add %r0, %r2
add %r0, %r3
stxw [%r1+4], %r0
ldxw %r0, [%r1+4]
exit`;
    // -2 + -128 + -128 = -258, truncated to 32 bits by the word store/load
    expect(run(asm, mem)).toBe(BigInt.asUintN(32, -258n));
  });
  it('atomics on the stack: 32-bit fetch zero-extends, cmpxchg returns the old value', () => {
    const asm = `stw [%r10-4], -1
mov %r1, 1
lock fetch add32 [%r10-4], %r1
mov %r6, %r1
mov %r0, 0
mov %r2, 7
lock cmpxchg32 [%r10-4], %r2
ldxw %r3, [%r10-4]
add %r0, %r6
add %r0, %r3
exit`;
    // r6 = 0xffffffff (old, zero-extended); after add the slot is 0; cmpxchg(0 == 0) stores 7, r0 = 0
    expect(run(asm)).toBe(0xffffffffn + 7n);
  });
  const faults: { name: string; asm: string }[] = [
    { name: 'NULL load', asm: 'mov %r1, 0\nldxw %r0, [%r1]' },
    { name: 'load in the reserved first page', asm: 'lddw %r1, 0xffff888000000ff0\nldxdw %r0, [%r1]' },
    { name: 'load with a wrong high word', asm: 'lddw %r1, 0xffff888100010000\nldxb %r0, [%r1]' },
    { name: 'load past the end', asm: 'lddw %r1, 0xffff8880fffffff0\nldxw %r0, [%r1]' },
    { name: 'offset borrowing from the high word', asm: 'lddw %r1, 0xffff888000000004\nldxw %r0, [%r1-8]' },
    { name: 'store to NULL', asm: 'mov %r1, 0\nstw [%r1+8], 1' },
    { name: 'atomic past the end', asm: 'lddw %r1, 0xffff8880fffffff0\nmov %r2, 1\nlock add [%r1], %r2' },
  ];
  it.each(faults)('$name stops with EFAULT', ({ asm }) => {
    expect(errnoOf(() => run(`mov %r0, 0\n${asm}\nexit`))).toMatch(/^EFAULT: invalid memory access at insn/);
  });
  it('a faulting store touches nothing', () => {
    const before = Uint8Array.from(kernel.mem.u8.subarray(0, 4096));
    errnoOf(() => run('lddw %r1, 0xffff888000000000\nstdw [%r1+8], -1\nexit'));
    expect(kernel.mem.u8.subarray(0, 4096)).toEqual(before);
  });
});

describe('control', () => {
  it('an endless loop stops with ELOOP at the instruction budget', () => {
    expect(errnoOf(() => run('mov %r0, 0\nl: add %r0, 1\nja l\nexit'))).toMatch(/^ELOOP:/);
  });
  const bad: { name: string; insns: Insn[]; err: RegExp }[] = [
    { name: 'unknown opcode', insns: [insn(0xff), insn(0x95)], err: /^EINVAL: unknown opcode ff/ },
    { name: 'jump out of range', insns: [insn(0x05, 0, 0, 5), insn(0x95)], err: /^EINVAL: fell off the end/ },
    { name: 'no exit', insns: [insn(0xb7, 0, 0, 0, 1)], err: /^EINVAL: fell off the end/ },
    { name: 'register r11', insns: [insn(0xb7, 11, 0, 0, 1), insn(0x95)], err: /^EINVAL: R11 is invalid/ },
    { name: 'unknown helper', insns: [insn(0x85, 0, 0, 0, 99), insn(0x95)], err: /^EINVAL: invalid func unknown#99/ },
  ];
  it.each(bad)('$name is an error', ({ insns, err }) => {
    expect(errnoOf(() => run(insns))).toMatch(err);
  });
  it('bpf-to-bpf call: new frame 512 bytes lower, r6-r9 preserved', () => {
    const asm = `mov %r6, 6
mov %r9, 9
mov %r1, %r10
call local f
sub %r1, %r0
mov %r0, %r1
add %r0, %r6
add %r0, %r9
exit
f:
mov %r6, 0
mov %r9, 0
mov %r0, %r10
exit`;
    expect(run(asm)).toBe(512n + 15n);
  });
  it('the ninth nested frame is E2BIG', () => {
    expect(errnoOf(() => run('f: call local f\nexit'))).toMatch(/^E2BIG: the call stack of 9 frames is too deep/);
  });
  it('helpers get r1..r5 as unsigned 64-bit values and set r0', () => {
    const seen: bigint[] = [];
    const h = helper(1, (_env, a, b, c, d, e) => {
      seen.push(a, b, c, d, e);
      return -1n;
    });
    const r0 = run('mov %r1, -1\nmov %r2, 2\nmov %r3, 3\nmov %r4, 4\nmov %r5, 5\ncall 1\nexit', null, [h]);
    expect(seen).toEqual([M(-1n), 2n, 3n, 4n, 5n]);
    expect(r0).toBe(M(-1n));
  });
  it('memory growth during a helper call is seen by the next access', () => {
    const k = new Kernel({ memory: { initialMiB: 1 } });
    const grow = helper(2, () => {
      k.mem.alloc(4 << 20);
      return 0n;
    });
    const prog = conformanceProg(k, encodeInsns(assemble('stdw [%r10-8], 77\ncall 2\nldxdw %r0, [%r10-8]\nexit')));
    prog.helpers = new Map([[2, grow]]);
    const size = k.mem.size;
    expect(bpfProgRun(k, prog, 0n)).toBe(77n);
    expect(k.mem.size).toBeGreaterThan(size);
  });
  it('tail call continues at insn 0 of the target with r1 kept', () => {
    const target = progOf('mov %r0, %r1\nadd %r0, 100\nexit');
    let env: RunEnv | null = null;
    const tail = helper(12, (e) => {
      env = e;
      e.tailCallTarget = target;
      return 0n;
    });
    const r0 = bpfProgRun(kernel, progOf('call 12\nmov %r0, 1\nexit', [tail]), 5n);
    expect(r0).toBe(105n);
    expect(env!.tailCalls).toBe(1);
    expect(env!.tailCallTarget).toBe(null);
  });
  it('callSubprog runs a subprogram with the given arguments (bpf_loop callbacks)', () => {
    const loop = helper(181, (e, n) => {
      let sum = 0n;
      for (let i = 0n; i < n; i++) sum += e.callSubprog!(4, [i, 10n]);
      return sum;
    });
    const asm = `mov %r1, 4
call 181
exit
exit
mov %r0, %r1
add %r0, %r2
exit`;
    expect(run(asm, null, [loop])).toBe(0n + 1n + 2n + 3n + 40n);
  });
});

describe('LD_ABS / LD_IND', () => {
  const k = new Kernel();
  // mac header at +0, network header at +14, data (what offset 0 reads) at +14
  const frame = Uint8Array.from({ length: 40 }, (_, i) => i);
  const off = k.mem.alloc(frame.length);
  k.mem.write(off, frame);
  const packet = { data: off + 14, len: 26, mac: off, net: off + 14 };
  const cases: { name: string; insns: Insn[]; r0: bigint }[] = [
    { name: 'ldabsw is big-endian', insns: [insn(0x20, 0, 0, 0, 0)], r0: 0x0e0f1011n },
    { name: 'ldabsh', insns: [insn(0x28, 0, 0, 0, 2)], r0: 0x1011n },
    { name: 'ldabsb', insns: [insn(0x30, 0, 0, 0, 25)], r0: 39n },
    { name: 'ldabs out of range returns 0 from the program', insns: [insn(0x20, 0, 0, 0, 23)], r0: 0n },
    { name: 'ldind adds the source register', insns: [insn(0xb7, 2, 0, 0, 4), insn(0x50, 0, 2, 0, 1)], r0: 19n },
    { name: 'ldind negative sum is out of range', insns: [insn(0xb7, 2, 0, 0, -4), insn(0x50, 0, 2, 0, 1)], r0: 0n },
    { name: 'SKF_LL_OFF reads the mac header', insns: [insn(0x28, 0, 0, 0, SKF_LL_OFF + 12)], r0: 0x0c0dn },
    { name: 'SKF_NET_OFF reads the network header', insns: [insn(0x30, 0, 0, 0, SKF_NET_OFF + 9)], r0: 23n },
    { name: 'below SKF_LL_OFF is out of range', insns: [insn(0x30, 0, 0, 0, SKF_LL_OFF - 1)], r0: 0n },
  ];
  it.each(cases)('$name', ({ insns, r0 }) => {
    const prog = conformanceProg(k, encodeInsns([insn(0xb7, 0, 0, 0, 99), ...insns, insn(0x95)]));
    const k2 = prog; // same kernel k owns the packet
    expect(bpfProgRun(k, k2, 0n, { packet, engine: 'interp' })).toBe(r0);
  });
});

describe('run engine', () => {
  it("engine 'jit' without a JIT image is ENOTSUPP, never a fallback", () => {
    const prog = progOf('mov %r0, 1\nexit');
    expect(errnoOf(() => bpfProgRun(kernel, prog, 0n, { engine: 'jit' }))).toMatch(/^ENOTSUPP:/);
  });
  it('uses the JIT image when bpf_jit_enable is on, the interpreter when off', () => {
    const k = new Kernel();
    const prog = conformanceProg(k, encodeInsns(assemble('mov %r0, 1\nexit')));
    prog.jited = { run: () => 2n, size: 1, dump: () => '' };
    k.sysctl.bpfJitEnable = 1;
    expect(bpfProgRun(k, prog, 0n)).toBe(2n);
    k.sysctl.bpfJitEnable = 0;
    expect(bpfProgRun(k, prog, 0n)).toBe(1n);
    expect(prog.runCount).toBe(2);
  });
  it('select_runtime: JIT off leaves the interpreter; on, either an image or a logged reason', () => {
    const k = new Kernel();
    const prog = conformanceProg(k, encodeInsns(assemble('mov %r0, 1\nexit')));
    k.sysctl.bpfJitEnable = 0;
    bpfProgSelectRuntime(k, prog);
    expect(prog.jited).toBe(null);
    k.sysctl.bpfJitEnable = 1;
    bpfProgSelectRuntime(k, prog);
    if (prog.jited === null) {
      expect(prog.jitError).not.toBe(null);
      expect(k.log.lines.join('\n')).toContain(prog.jitError!);
    } else {
      expect(bpfProgRun(k, prog, 0n)).toBe(1n);
    }
  });
});

describe('fast paths: superinstructions, leaf runs, register start values', () => {
  const k = new Kernel();
  k.sysctl.bpfJitEnable = 0;
  const frame = Uint8Array.from({ length: 40 }, (_, i) => (i * 37 + 200) & 0xff);
  const off = k.mem.alloc(frame.length);
  k.mem.write(off, frame);
  const packet = { data: off + 14, len: 26, mac: off, net: off + 14 };
  const runPkt = (insns: Insn[], pkt: typeof packet | null = packet): bigint =>
    bpfProgRun(k, conformanceProg(k, encodeInsns(insns)), 0n, { engine: 'interp', ...(pkt ? { packet: pkt } : {}) });
  const at = (i: number, size: number): number => {
    let v = 0;
    for (let j = 0; j < size; j++) v = v * 256 + frame[14 + i + j]!;
    return v;
  };
  // v: the loaded (zero-extended) value, kk: the 64-bit sign-extended immediate
  const conds: [string, number, (v: bigint, kk: bigint) => boolean][] = [
    ['jeq', 0x15, (v, kk) => v === kk],
    ['jne', 0x55, (v, kk) => v !== kk],
    ['jset', 0x45, (v, kk) => (v & kk) !== 0n],
    ['jgt', 0x25, (v, kk) => v > kk],
    ['jge', 0x35, (v, kk) => v >= kk],
  ];
  const loads: [string, number, number][] = [
    ['w', 0x20, 4],
    ['h', 0x28, 2],
    ['b', 0x30, 1],
  ];
  const cases: { name: string; code: number; ld: number; size: number; ind: boolean; i: number; kk: number; cond: (v: bigint, kk: bigint) => boolean }[] = [];
  for (const [cn, code, cond] of conds) {
    for (const [ln, ld, size] of loads) {
      for (const ind of [false, true]) {
        for (const i of [0, 3, 26 - size, 27 - size, 30]) {
          const v = i + size <= 26 ? at(i, size) : 0;
          for (const kk of [0, v | 0, (v - 1) | 0, (v + 1) | 0, 0x7fffffff, -1, -0x80000000]) {
            cases.push({ name: `ld${ind ? 'ind' : 'abs'}${ln} [${i}] ${cn} ${kk}`, code, ld: ld + (ind ? 0x20 : 0), size, ind, i, kk, cond });
          }
        }
      }
    }
  }
  it.each(cases)('$name: load + jump fused, split and computed agree', ({ code, ld, size, ind, i, kk, cond }) => {
    const load = ind ? [insn(0xb7, 7, 0, 0, i - 1), insn(ld, 0, 7, 0, 1)] : [insn(ld, 0, 0, 0, i)];
    const tail = [insn(0xb4, 0, 0, 0, 1), insn(0x95), insn(0xb4, 0, 0, 0, 2), insn(0x95)];
    const fused = runPkt([insn(0xb7, 0, 0, 0, 99), ...load, insn(code, 0, 0, 2, kk), ...tail]);
    const split = runPkt([insn(0xb7, 0, 0, 0, 99), ...load, insn(0x05, 0, 0, 0, 0), insn(code, 0, 0, 2, kk), ...tail]);
    const inRange = i + size <= 26;
    expect(fused).toBe(split);
    expect(fused).toBe(!inRange ? 0n : cond(BigInt(at(i, size)), BigInt.asUintN(64, BigInt(kk))) ? 2n : 1n);
  });
  it('a jump into the middle of a fused pair runs the plain jump', () => {
    // r0 = 7; skip the load; `if r0 == 7` must see 7, not the packet
    const v = at(2, 2);
    const insns = [insn(0xb7, 0, 0, 0, 7), insn(0x05, 0, 0, 1, 0), insn(0x28, 0, 0, 0, 2), insn(0x15, 0, 0, 2, 7),
      insn(0xb4, 0, 0, 0, 1), insn(0x95), insn(0xb4, 0, 0, 0, 2), insn(0x95)];
    expect(runPkt(insns)).toBe(2n);
    insns[3] = insn(0x15, 0, 0, 2, v);
    expect(runPkt(insns)).toBe(1n);
  });
  it('the MSH sequence (X = 4 * (P[k] & 0xf), A kept), fused and entered in the middle', () => {
    const msh = (kk: number): Insn[] => [
      insn(0xbf, 7, 0), insn(0x30, 0, 0, 0, kk), insn(0x54, 0, 0, 0, 0xf), insn(0x64, 0, 0, 0, 2),
      insn(0xbf, 2, 7), insn(0xbf, 7, 0), insn(0xbf, 0, 2),
    ];
    const out = [insn(0x27, 0, 0, 0, 1000), insn(0x0f, 0, 7), insn(0x27, 0, 0, 0, 1000), insn(0x0f, 0, 2), insn(0x95)];
    for (const kk of [0, 5, 25]) {
      expect(runPkt([insn(0xb7, 0, 0, 0, 99), ...msh(kk), ...out])).toBe(BigInt((99 * 1000 + ((frame[14 + kk]! & 0xf) << 2)) * 1000 + 99));
    }
    expect(runPkt([insn(0xb7, 0, 0, 0, 99), ...msh(26), ...out])).toBe(0n);
    expect(runPkt([insn(0xb7, 0, 0, 0, 99), ...msh(0), ...out], null)).toBe(0n);
    // jump over the first mov: r7 keeps 3, the rest runs plain
    const mid = [insn(0xb7, 0, 0, 0, 99), insn(0xb7, 7, 0, 0, 3), insn(0x05, 0, 0, 1, 0), ...msh(5), ...out];
    expect(runPkt(mid)).toBe(BigInt((3 * 1000 + ((frame[19]! & 0xf) << 2)) * 1000 + 3));
  });
  it('the classic prologue (w0 ^= w0; w7 ^= w7; r6 = r1) clears whole registers', () => {
    const asm = `lddw %r0, 0x100000005
lddw %r7, 0x300000009
xor32 %r0, %r0
xor32 %r7, %r7
mov %r6, %r1
mov %r3, %r6
sub %r3, %r1
or %r0, %r7
or %r0, %r3
exit`;
    expect(run(asm)).toBe(0n);
  });
  it('w0 = K; exit returns from a subprogram and from the program', () => {
    const asm = `call local sub
add %r0, 1
exit
sub:
mov32 %r0, -5
exit`;
    expect(run(asm)).toBe(0xfffffffcn);
  });
  it('registers read before written start at 0 on every run of a leaf program', () => {
    // r2 = memory length: with memory, write r3..r5 and return 1; without, return r3 | r4 | r5
    const prog = progOf(`jne %r2, 0, set
mov %r0, %r3
or %r0, %r4
add %r0, %r5
exit
set:
mov %r3, 5
mov %r4, -1
lddw %r5, 0x700000000
mov %r0, 1
exit`);
    for (let i = 0; i < 3; i++) {
      expect(conformanceRun(kernel, prog, Uint8Array.of(1), 'interp')).toBe(1n);
      expect(conformanceRun(kernel, prog, null, 'interp')).toBe(0n);
    }
  });
  it('a register read only on some paths before its write starts at 0', () => {
    const prog = progOf(`jeq %r2, 0, skip
mov %r6, 42
skip:
mov %r0, %r6
mov %r6, 77
exit`);
    for (let i = 0; i < 3; i++) {
      expect(conformanceRun(kernel, prog, Uint8Array.of(1), 'interp')).toBe(42n);
      expect(conformanceRun(kernel, prog, null, 'interp')).toBe(0n);
    }
  });
});
