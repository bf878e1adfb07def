// procfs through kernel.fs: sysctls change kernel.sysctl, bad values are EINVAL and keep
// the old value, /proc/<pid>/status has Linux's lines, non-root tasks get EACCES.
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../index.js';
import { userCred } from '../../kernel/task.js';

const JIT = '/proc/sys/net/core/bpf_jit_enable';

function errOf(fn: () => unknown): { code?: string; message: string } {
  try {
    fn();
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error('expected an error');
}

describe('procfs sysctls', () => {
  it('bpf_jit_enable reads and writes kernel.sysctl', () => {
    const k = bootKernel();
    expect(k.fs.readFileSync(JIT, 'utf8')).toBe(`${k.sysctl.bpfJitEnable}\n`);
    for (const v of [0, 2, 1] as const) {
      k.fs.writeFileSync(JIT, `${v}\n`);
      expect(k.sysctl.bpfJitEnable).toBe(v);
      expect(k.fs.readFileSync(JIT, 'utf8')).toBe(`${v}\n`);
    }
  });

  it.each(['3', '-1', 'abc', '', '1x', '0x1'])('rejects %j with EINVAL and keeps the old value', (bad) => {
    const k = bootKernel();
    k.fs.writeFileSync(JIT, '2');
    const e = errOf(() => k.fs.writeFileSync(JIT, bad));
    expect(e.code).toBe('EINVAL');
    expect(k.sysctl.bpfJitEnable).toBe(2);
  });

  it('bpf_jit_harden takes 0..2', () => {
    const k = bootKernel();
    k.fs.writeFileSync('/proc/sys/net/core/bpf_jit_harden', '2');
    expect(k.sysctl.bpfJitHarden).toBe(2);
    expect(errOf(() => k.fs.writeFileSync('/proc/sys/net/core/bpf_jit_harden', '7')).code).toBe('EINVAL');
    expect(k.sysctl.bpfJitHarden).toBe(2);
  });

  it('unprivileged_bpf_disabled locks at 1 (EPERM to leave it)', () => {
    const k = bootKernel();
    const p = '/proc/sys/kernel/unprivileged_bpf_disabled';
    k.fs.writeFileSync(p, '0');
    expect(k.sysctl.unprivilegedBpfDisabled).toBe(0);
    k.fs.writeFileSync(p, '1');
    expect(errOf(() => k.fs.writeFileSync(p, '0')).code).toBe('EPERM');
    expect(k.sysctl.unprivilegedBpfDisabled).toBe(1);
  });

  it('a non-root task cannot write sysctls (EACCES) but can read them', () => {
    const k = bootKernel();
    const t = k.tasks.spawn({ comm: 'user', cred: userCred(1000) });
    const fs = k.fs.as(t);
    expect(fs.readFileSync(JIT, 'utf8')).toMatch(/^[012]\n$/);
    const e = errOf(() => fs.writeFileSync(JIT, '0'));
    expect(e.code).toBe('EACCES');
    expect(k.sysctl.bpfJitEnable).toBe(1);
  });

  it('seccomp actions_avail and actions_logged', () => {
    const k = bootKernel();
    const base = '/proc/sys/kernel/seccomp';
    expect(k.fs.readFileSync(`${base}/actions_avail`, 'utf8')).toBe(
      'kill_process kill_thread trap errno user_notif trace log allow\n',
    );
    expect(k.fs.readFileSync(`${base}/actions_logged`, 'utf8')).toBe(
      'kill_process kill_thread trap errno user_notif trace log\n',
    );
    k.fs.writeFileSync(`${base}/actions_logged`, 'errno kill_process\n');
    expect(k.fs.readFileSync(`${base}/actions_logged`, 'utf8')).toBe('kill_process errno\n');
    expect(errOf(() => k.fs.writeFileSync(`${base}/actions_logged`, 'allow')).code).toBe('EINVAL');
    expect(errOf(() => k.fs.writeFileSync(`${base}/actions_logged`, 'bogus')).code).toBe('EINVAL');
    expect(k.fs.readFileSync(`${base}/actions_logged`, 'utf8')).toBe('kill_process errno\n');
  });
});

describe('/proc/<pid>', () => {
  it('status has the Linux lines in order', () => {
    const k = bootKernel();
    const parent = k.tasks.spawn({ comm: 'bash' });
    const t = k.tasks.spawn({ comm: 'nginx', cred: userCred(33), parent });
    t.noNewPrivs = true;
    const s = k.fs.readFileSync(`/proc/${t.pid}/status`, 'utf8');
    const lines = s.split('\n');
    expect(lines[0]).toBe('Name:\tnginx');
    expect(s).toContain(`\nState:\tR (running)\n`);
    expect(s).toContain(`\nTgid:\t${t.pid}\n`);
    expect(s).toContain(`\nPid:\t${t.pid}\n`);
    expect(s).toContain(`\nPPid:\t${parent.pid}\n`);
    expect(s).toContain('\nUid:\t33\t33\t33\t33\n');
    expect(s).toContain('\nGid:\t33\t33\t33\t33\n');
    expect(s).toContain('\nNoNewPrivs:\t1\n');
    expect(s).toMatch(/\nSeccomp:\t[012]\n/);
    expect(s).toMatch(/\nSeccomp_filters:\t\d+\n/);
    const keys = lines.filter((l) => l).map((l) => l.split(':')[0]);
    expect(keys.indexOf('Name')).toBeLessThan(keys.indexOf('State'));
    expect(keys.indexOf('Pid')).toBeLessThan(keys.indexOf('PPid'));
    expect(keys.indexOf('NoNewPrivs')).toBeLessThan(keys.indexOf('Seccomp'));
    expect(keys.indexOf('Seccomp')).toBeLessThan(keys.indexOf('Seccomp_filters'));
  });

  it('comm reads and renames; lists pids; ENOENT for unknown pids', () => {
    const k = bootKernel();
    const t = k.tasks.spawn({ comm: 'sleep' });
    expect(k.fs.readFileSync(`/proc/${t.pid}/comm`, 'utf8')).toBe('sleep\n');
    k.fs.writeFileSync(`/proc/${t.pid}/comm`, 'a-very-long-name-indeed\n');
    expect(t.comm).toBe('a-very-long-nam');
    expect(k.fs.readdirSync('/proc')).toContain(String(t.pid));
    expect(errOf(() => k.fs.readFileSync('/proc/999999/status')).code).toBe('ENOENT');
  });

  it('/proc/self is the calling task', () => {
    const k = bootKernel();
    const t = k.tasks.spawn({ comm: 'sshd' });
    expect(k.fs.as(t).readFileSync('/proc/self/comm', 'utf8')).toBe('sshd\n');
    expect(k.fs.existsSync('/proc/self')).toBe(false); // the host is no task
  });
});

describe('seccomp through files', () => {
  // ld [0] (nr); jeq 39 (getpid) ? ret ERRNO|1 : ret ALLOW
  const PROG = '4\n32 0 0 0\n21 0 1 39\n6 0 0 327681\n6 0 0 2147418112\n';

  it('debugfs tasks/<pid>/seccomp installs a filter that /proc/<pid>/status counts', () => {
    const k = bootKernel();
    const t = k.tasks.spawn({ comm: 'victim' });
    const ctl = `/sys/kernel/debug/bpfkern/tasks/${t.pid}/seccomp`;
    expect(k.fs.readFileSync(ctl, 'utf8')).toBe('# no filter (seccomp mode 0)\n');
    k.fs.writeFileSync(ctl, PROG);
    k.fs.writeFileSync(ctl, PROG);
    const s = k.fs.readFileSync(`/proc/${t.pid}/status`, 'utf8');
    expect(s).toContain('\nSeccomp:\t2\n');
    expect(s).toContain('\nSeccomp_filters:\t2\n');
    // Shown as written (Linux keeps the original for PTRACE_SECCOMP_GET_FILTER): ld [0] stays 32,
    // not seccomp_check_filter's private LDX|W|ABS (33).
    const shown = k.fs.readFileSync(ctl, 'utf8');
    expect(shown).toBe(`# filter 0: 4 insns, flags 0x0\n${PROG}# filter 1: 4 insns, flags 0x0\n${PROG}`);
    // The readback installs the same chain on another task.
    const u = k.tasks.spawn({ comm: 'copy' });
    k.fs.writeFileSync(`/sys/kernel/debug/bpfkern/tasks/${u.pid}/seccomp`, shown);
    expect(k.fs.readFileSync(`/sys/kernel/debug/bpfkern/tasks/${u.pid}/seccomp`, 'utf8')).toBe(shown);
  });

  it('a bad program is EINVAL and installs nothing', () => {
    const k = bootKernel();
    const t = k.tasks.spawn({ comm: 'victim' });
    const ctl = `/sys/kernel/debug/bpfkern/tasks/${t.pid}/seccomp`;
    expect(errOf(() => k.fs.writeFileSync(ctl, '1\n32 0 0 0\n')).code).toBe('EINVAL'); // no ret
    expect(k.fs.readFileSync(`/proc/${t.pid}/status`, 'utf8')).toContain('\nSeccomp:\t0\n');
  });
});
