/**
 * I/O multiplexing (fs/select.c, fs/eventpoll.c): poll, ppoll, select, pselect6 and
 * epoll_create/epoll_create1/epoll_ctl/epoll_wait/epoll_pwait, over the optional poll()
 * method of FileObject (kernel/task.ts). A file's poll(task, pt) answers the POLL* bits
 * ready now and, given a poll table, queues pt.wake on its wait queues (Linux's
 * poll_wait); a wake-up from any of them (data on a socket, a connection on a listener,
 * an event for trace_pipe, a seccomp notification) makes the sleeping call ask every file
 * again. A file without poll() is always ready (DEFAULT_POLLMASK), as in Linux.
 *
 * Mini-OS conventions for pointer arguments (user memory):
 *  - struct pollfd[]: an array of { fd, events, revents } objects (revents is written), or
 *    a Uint8Array of 8-byte x86_64 struct pollfd records (int fd; short events; short
 *    revents; little-endian). Shorter than nfds entries: EFAULT.
 *  - fd_set (select/pselect6): a Uint8Array bitmap (fd n is bit n % 8 of byte n >> 3, the
 *    byte layout of Linux's unsigned long array; any other typed array is taken as its
 *    bytes) of at least ceil(nfds / 8) bytes, or an array of numbers, 32-bit words (fd n is
 *    bit n % 32 of word n >> 5) of at least ceil(nfds / 32) words. The ready sets are
 *    written back in place. null is an empty set.
 *  - struct timespec (ppoll, pselect6) and struct timeval (select): an object
 *    { tv_sec, tv_nsec } / { tv_sec, tv_usec } (numbers or bigints), or a 16-byte
 *    Uint8Array (two s64, little-endian); null waits forever. The time left is written
 *    back, as Linux does.
 *  - The signal mask of ppoll/pselect6 is checked (sigsetsize must be 8) but has no effect:
 *    the mini-OS has no blocked-signal masks.
 *  - struct epoll_event[]: an array epoll_wait fills with { events, data } objects (data is
 *    what EPOLL_CTL_ADD/MOD was given: a number, bigint or object as passed); epoll_ctl
 *    takes one { events, data } object.
 *
 * Timeouts. A timed wait ends on the kernel clock. With BootOptions.realTime it is a host
 * timer. With the deterministic clock (the default) time passes only when the mini-OS has
 * nothing else to do, as in a discrete-event simulator: once every task that can run has
 * run (a host setImmediate turn after the pending Promise jobs), the earliest pending
 * timeout expires and the clock jumps forward to its deadline; the others wait for the
 * next idle turn. So a poll with a timeout still sees data another task sends before
 * the mini-OS goes idle, and runs are reproducible. A wake-up by a signal with a handler
 * ends the wait with EINTR when nothing is ready (the call is not restarted).
 */
import { KernelError } from './errno.js';
import { perKernel, type Kernel } from './kernel.js';
import { taskHooksOf, wakeTask } from './process.js';
import { signalPending } from './signal.js';
import { defineSyscall, type SyscallArg } from './syscall.js';
import { RLIMIT_NOFILE, perTask, type FileObject, type PollTable, type Task } from './task.js';

/* poll(2) bits (asm-generic/poll.h); the EPOLL* values are the same. */
export const POLLIN = 0x1;
export const POLLPRI = 0x2;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;
export const POLLRDNORM = 0x40;
export const POLLRDBAND = 0x80;
export const POLLWRNORM = 0x100;
export const POLLWRBAND = 0x200;
export const POLLMSG = 0x400;
export const POLLRDHUP = 0x2000;
/** What a file without ->poll reports (DEFAULT_POLLMASK). */
export const DEFAULT_POLLMASK = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;

/* select(2)'s sets (fs/select.c). */
const POLLIN_SET = POLLRDNORM | POLLRDBAND | POLLIN | POLLHUP | POLLERR;
const POLLOUT_SET = POLLWRBAND | POLLWRNORM | POLLOUT | POLLERR;
const POLLEX_SET = POLLPRI;

