// Fuzzes the eBPF machine's untrusted entry points: the bpf() syscall with arbitrary attrs
// (MAP_CREATE and the element commands, PROG_LOAD with mutated instruction streams,
// PROG_TEST_RUN with arbitrary data and ctx), and the engines: every program that passes
// checkProgram runs on the interpreter (with an instruction budget) and, when that run
// ends, on the JIT; neither throws anything but KernelError and, when both finish, r0 is
// the same. Programs with back edges never reach test_run or an unbounded engine run
// (the JIT has no instruction budget, and the interpreter's default one is 2^31).
import { describe, it } from 'vitest';
import { bootKernel } from '../../index.js';
import { checkProgram } from '../../kernel/bpf/check.js';
import { BPF_CMD, BPF_MAP_TYPE, insn, isLdImm64, type Insn } from '../../kernel/bpf/isa.js';
import { jitCompile } from '../../kernel/bpf/jit/index.js';
import { bpfProgRun } from '../../kernel/bpf/run.js';
import { acquireStack, releaseStack, STACK_REGION_SIZE } from '../../kernel/bpf/stack.js';
import { bpfCommand, type BpfAttr } from '../../kernel/bpf/syscall.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { Task } from '../../kernel/task.js';
import { userCred } from '../../kernel/task.js';
import { genProgram } from '../helpers/gen-ebpf.js';
import { makeProg } from '../kernel/bpf/jit/util.js';
import { Fuzz, check, expectClean, iterations } from '../helpers/fuzz.js';

const C = BPF_CMD;

/** Mutates a valid program: field flips, inserted random or corner instructions, cuts. */
function mutateProgram(f: Fuzz, base: readonly Insn[]): Insn[] {
  const p = base.map((i) => ({ ...i }));
  for (let k = 0, m = 1 + f.int(4); k < m; k++) {
    const at = f.int(p.length);
    const i = p[at]!;
    switch (f.int(9)) {
      case 0: i.code = f.int(256); break;
      case 1: i.dst = f.int(16); break;
      case 2: i.src = f.int(16); break;
      case 3: i.off = f.pick([0, 1, -1, 2, -2, 8, -8, -512, 32767, -32768, f.int(65536) - 32768]); break;
      case 4: i.imm = f.i32(); break;
      case 5: p.splice(at, 0, insn(f.int(256), f.int(11), f.int(11), f.int(16) - 8, f.i32())); break;
      case 6: // a helper call or a bpf-to-bpf call
        p.splice(at, 0, f.chance(0.7) ? insn(0x85, 0, 0, 0, f.int(212)) : insn(0x85, 0, 1, 0, f.int(8) - 4));
        break;
      case 7: // LD_ABS/LD_IND, sign-extending loads, atomics
        p.splice(at, 0, insn(f.pick([0x20, 0x28, 0x30, 0x40, 0x48, 0x50, 0x81, 0x89, 0x91, 0xc3, 0xdb]), f.int(11), f.int(11),
          f.pick([0, -8, -16, 4]), f.pick([0, 1, 14, -1, 0x40, 0x41, 0xe1, 0xf1, 0x100, -0x100000])));
        break;
      default: p.splice(at, 1 + f.int(3)); break;
    }
  }
  return p;
}

function hasBackEdgeOrCall(p: readonly Insn[]): boolean {
  return p.some((i) => {
    const c = i.code & 7;
    if (c !== 5 && c !== 6) return isLdImm64(i) && i.src === 4;
    if (i.code === 0x85) return i.src === 1;
    return i.code === 0x06 ? i.imm < 0 : i.off < 0;
  });
}

/** A counted loop: r6 = n; loop: body; r6 -= 1; if r6 != 0 goto loop. */
function boundedLoop(f: Fuzz, body: readonly Insn[]): Insn[] {
  const n = 1 + f.int(20);
  const inner = body.slice(0, 20).filter((i) => !isLdImm64(i) && (i.code & 7) !== 5 && (i.code & 7) !== 6 && i.code !== 0);
  return [insn(0xb7, 6, 0, 0, n), ...inner, insn(0x07, 6, 0, 0, -1), insn(0x55, 6, 0, -(inner.length + 2), 0)];
}

/**
 * Memory around the stack region as it was before the interpreter's run, put back before
 * the JIT's: checkProgram is structural only, so a program may touch bytes above r10 or
 * beyond its 512 bytes (Linux's verifier would refuse it) and must see the same bytes on
 * both engines.
 */
