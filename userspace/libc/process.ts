/**
 * A mini-OS process as userspace code sees it: the kernel it runs on and its task. The
 * libc-like wrappers (one file per area: process, bpf, net, files) are free functions
 * taking a Proc first, and only ever enter the kernel through syscall(), as real code would.
 */
import type { Kernel } from '../../kernel/kernel.js';
import { syscall, type SyscallArg, type SyscallResult } from '../../kernel/syscall.js';
import type { Task } from '../../kernel/task.js';

export interface Proc {
  readonly kernel: Kernel;
  readonly task: Task;
}

/** The raw syscall: a value, -errno, or a Promise of one when the call blocks. */
export function sys(p: Proc, name: string, ...args: SyscallArg[]): SyscallResult | Promise<SyscallResult> {
  return syscall(p.kernel, p.task, name, args);
}

/** Errors as libc reports them: -1 with errno set is modelled as a thrown SyscallError. */
export class SyscallError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    super(`${call}: errno ${errno}`);
    this.name = 'SyscallError';
  }
}

/** Awaits a syscall and throws SyscallError for a negative return. */
export async function check(p: Proc, name: string, ...args: SyscallArg[]): Promise<number> {
  const r = await sys(p, name, ...args);
  const n = typeof r === 'bigint' ? Number(BigInt.asIntN(64, r)) : r;
  if (n < 0 && n >= -4095) throw new SyscallError(name, -n);
  return n;
}
