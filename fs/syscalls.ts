/**
 * The path-level file syscalls (fs/open.c, fs/namei.c, fs/stat.c, fs/readdir.c): open,
 * openat, creat, mkdir(at), unlink(at), rmdir, rename(at/at2), stat, lstat, fstat,
 * newfstatat, getdents64, readlink(at), access/faccessat(2), chmod, fchmod, fchmodat,
 * truncate, ftruncate, umask and getcwd — over the VFS (vfs.ts), as the task that calls
 * them: its credentials (an open keeps the opener's, as f_cred) and its /proc/self.
 *
 * open(2) makes a VfsFile, the FileObject an fd refers to; the generic fd syscalls of
 * kernel/file.ts (read, write, pread64, pwrite64, lseek, dup*, fcntl) reach the VFS through
 * its methods, so a read of trace_pipe blocks (the syscall returns a Promise) unless the fd
 * is O_NONBLOCK (EAGAIN), and a write to a tracefs `filter` hands the text to tracing and
 * returns its errno. Buffered files commit at close(2) (VfsFile.flush) and close returns
 * their error.
 *
 * Paths: a task's working directory is `/` (there is no chdir), so a relative path is
 * relative to `/`, or to the directory fd of an *at() call. There are no symbolic links:
 * lstat is stat and readlink of an existing file is EINVAL. The file creation mask is per
 * process (umask(2), 022 at start, inherited on fork).
 *
 * Mini-OS conventions for pointer arguments: paths are strings; a struct stat buffer is
 * either a Uint8Array of at least 144 bytes (x86_64 struct stat, little-endian) or a plain
 * object the kernel fills with st_* fields (StatBuf); getdents64 writes linux_dirent64
 * records into a Uint8Array; getcwd and readlink write bytes into a Uint8Array.
 */
import { KernelError } from '../kernel/errno.js';
import type { Kernel } from '../kernel/kernel.js';
import {
  AT_EACCESS, AT_EMPTY_PATH, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW, DEFAULT_POLLMASK, O_ACCMODE, O_APPEND, O_CLOEXEC,
  O_CREAT, O_DIRECTORY, O_EXCL, O_NOCTTY, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY, POLLIN, POLLRDNORM, SEEK_CUR, SEEK_DATA,
  SEEK_END, SEEK_HOLE, SEEK_SET, SETFL_MASK, intArg, longArg, registerFileSyscalls, uintArg, userBuffer,
} from '../kernel/file.js';
import { taskHooksOf } from '../kernel/process.js';
import { defineSyscall, type SyscallArg } from '../kernel/syscall.js';
import { pollWaitPromise } from '../kernel/poll.js';
import { perTask, type Cred, type FileObject, type PollTable, type Task } from '../kernel/task.js';
import {
  MAY_EXEC, MAY_READ, MAY_WRITE, S_IFDIR, S_IFIFO, S_IFMT, S_IFREG, isDir, lookup, permission, taskContext, vfsChmod,
  vfsFlush, vfsMkdir, vfsOpen, vfsRead, vfsRelease, vfsRename, vfsRmdir, vfsStat, vfsTruncate, vfsUnlink, vfsWrite,
  type FsContext, type Inode, type OpenFile, type VfsStat,
} from './vfs.js';

/** O_LARGEFILE: F_GETFL shows it on every file of a 64-bit kernel (force_o_largefile). */
export const O_LARGEFILE = 0o100000;
/** S_IFSOCK: the file type fstat reports for a socket fd. */
export const S_IFSOCK = 0o140000;
/** RENAME_NOREPLACE for renameat2 (RENAME_EXCHANGE and RENAME_WHITEOUT are not supported: EINVAL). */
export const RENAME_NOREPLACE = 1;

/** d_type values of linux_dirent64. */
export const DT_UNKNOWN = 0;
export const DT_FIFO = 1;
export const DT_DIR = 4;
export const DT_REG = 8;
export const DT_SOCK = 12;

/** sizeof(struct stat) on x86_64. */
export const STAT_SIZE = 144;

/** struct stat as the object form of a stat buffer receives it (times in seconds + nanoseconds). */
export interface StatBuf {
  st_dev: number;
  st_ino: number;
  st_nlink: number;
  st_mode: number;
  st_uid: number;
  st_gid: number;
  st_rdev: number;
  st_size: number;
  st_blksize: number;
  st_blocks: number;
  st_atime: number;
  st_atime_nsec: number;
  st_mtime: number;
  st_mtime_nsec: number;
  st_ctime: number;
  st_ctime_nsec: number;
}

