/**
 * `bpfkern seccomp` — syscall filters and OCI/Docker profiles (EXACT syntax; scripts rely on it):
 *
 *   bpfkern seccomp compile PROFILE.json [-d|-ddd] [--caps CAP,...] [--kernel 6.18]
 *       the cBPF libseccomp would load: -d as tcpdump -d (the default), -ddd as `N,code jt jf k,...`
 *   bpfkern seccomp check PROFILE.json --syscall NAME[:ARG0,...] [--syscall ...] [--strace FILE]
 *       one JSON line per call: {"syscall":"socket","nr":41,"args":["0x28"],"action":"ERRNO","data":1}
 *   bpfkern seccomp run --prog "N,code jt jf k,..." [--prog ...] --syscall [i386:]NR [ARG ...] [--syscall ...]
 *       a mini-OS task installs the programs in order (first = oldest) and makes each syscall
 *       (an ARG `self` is the calling process's pid, for kill(self, 0));
 *       one JSON line per syscall: {"nr":39,"action":"ERRNO","data":1}. Action names are UPPER
 *       case as the host oracle prints them (KILL_PROCESS KILL_THREAD TRAP ERRNO USER_NOTIF
 *       TRACE LOG ALLOW); a refused program gives {"nr":..,"action":"INSTALL_FAILED","data":null,
 *       "filter":I,"errno":"EINVAL"}, or with "errno":null and "how":"trap"|"kill_thread"|"kill_process"
 *       when an older filter stopped the install. Without --syscall: {"installed":true} or the refusal.
 *
 * Capabilities and kernel version decide a profile's includes/excludes: by default Docker's
 * default capability set and kernel 6.18, architecture amd64 (with its x86 and x32 subarches).
 */
import { readFileSync } from 'node:fs';
import { formatDdd, formatTcpdump } from '../../kernel/bpf/classic/text.js';
import { KernelError, isKernelError } from '../../kernel/errno.js';
import { SYSCALL_TABLES } from '../../kernel/syscall-table.js';
import { bootKernel } from '../../index.js';
import { judge, prepareFilter } from '../../subsystems/seccomp/filter.js';
import { compileProfile, type CompileOptions, type Profile } from '../../subsystems/seccomp/profile.js';
import { actionName, MAX_ERRNO, SECCOMP_RET_DATA, SECCOMP_RET_ERRNO } from '../../subsystems/seccomp/uapi.js';
import { rootCred } from '../../kernel/task.js';
import { parseDdd, parseSyscallSpec, runOne, type RunOutcome } from '../seccomp/run.js';
import type { Command, CommandIo } from './index.js';

const USAGE = `usage:
  bpfkern seccomp compile PROFILE.json [-d|-ddd] [--caps CAP,...] [--kernel VERSION]
  bpfkern seccomp check PROFILE.json --syscall NAME[:ARG0,...] [--syscall ...] [--strace FILE]
  bpfkern seccomp run --prog "N,code jt jf k,..." [--prog ...] --syscall [i386:]NR [ARG ...] [--syscall ...]
Actions print in UPPER case as the host oracle prints them: KILL_PROCESS KILL_THREAD TRAP
ERRNO USER_NOTIF TRACE LOG ALLOW (INSTALL_FAILED when a program is refused).
`;

class UsageError extends Error {}