/* epoll (uapi/linux/eventpoll.h). */
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CTL_MOD = 3;
export const EPOLL_CLOEXEC = 0o2000000;
export const EPOLLIN = POLLIN;
export const EPOLLPRI = POLLPRI;
export const EPOLLOUT = POLLOUT;
export const EPOLLERR = POLLERR;
export const EPOLLHUP = POLLHUP;
export const EPOLLRDNORM = POLLRDNORM;
export const EPOLLWRNORM = POLLWRNORM;
export const EPOLLRDHUP = POLLRDHUP;
export const EPOLLEXCLUSIVE = 1 << 28;
export const EPOLLWAKEUP = 1 << 29;
export const EPOLLONESHOT = 1 << 30;
export const EPOLLET = -0x80000000; // 1u << 31 as an int
/** EP_MAX_EVENTS: INT_MAX / sizeof(struct epoll_event). */
const EP_MAX_EVENTS = Math.floor(0x7fffffff / 12);
/** The flags that are not events (EP_PRIVATE_BITS). */
const EP_PRIVATE_BITS = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE;

const NS_PER_MS = 1_000_000n;
const NS_PER_SEC = 1_000_000_000n;

function int(v: SyscallArg): number {
  if (typeof v === 'number') return Number.isFinite(v) ? Math.trunc(v) | 0 : 0;
  if (typeof v === 'bigint') return Number(BigInt.asIntN(32, v));
  return 0;
}

// ---------------------------------------------------------------------------------------
// Kernel timers

interface Timer {
  readonly deadline: bigint;
  readonly seq: number;
  readonly fire: () => void;
  cancelled: boolean;
}

interface TimerState {
  /** Deterministic clock: pending timers, by deadline then arming order. */
  queue: Timer[];
  idleScheduled: boolean;
  seq: number;
}

const timersOf = perKernel((): TimerState => ({ queue: [], idleScheduled: false, seq: 0 }));

/** The idle turn: the earliest timer expires, the clock jumps to its deadline. */
function runIdle(kernel: Kernel): void {
  const st = timersOf(kernel);
  st.idleScheduled = false;
  let t: Timer | undefined;
  while ((t = st.queue.shift()) !== undefined && t.cancelled);
  if (t) {
    const now = kernel.clock.now();
    if (t.deadline > now) kernel.clock.advance(t.deadline - now);
    t.fire();
  }
  scheduleIdle(kernel, st);
}

function scheduleIdle(kernel: Kernel, st: TimerState): void {
  if (st.idleScheduled || st.queue.length === 0) return;
  st.idleScheduled = true;
  setImmediate(() => runIdle(kernel));
}

/**
 * Arms a one-shot timer at `deadline` (kernel clock ns): a host timer in real-time mode,
 * the idle queue otherwise (see the header). Returns its cancel function.
 */
export function addTimer(kernel: Kernel, deadline: bigint, fire: () => void): () => void {
  if (kernel.clock.realTime) {
    // setTimeout takes at most 2^31 - 1 ms (longer fires at once): re-armed until due.
    let h: ReturnType<typeof setTimeout> | null = null;
    const arm = (): void => {
      const left = deadline - kernel.clock.now();
      const ms = left <= 0n ? 0 : Number((left + NS_PER_MS - 1n) / NS_PER_MS);
      h = ms > 0x7fffffff ? setTimeout(arm, 0x7fffffff) : setTimeout(fire, ms);
    };
    arm();
    return () => {
      if (h !== null) clearTimeout(h);
    };
  }
  const st = timersOf(kernel);
  const t: Timer = { deadline, seq: st.seq++, fire, cancelled: false };
  let i = st.queue.length;
  while (i > 0 && st.queue[i - 1]!.deadline > deadline) i--;
  st.queue.splice(i, 0, t);
  scheduleIdle(kernel, st);
  return () => {
    if (t.cancelled) return;
    t.cancelled = true;
    const j = st.queue.indexOf(t);
    if (j >= 0) st.queue.splice(j, 1);
  };
}

// ---------------------------------------------------------------------------------------
// The wait