/* ------------------------------------------------------------------ the open file */

interface DirEntry {
  name: string;
  ino: number;
  type: number;
}

function dtype(mode: number): number {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return DT_DIR;
    case S_IFREG:
      return DT_REG;
    case S_IFIFO:
      return DT_FIFO;
    case S_IFSOCK:
      return DT_SOCK;
    default:
      return DT_UNKNOWN;
  }
}

/**
 * An fd's open VFS file (struct file): the OpenFile plus the fd references to it. Each
 * close(2) flushes (buffered writes commit, errors reach close); the last reference
 * releases the file (a blocked trace_pipe read then returns 0).
 */
export class VfsFile implements FileObject {
  readonly kind = 'file';
  private refs = 1;
  /** getdents64's listing, taken when a read starts at position 0. */
  private listing: DirEntry[] | null = null;

  constructor(readonly file: OpenFile) {}

  get path(): string {
    return this.file.path;
  }

  retain(): void {
    this.refs++;
  }

  flush(): void {
    vfsFlush(this.file);
  }

  release(): void {
    if (--this.refs === 0) vfsRelease(this.file);
  }

  private get accmode(): number {
    return this.file.flags & O_ACCMODE;
  }

  private seekable(): void {
    if (this.file.inode.fops?.nonseekable) throw new KernelError('ESPIPE', `${this.path} is not seekable`);
  }

  read(_task: Task, buf: Uint8Array, pos: number | null): number | Promise<number> {
    const acc = this.accmode;
    if (acc !== O_RDONLY && acc !== O_RDWR) throw new KernelError('EBADF', `${this.path} not open for reading`);
    if (pos !== null) this.seekable();
    const copy = (got: Uint8Array): number => {
      const n = Math.min(got.length, buf.length);
      buf.set(got.subarray(0, n));
      return n;
    };
    const r = vfsRead(this.file, buf.length, pos ?? undefined);
    return r instanceof Promise ? r.then(copy) : copy(r);
  }

  write(_task: Task, buf: Uint8Array, pos: number | null): number {
    const acc = this.accmode;
    if (acc !== O_WRONLY && acc !== O_RDWR) throw new KernelError('EBADF', `${this.path} not open for writing`);
    if (pos !== null) this.seekable();
    const f = this.file;
    const n = vfsWrite(f, buf, pos ?? undefined);
    // O_APPEND wrote at the end: the position follows (generic_write_checks).
    if (pos === null && f.flags & O_APPEND) {
      const size = f.inode.fops?.size?.();
      if (size !== undefined) f.pos = size;
    }
    return n;
  }

  lseek(offset: number, whence: number): number {
    this.seekable();
    const f = this.file;
    const size = isDir(f.inode) ? 0 : (f.inode.fops?.size?.() ?? 0);
    let pos: number;
    switch (whence) {
      case SEEK_SET:
        pos = offset;
        break;
      case SEEK_CUR:
        pos = f.pos + offset;
        break;
      case SEEK_END:
        pos = size + offset;
        break;
      case SEEK_DATA:
      case SEEK_HOLE:
        // No holes: data up to the end, one hole at the end.
        if (offset < 0 || offset >= size) throw new KernelError('ENXIO', `offset ${offset} past the end`);
        pos = whence === SEEK_DATA ? offset : size;
        break;
      default:
        throw new KernelError('EINVAL', `whence ${whence}`);
    }
    if (!Number.isSafeInteger(pos) || pos < 0) throw new KernelError('EINVAL', `offset ${pos}`);
    if (isDir(f.inode) && pos === 0) this.listing = null;
    f.pos = pos;
    return pos;
  }

  /**
   * poll(2): a file with FileOps.poll (trace_pipe) is readable when it says so and wakes the
   * poller through FileOps.pollWait; any other file is always ready (DEFAULT_POLLMASK).
   */
  poll(_task?: Task, pt?: PollTable | null): number {
    const f = this.file;
    const fops = f.inode.fops;
    if (pt && fops?.pollWait && !f.released) {
      const wait = fops.pollWait;
      pollWaitPromise(pt, f, () => wait(f));
    }
    if (fops?.poll) return fops.poll(f) ? POLLIN | POLLRDNORM : 0;
    return DEFAULT_POLLMASK;
  }

