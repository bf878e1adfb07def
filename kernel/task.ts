/**
 * Tasks: the mini-OS's processes and threads. A task has a pid, a thread group (tgid), a
 * comm, credentials and a file table. The seccomp issue extends this with fork/clone,
 * exec, exit and wait; subsystems attach their per-task state with perTask().
 */
import { KernelError } from './errno.js';
import type { Kernel } from './kernel.js';

/** Linux capability numbers used by the BPF paths (include/uapi/linux/capability.h). */
export const CAP = {
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_PTRACE: 19,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
} as const;

export const ALL_CAPS = (1n << 41n) - 1n;

export interface Cred {
  uid: number;
  gid: number;
  euid: number;
  egid: number;
  /** Effective capability set, one bit per CAP_* number. */
  caps: bigint;
}

export function rootCred(): Cred {
  return { uid: 0, gid: 0, euid: 0, egid: 0, caps: ALL_CAPS };
}

export function userCred(uid: number, gid = uid): Cred {
  return { uid, gid, euid: uid, egid: gid, caps: 0n };
}

export function capable(cred: Cred, cap: number): boolean {
  return (cred.caps & (1n << BigInt(cap))) !== 0n;
}

/**
 * What an fd refers to: a bpf program or map, a socket, an open file, a seccomp listener.
 * The owner keeps a reference count; release() is called when the last fd goes.
 */
export interface FileObject {
  readonly kind: string;
  /** Called once per fd closed (each install took one reference). */
  release(): void;
  /**
   * Takes one more reference, for fork(2) copying the fd into the child's table. Objects
   * without it are not inherited by a forked child (threads share the table and need none).
   */
  retain?(): void;
  /** ioctl(2) on an fd of this object; absent means ENOTTY. */
  ioctl?(task: Task, request: number, arg: unknown): number | bigint | Promise<number | bigint>;
}

export const RLIMIT_NOFILE = 1024;

export class FdTable {
  private readonly files = new Map<number, FileObject>();

  install(file: FileObject): number {
    for (let fd = 0; fd < RLIMIT_NOFILE; fd++) {
      if (!this.files.has(fd)) {
        this.files.set(fd, file);
        return fd;
      }
    }
    throw new KernelError('EMFILE', 'too many open files');
  }

  get(fd: number): FileObject {
    const f = Number.isInteger(fd) ? this.files.get(fd) : undefined;
    if (!f) throw new KernelError('EBADF', `bad file descriptor ${fd}`);
    return f;
  }

  has(fd: number): boolean {
    return this.files.has(fd);
  }

  close(fd: number): void {
    const f = this.get(fd);
    this.files.delete(fd);
    f.release();
  }

  entries(): IterableIterator<[number, FileObject]> {
    return this.files.entries();
  }

  closeAll(): void {
    for (const fd of [...this.files.keys()]) this.close(fd);
  }

  /** The child's copy at fork(2): every fd whose object can take another reference. */
  fork(): FdTable {
    const t = new FdTable();
    for (const [fd, f] of this.files) {
      if (!f.retain) continue;
      f.retain();
      t.files.set(fd, f);
    }
    return t;
  }
}

/** zombie: dead, waiting for its parent's wait(2); dead: reaped (or a thread that exited). */
export type TaskState = 'running' | 'sleeping' | 'stopped' | 'zombie' | 'dead';

/**
 * A thread group (Linux's signal_struct + the parts of task_struct threads share): the
 * live threads, the children to wait for, and how the group ended. kernel/process.ts
 * keeps it; kernel/signal.ts keeps the shared signal state next to it.
 */
export class ThreadGroup {
  /** Live threads; the group is dead when this empties. */
  readonly threads = new Set<Task>();
  /** Child processes (their leaders) not reaped yet. */
  readonly children = new Set<Task>();
  /** Set when exit_group or a fatal signal started killing the group: its wait status. */
  groupExit: number | null = null;
  /** The wait(2) status once every thread has exited. */
  status: number | null = null;
  /** Called whenever a child changes state (wait4 sleeps on this). */
  childWaiters: (() => void)[] = [];
  /** Resolved with the wait status when the group dies (the spawn handle's `exited`). */
  readonly exited: Promise<number>;
  resolveExited!: (status: number) => void;
  constructor(readonly leader: Task) {
    this.exited = new Promise((r) => (this.resolveExited = r));
  }
}

