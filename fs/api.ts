/**
 * kernel.fs: a Node-`fs`-shaped API over the VFS, for tests, tools and people's own
 * integration tests. Paths are the kernel's absolute paths (/proc/sys/..., /sys/kernel/
 * tracing/...). Errors are Node-style: an Error with .code ('EINVAL'), .errno (negative),
 * .syscall and .path, whose message carries the kernel's own text.
 *
 * The API acts as root on the host by default; `.as(task)` gives the view of a mini-OS
 * task (its credentials, its /proc/self), so permission errors can be tested.
 *
 * Synchronous reads never block: a blocking file (trace_pipe) returns what is ready now.
 * The promise API's FileHandle.read() blocks until data arrives, like read(2).
 */
import { Buffer } from 'node:buffer';
import { KernelError, errnoNumber } from '../kernel/errno.js';
import type { Kernel } from '../kernel/kernel.js';
import { perKernel } from '../kernel/kernel.js';
import type { Task } from '../kernel/task.js';
import {
  O_APPEND,
  O_CREAT,
  O_EXCL,
  O_NONBLOCK,
  O_RDONLY,
  O_RDWR,
  O_TRUNC,
  O_WRONLY,
  S_IFDIR,
  S_IFMT,
  S_IFREG,
  hostContext,
  lookup,
  taskContext,
  vfsChmod,
  vfsClose,
  vfsMkdir,
  vfsOpen,
  vfsRead,
  vfsReaddir,
  vfsRename,
  vfsRmdir,
  vfsStat,
  vfsTruncate,
  vfsUnlink,
  vfsWrite,
  type FsContext,
  type OpenFile,
} from './vfs.js';

/** A Node-style filesystem error. */
export class FsError extends Error {
  readonly errno: number;
  constructor(
    readonly code: KernelError['errno'],
    detail: string,
    readonly syscall: string,
    readonly path?: string,
  ) {
    super(`${code}: ${detail}, ${syscall}${path !== undefined ? ` '${path}'` : ''}`);
    this.name = 'FsError';
    this.errno = -errnoNumber(code);
  }
}

function wrap<T>(syscall: string, path: string | undefined, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof KernelError) throw new FsError(e.errno, e.detail, syscall, path);
    throw e;
  }
}

async function wrapAsync<T>(syscall: string, path: string | undefined, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof KernelError) throw new FsError(e.errno, e.detail, syscall, path);
    throw e;
  }
}

export type OpenFlags = 'r' | 'r+' | 'w' | 'wx' | 'w+' | 'a' | 'a+' | 'ax' | number;

/** Node's flag strings as open(2) flags. */
export function parseFlags(flags: OpenFlags): number {
  if (typeof flags === 'number') return flags;
  switch (flags) {
    case 'r':
      return O_RDONLY;
    case 'r+':
      return O_RDWR;
    case 'w':
      return O_WRONLY | O_CREAT | O_TRUNC;
    case 'wx':
      return O_WRONLY | O_CREAT | O_TRUNC | O_EXCL;
    case 'w+':
      return O_RDWR | O_CREAT | O_TRUNC;
    case 'a':
      return O_WRONLY | O_CREAT | O_APPEND;
    case 'a+':
      return O_RDWR | O_CREAT | O_APPEND;
    case 'ax':
      return O_WRONLY | O_CREAT | O_APPEND | O_EXCL;
  }
}

/** The subset of fs.Stats that makes sense here. */
export class Stats {
  constructor(
    readonly ino: number,
    readonly mode: number,
    readonly uid: number,
    readonly gid: number,
    readonly size: number,
    readonly nlink: number,
    readonly mtime: Date,
  ) {}
  isFile(): boolean {
    return (this.mode & S_IFMT) === S_IFREG;
  }
  isDirectory(): boolean {
    return (this.mode & S_IFMT) === S_IFDIR;
  }
}

export type Data = string | Uint8Array;
export type WriteOptions = BufferEncoding | { flag?: OpenFlags; mode?: number; encoding?: BufferEncoding };
export type ReadOptions = BufferEncoding | { encoding?: BufferEncoding; flag?: OpenFlags } | undefined;

const CHUNK = 65536;

function encodingOf(o: ReadOptions | WriteOptions | undefined): BufferEncoding | undefined {
  if (typeof o === 'string') return o;
  return o?.encoding;
}

