// The core helpers, called from small programs loaded with BPF_PROG_LOAD and run with
// bpfProgRun (the interpreter) or BPF_PROG_TEST_RUN. Programs are written in the
// conformance assembly; `lddw %rN, MAPIDX` lines become BPF_PSEUDO_MAP_FD loads of the
// MAPIDX-th map fd given to load().
import { describe, expect, it } from 'vitest';
import { assemble } from '../../../kernel/bpf/asm.js';
import { BPF_CMD, BPF_MAP_TYPE as T, BPF_PSEUDO_FUNC, BPF_PSEUDO_MAP_FD, isLdImm64, type Insn } from '../../../kernel/bpf/isa.js';
import { ringbufDrain } from '../../../kernel/bpf/maps/ringbuf.js';
import { perfEventRead } from '../../../kernel/bpf/maps/perf_event_array.js';
import { mapAddr, mapFromFd, progFromFd } from '../../../kernel/bpf/objects.js';
import { bpfProgRun } from '../../../kernel/bpf/run.js';
import { bpfCommand, type BpfAttr } from '../../../kernel/bpf/syscall.js';
import { setTracePrintkSink } from '../../../kernel/bpf/helpers/index.js';
import { mapLookupElemProto, getCurrentCommProto } from '../../../kernel/bpf/helpers/core.js';
import { Kernel } from '../../../kernel/kernel.js';
import { userCred } from '../../../kernel/task.js';
import { registerNetProgTypes } from '../../../subsystems/net/progtypes.js';

function setup(seed = 1) {
  const kernel = new Kernel({ seed, ncpus: 2 });
  registerNetProgTypes(kernel);
  const task = kernel.tasks.spawn({ comm: 'helpertest' });
  const cmd = (c: number, a: BpfAttr): number => kernel.tasks.runAs(task, () => bpfCommand(kernel, task, c, a));
  const map = (type: number, ks: number, vs: number, max: number): number =>
    cmd(BPF_CMD.BPF_MAP_CREATE, { map_type: type, key_size: ks, value_size: vs, max_entries: max });
  const load = (text: string, maps: number[] = [], opts: { funcs?: Record<number, number> } = {}): number => {
    const insns: Insn[] = assemble(text);
    for (let n = 0; n < insns.length; n++) {
      const i = insns[n]!;
      if (!isLdImm64(i)) continue;
      if (opts.funcs && n in opts.funcs) {
        i.src = BPF_PSEUDO_FUNC;
        i.imm = opts.funcs[n]! - n - 1;
      } else if (i.imm >= 0 && i.imm < maps.length && insns[n + 1]!.imm === 0) {
        i.src = BPF_PSEUDO_MAP_FD;
        i.imm = maps[i.imm]!;
      }
      n++;
    }
    return cmd(BPF_CMD.BPF_PROG_LOAD, { prog_type: 1, insns, license: 'GPL' });
  };
  const run = (fd: number, cpu = 0): bigint => {
    const prog = progFromFd(task, fd);
    return bpfProgRun(kernel, prog, 0n, { task, cpu, engine: 'interp' });
  };
  return { kernel, task, cmd, map, load, run };
}

const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);