/** One round of waiting (struct poll_wqueues): the queues pt.wake is on. */
class PollWait implements PollTable {
  woken = false;
  readonly wake: () => void;
  private removes: (() => void)[] = [];
  constructor(kernel: Kernel, task: Task) {
    this.wake = () => {
      this.woken = true;
      wakeTask(kernel, task);
    };
  }
  onCleanup(remove: () => void): void {
    this.removes.push(remove);
  }
  /** poll_freewait: off every queue. */
  free(): void {
    const r = this.removes;
    this.removes = [];
    for (const f of r) f();
  }
}

/** A task's wait in progress, undone if the task dies in it (its queues and its timer). */
const activeWaitOf = perTask((): { cleanup: (() => void) | null } => ({ cleanup: null }));

const exitHookInstalled = perKernel((kernel): boolean => {
  taskHooksOf(kernel).exit.push((task) => {
    const a = activeWaitOf(task);
    const c = a.cleanup;
    a.cleanup = null;
    c?.();
  });
  return true;
});

/** An interruptible sleep until wakeTask() (a queue, the timer or a signal). */
function sleepTask(task: Task): Promise<void> {
  return new Promise<void>((resolve) => {
    task.state = 'sleeping';
    task.wake = () => {
      if (task.state === 'sleeping') task.state = 'running';
      resolve();
    };
  });
}

/**
 * The loop of do_poll / do_select / ep_poll: `scan` asks every file (queueing pt.wake on
 * their wait queues when pt is given) and returns a result, or null when nothing is
 * ready. With a zero timeout it is asked once; otherwise the task sleeps until a wake-up,
 * the timeout (`timedOut()` is the result) or a signal (EINTR). `timeoutNs` null waits
 * forever.
 */
export function pollLoop<T>(
  kernel: Kernel,
  task: Task,
  timeoutNs: bigint | null,
  scan: (pt: PollTable | null) => T | null,
  timedOut: () => T,
): T | Promise<T> {
  if (timeoutNs !== null && timeoutNs <= 0n) return scan(null) ?? timedOut();
  exitHookInstalled(kernel);
  let pt = new PollWait(kernel, task);
  const first = scan(pt);
  if (first !== null) {
    pt.free();
    return first;
  }
  if (signalPending(task)) {
    pt.free();
    throw new KernelError('EINTR', 'interrupted by a signal');
  }
  let expired = false;
  const cancelTimer =
    timeoutNs === null
      ? null
      : addTimer(kernel, kernel.clock.now() + timeoutNs, () => {
          expired = true;
          wakeTask(kernel, task);
        });
  const active = activeWaitOf(task);
  active.cleanup = () => {
    pt.free();
    cancelTimer?.();
  };
  return (async () => {
    try {
      for (;;) {
        if (!pt.woken && !expired) await sleepTask(task);
        pt.free();
        pt = new PollWait(kernel, task);
        const r = scan(expired ? null : pt);
        if (r !== null) return r;
        if (expired) return timedOut();
        if (signalPending(task)) throw new KernelError('EINTR', 'interrupted by a signal');
      }
    } finally {
      pt.free();
      cancelTimer?.();
      if (active.cleanup !== null) active.cleanup = null;
    }
  })();
}

/** One file's ready bits (vfs_poll): its poll(), or DEFAULT_POLLMASK without one. */
export function filePoll(task: Task, file: FileObject, pt: PollTable | null): number {
  return file.poll ? file.poll(task, pt) : DEFAULT_POLLMASK;
}

/**
 * poll_wait for a wait queue that only offers a Promise of its next wake-up (fs/vfs.ts's
 * streamFile): one such Promise per `key` is kept while pending and shared by every
 * poller, so polling in a loop does not pile up waiters on the queue.
 */
const promiseWaits = new WeakMap<object, Set<() => void>>();
export function pollWaitPromise(pt: PollTable, key: object, next: () => Promise<void>): void {
  let set = promiseWaits.get(key);
  if (!set) {
    const s = new Set<() => void>();
    set = s;
    promiseWaits.set(key, s);
    const fire = (): void => {
      if (promiseWaits.get(key) === s) promiseWaits.delete(key);
      for (const w of [...s]) w();
    };
    next().then(fire, fire);
  }
  const s = set;
  const w = pt.wake;
  s.add(w);
  pt.onCleanup(() => s.delete(w));
}

