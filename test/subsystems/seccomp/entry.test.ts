// The syscall entry's fast path keeps the old behaviour: the registers seccomp_data gets
// without bigints equal call.regs, pointers get their pseudo addresses in argument order,
// the seccomp hook runs only for tasks with SYSCALL_WORK_SECCOMP, tracepoints still see
// the registers.
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../../index.js';
import {
  AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, SYSCALL_WORK_SECCOMP, argRegister, defineSyscall, syscall, syscallsOf,
  type SyscallArg, type SyscallCall,
} from '../../../kernel/syscall.js';
import { tracepointOf } from '../../../kernel/trace/tracepoint.js';
import { populateSeccompData, seccompOf, seccompStateOf } from '../../../subsystems/seccomp/filter.js';
import { SECCOMP_SET_MODE_FILTER } from '../../../subsystems/seccomp/uapi.js';

const ARGS: SyscallArg[][] = [
  [],
  [0, 1, -1, 2 ** 31, 2 ** 32 + 5, -(2 ** 40)],
  [2 ** 53, -(2 ** 53), 1.9, -1.9, Number.MAX_SAFE_INTEGER, 2 ** 70],
  [0n, -1n, 1n << 63n, (1n << 64n) + 7n, -(1n << 70n), 0xffff_ffffn],
  ['hello', '', { a: 1 }, new Uint8Array(4), null, undefined],
  [NaN, Infinity, -Infinity, 3],
];

function dataOf(k: ReturnType<typeof bootKernel>): { nr: number; arch: number; ip: bigint; args: bigint[] } {
  const off = seccompStateOf(k).dataOff;
  const dv = k.mem.dv;
  return {
    nr: dv.getInt32(off, true),
    arch: dv.getUint32(off + 4, true),
    ip: dv.getBigUint64(off + 8, true),
    args: Array.from({ length: 6 }, (_, i) => dv.getBigUint64(off + 16 + 8 * i, true)),
  };
}

describe('syscall entry', () => {
  it.each([AUDIT_ARCH_X86_64, AUDIT_ARCH_I386])('seccomp_data written without bigints equals call.regs (arch 0x%s)', (arch) => {
    const k = bootKernel();
    const t = k.tasks.spawn({ comm: 'regs' });
    const seen: SyscallCall[] = [];
    defineSyscall(k, 'getpid', (call) => {
      seen.push(call);
      return 1;
    });
    for (const args of ARGS) {
      seen.length = 0;
      syscall(k, t, 'getpid', args, arch);
      const call = seen[0]!;
      // dirty the buffer first so that zeroing of absent registers is checked too
      k.mem.u8.fill(0xa5, seccompStateOf(k).dataOff, seccompStateOf(k).dataOff + 64);
      populateSeccompData(k, call);
      const d = dataOf(k);
      expect(d.args).toEqual(call.regs);
      expect(d.nr).toBe(call.nr);
      expect(d.arch).toBe(arch >>> 0);
      expect(d.ip).toBe(call.ip);
      for (let i = 0; i < 6; i++) {
        const a = args[i];
        if (typeof a === 'number' && Number.isFinite(a)) {
          const want = BigInt.asUintN(arch === AUDIT_ARCH_I386 ? 32 : 64, BigInt(Math.trunc(a)));
          expect(call.regs[i]).toBe(want);
        }
        if (typeof a === 'bigint') expect(call.regs[i]).toBe(BigInt.asUintN(arch === AUDIT_ARCH_I386 ? 32 : 64, a));
      }
    }
  });

  it('gives pointers their addresses in argument order at entry, whoever reads them', () => {
    const k = bootKernel();
    const t = k.tasks.spawn({ comm: 'ptr' });
    const a = {};
    const b = {};
    const st = syscallsOf(k);
    syscall(k, t, 'getpid', [a]);
    syscall(k, t, 'getpid', [b, a]);
    expect(argRegister(st, a, AUDIT_ARCH_X86_64)).toBe(0x7ffd_0000_1000n);
    expect(argRegister(st, b, AUDIT_ARCH_X86_64)).toBe(0x7ffd_0000_1100n);
    expect(argRegister(st, 'x', AUDIT_ARCH_X86_64) & 0xffff_0000_0000n).toBe(0x5600_0000_0000n);
  });

  it('runs the seccomp hook only for tasks in a seccomp mode, and children inherit the work', async () => {
    const k = bootKernel();
    const t = k.tasks.spawn({ comm: 'work' });
    syscall(k, t, 'getpid');
    expect(t.syscallWork & SYSCALL_WORK_SECCOMP).toBe(0);
    expect(seccompOf(t).last).toBeNull();
    t.noNewPrivs = true;
    const filter = [{ code: 0x06, jt: 0, jf: 0, k: 0x7fff0000 }];
    expect(syscall(k, t, 'seccomp', [SECCOMP_SET_MODE_FILTER, 0, { len: 1, filter }])).toBe(0);
    expect(t.syscallWork & SYSCALL_WORK_SECCOMP).toBe(SYSCALL_WORK_SECCOMP);
    syscall(k, t, 'getpid');
    expect(seccompOf(t).last).toEqual({ nr: 39, arch: AUDIT_ARCH_X86_64, ret: 0x7fff0000 });
    const pid = syscall(k, t, 'fork', [() => 0]) as number;
    const child = k.tasks.get(pid);
    expect(child.syscallWork & SYSCALL_WORK_SECCOMP).toBe(SYSCALL_WORK_SECCOMP);
    const other = k.tasks.spawn({ comm: 'other' });
    const pid2 = syscall(k, other, 'fork', [() => 0]) as number;
    expect(k.tasks.get(pid2).syscallWork & SYSCALL_WORK_SECCOMP).toBe(0);
    await Promise.resolve();
  });

  it('raw_syscalls:sys_enter and syscalls:sys_enter_NAME still get the registers', () => {
    const k = bootKernel();
    const t = k.tasks.spawn({ comm: 'tp' });
    const raw: unknown[] = [];
    const named: unknown[] = [];
    const d1 = tracepointOf(k, 'raw_syscalls', 'sys_enter').attach((_t, v) => raw.push(v));
    const d2 = tracepointOf(k, 'syscalls', 'sys_enter_close').attach((_t, v) => named.push(v));
    const exits: unknown[] = [];
    const d3 = tracepointOf(k, 'raw_syscalls', 'sys_exit').attach((_t, v) => exits.push(v));
    syscall(k, t, 'close', [-1]);
    syscall(k, t, 'getpid', [], AUDIT_ARCH_I386);
    d1();
    d2();
    d3();
    syscall(k, t, 'close', [-1]);
    expect(raw).toEqual([
      { id: 3, args: [0xffff_ffff_ffff_ffffn, 0n, 0n, 0n, 0n, 0n] },
      { id: 20, args: [0n, 0n, 0n, 0n, 0n, 0n] },
    ]);
    expect(named).toEqual([{ __syscall_nr: 3, fd: 0xffff_ffff_ffff_ffffn }]);
    expect(exits).toEqual([{ id: 3, ret: -9 }, { id: 20, ret: t.tgid }]);
  });

  it('an unknown name is ENOSYS and is not cached', () => {
    const k = bootKernel();
    const t = k.tasks.spawn({ comm: 'nosys' });
    expect(syscall(k, t, 'no_such_call')).toBe(-38);
    expect(syscall(k, t, '#999', [], AUDIT_ARCH_X86_64, 999)).toBe(-38);
    expect(syscallsOf(k).entries.has('no_such_call')).toBe(false);
  });
});
