/**
 * The lifetime of BPF programs and maps: their id tables (Linux's prog_idr / map_idr),
 * reference counts, and the FileObjects an fd refers to.
 *
 * Invariant: an object lives while its refcnt > 0. Every fd, pin, attachment, prog_array
 * slot and (for maps) using program holds one reference; the last put frees it: the id is
 * released, the map's memory goes back to kernel.mem, a program drops its maps.
 *
 * A map also has a small stub in the address space (the `struct bpf_map *` an LD_IMM64
 * BPF_PSEUDO_MAP_FD becomes): helpers get that address in r1 and find the map by it.
 * Who calls this: syscall.ts (create/load/fds), pins.ts, prog_array.ts, and subsystems
 * that attach programs (bpfProgGetFromFd + bpfProgPut).
 */
import { KernelError } from '../errno.js';
import { perKernel, type Kernel } from '../kernel.js';
import type { FileObject, Task } from '../task.js';
import type { Insn } from './isa.js';
import { progTag } from './tag.js';
import type { BpfMap, BpfProg, FuncProto, ProgTypeDef } from './types.js';

interface Objects {
  progs: Map<number, BpfProg>;
  maps: Map<number, BpfMap>;
  nextProgId: number;
  nextMapId: number;
  /** Stub offset -> map, and back. */
  mapByStub: Map<number, BpfMap>;
  stubOfMap: WeakMap<BpfMap, number>;
  /** Called when a program is freed (attach points, JIT caches). */
  progFreeHooks: ((prog: BpfProg) => void)[];
}

const objectsOf = perKernel(
  (): Objects => ({
    progs: new Map(),
    maps: new Map(),
    nextProgId: 1,
    nextMapId: 1,
    mapByStub: new Map(),
    stubOfMap: new WeakMap(),
    progFreeHooks: [],
  }),
);

/** Layout of the stub: what a program reading through a map pointer would see (bpf_map's first fields). */
const MAP_STUB_SIZE = 32;

const INT_MAX = 0x7fffffff;
function nextId(used: Map<number, unknown>, from: number): number {
  // idr_alloc_cyclic(1, INT_MAX): ids are not reused until they wrap.
  let id = from;
  while (used.has(id)) id = id >= INT_MAX ? 1 : id + 1;
  return id;
}

export function allocProgId(kernel: Kernel): number {
  const o = objectsOf(kernel);
  const id = nextId(o.progs, o.nextProgId);
  o.nextProgId = id >= INT_MAX ? 1 : id + 1;
  return id;
}

/** What a new program is made of; each member left out takes the default named beside it. */
export interface BpfProgInit {
  type: ProgTypeDef;
  insns: readonly Insn[];
  helpers: ReadonlyMap<number, FuncProto>;
  /** allocProgId's id for a program in the prog idr; 0 (the default) for one outside it. */
  id?: number;
  name?: string;
  /** '' by default; gplCompatible follows from it (license_is_gpl_compatible). */
  license?: string;
  /** The rewritten program (default: a copy of insns). */
  xlated?: Insn[];
  usedMaps?: BpfMap[];
  /** Default 512 (MAX_BPF_STACK), the most a program may use. */
  stackDepth?: number;
  uid?: number;
  classic?: BpfProg['classic'];
}

/** license_is_gpl_compatible (kernel/module/main.c). */
export function licenseIsGplCompatible(license: string): boolean {
  return ['GPL', 'GPL v2', 'GPL and additional rights', 'Dual BSD/GPL', 'Dual MIT/GPL', 'Dual MPL/GPL'].includes(license);
}

/**
 * The one place a BpfProg object is made (bpf_prog_alloc + what the loaders fill in):
 * refcnt 1, owned by the caller, not yet jited (bpfProgSelectRuntime picks the engine)
 * and not yet published (registerProg does that for programs with an id).
 */
export function newBpfProg(kernel: Kernel, init: BpfProgInit): BpfProg {
  const license = init.license ?? '';
  return {
    id: init.id ?? 0,
    type: init.type,
    name: init.name ?? '',
    tag: progTag(init.insns),
    license,
    gplCompatible: licenseIsGplCompatible(license),
    insns: init.insns,
    xlated: init.xlated ?? init.insns.map((i) => ({ ...i })),
    helpers: init.helpers,
    usedMaps: init.usedMaps ?? [],
    stackDepth: init.stackDepth ?? 512,
    loadTimeNs: kernel.clock.now(),
    uid: init.uid ?? 0,
    jited: null,
    jitError: null,
    refcnt: 1,
    ...(init.classic ? { classic: init.classic } : {}),
    runCount: 0,
    runTimeNs: 0n,
  };
}

/** Publishes a loaded program (refcnt already 1, owned by the caller). */
export function registerProg(kernel: Kernel, prog: BpfProg): void {
  objectsOf(kernel).progs.set(prog.id, prog);
}

/** Makes the map object around an allocated implementation, with refcnt 1. */
export function registerMap(kernel: Kernel, init: Omit<BpfMap, 'id' | 'refcnt' | 'frozen'>): BpfMap {
  const o = objectsOf(kernel);
  const id = nextId(o.maps, o.nextMapId);
  o.nextMapId = id >= INT_MAX ? 1 : id + 1;
  const map: BpfMap = { ...init, id, refcnt: 1, frozen: false };
  const stub = kernel.mem.alloc(MAP_STUB_SIZE, 8);
  const dv = kernel.mem.dv;
  dv.setUint32(stub, map.type, true);
  dv.setUint32(stub + 4, map.attr.keySize, true);
  dv.setUint32(stub + 8, map.attr.valueSize, true);
  dv.setUint32(stub + 12, map.attr.maxEntries, true);
  dv.setUint32(stub + 16, map.attr.mapFlags, true);
  dv.setUint32(stub + 20, id, true);
  o.mapByStub.set(stub, map);
  o.stubOfMap.set(map, stub);
  o.maps.set(id, map);
  return map;
}