// ---------------------------------------------------------------------------------------
// Arguments

/** A timeout from poll(2)'s int milliseconds: negative waits forever. */
function msTimeout(ms: number): bigint | null {
  return ms < 0 ? null : BigInt(ms) * NS_PER_MS;
}

function numField(o: object, name: string): bigint {
  const v = (o as Record<string, unknown>)[name];
  if (typeof v === 'bigint') return BigInt.asIntN(64, v);
  if (typeof v === 'number' && Number.isFinite(v)) return BigInt(Math.trunc(v));
  if (v === undefined) return 0n;
  throw new KernelError('EFAULT', `bad ${name}`);
}

interface TimeArg {
  /** The user's struct (written back with the time left). */
  readonly user: object;
  readonly ns: bigint;
  /** 'ns' for timespec, 'us' for timeval. */
  readonly unit: 'ns' | 'us';
}

/** A struct timespec / timeval pointer: null is "forever"; invalid values are EINVAL. */
function timeArg(v: SyscallArg, unit: 'ns' | 'us'): TimeArg | null {
  if (v === null || v === undefined || v === 0 || v === 0n) return null;
  if (typeof v !== 'object') throw new KernelError('EFAULT', 'bad time pointer');
  let sec: bigint;
  let frac: bigint;
  if (v instanceof Uint8Array) {
    if (v.length < 16) throw new KernelError('EFAULT', 'time struct runs past its buffer');
    const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
    sec = dv.getBigInt64(0, true);
    frac = dv.getBigInt64(8, true);
  } else {
    sec = numField(v, 'tv_sec');
    frac = numField(v, unit === 'ns' ? 'tv_nsec' : 'tv_usec');
  }
  const max = unit === 'ns' ? NS_PER_SEC : 1_000_000n;
  if (sec < 0n || frac < 0n || frac >= max) throw new KernelError('EINVAL', 'invalid timeout');
  return { user: v, ns: sec * NS_PER_SEC + (unit === 'ns' ? frac : frac * 1000n), unit };
}

/** poll_select_finish: the time left goes back to the user's struct. */
function writeTimeLeft(t: TimeArg | null, deadline: bigint | null, kernel: Kernel): void {
  if (!t || deadline === null) return;
  let left = deadline - kernel.clock.now();
  if (left < 0n) left = 0n;
  const sec = left / NS_PER_SEC;
  const frac = t.unit === 'ns' ? left % NS_PER_SEC : (left % NS_PER_SEC) / 1000n;
  if (t.user instanceof Uint8Array) {
    const dv = new DataView(t.user.buffer, t.user.byteOffset, t.user.byteLength);
    dv.setBigInt64(0, sec, true);
    dv.setBigInt64(8, frac, true);
  } else {
    const o = t.user as Record<string, unknown>;
    o.tv_sec = Number(sec);
    o[t.unit === 'ns' ? 'tv_nsec' : 'tv_usec'] = Number(frac);
  }
}

/** The sigmask argument of ppoll: absent, or a sigset of 8 bytes. */
function checkSigset(mask: SyscallArg, size: SyscallArg): void {
  if (mask === null || mask === undefined || mask === 0 || mask === 0n) return;
  if (typeof mask !== 'object') throw new KernelError('EFAULT', 'bad sigset pointer');
  if (Number(size) !== 8) throw new KernelError('EINVAL', `sigsetsize ${String(size)}`);
}

interface PollFd {
  fd: number;
  events: number;
  revents: number;
}