describe('map helpers', () => {
  it('update then lookup through the returned pointer; delete; lookup of a missing key is NULL', () => {
    const { map, load, run, cmd } = setup();
    const m = map(T.BPF_MAP_TYPE_HASH, 4, 8, 4);
    const fd = load(
      `
      stw [%r10-4], 7
      stdw [%r10-16], 1234
      lddw %r1, 0
      mov %r2, %r10
      add %r2, -4
      mov %r3, %r10
      add %r3, -16
      mov %r4, 0
      call 2
      lddw %r1, 0
      mov %r2, %r10
      add %r2, -4
      call 1
      jeq %r0, 0, +2
      ldxdw %r0, [%r0]
      exit
      mov %r0, 99
      exit`,
      [m],
    );
    expect(run(fd)).toBe(1234n);
    const out = new Uint8Array(8);
    cmd(BPF_CMD.BPF_MAP_LOOKUP_ELEM, { map_fd: m, key: u32(7), value: out });
    expect(new BigUint64Array(out.buffer)[0]).toBe(1234n);
    const miss = load(
      `
      stw [%r10-4], 8
      lddw %r1, 0
      mov %r2, %r10
      add %r2, -4
      call 1
      exit`,
      [m],
    );
    expect(run(miss)).toBe(0n);
    const del = load(
      `
      stw [%r10-4], 8
      lddw %r1, 0
      mov %r2, %r10
      add %r2, -4
      call 3
      exit`,
      [m],
    );
    expect(BigInt.asIntN(64, run(del))).toBe(-2n); // -ENOENT
  });

  it('array update with BPF_NOEXIST returns -EEXIST to the program', () => {
    const { map, load, run } = setup();
    const m = map(T.BPF_MAP_TYPE_ARRAY, 4, 4, 2);
    const fd = load(
      `
      stw [%r10-4], 0
      stw [%r10-8], 5
      lddw %r1, 0
      mov %r2, %r10
      add %r2, -4
      mov %r3, %r10
      add %r3, -8
      mov %r4, 1
      call 2
      exit`,
      [m],
    );
    expect(BigInt.asIntN(64, run(fd))).toBe(-17n);
  });

  it('per-CPU array: each CPU sees its own slot', () => {
    const { map, load, run, cmd } = setup();
    const m = map(T.BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 1);
    const fd = load(
      `
      stw [%r10-4], 0
      lddw %r1, 0
      mov %r2, %r10
      add %r2, -4
      call 1
      jeq %r0, 0, +3
      ldxw %r1, [%r0]
      add %r1, 1
      stxw [%r0], %r1
      mov %r0, 0
      exit`,
      [m],
    );
    run(fd, 0);
    run(fd, 1);
    run(fd, 1);
    const out = new Uint8Array(16);
    cmd(BPF_CMD.BPF_MAP_LOOKUP_ELEM, { map_fd: m, key: u32(0), value: out });
    expect(Array.from(new Uint32Array(out.buffer))).toEqual([1, 0, 2, 0]);
  });

  it('lookup on a prog_array from a program yields NULL (the proto, called directly)', () => {
    const { kernel, task, map } = setup();
    const m = mapFromFd(task, map(T.BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 1));
    const k = kernel.mem.alloc(4);
    const env = { kernel, prog: null as never, ctx: 0n, cpu: 0, task, tailCalls: 0, tailCallTarget: null };
    expect(mapLookupElemProto.call(env, mapAddr(kernel, m), kernel.mem.addr(k), 0n, 0n, 0n)).toBe(0n);
    expect(() => mapLookupElemProto.call(env, kernel.mem.addr(k), kernel.mem.addr(k), 0n, 0n, 0n)).toThrow(/not a map/);
  });
});

describe('task, time, randomness, CPU', () => {
  const cases: [string, string, (r: bigint, ctx: ReturnType<typeof setup>) => void][] = [
    ['get_smp_processor_id', 'call 8\nexit', (r) => expect(r).toBe(1n)],
    [
      'get_current_pid_tgid',
      'call 14\nexit',
      (r, { task }) => expect(r).toBe((BigInt(task.tgid) << 32n) | BigInt(task.pid)),
    ],
    ['get_current_uid_gid', 'call 15\nexit', (r) => expect(r).toBe((1001n << 32n) | 1000n)],
    ['ktime_get_ns is monotonic', 'call 5\nmov %r6, %r0\ncall 125\nsub %r0, %r6\nexit', (r) => expect(BigInt.asIntN(64, r) > 0n).toBe(true)],
    [
      'get_current_comm writes the NUL-padded comm',
      'mov %r1, %r10\nadd %r1, -16\nmov %r2, 16\ncall 16\nldxb %r0, [%r10-16]\nexit',
      (r) => expect(r).toBe(BigInt('h'.charCodeAt(0))),
    ],
  ];
  it.each(cases)('%s', (_name, text, check) => {
    const ctx = setup();
    ctx.task.cred = { ...userCred(1000, 1001), caps: ctx.task.cred.caps };
    const fd = ctx.load(text);
    check(ctx.run(fd, 1), ctx);
  });

  it('get_prandom_u32 follows the kernel seed', () => {
    const a = setup(7);
    const b = setup(7);
    const c = setup(8);
    const text = 'call 7\nexit';
    const ra = a.run(a.load(text));
    expect(b.run(b.load(text))).toBe(ra);
    expect(c.run(c.load(text))).not.toBe(ra);
    expect(ra < 2n ** 32n).toBe(true);
  });

  it('get_current_comm without a task zeroes the buffer and returns -EINVAL', () => {
    const { kernel } = setup();
    const buf = kernel.mem.alloc(16);
    kernel.mem.u8.fill(0xff, buf, buf + 16);
    const env = { kernel, prog: null as never, ctx: 0n, cpu: 0, task: null, tailCalls: 0, tailCallTarget: null };
    expect(BigInt.asIntN(64, getCurrentCommProto.call(env, kernel.mem.addr(buf), 16n, 0n, 0n, 0n))).toBe(-22n);
    expect(Array.from(kernel.mem.bytes(buf, 16)).every((b) => b === 0)).toBe(true);
  });
});

