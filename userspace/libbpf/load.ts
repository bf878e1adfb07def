/**
 * bpf_object__load and friends: an opened object (object.ts) made real in a kernel by a
 * mini-OS process, only through syscalls — BPF_MAP_CREATE for each map (then the initial
 * value of global data with BPF_MAP_UPDATE_ELEM, and BPF_MAP_FREEZE for .rodata), one
 * BPF_PROG_LOAD per program with the map fds patched into its LD_IMM64s. On any failure
 * everything created so far is closed and a BpfObjectError carries the errno (and the
 * verifier log for a refused program).
 *
 * attachTracepoint is bpf_program__attach_tracepoint: the event's id from tracefs,
 * perf_event_open(2), then bpf(BPF_LINK_CREATE, BPF_PERF_EVENT).
 */
import { BPF_CMD, type Insn } from '../../kernel/bpf/isa.js';
import { BPF_PERF_EVENT } from '../../kernel/bpf/link.js';
import { errnoName, errnoText, type ErrnoName } from '../../kernel/errno.js';
import { PERF_TYPE_TRACEPOINT } from '../../subsystems/tracing/index.js';
import { bpf, bpfMapCreate, bpfMapUpdate, bpfProgLoad } from '../libc/bpf.js';
import { readFile } from '../libc/file.js';
import { SyscallError, check, sys, type Proc } from '../libc/process.js';
import { BpfObjectError } from './elf.js';
import { objName, withMapRefs, type BpfObjectSpec, type MapSpec, type ProgramSpec } from './object.js';

export interface LoadOptions {
  /** Overrides every program's type (bpftool's `type TYPE`); needed for unknown SEC names. */
  progType?: number;
  /** Verifier log level for every load (0: a log is fetched only when a load fails). */
  logLevel?: number;
}

export interface LoadedMap {
  spec: MapSpec;
  name: string;
  fd: number;
}

export interface LoadedProgram {
  spec: ProgramSpec;
  name: string;
  type: number;
  fd: number;
  /** The instructions as loaded (map fds in place). */
  insns: Insn[];
  /** The verifier log when logLevel > 0. */
  log: string;
}

export interface LoadedObject {
  spec: BpfObjectSpec;
  maps: LoadedMap[];
  programs: LoadedProgram[];
  map(name: string): LoadedMap;
  program(name: string): LoadedProgram;
  /** Closes every fd the object holds (pinned or attached objects stay). */
  close(): Promise<void>;
}

const errnoOf = (e: unknown): ErrnoName | null => (e instanceof SyscallError ? errnoName(e.errno) ?? 'EINVAL' : null);

function failed(what: string, e: unknown): BpfObjectError {
  const errno = errnoOf(e);
  if (errno === null) throw e;
  return new BpfObjectError(errno, `${what}: ${errnoText(errno)}`);
}

async function closeAll(p: Proc, fds: number[]): Promise<void> {
  for (const fd of fds) await sys(p, 'close', fd);
}

/** Creates one map and fills its initial value; returns the fd. */
export async function createMap(p: Proc, m: MapSpec): Promise<number> {
  let fd: number;
  try {
    fd = await bpfMapCreate(p, {
      type: m.type, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, flags: m.flags, name: objName(m.name),
    });
  } catch (e) {
    throw failed(`map '${m.name}': BPF_MAP_CREATE failed`, e);
  }
  try {
    if (m.initial) await bpfMapUpdate(p, fd, new Uint8Array(4), m.initial);
    if (m.freeze) await check(p, 'bpf', BPF_CMD.BPF_MAP_FREEZE, { map_fd: fd }, 1);
  } catch (e) {
    await sys(p, 'close', fd);
    throw failed(`map '${m.name}': setting the initial value failed`, e);
  }
  return fd;
}

