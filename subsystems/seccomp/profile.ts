/**
 * OCI/Docker seccomp profiles (runtime-spec's LinuxSeccomp, moby's profiles/seccomp) compiled
 * to classic BPF the way libseccomp generates it:
 *
 *   ld [4]; jeq AUDIT_ARCH_X86_64 -> x86_64 block; jeq AUDIT_ARCH_I386 -> i386 block; ...
 *   otherwise the bad-arch action (libseccomp's default, KILL_THREAD)
 *   x86_64 block: ld [0]; jge 0x40000000 -> x32 block (or bad arch when x32 is not listed)
 *   each block: per syscall `jeq #nr` then the rules; 64-bit arguments compared as their
 *   high and low 32-bit halves (32-bit arches compare the low half only); the default
 *   action at the end.
 *
 * Includes/excludes (caps, arches, minKernel) are decided for the capabilities and kernel
 * version given in the options: by default Docker's default capability set and 6.18.
 * Names an architecture does not have are skipped, as libseccomp does. Within one
 * syscall, rules are tried in profile order and the first whose argument conditions all
 * hold decides; with no match, the default action.
 *
 * What runc and libseccomp do with the rules, checked against libseccomp itself by
 * test/subsystems/seccomp/libseccomp-diff.test.ts:
 * - the native arch is always in the filter (seccomp_init adds it), whatever the list says;
 * - a rule whose action is the default action is dropped, with or without conditions (runc);
 * - ERRNO and TRACE without errnoRet return EPERM (runtime-spec), not defaultErrnoRet;
 *   libseccomp refuses ERRNO data of 4095 and more (EINVAL);
 * - conditions repeating an argument index make one rule per condition (runc);
 * - an unconditional rule for a syscall wins over every conditional one, in any order;
 *   two rules with the same conditions and different actions are refused (EEXIST);
 * - on i386, a rule for a socket or SysV IPC call also allows the multiplexer with the call
 *   number: socketcall(SYS_X, ...) / ipc(X, ...), without the rule's conditions;
 * - x86_64 without x32: numbers with __X32_SYSCALL_BIT are the bad arch, except -1.
 */
import { KernelError } from '../../kernel/errno.js';
import { SYSCALL_TABLES, X32_SYSCALL_BIT, type ArchName } from '../../kernel/syscall-table.js';
import type { SockFilter } from '../../kernel/bpf/classic/isa.js';
import {
  SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD,
  SECCOMP_RET_LOG, SECCOMP_RET_TRACE, SECCOMP_RET_TRAP, SECCOMP_RET_USER_NOTIF,
} from './uapi.js';

export interface ProfileArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

export interface ProfileSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: ProfileArg[] | null;
  includes?: { caps?: string[]; arches?: string[]; minKernel?: string } | null;
  excludes?: { caps?: string[]; arches?: string[]; minKernel?: string } | null;
}

export interface Profile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[] | null;
  archMap?: { architecture: string; subArchitectures: string[] | null }[] | null;
  syscalls?: ProfileSyscall[] | null;
}

/** Docker's default capability set (moby oci/caps/defaults.go). */
export const DOCKER_DEFAULT_CAPS: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

export interface CompileOptions {
  /** Capabilities the container has (default: Docker's default set). */
  caps?: readonly string[];
  /** Kernel version for minKernel (default 6.18). */
  kernelVersion?: string;
  /** Native architecture (Docker's arch names: amd64, x86, x32, arm64) for includes.arches; default amd64. */
  nativeArch?: string;
  /** Action for calls from an arch the filter does not list (libseccomp's default: KILL_THREAD). */
  badArchAction?: number;
}

interface ArchDef {
  scmp: string;
  docker: string;
  table: ArchName | null;
  audit: number;
  bits: 32 | 64;
}

/** The libseccomp arches this compiler can emit (others in a profile are skipped). */
const ARCHES: readonly ArchDef[] = [
  { scmp: 'SCMP_ARCH_X86_64', docker: 'amd64', table: 'x86_64', audit: 0xc000003e, bits: 64 },
  { scmp: 'SCMP_ARCH_X86', docker: 'x86', table: 'i386', audit: 0x40000003, bits: 32 },
  { scmp: 'SCMP_ARCH_X32', docker: 'x32', table: 'x32', audit: 0xc000003e, bits: 32 },
  { scmp: 'SCMP_ARCH_AARCH64', docker: 'arm64', table: 'aarch64', audit: 0xc00000b7, bits: 64 },
];