  statusFlags(): number {
    return (this.file.flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC)) | O_LARGEFILE;
  }

  setStatusFlags(flags: number): void {
    this.file.flags = (this.file.flags & ~SETFL_MASK) | (flags & SETFL_MASK);
  }

  /** getdents64: linux_dirent64 records into buf from the directory position; the bytes written. */
  getdents(buf: Uint8Array): number {
    const f = this.file;
    if (!f.inode.dir) throw new KernelError('ENOTDIR', `not a directory: ${this.path}`);
    if (this.listing === null || f.pos === 0) this.listing = listDir(f.ctx, f.path, f.inode);
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const enc = new TextEncoder();
    let off = 0;
    while (f.pos < this.listing.length) {
      const e = this.listing[f.pos]!;
      const name = enc.encode(e.name);
      const reclen = (19 + name.length + 1 + 7) & ~7;
      if (off + reclen > buf.length) {
        if (off === 0) throw new KernelError('EINVAL', 'result buffer is too small');
        break;
      }
      buf.fill(0, off, off + reclen);
      dv.setBigUint64(off, BigInt(e.ino), true);
      dv.setBigInt64(off + 8, BigInt(f.pos + 1), true);
      dv.setUint16(off + 16, reclen, true);
      dv.setUint8(off + 18, e.type);
      buf.set(name, off + 19);
      off += reclen;
      f.pos++;
    }
    return off;
  }
}

/** `.`, `..` and the directory's entries, each with its inode number and d_type. */
function listDir(ctx: FsContext, path: string, inode: Inode): DirEntry[] {
  const dir = inode.dir!;
  let parentIno = inode.ino;
  try {
    parentIno = lookup(ctx, path === '/' ? '/' : `${path}/..`).inode.ino;
  } catch {
    // the parent went away or is not searchable: `..` shows the directory itself
  }
  const out: DirEntry[] = [
    { name: '.', ino: inode.ino, type: DT_DIR },
    { name: '..', ino: parentIno, type: DT_DIR },
  ];
  for (const name of dir.list(ctx)) {
    let child: Inode | undefined;
    try {
      child = dir.lookup(name, ctx);
    } catch {
      child = undefined;
    }
    out.push({ name, ino: child?.ino ?? 0, type: child ? dtype(child.mode) : DT_UNKNOWN });
  }
  return out;
}

/* ------------------------------------------------------------------ per-process state */

/** The file creation mask (fs_struct->umask), inherited on fork. */
const umaskOf = perTask((): { mask: number } => ({ mask: 0o022 }));

/* ------------------------------------------------------------------ arguments */

function pathArg(v: SyscallArg): string {
  if (typeof v !== 'string') throw new KernelError('EFAULT', 'bad path pointer');
  if (v.length > 4095) throw new KernelError('ENAMETOOLONG', 'path too long');
  return v;
}

function vfsFileOf(task: Task, fd: number): VfsFile | null {
  const f = task.fds.get(fd);
  return f instanceof VfsFile ? f : null;
}

/**
 * The absolute path of `path` for an *at() call: absolute paths as they are, relative ones
 * against the directory fd (AT_FDCWD: the working directory, `/`). Empty paths are ENOENT.
 */
function resolveAt(task: Task, dirfd: number, v: SyscallArg): string {
  const path = pathArg(v);
  if (path === '') throw new KernelError('ENOENT', 'empty path');
  if (path.startsWith('/')) return path;
  if (dirfd === AT_FDCWD) return `/${path}`;
  const dir = vfsFileOf(task, dirfd);
  if (!dir || !isDir(dir.file.inode)) throw new KernelError('ENOTDIR', `fd ${dirfd} is not a directory`);
  return dir.path === '/' ? `/${path}` : `${dir.path}/${path}`;
}

/* ------------------------------------------------------------------ stat */

const anonInos = new WeakMap<FileObject, number>();
let nextAnonIno = 0x7000_0000;

/** What fstat shows for an fd that is no VFS file: a socket inode, or an anon inode (bpf objects...). */
function anonStat(file: FileObject): VfsStat {
  let ino = anonInos.get(file);
  if (ino === undefined) {
    ino = nextAnonIno++;
    anonInos.set(file, ino);
  }
  const mode = file.kind === 'socket' ? S_IFSOCK | 0o777 : 0o600;
  return { ino, mode, uid: 0, gid: 0, size: 0, nlink: 1, mtime: new Date(0) };
}

