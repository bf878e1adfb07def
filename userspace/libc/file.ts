/**
 * File wrappers, as a C program calls them: open (openat(AT_FDCWD, ...), as glibc does),
 * read, write, pread, pwrite, lseek, dup, dup2, fcntl, stat/fstat (newfstatat/fstat),
 * mkdir, rmdir, unlink, rename, chmod, access, truncate, umask, readdir (getdents64), the
 * conveniences readFile/writeFile built from open + read/write + close, and I/O
 * multiplexing: poll, ppoll, select, pselect (pselect6), epoll_create1/ctl/wait. close(2) is
 * proc.ts's (the same call for every fd).
 *
 * Each wrapper enters the kernel through syscall() only, so seccomp and the syscalls:
 * tracepoints see every call with Linux's numbers; failures throw SyscallError (libc's
 * -1 + errno). A read that has to wait (trace_pipe, an empty socket) resolves when data
 * arrives, unless the fd is O_NONBLOCK (then EAGAIN).
 */
import { AT_FDCWD, O_CREAT, O_DIRECTORY, O_RDONLY, O_TRUNC, O_WRONLY, SEEK_SET } from '../../kernel/file.js';
import type { StatBuf } from '../../fs/syscalls.js';
import type { EpollEvent } from '../../kernel/poll.js';
import { SyscallError, check, sys, type Proc } from './process.js';
import { close } from './proc.js';

export {
  O_ACCMODE, O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC, O_APPEND, O_NONBLOCK, O_DIRECTORY, O_NOFOLLOW,
  O_CLOEXEC, AT_FDCWD, AT_REMOVEDIR, AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW, SEEK_SET, SEEK_CUR, SEEK_END, F_DUPFD,
  F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL, F_SETFL, FD_CLOEXEC,
} from '../../kernel/file.js';
export { DT_DIR, DT_REG, DT_UNKNOWN, RENAME_NOREPLACE, STAT_SIZE, type StatBuf } from '../../fs/syscalls.js';

export {
  POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP, POLLNVAL, POLLRDNORM, POLLRDBAND, POLLWRNORM, POLLWRBAND, POLLMSG, POLLRDHUP,
  EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EPOLL_CLOEXEC, EPOLLIN, EPOLLPRI, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDNORM,
  EPOLLWRNORM, EPOLLRDHUP, EPOLLEXCLUSIVE, EPOLLONESHOT, EPOLLET, type EpollEvent,
} from '../../kernel/poll.js';

/** access(2) modes. */
export const F_OK = 0;
export const X_OK = 1;
export const W_OK = 2;
export const R_OK = 4;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function bytesOf(data: Uint8Array | string): Uint8Array {
  return typeof data === 'string' ? encoder.encode(data) : data;
}

/** open(2) (glibc calls openat(AT_FDCWD, ...)): the new fd. */
export const open = (p: Proc, path: string, flags = O_RDONLY, mode = 0o666): Promise<number> =>
  check(p, 'openat', AT_FDCWD, path, flags, mode);

export const openat = (p: Proc, dirfd: number, path: string, flags = O_RDONLY, mode = 0o666): Promise<number> =>
  check(p, 'openat', dirfd, path, flags, mode);

/** creat(2): open(path, O_CREAT | O_WRONLY | O_TRUNC, mode), as glibc does it. */
export const creat = (p: Proc, path: string, mode = 0o666): Promise<number> =>
  open(p, path, O_CREAT | O_WRONLY | O_TRUNC, mode);

/** read(2) into `buf` (count bytes at most; the whole buffer by default): the bytes read, 0 at end of file. */
export const read = (p: Proc, fd: number, buf: Uint8Array, count = buf.length): Promise<number> =>
  check(p, 'read', fd, buf, count);

/** write(2) of bytes (a string is written as UTF-8): the bytes written. */
export function write(p: Proc, fd: number, data: Uint8Array | string, count?: number): Promise<number> {
  const buf = bytesOf(data);
  return check(p, 'write', fd, buf, count ?? buf.length);
}

export const pread = (p: Proc, fd: number, buf: Uint8Array, count: number, offset: number): Promise<number> =>
  check(p, 'pread64', fd, buf, count, offset);

export function pwrite(p: Proc, fd: number, data: Uint8Array | string, offset: number): Promise<number> {
  const buf = bytesOf(data);
  return check(p, 'pwrite64', fd, buf, buf.length, offset);
}

/** lseek(2): the new position. */
export const lseek = (p: Proc, fd: number, offset: number, whence = SEEK_SET): Promise<number> =>
  check(p, 'lseek', fd, offset, whence);