const WINDOW = 65536;
let saved: { at: number; bytes: Uint8Array } | null = null;

/** Runs prog on one engine with a zeroed stack region; r0 as hex, or the errno. */
function runOnce(kernel: Kernel, insns: Insn[], engine: 'interp' | 'jit'): { r0?: string; errno?: string } {
  const prog = makeProg(insns, []);
  if (engine === 'jit') {
    const j = expectClean('jitCompile', insns, () => jitCompile(kernel, prog));
    if (!j.ok) return { errno: j.errno };
    prog.jited = j.value;
  }
  const top = acquireStack(kernel);
  releaseStack(kernel, top);
  kernel.mem.u8.fill(0, top - STACK_REGION_SIZE, top);
  const at = Math.max(0, top - WINDOW);
  const end = Math.min(kernel.mem.u8.length, top + WINDOW);
  if (engine === 'interp') saved = { at, bytes: kernel.mem.u8.slice(at, end) };
  else if (saved && saved.at === at) kernel.mem.u8.set(saved.bytes, at);
  const r = expectClean(`bpfProgRun ${engine}`, insns, () => bpfProgRun(kernel, prog, 0n, { engine, insnLimit: 100_000 }));
  return r.ok ? { r0: r.value.toString(16) } : { errno: r.errno };
}

describe('engines: interpreter and JIT agree on checked programs', () => {
  it('regressions and corpus', () => {
    const kernel = bootKernel();
    for (const p of [
      [insn(0xb7, 0, 0, 0, 7), insn(0x95)],
      [insn(0xb7, 0, 0, 0, 0), insn(0x15, 0, 0, -1, 0), insn(0x95)], // infinite loop: the budget stops the interpreter
      [insn(0x79, 0, 10, -8), insn(0x95)],
      [insn(0x85, 0, 1, 0, 1), insn(0x95), insn(0x85, 0, 1, 0, -2), insn(0x95)], // unbounded recursion
    ]) {
      const a = runOnce(kernel, p, 'interp');
      if (a.errno === 'ELOOP') continue;
      const b = runOnce(kernel, p, 'jit');
      if (a.r0 !== undefined && b.r0 !== undefined) check(a.r0 === b.r0, `r0 differs: interp ${a.r0} jit ${b.r0}`, p);
    }
  });

  it('mutated random programs', () => {
    const f = new Fuzz(501);
    const n = iterations(400);
    let kernel = bootKernel();
    let ran = 0;
    for (let i = 0; i < n; i++) {
      if (i % 100 === 99) kernel = bootKernel(); // stray stores may scribble on this kernel's memory
      let p = genProgram(f.u32(), i, { minItems: 3, maxItems: 15 });
      if (f.chance(0.3)) p = [...boundedLoop(f, p.slice(20)), ...p];
      p = mutateProgram(f, p);
      if (!expectClean('checkProgram', p, () => checkProgram(p)).ok) continue;
      ran++;
      const a = runOnce(kernel, p, 'interp');
      if (a.errno === 'ELOOP') continue;
      const b = runOnce(kernel, p, 'jit');
      if (a.r0 !== undefined && b.r0 !== undefined) check(a.r0 === b.r0, `r0 differs: interp ${a.r0} jit ${b.r0}`, p);
    }
    check(ran > n / 10, `only ${ran} of ${n} mutated programs passed checkProgram`, null);
  });
});

// ---------------------------------------------------------------------------------------
// bpf(2)

const NUMS = [0, 1, 2, 3, 4, 7, 8, 16, 64, 255, 256, 4096, 65536, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000, -1, 1.5, NaN];

function num(f: Fuzz): number {
  return f.chance(0.6) ? f.pick(NUMS) : f.int(64);
}

function buf(f: Fuzz, around: number): Uint8Array | null {
  if (f.chance(0.1)) return null;
  const n = f.chance(0.7) ? around : Math.max(0, around + f.int(9) - 4);
  return f.chance(0.5) ? new Uint8Array(Math.min(n, 4096)) : f.bytes(Math.min(n, 4096));
}

const FRAME = Uint8Array.from(Buffer.from('00112233445566778899aabb08004500002412344000401100000a0000010a0000023039003500100000646174612d2d2d2d', 'hex'));

const okCount = new Map<string, number>();

