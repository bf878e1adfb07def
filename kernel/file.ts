/**
 * The fd-level file syscalls (fs/read_write.c, fs/file.c, fs/fcntl.c): read, write,
 * pread64, pwrite64, lseek, dup, dup2, dup3 and fcntl (F_DUPFD, F_DUPFD_CLOEXEC,
 * F_GETFD/F_SETFD, F_GETFL/F_SETFL). They know nothing about paths: each dispatches to the
 * optional methods of the fd's FileObject (kernel/task.ts), so a socket, a VFS file
 * (fs/syscalls.ts) or any later object answers read(2) the same way. close(2) and ioctl(2)
 * live in process.ts; poll, ppoll, select, pselect6 and epoll in poll.ts.
 *
 * Mini-OS conventions for pointer arguments (objects are user memory): `buf` is a
 * Uint8Array, and `count` may not run past its end (that would be EFAULT in Linux too,
 * copy_to_user hitting unmapped memory); anything that is not a Uint8Array is EFAULT.
 * Errors are Linux's: EBADF for a closed fd, EINVAL for an object without ->read/->write,
 * ESPIPE for lseek/pread on a pipe-like object, EAGAIN from a non-blocking object.
 *
 * The UAPI constants (asm-generic/fcntl.h, linux/fcntl.h, poll.h) are exported here for
 * the layers above: fs/syscalls.ts and userspace/libc/file.ts.
 */
import { KernelError } from './errno.js';
import type { Kernel } from './kernel.js';
import { registerPollSyscalls } from './poll.js';
import { defineSyscall, type SyscallArg } from './syscall.js';
import { RLIMIT_NOFILE, type FileObject, type Task } from './task.js';

/* open(2) flags, x86_64 values (asm-generic/fcntl.h). */
export const O_ACCMODE = 0o3;
export const O_RDONLY = 0o0;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_NOCTTY = 0o400;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_NONBLOCK = 0o4000;
export const O_DSYNC = 0o10000;
export const O_DIRECTORY = 0o200000;
export const O_NOFOLLOW = 0o400000;
export const O_NOATIME = 0o1000000;
export const O_CLOEXEC = 0o2000000;
export const O_PATH = 0o10000000;

/* *at() (linux/fcntl.h). */
export const AT_FDCWD = -100;
export const AT_SYMLINK_NOFOLLOW = 0x100;
export const AT_REMOVEDIR = 0x200;
export const AT_EACCESS = 0x200;
export const AT_EMPTY_PATH = 0x1000;

/* lseek(2) whence (linux/fs.h). */
export const SEEK_SET = 0;
export const SEEK_CUR = 1;
export const SEEK_END = 2;
export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;

/* fcntl(2) commands and FD_CLOEXEC. */
export const F_DUPFD = 0;
export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const F_DUPFD_CLOEXEC = 1030;
export const FD_CLOEXEC = 1;

/* poll(2) bits (asm-generic/poll.h): defined with the poll syscalls. */
export {
  DEFAULT_POLLMASK, POLLERR, POLLHUP, POLLIN, POLLMSG, POLLNVAL, POLLOUT, POLLPRI, POLLRDBAND, POLLRDHUP, POLLRDNORM,
  POLLWRBAND, POLLWRNORM,
} from './poll.js';

/** The status flags fcntl(F_SETFL) may change (SETFL_MASK, less O_ASYNC/O_DIRECT/O_NOATIME). */
export const SETFL_MASK = O_APPEND | O_NONBLOCK;

/** MAX_RW_COUNT: a read or write moves at most this much (INT_MAX & PAGE_MASK). */
export const MAX_RW_COUNT = 0x7ffff000;

/** An `int` argument (fd, flags): the low 32 bits, signed. */
export function intArg(v: SyscallArg): number {
  if (typeof v === 'number') return Number.isFinite(v) ? Math.trunc(v) | 0 : 0;
  if (typeof v === 'bigint') return Number(BigInt.asIntN(32, v));
  return 0;
}

/** An `unsigned int` argument (fd in close/dup, cmd): the low 32 bits, unsigned. */
export function uintArg(v: SyscallArg): number {
  return intArg(v) >>> 0;
}

/** A `size_t`/`loff_t` argument as a JS number (64-bit two's complement, signed). */
export function longArg(v: SyscallArg): number {
  if (typeof v === 'number') return Number.isFinite(v) ? Math.trunc(v) : 0;
  if (typeof v === 'bigint') return Number(BigInt.asIntN(64, v));
  return 0;
}

/** The fd argument of a call: `unsigned int fd` (a negative int is a huge fd: EBADF). */
export function fileArg(task: Task, v: SyscallArg): FileObject {
  return task.fds.get(intArg(v));
}

/**
 * The user buffer of read/write: `buf` cut to `count`. A count past the end of the buffer
 * (or a negative one, a huge size_t) is EFAULT; counts above MAX_RW_COUNT are clamped.
 */
export function userBuffer(buf: SyscallArg, count: SyscallArg): Uint8Array {
  const n = Math.min(longArg(count), MAX_RW_COUNT);
  if (!(buf instanceof Uint8Array)) {
    if (n === 0 && (buf === null || buf === undefined)) return new Uint8Array(0);
    throw new KernelError('EFAULT', 'bad user buffer');
  }
  if (n < 0 || n > buf.length) throw new KernelError('EFAULT', `count ${n} runs past the ${buf.length}-byte buffer`);
  return buf.subarray(0, n);
}

