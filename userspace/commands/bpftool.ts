/**
 * `bpfkern bpftool`: the subset of bpftool(8) that works on programs and maps, printing
 * what the real tool prints (plain text, or JSON with -j/--json, indented with -p):
 *
 *   bpftool prog { show | list } [PROG]
 *   bpftool prog dump xlated PROG [opcodes] [visual]
 *   bpftool prog dump jited PROG
 *   bpftool prog pin PROG FILE
 *   bpftool prog { load | loadall } OBJ PATH [type TYPE] [pinmaps MAP_DIR]
 *   bpftool map { show | list } [MAP]
 *   bpftool map dump MAP
 *   bpftool map lookup MAP key DATA
 *   bpftool map getnext MAP [key DATA]
 *   bpftool map update MAP key DATA value VALUE [UPDATE_FLAGS]
 *   bpftool map delete MAP key DATA
 *   bpftool map pin MAP FILE
 *   bpftool map freeze MAP
 *   bpftool map create FILE type TYPE key KEY_SIZE value VALUE_SIZE entries MAX_ENTRIES name NAME [flags FLAGS]
 *   PROG := { id PROG_ID | pinned FILE | tag PROG_TAG | name PROG_NAME }
 *   MAP := { id MAP_ID | pinned FILE | name MAP_NAME }
 *   DATA := { [hex] BYTES }     UPDATE_FLAGS := { any | exist | noexist }
 *
 * Which kernel: with `--mount DIR` (or env BPFKERN_MOUNT, or an absolute `pinned` path
 * inside a bpfkern mount) it works on the kernel a `bpfkern mount DIR` is serving, only
 * through the mounted files: DIR/sys/kernel/debug/bpfkern/{programs,maps}/<id>/
 * (info.json, jited, ctl, pin) and the pins in DIR/sys/fs/bpf. Otherwise it boots a fresh
 * kernel and, like the real tool, only uses bpf(2): GET_NEXT_ID, GET_FD_BY_ID, OBJ_GET,
 * OBJ_PIN, OBJ_GET_INFO_BY_FD, the element commands. For scripts and tests the fresh
 * kernel takes setup options first, applied in order before the bpftool arguments:
 *
 *   --map TYPE:KEYSIZE:VALSIZE:MAX[:NAME]   create a map (TYPE: array, hash, ... or a number)
 *   --map-update IDX:KEYHEX:VALHEX          update map number IDX (0-based, in --map order)
 *   --load HEX[:TYPE[:NAME]]                load a program; LD_IMM64 map references carry a
 *                                           --map index in imm, as in the host oracle
 *   --pin PATH                              pin the object created last
 *
 * prog load/loadall read OBJ (an ELF object from clang -target bpf) and load it with
 * userspace/libbpf: `load` pins the first program at PATH, `loadall` every program at
 * PATH/<function name>; pinmaps pins the maps at MAP_DIR/<map name>. The fresh kernel
 * reads OBJ from the host filesystem; bpftool over a process (runBpftool) through that
 * process's files; over a mount, from the host path, loading through debugfs's
 * map_create, maps/<id>/ctl and prog_load files.
 *
 * Errors print `Error: ...` on stderr (or {"error": ...} with -j) and exit 255, as
 * bpftool's -1 does.
 */
import * as nodeFs from 'node:fs';
import { dumpXlated, formatInsn } from '../../kernel/bpf/disasm.js';
import {
  BPF_ANY, BPF_CMD, BPF_EXIST, BPF_MAP_TYPE, BPF_NOEXIST, BPF_PROG_TYPE, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE,
  decodeInsns, encodeInsns, isLdImm64, parseHexBytes,
} from '../../kernel/bpf/isa.js';
import { ERRNO, errnoName, errnoText, type ErrnoName } from '../../kernel/errno.js';
import { fsOf } from '../../fs/api.js';
import { dumpXlatedVisual } from '../../fs/bpfshow.js';
import {
  bpf, bpfMapCreate, bpfMapDelete, bpfMapGetFdById, bpfMapGetNextId, bpfMapGetNextKey, bpfMapLookup, bpfMapUpdate,
  bpfObjGet, bpfObjGetInfoByFd, bpfObjPin, bpfProgGetFdById, bpfProgGetNextId, bpfProgLoad, type BpfMapInfo,
  type BpfProgInfo,
} from '../libc/bpf.js';
import { SyscallError, sys, type Proc } from '../libc/process.js';
import { readFile } from '../libc/file.js';
import {
  BpfObjectError, loadObject, objName, openObject, sectionDef, type BpfObjectSpec,
} from '../libbpf/index.js';
import { bootCliKernel, cliProc, parseProgType } from './ebpf.js';
import type { Command, CommandIo } from './index.js';

/** libbpf's type names: the enum names in lower case without the prefix. */
const typeNames = (table: Record<string, number>, prefix: string): Map<number, string> =>
  new Map(Object.entries(table).map(([k, v]) => [v, k.slice(prefix.length).toLowerCase()]));
const PROG_TYPE_STR = typeNames(BPF_PROG_TYPE, 'BPF_PROG_TYPE_');
const MAP_TYPE_STR = typeNames(BPF_MAP_TYPE, 'BPF_MAP_TYPE_');

const PAGE = 4096;
const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;
const isPerCpu = (type: number): boolean =>
  type === BPF_MAP_TYPE.BPF_MAP_TYPE_PERCPU_ARRAY || type === BPF_MAP_TYPE.BPF_MAP_TYPE_PERCPU_HASH ||
  type === BPF_MAP_TYPE.BPF_MAP_TYPE_LRU_PERCPU_HASH;

class ToolError extends Error {}

/** A failed operation on the kernel, by errno name (from bpf(2) or from a file operation). */
class Errno extends Error {
  constructor(readonly errno: ErrnoName) {
    super(errnoText(errno));
  }
}

function asErrno(e: unknown): Errno {
  if (e instanceof Errno) return e;
  if (e instanceof SyscallError) return new Errno(errnoName(e.errno) ?? 'EINVAL');
  const code = e instanceof Error ? (e as Error & { code?: unknown }).code : undefined;
  if (typeof code === 'string' && code in ERRNO) return new Errno(code as ErrnoName);
  throw e;
}

/** strerror(errno) of a failed kernel operation; anything else propagates. */
function strerror(e: unknown): string {
  return asErrno(e).message;
}

/** common.c fprint_hex: bytes in hex, a double space every 8, a newline every 16. */
export function fprintHex(bytes: Uint8Array, sep = ' '): string {
  let s = '';
  bytes.forEach((b, i) => {
    let pfx = '';
    if (i === 0) pfx = '';
    else if (i % 16 === 0) s += '\n';
    else if (i % 8 === 0) s += '  ';
    else pfx = sep;
    s += `${pfx}${b.toString(16).padStart(2, '0')}`;
  });
  return s;
}

/** print_boot_time: bpfkern's clock starts at the epoch, so load_time is a wall time. */
function bootTime(ns: bigint): string {
  const iso = new Date(Number(ns / 1_000_000n)).toISOString();
  return `${iso.slice(0, 19)}+0000`;
}

function progMemlock(info: BpfProgInfo): number {
  return roundUp(info.xlated_prog_len + 72, PAGE);
}

function mapMemlock(info: BpfMapInfo, ncpus: number): number {
  const value = roundUp(info.value_size, 8);
  if (info.type === BPF_MAP_TYPE.BPF_MAP_TYPE_RINGBUF) return info.max_entries + PAGE;
  const per = isPerCpu(info.type) ? value * ncpus : value;
  return roundUp(info.max_entries * (per + roundUp(info.key_size, 8)) + 256, 8);
}

// ---------------------------------------------------------------------------------------
// Where the objects are: a kernel reached by bpf(2), or a mounted kernel's files.