/** The async file handle of fs.promises.open. read() blocks on blocking files. */
export class FileHandle {
  constructor(
    private readonly file: OpenFile,
    readonly fd: number,
    private readonly onClose: () => void,
  ) {}
  async read(
    buffer: Uint8Array = Buffer.alloc(CHUNK),
    offset = 0,
    length = buffer.length - offset,
    position: number | null = null,
  ): Promise<{ bytesRead: number; buffer: Uint8Array }> {
    const got = await wrapAsync('read', this.file.path, () => vfsRead(this.file, length, position ?? undefined));
    buffer.set(got, offset);
    return { bytesRead: got.length, buffer };
  }
  async write(data: Data, position: number | null = null): Promise<{ bytesWritten: number }> {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const n = await wrapAsync('write', this.file.path, () => vfsWrite(this.file, bytes, position ?? undefined));
    return { bytesWritten: n };
  }
  async readFile(encoding?: BufferEncoding): Promise<Buffer | string> {
    const chunks: Uint8Array[] = [];
    for (;;) {
      const { bytesRead, buffer } = await this.read();
      if (bytesRead === 0) break;
      chunks.push(buffer.slice(0, bytesRead));
    }
    const all = Buffer.concat(chunks);
    return encoding ? all.toString(encoding) : all;
  }
  async close(): Promise<void> {
    this.onClose();
    await wrapAsync('close', this.file.path, () => vfsClose(this.file));
  }
}

/** The fs API for one set of credentials. */
export class KernelFs {
  private readonly files = new Map<number, OpenFile>();
  private nextFd = 3;
  readonly promises: KernelFsPromises;

  constructor(
    readonly kernel: Kernel,
    readonly ctx: FsContext = hostContext(kernel),
  ) {
    this.promises = new KernelFsPromises(this);
  }

  /** The same API seen by a mini-OS task (its credentials; EACCES where it lacks rights). */
  as(task: Task): KernelFs {
    return new KernelFs(this.kernel, taskContext(this.kernel, task));
  }

  /* ----- descriptors */

  /** open(2) without a descriptor: for callers that manage the OpenFile themselves. */
  openFile(path: string, flags: OpenFlags = 'r', mode = 0o666): OpenFile {
    return wrap('open', path, () => vfsOpen(this.ctx, path, parseFlags(flags), mode));
  }

  openSync(path: string, flags: OpenFlags = 'r', mode = 0o666): number {
    const f = this.openFile(path, flags, mode);
    const fd = this.nextFd++;
    this.files.set(fd, f);
    return fd;
  }

  private fileOf(fd: number, syscall: string): OpenFile {
    const f = this.files.get(fd);
    if (!f) throw new FsError('EBADF', `bad file descriptor ${fd}`, syscall);
    return f;
  }

  /** Reads without blocking: a blocking file with nothing ready gives EAGAIN. */
  readSync(fd: number, buffer: Uint8Array, offset = 0, length = buffer.length - offset, position: number | null = null): number {
    const f = this.fileOf(fd, 'read');
    const got = wrap('read', f.path, () => readNow(f, length, position ?? undefined));
    buffer.set(got, offset);
    return got.length;
  }

  writeSync(fd: number, data: Data, position: number | null = null): number {
    const f = this.fileOf(fd, 'write');
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    return wrap('write', f.path, () => vfsWrite(f, bytes, position ?? undefined));
  }

  closeSync(fd: number): void {
    const f = this.fileOf(fd, 'close');
    this.files.delete(fd);
    wrap('close', f.path, () => vfsClose(f));
  }

  /* ----- whole files */

  readFileSync(path: string): Buffer;
  readFileSync(path: string, options: BufferEncoding | { encoding: BufferEncoding }): string;
  readFileSync(path: string, options?: ReadOptions): Buffer | string {
    const flag = typeof options === 'object' && options.flag !== undefined ? parseFlags(options.flag) : O_RDONLY;
    const f = wrap('open', path, () => vfsOpen(this.ctx, path, flag | O_NONBLOCK));
    const chunks: Uint8Array[] = [];
    try {
      for (;;) {
        let got: Uint8Array;
        try {
          got = wrap('read', path, () => readNow(f, CHUNK));
        } catch (e) {
          // A blocking file has given all it has for now (trace_pipe).
          if (e instanceof FsError && e.code === 'EAGAIN') break;
          throw e;
        }
        if (got.length === 0) break;
        chunks.push(Buffer.from(got));
      }
    } finally {
      wrap('close', path, () => vfsClose(f));
    }
    const all = Buffer.concat(chunks);
    const enc = encodingOf(options);
    return enc ? all.toString(enc) : all;
  }

  /**
   * One write(2) of the whole data, as `echo x > file` does: the owner accepts it or the
   * error comes back here. Default flag 'w' (O_TRUNC, which pseudo files mostly ignore).
   */
  writeFileSync(path: string, data: Data, options?: WriteOptions): void {
    const o = typeof options === 'object' ? options : {};
    const flags = parseFlags(o.flag ?? 'w');
    const bytes = typeof data === 'string' ? Buffer.from(data, encodingOf(options) ?? 'utf8') : data;
    const f = wrap('open', path, () => vfsOpen(this.ctx, path, flags, o.mode ?? 0o666));
    let ok = false;
    try {
      let off = 0;
      do {
        const n = wrap('write', path, () => vfsWrite(f, bytes.subarray(off)));
        if (n <= 0 && bytes.length > 0) throw new FsError('EIO', 'short write', 'write', path);
        off += n;
      } while (off < bytes.length);
      ok = true;
    } finally {
      try {
        wrap('close', path, () => vfsClose(f));
      } catch (e) {
        if (ok) throw e; // the write's own error wins
      }
    }
  }

