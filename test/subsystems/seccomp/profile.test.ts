// Docker's default profile compiled to cBPF, installed as a filter and judged by the shared
// engine, against the profile's rules decided directly (libseccomp's semantics).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../../index.js';
import { SYSCALL_TABLES } from '../../../kernel/syscall-table.js';
import { rootCred } from '../../../kernel/task.js';
import type { SockFilter } from '../../../kernel/bpf/classic/isa.js';
import { judge, prepareFilter } from '../../../subsystems/seccomp/filter.js';
import { compileProfile, decide, type Profile } from '../../../subsystems/seccomp/profile.js';

const docker = JSON.parse(readFileSync(new URL('../../fixtures/profiles/docker-default.json', import.meta.url), 'utf8')) as Profile;
const X86_64 = 0xc000003e;
const I386 = 0x40000003;
const EPERM = 0x50001;
const ALLOW = 0x7fff0000;

function setup(opts = {}) {
  const k = bootKernel();
  const c = compileProfile(docker, opts);
  const task = k.tasks.spawn({ comm: 't', cred: rootCred() });
  const filter = prepareFilter(k, task, { len: c.program.length, filter: c.program }, 0);
  const run = (arch: number, nr: number, args: bigint[] = []): number =>
    judge(k, filter, { nr, arch, instructionPointer: 0x401000n, args });
  return { c, run };
}

describe('docker-default profile', () => {
  const { c, run } = setup();
  it('compiles to a filter the kernel accepts', () => {
    expect(c.program.length).toBeGreaterThan(300);
    expect(c.program.length).toBeLessThanOrEqual(4096);
  });
  it.each([
    ['getpid', X86_64, 39, [], ALLOW],
    ['read', X86_64, 0, [], ALLOW],
    ['reboot (needs CAP_SYS_BOOT)', X86_64, 169, [], EPERM],
    ['mount (CAP_SYS_ADMIN)', X86_64, 165, [], EPERM],
    ['clone3 -> ENOSYS', X86_64, 435, [], 0x50026],
    ['socket(AF_INET)', X86_64, 41, [2n], ALLOW],
    ['socket(AF_VSOCK)', X86_64, 41, [40n], EPERM],
    ['socket(AF_VSOCK | 1<<32): 64-bit compare', X86_64, 41, [40n | (1n << 32n)], ALLOW],
    ['personality(0)', X86_64, 135, [0n], ALLOW],
    ['personality(0xffffffff)', X86_64, 135, [0xffffffffn], ALLOW],
    ['personality(-1 as u64)', X86_64, 135, [0xffffffffffffffffn], EPERM],
    ['personality(7)', X86_64, 135, [7n], EPERM],
    ['clone(SIGCHLD)', X86_64, 56, [17n], ALLOW],
    ['clone(CLONE_NEWUSER)', X86_64, 56, [0x10000000n | 17n], EPERM],
    ['i386 getpid', I386, 20, [], ALLOW],
    ['i386 socketcall', I386, 102, [], ALLOW],
    ['x32 read', X86_64, 0x40000000, [], ALLOW],
    ['x32 unknown number', X86_64, 0x40000000 + 999, [], EPERM],
    ['aarch64 call: bad arch', 0xc00000b7, 172, [], 0],
    ['unknown syscall 1000', X86_64, 1000, [], EPERM],
  ] as [string, number, number, bigint[], number][])('%s', (_n, arch, nr, args, want) => {
    expect(run(arch, nr, args)).toBe(want >>> 0);
  });
  it('agrees with the rules for every syscall of every arch, with edge arguments', () => {
    const edges = [0n, 1n, 2n, 8n, 17n, 40n, 0x20000n, 0x20008n, 0xffffffffn, 0x100000000n, 0x7e020000n, 0xffffffffffffffffn];
    let n = 0;
    for (const [arch, table, bias] of [[X86_64, 'x86_64', 0], [I386, 'i386', 0], [X86_64, 'x32', 0]] as const) {
      for (const nr of [...SYSCALL_TABLES[table].byNr.keys(), 1000 + bias, 2000]) {
        for (const a of edges) {
          const args = [a, a, a, 0n, 0n, 0n];
          expect(run(arch, nr, args), `${table} ${nr} ${a}`).toBe(decide(c, arch, nr, args) >>> 0);
          n++;
        }
      }
    }
    expect(n).toBeGreaterThan(10000);
  });
  it('includes follow the capabilities: CAP_SYS_ADMIN allows mount and clone3', () => {
    const { run: run2 } = setup({ caps: ['CAP_SYS_ADMIN'] });
    expect(run2(X86_64, 165)).toBe(ALLOW);
    expect(run2(X86_64, 435)).toBe(ALLOW);
    expect(run2(X86_64, 56, [0x10000000n])).toBe(ALLOW);
  });
  it('minKernel: an old kernel loses the 4.8 rules', () => {
    const { run: old } = setup({ kernelVersion: '4.4' });
    // sync_file_range? No: the minKernel 4.8 group holds ptrace, process_vm_readv/writev.
    expect(old(X86_64, 101)).toBe(EPERM);
    expect(run(X86_64, 101)).toBe(ALLOW);
  });
});