export function parseAction(name: string, errnoRet: number | undefined, defaultErrno: number | undefined): number {
  const data = (errnoRet ?? defaultErrno ?? 1) & 0xffff;
  // libseccomp (db_col_action_valid): ERRNO data must be below MAX_ERRNO (4095).
  if (name === 'SCMP_ACT_ERRNO' && data >= 4095) throw new KernelError('EINVAL', `errno ${data} out of range`);
  switch (name) {
    case 'SCMP_ACT_KILL':
    case 'SCMP_ACT_KILL_THREAD':
      return SECCOMP_RET_KILL_THREAD;
    case 'SCMP_ACT_KILL_PROCESS':
      return SECCOMP_RET_KILL_PROCESS;
    case 'SCMP_ACT_TRAP':
      return SECCOMP_RET_TRAP;
    case 'SCMP_ACT_ERRNO':
      return (SECCOMP_RET_ERRNO | data) >>> 0;
    case 'SCMP_ACT_TRACE':
      return (SECCOMP_RET_TRACE | data) >>> 0;
    case 'SCMP_ACT_LOG':
      return SECCOMP_RET_LOG;
    case 'SCMP_ACT_ALLOW':
      return SECCOMP_RET_ALLOW;
    case 'SCMP_ACT_NOTIFY':
      return SECCOMP_RET_USER_NOTIF;
    default:
      throw new KernelError('EINVAL', `unknown seccomp action ${name}`);
  }
}

