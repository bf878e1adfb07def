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
 */
import { KernelError, errnoNumber } from './errno.js';
import type { Kernel } from './kernel.js';
import { perKernel } from './kernel.js';
import { exitToUserMode } from './signal.js';
import type { Task } from './task.js';
import { declareSyscallEvents, tracepointOf, type Tracepoint } from './trace/tracepoint.js';

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

export const AUDIT_ARCH_X86_64 = 0xc000003e;
export const AUDIT_ARCH_I386 = 0x40000003;
export const AUDIT_ARCH_AARCH64 = 0xc00000b7;

/** Where the mini-OS's "syscall instruction" sits, per arch (deterministic, user-looking). */
export const SYSCALL_IP: Readonly<Record<number, bigint>> = {
  [AUDIT_ARCH_X86_64]: 0x401a2bn,
  [AUDIT_ARCH_I386]: 0x8049a2bn,
  [AUDIT_ARCH_AARCH64]: 0x400a2cn,
};

export interface SyscallState {
  handlers: Map<string, SyscallHandler>;
  entryHooks: EntryHook[];
  exitHooks: ExitHook[];
  /** name -> number for the arch of a call; set by syscall-table.ts. */
  numberOf: (name: string, arch: number) => number;
  /** Per-name syscalls:sys_enter_NAME / sys_exit_NAME tracepoints (declared by defineSyscall). */
  perName: Map<string, { enter: Tracepoint; exit: Tracepoint }>;
  raw: { enter: Tracepoint; exit: Tracepoint } | null;
  /** Pseudo user addresses of object arguments (stable per object). */
  objectAddrs: WeakMap<object, bigint>;
  nextObjectAddr: bigint;
}

export const syscallsOf = perKernel(
  (): SyscallState => ({
    handlers: new Map(),
    entryHooks: [],
    exitHooks: [],
    numberOf: () => -1,
    perName: new Map(),
    raw: null,
    objectAddrs: new WeakMap(),
    nextObjectAddr: 0x7ffd_0000_1000n,
  }),
);

/** A Promise that never settles: what a task that died inside a syscall is left awaiting. */
export const NEVER: Promise<never> = new Promise<never>(() => {});

export function defineSyscall(kernel: Kernel, name: string, handler: SyscallHandler): void {
  const state = syscallsOf(kernel);
  state.handlers.set(name, handler);
  if (!state.perName.has(name)) {
    declareSyscallEvents([name]);
    state.perName.set(name, {
      enter: tracepointOf(kernel, 'syscalls', `sys_enter_${name}`),
      exit: tracepointOf(kernel, 'syscalls', `sys_exit_${name}`),
    });
  }
}

/** Adds an entry hook; `first` puts it before the others (seccomp must decide first). */
export function addEntryHook(kernel: Kernel, hook: EntryHook, first = false): void {
  const hooks = syscallsOf(kernel).entryHooks;
  if (first) hooks.unshift(hook);
  else hooks.push(hook);
}

export function addExitHook(kernel: Kernel, hook: ExitHook): void {
  syscallsOf(kernel).exitHooks.push(hook);
}

function toReturn(e: unknown): SyscallResult {
  if (e instanceof KernelError) return -errnoNumber(e.errno);
  throw e;
}

function fnv(text: string): bigint {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return BigInt(h & 0xffffff);
}

/**
 * The register value of an argument: integers as the CPU holds them (two's complement
 * u64; an i386 register is 32 bits wide), pointers as pseudo user addresses (strings in
 * a fixed "rodata" range, objects stable per object), NULL as 0.
 */
export function argRegister(state: SyscallState, arg: SyscallArg, arch: number): bigint {
  let v: bigint;
  if (arg === null || arg === undefined) v = 0n;
  else if (typeof arg === 'number') v = BigInt(Math.trunc(arg));
  else if (typeof arg === 'bigint') v = arg;
  else if (typeof arg === 'string') v = 0x5600_0000_0000n + fnv(arg) * 16n;
  else {
    let a = state.objectAddrs.get(arg);
    if (a === undefined) {
      a = state.nextObjectAddr;
      state.nextObjectAddr += 0x100n;
      state.objectAddrs.set(arg, a);
    }
    v = a;
  }
  return arch === AUDIT_ARCH_I386 ? BigInt.asUintN(32, v) : BigInt.asUintN(64, v);
}

function isAlive(task: Task): boolean {
  return task.state !== 'zombie' && task.state !== 'dead';
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
  args: readonly SyscallArg[] = [],
  arch = AUDIT_ARCH_X86_64,
  nr?: number,
): SyscallResult | Promise<SyscallResult> {
  if (!isAlive(task)) return NEVER;
  const state = syscallsOf(kernel);
  const regs: bigint[] = [];
  for (let i = 0; i < 6; i++) regs.push(argRegister(state, args[i], arch));
  const call: SyscallCall = {
    kernel,
    task,
    name,
    args,
    arch,
    nr: nr ?? state.numberOf(name, arch),
    regs,
    ip: SYSCALL_IP[arch] ?? 0n,
  };
  if (!state.raw) {
    state.raw = {
      enter: tracepointOf(kernel, 'raw_syscalls', 'sys_enter'),
      exit: tracepointOf(kernel, 'raw_syscalls', 'sys_exit'),
    };
  }
  const raw = state.raw;
  // syscalls:* events exist for native calls only (Linux ignores compat calls there).
  const named = arch === AUDIT_ARCH_X86_64 ? state.perName.get(name) : undefined;
  const finish = (ret: SyscallResult): SyscallResult | Promise<SyscallResult> => {
    if (!isAlive(task)) return NEVER;
    if (raw.exit.probes.length) raw.exit.fire(task, { id: call.nr, ret });
    if (named && named.exit.probes.length) named.exit.fire(task, { __syscall_nr: call.nr, ret });
    for (const h of state.exitHooks) h(call, ret);
    return exitToUserMode(kernel, task, ret);
  };
  const run = (): SyscallResult | Promise<SyscallResult> => {
    if (!isAlive(task)) return NEVER;
    if (raw.enter.probes.length) raw.enter.fire(task, { id: call.nr, args: regs });
    if (named && named.enter.probes.length) {
      const values: Record<string, number | bigint> = { __syscall_nr: call.nr };
      named.enter.def.fields.forEach((f, i) => {
        if (i > 0) values[f.name] = regs[i - 1] ?? 0n;
      });
      named.enter.fire(task, values);
    }
    const handler = state.handlers.get(name);
    if (!handler) return finish(-errnoNumber('ENOSYS'));
    let r: SyscallResult | Promise<SyscallResult>;
    try {
      r = kernel.tasks.runAs(task, () => handler(call));
    } catch (e) {
      return finish(toReturn(e));
    }
    if (r instanceof Promise) return r.then(finish, (e: unknown) => finish(toReturn(e)));
    return finish(r);
  };
  // Entry hooks, in order; any of them may end the call.
  const hooks = state.entryHooks;
  const step = (i: number): SyscallResult | Promise<SyscallResult> => {
    for (; i < hooks.length; i++) {
      let v: EntryVerdict | Promise<EntryVerdict>;
      try {
        v = kernel.tasks.runAs(task, () => hooks[i]!(call));
      } catch (e) {
        return finish(toReturn(e));
      }
      if (v instanceof Promise) {
        const next = i + 1;
        return v.then(
          (verdict) => (verdict ? finish(verdict.ret) : step(next)),
          (e: unknown) => finish(toReturn(e)),
        );
      }
      if (v) return finish(v.ret);
    }
    return run();
  };
  return step(0);
}
