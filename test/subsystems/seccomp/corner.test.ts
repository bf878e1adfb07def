// The seccomp behaviours observed on Linux 6.18 (shared/oracle/README.md), through the
// same path a program takes: a mini-OS task installs the filters and makes the syscall.
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../../index.js';
import { parseDdd, runOne, type SyscallSpec } from '../../../userspace/seccomp/run.js';

const ret = (k: number): string => `1,6 0 0 ${k >>> 0}`;
// Returns K for getpid (39) and ALLOW for the rest (so later installs still work).
const on39 = (k: number): string => `4,32 0 0 0,21 0 1 39,6 0 0 ${k >>> 0},6 0 0 ${0x7fff0000}`;
const sc = (nr: number, ...args: number[]): SyscallSpec => ({ arch: 'x86_64', nr, args: args.map(BigInt) });

const README_PROG =
  '9,32 0 0 4,21 0 6 3221225534,32 0 0 0,21 0 1 39,6 0 0 2147418112,21 0 1 1,6 0 0 327693,6 0 0 196611,6 0 0 2147483648';

const cases: { name: string; progs: string[]; call: SyscallSpec; want: Record<string, unknown> }[] = [
  { name: 'ALLOW getpid', progs: [README_PROG], call: sc(39), want: { action: 'ALLOW', data: null } },
  { name: 'ERRNO 13 on write', progs: [README_PROG], call: sc(1, 5, 0, 0), want: { action: 'ERRNO', data: 13, ret: -13 } },
  { name: 'TRAP 3 on open', progs: [README_PROG], call: sc(2), want: { action: 'TRAP', data: 3, si_code: 1, si_errno: 3, si_syscall: 2, si_arch: '0xc000003e' } },
  { name: 'i386 call is killed', progs: [README_PROG], call: { arch: 'i386', nr: 20, args: [] }, want: { action: 'KILL_PROCESS', signal: 31 } },
  { name: 'ERRNO tie: newer wins', progs: [on39(0x50001), on39(0x50002)], call: sc(39), want: { action: 'ERRNO', data: 2 } },
  { name: 'TRACE tie: newer wins, no tracer -> ENOSYS', progs: [on39(0x7ff00001), on39(0x7ff00002)], call: sc(39), want: { action: 'TRACE', data: 2, ret: -38 } },
  { name: 'LOG beats ALLOW', progs: [ret(0x7fff0000), ret(0x7ffc0000)], call: sc(39), want: { action: 'LOG' } },
  { name: 'LOG beats ALLOW (other order)', progs: [ret(0x7ffc0000), ret(0x7fff0000)], call: sc(39), want: { action: 'LOG' } },
  { name: 'unknown 0x7ffd0000 with ALLOW kills', progs: [on39(0x7ffd0000), on39(0x7fff0000)], call: sc(39), want: { action: 'KILL_PROCESS', signal: 31 } },
  { name: 'unknown 0x7ffd0000 with LOG gives LOG', progs: [on39(0x7ffd0000), on39(0x7ffc0000)], call: sc(39), want: { action: 'LOG' } },
  { name: 'unknown 0x7ff80000 with LOG kills', progs: [on39(0x7ff80000), on39(0x7ffc0000)], call: sc(39), want: { action: 'KILL_PROCESS' } },
  { name: '0x00060000 kills', progs: [ret(0x00060000)], call: sc(39), want: { action: 'KILL_PROCESS' } },
  { name: 'ERRNO clamped to 4095', progs: [ret(0x5ffff)], call: sc(39), want: { action: 'ERRNO', data: 4095, ret: -4095 } },
  { name: 'ERRNO|0 returns 0', progs: [ret(0x50000)], call: sc(39), want: { action: 'ERRNO', data: 0, ret: 0 } },
  { name: 'ERRNO on everything fails the next install', progs: [ret(0x50001), ret(0x50002)], call: sc(39), want: { action: 'INSTALL_FAILED', filter: 1, errno: 'EPERM' } },
  { name: 'ALLOW data ignored', progs: [ret(0x7fff1234)], call: sc(39), want: { action: 'ALLOW' } },
  { name: 'USER_NOTIF without listener -> ENOSYS', progs: [ret(0x7fc00000)], call: sc(39), want: { action: 'USER_NOTIF', ret: -38 } },
  { name: 'KILL_THREAD in a 2-thread process', progs: [ret(0)], call: sc(39), want: { action: 'KILL_THREAD', signal: 31 } },
  { name: 'KILL_PROCESS beats TRAP', progs: [on39(0x30001), on39(0x80000000)], call: sc(39), want: { action: 'KILL_PROCESS' } },
  { name: 'first filter kills the second install', progs: [ret(0), ret(0x7fff0000)], call: sc(39), want: { action: 'INSTALL_FAILED' } },
  { name: 'i386 TRAP reports AUDIT_ARCH_I386', progs: [ret(0x30007)], call: { arch: 'i386', nr: 20, args: [] }, want: { action: 'TRAP', si_arch: '0x40000003', si_syscall: 20 } },
  { name: 'bad filter: EINVAL', progs: ['1,32 0 0 6'], call: sc(39), want: { action: 'INSTALL_FAILED', errno: 'EINVAL' } },
];

describe('seccomp corner cases (oracle README)', () => {
  it.each(cases)('$name', async ({ progs, call, want }) => {
    const k = bootKernel();
    const out = await runOne(k, progs.map(parseDdd), call);
    expect(out).toMatchObject(want);
  });
  it('ALLOW runs the call: getpid returns the worker pid', async () => {
    const k = bootKernel();
    const out = await runOne(k, [parseDdd(ret(0x7fff0000))], sc(39));
    expect(out.ret).toBeGreaterThan(1000);
  });
});
