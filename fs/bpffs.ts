/**
 * bpffs at /sys/fs/bpf: the pins of kernel/bpf/pins.ts as files. A pinned program or
 * map is a file (mode 0600, as bpf_obj_pin makes them); reading it prints what
 * `bpftool prog show` / `bpftool map show` + `map dump` would (Linux only prints maps
 * with BTF there — a difference listed in the README). unlink unpins (drops the pin's
 * reference); mkdir/rmdir make and remove directories. Pinning itself is BPF_OBJ_PIN.
 */
import { KernelError } from '../kernel/errno.js';
import type { Kernel } from '../kernel/kernel.js';
import { BPFFS_ROOT, bpffsMkdir, bpffsRmdir, getPinned, listPins, unpin } from '../kernel/bpf/pins.js';
import { mapDump, mapShow, progShow } from './bpfshow.js';
import { allocIno, mountAt, S_IFDIR, seqFile, type DirOps, type FsContext, type Inode } from './vfs.js';

/** Only root may change bpffs (its root is 01777 in Linux, but pins are CAP_BPF business). */
function checkAdmin(ctx: FsContext, what: string): void {
  if (ctx.cred.euid !== 0) throw new KernelError('EPERM', `${what} needs root`);
}

function pinFile(kernel: Kernel, path: string): Inode {
  return seqFile(
    () => {
      const obj = getPinned(kernel, path);
      return obj.kind === 'prog' ? progShow(kernel, obj.prog) : mapShow(kernel, obj.map) + mapDump(kernel, obj.map);
    },
    { mode: 0o600 },
  );
}

function bpffsDir(kernel: Kernel, path: string): Inode {
  const cache = new Map<string, Inode>();
  const child = (name: string): string => `${path}/${name}`;
  const dir: DirOps = {
    list: () => listPins(kernel, path).map((p) => p.name),
    lookup: (name) => {
      const e = listPins(kernel, path).find((p) => p.name === name);
      if (!e) {
        cache.delete(name);
        return undefined;
      }
      let i = cache.get(name);
      // A name re-pinned as another kind gets a fresh inode.
      if (!i || (e.kind === 'dir') !== Boolean(i.dir)) {
        i = e.kind === 'dir' ? bpffsDir(kernel, e.path) : pinFile(kernel, e.path);
        cache.set(name, i);
      }
      return i;
    },
    mkdir: (name, _mode, ctx) => {
      checkAdmin(ctx, 'mkdir in bpffs');
      bpffsMkdir(kernel, child(name));
      return bpffsDir(kernel, child(name));
    },
    unlink: (name, ctx) => {
      checkAdmin(ctx, 'unpinning');
      unpin(kernel, child(name));
      cache.delete(name);
    },
    rmdir: (name, ctx) => {
      checkAdmin(ctx, 'rmdir in bpffs');
      bpffsRmdir(kernel, child(name));
      cache.delete(name);
    },
  };
  return { ino: allocIno(), mode: S_IFDIR | (path === BPFFS_ROOT ? 0o1777 : 0o700), uid: 0, gid: 0, mtime: new Date(), dir };
}

export function registerBpffs(kernel: Kernel): void {
  mountAt(kernel, BPFFS_ROOT, bpffsDir(kernel, BPFFS_ROOT));
}