/** The pollfd array: read in, written back (revents) by `store`. */
function pollFds(v: SyscallArg, nfds: number): { fds: PollFd[]; store: () => void } {
  if (nfds === 0) return { fds: [], store: () => undefined };
  if (v instanceof Uint8Array) {
    if (v.length < nfds * 8) throw new KernelError('EFAULT', `${nfds} pollfds run past the ${v.length}-byte buffer`);
    const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
    const fds: PollFd[] = [];
    for (let i = 0; i < nfds; i++) fds.push({ fd: dv.getInt32(8 * i, true), events: dv.getUint16(8 * i + 4, true), revents: 0 });
    return { fds, store: () => fds.forEach((p, i) => dv.setUint16(8 * i + 6, p.revents, true)) };
  }
  if (!Array.isArray(v) || v.length < nfds) throw new KernelError('EFAULT', 'bad pollfd array');
  const user = v as unknown[];
  const fds: PollFd[] = [];
  for (let i = 0; i < nfds; i++) {
    const e = user[i];
    if (typeof e !== 'object' || e === null) throw new KernelError('EFAULT', `bad pollfd ${i}`);
    const o = e as Record<string, unknown>;
    fds.push({ fd: int(o.fd as SyscallArg), events: int(o.events as SyscallArg) & 0xffff, revents: 0 });
  }
  return {
    fds,
    store: () => fds.forEach((p, i) => ((user[i] as Record<string, unknown>).revents = p.revents)),
  };
}

/** do_pollfd for each entry: the number of entries with revents. */
function scanPollFds(task: Task, fds: PollFd[], pt: PollTable | null): number {
  let count = 0;
  for (const p of fds) {
    p.revents = 0;
    if (p.fd < 0) continue;
    const file = task.fds.has(p.fd) ? task.fds.get(p.fd) : null;
    // With one ready, the rest need not queue the task (do_poll clears pt->_qproc).
    const mask = file ? filePoll(task, file, count > 0 ? null : pt) : POLLNVAL;
    p.revents = mask & (p.events | POLLERR | POLLHUP | POLLNVAL);
    if (p.revents !== 0) count++;
  }
  return count;
}

function doPoll(
  kernel: Kernel, task: Task, ufds: SyscallArg, nfdsArg: SyscallArg, timeoutNs: bigint | null, time: TimeArg | null,
): number | Promise<number> {
  const nfds = int(nfdsArg) >>> 0;
  if (nfds > RLIMIT_NOFILE) throw new KernelError('EINVAL', `nfds ${nfds} over RLIMIT_NOFILE`);
  const { fds, store } = pollFds(ufds, nfds);
  const deadline = timeoutNs === null ? null : kernel.clock.now() + timeoutNs;
  const done = (n: number): number => {
    store();
    writeTimeLeft(time, deadline, kernel);
    return n;
  };
  const r = pollLoop(kernel, task, timeoutNs, (pt) => {
    const n = scanPollFds(task, fds, pt);
    return n > 0 ? n : null;
  }, () => 0);
  return r instanceof Promise ? r.then(done) : done(r);
}

/** An fd_set argument: its bits for fds below n, and how to write a result set back. */
interface FdSet {
  has(fd: number): boolean;
  store(bits: Uint8Array): void;
}

function fdSetArg(v: SyscallArg, n: number): FdSet | null {
  if (v === null || v === undefined || v === 0 || v === 0n) return null;
  const bytes = Math.ceil(n / 8);
  if (ArrayBuffer.isView(v)) {
    const u8 = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    if (u8.length < bytes) throw new KernelError('EFAULT', `fd_set of ${u8.length} bytes for ${n} fds`);
    const bits = u8.slice(0, bytes);
    return {
      has: (fd) => ((bits[fd >> 3]! >> (fd & 7)) & 1) !== 0,
      store: (out) => u8.set(out.subarray(0, bytes)),
    };
  }
  if (Array.isArray(v)) {
    const words = Math.ceil(n / 32);
    const user = v as unknown[];
    if (user.length < words) throw new KernelError('EFAULT', `fd_set of ${user.length} words for ${n} fds`);
    const bits = user.slice(0, words).map((w) => (typeof w === 'number' ? w : typeof w === 'bigint' ? Number(BigInt.asUintN(32, w)) : 0) >>> 0);
    return {
      has: (fd) => ((bits[fd >> 5]! >>> (fd & 31)) & 1) !== 0,
      store: (out) => {
        for (let i = 0; i < words; i++) {
          user[i] = ((out[4 * i] ?? 0) | ((out[4 * i + 1] ?? 0) << 8) | ((out[4 * i + 2] ?? 0) << 16) | ((out[4 * i + 3] ?? 0) << 24)) >>> 0;
        }
      },
    };
  }
  throw new KernelError('EFAULT', 'bad fd_set');
}