/** Fills a stat buffer: struct stat bytes (x86_64 layout) or the st_* fields of an object. */
export function copyStat(out: SyscallArg, st: VfsStat): void {
  const ms = st.mtime.getTime();
  const sec = Math.floor(ms / 1000);
  const nsec = (ms - sec * 1000) * 1_000_000;
  const blksize = 4096;
  const blocks = Math.ceil(st.size / 512);
  if (out instanceof Uint8Array) {
    if (out.length < STAT_SIZE) throw new KernelError('EFAULT', `stat buffer of ${out.length} bytes`);
    const dv = new DataView(out.buffer, out.byteOffset, STAT_SIZE);
    out.fill(0, 0, STAT_SIZE);
    dv.setBigUint64(8, BigInt(st.ino), true);
    dv.setBigUint64(16, BigInt(st.nlink), true);
    dv.setUint32(24, st.mode, true);
    dv.setUint32(28, st.uid, true);
    dv.setUint32(32, st.gid, true);
    dv.setBigInt64(48, BigInt(st.size), true);
    dv.setBigInt64(56, BigInt(blksize), true);
    dv.setBigInt64(64, BigInt(blocks), true);
    for (const at of [72, 88, 104]) {
      dv.setBigInt64(at, BigInt(sec), true);
      dv.setBigInt64(at + 8, BigInt(nsec), true);
    }
    return;
  }
  if (out === null || typeof out !== 'object') throw new KernelError('EFAULT', 'bad stat buffer');
  const buf: StatBuf = {
    st_dev: 0, st_ino: st.ino, st_nlink: st.nlink, st_mode: st.mode, st_uid: st.uid, st_gid: st.gid, st_rdev: 0,
    st_size: st.size, st_blksize: blksize, st_blocks: blocks, st_atime: sec, st_atime_nsec: nsec, st_mtime: sec,
    st_mtime_nsec: nsec, st_ctime: sec, st_ctime_nsec: nsec,
  };
  Object.assign(out, buf);
}

function fstatOf(task: Task, fd: number): VfsStat {
  const file = task.fds.get(fd);
  return file instanceof VfsFile ? vfsStat(file.file.inode) : anonStat(file);
}

/* ------------------------------------------------------------------ calls */

/** do_sys_openat2: the VfsFile at a new fd. */
function doOpen(kernel: Kernel, task: Task, dirfd: number, pathV: SyscallArg, flags: number, mode: number): number {
  const path = resolveAt(task, dirfd, pathV);
  if ((flags & (O_DIRECTORY | O_CREAT)) === (O_DIRECTORY | O_CREAT)) throw new KernelError('EINVAL', 'O_DIRECTORY | O_CREAT');
  const createMode = mode & 0o7777 & ~umaskOf(task).mask;
  const f = vfsOpen(taskContext(kernel, task), path, flags & ~O_CLOEXEC, createMode);
  try {
    return task.fds.install(new VfsFile(f), (flags & O_CLOEXEC) !== 0);
  } catch (e) {
    vfsRelease(f);
    throw e;
  }
}

/** access(2) checks with the real ids (AT_EACCESS: the effective ones). */
function doAccess(kernel: Kernel, task: Task, path: string, mode: number, flags: number): number {
  if (mode & ~7) throw new KernelError('EINVAL', `access mode ${mode}`);
  if (flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) throw new KernelError('EINVAL', `faccessat flags ${flags}`);
  const c = task.cred;
  const cred: Cred = flags & AT_EACCESS ? c : { ...c, euid: c.uid, egid: c.gid, caps: c.uid === 0 ? c.caps : 0n };
  const ctx: FsContext = { kernel, cred, task };
  const { inode } = lookup(ctx, path);
  let mask = 0;
  if (mode & 4) mask |= MAY_READ;
  if (mode & 2) mask |= MAY_WRITE;
  if (mode & 1) mask |= MAY_EXEC;
  if (mask) permission(inode, cred, mask);
  return 0;
}

function doChmodInode(ctx: FsContext, inode: Inode, path: string, mode: number): number {
  if (ctx.cred.euid !== 0 && ctx.cred.euid !== inode.uid) throw new KernelError('EPERM', `not the owner of ${path}`);
  if (!inode.chmod) throw new KernelError('EPERM', `cannot change the mode of ${path}`);
  inode.chmod(mode & 0o7777, ctx);
  return 0;
}

