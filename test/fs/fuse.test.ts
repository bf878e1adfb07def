// FUSE integration: `bpfkern mount DIR --workload idle` in a child process, driven by
// real shell commands. The FUSE server must not share a process with a synchronous
// shell call (it would deadlock), so everything here is async child_process. Skips,
// saying why, where /dev/fuse or libfuse2 is missing; always unmounts in afterAll.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, exited, fuseProblem, mounted, sh, startMount } from '../helpers/fuse.js';

const problem = fuseProblem();
if (problem) console.warn(`skipping FUSE tests: ${problem}`);

describe.skipIf(problem !== null)('bpfkern mount (FUSE)', () => {
  const base = mkdtempSync(join(tmpdir(), 'bpfkern-fuse-'));
  const mnt = join(base, 'mnt');
  let child: ChildProcess | null = null;

  beforeAll(async () => {
    child = await startMount(mnt);
  });
  afterAll(async () => {
    await cleanup(child, mnt);
    rmSync(base, { recursive: true, force: true });
  });

  it('shows the tree', async () => {
    const r = await sh(`ls '${mnt}'; ls '${mnt}/sys/kernel/debug/bpfkern'`);
    expect(r.stdout.split('\n')).toEqual(expect.arrayContaining(['proc', 'sys', 'tmp', 'etc', 'home', 'programs', 'sockets']));
  });

  it('echo into a sysctl changes it; cat reads it back', async () => {
    const p = `${mnt}/proc/sys/net/core/bpf_jit_enable`;
    expect((await sh(`sh -c 'echo 2 > ${p}' && cat ${p}`)).stdout).toBe('2\n');
    expect((await sh(`echo 0 > ${p}; cat ${p}`)).stdout).toBe('0\n');
  });

  it('a bad value gives the shell "write error: Invalid argument" and keeps the old one', async () => {
    const p = `${mnt}/proc/sys/net/core/bpf_jit_enable`;
    await sh(`echo 1 > ${p}`);
    const r = await sh(`echo 7 > ${p}`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('write error: Invalid argument');
    expect((await sh(`cat ${p}`)).stdout).toBe('1\n');
  });

  it('/proc/<pid>/status is readable with cat', async () => {
    const r = await sh(`for d in '${mnt}'/proc/[0-9]*; do cat $d/status; done`);
    expect(r.stdout).toMatch(/^Name:\tinit$/m);
    expect(r.stdout).toMatch(/^Seccomp:\t\d$/m);
  });

  it('ordinary files: cp, cat, append, mkdir, mv, rm', async () => {
    const t = `${mnt}/tmp`;
    const r = await sh(
      `set -e; printf 'abc' > ${t}/f; echo d >> ${t}/f; cat ${t}/f; mkdir ${t}/d; mv ${t}/f ${t}/d/g; ls ${t}/d; cp ${t}/d/g ${t}/h; rm ${t}/d/g; rmdir ${t}/d; cat ${t}/h; ls ${t}`,
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('abcd\ng\nabcd\nh\n');
  });

  it('errno passes through: ENOENT, and EPERM for mkdir in procfs', async () => {
    expect((await sh(`cat ${mnt}/proc/nope`)).stderr).toContain('No such file or directory');
    expect((await sh(`mkdir ${mnt}/proc/sys/x`)).stderr).toMatch(/Operation not permitted/);
  });

  it('cat trace_pipe streams and ends on Ctrl-C (when tracefs is there)', async (ctx) => {
    const tr = `${mnt}/sys/kernel/tracing`;
    if (!existsSync(`${tr}/trace_pipe`) || !existsSync(`${tr}/trace_marker`)) ctx.skip();
    const cat = spawn('cat', [`${tr}/trace_pipe`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    cat.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((r) => setTimeout(r, 300));
    await sh(`echo hello-from-test > ${tr}/trace_marker`);
    for (let i = 0; i < 50 && !out.includes('hello-from-test'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(out).toContain('hello-from-test');
    cat.kill('SIGINT');
    expect(await exited(cat, 3000)).not.toBe(undefined);
    expect(cat.exitCode !== null || cat.signalCode !== null).toBe(true);
  });

  it('unmounts cleanly on SIGINT', async () => {
    const c = child!;
    c.kill('SIGINT');
    const code = await exited(c, 10_000);
    expect(code).toBe(0);
    expect(mounted(mnt)).toBe(false);
  });
});

describe.skipIf(problem !== null)('bpfkern mount after a killed run', () => {
  const base = mkdtempSync(join(tmpdir(), 'bpfkern-fuse-'));
  const mnt = join(base, 'mnt');
  let child: ChildProcess | null = null;
  afterAll(async () => {
    await cleanup(child, mnt);
    rmSync(base, { recursive: true, force: true });
  });

  it('cleans the stale mount and mounts again', async () => {
    const first = await startMount(mnt);
    first.kill('SIGKILL');
    await exited(first, 5000);
    child = await startMount(mnt);
    expect((await sh(`cat ${mnt}/proc/sys/net/core/bpf_jit_harden`)).stdout).toBe('0\n');
  });
});