type Kind = 'prog' | 'map';

export interface BpftoolBackend {
  /** Live ids in ascending order. */
  ids(kind: Kind): Promise<number[]>;
  progInfo(id: number): Promise<BpfProgInfo>;
  mapInfo(id: number): Promise<BpfMapInfo>;
  /** The CPU count per-CPU values are laid out for. */
  ncpus(map: BpfMapInfo): number;
  /** BPF_OBJ_GET: what is pinned at PATH. */
  objGet(path: string): Promise<{ kind: Kind; id: number }>;
  /** The JIT's listing (WebAssembly text). */
  jited(id: number): Promise<string>;
  /** null when the key is absent (ENOENT). */
  lookup(map: BpfMapInfo, key: Uint8Array): Promise<Uint8Array | null>;
  update(map: BpfMapInfo, key: Uint8Array, value: Uint8Array, flags: number): Promise<void>;
  delete(map: BpfMapInfo, key: Uint8Array): Promise<void>;
  /** null at the end (ENOENT). */
  nextKey(map: BpfMapInfo, key: Uint8Array | null): Promise<Uint8Array | null>;
  freeze(map: BpfMapInfo): Promise<void>;
  pin(kind: Kind, id: number, path: string): Promise<void>;
  /** BPF_MAP_CREATE then BPF_OBJ_PIN at path (the pin keeps it); returns the id. */
  createMap(path: string, a: MapCreateArgs): Promise<number>;
  /** prog load/loadall: the bytes of OBJ, from wherever this backend's files are. */
  readObject?(path: string): Promise<Uint8Array>;
  /** prog load/loadall: every map and program of the object made, pinned as `how` says; the program ids. */
  loadObject?(obj: BpfObjectSpec, how: ObjectLoadHow): Promise<number[]>;
  close(): Promise<void>;
}

/** What prog load/loadall asks of a backend. */
export interface ObjectLoadHow {
  /** One per program: where to pin it (kernel paths), or null (loaded, then let go). */
  progPins: (string | null)[];
  /** pinmaps: the directory the maps are pinned in, by name. */
  mapDir: string | null;
  /** `type TYPE`: every program's type. */
  progType?: number;
}

/** bpffs mkdir -p of the directories a pin path needs under /sys/fs/bpf (the missing ones). */
async function mkdirs(path: string, exists: (p: string) => Promise<boolean>, mkdir: (p: string) => Promise<void>): Promise<void> {
  const parts = path.split('/').filter((x) => x !== '');
  for (let i = 1; i < parts.length; i++) {
    const dir = `/${parts.slice(0, i).join('/')}`;
    if (!dir.startsWith(`${BPFFS_ROOT}/`)) continue;
    if (!(await exists(dir))) await mkdir(dir);
  }
}

export interface MapCreateArgs {
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  name: string;
}

/** The value bytes bpf(2) moves for one element: every CPU's for per-CPU maps. */
function syscallValueSize(info: BpfMapInfo, ncpus: number): number {
  return isPerCpu(info.type) ? roundUp(info.value_size, 8) * ncpus : info.value_size;
}

/**
 * bpf(2) on a process's kernel, with an fd per object opened on first use. OBJ files are
 * read through the process's own files unless `readObject` says otherwise (the CLI's fresh
 * kernel reads the host's).
 */
export function syscallBackend(p: Proc, readObject?: (path: string) => Promise<Uint8Array>): BpftoolBackend {
  const fds = new Map<string, number>();
  const fdOf = async (kind: Kind, id: number): Promise<number> => {
    const k = `${kind}:${id}`;
    let fd = fds.get(k);
    if (fd === undefined) {
      fd = kind === 'prog' ? await bpfProgGetFdById(p, id) : await bpfMapGetFdById(p, id);
      fds.set(k, fd);
    }
    return fd;
  };
  const info = async (kind: Kind, id: number): Promise<BpfProgInfo | BpfMapInfo> => bpfObjGetInfoByFd(p, await fdOf(kind, id));
  const wrap = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      throw asErrno(e);
    }
  };
  return {
    ids: (kind) =>
      wrap(async () => {
        const out: number[] = [];
        for (let id = 0; ; ) {
          const next = kind === 'prog' ? await bpfProgGetNextId(p, id) : await bpfMapGetNextId(p, id);
          if (next === null) return out;
          out.push((id = next));
        }
      }),
    progInfo: (id) => wrap(async () => (await info('prog', id)) as BpfProgInfo),
    mapInfo: (id) => wrap(async () => (await info('map', id)) as BpfMapInfo),
    ncpus: () => p.kernel.ncpus,
    objGet: (path) =>
      wrap(async () => {
        const fd = await bpfObjGet(p, path);
        const i = await bpfObjGetInfoByFd(p, fd);
        if (fds.has(`${i.kind}:${i.id}`)) await sys(p, 'close', fd);
        else fds.set(`${i.kind}:${i.id}`, fd);
        return { kind: i.kind, id: i.id };
      }),
    // The JIT's text is not in bpf_prog_info: read the kernel's own debugfs file.
    jited: (id) =>
      wrap(async () => fsOf(p.kernel).as(p.task).readFileSync(`/sys/kernel/debug/bpfkern/programs/${id}/jited`, 'utf8')),
    lookup: (m, key) => wrap(async () => bpfMapLookup(p, await fdOf('map', m.id), key, syscallValueSize(m, p.kernel.ncpus))),
    update: (m, key, value, flags) => wrap(async () => bpfMapUpdate(p, await fdOf('map', m.id), key, value, flags)),
    delete: (m, key) => wrap(async () => bpfMapDelete(p, await fdOf('map', m.id), key)),
    nextKey: (m, key) => wrap(async () => bpfMapGetNextKey(p, await fdOf('map', m.id), key, m.key_size)),
    freeze: (m) =>
      wrap(async () => {
        const r = await bpf(p, BPF_CMD.BPF_MAP_FREEZE, { map_fd: await fdOf('map', m.id) });
        if (r < 0) throw new SyscallError('bpf', -r);
      }),
    pin: (kind, id, path) => wrap(async () => bpfObjPin(p, await fdOf(kind, id), path)),
    createMap: (path, a) =>
      wrap(async () => {
        const fd = await bpfMapCreate(p, { ...a, ...(a.name ? { name: a.name } : {}) });
        try {
          await bpfObjPin(p, fd, path);
          return (await bpfObjGetInfoByFd(p, fd)).id;
        } finally {
          await sys(p, 'close', fd);
        }
      }),
    readObject: (path) => wrap(async () => (readObject ? readObject(path) : readFile(p, path))),
    loadObject: async (obj, how) => {
      const exists = async (dir: string): Promise<boolean> => (await sys(p, 'access', dir, 0)) === 0;
      const mkdir = async (dir: string): Promise<void> => {
        const r = await sys(p, 'mkdir', dir, 0o700);
        if (typeof r === 'number' && r < 0) throw new SyscallError('mkdir', -r);
      };
      const loaded = await loadObject(p, obj, how.progType !== undefined ? { progType: how.progType } : {});
      try {
        return await wrap(async () => {
          if (how.mapDir !== null) {
            await mkdirs(`${how.mapDir}/x`, exists, mkdir);
            for (const m of loaded.maps) await bpfObjPin(p, m.fd, `${how.mapDir}/${m.name}`);
          }
          const ids: number[] = [];
          for (const [n, prog] of loaded.programs.entries()) {
            const pin = how.progPins[n] ?? null;
            if (pin !== null) {
              await mkdirs(pin, exists, mkdir);
              await bpfObjPin(p, prog.fd, pin);
            }
            ids.push((await bpfObjGetInfoByFd(p, prog.fd)).id);
          }
          return ids;
        });
      } finally {
        await loaded.close();
      }
    },
    close: async () => {
      for (const fd of fds.values()) await sys(p, 'close', fd);
      fds.clear();
    },
  };
}

