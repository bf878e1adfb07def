/**
 * The FUSE adapter: the VFS on a real mount point (fuse-native over libfuse2). One FUSE
 * operation is one VFS call made as root; KernelError becomes -errno for that operation.
 *
 * Who calls this: `bpfkern mount` (userspace/commands/mount.ts) and the FUSE tests.
 * Invariant: a FUSE file handle is exactly one OpenFile; release drops it and wakes any
 * read still pending on it.
 */
import { createRequire } from 'node:module';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync, statSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import createDebug from 'debug';
import type FuseType from 'fuse-native';
import type { FuseOps, FuseStat } from 'fuse-native';
import { KernelError, errnoNumber } from '../../kernel/errno.js';
import type { Kernel } from '../../kernel/kernel.js';
import {
  O_CREAT,
  O_EXCL,
  O_RDWR,
  hostContext,
  lookup,
  vfsChmod,
  vfsFlush,
  vfsMkdir,
  vfsOpen,
  vfsRead,
  vfsReaddir,
  vfsRelease,
  vfsRename,
  vfsRmdir,
  vfsStat,
  vfsTruncate,
  vfsUnlink,
  vfsWrite,
  type OpenFile,
} from '../vfs.js';

const log = createDebug('bpfkern:fuse');

type FuseCtor = typeof FuseType;

/** Why FUSE cannot be used here, with the exact fix; null when it can. */
export interface FuseProblem {
  reason: string;
  fix: string;
}

let loaded: FuseCtor | FuseProblem | undefined;

/** Loads fuse-native once. Missing /dev/fuse or libfuse2 becomes a FuseProblem. */
export function loadFuse(): FuseCtor | FuseProblem {
  if (loaded) return loaded;
  if (process.platform !== 'linux') {
    return (loaded = { reason: `FUSE mounts need Linux (this is ${process.platform})`, fix: 'run on Linux' });
  }
  if (!existsSync('/dev/fuse')) {
    return (loaded = {
      reason: '/dev/fuse is missing',
      fix: 'load the fuse module (modprobe fuse) or run the container with --device /dev/fuse --cap-add SYS_ADMIN',
    });
  }
  try {
    const req = createRequire(import.meta.url);
    const mod = req('fuse-native') as FuseCtor | { default: FuseCtor };
    loaded = 'default' in mod && typeof mod.default === 'function' ? mod.default : (mod as FuseCtor);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    loaded = /libfuse/.test(msg)
      ? { reason: `libfuse2 is not installed (${msg.split('\n')[0]})`, fix: 'apt-get install libfuse2' }
      : { reason: `fuse-native cannot be loaded: ${msg.split('\n')[0]}`, fix: 'npm ci (fuse-native) and apt-get install libfuse2' };
  }
  if (loaded && typeof loaded === 'function' && !hasFusermount()) {
    loaded = { reason: 'fusermount is missing', fix: 'apt-get install fuse' };
  }
  return loaded;
}

function hasFusermount(): boolean {
  return (process.env['PATH'] ?? '/usr/bin:/bin').split(':').some((d) => d !== '' && existsSync(`${d}/fusermount`));
}

export function isFuseProblem(x: FuseCtor | FuseProblem): x is FuseProblem {
  return typeof x !== 'function';
}

/** Is `dir` a mount point listed in /proc/self/mounts (ours or a stale one)? */
export function isMounted(dir: string): boolean {
  const abs = resolve(dir);
  try {
    return readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .some((l) => l.split(' ')[1]?.replace(/\\040/g, ' ') === abs);
  } catch {
    return false;
  }
}

/** `fusermount -uz DIR`: a lazy unmount, the cleanup for a mount left by a killed run. */
export function fusermountUnmount(dir: string): Promise<void> {
  return new Promise((res, rej) => {
    execFile('fusermount', ['-uz', resolve(dir)], (err, _out, stderr) => {
      if (err) rej(new Error(`fusermount -uz ${dir}: ${stderr.trim() || err.message}`));
      else res();
    });
  });
}

export interface FuseMount {
  readonly mnt: string;
  /** Unmounts (once); pending reads are woken first so no libfuse thread stays blocked. */
  unmount(): Promise<void>;
}

export interface MountOptions {
  /** libfuse's own debug output (also on with DEBUG=bpfkern:fuse-lib). */
  debug?: boolean;
}

