// Docker's default profile compiled to cBPF, installed as a filter and judged by the shared
// engine, against the profile's rules decided directly (libseccomp's semantics).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../../index.js';
import { SYSCALL_TABLES } from '../../../kernel/syscall-table.js';
import { rootCred } from '../../../kernel/task.js';
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
