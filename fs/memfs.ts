/**
 * Ordinary directories (/tmp, /home, /root, /etc) backed by memfs, so users can copy in
 * seccomp profiles, pcap files and ELF objects and the kernel's tools can read them by
 * path. memfs stores the bytes and modes; the VFS does the permission checks (memfs runs
 * as root so it never refuses on its own), and owners are set from the creating task.
 */
import { Volume } from 'memfs';
import { KernelError, ERRNO, type ErrnoName } from '../kernel/errno.js';
import type { Kernel } from '../kernel/kernel.js';
import { perKernel } from '../kernel/kernel.js';
import {
  S_IFDIR,
  S_IFMT,
  O_ACCMODE,
  O_APPEND,
  type DirOps,
  type FileOps,
  type FsContext,
  type Inode,
  mountAt,
} from './vfs.js';

/** The ordinary directories and their modes (/tmp is sticky and world-writable). */
export const MEMFS_DIRS: readonly (readonly [string, number])[] = [
  ['/tmp', 0o1777],
  ['/home', 0o755],
  ['/root', 0o700],
  ['/etc', 0o755],
];

const rootProcess = {
  getuid: () => 0,
  getgid: () => 0,
  cwd: () => '/',
  platform: 'linux',
  emitWarning: () => undefined,
  env: {},
};

export const volumeOf = perKernel((): Volume => {
  const json: Record<string, null> = {};
  for (const [d] of MEMFS_DIRS) json[d] = null;
  const vol = Volume.fromJSON(json, '/', { process: rootProcess });
  for (const [d, mode] of MEMFS_DIRS) vol.chmodSync(d, mode);
  return vol;
});

/** Runs a memfs call, turning its Node-style error into a KernelError with the same code. */
function mem<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code in ERRNO) throw new KernelError(code as ErrnoName, (e as Error).message);
    throw e;
  }
}

/**
 * A memfs call the VFS has already permitted. memfs checks modes against the host
 * process's uid with no root override, so it refuses e.g. a task opening its own 0644
 * file for writing; on such an EACCES the nodes involved are opened up (mode | 0777) for
 * the call and restored after it.
 */
function permitted<T>(vol: Volume, paths: readonly string[], fn: () => T): T {
  try {
    return mem(fn);
  } catch (e) {
    if (!(e instanceof KernelError && e.errno === 'EACCES')) throw e;
  }
  const saved = paths.map((p) => [p, Number(vol.statSync(p).mode) & 0o7777] as const);
  try {
    for (const [p, m] of saved) vol.chmodSync(p, m | 0o777);
    return mem(fn);
  } finally {
    for (const [p, m] of saved) if (vol.existsSync(p)) vol.chmodSync(p, m);
  }
}

interface MemOpen {
  fd: number;
}

/** An inode over one memfs path; metadata is read through to memfs on each access. */
class MemInode implements Inode {
  readonly fops?: FileOps;
  readonly dir?: DirOps;
  constructor(
    private readonly vol: Volume,
    readonly path: string,
  ) {
    if ((this.stat().mode & S_IFMT) === S_IFDIR) this.dir = this.makeDirOps();
    else this.fops = this.makeFileOps();
  }
  private stat(): { mode: number; uid: number; gid: number; ino: number; size: number; mtime: Date } {
    return mem(() => this.vol.statSync(this.path)) as unknown as {
      mode: number;
      uid: number;
      gid: number;
      ino: number;
      size: number;
      mtime: Date;
    };
  }
  get ino(): number {
    // memfs numbers from 1; keep them apart from the pseudo inodes.
    return 0x40000000 + this.stat().ino;
  }
  get mode(): number {
    return this.stat().mode;
  }
  get uid(): number {
    return this.stat().uid;
  }
  get gid(): number {
    return this.stat().gid;
  }
  get mtime(): Date {
    return this.stat().mtime;
  }
  chmod(mode: number): void {
    mem(() => this.vol.chmodSync(this.path, mode));
  }
  private child(name: string): string {
    return this.path === '/' ? `/${name}` : `${this.path}/${name}`;
  }
  private makeDirOps(): DirOps {
    const vol = this.vol;
    const own = (p: string, ctx: FsContext): void => mem(() => vol.chownSync(p, ctx.cred.euid, ctx.cred.egid));
    return {
      lookup: (name) => (vol.existsSync(this.child(name)) ? new MemInode(vol, this.child(name)) : undefined),
      list: () => mem(() => vol.readdirSync(this.path) as string[]).map(String),
      create: (name, mode, ctx) => {
        const p = this.child(name);
        permitted(vol, [this.path], () => vol.closeSync(vol.openSync(p, 'wx', mode)));
        own(p, ctx);
        return new MemInode(vol, p);
      },
      mkdir: (name, mode, ctx) => {
        const p = this.child(name);
        permitted(vol, [this.path], () => vol.mkdirSync(p, { mode }));
        own(p, ctx);
        return new MemInode(vol, p);
      },
      unlink: (name, ctx) => {
        this.checkSticky(name, ctx);
        permitted(vol, [this.path], () => vol.unlinkSync(this.child(name)));
      },
      rmdir: (name, ctx) => {
        this.checkSticky(name, ctx);
        permitted(vol, [this.path], () => vol.rmdirSync(this.child(name)));
      },
      rename: (name, to, newName, ctx) => {
        if (!(to instanceof MemInode) || to.vol !== vol) throw new KernelError('EXDEV', 'rename across filesystems');
        this.checkSticky(name, ctx);
        permitted(vol, [this.path, to.path], () => vol.renameSync(this.child(name), to.child(newName)));
      },
    };
  }
  /** The sticky bit (/tmp): only the owner of a file (or root) may remove it. */
  private checkSticky(name: string, ctx: FsContext): void {
    if (!(this.mode & 0o1000) || ctx.cred.euid === 0) return;
    const st = mem(() => this.vol.statSync(this.child(name)));
    if (Number(st.uid) !== ctx.cred.euid && this.uid !== ctx.cred.euid) {
      throw new KernelError('EPERM', `sticky directory: ${name} belongs to uid ${Number(st.uid)}`);
    }
  }
  private makeFileOps(): FileOps {
    const vol = this.vol;
    const path = this.path;
    const fdOf = (private_: unknown): number => (private_ as MemOpen).fd;
    return {
      open: (f) => {
        // Access mode and O_APPEND only: creation and truncation were done by the VFS.
        const flags = f.flags & (O_ACCMODE | O_APPEND);
        f.private = { fd: permitted(vol, [path], () => vol.openSync(path, flags)) } satisfies MemOpen;
      },
      read: (f, len, pos) => {
        const buf = Buffer.alloc(len);
        const n = mem(() => vol.readSync(fdOf(f.private), buf, 0, len, pos));
        return buf.subarray(0, n);
      },
      write: (f, data, pos) =>
        mem(() => vol.writeSync(fdOf(f.private), data, 0, data.length, f.flags & O_APPEND ? null : pos)),
      truncate: (f, size) => {
        if (f) mem(() => vol.ftruncateSync(fdOf(f.private), size));
        else mem(() => vol.truncateSync(path, size));
      },
      release: (f) => {
        const st = f.private as MemOpen | undefined;
        if (st) vol.closeSync(st.fd);
      },
      size: () => this.stat().size,
    };
  }
}

/** Boot step: mounts the ordinary directories. */
export function registerMemfs(kernel: Kernel): void {
  const vol = volumeOf(kernel);
  for (const [d] of MEMFS_DIRS) mountAt(kernel, d, new MemInode(vol, d));
}