function doSelect(
  kernel: Kernel, task: Task, nArg: SyscallArg, inp: SyscallArg, outp: SyscallArg, exp: SyscallArg, time: TimeArg | null,
): number | Promise<number> {
  let n = int(nArg);
  if (n < 0) throw new KernelError('EINVAL', `nfds ${n}`);
  if (n > RLIMIT_NOFILE) n = RLIMIT_NOFILE; // core_sys_select: clamped to the table size
  const sets = [fdSetArg(inp, n), fdSetArg(outp, n), fdSetArg(exp, n)] as const;
  const want = [POLLIN_SET, POLLOUT_SET, POLLEX_SET] as const;
  // max_select_fd: a set bit for an fd that is not open is EBADF.
  const fds: number[] = [];
  for (let fd = 0; fd < n; fd++) {
    if (!sets.some((s) => s?.has(fd))) continue;
    if (!task.fds.has(fd)) throw new KernelError('EBADF', `fd ${fd} in an fd_set is not open`);
    fds.push(fd);
  }
  const bytes = Math.ceil(n / 8);
  const res = [new Uint8Array(bytes), new Uint8Array(bytes), new Uint8Array(bytes)];
  const timeoutNs = time ? time.ns : null;
  const deadline = timeoutNs === null ? null : kernel.clock.now() + timeoutNs;
  const scan = (pt: PollTable | null): number | null => {
    for (const r of res) r.fill(0);
    let count = 0;
    for (const fd of fds) {
      if (!task.fds.has(fd)) continue; // closed meanwhile: EPOLLNVAL, in no set
      const mask = filePoll(task, task.fds.get(fd), count > 0 ? null : pt);
      for (let i = 0; i < 3; i++) {
        if (sets[i]?.has(fd) && mask & want[i]!) {
          res[i]![fd >> 3]! |= 1 << (fd & 7);
          count++;
        }
      }
    }
    return count > 0 ? count : null;
  };
  const done = (count: number): number => {
    sets.forEach((s, i) => s?.store(res[i]!));
    writeTimeLeft(time, deadline, kernel);
    return count;
  };
  const r = pollLoop(kernel, task, timeoutNs, scan, () => {
    for (const x of res) x.fill(0);
    return 0;
  });
  return r instanceof Promise ? r.then(done) : done(r);
}

/** pselect6's sixth argument: { ss, ss_len } (a sigset pointer and its size) or null. */
function checkPselectSig(v: SyscallArg): void {
  if (v === null || v === undefined || v === 0 || v === 0n) return;
  if (typeof v !== 'object') throw new KernelError('EFAULT', 'bad sigset argument');
  const o = v as Record<string, unknown>;
  checkSigset(o.ss as SyscallArg, o.ss_len as SyscallArg);
}

// ---------------------------------------------------------------------------------------
// epoll

interface EpItem {
  readonly fd: number;
  readonly file: FileObject;
  events: number;
  data: unknown;
  /** EPOLLONESHOT fired: disabled until EPOLL_CTL_MOD. */
  disabled: boolean;
  /** EPOLLET: the bits already reported since the last wake-up of the file. */
  reported: number;
  /** EPOLLET: takes the edge watcher off the file's queues. */
  edgeCleanup: (() => void) | null;
}

/**
 * EPOLLET: after a report, the next wake-up of the file (new data, a new connection...)
 * is a new edge: the reported bits may be reported again.
 */
function armEdge(task: Task, it: EpItem): void {
  it.edgeCleanup?.();
  let removes: (() => void)[] = [];
  const free = (): void => {
    const r = removes;
    removes = [];
    for (const f of r) f();
    if (it.edgeCleanup === free) it.edgeCleanup = null;
  };
  const pt: PollTable = {
    wake: () => {
      it.reported = 0;
      free();
    },
    onCleanup: (r) => removes.push(r),
  };
  it.edgeCleanup = free;
  filePoll(task, it.file, pt);
}