/** The BPF address programs use for this map (the value LD_IMM64 loads). */
export function mapAddr(kernel: Kernel, map: BpfMap): bigint {
  const stub = objectsOf(kernel).stubOfMap.get(map);
  if (stub === undefined) throw new Error(`map ${map.id} has no stub`);
  return kernel.mem.addr(stub);
}

/** The map a helper's CONST_MAP_PTR argument points to; EFAULT for anything else. */
export function mapFromAddr(kernel: Kernel, addr: bigint): BpfMap {
  const off = kernel.mem.offsetOf(addr, MAP_STUB_SIZE);
  const map = objectsOf(kernel).mapByStub.get(off);
  if (!map) throw new KernelError('EFAULT', `0x${addr.toString(16)} is not a map`);
  return map;
}

export function progById(kernel: Kernel, id: number): BpfProg | undefined {
  return objectsOf(kernel).progs.get(id);
}

export function mapById(kernel: Kernel, id: number): BpfMap | undefined {
  return objectsOf(kernel).maps.get(id);
}

/** Live programs / maps in id order (bpftool prog show, GET_NEXT_ID). */
export function allProgs(kernel: Kernel): BpfProg[] {
  return [...objectsOf(kernel).progs.values()].sort((a, b) => a.id - b.id);
}

export function allMaps(kernel: Kernel): BpfMap[] {
  return [...objectsOf(kernel).maps.values()].sort((a, b) => a.id - b.id);
}

export function onProgFree(kernel: Kernel, hook: (prog: BpfProg) => void): void {
  objectsOf(kernel).progFreeHooks.push(hook);
}

export function bpfProgGet(prog: BpfProg): BpfProg {
  prog.refcnt++;
  return prog;
}

export function bpfMapGet(map: BpfMap): BpfMap {
  map.refcnt++;
  return map;
}

export function bpfProgPut(kernel: Kernel, prog: BpfProg): void {
  if (prog.refcnt <= 0) throw new Error(`prog ${prog.id} put with refcnt ${prog.refcnt}`);
  if (--prog.refcnt > 0) return;
  const o = objectsOf(kernel);
  o.progs.delete(prog.id);
  for (const hook of o.progFreeHooks) hook(prog);
  for (const map of prog.usedMaps) bpfMapPut(kernel, map);
  prog.usedMaps = [];
  prog.jited = null;
}

export function bpfMapPut(kernel: Kernel, map: BpfMap): void {
  if (map.refcnt <= 0) throw new Error(`map ${map.id} put with refcnt ${map.refcnt}`);
  if (--map.refcnt > 0) return;
  const o = objectsOf(kernel);
  o.maps.delete(map.id);
  const stub = o.stubOfMap.get(map);
  if (stub !== undefined) {
    o.mapByStub.delete(stub);
    kernel.mem.free(stub);
  }
  map.impl.free();
}

/** What a program fd refers to; closing the fd puts the program. */
export class BpfProgFile implements FileObject {
  readonly kind = 'bpf-prog';
  constructor(
    readonly kernel: Kernel,
    readonly prog: BpfProg,
  ) {}
  release(): void {
    bpfProgPut(this.kernel, this.prog);
  }
  retain(): void {
    bpfProgGet(this.prog);
  }
}

export class BpfMapFile implements FileObject {
  readonly kind = 'bpf-map';
  constructor(
    readonly kernel: Kernel,
    readonly map: BpfMap,
  ) {}
  release(): void {
    bpfMapPut(this.kernel, this.map);
  }
  retain(): void {
    bpfMapGet(this.map);
  }
}

/** Installs a new fd for the program, taking the reference the caller passes in. */
export function installProgFd(kernel: Kernel, task: Task, prog: BpfProg): number {
  try {
    return task.fds.install(new BpfProgFile(kernel, prog));
  } catch (e) {
    bpfProgPut(kernel, prog);
    throw e;
  }
}

export function installMapFd(kernel: Kernel, task: Task, map: BpfMap): number {
  try {
    return task.fds.install(new BpfMapFile(kernel, map));
  } catch (e) {
    bpfMapPut(kernel, map);
    throw e;
  }
}

/** bpf_prog_get without a reference: EBADF for a closed fd, EINVAL for a non-program fd. */
export function progFromFd(task: Task, fd: number): BpfProg {
  const f = task.fds.get(fd);
  if (!(f instanceof BpfProgFile)) throw new KernelError('EINVAL', `fd ${fd} is not a BPF program`);
  return f.prog;
}

export function mapFromFd(task: Task, fd: number): BpfMap {
  const f = task.fds.get(fd);
  if (!(f instanceof BpfMapFile)) throw new KernelError('EINVAL', `fd ${fd} is not a BPF map`);
  return f.map;
}

/**
 * bpf_prog_get_type: the program behind an fd, with a reference the caller keeps (an
 * attachment) and drops with bpfProgPut. A type mismatch is EINVAL, as in Linux.
 */
export function bpfProgGetFromFd(task: Task, fd: number, typeId?: number): BpfProg {
  const prog = progFromFd(task, fd);
  if (typeId !== undefined && prog.type.id !== typeId) {
    throw new KernelError('EINVAL', `program ${prog.id} is a ${prog.type.name}, not type ${typeId}`);
  }
  return bpfProgGet(prog);
}
