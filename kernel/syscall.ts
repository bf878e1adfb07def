/**
 * The one syscall entry point of the mini-OS. Every syscall a task makes goes through
 * syscall(): entry hooks run first (seccomp decides there), then raw_syscalls:sys_enter and
 * syscalls:sys_enter_NAME fire (after seccomp, as in Linux's syscall_trace_enter), then the
 * handler, then sys_exit and the exit hooks, then pending signals are delivered on the way
 * back to "user mode" (exitToUserMode in signal.ts). A handler returns a value or throws
 * KernelError; the entry turns that into -errno, as the syscall ABI does.
 *
 * Handlers are registered by x86_64 name; numbers (and the i386/aarch64 tables used for
 * seccomp_data.arch) live in syscall-table.ts. A blocking syscall returns a Promise. A task
 * that dies inside a syscall (killed, exit) never returns to its code: the entry hands it
 * NEVER, a Promise that never settles, so the task's async code simply stops.
 *
 * Cost. The entry is on every path of the mini-OS, so it does per call only what the call
 * needs, as Linux's syscall_work flags do: a name is resolved once to a SyscallEntry
 * (handler, x86_64 number, its tracepoints) and cached; the six u64 argument registers are
 * computed only when someone reads call.regs (a tracepoint with probes, prctl), and seccomp
 * writes them straight into seccomp_data with writeArgRegisters(), without BigInt for
 * plain numbers; an entry hook registered with a SYSCALL_WORK_* bit runs only for tasks
 * that have the bit (a task without filters never enters seccomp); tracepoints fire only
 * when they have probes. The one allocation of a plain call is its SyscallCall.
 */
import { KernelError, errnoNumber } from './errno.js';
import type { Kernel } from './kernel.js';
import { perKernel } from './kernel.js';
import { exitToUserMode } from './signal.js';
import { AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, SYSCALL_IP } from './syscall-abi.js';
import { SYSCALL_TABLES, tableOfAudit } from './syscall-table.js';
import type { Task } from './task.js';
import { declareSyscallEvents, tracepointOf, type Tracepoint } from './trace/tracepoint.js';
import { schedRun } from './sched.js';

export {
  AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, SYSCALL_IP, SYSCALL_WORK_SECCOMP,
} from './syscall-abi.js';

/**
 * What userspace passes. Numbers and bigints are register values; objects stand for
 * pointers to user memory (an attr struct, a buffer) and reach seccomp as a pseudo
 * user address.
 */
export type SyscallArg = number | bigint | string | Uint8Array | object | null | undefined;

export type SyscallResult = number | bigint;

export interface SyscallCall {
  readonly kernel: Kernel;
  readonly task: Task;
  readonly name: string;
  readonly args: readonly SyscallArg[];
  /** AUDIT_ARCH_* the call was made with (x86_64 unless the task made an i386 call). */
  readonly arch: number;
  /** The syscall number in that arch's table (-1 when the arch has no such name). */
  readonly nr: number;
  /** The six argument registers as the arch passes them (u64; u32 for i386). */
  readonly regs: readonly bigint[];
  /** The user instruction pointer of the syscall instruction (seccomp_data.instruction_pointer). */
  readonly ip: bigint;
}

export type SyscallHandler = (call: SyscallCall) => SyscallResult | Promise<SyscallResult>;

/**
 * An entry hook may end the syscall before it runs: return { ret } to skip the handler
 * with that return value. Returning undefined lets it continue. A hook may also return
 * a Promise (seccomp's USER_NOTIF waits for the supervisor).
 */
export type EntryVerdict = { ret: SyscallResult } | undefined;
export type EntryHook = (call: SyscallCall) => EntryVerdict | Promise<EntryVerdict>;
export type ExitHook = (call: SyscallCall, ret: SyscallResult) => void;

/** What a syscall name resolves to, once per kernel (the entry's sys_call_table slot). */
export interface SyscallEntry {
  readonly name: string;
  /** The x86_64 number of the name (-1 when x86_64 has none). */
  readonly nr: number;
  handler: SyscallHandler | null;
  /** syscalls:sys_enter_NAME / sys_exit_NAME, once the syscall is defined. */
  events: { enter: Tracepoint; exit: Tracepoint } | null;
}