export const dup = (p: Proc, fd: number): Promise<number> => check(p, 'dup', fd);
export const dup2 = (p: Proc, oldfd: number, newfd: number): Promise<number> => check(p, 'dup2', oldfd, newfd);
export const dup3 = (p: Proc, oldfd: number, newfd: number, flags: number): Promise<number> => check(p, 'dup3', oldfd, newfd, flags);
export const fcntl = (p: Proc, fd: number, cmd: number, arg = 0): Promise<number> => check(p, 'fcntl', fd, cmd, arg);

/** stat(2) (glibc: newfstatat(AT_FDCWD, path, &st, 0)). */
export async function stat(p: Proc, path: string): Promise<StatBuf> {
  const st = {} as StatBuf;
  await check(p, 'newfstatat', AT_FDCWD, path, st, 0);
  return st;
}

/** There are no symbolic links: lstat is stat. */
export const lstat = stat;

export async function fstat(p: Proc, fd: number): Promise<StatBuf> {
  const st = {} as StatBuf;
  await check(p, 'fstat', fd, st);
  return st;
}

export const mkdir = (p: Proc, path: string, mode = 0o777): Promise<number> => check(p, 'mkdir', path, mode);
export const rmdir = (p: Proc, path: string): Promise<number> => check(p, 'rmdir', path);
export const unlink = (p: Proc, path: string): Promise<number> => check(p, 'unlink', path);
export const rename = (p: Proc, from: string, to: string): Promise<number> => check(p, 'rename', from, to);
export const chmod = (p: Proc, path: string, mode: number): Promise<number> => check(p, 'chmod', path, mode);
export const access = (p: Proc, path: string, mode = F_OK): Promise<number> => check(p, 'access', path, mode);
export const truncate = (p: Proc, path: string, length: number): Promise<number> => check(p, 'truncate', path, length);
export const ftruncate = (p: Proc, fd: number, length: number): Promise<number> => check(p, 'ftruncate', fd, length);
/** umask(2): sets the mask, returns the old one (never fails). */
export const umask = (p: Proc, mask: number): Promise<number> => check(p, 'umask', mask);

/** One directory entry of getdents64. */
export interface Dirent {
  ino: number;
  type: number;
  name: string;
}

/** Parses the linux_dirent64 records getdents64 wrote. */
export function parseDirents(buf: Uint8Array, n: number): Dirent[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Dirent[] = [];
  for (let off = 0; off < n; ) {
    const reclen = dv.getUint16(off + 16, true);
    const end = buf.indexOf(0, off + 19);
    out.push({
      ino: Number(dv.getBigUint64(off, true)),
      type: dv.getUint8(off + 18),
      name: decoder.decode(buf.subarray(off + 19, end < 0 || end > off + reclen ? off + reclen : end)),
    });
    off += reclen;
  }
  return out;
}

/** opendir + readdir + closedir: the directory's entries, `.` and `..` included, in getdents64 order. */
export async function readdir(p: Proc, path: string): Promise<Dirent[]> {
  const fd = await open(p, path, O_RDONLY | O_DIRECTORY);
  const out: Dirent[] = [];
  try {
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await check(p, 'getdents64', fd, buf, buf.length);
      if (n === 0) break;
      out.push(...parseDirents(buf, n));
    }
  } finally {
    await sys(p, 'close', fd);
  }
  return out;
}

/**
 * open + read until end of file + close: the whole file (a string with 'utf8'). A file
 * that blocks (trace_pipe) makes this wait; open it O_NONBLOCK and use read() instead.
 */
export async function readFile(p: Proc, path: string): Promise<Uint8Array>;
export async function readFile(p: Proc, path: string, encoding: 'utf8'): Promise<string>;
export async function readFile(p: Proc, path: string, encoding?: 'utf8'): Promise<Uint8Array | string> {
  const fd = await open(p, path, O_RDONLY);
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const buf = new Uint8Array(65536);
      const n = await read(p, fd, buf);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
    }
  } finally {
    await sys(p, 'close', fd);
  }
  const all = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.length;
  }
  return encoding ? decoder.decode(all) : all;
}

/**
 * `echo data > path`: open (O_WRONLY | O_CREAT | O_TRUNC by default), one write(2) of the
 * whole data (looping only on a short write), close. The owner's error comes back from the
 * write (or from close, for files that commit there) as SyscallError.
 */
export async function writeFile(
  p: Proc, path: string, data: Uint8Array | string, flags = O_WRONLY | O_CREAT | O_TRUNC, mode = 0o666,
): Promise<void> {
  const bytes = bytesOf(data);
  const fd = await open(p, path, flags, mode);
  let ok = false;
  try {
    let off = 0;
    do {
      const n = await write(p, fd, bytes.subarray(off));
      if (n <= 0 && bytes.length > 0) throw new SyscallError('write', 5); // EIO: no progress
      off += n;
    } while (off < bytes.length);
    ok = true;
  } finally {
    if (ok) await close(p, fd);
    else await sys(p, 'close', fd);
  }
}

