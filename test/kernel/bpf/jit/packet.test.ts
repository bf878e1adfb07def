// Packet programs on the fast paths: the JIT's $main_raw with the packet as parameters
// (LD_ABS inline bounds check, LD_IND, SKF_NET_OFF/SKF_LL_OFF through $pkt, both ways of
// building $main_raw), bpfProgRunner with a packet on both engines, and bpfPacketRunner;
// every one must agree with bpfProgRun on the interpreter (the reference).
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../../../kernel/kernel.js';
import { isKernelError } from '../../../../kernel/errno.js';
import { insn, type Insn } from '../../../../kernel/bpf/isa.js';
import { SKF_LL_OFF, SKF_NET_OFF } from '../../../../kernel/bpf/interpreter.js';
import { bpfPacketRunner, bpfProgRun, bpfProgRunner, bpfProgRunnerOf } from '../../../../kernel/bpf/run.js';
import { acquireStack, releaseStack } from '../../../../kernel/bpf/stack.js';
import type { FuncProto } from '../../../../kernel/bpf/types.js';
import { jit, makeProg } from './util.js';

const LD = { W: 0x20, H: 0x28, B: 0x30 } as const;
const IND = 0x20; // LD_IND = LD_ABS | 0x20

/** r0 = 99; <body>; exit. */
function prog(body: Insn[], helpers?: FuncProto[]) {
  return makeProg([insn(0xb7, 0, 0, 0, 99), ...body, insn(0x95)], helpers);
}

function outcome(fn: () => number): string {
  try {
    return `r0=${fn() | 0}`;
  } catch (e) {
    if (isKernelError(e)) return e.errno;
    throw e;
  }
}