function doRename(kernel: Kernel, task: Task, from: string, to: string, flags: number): number {
  if (flags & ~RENAME_NOREPLACE) throw new KernelError('EINVAL', `renameat2 flags ${flags}`);
  const ctx = taskContext(kernel, task);
  if (flags & RENAME_NOREPLACE) {
    let exists = true;
    try {
      lookup(ctx, to);
    } catch (e) {
      if (!(e instanceof KernelError && e.errno === 'ENOENT')) throw e;
      exists = false;
    }
    if (exists) throw new KernelError('EEXIST', `file exists: ${to}`);
  }
  vfsRename(ctx, from, to);
  return 0;
}

function doUnlinkAt(kernel: Kernel, task: Task, path: string, flags: number): number {
  if (flags & ~AT_REMOVEDIR) throw new KernelError('EINVAL', `unlinkat flags ${flags}`);
  const ctx = taskContext(kernel, task);
  if (flags & AT_REMOVEDIR) vfsRmdir(ctx, path);
  else vfsUnlink(ctx, path);
  return 0;
}

function doReadlink(kernel: Kernel, task: Task, path: string, size: number): number {
  if (size <= 0) throw new KernelError('EINVAL', `buffer size ${size}`);
  lookup(taskContext(kernel, task), path);
  throw new KernelError('EINVAL', `not a symbolic link: ${path}`);
}