function doRead(task: Task, file: FileObject, buf: Uint8Array, pos: number | null): number | Promise<number> {
  if (!file.read) throw new KernelError('EINVAL', `read on ${file.kind}`);
  return file.read(task, buf, pos);
}

function doWrite(task: Task, file: FileObject, buf: Uint8Array, pos: number | null): number | Promise<number> {
  if (!file.write) throw new KernelError('EINVAL', `write on ${file.kind}`);
  return file.write(task, buf, pos);
}

/** pread64/pwrite64: an explicit offset needs a seekable object and a non-negative offset. */
function explicitPos(file: FileObject, v: SyscallArg): number {
  const pos = longArg(v);
  if (pos < 0) throw new KernelError('EINVAL', `negative offset ${pos}`);
  if (!file.lseek) throw new KernelError('ESPIPE', `${file.kind} is not seekable`);
  return pos;
}

/** dup/F_DUPFD: one more reference to the object, at the lowest free fd >= min. */
export function dupFile(task: Task, file: FileObject, cloexec: boolean, min = 0): number {
  if (!file.retain) throw new KernelError('EINVAL', `${file.kind} cannot be duplicated`);
  file.retain();
  try {
    return task.fds.install(file, cloexec, min);
  } catch (e) {
    file.release(); // the reference the fd would have held; no fd, so no flush
    throw e;
  }
}

/** dup2/dup3: the object at `newfd` too (closing what was there). */
function dupTo(task: Task, oldfd: number, newfd: number, cloexec: boolean): number {
  const file = task.fds.get(oldfd);
  if (newfd < 0 || newfd >= RLIMIT_NOFILE) throw new KernelError('EBADF', `bad file descriptor ${newfd}`);
  if (!file.retain) throw new KernelError('EINVAL', `${file.kind} cannot be duplicated`);
  file.retain();
  return task.fds.installAt(newfd, file, cloexec);
}

function fcntl(task: Task, fd: number, cmd: number, arg: SyscallArg): number {
  const file = task.fds.get(fd);
  switch (cmd) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
      const min = longArg(arg);
      if (min < 0 || min >= RLIMIT_NOFILE) throw new KernelError('EINVAL', `F_DUPFD minimum ${min}`);
      return dupFile(task, file, cmd === F_DUPFD_CLOEXEC, min);
    }
    case F_GETFD:
      return task.fds.isCloexec(fd) ? FD_CLOEXEC : 0;
    case F_SETFD:
      task.fds.setCloexec(fd, (intArg(arg) & FD_CLOEXEC) !== 0);
      return 0;
    case F_GETFL:
      return file.statusFlags ? file.statusFlags() : O_RDWR;
    case F_SETFL:
      file.setStatusFlags?.(intArg(arg) & SETFL_MASK);
      return 0;
    default:
      throw new KernelError('EINVAL', `fcntl command ${cmd}`);
  }
}

/** Boot step (called by fs/syscalls.ts's registerFsSyscalls): the fd-level file syscalls. */
export function registerFileSyscalls(kernel: Kernel): void {
  defineSyscall(kernel, 'read', ({ task, args }) => {
    const file = fileArg(task, args[0]);
    return doRead(task, file, userBuffer(args[1], args[2]), null);
  });
  defineSyscall(kernel, 'write', ({ task, args }) => {
    const file = fileArg(task, args[0]);
    return doWrite(task, file, userBuffer(args[1], args[2]), null);
  });
  defineSyscall(kernel, 'pread64', ({ task, args }) => {
    const file = fileArg(task, args[0]);
    const pos = explicitPos(file, args[3]);
    return doRead(task, file, userBuffer(args[1], args[2]), pos);
  });
  defineSyscall(kernel, 'pwrite64', ({ task, args }) => {
    const file = fileArg(task, args[0]);
    const pos = explicitPos(file, args[3]);
    return doWrite(task, file, userBuffer(args[1], args[2]), pos);
  });
  defineSyscall(kernel, 'lseek', ({ task, args }) => {
    const file = fileArg(task, args[0]);
    const whence = uintArg(args[2]);
    if (!file.lseek) throw new KernelError('ESPIPE', `${file.kind} is not seekable`);
    if (whence > SEEK_HOLE) throw new KernelError('EINVAL', `whence ${whence}`);
    return file.lseek(longArg(args[1]), whence);
  });
  defineSyscall(kernel, 'dup', ({ task, args }) => dupFile(task, fileArg(task, args[0]), false));
  defineSyscall(kernel, 'dup2', ({ task, args }) => {
    const oldfd = intArg(args[0]);
    const newfd = intArg(args[1]);
    if (oldfd === newfd) {
      task.fds.get(oldfd);
      return newfd;
    }
    return dupTo(task, oldfd, newfd, false);
  });
  defineSyscall(kernel, 'dup3', ({ task, args }) => {
    const oldfd = intArg(args[0]);
    const newfd = intArg(args[1]);
    const flags = intArg(args[2]);
    if (flags & ~O_CLOEXEC) throw new KernelError('EINVAL', `dup3 flags ${flags}`);
    if (oldfd === newfd) throw new KernelError('EINVAL', 'dup3 to the same fd');
    return dupTo(task, oldfd, newfd, (flags & O_CLOEXEC) !== 0);
  });
  defineSyscall(kernel, 'fcntl', ({ task, args }) => fcntl(task, intArg(args[0]), uintArg(args[1]), args[2]));
  registerPollSyscalls(kernel);
}