function loadProfile(path: string | undefined): Profile {
  if (!path) throw new UsageError('missing PROFILE.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new KernelError('ENOENT', `cannot read ${path}`);
  }
  try {
    return JSON.parse(text) as Profile;
  } catch (e) {
    throw new KernelError('EINVAL', `${path}: not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** Pulls `--name value` options (repeatable) and flags out of argv. */
function options(argv: string[], valued: readonly string[]): { rest: string[]; opts: Map<string, string[]> } {
  const rest: string[] = [];
  const opts = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (valued.includes(a)) {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      opts.set(a, [...(opts.get(a) ?? []), v]);
    } else rest.push(a);
  }
  return { rest, opts };
}

function compileOpts(opts: Map<string, string[]>): CompileOptions {
  const o: CompileOptions = {};
  const caps = opts.get('--caps')?.at(-1);
  if (caps !== undefined) o.caps = caps.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const kv = opts.get('--kernel')?.at(-1);
  if (kv !== undefined) o.kernelVersion = kv;
  return o;
}

function describeRet(ret: number): { action: string; data: number | null } {
  const action = actionName(ret);
  const data = ret & SECCOMP_RET_DATA;
  if (((ret & 0xffff0000) >>> 0) === SECCOMP_RET_ERRNO) return { action, data: Math.min(data, MAX_ERRNO) };
  if (action === 'TRAP' || action === 'TRACE') return { action, data };
  return { action, data: null };
}

/** One strace line -> name and numeric args (symbolic args count as 0). */
export function parseStraceLine(line: string): { name: string; args: bigint[] } | null {
  const m = /^(?:\[pid\s+\d+\]\s+|\d+\s+)?([a-z_][a-z0-9_]*)\((.*)$/.exec(line.trim());
  if (!m) return null;
  const body = m[2]!;
  const args: bigint[] = [];
  let depth = 0;
  let cur = '';
  let inStr = false;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (inStr) {
      if (ch === '\\') i++;
      else if (ch === '"') inStr = false;
      cur += ch;
      continue;
    }
    if (ch === '"') inStr = true;
    if (ch === '(' || ch === '[' || ch === '{') depth++;
    if (ch === ')' || ch === ']' || ch === '}') {
      if (depth === 0) break;
      depth--;
    }
    if (ch === ',' && depth === 0) {
      args.push(argValue(cur));
      cur = '';
    } else cur += ch;
  }
  if (cur.trim() !== '') args.push(argValue(cur));
  return { name: m[1]!, args };
}

function argValue(text: string): bigint {
  const t = text.trim();
  if (/^-?\d+$/.test(t)) return BigInt.asUintN(64, BigInt(t));
  if (/^0x[0-9a-f]+$/i.test(t)) return BigInt(t);
  return 0n;
}

async function compileCmd(argv: string[], io: CommandIo): Promise<number> {
  const { rest, opts } = options(argv, ['--caps', '--kernel']);
  const ddd = rest.includes('-ddd');
  const files = rest.filter((a) => a !== '-d' && a !== '-ddd');
  const c = compileProfile(loadProfile(files[0]), compileOpts(opts));
  io.stdout(ddd ? `${formatDdd(c.program)}\n` : formatTcpdump(c.program));
  return 0;
}

async function checkCmd(argv: string[], io: CommandIo): Promise<number> {
  const { rest, opts } = options(argv, ['--syscall', '--strace', '--caps', '--kernel']);
  const profile = loadProfile(rest[0]);
  const c = compileProfile(profile, compileOpts(opts));
  const k = bootKernel();
  const task = k.tasks.spawn({ comm: 'seccomp-check', cred: rootCred() });
  const filter = prepareFilter(k, task, { len: c.program.length, filter: c.program }, 0);
  const calls: { name: string; args: bigint[] }[] = [];
  for (const s of opts.get('--syscall') ?? []) {
    const [name, argText] = s.split(':', 2) as [string, string | undefined];
    calls.push({ name, args: argText ? argText.split(',').map(argValue) : [] });
  }
  for (const f of opts.get('--strace') ?? []) {
    for (const line of readFileSync(f, 'utf8').split('\n')) {
      const p = parseStraceLine(line);
      if (p) calls.push(p);
    }
  }
  if (calls.length === 0) throw new UsageError('nothing to check: give --syscall or --strace');
  for (const call of calls) {
    const nr = /^\d+$/.test(call.name) ? Number(call.name) : SYSCALL_TABLES.x86_64.byName.get(call.name);
    if (nr === undefined) {
      io.stdout(`${JSON.stringify({ syscall: call.name, nr: null, error: 'unknown syscall on x86_64' })}\n`);
      continue;
    }
    const ret = judge(k, filter, { nr, arch: 0xc000003e, instructionPointer: 0x401a2bn, args: call.args });
    io.stdout(`${JSON.stringify({ syscall: call.name, nr, args: call.args.map((a) => `0x${a.toString(16)}`), ...describeRet(ret) })}\n`);
  }
  return 0;
}

async function runCmd(argv: string[], io: CommandIo): Promise<number> {
  const progs: string[] = [];
  const syscalls: string[][] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--prog') {
      const v = argv[++i];
      if (v === undefined) throw new UsageError('--prog needs a program');
      progs.push(v);
    } else if (a === '--syscall') {
      const words: string[] = [];
      while (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) words.push(argv[++i]!);
      syscalls.push(words);
    } else throw new UsageError(`unknown argument '${a}'`);
  }
  if (progs.length === 0) throw new UsageError('give at least one --prog');
  let parsed;
  try {
    parsed = progs.map(parseDdd);
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const k = bootKernel();
  const specs = syscalls.map(parseSyscallSpec);
  if (specs.length === 0) {
    const out = await runOne(k, parsed, { arch: 'x86_64', nr: 39, args: [] });
    io.stdout(`${JSON.stringify(out.action === 'INSTALL_FAILED' ? { installed: false, filter: out.filter, errno: out.errno } : { installed: true })}\n`);
    return 0;
  }
  for (const s of specs) {
    const out: RunOutcome = await runOne(k, parsed, s);
    io.stdout(`${JSON.stringify(out)}\n`);
  }
  return 0;
}

async function run(argv: string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'compile':
        return await compileCmd(rest, io);
      case 'check':
        return await checkCmd(rest, io);
      case 'run':
        return await runCmd(rest, io);
      case undefined:
      case '-h':
      case '--help':
        io.stdout(USAGE);
        return sub === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown subcommand '${sub}'`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`bpfkern seccomp: ${e.message}\n${USAGE}`);
      return 2;
    }
    if (isKernelError(e)) {
      io.stderr(`bpfkern: ${e.detail} (${e.errno})\n`);
      return 1;
    }
    throw e;
  }
}

export const seccompCommand: Command = { name: 'seccomp', summary: 'seccomp filters and OCI profiles (compile, check, run)', run };
