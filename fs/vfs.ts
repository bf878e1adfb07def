/**
 * The VFS: one tree of inodes per kernel, each inode carrying its file operations, the way
 * Linux's struct inode / struct file_operations split works. Pseudo filesystems (tracefs,
 * procfs, bpffs, debugfs) build inodes with the helpers below; the Node-fs-shaped API
 * (api.ts) and the FUSE adapter (fuse/) are the two front ends, and both go through the
 * same open/read/write/release calls here, so a file behaves the same in process and on
 * the mount point.
 *
 * Invariants:
 *  - Every path lookup checks search (x) permission on each directory and every open
 *    checks r/w against the opener's credentials, as generic_permission() does: root
 *    (CAP_DAC_OVERRIDE) passes any r/w check; others need the mode bits.
 *  - A write hands the owner the whole text of that write() call; the owner applies it
 *    or throws KernelError and leaves its old state unchanged (Linux's seq/attr files do
 *    the same). `echo x > file` is one write(), so its errno reaches the shell. Files
 *    that take large input can opt into `buffered`: writes accumulate per open file and
 *    commit at flush (close).
 *  - Reads of generated files serve a snapshot taken at the first read from offset 0
 *    (seq_file), so a reader paging through with small reads sees one consistent text.
 */
import { KernelError } from '../kernel/errno.js';
import type { Kernel } from '../kernel/kernel.js';
import { perKernel } from '../kernel/kernel.js';
import { capable, rootCred, type Cred, type Task } from '../kernel/task.js';

/* File type and permission bits (include/uapi/linux/stat.h). */
export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFIFO = 0o010000;

/* Open flags (asm-generic/fcntl.h). */
export const O_ACCMODE = 0o3;
export const O_RDONLY = 0o0;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_NONBLOCK = 0o4000;
export const O_DIRECTORY = 0o200000;

/* Access masks for permission() (MAY_* in linux/fs.h). */
export const MAY_EXEC = 1;
export const MAY_WRITE = 2;
export const MAY_READ = 4;

/** CAP_DAC_OVERRIDE (capability.h): root's pass through r/w permission bits. */
const CAP_DAC_OVERRIDE = 1;

/** Who is doing the file operation: the credentials checked and, for procfs, the task. */
export interface FsContext {
  readonly kernel: Kernel;
  readonly cred: Cred;
  /** The mini-OS task making the call; null for the host (FUSE, the in-process API). */
  readonly task: Task | null;
}

/** An open file (struct file): one per open(), with its own position and state. */
export interface OpenFile {
  readonly inode: Inode;
  /** open(2) flags; fcntl(F_SETFL) may change O_APPEND and O_NONBLOCK later. */
  flags: number;
  readonly ctx: FsContext;
  /** The path it was opened by (for messages). */
  readonly path: string;
  pos: number;
  /** State owned by the inode's file operations (seq snapshot, pipe reader, buffer). */
  private: unknown;
  /** Set when the file is released; blocking reads give up. */
  released: boolean;
  /** Aborted at release (or when a front end cancels a pending read): waiters stop. */
  readonly abort: AbortController;
}

/** What a read returns: bytes or text; a Promise only when the read blocks. */
export type ReadResult = Uint8Array | string;

/** struct file_operations. Every member is optional; a missing one means EINVAL/EPERM. */
export interface FileOps {
  /** May throw (EBUSY, EACCES...). Called after the permission check. */
  open?(f: OpenFile): void;
  /**
   * Up to `len` bytes at `pos`. May return a Promise when nothing is ready and the file
   * was not opened O_NONBLOCK (trace_pipe); with O_NONBLOCK it throws EAGAIN instead.
   * An empty result is end of file.
   */
  read?(f: OpenFile, len: number, pos: number): ReadResult | Promise<ReadResult>;
  /** Returns the number of bytes consumed (normally all). Throws to reject. */
  write?(f: OpenFile, data: Uint8Array, pos: number): number;
  /** Called at each close() of a descriptor; buffered writes commit here. */
  flush?(f: OpenFile): void;
  /** Called once when the last reference goes. Never throws. */
  release?(f: OpenFile): void;
  /** True when a read would not block. */
  poll?(f: OpenFile): boolean;
  /** Resolves at the next wake-up that may change poll's answer (poll(2) waits on it). */
  pollWait?(f: OpenFile): Promise<void>;
  /** open(O_TRUNC) or truncate(2); f is null for truncate by path. */
  truncate?(f: OpenFile | null, size: number, ctx: FsContext): void;
  /** The size getattr reports (0 for pseudo files, as procfs and tracefs do). */
  size?(): number;
  /** A stream (nonseekable_open / FMODE_STREAM): lseek, pread and pwrite are ESPIPE. */
  nonseekable?: boolean;
}

