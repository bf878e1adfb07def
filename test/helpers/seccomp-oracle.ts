// The host kernel's seccomp as an oracle: test/oracle/seccomp_oracle.c, compiled at test
// time, installs classic filters in a throwaway thread and reports what its syscall saw.
import { spawnSync } from 'node:child_process';
import { compileCHelper } from './c-helper.js';

/** One line of seccomp_oracle's output (see the comment at the top of the C file). */
export type HostOutcome =
  | { kind: 'ret'; ret: number }
  | { kind: 'trap'; si_code: number; si_errno: number; si_syscall: number; si_arch: number }
  | { kind: 'kill_thread' }
  | { kind: 'kill_process'; signal: number }
  | { kind: 'install_failed'; filter: number; errno?: number; how?: 'trap' | 'kill_thread' | 'kill_process' }
  | { kind: 'error'; message: string };

export interface HostCase {
  /** Programs in tcpdump -ddd form, oldest first. */
  progs: readonly string[];
  /** `[i386:]NR ARG...` (ARG may be `self`). */
  syscall: string;
}

export type SeccompOracle =
  | { ok: true; i386: boolean; run: (cases: readonly HostCase[]) => HostOutcome[] }
  | { ok: false; reason: string };

let cached: SeccompOracle | null = null;

/** The oracle, or why the host cannot be asked (no gcc, seccomp unavailable). */
export function seccompOracle(): SeccompOracle {
  if (cached === null) cached = build();
  return cached;
}

function build(): SeccompOracle {
  if (process.arch !== 'x64') return { ok: false, reason: `host is ${process.arch}; the oracle's syscall numbers are x86_64` };
  const c = compileCHelper('seccomp_oracle', ['-pthread']);
  if (!c.ok) return c;
  const probe = spawnSync(c.bin, ['--probe'], { encoding: 'utf8' });
  let p: { seccomp: boolean; i386: boolean };
  try {
    p = JSON.parse(probe.stdout) as { seccomp: boolean; i386: boolean };
  } catch {
    return { ok: false, reason: `seccomp_oracle --probe failed: ${probe.stderr || `status ${probe.status}`}` };
  }
  if (!p.seccomp) return { ok: false, reason: 'the host refuses seccomp filters (kernel without CONFIG_SECCOMP_FILTER, or a container forbids it)' };
  const bin = c.bin;
  const run = (cases: readonly HostCase[]): HostOutcome[] => {
    const input = cases.map((k) => `${k.progs.join('|')};${k.syscall}`).join('\n') + '\n';
    const r = spawnSync(bin, [], { input, encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`seccomp_oracle failed: ${r.stderr || `status ${r.status}`}`);
    const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as HostOutcome);
    if (out.length !== cases.length) throw new Error(`seccomp_oracle answered ${out.length} of ${cases.length} cases`);
    return out;
  };
  return { ok: true, i386: p.i386, run };
}
