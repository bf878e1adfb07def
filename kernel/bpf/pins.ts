/**
 * The bpffs namespace, kernel side: paths under /sys/fs/bpf naming pinned programs and
 * maps, plus the directories between them. A pin holds one reference on its object
 * (bpf_obj_pin_user); unlinking drops it. fs/bpffs.ts serves this tree as files.
 *
 * Errnos as Linux's bpf_obj_pin/bpf_obj_get: a path outside bpffs is EPERM, a missing
 * parent or entry ENOENT, an existing name EEXIST, a non-empty directory ENOTEMPTY.
 */
import { KernelError } from '../errno.js';
import { perKernel, type Kernel } from '../kernel.js';
import { bpfMapPut, bpfProgPut } from './objects.js';
import type { BpfMap, BpfProg } from './types.js';

export const BPFFS_ROOT = '/sys/fs/bpf';

export type PinnedObject = { kind: 'prog'; prog: BpfProg } | { kind: 'map'; map: BpfMap };
type Entry = PinnedObject | { kind: 'dir' };

const pinsOf = perKernel((): Map<string, Entry> => new Map<string, Entry>([[BPFFS_ROOT, { kind: 'dir' }]]));

/** Normalises an absolute path; EPERM when it is not inside bpffs. */
export function bpffsPath(path: string): string {
  if (!path.startsWith('/')) throw new KernelError('EINVAL', `pin path must be absolute: ${path}`);
  const parts: string[] = [];
  for (const p of path.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') parts.pop();
    else parts.push(p);
  }
  const norm = `/${parts.join('/')}`;
  if (norm !== BPFFS_ROOT && !norm.startsWith(`${BPFFS_ROOT}/`)) {
    throw new KernelError('EPERM', `${path} is not on a bpf filesystem`);
  }
  return norm;
}

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/')) || '/';
}

function checkNew(kernel: Kernel, path: string): void {
  const pins = pinsOf(kernel);
  if (pins.has(path)) throw new KernelError('EEXIST', `${path} exists`);
  const parent = pins.get(parentOf(path));
  if (!parent) throw new KernelError('ENOENT', `${parentOf(path)} does not exist`);
  if (parent.kind !== 'dir') throw new KernelError('ENOTDIR', `${parentOf(path)} is not a directory`);
  const name = path.slice(path.lastIndexOf('/') + 1);
  if (name.length > 255) throw new KernelError('ENAMETOOLONG', `${name} is too long`);
}

/** Pins `obj` at `path`, taking over the reference the caller holds for it. */
export function pinObject(kernel: Kernel, path: string, obj: PinnedObject): void {
  const p = bpffsPath(path);
  checkNew(kernel, p);
  pinsOf(kernel).set(p, obj);
}

/** The object pinned at `path` (no reference taken). */
export function getPinned(kernel: Kernel, path: string): PinnedObject {
  const e = pinsOf(kernel).get(bpffsPath(path));
  if (!e) throw new KernelError('ENOENT', `${path} does not exist`);
  if (e.kind === 'dir') throw new KernelError('EINVAL', `${path} is a directory, not a BPF object`);
  return e;
}

/** unlink(2) in bpffs: removes a pin and drops its reference. */
export function unpin(kernel: Kernel, path: string): void {
  const p = bpffsPath(path);
  const pins = pinsOf(kernel);
  const e = pins.get(p);
  if (!e) throw new KernelError('ENOENT', `${path} does not exist`);
  if (e.kind === 'dir') throw new KernelError('EISDIR', `${path} is a directory`);
  pins.delete(p);
  if (e.kind === 'prog') bpfProgPut(kernel, e.prog);
  else bpfMapPut(kernel, e.map);
}

export function bpffsMkdir(kernel: Kernel, path: string): void {
  const p = bpffsPath(path);
  checkNew(kernel, p);
  pinsOf(kernel).set(p, { kind: 'dir' });
}

export function bpffsRmdir(kernel: Kernel, path: string): void {
  const p = bpffsPath(path);
  const pins = pinsOf(kernel);
  const e = pins.get(p);
  if (!e) throw new KernelError('ENOENT', `${path} does not exist`);
  if (e.kind !== 'dir') throw new KernelError('ENOTDIR', `${path} is not a directory`);
  if (p === BPFFS_ROOT) throw new KernelError('EBUSY', 'cannot remove the bpffs root');
  if (listPins(kernel, p).length > 0) throw new KernelError('ENOTEMPTY', `${path} is not empty`);
  pins.delete(p);
}

export interface PinListing {
  name: string;
  path: string;
  kind: 'prog' | 'map' | 'dir';
}

/** The entries directly inside directory `dir`, sorted by name. */
export function listPins(kernel: Kernel, dir: string = BPFFS_ROOT): PinListing[] {
  const d = bpffsPath(dir);
  const pins = pinsOf(kernel);
  const e = pins.get(d);
  if (!e) throw new KernelError('ENOENT', `${dir} does not exist`);
  if (e.kind !== 'dir') throw new KernelError('ENOTDIR', `${dir} is not a directory`);
  const out: PinListing[] = [];
  for (const [path, entry] of pins) {
    if (path !== d && parentOf(path) === d) out.push({ name: path.slice(d.length + 1), path, kind: entry.kind });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Every path where `obj` is pinned (bpftool's `pinned` lines). */
export function pinnedPaths(kernel: Kernel, obj: BpfProg | BpfMap): string[] {
  const out: string[] = [];
  for (const [path, e] of pinsOf(kernel)) {
    if ((e.kind === 'prog' && e.prog === obj) || (e.kind === 'map' && e.map === obj)) out.push(path);
  }
  return out.sort();
}
