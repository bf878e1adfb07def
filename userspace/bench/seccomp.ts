/**
 * Cost of one syscall (getpid) through the entry with: no filter, a 1-rule filter and
 * Docker's default profile (compiled by bpfkern's profile compiler, in runc's binary-tree
 * layout and in libseccomp's default jeq chain), on the interpreter
 * and the JIT (bpf_jit_enable 0 / 1), next to the host kernel running the very same cBPF:
 * test/oracle/seccomp_oracle.c --bench, compiled with gcc at bench time (the column says
 * why when it cannot be built or run).
 *
 * Each bpfkern figure is measured in its own worker thread (a fresh V8 isolate), so one
 * case's type feedback does not slow the next; it is the best of several timed rounds of
 * N calls after a warm-up. The host figure is the best of 5 rounds of N raw getpid calls.
 *
 * Goals: the entry without a filter stays under 100 ns, and a short filter costs less
 * than the syscall entry itself on the JIT.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { bootKernel } from '../../index.js';
import { formatDdd } from '../../kernel/bpf/classic/text.js';
import { syscall } from '../../kernel/syscall.js';
import { compileProfile, type Profile } from '../../subsystems/seccomp/profile.js';
import { SECCOMP_SET_MODE_FILTER } from '../../subsystems/seccomp/uapi.js';
import type { Bench } from './run.js';
import { bestNsPerCall } from './timing.js';

const N = 200_000;
const ROUNDS = 5;

type Insn = { code: number; jt: number; jf: number; k: number };

interface Job {
  jit: 0 | 1;
  prog: Insn[] | null;
}

/** ns per getpid in a fresh kernel with `prog` installed (in this isolate). */
function measure({ jit, prog }: Job): number {
  const k = bootKernel();
  k.sysctl.bpfJitEnable = jit;
  const t = k.tasks.spawn({ comm: 'bench' });
  if (prog) {
    t.noNewPrivs = true;
    const r = syscall(k, t, 'seccomp', [SECCOMP_SET_MODE_FILTER, 0, { len: prog.length, filter: prog }]);
    if (r !== 0) throw new Error(`seccomp install failed: ${String(r)}`);
  }
  for (let i = 0; i < N / 4; i++) syscall(k, t, 'getpid');
  return bestNsPerCall(() => syscall(k, t, 'getpid'), N, ROUNDS);
}

function inWorker(job: Job): Promise<number> {
  return new Promise((resolve, reject) => {
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: job });
    w.once('message', (ns: number) => resolve(ns));
    w.once('error', reject);
    w.once('exit', (code) => {
      if (code !== 0) reject(new Error(`bench worker exited with ${code}`));
    });
  });
}

if (!isMainThread && parentPort && (workerData as Job | undefined)?.jit !== undefined) {
  parentPort.postMessage(measure(workerData as Job));
}

/** The host's ns per getpid for each program (null: no filter), or why there is none. */
function hostFigures(progs: readonly (Insn[] | null)[]): { ns: (number | null)[]; reason: string } {
  const none = { ns: progs.map(() => null), reason: '' };
  if (process.platform !== 'linux' || process.arch !== 'x64') return { ...none, reason: `host is ${process.platform}/${process.arch}, not Linux x86_64` };
  const src = fileURLToPath(new URL('../../../test/oracle/seccomp_oracle.c', import.meta.url));
  const bin = join(mkdtempSync(join(tmpdir(), 'bpfkern-seccomp-bench-')), 'seccomp_oracle');
  try {
    execFileSync('gcc', ['-O2', '-pthread', '-o', bin, src], { stdio: 'pipe' });
  } catch (e) {
    return { ...none, reason: `no host column: cannot compile ${src} with gcc (${(e as Error).message.split('\n')[0]})` };
  }
  const ns: (number | null)[] = [];
  for (const prog of progs) {
    const args = ['--bench', String(N), ...(prog ? [formatDdd(prog).trim().split('\n').join(',')] : [])];
    const r = spawnSync(bin, args, { encoding: 'utf8' });
    let out: { ns_per_call?: number; error?: string } = {};
    try {
      out = JSON.parse(r.stdout) as typeof out;
    } catch {
      out = { error: r.stderr.trim() || `status ${r.status}` };
    }
    if (out.ns_per_call === undefined) return { ...none, reason: `no host column: the host refused the filter (${out.error ?? 'no answer'})` };
    ns.push(out.ns_per_call);
  }
  return { ns, reason: '' };
}

export const seccompBench: Bench = {
  name: 'seccomp',
  run: async (out) => {
    const docker = JSON.parse(readFileSync(new URL('../../../test/fixtures/profiles/docker-default.json', import.meta.url), 'utf8')) as Profile;
    const oneRule: Insn[] = [
      { code: 0x20, jt: 0, jf: 0, k: 0 }, { code: 0x15, jt: 0, jf: 1, k: 2 },
      { code: 0x06, jt: 0, jf: 0, k: 0x50001 }, { code: 0x06, jt: 0, jf: 0, k: 0x7fff0000 },
    ];
    const insns = (p: readonly Insn[]): Insn[] => p.map((f) => ({ code: f.code, jt: f.jt, jf: f.jf, k: f.k }));
    // runc's layout for it (binary tree on the number) and libseccomp's default (a jeq chain).
    const dockerProg = insns(compileProfile(docker).program);
    const dockerLinear = insns(compileProfile(docker, { optimize: 1 }).program);
    const cases: [string, Insn[] | null][] = [
      ['none', null], ['1 rule', oneRule],
      [`docker-default (${dockerProg.length} insns)`, dockerProg],
      [`  linear layout (${dockerLinear.length})`, dockerLinear],
    ];
    const host = hostFigures(cases.map(([, p]) => p));
    out(`getpid, ns per syscall (best of ${ROUNDS} x ${N})`);
    out(`${'filter'.padEnd(30)}${'interp'.padStart(10)}${'jit'.padStart(10)}${'host'.padStart(10)}`);
    for (let i = 0; i < cases.length; i++) {
      const [name, prog] = cases[i]!;
      const interp = await inWorker({ jit: 0, prog });
      const jit = await inWorker({ jit: 1, prog });
      const h = host.ns[i];
      out(`${name.padEnd(30)}${interp.toFixed(0).padStart(10)}${jit.toFixed(0).padStart(10)}${(h === null || h === undefined ? '-' : h.toFixed(0)).padStart(10)}`);
    }
    if (host.reason) out(host.reason);
    out('goal: no filter under 100 ns; a short filter costs less than the syscall entry itself (JIT)');
  },
};
