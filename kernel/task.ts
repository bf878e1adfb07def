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
  /**
   * Called at each close(2) of an fd, before release() (Linux's ->flush in filp_close):
   * buffered writes commit here. A KernelError thrown here is close(2)'s return value; the
   * fd is closed all the same (and at exit the error is ignored, as Linux does).
   */
  flush?(task: Task | null): void;
  /**
   * read(2) / pread64(2) (kernel/file.ts): fills the start of `buf` (the caller already cut
   * it to the count) and returns how many bytes it filled, 0 at end of file. `pos` is
   * pread's offset, null for the file position. A read that has to wait returns a Promise
   * (or throws EAGAIN when the file is non-blocking). Absent means EINVAL, as Linux's
   * vfs_read without ->read.
   */
  read?(task: Task, buf: Uint8Array, pos: number | null): number | Promise<number>;
  /** write(2) / pwrite64(2), the same way; returns the bytes taken. Absent means EINVAL. */
  write?(task: Task, buf: Uint8Array, pos: number | null): number | Promise<number>;
  /** lseek(2) (SEEK_SET/SEEK_CUR/SEEK_END...); returns the new position. Absent means ESPIPE. */
  lseek?(offset: number, whence: number): number;
  /**
   * poll(2)/select(2)/epoll (kernel/poll.ts): the POLL* bits ready now (POLLIN 1, POLLOUT 4,
   * ...); absent means DEFAULT_POLLMASK. With a poll table `pt`, the object also queues
   * pt.wake on every wait queue whose wake-up may change the answer and hands pt.onCleanup
   * the way to take it off again (Linux's poll_wait). Never blocks; throws nothing.
   */
  poll?(task: Task, pt?: PollTable | null): number;
  /**
   * fcntl(F_GETFL) / fcntl(F_SETFL): the file status flags (access mode, O_APPEND,
   * O_NONBLOCK). setStatusFlags gets the new O_APPEND | O_NONBLOCK bits only. Absent:
   * F_GETFL reports O_RDWR and F_SETFL is a no-op, as for anon inodes.
   */
  statusFlags?(): number;
  setStatusFlags?(flags: number): void;
}

/**
 * poll_table (kernel/poll.ts): what a poller gives a FileObject's poll() so that the object
 * can wake it. The object queues `wake` on its wait queue(s) and registers the removal with
 * onCleanup; the poller runs the removals when it stops waiting (poll_freewait). A spurious
 * wake-up is harmless: the poller asks every object again.
 */
export interface PollTable {
  readonly wake: () => void;
  onCleanup(remove: () => void): void;
}

export const RLIMIT_NOFILE = 1024;

export class FdTable {
  private readonly files = new Map<number, FileObject>();
  /** The fds with FD_CLOEXEC set (closed by execve). */
  private readonly cloexec = new Set<number>();

  /** The lowest free fd >= `min` gets `file` (taking the reference the caller holds). */
  install(file: FileObject, cloexec = false, min = 0): number {
    for (let fd = Math.max(0, min); fd < RLIMIT_NOFILE; fd++) {
      if (!this.files.has(fd)) {
        this.files.set(fd, file);
        if (cloexec) this.cloexec.add(fd);
        return fd;
      }
    }
    throw new KernelError(min >= RLIMIT_NOFILE ? 'EINVAL' : 'EMFILE', 'too many open files');
  }

  /**
   * dup2/dup3: `file` at exactly `fd`; whatever was there is closed first (its flush error
   * ignored, as Linux's do_dup2 does).
   */
  installAt(fd: number, file: FileObject, cloexec = false): number {
    if (!Number.isInteger(fd) || fd < 0 || fd >= RLIMIT_NOFILE) throw new KernelError('EBADF', `bad file descriptor ${fd}`);
    const old = this.files.get(fd);
    this.files.set(fd, file);
    if (cloexec) this.cloexec.add(fd);
    else this.cloexec.delete(fd);
    if (old) closeFile(old);
    return fd;
  }

  get(fd: number): FileObject {
    const f = Number.isInteger(fd) ? this.files.get(fd) : undefined;
    if (!f) throw new KernelError('EBADF', `bad file descriptor ${fd}`);
    return f;
  }

  has(fd: number): boolean {
    return this.files.has(fd);
  }

  /** FD_CLOEXEC of an open fd (fcntl F_GETFD). */
  isCloexec(fd: number): boolean {
    this.get(fd);
    return this.cloexec.has(fd);
  }

  /** fcntl F_SETFD. */
  setCloexec(fd: number, on: boolean): void {
    this.get(fd);
    if (on) this.cloexec.add(fd);
    else this.cloexec.delete(fd);
  }

  /** close(2): the fd goes; the object's flush runs (its error is returned) and one reference is dropped. */
  close(fd: number, task: Task | null = null): void {
    const f = this.get(fd);
    this.files.delete(fd);
    this.cloexec.delete(fd);
    closeFile(f, task, true);
  }

  entries(): IterableIterator<[number, FileObject]> {
    return this.files.entries();
  }

  /** Every fd, as at exit: flush errors are ignored. */
  closeAll(): void {
    for (const fd of [...this.files.keys()]) this.closeQuietly(fd);
  }

  /** execve: the FD_CLOEXEC fds are closed (errors ignored). */
  closeOnExec(): void {
    for (const fd of [...this.cloexec]) this.closeQuietly(fd);
  }

  private closeQuietly(fd: number): void {
    const f = this.files.get(fd);
    if (!f) return;
    this.files.delete(fd);
    this.cloexec.delete(fd);
    closeFile(f);
  }

  /** The child's copy at fork(2): every fd whose object can take another reference. */
  fork(): FdTable {
    const t = new FdTable();
    for (const [fd, f] of this.files) {
      if (!f.retain) continue;
      f.retain();
      t.files.set(fd, f);
      if (this.cloexec.has(fd)) t.cloexec.add(fd);
    }
    return t;
  }
}

/** filp_close: flush, then drop the fd's reference; the flush error is rethrown when asked. */
function closeFile(f: FileObject, task: Task | null = null, report = false): void {
  let err: unknown = null;
  try {
    f.flush?.(task);
  } catch (e) {
    err = e;
  }
  f.release();
  if (err !== null && report) throw err;
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
