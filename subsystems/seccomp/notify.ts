/**
 * USER_NOTIF listeners (kernel/seccomp.c, seccomp_unotify(2)). A filter installed with
 * SECCOMP_FILTER_FLAG_NEW_LISTENER gets an fd; a syscall the filter answers with
 * USER_NOTIF sleeps until a supervisor reads the notification (SECCOMP_IOCTL_NOTIF_RECV)
 * and answers it (SECCOMP_IOCTL_NOTIF_SEND) with a value, an error, or
 * SECCOMP_USER_NOTIF_FLAG_CONTINUE (run the syscall after all).
 *
 * Mini-OS pointers: RECV fills a SeccompNotif object; SEND reads a SeccompNotifResp; ID_VALID
 * takes { id }. Closing the last listener fd fails every waiting and later USER_NOTIF call
 * with ENOSYS, as Linux does.
 */
import { KernelError } from '../../kernel/errno.js';
import type { EntryVerdict, SyscallCall } from '../../kernel/syscall.js';
import { POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM } from '../../kernel/poll.js';
import type { FileObject, PollTable, Task } from '../../kernel/task.js';
import type { SeccompFilter } from './filter.js';
import {
  SECCOMP_IOCTL_NOTIF_ID_VALID, SECCOMP_IOCTL_NOTIF_RECV, SECCOMP_IOCTL_NOTIF_SEND,
  SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FLAG_CONTINUE, type SeccompData,
  type SeccompNotif, type SeccompNotifResp,
} from './uapi.js';

interface Pending {
  id: bigint;
  task: Task;
  data: SeccompData;
  state: 'init' | 'sent' | 'replied';
  resolve: (v: EntryVerdict) => void;
}

export class Listener implements FileObject {
  readonly kind = 'seccomp-notify';
  closed = false;
  private refs = 1;
  private nextId: bigint;
  private readonly pending: Pending[] = [];
  private readers: (() => void)[] = [];

  constructor(seed: number) {
    // Linux starts ids at a random value; deterministic here.
    this.nextId = 0x1000n + BigInt(seed & 0xffff) * 0x10000n;
  }

  retain(): void {
    this.refs++;
  }

  release(): void {
    if (--this.refs > 0) return;
    this.closed = true;
    for (const p of this.pending.splice(0)) if (p.state !== 'replied') p.resolve({ ret: -38 });
    this.wakeReaders();
  }

  /** The trapped task's side: queue a notification and sleep until it is answered. */
  notify(call: SyscallCall, data: SeccompData): Promise<EntryVerdict> {
    return new Promise<EntryVerdict>((resolve) => {
      this.pending.push({ id: this.nextId++, task: call.task, data, state: 'init', resolve });
      this.wakeReaders();
    });
  }

  private wakeReaders(): void {
    const r = this.readers;
    this.readers = [];
    for (const f of r) f();
  }

  private recv(out: unknown): number | Promise<number> {
    if (!out || typeof out !== 'object') throw new KernelError('EFAULT', 'bad seccomp_notif pointer');
    const p = this.pending.find((x) => x.state === 'init');
    if (!p) {
      if (this.closed) throw new KernelError('ENOENT', 'listener closed');
      return new Promise<void>((r) => this.readers.push(r)).then(() => this.recv(out));
    }
    p.state = 'sent';
    const n: SeccompNotif = { id: p.id, pid: p.task.pid, flags: 0, data: p.data };
    Object.assign(out, n);
    return 0;
  }

  private send(resp: unknown): number {
    if (!resp || typeof resp !== 'object') throw new KernelError('EFAULT', 'bad seccomp_notif_resp pointer');
    const r = resp as SeccompNotifResp;
    if ((r.flags & ~SECCOMP_USER_NOTIF_FLAG_CONTINUE) !== 0) throw new KernelError('EINVAL', 'unknown response flags');
    if ((r.flags & SECCOMP_USER_NOTIF_FLAG_CONTINUE) && (r.error !== 0 || BigInt(r.val) !== 0n)) {
      throw new KernelError('EINVAL', 'CONTINUE with an error or value');
    }
    const i = this.pending.findIndex((x) => x.id === BigInt(r.id));
    const p = this.pending[i];
    if (!p) throw new KernelError('ENOENT', `no notification ${r.id}`);
    if (p.state !== 'sent') throw new KernelError('EINPROGRESS', `notification ${r.id} not received yet`);
    this.pending.splice(i, 1);
    p.state = 'replied';
    if (r.flags & SECCOMP_USER_NOTIF_FLAG_CONTINUE) p.resolve(undefined);
    else p.resolve({ ret: r.error !== 0 ? r.error : typeof r.val === 'bigint' ? r.val : r.val });
    return 0;
  }

  /**
   * seccomp_notify_poll: POLLIN while a notification waits to be received, POLLOUT while
   * one received waits for its answer, POLLHUP once the listener is closed (Linux: once
   * the filter has no tasks left, which is not tracked here). New notifications wake `pt`.
   */
  poll(_task: Task, pt?: PollTable | null): number {
    if (pt) {
      const w = pt.wake;
      this.readers.push(w);
      pt.onCleanup(() => {
        const i = this.readers.indexOf(w);
        if (i >= 0) this.readers.splice(i, 1);
      });
    }
    let mask = 0;
    for (const p of this.pending) {
      if (p.state === 'init') mask |= POLLIN | POLLRDNORM;
      else if (p.state === 'sent') mask |= POLLOUT | POLLWRNORM;
    }
    return this.closed ? mask | POLLHUP : mask;
  }

  ioctl(_task: Task, request: number, arg: unknown): number | Promise<number> {
    switch (request) {
      case SECCOMP_IOCTL_NOTIF_RECV:
        return this.recv(arg);
      case SECCOMP_IOCTL_NOTIF_SEND:
        return this.send(arg);
      case SECCOMP_IOCTL_NOTIF_ID_VALID: {
        const id = arg && typeof arg === 'object' && 'id' in arg ? BigInt((arg as { id: bigint | number }).id) : -1n;
        const p = this.pending.find((x) => x.id === id);
        if (!p || p.task.state === 'zombie' || p.task.state === 'dead') throw new KernelError('ENOENT', `notification ${id} not valid`);
        return 0;
      }
      case SECCOMP_IOCTL_NOTIF_SET_FLAGS:
        return 0;
      default:
        throw new KernelError('EINVAL', `unknown seccomp ioctl 0x${request.toString(16)}`);
    }
  }
}

/** init_listener: a listener fd for `filter` in the installing task's fd table. */
export function makeListener(task: Task, filter: SeccompFilter): number {
  const l = new Listener(task.pid);
  const fd = task.fds.install(l);
  filter.listener = l;
  return fd;
}

/** The USER_NOTIF step of the entry hook. */
export function userNotify(call: SyscallCall, match: SeccompFilter, data: SeccompData): Promise<EntryVerdict> {
  const l = match.listener;
  if (!l || l.closed) return Promise.resolve({ ret: -38 });
  return l.notify(call, data);
}