export class Task {
  comm: string;
  cred: Cred;
  noNewPrivs = false;
  state: TaskState = 'running';
  exitCode: number | null = null;
  /** CPU this task last ran on. */
  cpu = 0;
  /** The thread group; set by whoever creates the task (TaskTable.spawn, clone). */
  group!: ThreadGroup;
  /** Wakes the task from an interruptible sleep (a signal arrived); set while it sleeps. */
  wake: (() => void) | null = null;
  /**
   * SYSCALL_WORK_* bits (kernel/syscall-abi.ts): the entry work this task's syscalls need,
   * as Linux's task->syscall_work. Set by whoever needs the work (seccomp on install).
   */
  syscallWork = 0;

  constructor(
    readonly pid: number,
    readonly tgid: number,
    comm: string,
    cred: Cred,
    readonly fds: FdTable,
    readonly parent: Task | null,
  ) {
    this.comm = comm.slice(0, 15); // TASK_COMM_LEN 16, NUL included
    this.cred = cred;
  }

  get isThreadGroupLeader(): boolean {
    return this.pid === this.tgid;
  }
}

export interface SpawnOptions {
  comm: string;
  cred?: Cred;
  parent?: Task | null;
}

export class TaskTable {
  private nextPid = 1;
  readonly byPid = new Map<number, Task>();
  /** The task whose code is running now (for helpers such as get_current_pid_tgid). */
  current: Task | null = null;

  constructor(private readonly kernel: Kernel) {
    this.nextPid = 1000 + (kernel.seed % 100);
  }

  allocPid(): number {
    return this.nextPid++;
  }

  /** A new process (its own thread group and file table). */
  spawn(opts: SpawnOptions): Task {
    const pid = this.allocPid();
    const t = new Task(pid, pid, opts.comm, opts.cred ?? rootCred(), new FdTable(), opts.parent ?? null);
    t.cpu = pid % this.kernel.ncpus;
    t.group = new ThreadGroup(t);
    t.group.threads.add(t);
    opts.parent?.group.children.add(t);
    this.byPid.set(pid, t);
    return t;
  }

  /**
   * A new task made by clone(2) from `parent`: a thread of the same group (sharing its fd
   * table) or the leader of a new process (with a copy of the fd table).
   */
  clone(parent: Task, thread: boolean): Task {
    const pid = this.allocPid();
    const cred = { ...parent.cred };
    const t = thread
      ? new Task(pid, parent.tgid, parent.comm, cred, parent.fds, parent.parent)
      : new Task(pid, pid, parent.comm, cred, parent.fds.fork(), parent.group.leader);
    t.cpu = pid % this.kernel.ncpus;
    t.noNewPrivs = parent.noNewPrivs;
    if (thread) {
      t.group = parent.group;
    } else {
      t.group = new ThreadGroup(t);
      parent.group.children.add(t);
    }
    t.group.threads.add(t);
    this.byPid.set(pid, t);
    return t;
  }

  /** Forgets a reaped task (its pid stays unused; pids are not recycled). */
  release(task: Task): void {
    task.state = 'dead';
    this.byPid.delete(task.pid);
  }

  get(pid: number): Task {
    const t = this.byPid.get(pid);
    if (!t || t.state === 'dead') throw new KernelError('ESRCH', `no such process ${pid}`);
    return t;
  }

  /** Runs fn with `task` as current, restoring the previous one after. */
  runAs<T>(task: Task, fn: () => T): T {
    const prev = this.current;
    this.current = task;
    try {
      return fn();
    } finally {
      this.current = prev;
    }
  }
}

/** Per-task state owned outside kernel/task.ts:  const seccompOf = perTask(() => ({ ... })). */
export function perTask<T>(init: (task: Task) => T): (task: Task) => T {
  const states = new WeakMap<Task, T>();
  return (task) => {
    let s = states.get(task);
    if (s === undefined) {
      s = init(task);
      states.set(task, s);
    }
    return s;
  };
}