/* ------------------------------------------------------------------ I/O multiplexing */

/** struct pollfd: revents is filled in by poll/ppoll. */
export interface PollFd {
  fd: number;
  events: number;
  revents: number;
}

export interface Timespec {
  tv_sec: number;
  tv_nsec: number;
}

export interface Timeval {
  tv_sec: number;
  tv_usec: number;
}

/** The pollfd array of poll(2) from { fd, events } (revents starts at 0). */
export const pollfds = (...entries: { fd: number; events: number }[]): PollFd[] =>
  entries.map((e) => ({ fd: e.fd, events: e.events, revents: 0 }));

/**
 * poll(2): waits until one of `fds` is ready, `timeout` ms pass (-1: forever, 0: no wait)
 * or a signal arrives (EINTR); fills in each revents and returns how many have one.
 */
export const poll = (p: Proc, fds: PollFd[], timeout = -1): Promise<number> => check(p, 'poll', fds, fds.length, timeout);

/** ppoll(2): poll with a timespec (null: forever; the time left is written back). */
export const ppoll = (p: Proc, fds: PollFd[], timeout: Timespec | null, sigmask: Uint8Array | null = null): Promise<number> =>
  check(p, 'ppoll', fds, fds.length, timeout, sigmask, 8);

/** FD_SETSIZE: the bits of a glibc fd_set. */
export const FD_SETSIZE = 1024;

/** An fd_set (128 bytes, FD_SETSIZE bits) with `fds` set. */
export function fdSet(...fds: number[]): Uint8Array {
  const set = new Uint8Array(FD_SETSIZE / 8);
  for (const fd of fds) FD_SET(fd, set);
  return set;
}

export function FD_SET(fd: number, set: Uint8Array): void {
  set[fd >> 3]! |= 1 << (fd & 7);
}

export function FD_CLR(fd: number, set: Uint8Array): void {
  set[fd >> 3]! &= ~(1 << (fd & 7));
}

export function FD_ISSET(fd: number, set: Uint8Array): boolean {
  return ((set[fd >> 3]! >> (fd & 7)) & 1) !== 0;
}

export function FD_ZERO(set: Uint8Array): void {
  set.fill(0);
}

/** The fds set in an fd_set, below `nfds`. */
export function fdSetMembers(set: Uint8Array, nfds = set.length * 8): number[] {
  const out: number[] = [];
  for (let fd = 0; fd < nfds && fd < set.length * 8; fd++) if (FD_ISSET(fd, set)) out.push(fd);
  return out;
}

type FdSetArg = Uint8Array | number[] | null;

/**
 * select(2): the sets (fd_set bitmaps, see kernel/poll.ts) are replaced by the ready fds;
 * returns how many bits are set in all. `timeout` null waits forever.
 */
export const select = (
  p: Proc, nfds: number, readfds: FdSetArg, writefds: FdSetArg, exceptfds: FdSetArg, timeout: Timeval | null = null,
): Promise<number> => check(p, 'select', nfds, readfds, writefds, exceptfds, timeout);

/** pselect(3): glibc's pselect6 call, the sigmask passed as { ss, ss_len: 8 }. */
export const pselect = (
  p: Proc, nfds: number, readfds: FdSetArg, writefds: FdSetArg, exceptfds: FdSetArg, timeout: Timespec | null = null,
  sigmask: Uint8Array | null = null,
): Promise<number> =>
  check(p, 'pselect6', nfds, readfds, writefds, exceptfds, timeout, sigmask ? { ss: sigmask, ss_len: 8 } : null);

/** epoll_create1(2): a new epoll fd (flags: EPOLL_CLOEXEC). */
export const epollCreate1 = (p: Proc, flags = 0): Promise<number> => check(p, 'epoll_create1', flags);

/** epoll_ctl(2): EPOLL_CTL_ADD/MOD/DEL of `fd`; `data` comes back with its events. */
export const epollCtl = (p: Proc, epfd: number, op: number, fd: number, events = 0, data: unknown = fd): Promise<number> =>
  check(p, 'epoll_ctl', epfd, op, fd, { events, data });

/** epoll_wait(2): up to `maxevents` ready { events, data }, waiting `timeout` ms (-1: forever). */
export async function epollWait(p: Proc, epfd: number, maxevents = 64, timeout = -1): Promise<EpollEvent[]> {
  const out: EpollEvent[] = [];
  const n = await check(p, 'epoll_wait', epfd, out, maxevents, timeout);
  return out.slice(0, n);
}
