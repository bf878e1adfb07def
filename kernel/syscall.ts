/**
 * The one syscall entry point of the mini-OS. Every syscall a task makes goes through
 * syscall(): entry hooks run first (seccomp decides there, raw_syscalls:sys_enter fires
 * there), then the handler, then exit hooks. A handler returns a value or throws
 * KernelError; the entry turns that into -errno, as the syscall ABI does.
 *
 * Handlers are registered by name; the x86_64 numbers (and the i386/aarch64 tables used
 * for seccomp_data.arch) live in syscall-table.ts. A blocking syscall returns a Promise.
 */
import { KernelError, errnoNumber } from './errno.js';
import type { Kernel } from './kernel.js';
import { perKernel } from './kernel.js';
import type { Task } from './task.js';

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
  /** The syscall number in that arch's table. */
  readonly nr: number;
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

export interface SyscallState {
  handlers: Map<string, SyscallHandler>;
  entryHooks: EntryHook[];
  exitHooks: ExitHook[];
  /** name -> number for the arch of a call; set by syscall-table.ts. */
  numberOf: (name: string, arch: number) => number;
}

export const syscallsOf = perKernel(
  (): SyscallState => ({
    handlers: new Map(),
    entryHooks: [],
    exitHooks: [],
    numberOf: () => -1,
  }),
);

export function defineSyscall(kernel: Kernel, name: string, handler: SyscallHandler): void {
  syscallsOf(kernel).handlers.set(name, handler);
}

function toReturn(e: unknown): SyscallResult {
  if (e instanceof KernelError) return -errnoNumber(e.errno);
  throw e;
}

/**
 * Makes a syscall as `task`. Synchronous when nothing blocks; a Promise otherwise.
 * Errors come back as negative errno numbers, never as exceptions.
 */
export function syscall(
  kernel: Kernel,
  task: Task,
  name: string,
  args: readonly SyscallArg[] = [],
  arch = AUDIT_ARCH_X86_64,
): SyscallResult | Promise<SyscallResult> {
  const state = syscallsOf(kernel);
  const call: SyscallCall = { kernel, task, name, args, arch, nr: state.numberOf(name, arch) };
  const finish = (ret: SyscallResult): SyscallResult => {
    for (const h of state.exitHooks) h(call, ret);
    return ret;
  };
  const run = (): SyscallResult | Promise<SyscallResult> => {
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
        v = hooks[i]!(call);
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