function toErrno(e: unknown, what: string): number {
  if (e instanceof KernelError) {
    log('%s: %s', what, e.message);
    return -errnoNumber(e.errno);
  }
  // Not a kernel error: a bug. Keep the mount alive but make it loud.
  process.stderr.write(`bpfkern: fuse ${what}: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  return -errnoNumber('EIO');
}

/**
 * Mounts `kernel`'s tree on `mnt` (created if missing; a stale mount there is cleaned
 * first). Throws an Error whose message says what to install when FUSE is unavailable.
 */
export async function mountKernel(kernel: Kernel, mnt: string, opts: MountOptions = {}): Promise<FuseMount> {
  const Fuse = loadFuse();
  if (isFuseProblem(Fuse)) throw new Error(`${Fuse.reason}; to fix: ${Fuse.fix}`);
  const dir = resolve(mnt);
  if (isMounted(dir)) {
    log('cleaning up a stale mount at %s', dir);
    await fusermountUnmount(dir);
  }
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
  else if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`);

  const ctx = hostContext(kernel);
  const handles = new Map<number, OpenFile>();
  let nextFh = 1;
  const pending = new Map<OpenFile, { path: string; since: number }>();

  const fileOf = (fh: number): OpenFile => {
    const f = handles.get(fh);
    if (!f) throw new KernelError('EBADF', `no open file ${fh}`);
    return f;
  };
  const install = (f: OpenFile): number => {
    const fh = nextFh++;
    handles.set(fh, f);
    return fh;
  };

  const statOf = (path: string): FuseStat => {
    const st = vfsStat(lookup(ctx, path).inode);
    return {
      mtime: st.mtime,
      atime: st.mtime,
      ctime: st.mtime,
      nlink: st.nlink,
      size: st.size,
      mode: st.mode,
      uid: st.uid,
      gid: st.gid,
      ino: st.ino,
    };
  };

  const simple =
    (what: string, fn: () => void) =>
    (cb: (err: number) => void): void => {
      try {
        fn();
        cb(0);
      } catch (e) {
        cb(toErrno(e, what));
      }
    };

  const ops: FuseOps = {
    getattr: (path, cb) => {
      try {
        cb(0, statOf(path));
      } catch (e) {
        cb(toErrno(e, `getattr ${path}`));
      }
    },
    readdir: (path, cb) => {
      try {
        cb(0, ['.', '..', ...vfsReaddir(ctx, path)]);
      } catch (e) {
        cb(toErrno(e, `readdir ${path}`));
      }
    },
    open: (path, flags, cb) => {
      try {
        // The kernel already resolved O_CREAT/O_EXCL (create); O_TRUNC arrives as truncate.
        cb(0, install(vfsOpen(ctx, path, flags & ~(O_CREAT | O_EXCL))));
      } catch (e) {
        cb(toErrno(e, `open ${path}`));
      }
    },
    create: (path, mode, cb) => {
      try {
        cb(0, install(vfsOpen(ctx, path, O_RDWR | O_CREAT, mode)));
      } catch (e) {
        cb(toErrno(e, `create ${path}`));
      }
    },
    read: (path, fh, buf, len, pos, cb) => {
      let f: OpenFile;
      let r: Uint8Array | Promise<Uint8Array>;
      try {
        f = fileOf(fh);
        r = vfsRead(f, len, pos);
      } catch (e) {
        cb(toErrno(e, `read ${path}`));
        return;
      }
      const done = (b: Uint8Array): void => {
        buf.set(b.subarray(0, len));
        cb(Math.min(b.length, len));
      };
      if (!(r instanceof Promise)) return done(r);
      pending.set(f, { path, since: Date.now() });
      watchPending();
      r.then(done, (e: unknown) => cb(toErrno(e, `read ${path}`))).finally(() => pending.delete(f));
    },
    write: (path, fh, buf, len, pos, cb) => {
      try {
        cb(vfsWrite(fileOf(fh), buf.subarray(0, len), pos));
      } catch (e) {
        cb(toErrno(e, `write ${path}`));
      }
    },
    flush: (path, fh, cb) => simple(`flush ${path}`, () => vfsFlush(fileOf(fh)))(cb),
    release: (path, fh, cb) => {
      const f = handles.get(fh);
      handles.delete(fh);
      if (f) vfsRelease(f);
      cb(0);
    },
    truncate: (path, size, cb) => simple(`truncate ${path}`, () => vfsTruncate(ctx, path, size))(cb),
    ftruncate: (path, fh, size, cb) =>
      simple(`ftruncate ${path}`, () => {
        const f = fileOf(fh);
        const fops = f.inode.fops;
        if (!fops?.write) throw new KernelError('EINVAL', `${path} is not writable`);
        fops.truncate?.(f, size, ctx);
      })(cb),
    mkdir: (path, mode, cb) => simple(`mkdir ${path}`, () => vfsMkdir(ctx, path, mode))(cb),
    rmdir: (path, cb) => simple(`rmdir ${path}`, () => vfsRmdir(ctx, path))(cb),
    unlink: (path, cb) => simple(`unlink ${path}`, () => vfsUnlink(ctx, path))(cb),
    rename: (src, dest, cb) => simple(`rename ${src}`, () => vfsRename(ctx, src, dest))(cb),
    chmod: (path, mode, cb) => simple(`chmod ${path}`, () => vfsChmod(ctx, path, mode))(cb),
    // touch(1) sets times after creating; accept it (times are not kept apart from mtime).
    utimens: (path, _a, _m, cb) => simple(`utimens ${path}`, () => void lookup(ctx, path))(cb),
    chown: (_path, _uid, _gid, cb) => cb(-errnoNumber('EPERM')),
  };

  /**
   * libfuse2 drops FUSE_INTERRUPT (no `-o intr` support in fuse-native), so a reader
   * killed by Ctrl-C would wait in the kernel until the next event. Every 250 ms we look
   * for the host processes that hold the file; when none is left alive (all have SIGKILL
   * pending — a default-fatal SIGINT becomes one), the read is cancelled with EINTR.
   */
  let timer: NodeJS.Timeout | null = null;
  const watchPending = (): void => {
    if (timer) return;
    timer = setInterval(() => {
      if (pending.size === 0) {
        if (timer) clearInterval(timer);
        timer = null;
        return;
      }
      for (const [f, p] of pending) {
        if (Date.now() - p.since > 200 && readerGone(dir + p.path)) {
          log('reader of %s is gone; cancelling its read', p.path);
          f.abort.abort();
          pending.delete(f);
        }
      }
    }, 250);
    timer.unref();
  };

  const fuse = new Fuse(dir, ops, {
    // direct_io: sizes of pseudo files don't matter and reads may block (trace_pipe);
    // big_writes: one echo is one write() up to 128 KiB. fuse-native has no option for
    // either, but passes fsname through to libfuse's option string.
    fsname: 'bpfkern,direct_io,big_writes,max_write=131072',
    subtype: 'bpfkern',
    autoUnmount: true,
    timeout: false,
    ...(opts.debug ? { debug: true } : {}),
  });
  await new Promise<void>((res, rej) => fuse.mount((err) => (err ? rej(err) : res())));
  log('mounted on %s', dir);

  let unmounted: Promise<void> | null = null;
  return {
    mnt: dir,
    unmount: () => {
      unmounted ??= (async () => {
        if (timer) clearInterval(timer);
        for (const f of handles.values()) f.abort.abort();
        await new Promise<void>((res) =>
          fuse.unmount((err) => {
            if (err) log('unmount: %s', err.message);
            res();
          }),
        );
        for (const f of handles.values()) vfsRelease(f);
        handles.clear();
        if (isMounted(dir)) await fusermountUnmount(dir).catch(() => undefined);
        log('unmounted %s', dir);
      })();
      return unmounted;
    },
  };
}

/** True when no live host process holds `file` open (see watchPending). */
function readerGone(file: string): boolean {
  let holders = 0;
  let dying = 0;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n) && n !== String(process.pid));
  } catch {
    return false;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    const holds = fds.some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === file;
      } catch {
        return false;
      }
    });
    if (!holds) continue;
    holders++;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const pend = [...status.matchAll(/^(?:SigPnd|ShdPnd):\s*([0-9a-f]+)$/gm)].reduce((a, m) => a | BigInt(`0x${m[1]}`), 0n);
      if (pend & (1n << 8n)) dying++; // SIGKILL (9) pending
    } catch {
      dying++; // exited while we looked
    }
  }
  return holders > 0 && holders === dying;
}