interface RegisteredEntryHook {
  readonly fn: EntryHook;
  /** SYSCALL_WORK_* bit the task must have for the hook to run; 0: always runs. */
  readonly work: number;
}

export interface SyscallState {
  handlers: Map<string, SyscallHandler>;
  /** name -> entry, filled by defineSyscall and by the first call of a name in the x86_64 table. */
  entries: Map<string, SyscallEntry>;
  entryHooks: RegisteredEntryHook[];
  exitHooks: ExitHook[];
  raw: { enter: Tracepoint; exit: Tracepoint };
  /** Pseudo user addresses of object arguments (stable per object; below 2^53). */
  objectAddrs: WeakMap<object, number>;
  nextObjectAddr: number;
}

export const syscallsOf = perKernel(
  (kernel): SyscallState => ({
    handlers: new Map(),
    entries: new Map(),
    entryHooks: [],
    exitHooks: [],
    raw: {
      enter: tracepointOf(kernel, 'raw_syscalls', 'sys_enter'),
      exit: tracepointOf(kernel, 'raw_syscalls', 'sys_exit'),
    },
    objectAddrs: new WeakMap(),
    nextObjectAddr: 0x7ffd_0000_1000,
  }),
);

/** A Promise that never settles: what a task that died inside a syscall is left awaiting. */
export const NEVER: Promise<never> = new Promise<never>(() => {});

const NO_ARGS: readonly SyscallArg[] = Object.freeze([]);

function entryOf(state: SyscallState, name: string, create: boolean): SyscallEntry | undefined {
  let e = state.entries.get(name);
  if (e === undefined) {
    const nr = SYSCALL_TABLES.x86_64.byName.get(name);
    // Names outside the table (a raw call by number, '#999') are not cached: the cache
    // stays bounded by the table whatever numbers a task tries.
    if (nr === undefined && !create) return undefined;
    e = { name, nr: nr ?? -1, handler: null, events: null };
    state.entries.set(name, e);
  }
  return e;
}

export function defineSyscall(kernel: Kernel, name: string, handler: SyscallHandler): void {
  const state = syscallsOf(kernel);
  state.handlers.set(name, handler);
  const e = entryOf(state, name, true)!;
  e.handler = handler;
  if (e.events === null) {
    declareSyscallEvents([name]);
    e.events = {
      enter: tracepointOf(kernel, 'syscalls', `sys_enter_${name}`),
      exit: tracepointOf(kernel, 'syscalls', `sys_exit_${name}`),
    };
  }
}

/**
 * Adds an entry hook; `first` puts it before the others (seccomp must decide first).
 * With `work` (a SYSCALL_WORK_* bit), the hook runs only for tasks whose syscallWork has
 * that bit; whoever registers it sets and keeps the bit (seccomp: when a filter or strict
 * mode is installed, and on fork).
 */
export function addEntryHook(kernel: Kernel, hook: EntryHook, first = false, work = 0): void {
  const hooks = syscallsOf(kernel).entryHooks;
  const h: RegisteredEntryHook = { fn: hook, work };
  if (first) hooks.unshift(h);
  else hooks.push(h);
}

export function addExitHook(kernel: Kernel, hook: ExitHook): void {
  syscallsOf(kernel).exitHooks.push(hook);
}

function toReturn(e: unknown): SyscallResult {
  if (e instanceof KernelError) return -errnoNumber(e.errno);
  throw e;
}

function fnv(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h & 0xffffff;
}

function objectAddr(state: SyscallState, arg: object): number {
  let a = state.objectAddrs.get(arg);
  if (a === undefined) {
    a = state.nextObjectAddr;
    state.nextObjectAddr += 0x100;
    state.objectAddrs.set(arg, a);
  }
  return a;
}

const TWO32 = 4294967296;
// The two 32-bit halves argWords() computed (module scratch: the entry is synchronous here).
let wordLo = 0;
let wordHi = 0;