describe('trace_printk', () => {
  it('formats into the sink and returns the length; a bad format is -EINVAL', () => {
    const { kernel, load, run } = setup();
    const lines: string[] = [];
    setTracePrintkSink(kernel, (t) => lines.push(t));
    // "n=%d x=%x\0" on the stack
    const fmt = Buffer.from('n=%d x=%x\0', 'latin1');
    const words = [fmt.readUInt32LE(0), fmt.readUInt32LE(4), fmt.readUInt16LE(8)];
    const text = `
      stw [%r10-16], ${words[0]}
      stw [%r10-12], ${words[1]}
      sth [%r10-8], ${words[2]}
      mov %r1, %r10
      add %r1, -16
      mov %r2, 10
      mov %r3, -5
      mov %r4, 255
      call 6
      exit`;
    expect(run(load(text))).toBe(BigInt('n=-5 x=ff'.length));
    expect(lines).toEqual(['n=-5 x=ff']);
    const bad = Buffer.from('%q\0\0', 'latin1').readUInt32LE(0);
    expect(BigInt.asIntN(64, run(load(`stw [%r10-8], ${bad}\nmov %r1, %r10\nadd %r1, -8\nmov %r2, 4\ncall 6\nexit`)))).toBe(-22n);
  });
});

describe('tail calls', () => {
  it('jumps to the prog_array slot; a missing slot falls through', () => {
    const { load, run, map, cmd } = setup();
    const target = load('mov %r0, 42\nexit');
    const pa = map(T.BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4);
    cmd(BPF_CMD.BPF_MAP_UPDATE_ELEM, { map_fd: pa, key: u32(1), value: u32(target), flags: 0 });
    const caller = (index: number): number =>
      load(`lddw %r2, 0\nmov %r3, ${index}\ncall 12\nmov %r0, 7\nexit`, [pa]);
    expect(run(caller(1))).toBe(42n);
    expect(run(caller(2))).toBe(7n);
    expect(run(caller(9))).toBe(7n);
  });
});