/** What bpftool needs of a filesystem: Node's `fs`, or a kernel's in-process `kernel.fs`. */
export interface BpftoolFs {
  readFileSync(path: string, encoding: 'utf8'): string;
  readdirSync(path: string): string[];
  openSync(path: string, flags: 'r+' | 'w'): number;
  writeSync(fd: number, data: string): number;
  readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  closeSync(fd: number): void;
  existsSync(path: string): boolean;
  /** prog load/loadall: OBJ's bytes (default: Node's fs, the host path). */
  readBytes?(path: string): Uint8Array;
  /** prog load/loadall: bpffs directories and the transient pins of unpinned objects. */
  mkdirSync?(path: string): void;
  unlinkSync?(path: string): void;
}

const DEBUG_DIR = '/sys/kernel/debug/bpfkern';
const BPFFS_ROOT = '/sys/fs/bpf';

/** The first line of a bpffs pin file: `ID: TYPE  [name N  ](tag T|flags F)`. */
const PIN_HEAD = /^(\d+): \S+ {2}(?:name \S+ {2})?(tag|flags) /;

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytesOf = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex'));

/** bpf_prog_info / bpf_map_info from info.json (bigints are strings, bytes are hex). */
function progInfoFromJson(text: string): BpfProgInfo {
  const o = JSON.parse(text) as Record<string, unknown>;
  return {
    ...(o as unknown as BpfProgInfo),
    load_time: BigInt(String(o['load_time'] ?? 0)),
    run_time_ns: BigInt(String(o['run_time_ns'] ?? 0)),
    xlated_prog_insns: bytesOf(String(o['xlated_prog_insns'] ?? '')),
  };
}

/**
 * A mounted kernel through its files: `root` is the mount point ('' for a kernel's own
 * kernel.fs). Element operations are one write + one read of maps/<id>/ctl on one open file.
 */
export function filesBackend(fs: BpftoolFs, root: string): BpftoolBackend {
  const debug = `${root}${DEBUG_DIR}`;
  const ncpusOf = new Map<number, number>();
  const wrap = async <T>(fn: () => T): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      throw asErrno(e);
    }
  };
  const ctl = (m: BpfMapInfo, cmd: string): string => {
    const fd = fs.openSync(`${debug}/maps/${m.id}/ctl`, 'r+');
    try {
      fs.writeSync(fd, `${cmd}\n`);
      const buf = new Uint8Array(1 << 20);
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      return Buffer.from(buf.subarray(0, n)).toString('utf8').trim();
    } finally {
      fs.closeSync(fd);
    }
  };
  const orNull = <T>(fn: () => T): T | null => {
    try {
      return fn();
    } catch (e) {
      if (asErrno(e).errno === 'ENOENT') return null;
      throw e;
    }
  };
  const answer = (text: string, word: string): Uint8Array => {
    const [w, hex = ''] = text.split(' ');
    if (w !== word) throw new Errno('EIO');
    return bytesOf(hex);
  };
  const ncpus = (m: BpfMapInfo): number => ncpusOf.get(m.id) ?? 1;
  return {
    ids: (kind) =>
      wrap(() =>
        fs
          .readdirSync(`${debug}/${kind === 'prog' ? 'programs' : 'maps'}`)
          .map(Number)
          .filter((n) => Number.isInteger(n))
          .sort((a, b) => a - b),
      ),
    progInfo: (id) => wrap(() => progInfoFromJson(fs.readFileSync(`${debug}/programs/${id}/info.json`, 'utf8'))),
    mapInfo: (id) =>
      wrap(() => {
        const o = JSON.parse(fs.readFileSync(`${debug}/maps/${id}/info.json`, 'utf8')) as BpfMapInfo & { ncpus?: number };
        if (o.ncpus) ncpusOf.set(o.id, o.ncpus);
        return o;
      }),
    ncpus,
    objGet: (path) =>
      wrap(() => {
        const m = PIN_HEAD.exec(fs.readFileSync(`${root}${path}`, 'utf8'));
        if (!m) throw new Errno('EINVAL');
        return { kind: m[2] === 'tag' ? 'prog' : 'map', id: Number(m[1]) };
      }),
    jited: (id) => wrap(() => fs.readFileSync(`${debug}/programs/${id}/jited`, 'utf8')),
    lookup: (m, key) => wrap(() => orNull(() => answer(ctl(m, `lookup ${hexOf(key)}`), 'value'))),
    update: (m, key, value, flags) => wrap(() => void ctl(m, `update ${hexOf(key)} ${hexOf(value)} ${flags}`)),
    delete: (m, key) => wrap(() => void ctl(m, `delete ${hexOf(key)}`)),
    nextKey: (m, key) => wrap(() => orNull(() => answer(ctl(m, key ? `next ${hexOf(key)}` : 'next'), 'key'))),
    freeze: (m) => wrap(() => void ctl(m, 'freeze')),
    pin: (kind, id, path) =>
      wrap(() => {
        const fd = fs.openSync(`${debug}/${kind === 'prog' ? 'programs' : 'maps'}/${id}/pin`, 'w');
        try {
          fs.writeSync(fd, path);
        } finally {
          fs.closeSync(fd);
        }
      }),
    createMap: (path, a) =>
      wrap(() => {
        const fd = fs.openSync(`${debug}/map_create`, 'r+');
        try {
          const name = a.name || '-';
          fs.writeSync(fd, `${path} ${a.type} ${a.keySize} ${a.valueSize} ${a.maxEntries} ${name} ${a.flags}\n`);
          const buf = new Uint8Array(256);
          const n = fs.readSync(fd, buf, 0, buf.length, 0);
          return Number(/^id (\d+)/.exec(Buffer.from(buf.subarray(0, n)).toString())?.[1] ?? 0);
        } finally {
          fs.closeSync(fd);
        }
      }),
    readObject: (path) => wrap(() => (fs.readBytes ? fs.readBytes(path) : new Uint8Array(nodeFs.readFileSync(path)))),
    loadObject: (obj, how) => wrap(() => loadObjectThroughFiles(fs, root, obj, how)),
    close: async () => {},
  };
}

/** Writes one line to a debugfs create file (map_create, prog_load) and returns the new id. */
function createCtl(fs: BpftoolFs, root: string, file: string, line: string): number {
  const fd = fs.openSync(`${root}${DEBUG_DIR}/${file}`, 'r+');
  try {
    fs.writeSync(fd, `${line}\n`);
    const buf = new Uint8Array(256);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const id = /^id (\d+)/.exec(Buffer.from(buf.subarray(0, n)).toString())?.[1];
    if (id === undefined) throw new Errno('EIO');
    return Number(id);
  } finally {
    fs.closeSync(fd);
  }
}