/** Instructions executed by a seccomp program on (arch, nr, args): classic ld/and/jumps/ret only. */
function pathLength(prog: readonly SockFilter[], arch: number, nr: number, args: readonly bigint[] = []): number {
  const word = (k: number): number => {
    if (k === 0) return nr >>> 0;
    if (k === 4) return arch >>> 0;
    const a = BigInt.asUintN(64, args[(k - 16) >> 3] ?? 0n);
    return Number(k & 4 ? a >> 32n : a & 0xffffffffn);
  };
  let a = 0;
  for (let pc = 0, n = 1; ; pc++, n++) {
    const i = prog[pc]!;
    switch (i.code) {
      case 0x20: a = word(i.k); break;
      case 0x54: a = (a & i.k) >>> 0; break;
      case 0x05: pc += i.k; break;
      case 0x15: pc += a === i.k ? i.jt : i.jf; break;
      case 0x25: pc += a > i.k ? i.jt : i.jf; break;
      case 0x35: pc += a >= i.k ? i.jt : i.jf; break;
      case 0x06: return n;
      default: throw new Error(`unexpected opcode ${i.code}`);
    }
  }
}

describe('program shape', () => {
  it('Docker\'s profile: a binary tree on the syscall number (runc asks for it above 32 rules)', () => {
    const tree = compileProfile(docker);
    expect(tree.layout).toBe('tree');
    expect(tree.ruleCount).toBeGreaterThan(32);
    const linear = compileProfile(docker, { optimize: 1 });
    expect(linear.layout).toBe('linear');
    // libseccomp 2.5.4: 1227 (tree) and 983 (linear) instructions.
    expect(tree.program.length).toBeLessThan(1300);
    expect(linear.program.length).toBeLessThan(1050);
    let worst = 0;
    for (const [arch, table] of [[X86_64, 'x86_64'], [I386, 'i386'], [X86_64, 'x32']] as const) {
      for (const nr of [...SYSCALL_TABLES[table].byNr.keys(), 1000, 0xffffffff]) worst = Math.max(worst, pathLength(tree.program, arch, nr));
    }
    // ld arch, jeq arch, ld nr, ~log2(n/4) splits, 4 jeqs, a trampoline or two, ret.
    expect(worst).toBeLessThanOrEqual(20);
    expect(pathLength(linear.program, X86_64, 1000)).toBeGreaterThan(300);
  });
  it('one ret per action, the rules of equal syscalls shared', () => {
    const c = compileProfile({
      defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [
        { names: ['read', 'write', 'close'], action: 'SCMP_ACT_ALLOW' },
        { names: ['getpid', 'gettid'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, op: 'SCMP_CMP_EQ', value: 7 }] },
      ],
    });
    expect(c.layout).toBe('linear');
    const rets = c.program.filter((i) => i.code === 0x06).map((i) => i.k);
    expect(rets.sort((x, y) => x - y)).toEqual([0, 0x50001, 0x7fff0000]); // bad arch, default, allow
    // ld [4], jeq; ld [0], jge/jeq for x32, 5 jeqs; the rules once: ld hi, jeq, ld lo, jeq; 3 rets.
    expect(c.program.length).toBe(2 + 3 + 5 + 4 + 3);
  });
  it('both layouts judge as the rules', () => {
    const linear = compileProfile(docker, { optimize: 1 });
    const k = bootKernel();
    const t = k.tasks.spawn({ comm: 't', cred: rootCred() });
    const f = prepareFilter(k, t, { len: linear.program.length, filter: linear.program }, 0);
    for (const [arch, table] of [[X86_64, 'x86_64'], [I386, 'i386'], [X86_64, 'x32']] as const) {
      for (const nr of [...SYSCALL_TABLES[table].byNr.keys(), 1000]) {
        for (const a of [0n, 8n, 40n, 0x10000000n, 0xffffffffn, 1n << 32n]) {
          const args = [a, a, a];
          expect(judge(k, f, { nr, arch, instructionPointer: 0n, args }), `${table} ${nr}`).toBe(decide(linear, arch, nr, args) >>> 0);
        }
      }
    }
  });
});

describe('profile compiler', () => {
  const ops: [string, number, bigint, boolean][] = [
    ['SCMP_CMP_LT', 5, 4n, true], ['SCMP_CMP_LT', 5, 5n, false], ['SCMP_CMP_LT', 5, 1n << 32n, false],
    ['SCMP_CMP_LE', 5, 5n, true], ['SCMP_CMP_LE', 5, 6n, false],
    ['SCMP_CMP_GT', 5, 6n, true], ['SCMP_CMP_GT', 5, 5n, false], ['SCMP_CMP_GT', 5, 1n << 32n, true],
    ['SCMP_CMP_GE', 5, 5n, true], ['SCMP_CMP_GE', 5, 4n, false],
    ['SCMP_CMP_NE', 5, 5n, false], ['SCMP_CMP_NE', 5, 5n | (1n << 32n), true],
    ['SCMP_CMP_EQ', 5, 5n, true], ['SCMP_CMP_EQ', 5, 5n | (1n << 32n), false],
  ];
  it.each(ops)('%s %d vs %s', (op, value, arg, holds) => {
    const profile: Profile = {
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ERRNO', errnoRet: 9, args: [{ index: 2, value, op }] }],
    };
    const k = bootKernel();
    const c = compileProfile(profile);
    const t = k.tasks.spawn({ comm: 't' });
    const f = prepareFilter(k, t, { len: c.program.length, filter: c.program }, 0);
    const got = judge(k, f, { nr: 39, arch: X86_64, instructionPointer: 0n, args: [0n, 0n, arg] });
    expect(got).toBe(holds ? 0x50009 : ALLOW);
  });
});
