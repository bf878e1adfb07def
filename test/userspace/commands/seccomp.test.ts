// `bpfkern seccomp` as scripts call it: exact output lines.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { seccompCommand } from '../../../userspace/commands/seccomp.js';

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await seccompCommand.run(argv, { stdout: (t) => (out += t), stderr: (t) => (err += t), stdin: async () => '' });
  return { code, out, err };
}

const PROFILE = new URL('../../fixtures/profiles/docker-default.json', import.meta.url).pathname;
const PROG = '9,32 0 0 4,21 0 6 3221225534,32 0 0 0,21 0 1 39,6 0 0 2147418112,21 0 1 1,6 0 0 327693,6 0 0 196611,6 0 0 2147483648';

describe('bpfkern seccomp', () => {
  it('run prints one JSON line per syscall with UPPER case actions', async () => {
    const r = await cli('run', '--prog', PROG, '--syscall', '39', '--syscall', '1', '5', '0', '0', '--syscall', 'i386:20');
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.nr, l.action, l.data])).toEqual([[39, 'ALLOW', null], [1, 'ERRNO', 13], [20, 'KILL_PROCESS', null]]);
  });
  it('run reports a refused program by errno name', async () => {
    const r = await cli('run', '--prog', '1,32 0 0 6', '--syscall', '39');
    expect(JSON.parse(r.out)).toMatchObject({ action: 'INSTALL_FAILED', errno: 'EINVAL', filter: 0 });
    const r2 = await cli('run', '--prog', '1,6 0 0 0x7fff0000');
    expect(r2.out).toBe('{"installed":true}\n');
  });
  it('compile -ddd gives a program run accepts', async () => {
    const r = await cli('compile', PROFILE, '-ddd');
    expect(r.code).toBe(0);
    const prog = r.out.trim().split('\n').join(',');
    const n = Number(prog.split(',')[0]);
    expect(n).toBeGreaterThan(300);
    const run = await cli('run', '--prog', prog, '--syscall', '39', '--syscall', '165');
    expect(run.out.trim().split('\n').map((l) => (JSON.parse(l) as { action: string }).action)).toEqual(['ALLOW', 'ERRNO']);
  });
  it('compile -d prints a tcpdump -d listing', async () => {
    const r = await cli('compile', PROFILE, '-d');
    expect(r.out.split('\n')[0]).toMatch(/^\(000\) ld\s+\[4\]/);
  });
  it('check judges names with arguments and strace files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sc-'));
    const st = join(dir, 'trace.txt');
    writeFileSync(st, 'socket(40, SOCK_STREAM, 0) = -1 EPERM\n[pid 12] getpid() = 12\nmount("a", "b", NULL, 0, NULL) = -1\n');
    const r = await cli('check', PROFILE, '--syscall', 'socket:2,1,0', '--syscall', 'socket:40', '--strace', st);
    const got = r.out.trim().split('\n').map((l) => JSON.parse(l) as { syscall: string; action: string; data: number | null });
    expect(got.map((g) => [g.syscall, g.action, g.data])).toEqual([
      ['socket', 'ALLOW', null], ['socket', 'ERRNO', 1], ['socket', 'ERRNO', 1], ['getpid', 'ALLOW', null], ['mount', 'ERRNO', 1],
    ]);
  });
  it('usage errors exit 2', async () => {
    expect((await cli('frobnicate')).code).toBe(2);
    expect((await cli('run', '--syscall', '39')).code).toBe(2);
  });
});