function versionAtLeast(have: string, want: string): boolean {
  const a = have.split('.').map(Number);
  const b = want.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

/** A rule kept for one arch: its comparisons and action. */
export interface Rule {
  args: ProfileArg[];
  action: number;
}

export interface CompiledArch {
  arch: ArchDef;
  /** nr -> rules in profile order. */
  syscalls: Map<number, Rule[]>;
}

export interface CompiledProfile {
  defaultAction: number;
  badArchAction: number;
  arches: CompiledArch[];
  program: SockFilter[];
}

function selected(s: ProfileSyscall, caps: ReadonlySet<string>, kver: string, native: string): boolean {
  const inc = s.includes ?? {};
  const exc = s.excludes ?? {};
  if (inc.caps?.length && !inc.caps.every((c) => caps.has(c))) return false;
  if (inc.arches?.length && !inc.arches.includes(native)) return false;
  if (inc.minKernel && !versionAtLeast(kver, inc.minKernel)) return false;
  if (exc.caps?.length && exc.caps.some((c) => caps.has(c))) return false;
  if (exc.arches?.length && exc.arches.includes(native)) return false;
  if (exc.minKernel && versionAtLeast(kver, exc.minKernel)) return false;
  return true;
}

/** runtime-spec: `architectures`; moby: the archMap entry of the native arch and its sub-arches. */
function archNames(profile: Profile, native: string): string[] {
  const nativeDef = ARCHES.find((a) => a.docker === native) ?? ARCHES[0]!;
  let names: string[];
  if (profile.architectures?.length) names = profile.architectures;
  else {
    const m = profile.archMap?.find((e) => e.architecture === nativeDef.scmp);
    names = m ? [m.architecture, ...(m.subArchitectures ?? [])] : [nativeDef.scmp];
  }
  // seccomp_init puts the native arch in every filter; runc never removes it.
  return names.includes(nativeDef.scmp) ? names : [nativeDef.scmp, ...names];
}

/**
 * The profile as the runtime hands it to libseccomp (moby's setupSeccomp): includes and
 * excludes decided for the options, archMap turned into `architectures`. compileProfile of
 * the result equals compileProfile of the original with the same options.
 */
export function resolveIncludes(profile: Profile, opts: CompileOptions = {}): Profile {
  const caps = new Set(opts.caps ?? DOCKER_DEFAULT_CAPS);
  const kver = opts.kernelVersion ?? '6.18';
  const native = opts.nativeArch ?? 'amd64';
  const out: Profile = { defaultAction: profile.defaultAction, architectures: archNames(profile, native) };
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet;
  out.syscalls = (profile.syscalls ?? [])
    .filter((s) => selected(s, caps, kver, native))
    .map((s) => {
      const r: ProfileSyscall = { names: [...s.names], action: s.action };
      if (s.errnoRet !== undefined) r.errnoRet = s.errnoRet;
      if (s.args?.length) r.args = s.args.map((a) => ({ ...a }));
      return r;
    });
  return out;
}

/** A rule's conditions as a set (libseccomp merges equal ones). */
function condKey(args: readonly ProfileArg[]): string {
  return args
    .map((a) => `${a.index}:${a.op}:${BigInt.asUintN(64, BigInt(a.value))}:${BigInt.asUintN(64, BigInt(a.valueTwo ?? 0))}`)
    .sort()
    .join(',');
}

/**
 * i386 socket and SysV IPC calls as socketcall(2) (102) and ipc(2) (117) calls: the call
 * numbers of include/uapi/linux/net.h (SYS_SOCKET...) and ipc/syscall.c (SEMOP...).
 */
const I386_MULTIPLEXED: Readonly<Record<string, readonly [number, number]>> = (() => {
  const out: Record<string, readonly [number, number]> = {};
  const net = ['socket', 'bind', 'connect', 'listen', 'accept', 'getsockname', 'getpeername', 'socketpair', 'send', 'recv',
    'sendto', 'recvfrom', 'shutdown', 'setsockopt', 'getsockopt', 'sendmsg', 'recvmsg', 'accept4', 'recvmmsg', 'sendmmsg'];
  net.forEach((n, i) => (out[n] = [102, i + 1]));
  const ipc: [string, number][] = [['semop', 1], ['semget', 2], ['semctl', 3], ['semtimedop', 4], ['msgsnd', 11], ['msgrcv', 12],
    ['msgget', 13], ['msgctl', 14], ['shmat', 21], ['shmdt', 22], ['shmget', 23], ['shmctl', 24]];
  for (const [n, c] of ipc) out[n] = [117, c];
  return out;
})();

/**
 * A profile is untrusted JSON: check the shape of every field the compiler reads, so a
 * wrong type is EINVAL rather than a TypeError (or a RangeError from BigInt) inside it.
 */
function validateProfile(p: unknown): asserts p is Profile {
  const bad = (what: string): never => {
    throw new KernelError('EINVAL', `profile: ${what}`);
  };
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const strings = (v: unknown, what: string): void => {
    if (v !== undefined && v !== null && (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))) bad(`${what} must be a list of strings`);
  };
  const optNumber = (v: unknown, what: string): void => {
    if (v !== undefined && v !== null && (typeof v !== 'number' || !Number.isInteger(v))) bad(`${what} must be an integer`);
  };
  if (!isObj(p) || typeof p.defaultAction !== 'string') bad('no defaultAction');
  const o = p as Record<string, unknown>;
  optNumber(o.defaultErrnoRet, 'defaultErrnoRet');
  strings(o.architectures, 'architectures');
  if (o.archMap !== undefined && o.archMap !== null) {
    if (!Array.isArray(o.archMap)) bad('archMap must be a list');
    for (const m of o.archMap as unknown[]) {
      if (!isObj(m) || typeof m.architecture !== 'string') bad('archMap entry needs an architecture');
      strings((m as Record<string, unknown>).subArchitectures, 'subArchitectures');
    }
  }
  if (o.syscalls === undefined || o.syscalls === null) return;
  if (!Array.isArray(o.syscalls)) bad('syscalls must be a list');
  for (const s of o.syscalls as unknown[]) {
    if (!isObj(s) || typeof s.action !== 'string') bad('syscall rule needs an action');
    const r = s as Record<string, unknown>;
    if (!Array.isArray(r.names)) bad('syscall rule needs names');
    strings(r.names, 'names');
    optNumber(r.errnoRet, 'errnoRet');
    for (const k of ['includes', 'excludes'] as const) {
      const f = r[k];
      if (f === undefined || f === null) continue;
      if (!isObj(f)) bad(`${k} must be an object`);
      const fo = f as Record<string, unknown>;
      strings(fo.caps, `${k}.caps`);
      strings(fo.arches, `${k}.arches`);
      if (fo.minKernel !== undefined && fo.minKernel !== null && typeof fo.minKernel !== 'string') bad(`${k}.minKernel must be a string`);
    }
    if (r.args === undefined || r.args === null) continue;
    if (!Array.isArray(r.args)) bad('args must be a list');
    for (const a of r.args as unknown[]) {
      if (!isObj(a) || typeof a.op !== 'string') bad('argument condition needs an op');
      const ao = a as Record<string, unknown>;
      optNumber(ao.index, 'index');
      if (typeof ao.value !== 'number' || !Number.isInteger(ao.value)) bad('argument value must be an integer');
      optNumber(ao.valueTwo, 'valueTwo');
    }
  }
}

