// Helpers for tests that mount bpfkern with FUSE in a child process
// (`node dist/userspace/bin/bpfkern.js mount DIR`) and drive it with real shell commands.
// Everything is async child_process: a FUSE server and a synchronous exec in the same
// process deadlock. dist/ must be built (test/global-setup.ts does it).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isFuseProblem, loadFuse } from '../../fs/fuse/index.js';

export const repoRoot = resolve(__dirname, '../..');
export const cli = join(repoRoot, 'dist/userspace/bin/bpfkern.js');

/** Why FUSE tests cannot run here (no /dev/fuse, no libfuse2...), or null when they can. */
export function fuseProblem(): string | null {
  const fuse = loadFuse();
  return isFuseProblem(fuse) ? `${fuse.reason} (${fuse.fix})` : null;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a bash script (async, bounded); never rejects. Exit code 124 on timeout. */
export function sh(script: string, timeout = 10_000): Promise<Run> {
  return new Promise((res) => {
    execFile('bash', ['-c', script], { timeout }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 124) : 0;
      res({ code, stdout, stderr });
    });
  });
}

/** Single-quotes a string for bash. */
export function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function mounted(dir: string): boolean {
  return readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === dir);
}

export interface MountOptions {
  /** --workload (default idle). */
  workload?: string;
  /** More arguments: --seed, --interval... */
  extra?: string[];
}

/** Starts `bpfkern mount DIR` and resolves once it prints that it is mounted. */
export function startMount(dir: string, opts: MountOptions | string[] = {}): Promise<ChildProcess> {
  const o: MountOptions = Array.isArray(opts) ? { extra: opts } : opts;
  const args = [cli, 'mount', dir, '--workload', o.workload ?? 'idle', ...(o.extra ?? [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
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

/** Resolves with the exit code once `child` exits, or null after `ms`. */
export function exited(child: ChildProcess, ms: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((res) => {
    const t = setTimeout(() => res(null), ms);
    child.once('exit', (code) => {
      clearTimeout(t);
      res(code);
    });
  });
}

/** Stops the mount (SIGINT, then SIGKILL) and makes sure nothing stays mounted on dir. */
export async function cleanup(child: ChildProcess | null, dir: string): Promise<void> {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGINT');
    if ((await exited(child, 5000)) === null) child.kill('SIGKILL');
  }
  if (mounted(dir)) await sh(`fusermount -uz '${dir}'`);
}

/** Polls `probe` until it returns a value other than undefined, or throws after `ms`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 10_000, every = 50): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}