/** Boot step: the file syscalls (with kernel/file.ts's fd-level ones). */
export function registerFsSyscalls(kernel: Kernel): void {
  registerFileSyscalls(kernel);
  taskHooksOf(kernel).fork.push((parent, child) => {
    umaskOf(child).mask = umaskOf(parent).mask;
  });
  const ctxOf = (task: Task): FsContext => taskContext(kernel, task);

  defineSyscall(kernel, 'open', ({ task, args }) => doOpen(kernel, task, AT_FDCWD, args[0], intArg(args[1]), intArg(args[2])));
  defineSyscall(kernel, 'openat', ({ task, args }) =>
    doOpen(kernel, task, intArg(args[0]), args[1], intArg(args[2]), intArg(args[3])),
  );
  defineSyscall(kernel, 'creat', ({ task, args }) =>
    doOpen(kernel, task, AT_FDCWD, args[0], O_CREAT | O_WRONLY | O_TRUNC, intArg(args[1])),
  );

  const mkdir = (task: Task, path: string, mode: number): number => {
    vfsMkdir(ctxOf(task), path, mode & 0o7777 & ~umaskOf(task).mask);
    return 0;
  };
  defineSyscall(kernel, 'mkdir', ({ task, args }) => mkdir(task, resolveAt(task, AT_FDCWD, args[0]), intArg(args[1])));
  defineSyscall(kernel, 'mkdirat', ({ task, args }) =>
    mkdir(task, resolveAt(task, intArg(args[0]), args[1]), intArg(args[2])),
  );
  defineSyscall(kernel, 'unlink', ({ task, args }) => doUnlinkAt(kernel, task, resolveAt(task, AT_FDCWD, args[0]), 0));
  defineSyscall(kernel, 'unlinkat', ({ task, args }) =>
    doUnlinkAt(kernel, task, resolveAt(task, intArg(args[0]), args[1]), intArg(args[2])),
  );
  defineSyscall(kernel, 'rmdir', ({ task, args }) => doUnlinkAt(kernel, task, resolveAt(task, AT_FDCWD, args[0]), AT_REMOVEDIR));
  defineSyscall(kernel, 'rename', ({ task, args }) =>
    doRename(kernel, task, resolveAt(task, AT_FDCWD, args[0]), resolveAt(task, AT_FDCWD, args[1]), 0),
  );
  defineSyscall(kernel, 'renameat', ({ task, args }) =>
    doRename(kernel, task, resolveAt(task, intArg(args[0]), args[1]), resolveAt(task, intArg(args[2]), args[3]), 0),
  );
  defineSyscall(kernel, 'renameat2', ({ task, args }) =>
    doRename(kernel, task, resolveAt(task, intArg(args[0]), args[1]), resolveAt(task, intArg(args[2]), args[3]), uintArg(args[4])),
  );

  const statPath = (task: Task, path: string, out: SyscallArg): number => {
    copyStat(out, vfsStat(lookup(ctxOf(task), path).inode));
    return 0;
  };
  defineSyscall(kernel, 'stat', ({ task, args }) => statPath(task, resolveAt(task, AT_FDCWD, args[0]), args[1]));
  defineSyscall(kernel, 'lstat', ({ task, args }) => statPath(task, resolveAt(task, AT_FDCWD, args[0]), args[1]));
  defineSyscall(kernel, 'fstat', ({ task, args }) => {
    copyStat(args[1], fstatOf(task, intArg(args[0])));
    return 0;
  });
  defineSyscall(kernel, 'newfstatat', ({ task, args }) => {
    const dirfd = intArg(args[0]);
    const flags = intArg(args[3]);
    if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | 0x800)) throw new KernelError('EINVAL', `newfstatat flags ${flags}`);
    if (args[1] === '' && flags & AT_EMPTY_PATH) {
      if (dirfd === AT_FDCWD) return statPath(task, '/', args[2]);
      copyStat(args[2], fstatOf(task, dirfd));
      return 0;
    }
    return statPath(task, resolveAt(task, dirfd, args[1]), args[2]);
  });

  defineSyscall(kernel, 'getdents64', ({ task, args }) => {
    const fd = intArg(args[0]);
    const file = vfsFileOf(task, fd);
    if (!file) throw new KernelError('ENOTDIR', `fd ${fd} is not a directory`);
    return file.getdents(userBuffer(args[1], args[2]));
  });

  defineSyscall(kernel, 'readlink', ({ task, args }) =>
    doReadlink(kernel, task, resolveAt(task, AT_FDCWD, args[0]), intArg(args[2])),
  );
  defineSyscall(kernel, 'readlinkat', ({ task, args }) =>
    doReadlink(kernel, task, resolveAt(task, intArg(args[0]), args[1]), intArg(args[3])),
  );

  defineSyscall(kernel, 'access', ({ task, args }) =>
    doAccess(kernel, task, resolveAt(task, AT_FDCWD, args[0]), intArg(args[1]), 0),
  );
  defineSyscall(kernel, 'faccessat', ({ task, args }) =>
    doAccess(kernel, task, resolveAt(task, intArg(args[0]), args[1]), intArg(args[2]), 0),
  );
  defineSyscall(kernel, 'faccessat2', ({ task, args }) =>
    doAccess(kernel, task, resolveAt(task, intArg(args[0]), args[1]), intArg(args[2]), intArg(args[3])),
  );

  defineSyscall(kernel, 'chmod', ({ task, args }) => {
    vfsChmod(ctxOf(task), resolveAt(task, AT_FDCWD, args[0]), intArg(args[1]));
    return 0;
  });
  defineSyscall(kernel, 'fchmodat', ({ task, args }) => {
    vfsChmod(ctxOf(task), resolveAt(task, intArg(args[0]), args[1]), intArg(args[2]));
    return 0;
  });
  defineSyscall(kernel, 'fchmod', ({ task, args }) => {
    const fd = intArg(args[0]);
    const file = vfsFileOf(task, fd);
    if (!file) throw new KernelError('EPERM', `cannot change the mode of fd ${fd}`);
    return doChmodInode(ctxOf(task), file.file.inode, file.path, intArg(args[1]));
  });

  defineSyscall(kernel, 'truncate', ({ task, args }) => {
    const len = longArg(args[1]);
    if (len < 0) throw new KernelError('EINVAL', `length ${len}`);
    vfsTruncate(ctxOf(task), resolveAt(task, AT_FDCWD, args[0]), len);
    return 0;
  });
  defineSyscall(kernel, 'ftruncate', ({ task, args }) => {
    const fd = intArg(args[0]);
    const len = longArg(args[1]);
    const file = vfsFileOf(task, fd);
    if (len < 0) throw new KernelError('EINVAL', `length ${len}`);
    const f = file?.file;
    const acc = f ? f.flags & O_ACCMODE : O_RDONLY;
    if (!f || isDir(f.inode) || (acc !== O_WRONLY && acc !== O_RDWR)) {
      throw new KernelError('EINVAL', `fd ${fd} is not a regular file open for writing`);
    }
    f.inode.fops?.truncate?.(f, len, f.ctx);
    return 0;
  });

  defineSyscall(kernel, 'umask', ({ task, args }) => {
    const st = umaskOf(task);
    const old = st.mask;
    st.mask = intArg(args[0]) & 0o777;
    return old;
  });
  defineSyscall(kernel, 'getcwd', ({ args }) => {
    const buf = args[0];
    const size = longArg(args[1]);
    if (!(buf instanceof Uint8Array) || size > buf.length) throw new KernelError('EFAULT', 'bad buffer');
    if (size < 2) throw new KernelError('ERANGE', 'buffer too small');
    buf[0] = 0x2f; // "/"
    buf[1] = 0;
    return 2;
  });
}