/** Decides the profile for the options: which arches and, per arch, which rules. */
export function resolveProfile(profile: Profile, opts: CompileOptions = {}): Omit<CompiledProfile, 'program'> {
  validateProfile(profile);
  const caps = new Set(opts.caps ?? DOCKER_DEFAULT_CAPS);
  const kver = opts.kernelVersion ?? '6.18';
  const native = opts.nativeArch ?? 'amd64';
  const defaultAction = parseAction(profile.defaultAction, profile.defaultErrnoRet, profile.defaultErrnoRet);
  const names = archNames(profile, native);
  const arches: CompiledArch[] = [];
  for (const n of names) {
    const def = ARCHES.find((a) => a.scmp === n);
    if (def && !arches.some((a) => a.arch === def)) arches.push({ arch: def, syscalls: new Map() });
  }
  const add = (ca: CompiledArch, nr: number, rule: Rule): void => {
    let list = ca.syscalls.get(nr);
    if (!list) ca.syscalls.set(nr, (list = []));
    const key = condKey(rule.args);
    const same = list.find((r) => condKey(r.args) === key);
    if (same) {
      if (same.action !== rule.action) throw new KernelError('EEXIST', `conflicting rules for syscall ${nr}`);
      return;
    }
    list.push(rule);
  };
  for (const s of profile.syscalls ?? []) {
    if (!selected(s, caps, kver, native)) continue;
    const action = parseAction(s.action, s.errnoRet, undefined);
    const args = s.args ?? [];
    for (const a of args) {
      if (!Number.isInteger(a.index) || a.index < 0 || a.index > 5) throw new KernelError('EINVAL', `bad argument index ${a.index}`);
    }
    if (action === defaultAction) continue; // runc: "This rule is redundant, silently skip it"
    // runc: conditions on one argument repeated -> one rule per condition (their OR).
    const repeated = args.some((a, i) => args.findIndex((b) => b.index === a.index) !== i);
    const groups = repeated ? args.map((a) => [a]) : [args];
    for (const ca of arches) {
      for (const name of s.names) {
        const nr = SYSCALL_TABLES[ca.arch.table!].byName.get(name);
        for (const g of groups) {
          if (nr !== undefined) add(ca, nr, { args: g, action });
          const mux = ca.arch.table === 'i386' ? I386_MULTIPLEXED[name] : undefined;
          if (mux) add(ca, mux[0], { args: [{ index: 0, op: 'SCMP_CMP_EQ', value: mux[1] }], action });
        }
      }
    }
  }
  // libseccomp: an unconditional rule covers the syscall; conditional ones are dropped.
  for (const ca of arches) {
    for (const [nr, list] of ca.syscalls) {
      const all = list.find((r) => r.args.length === 0);
      if (all) ca.syscalls.set(nr, [all]);
    }
  }
  return { defaultAction, badArchAction: opts.badArchAction ?? SECCOMP_RET_KILL_THREAD, arches };
}

// ---------------------------------------------------------------------------------------
// Code generation with labels; jumps are resolved at the end (cBPF offsets are 8 bits).

interface PInsn {
  code: number;
  k: number;
  jt?: string | 'next';
  jf?: string | 'next';
  ja?: string;
  label?: string;
}

const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGT_K = 0x25;
const JGE_K = 0x35;
const AND_K = 0x54;
const RET_K = 0x06;
const JA = 0x05;