describe('ring buffer helpers', () => {
  it('ringbuf_output, reserve+submit, reserve+discard, query', () => {
    const { load, run, map, task } = setup();
    const rb = map(T.BPF_MAP_TYPE_RINGBUF, 0, 0, 4096);
    const fd = load(
      `
      stdw [%r10-8], 0x11223344
      lddw %r1, 0
      mov %r2, %r10
      add %r2, -8
      mov %r3, 8
      mov %r4, 0
      call 130
      lddw %r1, 0
      mov %r2, 4
      mov %r3, 0
      call 131
      jeq %r0, 0, +5
      stw [%r0], 0x55667788
      mov %r1, %r0
      mov %r2, 0
      call 132
      ja +0
      lddw %r1, 0
      mov %r2, 4
      mov %r3, 0
      call 131
      jeq %r0, 0, +3
      mov %r1, %r0
      mov %r2, 0
      call 133
      lddw %r1, 0
      mov %r2, 0
      call 134
      exit`,
      [rb],
    );
    expect(run(fd)).toBe(16n + 16n + 16n); // three records of 8 + round_up(len, 8) bytes, unconsumed
    const samples = ringbufDrain(mapFromFd(task, rb)).map((s) => Buffer.from(s).toString('hex'));
    expect(samples).toEqual(['4433221100000000', '88776655']);
  });

  it('ringbuf_output with bad flags is -EINVAL; reserve with flags is NULL', () => {
    const { load, run, map } = setup();
    const rb = map(T.BPF_MAP_TYPE_RINGBUF, 0, 0, 4096);
    const out = load('lddw %r1, 0\nmov %r2, %r10\nadd %r2, -8\nstdw [%r10-8], 0\nmov %r3, 8\nmov %r4, 4\ncall 130\nexit', [rb]);
    expect(BigInt.asIntN(64, run(out))).toBe(-22n);
    const res = load('lddw %r1, 0\nmov %r2, 8\nmov %r3, 1\ncall 131\nexit', [rb]);
    expect(run(res)).toBe(0n);
  });
});

describe('packet helpers through BPF_PROG_TEST_RUN', () => {
  it('skb_load_bytes reads from the network header; past the end is -EFAULT', () => {
    const { load, cmd } = setup();
    const frame = Buffer.from('00112233445566778899aabb08004500002412344000401100000a0000010a0000023039003500100000646174612d2d2d2d', 'hex');
    const prog = (off: number): number =>
      load(`mov %r2, ${off}\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 4\ncall 26\njne %r0, 0, +1\nldxw %r0, [%r10-8]\nexit`);
    const testRun = (fd: number): number => {
      const a: BpfAttr = { prog_fd: fd, data_in: new Uint8Array(frame), repeat: 1 };
      cmd(BPF_CMD.BPF_PROG_TEST_RUN, a);
      return a.retval!;
    };
    // offset 12 of the IP header: source address 10.0.0.1
    expect(testRun(prog(12)) >>> 0).toBe(0x0100000a);
    expect(testRun(prog(34))).toBe((-14 >>> 0));
  });

  it('perf_event_output appends packet bytes with BPF_F_CTXLEN_MASK', () => {
    const { load, cmd, map, task } = setup();
    const pe = map(T.BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 2);
    cmd(BPF_CMD.BPF_MAP_UPDATE_ELEM, { map_fd: pe, key: u32(0), value: u32(0), flags: 0 });
    // flags = index 0 | 2 bytes of packet (2 << 32)
    const fd = load(
      `mov %r6, %r1\nstw [%r10-4], 0xabcd\nmov %r1, %r6\nlddw %r2, 0\nlddw %r3, 0x200000000\nmov %r4, %r10\nadd %r4, -4\nmov %r5, 2\ncall 25\nexit`,
      [pe],
    );
    const a: BpfAttr = { prog_fd: fd, data_in: new Uint8Array(Buffer.from('00112233445566778899aabb08004500ff', 'hex')), repeat: 1 };
    cmd(BPF_CMD.BPF_PROG_TEST_RUN, a);
    expect(a.retval).toBe(0);
    const { samples } = perfEventRead(mapFromFd(task, pe), 0);
    expect(samples.map((s) => Buffer.from(s).toString('hex'))).toEqual(['cdab4500']);
  });
});

describe('bpf_loop', () => {
  it('calls the callback until it returns non-zero, passing the index', () => {
    const { load, run } = setup();
    // main: r1 = 10, r2 = callback, r3 = ctx (NULL), r4 = 0; call loop; exit
    // callback (insn 7): return index == 3
    const text = `
      mov %r1, 10
      lddw %r2, 0
      mov %r3, 0
      mov %r4, 0
      call 181
      exit
      mov %r0, 0
      jne %r1, 3, +1
      mov %r0, 1
      exit`;
    const fd = load(text, [], { funcs: { 1: 7 } });
    expect(run(fd)).toBe(4n);
  });
});