function dropItem(ep: EpollFile, fd: number): void {
  const it = ep.items.get(fd);
  if (!it) return;
  it.edgeCleanup?.();
  ep.items.delete(fd);
}

export interface EpollEvent {
  events: number;
  data: unknown;
}

/** An epoll instance (struct eventpoll): the interest list, keyed by (fd, file). */
export class EpollFile implements FileObject {
  readonly kind = 'epoll';
  private refs = 1;
  readonly items = new Map<number, EpItem>();

  retain(): void {
    this.refs++;
  }

  release(): void {
    if (--this.refs > 0) return;
    for (const fd of [...this.items.keys()]) dropItem(this, fd);
  }

  /** An epoll fd is readable when one of its items is ready (ep_eventpoll_poll). */
  poll(task: Task, pt?: PollTable | null): number {
    return this.collect(task, pt ?? null, 1, false).length > 0 ? POLLIN | POLLRDNORM : 0;
  }

  /**
   * The ready items (at most `max`), polled now; `pt` queues the waiter on each file.
   * `consume` applies EPOLLONESHOT and EPOLLET as a report does.
   */
  collect(task: Task, pt: PollTable | null, max: number, consume: boolean): EpollEvent[] {
    const out: EpollEvent[] = [];
    for (const [fd, it] of this.items) {
      // A closed fd leaves the set (eventpoll_release); so does a reused fd's old file.
      if (!task.fds.has(fd) || task.fds.get(fd) !== it.file) {
        dropItem(this, fd);
        continue;
      }
      if (it.disabled) continue;
      const mask = filePoll(task, it.file, out.length >= max ? null : pt);
      let ready = mask & (it.events | POLLERR | POLLHUP) & ~EP_PRIVATE_BITS;
      if (it.events & EPOLLET) ready &= ~it.reported;
      if (ready === 0 || out.length >= max) continue;
      out.push({ events: ready, data: it.data });
      if (!consume) continue;
      if (it.events & EPOLLONESHOT) it.disabled = true;
      if (it.events & EPOLLET) {
        it.reported |= ready;
        armEdge(task, it);
      }
    }
    return out;
  }
}

function epollCtl(task: Task, epfd: number, op: number, fd: number, ev: SyscallArg): number {
  const ep = task.fds.get(epfd);
  const file = task.fds.get(fd);
  if (!(ep instanceof EpollFile)) throw new KernelError('EINVAL', `fd ${epfd} is not an epoll fd`);
  if (file === ep) throw new KernelError('EINVAL', 'an epoll fd cannot watch itself');
  if (!file.poll) throw new KernelError('EPERM', `${file.kind} does not support poll`);
  let events = 0;
  let data: unknown = undefined;
  if (op !== EPOLL_CTL_DEL) {
    if (typeof ev !== 'object' || ev === null) throw new KernelError('EFAULT', 'bad epoll_event');
    const o = ev as Record<string, unknown>;
    events = int(o.events as SyscallArg);
    data = o.data;
    if (events & EPOLLEXCLUSIVE && (op === EPOLL_CTL_MOD || events & EPOLLONESHOT || file instanceof EpollFile)) {
      throw new KernelError('EINVAL', 'EPOLLEXCLUSIVE here');
    }
  }
  const it = ep.items.get(fd);
  switch (op) {
    case EPOLL_CTL_ADD:
      if (it && it.file === file) throw new KernelError('EEXIST', `fd ${fd} already watched`);
      if (file instanceof EpollFile && reaches(file, ep)) throw new KernelError('ELOOP', 'epoll loop');
      dropItem(ep, fd); // a stale entry of a closed fd's old file
      ep.items.set(fd, { fd, file, events: events | POLLERR | POLLHUP, data, disabled: false, reported: 0, edgeCleanup: null });
      return 0;
    case EPOLL_CTL_MOD:
      if (!it || it.file !== file) throw new KernelError('ENOENT', `fd ${fd} not watched`);
      if (it.events & EPOLLEXCLUSIVE) throw new KernelError('EINVAL', 'EPOLLEXCLUSIVE item');
      it.events = events | POLLERR | POLLHUP;
      it.data = data;
      it.disabled = false;
      it.reported = 0;
      it.edgeCleanup?.();
      return 0;
    case EPOLL_CTL_DEL:
      if (!it || it.file !== file) throw new KernelError('ENOENT', `fd ${fd} not watched`);
      dropItem(ep, fd);
      return 0;
    default:
      throw new KernelError('EINVAL', `epoll_ctl op ${op}`);
  }
}

