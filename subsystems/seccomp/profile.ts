/**
 * OCI/Docker seccomp profiles (runtime-spec's LinuxSeccomp, moby's profiles/seccomp) compiled
 * to classic BPF the way libseccomp generates it:
 *
 *   ld [4]; jeq AUDIT_ARCH_X86_64 -> x86_64 block; jeq AUDIT_ARCH_I386 -> i386 block; ...
 *   otherwise the bad-arch action (libseccomp's default, KILL_THREAD)
 *   each block: ld [0] (x86_64 without x32: numbers >= 0x40000000 but -1 are the bad arch;
 *   with x32, x32's numbers are dispatched with x86_64's), then a dispatch on the number:
 *   a chain of `jeq #nr` (libseccomp's default), or, above 32 rules as runc asks libseccomp
 *   (SCMP_FLTATR_CTL_OPTIMIZE 2), a binary search tree of `jge` down to runs of 4 `jeq`s;
 *   each number jumps to its action's `ret` or to its rules' body, one body per distinct
 *   rule set and word size (a 64-bit body testing one high half goes on to the 32-bit
 *   body of the same rules); 64-bit arguments compared as their high and low 32-bit halves
 *   (32-bit arches compare the low half only), an argument not reloaded while A holds it;
 *   one `ret` per action at the end, copied within the 8-bit reach of the jumps (else `ja`
 *   trampolines), as libseccomp does. Docker's default profile: 1226 instructions (tree)
 *   and 986 (chain), libseccomp 2.5.4's 1227 and 983.
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
  /**
   * libseccomp's SCMP_FLTATR_CTL_OPTIMIZE: 1, a chain of `jeq`s on the syscall number; 2, a
   * binary search tree. Default: what runc asks for, 2 above TREE_THRESHOLD rules (names of
   * the entries kept for the options), else 1.
   */
  optimize?: 1 | 2;
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

/** The profile decided for the options: what the program implements. */
export interface ResolvedProfile {
  defaultAction: number;
  badArchAction: number;
  arches: CompiledArch[];
  /** runc's rule count: one per name of each entry kept (before any is dropped). */
  ruleCount: number;
}