describe('packet programs on the JIT raw entry and the runners', () => {
  const kernel = new Kernel();
  const frame = Uint8Array.from({ length: 64 }, (_, i) => (i * 7 + 1) & 0xff);
  const off = kernel.mem.alloc(frame.length);
  kernel.mem.write(off, frame);
  const ctx = kernel.mem.alloc(192);
  // data at +14 (a dgram view), mac at +0, net at +14; and a raw view with data = mac
  const packets = [
    { data: off + 14, len: 50, mac: off, net: off + 14 },
    { data: off, len: 64, mac: off, net: off + 14 },
    { data: off, len: 13, mac: off, net: off + 14 },
    { data: off, len: 0, mac: off, net: off + 14 },
  ];
  const bodies: { name: string; body: Insn[] }[] = [];
  for (const [sz, code] of Object.entries(LD)) {
    for (const k of [0, 1, 9, 12, 13, 46, 48, 49, 50, 60, 62, 63, 64, 0x7ffffffe, -1, SKF_NET_OFF + 2, SKF_NET_OFF - 1, SKF_LL_OFF + 12, SKF_LL_OFF - 1, -0x80000000]) {
      bodies.push({ name: `ld${sz} [${k}]`, body: [insn(code, 0, 0, 0, k)] });
      for (const x of [0, 3, -5, 0x7fffffff, -0x80000000]) {
        bodies.push({ name: `ld${sz} [x=${x} + ${k}]`, body: [insn(0xb4, 7, 0, 0, x), insn(code | IND, 0, 7, 0, k)] });
      }
    }
  }
  // a filter-shaped program: several loads, a jump, a scratch word on the stack
  bodies.push({
    name: 'filter shape',
    body: [
      insn(0x28, 0, 0, 0, 12), insn(0x55, 0, 0, 3, 0x0800), insn(0x30, 0, 0, 0, 23), insn(0x63, 10, 0, -4),
      insn(0x61, 0, 10, -4), insn(0xb4, 7, 0, 0, 14), insn(0x48, 0, 7, 0, 2),
    ],
  });

  for (const mode of ['structured', 'dispatch'] as const) {
    it(`runRaw, bpfProgRunner and bpfPacketRunner agree with the interpreter (${mode})`, () => {
      const failures: string[] = [];
      for (const { name, body } of bodies) {
        const p = prog(body);
        const image = jit(kernel, p, { forceDispatch: mode === 'dispatch' });
        expect(image.rawNeedsEnv).toBe(false);
        const top = acquireStack(kernel);
        const runners = {
          interp: bpfProgRunner(kernel, p, 'interp'),
          jit: bpfProgRunner(kernel, p, 'jit'),
          pktInterp: bpfPacketRunner(kernel, p, 'interp'),
          pktJit: bpfPacketRunner(kernel, p, 'jit'),
        };
        for (const pk of packets) {
          const want = outcome(() => Number(BigInt.asUintN(32, bpfProgRun(kernel, p, kernel.mem.addr(ctx), { packet: pk, engine: 'interp' }))));
          const got = {
            jitRun: outcome(() => Number(BigInt.asUintN(32, bpfProgRun(kernel, p, kernel.mem.addr(ctx), { packet: pk, engine: 'jit' })))),
            runRaw: outcome(() => image.runRaw(ctx, top, null, pk)),
            interp: outcome(() => runners.interp(ctx, null, pk)),
            jit: outcome(() => runners.jit(ctx, null, pk)),
            pktInterp: outcome(() => runners.pktInterp(ctx, pk.data, pk.len, pk.mac, pk.net)),
            pktJit: outcome(() => runners.pktJit(ctx, pk.data, pk.len, pk.mac, pk.net)),
          };
          for (const [how, r] of Object.entries(got)) {
            if (r !== want) failures.push(`${name} len ${pk.len}: ${how} ${r}, interpreter ${want}`);
          }
        }
        releaseStack(kernel, top);
      }
      expect(failures).toEqual([]);
    });
  }

  it('a packet program with a helper call takes the env path with the packet', () => {
    const seen: number[] = [];
    const h: FuncProto = {
      id: 5, name: 'peek', ret: 'INTEGER', args: ['ANYTHING'],
      call: (env, r1) => { seen.push(env.packet?.len ?? -1); return r1 + 1n; },
    };
    const p = prog([insn(0x30, 0, 0, 0, 1), insn(0xbf, 1, 0, 0, 0), insn(0x85, 0, 0, 0, 5)], [h]);
    const image = jit(kernel, p);
    expect(image.rawNeedsEnv).toBe(true);
    const pk = packets[1]!;
    const want = Number(bpfProgRun(kernel, p, kernel.mem.addr(ctx), { packet: pk, engine: 'interp' }));
    for (const engine of ['interp', 'jit'] as const) {
      expect(bpfProgRunner(kernel, p, engine)(ctx, null, pk)).toBe(want);
      expect(bpfPacketRunner(kernel, p, engine)(ctx, pk.data, pk.len, pk.mac, pk.net)).toBe(want);
    }
    expect(seen).toEqual([64, 64, 64, 64, 64]);
  });

  it('bpfPacketRunner turns a bad access into EFAULT and follows bpf_jit_enable', () => {
    const p = prog([insn(0x61, 0, 1, 0, 0)]); // r0 = *(u32 *)(r1 + 0)
    jit(kernel, p);
    const run = bpfPacketRunner(kernel, p);
    expect(outcome(() => run(kernel.mem.u8.length + 64, 0, 0, 0, 0))).toBe('EFAULT');
    kernel.mem.dv.setUint32(ctx, 1234, true);
    const before = p.runCount;
    kernel.sysctl.bpfJitEnable = 0;
    expect(run(ctx, 0, 0, 0, 0)).toBe(1234);
    kernel.sysctl.bpfJitEnable = 1;
    expect(run(ctx, 0, 0, 0, 0)).toBe(1234);
    expect(p.runCount).toBe(before + 2);
    expect(() => bpfPacketRunner(kernel, makeProg([insn(0xb7, 0, 0, 0, 1), insn(0x95)]), 'jit')).toThrow(/not JIT-compiled/);
  });
});

describe('bpfProgRunnerOf', () => {
  it('keeps one runner per program and remakes it when the JIT image changes', () => {
    const kernel = new Kernel();
    const p = makeProg([insn(0xb7, 0, 0, 0, 7), insn(0x95)]);
    const a = bpfProgRunnerOf(kernel, p);
    expect(bpfProgRunnerOf(kernel, p)).toBe(a);
    expect(a(4096)).toBe(7);
    jit(kernel, p);
    const b = bpfProgRunnerOf(kernel, p);
    expect(b).not.toBe(a);
    expect(b(4096)).toBe(7);
  });
});