/** ep_loop_check: would watching `from` from `to` make a cycle? */
function reaches(from: EpollFile, to: EpollFile, depth = 0): boolean {
  if (from === to) return true;
  if (depth > 4) return true; // EP_MAX_NESTS
  for (const it of from.items.values()) if (it.file instanceof EpollFile && reaches(it.file, to, depth + 1)) return true;
  return false;
}

function epollWait(
  kernel: Kernel, task: Task, epfd: number, out: SyscallArg, maxArg: SyscallArg, timeoutNs: bigint | null,
): number | Promise<number> {
  const max = int(maxArg);
  if (max <= 0 || max > EP_MAX_EVENTS) throw new KernelError('EINVAL', `maxevents ${max}`);
  if (!Array.isArray(out)) throw new KernelError('EFAULT', 'bad epoll_event array');
  const ep = task.fds.get(epfd);
  if (!(ep instanceof EpollFile)) throw new KernelError('EINVAL', `fd ${epfd} is not an epoll fd`);
  const user = out as unknown[];
  const done = (evs: EpollEvent[]): number => {
    evs.forEach((e, i) => {
      const slot = user[i];
      if (typeof slot === 'object' && slot !== null) Object.assign(slot, e);
      else user[i] = { ...e };
    });
    return evs.length;
  };
  const r = pollLoop(kernel, task, timeoutNs, (pt) => {
    const evs = ep.collect(task, pt, max, true);
    return evs.length > 0 ? evs : null;
  }, () => []);
  return r instanceof Promise ? r.then(done) : done(r);
}

function epollCreate(task: Task, flags: number): number {
  if (flags & ~EPOLL_CLOEXEC) throw new KernelError('EINVAL', `epoll_create1 flags ${flags}`);
  return task.fds.install(new EpollFile(), (flags & EPOLL_CLOEXEC) !== 0);
}

// ---------------------------------------------------------------------------------------

/** Boot step (called by kernel/file.ts's registerFileSyscalls). */
export function registerPollSyscalls(kernel: Kernel): void {
  defineSyscall(kernel, 'poll', ({ task, args }) => doPoll(kernel, task, args[0], args[1], msTimeout(int(args[2])), null));
  defineSyscall(kernel, 'ppoll', ({ task, args }) => {
    const time = timeArg(args[2], 'ns');
    checkSigset(args[3], args[4]);
    return doPoll(kernel, task, args[0], args[1], time ? time.ns : null, time);
  });
  defineSyscall(kernel, 'select', ({ task, args }) =>
    doSelect(kernel, task, args[0], args[1], args[2], args[3], timeArg(args[4], 'us')));
  defineSyscall(kernel, 'pselect6', ({ task, args }) => {
    const time = timeArg(args[4], 'ns');
    checkPselectSig(args[5]);
    return doSelect(kernel, task, args[0], args[1], args[2], args[3], time);
  });
  defineSyscall(kernel, 'epoll_create', ({ task, args }) => {
    if (int(args[0]) <= 0) throw new KernelError('EINVAL', 'epoll_create size');
    return epollCreate(task, 0);
  });
  defineSyscall(kernel, 'epoll_create1', ({ task, args }) => epollCreate(task, int(args[0])));
  defineSyscall(kernel, 'epoll_ctl', ({ task, args }) => epollCtl(task, int(args[0]), int(args[1]), int(args[2]), args[3]));
  defineSyscall(kernel, 'epoll_wait', ({ task, args }) =>
    epollWait(kernel, task, int(args[0]), args[1], args[2], msTimeout(int(args[3]))));
  defineSyscall(kernel, 'epoll_pwait', ({ task, args }) => {
    checkSigset(args[4], args[5]);
    return epollWait(kernel, task, int(args[0]), args[1], args[2], msTimeout(int(args[3])));
  });
}