export interface CompiledProfile extends ResolvedProfile {
  /** The dispatch on the syscall number (see CompileOptions.optimize). */
  layout: 'linear' | 'tree';
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
export function resolveProfile(profile: Profile, opts: CompileOptions = {}): ResolvedProfile {
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
  let ruleCount = 0;
  for (const s of profile.syscalls ?? []) {
    if (!selected(s, caps, kver, native)) continue;
    ruleCount += s.names.length;
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
  return { defaultAction, badArchAction: opts.badArchAction ?? SECCOMP_RET_KILL_THREAD, arches, ruleCount };
}

// ---------------------------------------------------------------------------------------
// Code generation with labels; jumps only go forward and are resolved at the end (cBPF
// offsets are 8 bits).

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
const LABEL = -1;

/** What A holds: the seccomp_data offset last loaded, null when unknown, undefined when unreachable. */
type AState = number | null | undefined;

function meet(x: AState, y: AState): AState {
  if (x === undefined) return y;
  if (y === undefined) return x;
  return x === y ? x : null;
}

class Emitter {
  readonly out: PInsn[] = [];
  private n = 0;
  /** A at the current point, and at each label from the jumps emitted to it so far. */
  private a: AState = null;
  private readonly into = new Map<string, AState>();
  private readonly placed = new Set<string>();
  label(): string {
    return `L${this.n++}`;
  }
  place(label: string): void {
    this.a = meet(this.a, this.into.get(label));
    this.placed.add(label);
    this.out.push({ code: LABEL, k: 0, label });
  }
  private to(label: string | 'next'): void {
    if (label === 'next') return;
    if (this.placed.has(label)) throw new Error(`seccomp profile: backward jump to ${label}`);
    this.into.set(label, meet(this.into.get(label), this.a));
  }
  /** ld [off], unless A already holds it on every path here. */
  ld(off: number): void {
    if (this.a === off) return;
    this.out.push({ code: LD_W_ABS, k: off });
    this.a = off;
  }
  and(k: number): void {
    this.out.push({ code: AND_K, k: k >>> 0 });
    this.a = null;
  }
  jmp(code: number, k: number, jt: string | 'next', jf: string | 'next'): void {
    this.to(jt);
    this.to(jf);
    this.out.push({ code, k: k >>> 0, jt, jf });
    if (jt !== 'next' && jf !== 'next') this.a = undefined;
  }
  ret(k: number): void {
    this.out.push({ code: RET_K, k: k >>> 0 });
    this.a = undefined;
  }
  ja(label: string): void {
    this.to(label);
    this.out.push({ code: JA, k: 0, ja: label });
    this.a = undefined;
  }
  /**
   * Resolves labels. A conditional jump too far for 8 bits goes to an equivalent
   * instruction within reach (the same `ret`, a `ja` to the same place) or, when there is
   * none, to one inserted as late as its reach allows where nothing falls into it: a copy
   * of the `ret`, or a `ja` trampoline. Later jumps reuse it.
   */
  assemble(): SockFilter[] {
    let rounds = 0;
    for (;;) {
      const pos = new Map<string, number>();
      const real: PInsn[] = [];
      const at: number[] = []; // index in `out` of each real instruction
      this.out.forEach((i, idx) => {
        if (i.code === LABEL) pos.set(i.label!, real.length);
        else {
          real.push(i);
          at.push(idx);
        }
      });
      const target = (t: string | 'next' | undefined, pc: number): number => (t === undefined || t === 'next' ? pc + 1 : pos.get(t)!);
      let far = -1;
      const isFar = (pc: number, side: 'jt' | 'jf'): boolean => target(real[pc]![side], pc) - pc - 1 > 255;
      for (let pc = 0; pc < real.length && far < 0; pc++) {
        const i = real[pc]!;
        if (i.code !== JA && i.code !== RET_K && (isFar(pc, 'jt') || isFar(pc, 'jf'))) far = pc;
      }
      if (far < 0) {
        return real.map((i, pc) => {
          if (i.code === JA) return { code: JA, jt: 0, jf: 0, k: pos.get(i.ja!)! - pc - 1 };
          if (i.jt === undefined) return { code: i.code, jt: 0, jf: 0, k: i.k };
          return { code: i.code, jt: target(i.jt, pc) - pc - 1, jf: target(i.jf, pc) - pc - 1, k: i.k };
        });
      }
      if (++rounds > 100000) throw new Error('seccomp profile: jump layout does not converge');
      const pc = far;
      const ins = real[pc]!;
      const sides = (['jt', 'jf'] as const).filter((side) => isFar(pc, side));
      // Where a side's target really leads (through a `ja`), and an equivalent within reach.
      const dest = (side: 'jt' | 'jf'): number => {
        const t = target(ins[side], pc);
        return real[t]!.code === JA ? pos.get(real[t]!.ja!)! : t;
      };
      const reuse = (side: 'jt' | 'jf'): number => {
        const d = dest(side);
        for (let j = Math.min(pc + 256, real.length - 1); j > pc; j--) {
          const c = real[j]!;
          if (j === d) return j;
          if (real[d]!.code === RET_K ? c.code === RET_K && c.k === real[d]!.k : c.code === JA && pos.get(c.ja!) === d) return j;
        }
        return -1;
      };
      const side = sides.find((sd) => reuse(sd) >= 0);
      if (side) {
        const l = this.label();
        this.out.splice(at[reuse(side)]!, 0, { code: LABEL, k: 0, label: l });
        ins[side] = l;
        continue;
      }
      // Insert (all far sides together) after the latest instruction within reach that does
      // not fall through: ret, ja, or a conditional jump whose `next` side is redirected
      // past the insertion.
      let q = Math.min(pc + 256 - sides.length, real.length - 1);
      while (q > pc && (real[q]!.code === LD_W_ABS || real[q]!.code === AND_K)) q--;
      const insert: PInsn[] = [];
      for (const sd of sides) {
        const d = real[dest(sd)]!;
        const l = this.label();
        insert.push({ code: LABEL, k: 0, label: l }, d.code === RET_K ? { code: RET_K, k: d.k } : { code: JA, k: 0, ja: ins[sd]! });
        ins[sd] = l;
      }
      const qi = real[q]!;
      if (qi.jt === 'next' || qi.jf === 'next') {
        const after = this.label();
        if (qi.jt === 'next') qi.jt = after;
        if (qi.jf === 'next') qi.jf = after;
        insert.push({ code: LABEL, k: 0, label: after });
      }
      this.out.splice(at[q]! + 1, 0, ...insert);
    }
  }
}

function hi(v: number | bigint): number {
  return Number((BigInt.asUintN(64, BigInt(v)) >> 32n) & 0xffffffffn);
}
function lo(v: number | bigint): number {
  return Number(BigInt.asUintN(64, BigInt(v)) & 0xffffffffn);
}

/** One comparison: jumps to `pass` when it holds, to `fail` when it does not. */
function emitCmp(e: Emitter, a: ProfileArg, bits: 32 | 64, fail: string, pass: string): void {
  const base = 16 + 8 * a.index;
  const v = a.value;
  const half = (off: number, value: number, op: string, final: boolean): void => {
    // final: the low half (decides); otherwise the high half (decides unless equal).
    e.ld(off);
    switch (op) {
      case 'SCMP_CMP_EQ':
        e.jmp(JEQ_K, value, final ? pass : 'next', fail);
        break;
      case 'SCMP_CMP_NE':
        e.jmp(JEQ_K, value, final ? fail : 'next', pass);
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
    // A half whose mask is 0 and datum 0 always holds; a mask of all ones needs no `and`.
    const masked = (off: number, m: number, d: number, final: boolean): void => {
      if (m === 0 && d === 0) {
        if (final) e.ja(pass);
        return;
      }
      e.ld(off);
      if (m !== 0xffffffff) e.and(m);
      e.jmp(JEQ_K, d, final ? pass : 'next', fail);
    };
    if (bits === 64) masked(base + 4, hi(mask), hi(datum), false);
    masked(base, lo(mask), lo(datum), true);
  } else {
    if (bits === 64) half(base + 4, hi(v), a.op, false);
    half(base, lo(v), a.op, true);
  }
}

interface Body {
  label: string;
  rules: Rule[];
  bits: 32 | 64;
  /** Index (in Gen.order) of the last arch using it: the body follows that arch's dispatch. */
  last: number;
  /** A 64-bit body that tests one high half, then goes to the 32-bit body of the same rules. */
  gate?: { off: number; value: number; miss: number | null; inner: Body };
}

/**
 * When every rule tests the same argument once, by equality (or masked equality with a
 * full or empty high mask) with the same high half: that high half (`none`: nothing to
 * test), after which the rules decide as on a 32-bit arch; `miss` is the action when the
 * high half differs (null: the default). One rule testing inequality: the high half too,
 * a different one deciding for the rule. Otherwise null.
 */
function hiGate(rules: readonly Rule[]): { value: number; miss: number | null } | 'none' | null {
  const one = rules.length === 1 && rules[0]!.args.length === 1 ? rules[0]!.args[0]! : null;
  if (one?.op === 'SCMP_CMP_NE') return { value: hi(one.value), miss: rules[0]!.action };
  let gate: number | 'none' | null = null;
  for (const r of rules) {
    const a = r.args.length === 1 ? r.args[0]! : null;
    if (!a || a.index !== rules[0]!.args[0]?.index) return null;
    let g: number | 'none';
    if (a.op === 'SCMP_CMP_EQ') g = hi(a.value);
    else if (a.op === 'SCMP_CMP_MASKED_EQ' && hi(a.value) === 0xffffffff) g = hi(a.valueTwo ?? 0);
    else if (a.op === 'SCMP_CMP_MASKED_EQ' && hi(a.value) === 0 && hi(a.valueTwo ?? 0) === 0) g = 'none';
    else return null;
    if (gate !== null && g !== gate) return null;
    gate = g;
  }
  return gate === null || gate === 'none' ? gate : { value: gate, miss: null };
}

/** runc asks libseccomp for the binary tree (SCMP_FLTATR_CTL_OPTIMIZE 2) above this many rules. */
export const TREE_THRESHOLD = 32;
/** libseccomp's tree ends in runs of this many `jeq`s. */
const LEAF = 4;

/** The program being generated: one `ret` per action, placed at the end (copied by the assembler where out of reach). */
class Gen {
  readonly e = new Emitter();
  private readonly rets = new Map<number, string>();
  /**
   * Rule bodies by their rules and word size, shared by every syscall (of any arch) with
   * the same ones; each is emitted after the dispatch of the last arch using it.
   */
  readonly bodies = new Map<string, Body>();
  constructor(readonly def: number, readonly tree: boolean, readonly order: readonly (readonly CompiledArch[])[]) {
    const use = (key: string, rules: Rule[], bits: 32 | 64, idx: number, gate?: Body['gate']): Body => {
      let b = this.bodies.get(key);
      if (b) b.last = idx;
      else this.bodies.set(key, (b = { label: this.e.label(), rules, bits, last: idx, ...(gate ? { gate } : {}) }));
      return b;
    };
    order.forEach((group, idx) => group.forEach((ca) => {
      for (const rules of ca.syscalls.values()) {
        const key = Gen.bodyKey(rules, ca.arch.bits);
        if (key === null) continue;
        const gate = ca.arch.bits === 64 ? hiGate(rules) : null;
        if (gate === null) {
          use(key, rules, ca.arch.bits, idx);
          continue;
        }
        // The 32-bit body of the same rules decides the low halves (libseccomp shares it too).
        const inner = use(Gen.bodyKey(rules, 32)!, rules, 32, idx);
        if (gate === 'none') this.aliases.set(key, inner);
        else use(key, rules, 64, idx, { off: 16 + 8 * rules[0]!.args[0]!.index + 4, ...gate, inner });
      }
    }));
  }
  /** 64-bit rule sets whose high halves need no test: the 32-bit body. */
  private readonly aliases = new Map<string, Body>();
  /** null: one unconditional rule, a plain `ret`. */
  static bodyKey(rules: readonly Rule[], bits: 32 | 64): string | null {
    if (rules.length === 1 && rules[0]!.args.length === 0) return null;
    return `${bits} ${JSON.stringify(rules.map((r) => [r.action, r.args.map((a) => [a.index, a.op, String(a.value), String(a.valueTwo ?? 0)])]))}`;
  }
  target(rules: readonly Rule[], bits: 32 | 64): string {
    const key = Gen.bodyKey(rules, bits);
    return key === null ? this.ret(rules[0]!.action) : (this.aliases.get(key) ?? this.bodies.get(key)!).label;
  }
  ret(action: number): string {
    let l = this.rets.get(action >>> 0);
    if (!l) this.rets.set(action >>> 0, (l = this.e.label()));
    return l;
  }
  finish(): void {
    for (const [action, l] of this.rets) {
      this.e.place(l);
      this.e.ret(action);
    }
  }
}

/** The rules of one syscall: argument checks in profile order, first match wins, else the default. */
function emitBody(g: Gen, rules: readonly Rule[], bits: 32 | 64): void {
  const e = g.e;
  // A run of rules that each test one argument for equality, with the same high half:
  // the high half once, then the low halves in a chain (the values differ: equal
  // conditions were merged), as libseccomp's tree tests an argument once per level.
  const eqKey = (r: Rule): string | null => {
    const a = r.args.length === 1 ? r.args[0]! : null;
    return a && a.op === 'SCMP_CMP_EQ' ? `${a.index}:${bits === 64 ? hi(a.value) : 0}` : null;
  };
  for (let i = 0; i < rules.length; ) {
    const r = rules[i]!;
    const key = eqKey(r);
    let end = i + 1;
    while (key !== null && end < rules.length && eqKey(rules[end]!) === key) end++;
    const fail = end === rules.length ? g.ret(g.def) : e.label();
    if (end - i > 1) {
      const base = 16 + 8 * r.args[0]!.index;
      if (bits === 64) {
        e.ld(base + 4);
        e.jmp(JEQ_K, hi(r.args[0]!.value), 'next', fail);
      }
      e.ld(base);
      for (let j = i; j < end; j++) e.jmp(JEQ_K, lo(rules[j]!.args[0]!.value), g.ret(rules[j]!.action), j === end - 1 ? fail : 'next');
    } else {
      if (r.args.length === 0) e.ja(g.ret(r.action)); // not reached: an unconditional rule stands alone
      r.args.forEach((a, j) => {
        const pass = j === r.args.length - 1 ? g.ret(r.action) : e.label();
        emitCmp(e, a, bits, fail, pass);
        if (j < r.args.length - 1) e.place(pass);
      });
    }
    if (end < rules.length) e.place(fail);
    i = end;
  }
}

/**
 * The syscalls of the arches of one audit arch (x86_64 and x32 share one: their numbers do
 * not overlap), with A = the syscall number: each number goes to its action's `ret`
 * (unconditional rule) or to its rules' body, shared by the numbers with the same rules;
 * other numbers get the default action. The dispatch is a chain of `jeq`s in number order,
 * or above TREE_THRESHOLD rules (as runc asks libseccomp) a binary search tree: `jge`
 * splits down to runs of LEAF `jeq`s.
 */
function emitArch(g: Gen, idx: number): void {
  const e = g.e;
  const entries = g.order[idx]!.flatMap((ca) => [...ca.syscalls].map(([nr, rules]) => ({ nr: nr >>> 0, target: g.target(rules, ca.arch.bits) })));
  entries.sort((x, y) => x.nr - y.nr);
  const nrs = entries.map((x) => x.nr);
  const targets = entries.map((x) => x.target);
  const chain = (from: number, to: number): void => {
    for (let i = from; i < to; i++) e.jmp(JEQ_K, nrs[i]!, targets[i]!, i === to - 1 ? g.ret(g.def) : 'next');
  };
  const tree = (from: number, to: number): void => {
    if (to - from <= LEAF) return chain(from, to);
    // Halves of whole leaves, so the tree is as shallow as the leaf count allows.
    const leaves = Math.ceil((to - from) / LEAF);
    const mid = from + Math.ceil(leaves / 2) * LEAF;
    const upper = e.label();
    e.jmp(JGE_K, nrs[mid]!, upper, 'next');
    tree(from, mid);
    e.place(upper);
    tree(mid, to);
  };
  if (nrs.length === 0) e.ja(g.ret(g.def));
  else if (g.tree) tree(0, nrs.length);
  else chain(0, nrs.length);
  // Gates first: they jump forward to their 32-bit bodies.
  for (const gated of [true, false]) {
    for (const b of g.bodies.values()) {
      if (b.last !== idx || !!b.gate !== gated) continue;
      e.place(b.label);
      if (b.gate) {
        e.ld(b.gate.off);
        e.jmp(JEQ_K, b.gate.value, b.gate.inner.label, g.ret(b.gate.miss ?? g.def));
      } else emitBody(g, b.rules, b.bits);
    }
  }
}

/** Compiles a profile to the classic program libseccomp would load. */
export function compileProfile(profile: Profile, opts: CompileOptions = {}): CompiledProfile {
  const r = resolveProfile(profile, opts);
  const layout = (opts.optimize ?? (r.ruleCount > TREE_THRESHOLD ? 2 : 1)) === 2 ? 'tree' : 'linear';
  const x32 = r.arches.find((a) => a.arch.table === 'x32');
  const byAudit = r.arches.filter((a) => a.arch.table !== 'x32' || !r.arches.some((b) => b.arch.table === 'x86_64'));
  // One block per audit arch; x32 shares x86_64's.
  const order = byAudit.map((ca) => (ca.arch.table === 'x86_64' && x32 ? [ca, x32] : [ca]));
  const g = new Gen(r.defaultAction, layout === 'tree', order);
  const e = g.e;
  const blocks = byAudit.map(() => e.label());
  e.ld(4);
  // Other arches: the bad-arch action (its `ret` at the end, shared with the x32 checks).
  byAudit.forEach((ca, idx) => e.jmp(JEQ_K, ca.arch.audit, blocks[idx]!, idx === byAudit.length - 1 ? g.ret(r.badArchAction) : 'next'));
  byAudit.forEach((ca, idx) => {
    e.place(blocks[idx]!);
    e.ld(0);
    if (ca.arch.table === 'x86_64' && !x32) {
      // libseccomp lets -1 through (a tracer's skipped call); other x32 numbers are the bad arch.
      const body = e.label();
      e.jmp(JGE_K, X32_SYSCALL_BIT, 'next', body);
      e.jmp(JEQ_K, 0xffffffff, body, g.ret(r.badArchAction));
      e.place(body);
    } else if (ca.arch.table === 'x32') {
      const body = e.label();
      e.jmp(JGE_K, X32_SYSCALL_BIT, body, g.ret(r.badArchAction));
      e.place(body);
    }
    emitArch(g, idx);
  });
  g.finish();
  return { ...r, layout, program: e.assemble() };
}

/**
 * The same decision made directly from the resolved rules (no BPF): what the compiled
 * program must return. Tests compare the two on many inputs.
 */
export function decide(r: ResolvedProfile, audit: number, nr: number, args: readonly bigint[]): number {
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