class Emitter {
  readonly out: PInsn[] = [];
  private n = 0;
  label(): string {
    return `L${this.n++}`;
  }
  place(label: string): void {
    this.out.push({ code: -1, k: 0, label });
  }
  ld(off: number): void {
    this.out.push({ code: LD_W_ABS, k: off });
  }
  and(k: number): void {
    this.out.push({ code: AND_K, k: k >>> 0 });
  }
  jmp(code: number, k: number, jt: string | 'next', jf: string | 'next'): void {
    this.out.push({ code, k: k >>> 0, jt, jf });
  }
  ret(k: number): void {
    this.out.push({ code: RET_K, k: k >>> 0 });
  }
  ja(label: string): void {
    this.out.push({ code: JA, k: 0, ja: label });
  }
  /** Resolves labels; a conditional jump too far for 8 bits goes through a JA trampoline. */
  assemble(): SockFilter[] {
    for (;;) {
      const pos = new Map<string, number>();
      const real: PInsn[] = [];
      for (const i of this.out) {
        if (i.code === -1) pos.set(i.label!, real.length);
        else real.push(i);
      }
      let bad = -1;
      const res: SockFilter[] = real.map((i, pc) => {
        const off = (t: string | 'next' | undefined): number => {
          if (t === undefined || t === 'next') return 0;
          const d = pos.get(t)! - pc - 1;
          if (d > 255 && bad < 0) bad = pc;
          return d;
        };
        if (i.code === JA) return { code: JA, jt: 0, jf: 0, k: pos.get(i.ja!)! - pc - 1 };
        return { code: i.code, jt: off(i.jt), jf: off(i.jf), k: i.k };
      });
      if (bad < 0) return res;
      // Rewrite the far target(s) of instruction `bad` through trampolines placed after it.
      const idx = this.out.indexOf(real[bad]!);
      const ins = this.out[idx]!;
      const extra: PInsn[] = [];
      const skip = this.label();
      for (const side of ['jt', 'jf'] as const) {
        const t = ins[side];
        if (t === undefined || t === 'next') continue;
        const tramp = this.label();
        extra.push({ code: -1, k: 0, label: tramp }, { code: JA, k: 0, ja: t });
        ins[side] = tramp;
      }
      this.out.splice(idx + 1, 0, { code: JA, k: 0, ja: skip }, ...extra, { code: -1, k: 0, label: skip });
      // A 'next' of `ins` now lands on `JA skip`, which steps over the trampolines.
    }
  }
}

function hi(v: number | bigint): number {
  return Number((BigInt.asUintN(64, BigInt(v)) >> 32n) & 0xffffffffn);
}
function lo(v: number | bigint): number {
  return Number(BigInt.asUintN(64, BigInt(v)) & 0xffffffffn);
}

/** One comparison: falls through when it holds, jumps to `fail` when it does not. */
function emitCmp(e: Emitter, a: ProfileArg, bits: 32 | 64, fail: string): void {
  const base = 16 + 8 * a.index;
  const v = a.value;
  const pass = e.label();
  const half = (off: number, value: number, op: string, final: boolean): void => {
    // final: the low half (decides); otherwise the high half (decides unless equal).
    e.ld(off);
    switch (op) {
      case 'SCMP_CMP_EQ':
        e.jmp(JEQ_K, value, 'next', fail);
        break;
      case 'SCMP_CMP_NE':
        if (final) e.jmp(JEQ_K, value, fail, pass);
        else e.jmp(JEQ_K, value, 'next', pass);
        break;
      case 'SCMP_CMP_GT':
      case 'SCMP_CMP_GE':
        if (final) e.jmp(op === 'SCMP_CMP_GT' ? JGT_K : JGE_K, value, pass, fail);
        else {
          e.jmp(JGT_K, value, pass, 'next');
          e.jmp(JEQ_K, value, 'next', fail);
        }
        break;
      case 'SCMP_CMP_LT':
      case 'SCMP_CMP_LE':
        if (final) e.jmp(op === 'SCMP_CMP_LT' ? JGE_K : JGT_K, value, fail, pass);
        else {
          e.jmp(JGE_K, value, 'next', pass);
          e.jmp(JEQ_K, value, 'next', fail);
        }
        break;
      default:
        throw new KernelError('EINVAL', `unknown comparison ${op}`);
    }
  };
  if (a.op === 'SCMP_CMP_MASKED_EQ') {
    const mask = v;
    const datum = a.valueTwo ?? 0;
    if (bits === 64) {
      e.ld(base + 4);
      e.and(hi(mask));
      e.jmp(JEQ_K, hi(datum), 'next', fail);
    }
    e.ld(base);
    e.and(lo(mask));
    e.jmp(JEQ_K, lo(datum), 'next', fail);
  } else {
    if (bits === 64) half(base + 4, hi(v), a.op, false);
    half(base, lo(v), a.op, true);
  }
  e.place(pass);
}