/** struct inode_operations for directories. lookup/list are required; the rest optional. */
export interface DirOps {
  lookup(name: string, ctx: FsContext): Inode | undefined;
  list(ctx: FsContext): string[];
  create?(name: string, mode: number, ctx: FsContext): Inode;
  mkdir?(name: string, mode: number, ctx: FsContext): Inode;
  unlink?(name: string, ctx: FsContext): void;
  rmdir?(name: string, ctx: FsContext): void;
  /** Rename within this filesystem; `to` is the target directory (may be this one). */
  rename?(name: string, to: Inode, newName: string, ctx: FsContext): void;
}

export interface Inode {
  readonly ino: number;
  /** File type and permission bits. */
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  readonly fops?: FileOps;
  readonly dir?: DirOps;
  /** chmod(2); absent means EPERM (pseudo files keep their modes, as in Linux). */
  chmod?(mode: number, ctx: FsContext): void;
}

let nextIno = 2;
export function allocIno(): number {
  return nextIno++;
}

export function isDir(inode: Inode): boolean {
  return (inode.mode & S_IFMT) === S_IFDIR;
}

/** generic_permission(): root passes r/w (and x when any x bit is set); others need the bits. */
export function permission(inode: Inode, cred: Cred, mask: number): void {
  const mode = inode.mode;
  if (capable(cred, CAP_DAC_OVERRIDE)) {
    if (!(mask & MAY_EXEC) || isDir(inode) || (mode & 0o111) !== 0) return;
  }
  let bits: number;
  if (cred.euid === inode.uid) bits = (mode >> 6) & 7;
  else if (cred.egid === inode.gid) bits = (mode >> 3) & 7;
  else bits = mode & 7;
  if ((bits & mask) !== mask) throw new KernelError('EACCES', 'permission denied');
}

/* ------------------------------------------------------------------ directories */

export interface StaticDir extends Inode {
  readonly dir: DirOps;
  readonly children: Map<string, Inode>;
  /** Adds (or replaces) a child; returns it. */
  add<T extends Inode>(name: string, child: T): T;
  remove(name: string): void;
}

/**
 * A directory whose entries the owner adds and removes (tracefs's events/, debugfs).
 * Users can't create files in it; `mkdir` can be allowed with `opts.mkdir` (bpffs).
 */
export function staticDir(mode = 0o755, opts: { mkdir?: (name: string, ctx: FsContext) => Inode; uid?: number; gid?: number } = {}): StaticDir {
  const children = new Map<string, Inode>();
  const d: StaticDir = {
    ino: allocIno(),
    mode: S_IFDIR | mode,
    uid: opts.uid ?? 0,
    gid: opts.gid ?? 0,
    mtime: new Date(),
    children,
    dir: {
      lookup: (name) => children.get(name),
      list: () => [...children.keys()],
    },
    add(name, child) {
      children.set(name, child);
      d.mtime = new Date();
      return child;
    },
    remove(name) {
      children.delete(name);
    },
  };
  if (opts.mkdir) {
    const mk = opts.mkdir;
    d.dir.mkdir = (name, _mode, ctx) => {
      if (children.has(name)) throw new KernelError('EEXIST', `${name} exists`);
      return d.add(name, mk(name, ctx));
    };
  }
  return d;
}

/**
 * A directory whose entries are computed on each lookup (procfs's pids, bpffs pins,
 * debugfs's programs/<id>). Inodes are cached per name so inode numbers stay stable
 * while the entry exists.
 */
