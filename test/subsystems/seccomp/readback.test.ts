/**
 * The debugfs readback of a task's seccomp chain (tasks/<pid>/seccomp): each filter as the
 * user wrote it — Linux keeps the original program (PTRACE_SECCOMP_GET_FILTER), so
 * `ld [k]` reads back as 32, not the checker's internal 33 — with a header carrying the
 * length, the install flags and the listener; writing the readback installs the same chain.
 */
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../../index.js';
import { parseClassic } from '../../../kernel/bpf/classic/text.js';
import { AUDIT_ARCH_X86_64, syscall } from '../../../kernel/syscall.js';
import { judge, parseFiltersText, seccompOf } from '../../../subsystems/seccomp/index.js';
import {
  SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO,
  SECCOMP_RET_USER_NOTIF, SECCOMP_SET_MODE_FILTER,
} from '../../../subsystems/seccomp/uapi.js';

const DBG = '/sys/kernel/debug/bpfkern/tasks';
// ld [0]; jeq 39 ? ERRNO|1 : ALLOW — and a second one on ld [4] (arch), ld #len, ldx #len.
const A = '4\n32 0 0 0\n21 0 1 39\n6 0 0 327681\n6 0 0 2147418112\n';
const B = '6\n32 0 0 4\n21 1 0 3221225534\n6 0 0 0\n128 0 0 0\n129 0 0 0\n6 0 0 2147418112\n';

const errno = (fn: () => void): string | undefined => {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
};

describe('tasks/<pid>/seccomp readback', () => {
  it('shows the programs as written (ld [k] = 32, ld #len = 128), newest first, with length and flags', () => {
    const k = bootKernel({ seed: 3 });
    const t = k.tasks.spawn({ comm: 'victim' });
    t.noNewPrivs = true;
    expect(syscall(k, t, 'seccomp', [SECCOMP_SET_MODE_FILTER, 0, { len: 4, filter: parseClassic(A) }])).toBe(0);
    expect(syscall(k, t, 'seccomp', [SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_LOG, { len: 6, filter: parseClassic(B) }])).toBe(0);
    const shown = k.fs.readFileSync(`${DBG}/${t.pid}/seccomp`, 'utf8');
    expect(shown).toBe(`# filter 0: 6 insns, flags 0x2 (log)\n${B}# filter 1: 4 insns, flags 0x0\n${A}`);
    // The running program is still the checked one (33, seccomp_data length immediates).
    expect(seccompOf(t).filter!.classic.map((f) => f.code)).toEqual([33, 21, 6, 0, 1, 6]);
    expect(seccompOf(t).filter!.orig.map((f) => f.code)).toEqual([32, 21, 6, 128, 129, 6]);

    // Written back to another task: the same chain, the same verdicts, the LOG flag kept.
    const u = k.tasks.spawn({ comm: 'restored' });
    k.fs.writeFileSync(`${DBG}/${u.pid}/seccomp`, shown);
    expect(k.fs.readFileSync(`${DBG}/${u.pid}/seccomp`, 'utf8')).toBe(shown);
    expect(seccompOf(u).filter!.log).toBe(true);
    expect(seccompOf(u).filter!.prev!.log).toBe(false);
    const args = [0n, 0n, 0n, 0n, 0n, 0n];
    for (const nr of [39, 102]) {
      const data = { nr, arch: AUDIT_ARCH_X86_64, instructionPointer: 0n, args };
      expect(judge(k, seccompOf(u).filter, data)).toBe(judge(k, seccompOf(t).filter, data));
    }
    expect(judge(k, seccompOf(u).filter, { nr: 39, arch: AUDIT_ARCH_X86_64, instructionPointer: 0n, args })).toBe(SECCOMP_RET_ERRNO | 1);
    expect(judge(k, seccompOf(u).filter, { nr: 39, arch: 0x40000003, instructionPointer: 0n, args })).toBe(0);
    expect(judge(k, seccompOf(u).filter, { nr: 1, arch: AUDIT_ARCH_X86_64, instructionPointer: 0n, args })).toBe(SECCOMP_RET_ALLOW);
  });

  it('shows a USER_NOTIF listener; restoring drops it (no fd to hand back)', () => {
    const k = bootKernel({ seed: 3 });
    const t = k.tasks.spawn({ comm: 'notif' });
    t.noNewPrivs = true;
    const prog = `1\n6 0 0 ${SECCOMP_RET_USER_NOTIF >>> 0}\n`;
    const fd = syscall(k, t, 'seccomp', [SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, { len: 1, filter: parseClassic(prog) }]);
    expect(fd).toBeGreaterThanOrEqual(0);
    const shown = k.fs.readFileSync(`${DBG}/${t.pid}/seccomp`, 'utf8');
    expect(shown).toBe(`# filter 0: 1 insns, flags 0x8 (new_listener), listener\n${prog}`);
    expect(parseFiltersText(shown)).toEqual([{ flags: 0, filter: parseClassic(prog) }]);
    const u = k.tasks.spawn({ comm: 'restored' });
    k.fs.writeFileSync(`${DBG}/${u.pid}/seccomp`, shown);
    expect(k.fs.readFileSync(`${DBG}/${u.pid}/seccomp`, 'utf8')).toBe(`# filter 0: 1 insns, flags 0x0\n${prog}`);
  });

  it('parses every section before installing: one bad program installs nothing', () => {
    const k = bootKernel({ seed: 3 });
    const t = k.tasks.spawn({ comm: 'victim' });
    const text = `# filter 0: 1 insns, flags 0x0\n1\n32 0 0 0\n# filter 1: 4 insns, flags 0x0\n${A}`;
    expect(errno(() => k.fs.writeFileSync(`${DBG}/${t.pid}/seccomp`, text))).toBe('EINVAL');
    expect(seccompOf(t).filter).toBeNull();
    // Text without a header is one program, in any classic text form.
    k.fs.writeFileSync(`${DBG}/${t.pid}/seccomp`, A.trim().split('\n').join(','));
    expect(k.fs.readFileSync(`${DBG}/${t.pid}/seccomp`, 'utf8')).toBe(`# filter 0: 4 insns, flags 0x0\n${A}`);
  });
});