function emitArch(e: Emitter, ca: CompiledArch, def: number): void {
  const nrs = [...ca.syscalls.keys()].sort((x, y) => x - y);
  for (const nr of nrs) {
    const rules = ca.syscalls.get(nr)!;
    const nextSys = e.label();
    e.jmp(JEQ_K, nr, 'next', nextSys);
    for (const r of rules) {
      const nextRule = e.label();
      for (const a of r.args) emitCmp(e, a, ca.arch.bits, nextRule);
      e.ret(r.action);
      e.place(nextRule);
    }
    e.ret(def);
    e.place(nextSys);
  }
  e.ret(def);
}

/** Compiles a profile to the classic program libseccomp would load. */
export function compileProfile(profile: Profile, opts: CompileOptions = {}): CompiledProfile {
  const r = resolveProfile(profile, opts);
  const e = new Emitter();
  const blocks = new Map<CompiledArch, string>();
  const x32 = r.arches.find((a) => a.arch.table === 'x32');
  const bad = e.label();
  e.ld(4);
  const byAudit = r.arches.filter((a) => a.arch.table !== 'x32' || !r.arches.some((b) => b.arch.table === 'x86_64'));
  for (const ca of byAudit) {
    const l = e.label();
    blocks.set(ca, l);
    e.jmp(JEQ_K, ca.arch.audit, l, 'next');
  }
  e.place(bad);
  e.ret(r.badArchAction);
  for (const ca of byAudit) {
    e.place(blocks.get(ca)!);
    e.ld(0);
    // Jumps only go forward: a block's own bad-arch exit sits at its end.
    const badHere = e.label();
    if (ca.arch.table === 'x86_64') {
      const x32l = e.label();
      if (x32) e.jmp(JGE_K, X32_SYSCALL_BIT, x32l, 'next');
      else {
        // libseccomp lets -1 through (a tracer's skipped call); other x32 numbers are the bad arch.
        const body = e.label();
        e.jmp(JGE_K, X32_SYSCALL_BIT, 'next', body);
        e.jmp(JEQ_K, 0xffffffff, body, badHere);
        e.place(body);
      }
      emitArch(e, ca, r.defaultAction);
      if (x32) {
        e.place(x32l);
        emitArch(e, x32, r.defaultAction);
      }
    } else if (ca.arch.table === 'x32') {
      e.jmp(JGE_K, X32_SYSCALL_BIT, 'next', badHere);
      emitArch(e, ca, r.defaultAction);
    } else {
      emitArch(e, ca, r.defaultAction);
    }
    e.place(badHere);
    e.ret(r.badArchAction);
  }
  return { ...r, program: e.assemble() };
}

/**
 * The same decision made directly from the resolved rules (no BPF): what the compiled
 * program must return. Tests compare the two on many inputs.
 */
export function decide(r: Omit<CompiledProfile, 'program'>, audit: number, nr: number, args: readonly bigint[]): number {
  nr >>>= 0;
  if (audit === 0xc000003e && nr === 0xffffffff) {
    return r.arches.some((a) => a.arch.audit === audit) ? r.defaultAction : r.badArchAction;
  }
  let ca = r.arches.find((a) => a.arch.audit === audit && (a.arch.table === 'x32') === (audit === 0xc000003e && nr >= X32_SYSCALL_BIT));
  if (!ca && audit === 0xc000003e && nr >= X32_SYSCALL_BIT) return r.badArchAction;
  if (!ca) return r.badArchAction;
  const rules = ca.syscalls.get(nr);
  if (!rules) return r.defaultAction;
  for (const rule of rules) {
    const ok = rule.args.every((a) => {
      const mask = ca!.arch.bits === 64 ? (1n << 64n) - 1n : 0xffffffffn;
      const x = BigInt.asUintN(64, args[a.index] ?? 0n) & mask;
      const v = BigInt.asUintN(64, BigInt(a.value)) & mask;
      switch (a.op) {
        case 'SCMP_CMP_EQ': return x === v;
        case 'SCMP_CMP_NE': return x !== v;
        case 'SCMP_CMP_LT': return x < v;
        case 'SCMP_CMP_LE': return x <= v;
        case 'SCMP_CMP_GT': return x > v;
        case 'SCMP_CMP_GE': return x >= v;
        case 'SCMP_CMP_MASKED_EQ': return (x & v) === (BigInt.asUintN(64, BigInt(a.valueTwo ?? 0)) & mask);
        default: return false;
      }
    });
    if (ok) return rule.action;
  }
  return r.defaultAction;
}