  appendFileSync(path: string, data: Data, options?: WriteOptions): void {
    const o = typeof options === 'object' ? options : {};
    this.writeFileSync(path, data, { ...o, flag: o.flag ?? 'a' });
  }

  /* ----- names */

  existsSync(path: string): boolean {
    try {
      lookup(this.ctx, path);
      return true;
    } catch (e) {
      if (e instanceof KernelError) return false;
      throw e;
    }
  }

  statSync(path: string): Stats {
    const st = wrap('stat', path, () => vfsStat(lookup(this.ctx, path).inode));
    return new Stats(st.ino, st.mode, st.uid, st.gid, st.size, st.nlink, st.mtime);
  }

  readdirSync(path: string): string[] {
    return wrap('scandir', path, () => vfsReaddir(this.ctx, path)).slice().sort();
  }

  mkdirSync(path: string, options?: { recursive?: boolean; mode?: number } | number): void {
    const o = typeof options === 'number' ? { mode: options } : (options ?? {});
    const mode = o.mode ?? 0o777;
    if (!o.recursive) return wrap('mkdir', path, () => vfsMkdir(this.ctx, path, mode));
    let cur = '';
    for (const part of path.split('/').filter((p) => p !== '')) {
      cur += `/${part}`;
      if (!this.existsSync(cur)) wrap('mkdir', cur, () => vfsMkdir(this.ctx, cur, mode));
    }
  }

  rmdirSync(path: string): void {
    wrap('rmdir', path, () => vfsRmdir(this.ctx, path));
  }

  unlinkSync(path: string): void {
    wrap('unlink', path, () => vfsUnlink(this.ctx, path));
  }

  renameSync(from: string, to: string): void {
    wrap('rename', from, () => vfsRename(this.ctx, from, to));
  }

  chmodSync(path: string, mode: number): void {
    wrap('chmod', path, () => vfsChmod(this.ctx, path, mode));
  }

  truncateSync(path: string, len = 0): void {
    wrap('truncate', path, () => vfsTruncate(this.ctx, path, len));
  }
}

/** A read that must not block: a pending read is EAGAIN (as with O_NONBLOCK). */
function readNow(f: OpenFile, len: number, pos?: number): Uint8Array {
  const r = vfsRead(f, len, pos);
  if (r instanceof Promise) {
    r.catch(() => undefined);
    throw new KernelError('EAGAIN', 'read would block');
  }
  return r;
}

/** fs.promises: the same calls; FileHandle reads block on blocking files. */
export class KernelFsPromises {
  constructor(private readonly fs: KernelFs) {}
  async open(path: string, flags: OpenFlags = 'r', mode = 0o666): Promise<FileHandle> {
    const f = this.fs.openFile(path, flags, mode);
    return new FileHandle(f, -1, () => undefined);
  }
  async readFile(path: string, options?: ReadOptions): Promise<Buffer | string> {
    const enc = encodingOf(options);
    return enc ? this.fs.readFileSync(path, { encoding: enc }) : this.fs.readFileSync(path);
  }
  async writeFile(path: string, data: Data, options?: WriteOptions): Promise<void> {
    this.fs.writeFileSync(path, data, options);
  }
  async appendFile(path: string, data: Data, options?: WriteOptions): Promise<void> {
    this.fs.appendFileSync(path, data, options);
  }
  async readdir(path: string): Promise<string[]> {
    return this.fs.readdirSync(path);
  }
  async stat(path: string): Promise<Stats> {
    return this.fs.statSync(path);
  }
  async access(path: string): Promise<void> {
    this.fs.statSync(path);
  }
  async mkdir(path: string, options?: { recursive?: boolean; mode?: number }): Promise<void> {
    this.fs.mkdirSync(path, options);
  }
  async rmdir(path: string): Promise<void> {
    this.fs.rmdirSync(path);
  }
  async unlink(path: string): Promise<void> {
    this.fs.unlinkSync(path);
  }
  async rename(from: string, to: string): Promise<void> {
    this.fs.renameSync(from, to);
  }
  async chmod(path: string, mode: number): Promise<void> {
    this.fs.chmodSync(path, mode);
  }
  async truncate(path: string, len = 0): Promise<void> {
    this.fs.truncateSync(path, len);
  }
}

/** The kernel's root view (what bootKernel exposes as kernel.fs). */
export const fsOf = perKernel((kernel: Kernel) => new KernelFs(kernel));