function fuzzBpf(f: Fuzz, kernel: Kernel, task: Task, maps: { fd: number; key: number; value: number }[], progs: number[]): void {
  const bpf = (what: string, cmd: number, attr: BpfAttr): number | null => {
    const r = expectClean(what, attr, () => bpfCommand(kernel, task, cmd, attr));
    if (r.ok) okCount.set(what, (okCount.get(what) ?? 0) + 1);
    return r.ok ? r.value : null;
  };
  switch (f.int(6)) {
    case 0: {
      const key = f.chance(0.7) ? f.pick([4, 8, 1, 16]) : num(f);
      const value = f.chance(0.7) ? f.pick([4, 8, 16, 64]) : num(f);
      const attr: BpfAttr = {
        map_type: f.chance(0.8) ? f.pick(Object.values(BPF_MAP_TYPE)) : num(f),
        key_size: key, value_size: value, max_entries: f.chance(0.8) ? f.pick([1, 4, 16, 4096]) : num(f),
        map_flags: f.chance(0.7) ? 0 : f.chance(0.5) ? 1 << f.int(20) : num(f),
      };
      if (f.chance(0.2)) attr.map_name = f.text(f.int(20));
      if (f.chance(0.1)) attr.numa_node = num(f);
      const fd = bpf('MAP_CREATE', C.BPF_MAP_CREATE, attr);
      if (fd !== null) maps.push({ fd, key, value });
      break;
    }
    case 1: case 2: {
      if (maps.length === 0) break;
      const m = f.pick(maps);
      const cmd = f.pick([C.BPF_MAP_UPDATE_ELEM, C.BPF_MAP_LOOKUP_ELEM, C.BPF_MAP_DELETE_ELEM, C.BPF_MAP_GET_NEXT_KEY, C.BPF_MAP_FREEZE]);
      bpf('map elem', cmd, {
        map_fd: f.chance(0.9) ? m.fd : num(f), key: buf(f, m.key), value: buf(f, m.value * f.pick([1, 1, 2])), next_key: buf(f, m.key),
        flags: f.chance(0.7) ? f.int(3) : num(f),
      });
      break;
    }
    case 3: case 4: {
      let p = genProgram(f.u32(), 0, { minItems: 2, maxItems: 10 });
      if (f.chance(0.5)) p = mutateProgram(f, p);
      if (maps.length && f.chance(0.3)) { // a map reference
        const m = f.pick(maps);
        p = [insn(0x18, 1, f.pick([1, 2, 5]), 0, f.chance(0.9) ? m.fd : f.i32()), insn(0, 0, 0, 0, f.chance(0.8) ? 0 : f.i32()), ...p];
      }
      const logSize = f.chance(0.5) ? 0 : f.pick([1, 16, 100, 4096, 1 << 20]);
      const attr: BpfAttr = {
        prog_type: f.chance(0.8) ? f.pick([1, 3, 4, 5, 6, 8, 2, 17]) : num(f),
        insns: f.chance(0.9) ? p : f.bytes(8 * f.int(6) + (f.chance(0.1) ? 3 : 0)),
        license: f.chance(0.8) ? 'GPL' : f.pick(['MIT', '', 'Dual BSD/GPL']),
        log_level: f.chance(0.85) ? f.pick([0, 1, 2]) : num(f), log_size: logSize, log_buf: logSize ? new Uint8Array(f.chance(0.8) ? logSize : 4) : null,
        prog_flags: f.chance(0.9) ? 0 : num(f),
      };
      if (f.chance(0.1)) attr.insn_cnt = num(f);
      if (f.chance(0.2)) attr.prog_name = f.chance(0.5) ? 'fuzz_prog' : f.text(f.int(18));
      const fd = bpf('PROG_LOAD', C.BPF_PROG_LOAD, attr);
      // test_run only what is sure to end: no back edge, no bpf-to-bpf call.
      if (fd !== null && Array.isArray(attr.insns) && !hasBackEdgeOrCall(attr.insns as Insn[])) progs.push(fd);
      break;
    }
    default: {
      if (progs.length === 0) break;
      const ctxSize = f.chance(0.7) ? 0 : f.pick([4, 20, 184, 192, 200, num(f) & 0xfff]);
      const attr: BpfAttr = {
        prog_fd: f.pick(progs), data_in: f.chance(0.5) ? FRAME : f.chance(0.5) ? f.mutateBytes(FRAME) : buf(f, f.int(80)),
        data_out: buf(f, f.int(100)), // repeat stays small: 2^32-1 runs of test_run cannot be interrupted here (see README.md)
        repeat: f.chance(0.8) ? f.int(3) : f.pick([0, 1, 7, -1, 1.5, NaN, 0x100000000]),
        ctx_in: ctxSize ? f.bytes(ctxSize) : null, ctx_out: f.chance(0.3) ? new Uint8Array(f.int(200)) : null,
      };
      if (f.chance(0.2)) attr.data_size_in = num(f);
      if (f.chance(0.1)) attr.flags = num(f);
      bpf('PROG_TEST_RUN', C.BPF_PROG_TEST_RUN, attr);
    }
  }
}