/**
 * The register value of an argument, as two u32 words in wordLo/wordHi: integers as the
 * CPU holds them (two's complement u64; an i386 register is 32 bits wide), pointers as
 * pseudo user addresses (strings in a fixed "rodata" range, objects stable per object),
 * NULL as 0. Numbers need no BigInt: a double's low 32 bits and the floor of its quotient
 * by 2^32 are exact. A non-finite number counts as 0.
 */
function argWords(state: SyscallState, arg: SyscallArg, i386: boolean): void {
  if (arg === null || arg === undefined) {
    wordLo = 0;
    wordHi = 0;
    return;
  }
  let v: number;
  switch (typeof arg) {
    case 'number':
      v = Number.isFinite(arg) ? Math.trunc(arg) : 0;
      break;
    case 'bigint':
      wordLo = Number(BigInt.asUintN(32, arg));
      wordHi = i386 ? 0 : Number(BigInt.asUintN(32, arg >> 32n));
      return;
    case 'string':
      v = 0x5600_0000_0000 + fnv(arg) * 16;
      break;
    default:
      v = objectAddr(state, arg as object);
  }
  wordLo = v >>> 0;
  wordHi = i386 ? 0 : Math.floor(v / TWO32) >>> 0;
}

/**
 * The register value of an argument as a u64 bigint (u32 for an i386 call); see argWords.
 */
export function argRegister(state: SyscallState, arg: SyscallArg, arch: number): bigint {
  argWords(state, arg, arch === AUDIT_ARCH_I386);
  return wordHi === 0 ? BigInt(wordLo) : (BigInt(wordHi) << 32n) | BigInt(wordLo);
}

/**
 * Writes the call's six argument registers as u64 little-endian at address-space offset
 * `off`, `off + 8`, ... (seccomp_data.args): the same values call.regs gives, without
 * making bigints for numbers, strings or pointers. Registers past the given arguments are 0.
 */
export function writeArgRegisters(call: SyscallCall, off: number): void {
  const state = call instanceof Call ? call.state : syscallsOf(call.kernel);
  const i386 = call.arch === AUDIT_ARCH_I386;
  const args = call.args;
  const mem = call.kernel.mem;
  const dv = mem.dv;
  const n = args.length < 6 ? args.length : 6;
  for (let i = 0; i < n; i++) {
    argWords(state, args[i], i386);
    dv.setUint32(off + 8 * i, wordLo, true);
    dv.setUint32(off + 8 * i + 4, wordHi, true);
  }
  if (n < 6) mem.u8.fill(0, off + 8 * n, off + 48);
}

/** The call as handlers and hooks see it; regs and ip are computed when first read. */
class Call implements SyscallCall {
  private regsCache: readonly bigint[] | null = null;
  constructor(
    readonly kernel: Kernel,
    readonly task: Task,
    readonly name: string,
    readonly args: readonly SyscallArg[],
    readonly arch: number,
    readonly nr: number,
    /** The x86_64 entry of the name (undefined: no handler, no syscalls:* events). */
    readonly entry: SyscallEntry | undefined,
    readonly state: SyscallState,
  ) {}
  get regs(): readonly bigint[] {
    if (this.regsCache === null) {
      const regs: bigint[] = [];
      for (let i = 0; i < 6; i++) regs.push(argRegister(this.state, this.args[i], this.arch));
      this.regsCache = regs;
    }
    return this.regsCache;
  }
  get ip(): bigint {
    return SYSCALL_IP[this.arch] ?? 0n;
  }
}

function isDead(task: Task): boolean {
  return task.state === 'zombie' || task.state === 'dead';
}

/**
 * Makes a syscall as `task`. Synchronous when nothing blocks; a Promise otherwise.
 * Errors come back as negative errno numbers, never as exceptions. `nr` overrides the
 * number (a raw call by number whose name the mini-OS may not know).
 */