export function dynamicDir(
  ops: { list: (ctx: FsContext) => string[]; make: (name: string, ctx: FsContext) => Inode | undefined } & Partial<
    Pick<DirOps, 'create' | 'mkdir' | 'unlink' | 'rmdir' | 'rename'>
  >,
  mode = 0o555,
): Inode & { readonly dir: DirOps } {
  const cache = new Map<string, Inode>();
  const { list, make, ...rest } = ops;
  const dir: DirOps = {
    ...rest,
    list,
    lookup(name, ctx) {
      if (!list(ctx).includes(name)) {
        cache.delete(name);
        return undefined;
      }
      let i = cache.get(name);
      if (!i) {
        i = make(name, ctx);
        if (i) cache.set(name, i);
      }
      return i;
    },
  };
  return { ino: allocIno(), mode: S_IFDIR | mode, uid: 0, gid: 0, mtime: new Date(), dir };
}

/* ------------------------------------------------------------------ files */

export interface FileOptions {
  mode?: number;
  uid?: number;
  gid?: number;
}

function fileInode(fops: FileOps, opts: FileOptions, defaultMode: number): Inode {
  return {
    ino: allocIno(),
    mode: S_IFREG | (opts.mode ?? defaultMode),
    uid: opts.uid ?? 0,
    gid: opts.gid ?? 0,
    mtime: new Date(),
    fops,
  };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function toBytes(r: ReadResult): Uint8Array {
  return typeof r === 'string' ? encoder.encode(r) : r;
}

/** Reads from a snapshot kept in f.private, regenerated on a read from offset 0. */
function snapshotRead(f: OpenFile, len: number, pos: number, show: (f: OpenFile) => string): Uint8Array {
  const st = f.private as { text?: Uint8Array } | undefined;
  let text = st?.text;
  if (!text || pos === 0) {
    text = encoder.encode(show(f));
    f.private = { ...(st ?? {}), text };
  }
  return text.subarray(pos, pos + len);
}

export interface AttrFileOptions extends FileOptions {
  /** The text a read returns (generated at the first read from offset 0). */
  show?: (f: OpenFile) => string;
  /**
   * Applies one write: the whole text of that write() call (or, when `buffered`, of all
   * writes since open). Throw KernelError to reject; the old state must stay unchanged.
   */
  store?: (text: string, f: OpenFile) => void;
  /** Accumulate writes per open file and commit at close (for big inputs such as programs). */
  buffered?: boolean;
  /** open(O_TRUNC) / truncate(0): e.g. tracefs's `trace` clears the buffer. Default: ignored. */
  truncate?: (ctx: FsContext) => void;
}

/**
 * A text file with show/store callbacks — the common case for sysctls, tracefs control
 * files, procfs status and debugfs. Mode defaults to 0644 with store, 0444 without.
 */
export function attrFile(opts: AttrFileOptions): Inode {
  const { show, store, buffered, truncate } = opts;
  const fops: FileOps = {
    size: () => 0,
    truncate: (_f, _size, ctx) => truncate?.(ctx),
  };
  if (show) fops.read = (f, len, pos) => snapshotRead(f, len, pos, show);
  if (store) {
    if (buffered) {
      fops.write = (f, data) => {
        const st = (f.private ?? {}) as { text?: Uint8Array; pending?: string };
        st.pending = (st.pending ?? '') + decoder.decode(data);
        f.private = st;
        return data.length;
      };
      fops.flush = (f) => {
        const st = f.private as { pending?: string } | undefined;
        if (st?.pending === undefined) return;
        const text = st.pending;
        delete st.pending;
        store(text, f);
      };
    } else {
      fops.write = (f, data) => {
        store(decoder.decode(data), f);
        return data.length;
      };
    }
  }
  return fileInode(fops, opts, store ? 0o644 : 0o444);
}

/** A read-only generated file: `seqFile(() => text)`. */
export function seqFile(show: (f: OpenFile) => string, opts: FileOptions = {}): Inode {
  return attrFile({ ...opts, show });
}

export interface StreamFileOptions extends FileOptions {
  /**
   * Takes up to `max` bytes of what is ready for this reader, or '' when nothing is.
   * Called again after `wait` resolves. Consuming, like trace_pipe.
   */
  take: (f: OpenFile, max: number) => string | Uint8Array;
  /** Resolves when data may be ready (or the reader should re-check). */
  wait: (f: OpenFile) => Promise<void>;
  open?: (f: OpenFile) => void;
  release?: (f: OpenFile) => void;
}

/** Waits for the owner's wake-up or the file's abort, whichever comes first. */
function waitOrAbort(f: OpenFile, wait: (f: OpenFile) => Promise<void>): Promise<void> {
  const signal = f.abort.signal;
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => resolve();
    signal.addEventListener('abort', onAbort, { once: true });
    wait(f).then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/**
 * A consuming, blocking file such as trace_pipe: a read waits until something is ready,
 * returns it and removes it. With O_NONBLOCK an empty pipe is EAGAIN.
 */
export function streamFile(opts: StreamFileOptions): Inode {
  const { take, wait } = opts;
  const read = (f: OpenFile, len: number): ReadResult | Promise<ReadResult> => {
    const got = toBytes(take(f, len));
    if (got.length > 0 || f.released) return got;
    if (f.flags & O_NONBLOCK) throw new KernelError('EAGAIN', 'no data ready');
    const again = async (): Promise<ReadResult> => {
      for (;;) {
        await waitOrAbort(f, wait);
        if (f.released) return new Uint8Array(0);
        if (f.abort.signal.aborted) throw new KernelError('EINTR', 'read interrupted');
        const more = toBytes(take(f, len));
        if (more.length > 0) return more;
      }
    };
    return again();
  };
  const fops: FileOps = {
    read, size: () => 0, poll: (f) => toBytes(take(f, 0)).length > 0, pollWait: (f) => waitOrAbort(f, wait), nonseekable: true,
  };
  if (opts.open) fops.open = opts.open;
  if (opts.release) fops.release = opts.release;
  return fileInode(fops, opts, 0o444);
}

/* ------------------------------------------------------------------ the tree */

export interface VfsState {
  readonly root: StaticDir;
}

export const vfsOf = perKernel((): VfsState => ({ root: staticDir(0o755) }));

export function splitPath(path: string): string[] {
  if (!path.startsWith('/')) throw new KernelError('EINVAL', `path must be absolute: ${path}`);
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else if (part.length > 255) throw new KernelError('ENAMETOOLONG', `name too long: ${part.slice(0, 32)}...`);
    else out.push(part);
  }
  return out;
}

/**
 * Makes `dir` appear at `path` (creating static parents as 0755 directories), the way
 * mount(2) grafts a filesystem's root. The same inode may be mounted twice, as tracefs
 * is at /sys/kernel/tracing and /sys/kernel/debug/tracing.
 */
export function mountAt(kernel: Kernel, path: string, dir: Inode): void {
  const parts = splitPath(path);
  const last = parts.pop();
  if (last === undefined) throw new KernelError('EBUSY', 'cannot mount over /');
  let cur: Inode = vfsOf(kernel).root;
  for (const p of parts) {
    const s = cur as Partial<StaticDir>;
    if (!s.children || !s.add) throw new KernelError('ENOTDIR', `cannot mount under ${p}`);
    cur = s.children.get(p) ?? s.add(p, staticDir(0o755));
  }
  const s = cur as Partial<StaticDir>;
  if (!s.add) throw new KernelError('ENOTDIR', `cannot mount at ${path}`);
  s.add(last, dir);
}

/** The root directory's credentials for host callers (FUSE, kernel.fs): root. */
export function hostContext(kernel: Kernel): FsContext {
  return { kernel, cred: rootCred(), task: null };
}

export function taskContext(kernel: Kernel, task: Task): FsContext {
  return { kernel, cred: task.cred, task };
}

export interface Lookup {
  inode: Inode;
  parent: Inode | null;
  name: string;
}

/** path_lookupat(): walks `path`, checking search permission on each directory. */
export function lookup(ctx: FsContext, path: string): Lookup {
  const parts = splitPath(path);
  let cur: Inode = vfsOf(ctx.kernel).root;
  let parent: Inode | null = null;
  let name = '/';
  for (const p of parts) {
    if (!cur.dir) throw new KernelError('ENOTDIR', `not a directory: ${name}`);
    permission(cur, ctx.cred, MAY_EXEC);
    const next = cur.dir.lookup(p, ctx);
    if (!next) throw new KernelError('ENOENT', `no such file or directory: ${path}`);
    parent = cur;
    cur = next;
    name = p;
  }
  return { inode: cur, parent, name };
}

/** The parent directory of `path` (searched and checked for write) and the last name. */
export function lookupParent(ctx: FsContext, path: string): { dir: Inode & { dir: DirOps }; name: string } {
  const parts = splitPath(path);
  const name = parts.pop();
  if (name === undefined) throw new KernelError('EBUSY', 'cannot change /');
  const { inode } = lookup(ctx, '/' + parts.join('/'));
  if (!inode.dir) throw new KernelError('ENOTDIR', `not a directory: /${parts.join('/')}`);
  permission(inode, ctx.cred, MAY_EXEC);
  return { dir: inode as Inode & { dir: DirOps }, name };
}

/* ------------------------------------------------------------------ file calls */

/** open(2): lookup (or create with O_CREAT), permission, O_TRUNC, the file's open(). */
export function vfsOpen(ctx: FsContext, path: string, flags: number, createMode = 0o644): OpenFile {
  let inode: Inode;
  try {
    inode = lookup(ctx, path).inode;
    if (flags & O_CREAT && flags & O_EXCL) throw new KernelError('EEXIST', `file exists: ${path}`);
  } catch (e) {
    if (!(e instanceof KernelError && e.errno === 'ENOENT' && flags & O_CREAT)) throw e;
    const { dir, name } = lookupParent(ctx, path);
    if (!dir.dir.create) throw new KernelError('EACCES', `cannot create files in ${path.slice(0, path.lastIndexOf('/')) || '/'}`);
    permission(dir, ctx.cred, MAY_WRITE | MAY_EXEC);
    inode = dir.dir.create(name, createMode & 0o7777, ctx);
  }
  const acc = flags & O_ACCMODE;
  if (isDir(inode)) {
    if (acc !== O_RDONLY) throw new KernelError('EISDIR', `is a directory: ${path}`);
  } else if (flags & O_DIRECTORY) {
    throw new KernelError('ENOTDIR', `not a directory: ${path}`);
  }
  let mask = 0;
  if (acc === O_RDONLY || acc === O_RDWR) mask |= MAY_READ;
  if (acc === O_WRONLY || acc === O_RDWR) mask |= MAY_WRITE;
  permission(inode, ctx.cred, mask);
  const fops = inode.fops;
  if (fops && mask & MAY_READ && !fops.read) throw new KernelError('EACCES', `not readable: ${path}`);
  if (fops && mask & MAY_WRITE && !fops.write) throw new KernelError('EACCES', `not writable: ${path}`);
  const f: OpenFile = { inode, flags, ctx, path, pos: 0, private: undefined, released: false, abort: new AbortController() };
  fops?.open?.(f);
  if (flags & O_TRUNC && mask & MAY_WRITE) fops?.truncate?.(f, 0, ctx);
  return f;
}

/** read(2) at the file position (or `pos`); advances the position by what was read. */
export function vfsRead(f: OpenFile, len: number, pos?: number): Uint8Array | Promise<Uint8Array> {
  const read = f.inode.fops?.read;
  if (!read) throw new KernelError(isDir(f.inode) ? 'EISDIR' : 'EINVAL', `cannot read ${f.path}`);
  if ((f.flags & O_ACCMODE) === O_WRONLY) throw new KernelError('EBADF', `${f.path} not open for reading`);
  const at = pos ?? f.pos;
  const done = (r: ReadResult): Uint8Array => {
    const b = toBytes(r);
    const out = b.length > len ? b.subarray(0, len) : b;
    if (pos === undefined) f.pos += out.length;
    return out;
  };
  const r = read(f, len, at);
  return r instanceof Promise ? r.then(done) : done(r);
}

/** write(2). O_APPEND writes at the end (the owner decides what "end" is). */
export function vfsWrite(f: OpenFile, data: Uint8Array, pos?: number): number {
  const write = f.inode.fops?.write;
  if (!write) throw new KernelError(isDir(f.inode) ? 'EISDIR' : 'EINVAL', `cannot write ${f.path}`);
  if ((f.flags & O_ACCMODE) === O_RDONLY) throw new KernelError('EBADF', `${f.path} not open for writing`);
  const at = pos ?? f.pos;
  const n = write(f, data, at);
  if (pos === undefined) f.pos += n;
  return n;
}

/** flush at close(): buffered writes commit here and may fail. */
export function vfsFlush(f: OpenFile): void {
  f.inode.fops?.flush?.(f);
}

/** The last close: the file's release; never fails. */
export function vfsRelease(f: OpenFile): void {
  if (f.released) return;
  f.released = true;
  f.abort.abort();
  f.inode.fops?.release?.(f);
}

/** close(2) = flush + release; a flush error is still reported after the release. */
export function vfsClose(f: OpenFile): void {
  try {
    vfsFlush(f);
  } finally {
    vfsRelease(f);
  }
}

export interface VfsStat {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  mtime: Date;
}

export function vfsStat(inode: Inode): VfsStat {
  return {
    ino: inode.ino,
    mode: inode.mode,
    uid: inode.uid,
    gid: inode.gid,
    size: isDir(inode) ? 0 : (inode.fops?.size?.() ?? 0),
    nlink: isDir(inode) ? 2 : 1,
    mtime: inode.mtime,
  };
}

export function vfsReaddir(ctx: FsContext, path: string): string[] {
  const { inode } = lookup(ctx, path);
  if (!inode.dir) throw new KernelError('ENOTDIR', `not a directory: ${path}`);
  permission(inode, ctx.cred, MAY_READ);
  return inode.dir.list(ctx);
}

export function vfsMkdir(ctx: FsContext, path: string, mode = 0o755): void {
  const { dir, name } = lookupParent(ctx, path);
  if (dir.dir.lookup(name, ctx)) throw new KernelError('EEXIST', `file exists: ${path}`);
  if (!dir.dir.mkdir) throw new KernelError('EPERM', `cannot create directories in ${path}`);
  permission(dir, ctx.cred, MAY_WRITE | MAY_EXEC);
  dir.dir.mkdir(name, mode & 0o7777, ctx);
}

export function vfsUnlink(ctx: FsContext, path: string): void {
  const { dir, name } = lookupParent(ctx, path);
  const target = dir.dir.lookup(name, ctx);
  if (!target) throw new KernelError('ENOENT', `no such file or directory: ${path}`);
  if (isDir(target)) throw new KernelError('EISDIR', `is a directory: ${path}`);
  if (!dir.dir.unlink) throw new KernelError('EPERM', `cannot remove ${path}`);
  permission(dir, ctx.cred, MAY_WRITE | MAY_EXEC);
  dir.dir.unlink(name, ctx);
}

export function vfsRmdir(ctx: FsContext, path: string): void {
  const { dir, name } = lookupParent(ctx, path);
  const target = dir.dir.lookup(name, ctx);
  if (!target) throw new KernelError('ENOENT', `no such file or directory: ${path}`);
  if (!isDir(target)) throw new KernelError('ENOTDIR', `not a directory: ${path}`);
  if (!dir.dir.rmdir) throw new KernelError('EPERM', `cannot remove ${path}`);
  permission(dir, ctx.cred, MAY_WRITE | MAY_EXEC);
  dir.dir.rmdir(name, ctx);
}

export function vfsRename(ctx: FsContext, from: string, to: string): void {
  const a = lookupParent(ctx, from);
  const b = lookupParent(ctx, to);
  if (!a.dir.dir.lookup(a.name, ctx)) throw new KernelError('ENOENT', `no such file or directory: ${from}`);
  if (!a.dir.dir.rename) throw new KernelError('EPERM', `cannot rename ${from}`);
  permission(a.dir, ctx.cred, MAY_WRITE | MAY_EXEC);
  permission(b.dir, ctx.cred, MAY_WRITE | MAY_EXEC);
  a.dir.dir.rename(a.name, b.dir, b.name, ctx);
}

export function vfsTruncate(ctx: FsContext, path: string, size: number): void {
  const { inode } = lookup(ctx, path);
  if (isDir(inode)) throw new KernelError('EISDIR', `is a directory: ${path}`);
  permission(inode, ctx.cred, MAY_WRITE);
  const fops = inode.fops;
  if (!fops?.write) throw new KernelError('EACCES', `not writable: ${path}`);
  fops.truncate?.(null, size, ctx);
}

export function vfsChmod(ctx: FsContext, path: string, mode: number): void {
  const { inode } = lookup(ctx, path);
  if (ctx.cred.euid !== 0 && ctx.cred.euid !== inode.uid) throw new KernelError('EPERM', `not the owner of ${path}`);
  if (!inode.chmod) throw new KernelError('EPERM', `cannot change the mode of ${path}`);
  inode.chmod(mode & 0o7777, ctx);
}