describe('bpf(2) with arbitrary attrs', () => {
  it('regressions and corpus', () => {
    const kernel = bootKernel();
    const task = kernel.tasks.spawn({ comm: 'fuzz' });
    for (const [cmd, attr] of [
      [C.BPF_PROG_LOAD, { prog_type: 1, insns: new Uint8Array(3), license: 'GPL' }],
      [C.BPF_PROG_LOAD, { prog_type: 1, insns: [insn(0x95)], insn_cnt: 2 ** 40, license: 'GPL' }],
      // regressions: a fractional insn_cnt reached decodeInsns (RangeError); so did NaN repeat BigInt()
      [C.BPF_PROG_LOAD, { prog_type: 1, insns: Uint8Array.from(Buffer.from('1b51fbbd4ef85b78264fd02ed312576e', 'hex')), insn_cnt: 1.5, license: 'GPL' }],
      [C.BPF_PROG_LOAD, { prog_type: 1, insns: [insn(0x95)], insn_cnt: -1, license: 'GPL' }],
      [C.BPF_MAP_CREATE, { map_type: 2, key_size: 4, value_size: 2 ** 31, max_entries: 2 ** 31 }],
      [C.BPF_MAP_CREATE, { map_type: 1, key_size: 0xffffffff, value_size: 0xffffffff, max_entries: 0xffffffff }],
      [999, {}],
    ] as [number, BpfAttr][]) expectClean('bpf', attr, () => bpfCommand(kernel, task, cmd, attr));
    const fd = bpfCommand(kernel, task, C.BPF_PROG_LOAD, { prog_type: 1, insns: [insn(0xb7, 0, 0, 0, 42), insn(0x95)], license: 'GPL' });
    for (const repeat of [NaN, 1.5, -1, 2 ** 32]) { // regression: repeat NaN reached BigInt() (RangeError)
      const r = expectClean('PROG_TEST_RUN', { repeat }, () => bpfCommand(kernel, task, C.BPF_PROG_TEST_RUN, { prog_fd: fd, data_in: FRAME, repeat }));
      check(!r.ok && r.errno === 'EINVAL', 'bad repeat accepted', { repeat });
    }
  });

  it('random command sequences, as root and as a user', () => {
    const f = new Fuzz(601);
    const n = iterations(1500);
    let kernel = bootKernel();
    let root = kernel.tasks.spawn({ comm: 'fuzz' });
    let user = kernel.tasks.spawn({ comm: 'user', cred: userCred(1000) });
    let maps: { fd: number; key: number; value: number }[] = [];
    let progs: number[] = [];
    for (let i = 0; i < n; i++) {
      if (i % 300 === 299) {
        kernel = bootKernel();
        root = kernel.tasks.spawn({ comm: 'fuzz' });
        user = kernel.tasks.spawn({ comm: 'user', cred: userCred(1000) });
        maps = [];
        progs = [];
      }
      if (f.chance(0.1)) kernel.sysctl.unprivilegedBpfDisabled = f.pick([0, 1, 2]) as 0 | 1 | 2;
      if (f.chance(0.1)) kernel.sysctl.bpfJitEnable = f.pick([0, 1]) as 0 | 1;
      const asUser = f.chance(0.2);
      fuzzBpf(f, kernel, asUser ? user : root, asUser ? [] : maps, asUser ? [] : progs);
    }
    // The campaign reaches past the argument checks.
    for (const what of ['MAP_CREATE', 'map elem', 'PROG_LOAD', 'PROG_TEST_RUN']) {
      check((okCount.get(what) ?? 0) >= 5, `${what} succeeded only ${okCount.get(what) ?? 0} times`, [...okCount]);
    }
  });
});
