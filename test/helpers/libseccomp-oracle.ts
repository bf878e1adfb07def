// libseccomp as an oracle for the profile compiler: test/oracle/libseccomp_oracle.c, compiled
// at test time against the host's libseccomp (libseccomp-dev), builds the filter for an
// already resolved profile the way runc does and returns the classic program
// seccomp_export_bpf writes, plus how it resolved the rules' syscall names per arch.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { SockFilter } from '../../kernel/bpf/classic/isa.js';
import type { Profile } from '../../subsystems/seccomp/profile.js';
import { compileCHelper } from './c-helper.js';

/** libseccomp's arch names (seccomp_arch_resolve_name) for the profile's SCMP_ARCH_*. */
export const SCMP_ARCH_NAMES: Readonly<Record<string, string>> = {
  SCMP_ARCH_X86_64: 'x86_64',
  SCMP_ARCH_X86: 'x86',
  SCMP_ARCH_X32: 'x32',
  SCMP_ARCH_AARCH64: 'aarch64',
};

export interface OracleOptions {
  /** SCMP_FLTATR_CTL_OPTIMIZE (runc sets 2, the binary tree, for more than 32 rules). */
  optimize?: number;
  /** SCMP_FLTATR_ACT_BADARCH; libseccomp's default (KILL_THREAD) when absent. */
  badArchAction?: number;
}

export interface OracleResult {
  program: SockFilter[];
  /** arch (libseccomp's name) -> syscall name -> number (-1: unknown; < -1: a pseudo-syscall). */
  numbers: Map<string, Map<string, number>>;
  /** Rules runc would drop: `NAME default-action` or `NAME unknown`. */
  skipped: string[];
  /** Rules libseccomp refused: `LINE RC NAME`. */
  errors: string[];
  /** The input given to the oracle (for failure messages). */
  input: string;
}

export type LibseccompOracle =
  | { ok: true; version: string; compile: (profile: Profile, opts?: OracleOptions) => OracleResult }
  | { ok: false; reason: string };

let cached: LibseccompOracle | null = null;

export function libseccompOracle(): LibseccompOracle {
  if (cached === null) cached = build();
  return cached;
}

function libseccompVersion(): string {
  const r = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'libseccomp-dev'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

function build(): LibseccompOracle {
  if (process.platform !== 'linux') return { ok: false, reason: `host is ${process.platform}, not Linux` };
  if (!existsSync('/usr/include/seccomp.h')) {
    return { ok: false, reason: 'libseccomp-dev is not installed (no /usr/include/seccomp.h); scripts/system-deps.sh installs it' };
  }
  // --no-as-needed: compileCHelper puts the flags before the source file.
  const c = compileCHelper('libseccomp_oracle', ['-Wl,--no-as-needed', '-lseccomp']);
  if (!c.ok) return c;
  const bin = c.bin;
  const compile = (profile: Profile, opts: OracleOptions = {}): OracleResult => {
    const input = oracleInput(profile, opts);
    const r = spawnSync(bin, [], { input, encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`libseccomp_oracle failed: ${r.stderr || `status ${r.status}`}`);
    return parseOutput(r.stdout, input);
  };
  return { ok: true, version: libseccompVersion(), compile };
}

/**
 * runc's getAction (libcontainer/seccomp/seccomp_linux.go) as libseccomp values, kept apart
 * from profile.ts's parseAction so that the two are compared too: ERRNO and TRACE without
 * errnoRet are EPERM (runtime-spec's default), KILL is KILL_THREAD.
 */
export function runcAction(name: string, errnoRet: number | undefined): number {
  const data = (errnoRet ?? 1) & 0xffff;
  const acts: Record<string, number> = {
    SCMP_ACT_KILL: 0, SCMP_ACT_KILL_THREAD: 0, SCMP_ACT_KILL_PROCESS: 0x80000000, SCMP_ACT_TRAP: 0x30000,
    SCMP_ACT_ERRNO: 0x50000 | data, SCMP_ACT_TRACE: 0x7ff00000 | data, SCMP_ACT_LOG: 0x7ffc0000,
    SCMP_ACT_ALLOW: 0x7fff0000, SCMP_ACT_NOTIFY: 0x7fc00000,
  };
  const a = acts[name];
  if (a === undefined) throw new Error(`runcAction: unknown action ${name}`);
  return a >>> 0;
}

/** The oracle's line format for a resolved profile (no includes/excludes left). */
export function oracleInput(profile: Profile, opts: OracleOptions = {}): string {
  const lines: string[] = [];
  const defaultAction = runcAction(profile.defaultAction, profile.defaultErrnoRet);
  lines.push(`default ${defaultAction >>> 0}`);
  if (opts.badArchAction !== undefined) lines.push(`badarch ${opts.badArchAction >>> 0}`);
  if (opts.optimize !== undefined) lines.push(`optimize ${opts.optimize}`);
  for (const a of profile.architectures ?? []) {
    const n = SCMP_ARCH_NAMES[a];
    if (n !== undefined) lines.push(`arch ${n}`);
  }
  const names = new Set<string>();
  for (const s of profile.syscalls ?? []) {
    if (s.includes || s.excludes) throw new Error('oracleInput: resolve includes/excludes first');
    const action = runcAction(s.action, s.errnoRet);
    const args = s.args ?? [];
    const conds = args.map((a) => {
      const op = a.op.replace(/^SCMP_CMP_/, '');
      return `${a.index} ${op} ${BigInt.asUintN(64, BigInt(a.value))} ${BigInt.asUintN(64, BigInt(a.valueTwo ?? 0))}`;
    });
    for (const name of s.names) {
      names.add(name);
      lines.push(`rule ${action} ${name} ${args.length}${conds.length ? ' ' + conds.join(' ') : ''}`);
    }
  }
  for (const n of names) lines.push(`resolve ${n}`);
  return lines.join('\n') + '\n';
}

function parseOutput(out: string, input: string): OracleResult {
  const numbers = new Map<string, Map<string, number>>();
  const skipped: string[] = [];
  const errors: string[] = [];
  const program: SockFilter[] = [];
  let want = -1;
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const w = line.split(' ');
    if (want >= 0) {
      program.push({ code: Number(w[0]), jt: Number(w[1]), jf: Number(w[2]), k: Number(w[3]) >>> 0 });
      continue;
    }
    switch (w[0]) {
      case 'nr': {
        let m = numbers.get(w[1]!);
        if (!m) numbers.set(w[1]!, (m = new Map()));
        m.set(w[2]!, Number(w[3]));
        break;
      }
      case 'skip':
        skipped.push(w.slice(1).join(' '));
        break;
      case 'error':
        errors.push(w.slice(1).join(' '));
        break;
      case 'bpf':
        want = Number(w[1]);
        break;
      default:
        throw new Error(`libseccomp_oracle: unexpected line ${line}`);
    }
  }
  if (want < 0 || program.length !== want) throw new Error(`libseccomp_oracle: program of ${program.length} instructions, announced ${want}`);
  return { program, numbers, skipped, errors, input };
}