/** Loads one relocated program with map fds `fds` (index = the object's map index). */
export async function loadProgram(
  p: Proc, obj: BpfObjectSpec, prog: ProgramSpec, fds: readonly number[], opts: LoadOptions = {},
): Promise<LoadedProgram> {
  const type = opts.progType ?? prog.type;
  if (type === null) {
    throw new BpfObjectError('EINVAL', `program '${prog.name}': can't guess the program type from section '${prog.section}' (give one)`);
  }
  const insns = withMapRefs(prog, fds);
  const name = objName(prog.name);
  const logLevel = opts.logLevel ?? 0;
  let r = await bpfProgLoad(p, { type, insns, license: obj.license, name, logLevel });
  // As libbpf: a refused program is loaded again with a log, to say why.
  if (r.fd < 0 && logLevel === 0) {
    const again = await bpfProgLoad(p, { type, insns, license: obj.license, name, logLevel: 1 });
    if (again.fd >= 0) await sys(p, 'close', again.fd);
    r = { fd: r.fd, log: again.log };
  }
  if (r.fd < 0) {
    const errno = errnoName(-r.fd) ?? 'EINVAL';
    const log = r.log.trim();
    throw new BpfObjectError(errno, `program '${prog.name}': BPF_PROG_LOAD failed: ${errnoText(errno)}${log ? `\n${log}` : ''}`);
  }
  return { spec: prog, name, type, fd: r.fd, insns, log: r.log };
}

/** bpf_object__load: every map, then every program. */
export async function loadObject(p: Proc, obj: BpfObjectSpec, opts: LoadOptions = {}): Promise<LoadedObject> {
  const maps: LoadedMap[] = [];
  const programs: LoadedProgram[] = [];
  try {
    for (const m of obj.maps) maps.push({ spec: m, name: m.name, fd: await createMap(p, m) });
    const fds = maps.map((m) => m.fd);
    for (const prog of obj.programs) programs.push(await loadProgram(p, obj, prog, fds, opts));
  } catch (e) {
    await closeAll(p, [...programs.map((x) => x.fd), ...maps.map((x) => x.fd)]);
    throw e;
  }
  return {
    spec: obj,
    maps,
    programs,
    map: (name) => {
      // global data maps also answer to their section name (".data"), as in libbpf
      const m = maps.find((x) => x.name === name) ?? maps.find((x) => x.spec.kind !== 'legacy' && x.spec.kind !== 'btf' && x.spec.section === name);
      if (!m) throw new BpfObjectError('ENOENT', `no map '${name}' in the object`);
      return m;
    },
    program: (name) => {
      const x = programs.find((q) => q.spec.name === name || q.name === name);
      if (!x) throw new BpfObjectError('ENOENT', `no program '${name}' in the object`);
      return x;
    },
    close: async () => {
      await closeAll(p, [...programs.map((x) => x.fd), ...maps.map((x) => x.fd)]);
      programs.length = 0;
      maps.length = 0;
    },
  };
}

export interface TracepointLink {
  linkFd: number;
  perfFd: number;
  /** Detaches (closes the link and the perf event). */
  destroy(): Promise<void>;
}

/**
 * bpf_program__attach_tracepoint: the program on tracepoint category/event (default:
 * the one its SEC name gives) through a perf event and a BPF link.
 */
export async function attachTracepoint(p: Proc, prog: LoadedProgram, category?: string, event?: string): Promise<TracepointLink> {
  const cat = category ?? prog.spec.tracepoint?.category;
  const ev = event ?? prog.spec.tracepoint?.event;
  if (!cat || !ev) throw new BpfObjectError('EINVAL', `program '${prog.spec.name}': no tracepoint named (section '${prog.spec.section}')`);
  let id: number;
  try {
    id = Number((await readFile(p, `/sys/kernel/tracing/events/${cat}/${ev}/id`, 'utf8')).trim());
  } catch (e) {
    throw failed(`tracepoint ${cat}/${ev}`, e);
  }
  let perfFd: number;
  try {
    perfFd = await check(p, 'perf_event_open', { type: PERF_TYPE_TRACEPOINT, config: id });
  } catch (e) {
    throw failed(`tracepoint ${cat}/${ev}: perf_event_open failed`, e);
  }
  const linkFd = await bpf(p, BPF_CMD.BPF_LINK_CREATE, { prog_fd: prog.fd, target_fd: perfFd, attach_type: BPF_PERF_EVENT });
  if (linkFd < 0) {
    await sys(p, 'close', perfFd);
    const errno = errnoName(-linkFd) ?? 'EINVAL';
    throw new BpfObjectError(errno, `tracepoint ${cat}/${ev}: BPF_LINK_CREATE failed: ${errnoText(errno)}`);
  }
  return {
    linkFd,
    perfFd,
    destroy: async () => {
      await sys(p, 'close', linkFd);
      await sys(p, 'close', perfFd);
    },
  };
}