export function syscall(
  kernel: Kernel,
  task: Task,
  name: string,
  args: readonly SyscallArg[] = NO_ARGS,
  arch = AUDIT_ARCH_X86_64,
  nr?: number,
): SyscallResult | Promise<SyscallResult> {
  if (isDead(task)) return NEVER;
  schedRun(kernel, task);
  const state = syscallsOf(kernel);
  const entry = entryOf(state, name, false);
  let number: number;
  if (nr !== undefined) number = nr;
  else if (arch === AUDIT_ARCH_X86_64) number = entry ? entry.nr : -1;
  else number = tableOfAudit(arch)?.byName.get(name) ?? -1;
  // Pointer arguments get their pseudo addresses in argument order at entry, whether or not
  // anyone reads the registers, so an object's address never depends on who looked.
  for (let i = 0; i < args.length && i < 6; i++) {
    const a = args[i];
    if ((typeof a === 'object' && a !== null) || typeof a === 'function') objectAddr(state, a);
  }
  const call = new Call(kernel, task, name, args, arch, number, entry, state);
  return enter(call, 0);
}

/** The entry hooks from index i on, in order; any of them may end the call. */
function enter(call: Call, i: number): SyscallResult | Promise<SyscallResult> {
  const hooks = call.state.entryHooks;
  const task = call.task;
  const tasks = call.kernel.tasks;
  for (; i < hooks.length; i++) {
    const h = hooks[i]!;
    if (h.work !== 0 && (task.syscallWork & h.work) === 0) continue;
    let v: EntryVerdict | Promise<EntryVerdict>;
    const prev = tasks.current;
    tasks.current = task;
    try {
      v = h.fn(call);
    } catch (e) {
      tasks.current = prev;
      return finish(call, toReturn(e));
    }
    tasks.current = prev;
    if (v instanceof Promise) {
      const next = i + 1;
      return v.then(
        (verdict) => (verdict ? finish(call, verdict.ret) : enter(call, next)),
        (e: unknown) => finish(call, toReturn(e)),
      );
    }
    if (v) return finish(call, v.ret);
  }
  return run(call);
}

/** sys_enter events, then the handler. */
function run(call: Call): SyscallResult | Promise<SyscallResult> {
  const task = call.task;
  if (isDead(task)) return NEVER;
  const raw = call.state.raw;
  if (raw.enter.probes.length) raw.enter.fire(task, { id: call.nr, args: call.regs });
  const entry = call.entry;
  // syscalls:* events exist for native calls only (Linux ignores compat calls there).
  const named = call.arch === AUDIT_ARCH_X86_64 && entry ? entry.events : null;
  if (named && named.enter.probes.length) {
    const regs = call.regs;
    const values: Record<string, number | bigint> = { __syscall_nr: call.nr };
    named.enter.def.fields.forEach((f, i) => {
      if (i > 0) values[f.name] = regs[i - 1] ?? 0n;
    });
    named.enter.fire(task, values);
  }
  const handler = entry?.handler ?? call.state.handlers.get(call.name);
  if (!handler) return finish(call, -errnoNumber('ENOSYS'));
  const tasks = call.kernel.tasks;
  const prev = tasks.current;
  tasks.current = task;
  let r: SyscallResult | Promise<SyscallResult>;
  try {
    r = handler(call);
  } catch (e) {
    tasks.current = prev;
    return finish(call, toReturn(e));
  }
  tasks.current = prev;
  if (r instanceof Promise) return r.then((v) => finish(call, v), (e: unknown) => finish(call, toReturn(e)));
  return finish(call, r);
}

/** sys_exit events, exit hooks, then the return to user mode (signal delivery). */
function finish(call: Call, ret: SyscallResult): SyscallResult | Promise<SyscallResult> {
  const task = call.task;
  if (isDead(task)) return NEVER;
  const raw = call.state.raw;
  if (raw.exit.probes.length) raw.exit.fire(task, { id: call.nr, ret });
  const named = call.arch === AUDIT_ARCH_X86_64 && call.entry ? call.entry.events : null;
  if (named && named.exit.probes.length) named.exit.fire(task, { __syscall_nr: call.nr, ret });
  const exitHooks = call.state.exitHooks;
  for (let i = 0; i < exitHooks.length; i++) exitHooks[i]!(call, ret);
  return exitToUserMode(call.kernel, task, ret);
}