function mapCtlLine(fs: BpftoolFs, root: string, id: number, cmd: string): void {
  const fd = fs.openSync(`${root}${DEBUG_DIR}/maps/${id}/ctl`, 'r+');
  try {
    fs.writeSync(fd, `${cmd}\n`);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * prog load over a mount: map_create for each map (pinned under pinmaps, or at a transient
 * pin removed once the programs hold the map), the initial value and freeze through
 * maps/<id>/ctl, then prog_load with `maps=ID,...` (the relocated program's map indexes
 * are indexes into that list) and `license=`; programs without a pin get a transient one.
 */
function loadObjectThroughFiles(fs: BpftoolFs, root: string, obj: BpfObjectSpec, how: ObjectLoadHow): number[] {
  const transient: string[] = [];
  const tmp = (what: string, n: number): string => {
    const path = `${BPFFS_ROOT}/.bpftool_${process.pid}_${what}${n}`;
    transient.push(path);
    return path;
  };
  const mkdirp = (path: string): void => {
    const parts = path.split('/').filter((x) => x !== '');
    for (let i = 1; i < parts.length; i++) {
      const dir = `/${parts.slice(0, i).join('/')}`;
      if (dir.startsWith(`${BPFFS_ROOT}/`) && !fs.existsSync(`${root}${dir}`)) {
        if (!fs.mkdirSync) throw new Errno('EOPNOTSUPP');
        fs.mkdirSync(`${root}${dir}`);
      }
    }
  };
  try {
    const mapIds = obj.maps.map((m, n) => {
      const path = how.mapDir !== null ? `${how.mapDir}/${m.name}` : tmp('map', n);
      mkdirp(path);
      const id = createCtl(fs, root, 'map_create', `${path} ${m.type} ${m.keySize} ${m.valueSize} ${m.maxEntries} ${objName(m.name) || '-'} ${m.flags}`);
      if (m.initial) mapCtlLine(fs, root, id, `update 00000000 ${hexOf(m.initial)} any`);
      if (m.freeze) mapCtlLine(fs, root, id, 'freeze');
      return id;
    });
    return obj.programs.map((prog, n) => {
      const type = how.progType ?? prog.type;
      if (type === null) {
        throw new BpfObjectError('EINVAL', `program '${prog.name}': can't guess the program type from section '${prog.section}' (give one)`);
      }
      const path = how.progPins[n] ?? tmp('prog', n);
      mkdirp(path);
      // the relocated program already carries map indexes: prog_load's maps= maps them to ids
      const insns = hexOf(encodeInsns(prog.insns));
      const opts = [`license=${encodeURIComponent(obj.license)}`, ...(mapIds.length ? [`maps=${mapIds.join(',')}`] : [])];
      return createCtl(fs, root, 'prog_load', `${path} ${type} ${insns} ${objName(prog.name) || '-'} ${opts.join(' ')}`);
    });
  } finally {
    for (const path of transient) {
      try {
        fs.unlinkSync?.(`${root}${path}`);
      } catch {
        // not created: the load failed before it
      }
    }
  }
}

/** The mount a path such as /mnt/k/sys/fs/bpf/x lies in, when it is a bpfkern mount. */
function mountOfPath(path: string, fs: BpftoolFs): string | null {
  const at = path.indexOf(`${BPFFS_ROOT}/`);
  if (!path.startsWith('/') || at <= 0) return null;
  const root = path.slice(0, at);
  return fs.existsSync(`${root}${DEBUG_DIR}`) ? root : null;
}

// ---------------------------------------------------------------------------------------
// bpftool proper

interface Ctx {
  be: BpftoolBackend;
  io: CommandIo;
  json: boolean;
  pretty: boolean;
  /** The mount point paths are given under ('' for a kernel's own paths). */
  root: string;
}

function emit(ctx: Ctx, value: unknown): void {
  ctx.io.stdout(`${JSON.stringify(value, null, ctx.pretty ? 4 : undefined)}\n`);
}

/** A path as the kernel sees it: the mount point prefix removed. */
function kernelPath(ctx: Ctx, path: string): string {
  return ctx.root && path.startsWith(`${ctx.root}/`) ? path.slice(ctx.root.length) : path;
}

const prefix = (word: string | undefined, full: string): boolean => word !== undefined && word.length > 0 && full.startsWith(word);

/**
 * Consumes one object selector (`id N`, `pinned PATH`, `tag T`, `name N`) from args and
 * returns the ids it names (several for tag/name) and the rest of the arguments.
 */
async function selectIds(ctx: Ctx, kind: Kind, args: string[]): Promise<{ ids: number[]; rest: string[] }> {
  const [sel, val, ...rest] = args;
  const what = kind === 'prog' ? 'PROG' : 'MAP';
  if (sel === undefined) throw new ToolError(`expected ${what}`);
  if (val === undefined) throw new ToolError(`expected ${what} after '${sel}'`);
  if (sel === 'id') {
    const id = Number(val);
    if (!/^\d+$/.test(val) || !Number.isSafeInteger(id)) throw new ToolError(`can't parse ${val} as ID`);
    try {
      if (kind === 'prog') await ctx.be.progInfo(id);
      else await ctx.be.mapInfo(id);
    } catch (e) {
      throw new ToolError(`get by id (${id}): ${strerror(e)}`);
    }
    return { ids: [id], rest };
  }
  if (sel === 'pinned') {
    let obj: { kind: Kind; id: number };
    try {
      obj = await ctx.be.objGet(kernelPath(ctx, val));
    } catch (e) {
      throw new ToolError(`bpf obj get (${val}): ${strerror(e)}`);
    }
    if (obj.kind !== kind) throw new ToolError(`incorrect object type: ${obj.kind}`);
    return { ids: [obj.id], rest };
  }
  if ((kind === 'prog' && sel === 'tag') || sel === 'name') {
    const out: number[] = [];
    for (const id of await ctx.be.ids(kind)) {
      try {
        const info = kind === 'prog' ? await ctx.be.progInfo(id) : await ctx.be.mapInfo(id);
        if (sel === 'name' ? info.name === val : 'tag' in info && info.tag === val.replace(/\s/g, '')) out.push(id);
      } catch (e) {
        if (asErrno(e).errno !== 'ENOENT') throw e;
      }
    }
    if (out.length === 0) throw new ToolError(`no ${kind === 'prog' ? 'program' : 'map'} with ${sel} ${val} found`);
    return { ids: out, rest };
  }
  throw new ToolError(
    kind === 'prog'
      ? `expected 'id', 'tag', 'name' or 'pinned', got: '${sel}'?`
      : `expected 'id', 'name' or 'pinned', got: '${sel}'?`,
  );
}

async function selectOne(ctx: Ctx, kind: Kind, args: string[]): Promise<{ id: number; rest: string[] }> {
  const { ids, rest } = await selectIds(ctx, kind, args);
  if (ids.length > 1) throw new ToolError(`several ${kind === 'prog' ? 'programs' : 'maps'} match this handle`);
  return { id: ids[0]!, rest };
}

function noMore(rest: string[]): void {
  if (rest.length > 0) throw new ToolError(`too many arguments: '${rest[0]}'`);
}

function showProgPlain(info: BpfProgInfo): string {
  const type = PROG_TYPE_STR.get(info.type) ?? `type ${info.type}`;
  let s = `${info.id}: ${type}  `;
  if (info.name) s += `name ${info.name}  `;
  s += `tag ${info.tag}`;
  if (info.gpl_compatible) s += '  gpl';
  if (info.run_time_ns) s += ` run_time_ns ${info.run_time_ns} run_cnt ${info.run_cnt}`;
  s += '\n';
  s += `\tloaded_at ${bootTime(info.load_time)}  uid ${info.created_by_uid}\n`;
  s += `\txlated ${info.xlated_prog_len}B`;
  s += info.jited_prog_len ? `  jited ${info.jited_prog_len}B` : '  not jited';
  s += `  memlock ${progMemlock(info)}B`;
  if (info.nr_map_ids) s += `  map_ids ${info.map_ids.join(',')}`;
  return `${s}\n`;
}

function showProgJson(info: BpfProgInfo): Record<string, unknown> {
  return {
    id: info.id,
    type: PROG_TYPE_STR.get(info.type) ?? info.type,
    ...(info.name ? { name: info.name } : {}),
    tag: info.tag,
    gpl_compatible: info.gpl_compatible,
    ...(info.run_time_ns ? { run_time_ns: Number(info.run_time_ns), run_cnt: info.run_cnt } : {}),
    loaded_at: Number(info.load_time / 1_000_000_000n),
    uid: info.created_by_uid,
    orphaned: false,
    bytes_xlated: info.xlated_prog_len,
    jited: info.jited_prog_len > 0,
    bytes_jited: info.jited_prog_len,
    bytes_memlock: progMemlock(info),
    ...(info.nr_map_ids ? { map_ids: info.map_ids } : {}),
  };
}

function showMapPlain(info: BpfMapInfo, ncpus: number): string {
  const type = MAP_TYPE_STR.get(info.type) ?? `type ${info.type}`;
  let s = `${info.id}: ${type}  `;
  if (info.name) s += `name ${info.name}  `;
  s += `flags 0x${info.map_flags.toString(16)}\n`;
  s += `\tkey ${info.key_size}B  value ${info.value_size}B  max_entries ${info.max_entries}`;
  s += `  memlock ${mapMemlock(info, ncpus)}B`;
  if (info.frozen) s += '\n\tfrozen';
  return `${s}\n`;
}

function showMapJson(info: BpfMapInfo, ncpus: number): Record<string, unknown> {
  return {
    id: info.id,
    type: MAP_TYPE_STR.get(info.type) ?? info.type,
    ...(info.name ? { name: info.name } : {}),
    flags: info.map_flags,
    bytes_key: info.key_size,
    bytes_value: info.value_size,
    max_entries: info.max_entries,
    bytes_memlock: mapMemlock(info, ncpus),
    frozen: info.frozen ? 1 : 0,
  };
}

async function doShow(ctx: Ctx, kind: Kind, args: string[]): Promise<void> {
  let ids: number[];
  const one = args.length > 0;
  if (one) {
    const sel = await selectIds(ctx, kind, args);
    noMore(sel.rest);
    ids = sel.ids;
  } else {
    ids = await ctx.be.ids(kind);
  }
  const json: Record<string, unknown>[] = [];
  for (const id of ids) {
    let info: BpfProgInfo | BpfMapInfo;
    try {
      info = kind === 'prog' ? await ctx.be.progInfo(id) : await ctx.be.mapInfo(id);
    } catch (e) {
      // freed between GET_NEXT_ID and GET_FD_BY_ID: skipped, as bpftool does
      if (!one && asErrno(e).errno === 'ENOENT') continue;
      throw new ToolError(`get by id (${id}): ${strerror(e)}`);
    }
    if (info.kind === 'prog') {
      if (ctx.json) json.push(showProgJson(info));
      else ctx.io.stdout(showProgPlain(info));
    } else if (ctx.json) json.push(showMapJson(info, ctx.be.ncpus(info)));
    else ctx.io.stdout(showMapPlain(info, ctx.be.ncpus(info)));
  }
  if (ctx.json) emit(ctx, one && json.length === 1 ? json[0] : json);
}

async function doProgDump(ctx: Ctx, args: string[]): Promise<void> {
  const [mode, ...sel] = args;
  if (!prefix(mode, 'xlated') && !prefix(mode, 'jited')) throw new ToolError(`expected 'xlated' or 'jited', got: ${mode ?? ''}`);
  const { ids, rest } = await selectIds(ctx, 'prog', sel);
  let visual = false;
  let opcodes = false;
  for (const w of rest) {
    if (prefix(w, 'visual')) visual = true;
    else if (prefix(w, 'opcodes')) opcodes = true;
    else if (prefix(w, 'linum')) continue;
    else throw new ToolError(`unknown keyword '${w}'`);
  }
  if (visual && ctx.json) throw new ToolError("'visual' is not compatible with JSON output");
  for (const id of ids) {
    const info = await ctx.be.progInfo(id).catch((e: unknown) => {
      throw new ToolError(`get by id (${id}): ${strerror(e)}`);
    });
    if (prefix(mode, 'jited')) {
      if (!info.jited_prog_len) {
        if (ctx.json) emit(ctx, null);
        else ctx.io.stderr('no instructions returned\n');
        continue;
      }
      const text = await ctx.be.jited(id).catch((e: unknown) => {
        throw new ToolError(`can't get jited program: ${strerror(e)}`);
      });
      if (ctx.json) emit(ctx, text.split('\n').filter((l) => l.length > 0));
      else ctx.io.stdout(text);
      continue;
    }
    const insns = decodeInsns(info.xlated_prog_insns);
    if (insns.length === 0) {
      ctx.io.stderr('no instructions returned\n');
      continue;
    }
    if (ctx.json) {
      const out: Record<string, unknown>[] = [];
      for (let n = 0; n < insns.length; n++) {
        out.push({ disasm: formatInsn(insns, n, {}) });
        if (isLdImm64(insns[n]!)) n++;
      }
      emit(ctx, out);
    } else if (visual) {
      ctx.io.stdout(dumpXlatedVisual(insns));
    } else {
      ctx.io.stdout(dumpXlated(insns, { opcodes }));
    }
  }
}

async function doPin(ctx: Ctx, kind: Kind, args: string[]): Promise<void> {
  const { id, rest } = await selectOne(ctx, kind, args);
  const [path, ...more] = rest;
  if (path === undefined) throw new ToolError('expected FILE');
  noMore(more);
  try {
    await ctx.be.pin(kind, id, kernelPath(ctx, path));
  } catch (e) {
    throw new ToolError(`can't pin the object (${path}): ${strerror(e)}`);
  }
  if (ctx.json) emit(ctx, null);
}

const hexList = (b: Uint8Array): string[] => Array.from(b, (x) => `0x${x.toString(16).padStart(2, '0')}`);

/** map.c print_entry_plain. */
function entryPlain(info: BpfMapInfo, key: Uint8Array, value: Uint8Array, ncpus: number): string {
  if (!isPerCpu(info.type)) {
    const breakNames = info.key_size > 16 || info.value_size > 16;
    const singleLine = info.key_size + info.value_size <= 24 && !breakNames;
    return (
      `key:${breakNames ? '\n' : ' '}${fprintHex(key)}${singleLine ? '  ' : '\n'}` +
      `value:${breakNames ? '\n' : ' '}${fprintHex(value.subarray(0, info.value_size))}\n`
    );
  }
  const step = roundUp(info.value_size, 8);
  let s = `key:\n${fprintHex(key)}\n`;
  for (let cpu = 0; cpu < ncpus; cpu++) {
    const v = value.subarray(cpu * step, cpu * step + info.value_size);
    s += `value (CPU ${String(cpu).padStart(2, '0')}):${info.value_size > 16 ? '\n' : ' '}${fprintHex(v)}\n`;
  }
  return s;
}

/** map.c print_entry_json. */
function entryJson(info: BpfMapInfo, key: Uint8Array, value: Uint8Array, ncpus: number): Record<string, unknown> {
  if (!isPerCpu(info.type)) return { key: hexList(key), value: hexList(value.subarray(0, info.value_size)) };
  const step = roundUp(info.value_size, 8);
  return {
    key: hexList(key),
    values: Array.from({ length: ncpus }, (_, cpu) => ({
      cpu,
      value: hexList(value.subarray(cpu * step, cpu * step + info.value_size)),
    })),
  };
}

async function mapOf(ctx: Ctx, args: string[]): Promise<{ info: BpfMapInfo; rest: string[] }> {
  const { id, rest } = await selectOne(ctx, 'map', args);
  try {
    return { info: await ctx.be.mapInfo(id), rest };
  } catch (e) {
    throw new ToolError(`get by id (${id}): ${strerror(e)}`);
  }
}

async function doMapDump(ctx: Ctx, args: string[]): Promise<void> {
  const { info, rest } = await mapOf(ctx, args);
  noMore(rest);
  const ncpus = ctx.be.ncpus(info);
  const fdArray = info.type === BPF_MAP_TYPE.BPF_MAP_TYPE_PROG_ARRAY || info.type === BPF_MAP_TYPE.BPF_MAP_TYPE_PERF_EVENT_ARRAY;
  let key: Uint8Array | null = null;
  let n = 0;
  const json: Record<string, unknown>[] = [];
  for (;;) {
    try {
      key = await ctx.be.nextKey(info, key);
    } catch (e) {
      throw new ToolError(`can't get next key: ${strerror(e)}`);
    }
    if (key === null) break;
    let value: Uint8Array | null;
    try {
      value = await ctx.be.lookup(info, key);
    } catch (e) {
      if (!ctx.json) ctx.io.stdout(`key: ${fprintHex(key)}  value: ${strerror(e)}\n`);
      continue;
    }
    if (value === null) {
      if (fdArray) continue;
      if (!ctx.json) ctx.io.stdout(`key: ${fprintHex(key)}  value: <no entry>\n`);
      continue;
    }
    n++;
    if (ctx.json) json.push(entryJson(info, key, value, ncpus));
    else ctx.io.stdout(entryPlain(info, key, value, ncpus));
  }
  if (ctx.json) emit(ctx, json);
  else ctx.io.stdout(`Found ${n} element${n === 1 ? '' : 's'}\n`);
}

/** map.c parse_bytes: `[hex] BYTE...`, each byte strtoul base 0 (or 16 after `hex`). */
function parseBytes(args: string[], name: string, n: number): { bytes: Uint8Array; rest: string[] } {
  let i = 0;
  let base = 0;
  if (prefix(args[0], 'hex')) {
    base = 16;
    args = args.slice(1);
  }
  const bytes = new Uint8Array(n);
  for (; i < n && args[i] !== undefined; i++) {
    const t = args[i]!;
    let v: number;
    if (base === 16) v = /^(0x)?[0-9a-f]+$/i.test(t) ? parseInt(t.replace(/^0x/i, ''), 16) : NaN;
    else if (/^0x[0-9a-f]+$/i.test(t)) v = parseInt(t.slice(2), 16);
    else if (/^0[0-7]*$/.test(t)) v = parseInt(t, 8);
    else if (/^[1-9]\d*$/.test(t)) v = parseInt(t, 10);
    else v = NaN;
    if (Number.isNaN(v)) throw new ToolError(`error parsing byte: ${t}`);
    bytes[i] = v & 0xff;
  }
  if (i !== n) throw new ToolError(`${name} expected ${n} bytes got ${i}`);
  return { bytes, rest: args.slice(i) };
}

interface Elem {
  key?: Uint8Array;
  value?: Uint8Array;
  flags?: number;
}

/** map.c parse_elem: key, value and update flags in any order, each at most once. */
function parseElem(args: string[], info: BpfMapInfo, want: { key: boolean; value: boolean; flags: boolean }): Elem {
  const out: Elem = {};
  for (let rest = args; rest.length > 0; ) {
    const w = rest[0]!;
    if (prefix(w, 'key')) {
      if (!want.key || out.key) throw new ToolError(out.key ? 'duplicate key' : 'unnecessary key');
      const r = parseBytes(rest.slice(1), 'key', info.key_size);
      out.key = r.bytes;
      rest = r.rest;
    } else if (prefix(w, 'value')) {
      if (!want.value || out.value) throw new ToolError(out.value ? 'duplicate value' : 'unnecessary value');
      const r = parseBytes(rest.slice(1), 'value', info.value_size);
      out.value = r.bytes;
      rest = r.rest;
    } else if (prefix(w, 'any') || prefix(w, 'noexist') || prefix(w, 'exist')) {
      if (!want.flags || out.flags !== undefined) throw new ToolError(`flags specified multiple times: ${w}`);
      out.flags = prefix(w, 'any') ? BPF_ANY : prefix(w, 'noexist') ? BPF_NOEXIST : BPF_EXIST;
      rest = rest.slice(1);
    } else {
      throw new ToolError(`expected key or value, got: ${w}`);
    }
  }
  if (want.key && !out.key && info.key_size) throw new ToolError('did not find key');
  if (want.value && !out.value) throw new ToolError('did not find value');
  return out;
}

async function doMapLookup(ctx: Ctx, args: string[]): Promise<void> {
  const { info, rest } = await mapOf(ctx, args);
  const { key = new Uint8Array(0) } = parseElem(rest, info, { key: true, value: false, flags: false });
  let value: Uint8Array | null;
  try {
    value = await ctx.be.lookup(info, key);
  } catch (e) {
    throw new ToolError(`lookup failed: ${strerror(e)}`);
  }
  if (value === null) {
    if (ctx.json) emit(ctx, null);
    else ctx.io.stdout(`key:\n${fprintHex(key)}\n\nNot found\n`);
    throw new SilentFailure();
  }
  const ncpus = ctx.be.ncpus(info);
  if (ctx.json) emit(ctx, entryJson(info, key, value, ncpus));
  else ctx.io.stdout(entryPlain(info, key, value, ncpus));
}

async function doMapGetNext(ctx: Ctx, args: string[]): Promise<void> {
  const { info, rest } = await mapOf(ctx, args);
  const { key } = rest.length > 0 ? parseElem(rest, info, { key: true, value: false, flags: false }) : ({} as Elem);
  let next: Uint8Array | null;
  try {
    next = await ctx.be.nextKey(info, key ?? null);
    if (next === null) throw new Errno('ENOENT');
  } catch (e) {
    throw new ToolError(`can't get next key: ${strerror(e)}`);
  }
  if (ctx.json) emit(ctx, { ...(key ? { key: hexList(key) } : {}), next_key: hexList(next) });
  else ctx.io.stdout(`${key ? `key:\n${fprintHex(key)}\n` : 'key: None\n'}next key:\n${fprintHex(next)}\n`);
}

async function doMapUpdate(ctx: Ctx, args: string[]): Promise<void> {
  const { info, rest } = await mapOf(ctx, args);
  const e = parseElem(rest, info, { key: true, value: true, flags: true });
  const ncpus = ctx.be.ncpus(info);
  let value = e.value!;
  if (isPerCpu(info.type)) {
    // fill_per_cpu_value: the one value goes to every CPU
    const step = roundUp(info.value_size, 8);
    const all = new Uint8Array(step * ncpus);
    for (let cpu = 0; cpu < ncpus; cpu++) all.set(value, cpu * step);
    value = all;
  }
  try {
    await ctx.be.update(info, e.key ?? new Uint8Array(0), value, e.flags ?? BPF_ANY);
  } catch (err) {
    throw new ToolError(`update failed: ${strerror(err)}`);
  }
  if (ctx.json) emit(ctx, null);
}

async function doMapDelete(ctx: Ctx, args: string[]): Promise<void> {
  const { info, rest } = await mapOf(ctx, args);
  const { key = new Uint8Array(0) } = parseElem(rest, info, { key: true, value: false, flags: false });
  try {
    await ctx.be.delete(info, key);
  } catch (e) {
    throw new ToolError(`delete failed: ${strerror(e)}`);
  }
  if (ctx.json) emit(ctx, null);
}

async function doMapFreeze(ctx: Ctx, args: string[]): Promise<void> {
  const { info, rest } = await mapOf(ctx, args);
  noMore(rest);
  try {
    await ctx.be.freeze(info);
  } catch (e) {
    throw new ToolError(`failed to freeze map: ${strerror(e)}`);
  }
  if (ctx.json) emit(ctx, null);
}

/** map.c do_create: `map create FILE type TYPE key KEY_SIZE value VALUE_SIZE entries MAX_ENTRIES name NAME [flags FLAGS]`. */
async function doMapCreate(ctx: Ctx, args: string[]): Promise<void> {
  const [file, ...rest] = args;
  if (file === undefined) throw new ToolError('expected FILE');
  const a: Partial<MapCreateArgs> = { flags: 0 };
  for (let i = 0; i < rest.length; i += 2) {
    const w = rest[i]!;
    const v = rest[i + 1];
    if (v === undefined) throw new ToolError(`expected value after '${w}'`);
    const n = (what: string): number => {
      const x = /^0x[0-9a-f]+$/i.test(v) ? parseInt(v, 16) : /^\d+$/.test(v) ? Number(v) : NaN;
      if (Number.isNaN(x)) throw new ToolError(`can't parse ${what}`);
      return x;
    };
    if (prefix(w, 'type')) {
      const t = /^\d+$/.test(v) ? Number(v) : BPF_MAP_TYPE[`BPF_MAP_TYPE_${v.toUpperCase()}` as keyof typeof BPF_MAP_TYPE];
      if (t === undefined) throw new ToolError(`unrecognized map type: ${v}`);
      a.type = t;
    } else if (prefix(w, 'key')) a.keySize = n('key size');
    else if (prefix(w, 'value')) a.valueSize = n('value size');
    else if (prefix(w, 'entries')) a.maxEntries = n('max entries');
    else if (prefix(w, 'name')) a.name = v;
    else if (prefix(w, 'flags')) a.flags = n('flags');
    else throw new ToolError(`unknown arg ${w}`);
  }
  if (a.type === undefined) throw new ToolError('map type not specified');
  if (a.name === undefined) throw new ToolError('map name not specified');
  try {
    await ctx.be.createMap(kernelPath(ctx, file), {
      type: a.type, keySize: a.keySize ?? 0, valueSize: a.valueSize ?? 0, maxEntries: a.maxEntries ?? 0, flags: a.flags ?? 0, name: a.name,
    });
  } catch (e) {
    throw new ToolError(`map create failed: ${strerror(e)}`);
  }
  if (ctx.json) emit(ctx, null);
}

/** `type TYPE`: a section name as libbpf knows them (socket, xdp, tracepoint...) or an enum name. */
function progTypeArg(text: string): number {
  const t = sectionDef(text)?.type ?? sectionDef(`${text}/x`)?.type ?? parseProgType(text);
  if (t === null || t === undefined) throw new ToolError(`unrecognized program type: ${text}`);
  return t;
}

/**
 * prog.c load_with_options: `prog load OBJ PATH [type TYPE] [pinmaps MAP_DIR]` pins the
 * first program at PATH; `loadall` pins each at PATH/<name>. Every program is loaded.
 */
async function doProgLoad(ctx: Ctx, args: string[], all: boolean): Promise<void> {
  const [file, pin, ...rest] = args;
  if (file === undefined || pin === undefined) throw new ToolError('expected OBJ PATH');
  let progType: number | undefined;
  let mapDir: string | null = null;
  for (let i = 0; i < rest.length; i += 2) {
    const w = rest[i]!;
    const v = rest[i + 1];
    if (v === undefined) throw new ToolError(`expected value after '${w}'`);
    if (w === 'type') progType = progTypeArg(v);
    else if (w === 'pinmaps') mapDir = kernelPath(ctx, v).replace(/\/+$/, '');
    else throw new ToolError(`expected no more arguments, 'type', 'map' or 'pinmaps', got: '${w}'?`);
  }
  if (!ctx.be.readObject || !ctx.be.loadObject) throw new ToolError('this backend cannot load objects');
  let bytes: Uint8Array;
  try {
    bytes = await ctx.be.readObject(file);
  } catch (e) {
    throw new ToolError(`failed to open object file ${file}: ${strerror(e)}`);
  }
  let obj: BpfObjectSpec;
  try {
    obj = openObject(bytes, { name: (file.split('/').pop() ?? 'obj').replace(/\.o$/, '') });
  } catch (e) {
    if (e instanceof BpfObjectError) throw new ToolError(`failed to open object file ${file}: ${e.message}`);
    throw e;
  }
  const base = kernelPath(ctx, pin).replace(/\/+$/, '');
  const progPins = obj.programs.map((p, n) => (all ? `${base}/${p.name}` : n === 0 ? base : null));
  try {
    await ctx.be.loadObject(obj, { progPins, mapDir, ...(progType !== undefined ? { progType } : {}) });
  } catch (e) {
    if (e instanceof BpfObjectError) throw new ToolError(`failed to load object file ${file}: ${e.message}`);
    throw new ToolError(`failed to load object file ${file}: ${strerror(e)}`);
  }
  if (ctx.json) emit(ctx, null);
}

/** A failure already reported on stdout (lookup's "Not found"): exit 255, no Error line. */
class SilentFailure extends Error {}

const HELP = `Usage: bpftool [OPTIONS] OBJECT { COMMAND | help }
       bpftool prog { show | list } [PROG]
       bpftool prog dump xlated PROG [opcodes] [visual]
       bpftool prog dump jited PROG
       bpftool prog pin PROG FILE
       bpftool prog { load | loadall } OBJ PATH [type TYPE] [pinmaps MAP_DIR]
       bpftool map { show | list } [MAP]
       bpftool map dump MAP
       bpftool map lookup MAP key DATA
       bpftool map getnext MAP [key DATA]
       bpftool map update MAP key DATA value VALUE [UPDATE_FLAGS]
       bpftool map delete MAP key DATA
       bpftool map pin MAP FILE
       bpftool map freeze MAP
       bpftool map create FILE type TYPE key KEY_SIZE value VALUE_SIZE \\
                          entries MAX_ENTRIES name NAME [flags FLAGS]
       PROG := { id PROG_ID | pinned FILE | tag PROG_TAG | name PROG_NAME }
       MAP := { id MAP_ID | pinned FILE | name MAP_NAME }
       DATA := { [hex] BYTES }
       UPDATE_FLAGS := { any | exist | noexist }
       OPTIONS := { {-j|--json} [{-p|--pretty}] | --mount DIR }
`;

const GLOBAL_FLAGS = ['-j', '--json', '-p', '--pretty'];

/** bpftool over any backend. Returns the exit status. */
export async function runBpftoolOn(be: BpftoolBackend, argv: string[], io: CommandIo, root = ''): Promise<number> {
  const pretty = argv.includes('-p') || argv.includes('--pretty');
  const json = pretty || argv.includes('-j') || argv.includes('--json');
  const args = argv.filter((a) => !GLOBAL_FLAGS.includes(a));
  const ctx: Ctx = { be, io, json, pretty, root };
  const [object, command = 'show', ...rest] = args;
  try {
    if (object === undefined || object === 'help' || object === '--help' || object === '-h') {
      io.stdout(HELP);
      return object === undefined ? 255 : 0;
    }
    if (prefix(object, 'prog')) {
      if (prefix(command, 'show') || prefix(command, 'list')) await doShow(ctx, 'prog', rest);
      else if (prefix(command, 'dump')) await doProgDump(ctx, rest);
      else if (command === 'loadall') await doProgLoad(ctx, rest, true);
      else if (command === 'load') await doProgLoad(ctx, rest, false);
      else if (prefix(command, 'pin')) await doPin(ctx, 'prog', rest);
      else if (command === 'help') io.stdout(HELP);
      else throw new ToolError(`unknown prog command '${command}'`);
    } else if (prefix(object, 'map')) {
      if (prefix(command, 'show') || prefix(command, 'list')) await doShow(ctx, 'map', rest);
      else if (prefix(command, 'dump')) await doMapDump(ctx, rest);
      else if (prefix(command, 'lookup')) await doMapLookup(ctx, rest);
      else if (prefix(command, 'getnext')) await doMapGetNext(ctx, rest);
      else if (prefix(command, 'update')) await doMapUpdate(ctx, rest);
      else if (prefix(command, 'delete')) await doMapDelete(ctx, rest);
      else if (prefix(command, 'pin')) await doPin(ctx, 'map', rest);
      else if (prefix(command, 'freeze')) await doMapFreeze(ctx, rest);
      else if (prefix(command, 'create')) await doMapCreate(ctx, rest);
      else if (command === 'help') io.stdout(HELP);
      else throw new ToolError(`unknown map command '${command}'`);
    } else {
      throw new ToolError(`object '${object}' not supported (prog, map)`);
    }
    return 0;
  } catch (e) {
    if (e instanceof SilentFailure) return 255;
    let msg: string;
    if (e instanceof ToolError) msg = e.message;
    else if (e instanceof Errno || e instanceof SyscallError) msg = strerror(e);
    else throw e;
    if (json) emit(ctx, { error: msg });
    else io.stderr(`Error: ${msg}\n`);
    return 255;
  } finally {
    await be.close();
  }
}

/** bpftool proper over a process's kernel (bpf(2)). Returns the exit status. */
export function runBpftool(p: Proc, argv: string[], io: CommandIo): Promise<number> {
  return runBpftoolOn(syscallBackend(p), argv, io);
}

/** bpftool over a kernel's files: a mount point (Node's fs) or kernel.fs with root ''. */
export function runBpftoolFiles(fs: BpftoolFs, root: string, argv: string[], io: CommandIo): Promise<number> {
  return runBpftoolOn(filesBackend(fs, root), argv, io, root);
}

// ---------------------------------------------------------------------------------------
// The command: a mounted kernel (--mount DIR, BPFKERN_MOUNT, or a pinned path inside a
// mount), else a fresh kernel set up by --map/--map-update/--load/--pin, then bpftool.

async function setup(p: Proc, opt: string, val: string, maps: number[], last: { fd: number | null }): Promise<void> {
  if (opt === '--map') {
    const [t = '', ks, vs, max, name] = val.split(':');
    const type = /^\d+$/.test(t) ? Number(t) : BPF_MAP_TYPE[`BPF_MAP_TYPE_${t.toUpperCase()}` as keyof typeof BPF_MAP_TYPE];
    if (type === undefined || ks === undefined || vs === undefined || max === undefined) throw new ToolError(`bad --map '${val}'`);
    const fd = await bpfMapCreate(p, {
      type, keySize: Number(ks), valueSize: Number(vs), maxEntries: Number(max), ...(name ? { name } : {}),
    });
    maps.push(fd);
    last.fd = fd;
  } else if (opt === '--map-update') {
    const [idx = '', k = '', v = ''] = val.split(':');
    const fd = maps[Number(idx)];
    const key = parseHexBytes(k);
    const value = parseHexBytes(v);
    if (fd === undefined || !key || !value) throw new ToolError(`bad --map-update '${val}'`);
    await bpfMapUpdate(p, fd, key, value);
  } else if (opt === '--load') {
    const [hex = '', t = 'socket_filter', name] = val.split(':');
    const bytes = parseHexBytes(hex);
    const type = parseProgType(t);
    if (!bytes || bytes.length % 8 !== 0 || type === null) throw new ToolError(`bad --load '${val}'`);
    const insns = decodeInsns(bytes);
    for (let n = 0; n < insns.length; n++) {
      const i = insns[n]!;
      if (isLdImm64(i) && (i.src === BPF_PSEUDO_MAP_FD || i.src === BPF_PSEUDO_MAP_VALUE)) {
        const fd = maps[i.imm];
        if (fd === undefined) throw new ToolError(`--load: no --map number ${i.imm}`);
        i.imm = fd;
        n++;
      }
    }
    const r = await bpfProgLoad(p, { type, insns, logLevel: 1, ...(name ? { name } : {}) });
    if (r.fd < 0) throw new ToolError(`--load: ${errnoText(errnoName(-r.fd) ?? 'EINVAL')}\n${r.log}`);
    last.fd = r.fd;
  } else if (opt === '--pin') {
    if (last.fd === null) throw new ToolError('--pin: nothing to pin');
    await bpfObjPin(p, last.fd, val);
  }
}

const SETUP_OPTS = ['--map', '--map-update', '--load', '--pin'];

const nodeBpftoolFs: BpftoolFs = {
  readFileSync: (path, enc) => nodeFs.readFileSync(path, enc),
  readdirSync: (path) => nodeFs.readdirSync(path),
  openSync: (path, flags) => nodeFs.openSync(path, flags),
  writeSync: (fd, data) => nodeFs.writeSync(fd, data),
  readSync: (fd, buffer, offset, length, position) => nodeFs.readSync(fd, buffer, offset, length, position),
  closeSync: (fd) => nodeFs.closeSync(fd),
  existsSync: (path) => nodeFs.existsSync(path),
  readBytes: (path) => new Uint8Array(nodeFs.readFileSync(path)),
  mkdirSync: (path) => nodeFs.mkdirSync(path),
  unlinkSync: (path) => nodeFs.unlinkSync(path),
};

export const bpftoolCommand: Command = {
  name: 'bpftool',
  summary: 'bpftool prog show|dump|pin|load|loadall, map show|dump|lookup|update|delete|pin (--mount DIR: a mounted kernel)',
  run: async (argv, io) => {
    let mount: string | null = process.env['BPFKERN_MOUNT'] || null;
    const rest: string[] = [];
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      if (a === '--mount') {
        const v = argv[++i];
        if (v === undefined) {
          io.stderr('Error: --mount needs a directory\n');
          return 255;
        }
        mount = v;
      } else if (a.startsWith('--mount=')) mount = a.slice('--mount='.length);
      else rest.push(a);
    }
    const globals = rest.filter((a) => GLOBAL_FLAGS.includes(a));
    const args = rest.filter((a) => !GLOBAL_FLAGS.includes(a));
    const hasSetup = args.some((a) => SETUP_OPTS.includes(a));
    if (mount === null && !hasSetup) {
      for (let i = 0; i + 1 < args.length && mount === null; i++) {
        if (args[i] === 'pinned' || (args[i] === 'pin' && i + 3 < args.length)) {
          mount = mountOfPath(args[i] === 'pinned' ? args[i + 1]! : args[i + 3]!, nodeBpftoolFs);
        } else if ((args[i] === 'load' || args[i] === 'loadall') && i + 2 < args.length) {
          mount = mountOfPath(args[i + 2]!, nodeBpftoolFs);
        }
      }
    }
    if (mount !== null) {
      const root = nodeFs.existsSync(mount) ? nodeFs.realpathSync(mount) : mount;
      if (!nodeFs.existsSync(`${root}${DEBUG_DIR}`)) {
        io.stderr(`Error: ${mount} is not a bpfkern mount (no ${mount}${DEBUG_DIR})\n`);
        return 255;
      }
      if (hasSetup) {
        io.stderr('Error: --map/--map-update/--load/--pin set up a fresh kernel; create objects in a mount through its files\n');
        return 255;
      }
      // paths given under the mount point as typed (not resolved) are translated too
      const norm = args.map((a) => (a !== root && a.startsWith(`${mount}/`) && mount !== root ? root + a.slice(mount!.length) : a));
      return runBpftoolFiles(nodeBpftoolFs, root, [...globals, ...norm], io);
    }
    const kernel = bootCliKernel();
    const p = cliProc(kernel, 'bpftool');
    const maps: number[] = [];
    const last: { fd: number | null } = { fd: null };
    let i = 0;
    try {
      for (; i < args.length && SETUP_OPTS.includes(args[i]!); i += 2) {
        const val = args[i + 1];
        if (val === undefined) throw new ToolError(`${args[i]} needs a value`);
        await setup(p, args[i]!, val, maps, last);
      }
    } catch (e) {
      const msg = e instanceof ToolError ? e.message : e instanceof SyscallError ? strerror(e) : null;
      if (msg === null) throw e;
      io.stderr(`Error: ${msg}\n`);
      return 255;
    }
    const hostRead = async (path: string): Promise<Uint8Array> => new Uint8Array(nodeFs.readFileSync(path));
    return runBpftoolOn(syscallBackend(p, hostRead), [...globals, ...args.slice(i)], io);
  },
};
