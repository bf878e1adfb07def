// FUSE integration: `bpfkern mount DIR --workload idle` in a child process, driven by
// real shell commands. The FUSE server must not share a process with a synchronous
// shell call (it would deadlock), so everything here is async child_process. Skips,
// saying why, where /dev/fuse or libfuse2 is missing; always unmounts in afterAll.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFuseProblem, loadFuse } from '../../fs/fuse/index.js';

const root = resolve(__dirname, '../..');
const cli = join(root, 'dist/userspace/bin/bpfkern.js');
const fuse = loadFuse();
const problem = isFuseProblem(fuse) ? `${fuse.reason} (${fuse.fix})` : null;
if (problem) console.warn(`skipping FUSE tests: ${problem}`);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function sh(script: string, timeout = 10_000): Promise<Run> {
  return new Promise((res) => {
    execFile('bash', ['-c', script], { timeout }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 124) : 0;
      res({ code, stdout, stderr });
    });
  });
}

function mounted(dir: string): boolean {
  return readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === dir);
}

/** Starts `bpfkern mount` and resolves once it prints that it is mounted. */
function startMount(dir: string, extra: string[] = []): Promise<ChildProcess> {
  const child = spawn(process.execPath, [cli, 'mount', dir, '--workload', 'idle', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((res, rej) => {
    let out = '';
    let err = '';
    const t = setTimeout(() => rej(new Error(`mount did not come up: ${out} ${err}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('mounted on')) {
        clearTimeout(t);
        res(child);
      }
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(t);
      rej(new Error(`mount exited ${code}: ${err}`));
    });
  });
}

function exited(child: ChildProcess, ms: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((res) => {
    const t = setTimeout(() => res(null), ms);
    child.once('exit', (code) => {
      clearTimeout(t);
      res(code);
    });
  });
}

async function cleanup(child: ChildProcess | null, dir: string): Promise<void> {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGINT');
    if ((await exited(child, 5000)) === null) child.kill('SIGKILL');
  }
  if (mounted(dir)) await sh(`fusermount -uz '${dir}'`);
}

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
