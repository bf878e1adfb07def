/**
 * The bpf(2) syscall (Linux kernel/bpf/syscall.c): `bpf(cmd, attr, size)`.
 *
 * `attr` is a plain object with union bpf_attr's field names (map_type, key_size, insns,
 * log_buf, prog_fd, data_in, ...). Pointers to user memory are Uint8Arrays (key, value,
 * next_key, log_buf, data_in/out, ctx_in/out); the instructions may also be Insn objects.
 * Results the kernel writes back into the user's attr (log_true_size, retval, duration,
 * data_size_out, ctx_size_out, next_id, info, info_len) are written into this object,
 * so a caller reads them after the call as it would in C. The return value is the fd,
 * 0, or (through the syscall entry) -errno.
 *
 * Each command follows Linux's order of checks, so the first failing check decides the
 * errno. Privilege: CAP_BPF or CAP_SYS_ADMIN ("bpf_capable") as Linux, with
 * kernel.sysctl.unprivilegedBpfDisabled gating everything else (EPERM).
 */
import { KernelError } from '../errno.js';
import type { Kernel } from '../kernel.js';
import { defineSyscall, type SyscallCall } from '../syscall.js';
import { CAP, capable, type Task } from '../task.js';
import { CheckError, checkProgram, verificationStats } from './check.js';
import { helpersForType } from './helpers/index.js';
import {
  BPF_CMD, BPF_F_LOCK, BPF_MAP_TYPE, BPF_PROG_TYPE, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE,
  decodeInsns, encodeInsns, insn as mkInsn, isLdImm64, type Insn,
} from './isa.js';
import { BPF_F } from './maps/common.js';
import { mapOpsByType } from './maps/index.js';
import {
  BpfMapFile, BpfProgFile, allMaps, allProgs, allocProgId, bpfMapGet, bpfMapPut, bpfProgGet, bpfProgPut,
  installMapFd, installProgFd, mapAddr, mapById, mapFromFd, newBpfProg, progById, progFromFd,
  registerMap, registerProg,
} from './objects.js';
import { getPinned, pinObject } from './pins.js';
import { BPF_LINK_TYPE, BPF_PERF_EVENT, BpfLinkFile, installLinkFd, isPerfLinkTarget, registerLink } from './link.js';
import { findProgType } from './progtypes.js';
import { bpfProgSelectRuntime } from './run.js';
import type { BpfMap, BpfProg, MapAttr } from './types.js';

/** union bpf_attr as bpfkern's userspace passes it (see the file comment). */
export interface BpfAttr {
  // BPF_MAP_CREATE
  map_type?: number;
  key_size?: number;
  value_size?: number;
  max_entries?: number;
  map_flags?: number;
  inner_map_fd?: number;
  numa_node?: number;
  map_name?: string;
  // BPF_MAP_*_ELEM, BPF_MAP_GET_NEXT_KEY
  map_fd?: number;
  key?: Uint8Array | null;
  value?: Uint8Array | null;
  next_key?: Uint8Array | null;
  flags?: number;
  // BPF_PROG_LOAD
  prog_type?: number;
  insns?: Uint8Array | readonly Insn[];
  insn_cnt?: number;
  license?: string;
  log_level?: number;
  log_size?: number;
  log_buf?: Uint8Array | null;
  /** Written back: the size the whole log needs, NUL included. */
  log_true_size?: number;
  kern_version?: number;
  prog_flags?: number;
  prog_name?: string;
  expected_attach_type?: number;
  // BPF_OBJ_PIN, BPF_OBJ_GET
  pathname?: string;
  bpf_fd?: number;
  file_flags?: number;
  // BPF_PROG_TEST_RUN
  prog_fd?: number;
  retval?: number;
  data_size_in?: number;
  data_size_out?: number;
  data_in?: Uint8Array | null;
  data_out?: Uint8Array | null;
  repeat?: number;
  duration?: number;
  ctx_size_in?: number;
  ctx_size_out?: number;
  ctx_in?: Uint8Array | null;
  ctx_out?: Uint8Array | null;
  cpu?: number;
  // BPF_*_GET_NEXT_ID, BPF_*_GET_FD_BY_ID
  start_id?: number;
  next_id?: number;
  prog_id?: number;
  map_id?: number;
  open_flags?: number;
  // BPF_OBJ_GET_INFO_BY_FD
  info?: BpfProgInfo | BpfMapInfo | null;
  info_len?: number;
  /** OBJ_GET_INFO_BY_FD on a link fd writes struct bpf_link_info here (info stays null). */
  link_info?: BpfLinkInfo | null;
  // BPF_LINK_CREATE (link_create: prog_fd above, flags above)
  target_fd?: number;
  attach_type?: number;
  /** link_create.perf_event.bpf_cookie. */
  bpf_cookie?: bigint | number;
}

/** struct bpf_link_info, the fields bpfkern fills (perf_event links). */
export interface BpfLinkInfo {
  kind: 'link';
  type: number;
  id: number;
  prog_id: number;
  attach_type: number;
}

/** struct bpf_prog_info, the fields bpfkern fills. */
export interface BpfProgInfo {
  kind: 'prog';
  type: number;
  id: number;
  tag: string;
  jited_prog_len: number;
  xlated_prog_len: number;
  /** The xlated program as bpftool dumps it: map addresses turned back into map ids. */
  xlated_prog_insns: Uint8Array;
  load_time: bigint;
  created_by_uid: number;
  nr_map_ids: number;
  map_ids: number[];
  name: string;
  gpl_compatible: boolean;
  run_time_ns: bigint;
  run_cnt: number;
  verified_insns: number;
  /** bpfkern: the JIT's refusal, when the interpreter runs the program. */
  jit_error: string | null;
}

/** struct bpf_map_info. */
export interface BpfMapInfo {
  kind: 'map';
  type: number;
  id: number;
  key_size: number;
  value_size: number;
  max_entries: number;
  map_flags: number;
  name: string;
  /** bpfkern: BPF_MAP_FREEZE was called (Linux shows it in fdinfo). */
  frozen: boolean;
}

/** enum bpf_attach_type is not used yet; the file_flags of OBJ_GET. */
const BPF_OBJ_FLAG_MASK = BPF_F.BPF_F_RDONLY | BPF_F.BPF_F_WRONLY;
/** BPF_F_* prog_flags Linux 6.18 accepts at load. */
const PROG_FLAGS_MASK = 1 | 2 | 4 | 8 | 16 | 32 | 64 | 128 | (1 << 16);
/** log_level bits: BPF_LOG_LEVEL1 | BPF_LOG_LEVEL2 | BPF_LOG_STATS | BPF_LOG_FIXED. */
const BPF_LOG_MASK = 1 | 2 | 4 | 8;
const BPF_LOG_FIXED = 8;
const BPF_OBJ_NAME_LEN = 16;

// ---------------------------------------------------------------------------------------
// Privilege

export function bpfCapable(task: Task): boolean {
  return capable(task.cred, CAP.CAP_BPF) || capable(task.cred, CAP.CAP_SYS_ADMIN);
}

function checkUnprivDisabled(kernel: Kernel, task: Task): void {
  if (kernel.sysctl.unprivilegedBpfDisabled !== 0 && !bpfCapable(task)) {
    throw new KernelError('EPERM', 'unprivileged BPF is disabled (kernel.unprivileged_bpf_disabled)');
  }
}

const T = BPF_MAP_TYPE;
/** Map types an unprivileged loader may create when unprivileged BPF is allowed (map_create's switch). */
const UNPRIV_MAP_TYPES: ReadonlySet<number> = new Set([
  T.BPF_MAP_TYPE_ARRAY, T.BPF_MAP_TYPE_PERCPU_ARRAY, T.BPF_MAP_TYPE_PROG_ARRAY, T.BPF_MAP_TYPE_PERF_EVENT_ARRAY,
  T.BPF_MAP_TYPE_CGROUP_ARRAY, T.BPF_MAP_TYPE_ARRAY_OF_MAPS, T.BPF_MAP_TYPE_HASH, T.BPF_MAP_TYPE_PERCPU_HASH,
  T.BPF_MAP_TYPE_HASH_OF_MAPS, T.BPF_MAP_TYPE_RINGBUF, T.BPF_MAP_TYPE_CGROUP_STORAGE,
  T.BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE,
]);

const P = BPF_PROG_TYPE;
/** is_net_admin_prog_type (the ones in isa.ts). */
const NET_ADMIN_PROG_TYPES: ReadonlySet<number> = new Set([
  P.BPF_PROG_TYPE_SCHED_CLS, P.BPF_PROG_TYPE_SCHED_ACT, P.BPF_PROG_TYPE_XDP, P.BPF_PROG_TYPE_LWT_IN,
  P.BPF_PROG_TYPE_LWT_OUT, P.BPF_PROG_TYPE_LWT_XMIT, P.BPF_PROG_TYPE_SK_SKB, P.BPF_PROG_TYPE_SK_MSG,
  P.BPF_PROG_TYPE_CGROUP_SKB, P.BPF_PROG_TYPE_CGROUP_SOCK, P.BPF_PROG_TYPE_SOCK_OPS, P.BPF_PROG_TYPE_CGROUP_DEVICE,
]);
/** is_perfmon_prog_type. */
const PERFMON_PROG_TYPES: ReadonlySet<number> = new Set([
  P.BPF_PROG_TYPE_KPROBE, P.BPF_PROG_TYPE_TRACEPOINT, P.BPF_PROG_TYPE_PERF_EVENT, P.BPF_PROG_TYPE_RAW_TRACEPOINT,
]);

// ---------------------------------------------------------------------------------------
// Small helpers

const u32 = (v: number | undefined, what: string): number => {
  const n = v ?? 0;
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) throw new KernelError('EINVAL', `bad ${what} ${String(v)}`);
  return n;
};

/** bpf_obj_name_cpy: up to 15 characters of [A-Za-z0-9_.]. */
function objName(name: string | undefined): string {
  const s = name ?? '';
  if (s.length >= BPF_OBJ_NAME_LEN || !/^[A-Za-z0-9_.]*$/.test(s)) {
    throw new KernelError('EINVAL', `invalid object name '${s}'`);
  }
  return s;
}

/** Copies user bytes into a scratch allocation for the map ops; EFAULT when too short. */
function withKernelCopies<T>(kernel: Kernel, sizes: readonly number[], fn: (offs: number[]) => T): T {
  const offs: number[] = [];
  try {
    for (const n of sizes) offs.push(kernel.mem.alloc(Math.max(n, 1)));
    return fn(offs);
  } finally {
    for (const o of offs) kernel.mem.free(o);
  }
}

function userBytes(buf: Uint8Array | null | undefined, len: number, what: string): Uint8Array {
  if (!(buf instanceof Uint8Array) || buf.length < len) throw new KernelError('EFAULT', `${what}: need ${len} bytes of user memory`);
  return buf;
}

// ---------------------------------------------------------------------------------------
// Maps

function mapCreate(kernel: Kernel, task: Task, a: BpfAttr): number {
  const attr: MapAttr = {
    mapType: u32(a.map_type, 'map_type'),
    keySize: u32(a.key_size, 'key_size'),
    valueSize: u32(a.value_size, 'value_size'),
    maxEntries: u32(a.max_entries, 'max_entries'),
    mapFlags: u32(a.map_flags, 'map_flags'),
    ...(a.map_name !== undefined ? { name: a.map_name } : {}),
    ...(a.numa_node !== undefined && a.map_flags !== undefined && a.map_flags & BPF_F.BPF_F_NUMA_NODE
      ? { numaNode: a.numa_node }
      : {}),
  };
  // bpf_get_file_flag: read-only and write-only together are EINVAL.
  if ((attr.mapFlags & BPF_F.BPF_F_RDONLY) && (attr.mapFlags & BPF_F.BPF_F_WRONLY)) {
    throw new KernelError('EINVAL', 'BPF_F_RDONLY and BPF_F_WRONLY together');
  }
  if (attr.numaNode !== undefined && (attr.numaNode < 0 || attr.numaNode >= 1)) {
    throw new KernelError('EINVAL', `no NUMA node ${attr.numaNode}`);
  }
  const ops = mapOpsByType(attr.mapType);
  if (!ops) throw new KernelError('EINVAL', `unsupported map type ${attr.mapType}`);
  ops.allocCheck(attr);
  checkUnprivDisabled(kernel, task);
  if (!UNPRIV_MAP_TYPES.has(attr.mapType) && !bpfCapable(task)) {
    throw new KernelError('EPERM', `map type ${ops.name} needs CAP_BPF`);
  }
  const impl = ops.alloc(kernel, attr);
  let name: string;
  try {
    name = objName(a.map_name);
  } catch (e) {
    impl.free();
    throw e;
  }
  const map = registerMap(kernel, { type: attr.mapType, attr, ops, impl, name });
  return installMapFd(kernel, task, map);
}

/** map_get_sys_perms: a map created BPF_F_RDONLY cannot be written by syscalls, WRONLY not read. */
function checkPerm(map: BpfMap, write: boolean): void {
  const bad = write ? BPF_F.BPF_F_RDONLY : BPF_F.BPF_F_WRONLY;
  if (map.attr.mapFlags & bad) throw new KernelError('EPERM', `map ${map.id} is ${write ? 'read' : 'write'}-only`);
}

function mapLookupElem(kernel: Kernel, task: Task, a: BpfAttr): number {
  const flags = a.flags ?? 0;
  if (flags & ~BPF_F_LOCK) throw new KernelError('EINVAL', `bad lookup flags ${flags}`);
  const map = mapFromFd(task, a.map_fd ?? -1);
  checkPerm(map, false);
  if (flags & BPF_F_LOCK) throw new KernelError('EINVAL', 'BPF_F_LOCK on a map without bpf_spin_lock');
  const key = userBytes(a.key, map.attr.keySize, 'key');
  const vsize = map.impl.syscallValueSize;
  const out = userBytes(a.value, vsize, 'value');
  withKernelCopies(kernel, [map.attr.keySize, vsize], ([k, v]) => {
    kernel.mem.write(k!, key.subarray(0, map.attr.keySize));
    if (map.impl.lookupSyscall) map.impl.lookupSyscall(k!, v!);
    else {
      const off = map.impl.lookup(k!, kernel.currentCpu);
      if (off < 0) throw new KernelError('ENOENT', 'no such key');
      kernel.mem.u8.copyWithin(v!, off, off + vsize);
    }
    out.set(kernel.mem.bytes(v!, vsize));
  });
  return 0;
}

function mapUpdateElem(kernel: Kernel, task: Task, a: BpfAttr): number {
  const map = mapFromFd(task, a.map_fd ?? -1);
  checkPerm(map, true);
  if (map.frozen) throw new KernelError('EPERM', `map ${map.id} is frozen`);
  const flags = a.flags ?? 0;
  if (flags & BPF_F_LOCK) throw new KernelError('EINVAL', 'BPF_F_LOCK on a map without bpf_spin_lock');
  const key = userBytes(a.key, map.attr.keySize, 'key');
  const vsize = map.impl.syscallValueSize;
  const value = userBytes(a.value, vsize, 'value');
  withKernelCopies(kernel, [map.attr.keySize, vsize], ([k, v]) => {
    kernel.mem.write(k!, key.subarray(0, map.attr.keySize));
    kernel.mem.write(v!, value.subarray(0, vsize));
    if (map.impl.updateSyscall) map.impl.updateSyscall(k!, v!, flags);
    else map.impl.update(k!, v!, flags, kernel.currentCpu);
  });
  return 0;
}

function mapDeleteElem(kernel: Kernel, task: Task, a: BpfAttr): number {
  const map = mapFromFd(task, a.map_fd ?? -1);
  checkPerm(map, true);
  if (map.frozen) throw new KernelError('EPERM', `map ${map.id} is frozen`);
  const key = userBytes(a.key, map.attr.keySize, 'key');
  withKernelCopies(kernel, [map.attr.keySize], ([k]) => {
    kernel.mem.write(k!, key.subarray(0, map.attr.keySize));
    map.impl.delete(k!);
  });
  return 0;
}

function mapGetNextKey(kernel: Kernel, task: Task, a: BpfAttr): number {
  const map = mapFromFd(task, a.map_fd ?? -1);
  checkPerm(map, false);
  const ks = map.attr.keySize;
  const out = userBytes(a.next_key, ks, 'next_key');
  const key = a.key ? userBytes(a.key, ks, 'key') : null;
  withKernelCopies(kernel, [ks, ks], ([k, n]) => {
    if (key) kernel.mem.write(k!, key.subarray(0, ks));
    if (!map.impl.getNextKey(key ? k! : -1, n!)) throw new KernelError('ENOENT', 'no next key');
    out.set(kernel.mem.bytes(n!, ks));
  });
  return 0;
}

function mapFreeze(task: Task, a: BpfAttr): number {
  const map = mapFromFd(task, a.map_fd ?? -1);
  checkPerm(map, true);
  if (map.frozen) throw new KernelError('EBUSY', `map ${map.id} is already frozen`);
  map.frozen = true;
  return 0;
}

// ---------------------------------------------------------------------------------------
// Programs

/** The verifier log as BPF_PROG_LOAD hands it back (bpf_vlog_finalize). */
interface LoadLog {
  level: number;
  size: number;
  buf: Uint8Array | null;
}

function loadLog(a: BpfAttr): LoadLog {
  const level = a.log_level ?? 0;
  const buf = a.log_buf ?? null;
  const size = a.log_size ?? (buf ? buf.length : 0);
  // bpf_verifier_log_attr_valid
  if ((buf !== null) !== (size !== 0)) throw new KernelError('EINVAL', 'log_buf and log_size go together');
  if (buf && level === 0) throw new KernelError('EINVAL', 'log_buf without log_level');
  if (level & ~BPF_LOG_MASK || level < 0) throw new KernelError('EINVAL', `bad log_level ${level}`);
  if (size > 0xffff_ffff >>> 2) throw new KernelError('EINVAL', `log_size ${size} too large`);
  if (buf && buf.length < size) throw new KernelError('EFAULT', 'log_buf shorter than log_size');
  return { level, size, buf };
}

/**
 * Copies the log out: the whole text when it fits (NUL-terminated), else the last
 * size-1 bytes (rotating mode, the default since 6.4) or the first ones (BPF_LOG_FIXED)
 * and ENOSPC. Returns the errno to report, if any.
 */
function finalizeLog(log: LoadLog, text: string, a: BpfAttr): 'ENOSPC' | null {
  if (log.level === 0 || !log.buf) return null;
  const bytes = Buffer.from(text, 'utf8');
  a.log_true_size = bytes.length + 1;
  if (bytes.length + 1 <= log.size) {
    log.buf.set(bytes);
    log.buf[bytes.length] = 0;
    return null;
  }
  const keep = log.size - 1;
  const part = log.level & BPF_LOG_FIXED ? bytes.subarray(0, keep) : bytes.subarray(bytes.length - keep);
  log.buf.set(part);
  log.buf[keep] = 0;
  return 'ENOSPC';
}

function toInsns(insns: BpfAttr['insns'], cnt: number | undefined): Insn[] {
  if (insns instanceof Uint8Array) {
    const n = u32(cnt ?? Math.floor(insns.length / 8), 'insn_cnt');
    if (insns.length < n * 8) throw new KernelError('EFAULT', 'insns shorter than insn_cnt');
    return decodeInsns(insns.subarray(0, n * 8));
  }
  if (Array.isArray(insns)) {
    const list = insns as readonly Insn[];
    const n = u32(cnt ?? list.length, 'insn_cnt');
    if (list.length < n) throw new KernelError('EFAULT', 'insns shorter than insn_cnt');
    return list.slice(0, n).map((i) => mkInsn(i.code, i.dst, i.src, i.off, i.imm));
  }
  throw new KernelError('EFAULT', 'insns is not user memory');
}

/**
 * resolve_pseudo_ldimm64's map half: LD_IMM64 with BPF_PSEUDO_MAP_FD / MAP_VALUE gets the
 * map's address (and a reference on the map). BPF_PSEUDO_FUNC keeps Linux's relative
 * imm: the engines load it as the callback's absolute instruction index (what bpf_loop's
 * r2 carries). Returns the rewritten copy.
 */
function resolveLdImm64(kernel: Kernel, task: Task, insns: readonly Insn[], used: BpfMap[]): Insn[] {
  const out = insns.map((i) => ({ ...i }));
  for (let n = 0; n + 1 < out.length; n++) {
    const i = out[n]!;
    if (!isLdImm64(i)) continue;
    const hi = out[n + 1]!;
    if (i.src === BPF_PSEUDO_MAP_FD || i.src === BPF_PSEUDO_MAP_VALUE) {
      let map: BpfMap;
      try {
        map = mapFromFd(task, i.imm);
      } catch (e) {
        if (e instanceof KernelError) {
          throw new CheckError(e.errno, `fd ${i.imm} is not pointing to valid bpf_map`, `fd ${i.imm} is not pointing to valid bpf_map\n${verificationStats(0)}`);
        }
        throw e;
      }
      let addr = mapAddr(kernel, map);
      if (i.src === BPF_PSEUDO_MAP_VALUE) {
        const off = hi.imm >>> 0;
        if (!map.impl.directValue) {
          const msg = 'no direct value access support for this map type';
          throw new CheckError('EINVAL', msg, `${msg}\n${verificationStats(0)}`);
        }
        if (off >= map.attr.valueSize) {
          const msg = `invalid access to map value pointer, value_size=${map.attr.valueSize} off=${off}`;
          throw new CheckError('EINVAL', msg, `${msg}\n${verificationStats(0)}`);
        }
        addr = kernel.mem.addr(map.impl.directValue(off));
      }
      if (!used.includes(map)) used.push(bpfMapGet(map));
      i.src = 0;
      i.imm = Number(BigInt.asIntN(32, addr & 0xffff_ffffn));
      hi.imm = Number(BigInt.asIntN(32, addr >> 32n));
    }
    n++;
  }
  return out;
}

function progLoad(kernel: Kernel, task: Task, a: BpfAttr): number {
  const flags = a.prog_flags ?? 0;
  if (flags & ~PROG_FLAGS_MASK) throw new KernelError('EINVAL', `bad prog_flags 0x${flags.toString(16)}`);
  checkUnprivDisabled(kernel, task);
  const privileged = bpfCapable(task);
  const typeId = u32(a.prog_type, 'prog_type');
  const insns = toInsns(a.insns, a.insn_cnt);
  const limit = privileged ? 1_000_000 : 4096;
  if (insns.length === 0 || insns.length > limit) throw new KernelError('E2BIG', `program has ${insns.length} insns (limit ${limit})`);
  if (typeId !== P.BPF_PROG_TYPE_SOCKET_FILTER && typeId !== P.BPF_PROG_TYPE_CGROUP_SKB && !privileged) {
    throw new KernelError('EPERM', `program type ${typeId} needs CAP_BPF`);
  }
  if (NET_ADMIN_PROG_TYPES.has(typeId) && !capable(task.cred, CAP.CAP_NET_ADMIN) && !capable(task.cred, CAP.CAP_SYS_ADMIN)) {
    throw new KernelError('EPERM', `program type ${typeId} needs CAP_NET_ADMIN`);
  }
  if (PERFMON_PROG_TYPES.has(typeId) && !capable(task.cred, CAP.CAP_PERFMON) && !capable(task.cred, CAP.CAP_SYS_ADMIN)) {
    throw new KernelError('EPERM', `program type ${typeId} needs CAP_PERFMON`);
  }
  const type = findProgType(kernel, typeId);
  const license = a.license ?? '';
  const name = objName(a.prog_name);
  const log = loadLog(a);
  const helpers = helpersForType(kernel, type);
  const used: BpfMap[] = [];
  let text = '';
  let prog: BpfProg | null = null;
  try {
    const checked = checkProgram(insns, {
      privileged,
      allowsLdAbs: type.allowsLdAbs,
      helperAllowed: (id) => type.allowedHelpers.has(id),
    });
    const xlated = resolveLdImm64(kernel, task, insns, used);
    const processed = insns.length - insns.filter((i, n) => n > 0 && isLdImm64(insns[n - 1]!)).length;
    text = checked.log || verificationStats(processed);
    prog = newBpfProg(kernel, { id: allocProgId(kernel), type, name, license, insns, xlated, helpers, usedMaps: used, uid: task.cred.uid });
    bpfProgSelectRuntime(kernel, prog);
  } catch (e) {
    for (const m of used) bpfMapPut(kernel, m);
    if (e instanceof CheckError) {
      const errno = finalizeLog(log, e.log, a) ?? e.errno;
      throw new KernelError(errno, e.detail);
    }
    throw e;
  }
  registerProg(kernel, prog);
  const fd = installProgFd(kernel, task, prog);
  const logErr = finalizeLog(log, text, a);
  if (logErr) {
    task.fds.close(fd);
    throw new KernelError(logErr, `verifier log does not fit in ${log.size} bytes`);
  }
  return fd;
}

function progTestRun(kernel: Kernel, task: Task, a: BpfAttr): number {
  const prog = progFromFd(task, a.prog_fd ?? -1);
  if (!prog.type.testRun) throw new KernelError('ENOTSUPP', `${prog.type.name} programs have no test_run`);
  const dataIn = a.data_in ?? null;
  const ctxIn = a.ctx_in ?? null;
  const ctxSizeIn = u32(a.ctx_size_in ?? ctxIn?.length ?? 0, 'ctx_size_in');
  if ((ctxSizeIn !== 0) !== (ctxIn !== null)) throw new KernelError('EINVAL', 'ctx_in and ctx_size_in go together');
  const ctxOutSize = a.ctx_size_out ?? a.ctx_out?.length ?? 0;
  if ((ctxOutSize !== 0) !== (a.ctx_out != null)) throw new KernelError('EINVAL', 'ctx_out and ctx_size_out go together');
  if ((a.flags ?? 0) !== 0 || (a.cpu ?? 0) !== 0) throw new KernelError('EINVAL', 'test_run flags and cpu are not supported');
  const dataSize = u32(a.data_size_in ?? dataIn?.length ?? 0, 'data_size_in');
  if (dataIn && dataIn.length < dataSize) throw new KernelError('EFAULT', 'data_in shorter than data_size_in');
  const res = prog.type.testRun({
    kernel,
    prog,
    dataIn: dataIn ? dataIn.subarray(0, dataSize) : null,
    ctxIn: ctxIn ? userBytes(ctxIn, ctxSizeIn, 'ctx_in').subarray(0, ctxSizeIn) : null,
    repeat: u32(a.repeat, 'repeat'),
    task,
  });
  // bpf_test_finish: results go back even when the output buffer is too small (ENOSPC).
  a.retval = res.retval >>> 0;
  a.duration = res.durationNs;
  let err: 'ENOSPC' | null = null;
  if (res.dataOut) {
    a.data_size_out = res.dataOut.length;
    if (a.data_out) {
      const room = Math.min(a.data_out.length, a.data_size_out);
      a.data_out.set(res.dataOut.subarray(0, room));
      if (room < res.dataOut.length) err = 'ENOSPC';
    }
  }
  if (res.ctxOut && a.ctx_out) {
    const room = Math.min(a.ctx_out.length, ctxOutSize);
    a.ctx_out.set(res.ctxOut.subarray(0, room));
    a.ctx_size_out = res.ctxOut.length;
    if (room < res.ctxOut.length) err = 'ENOSPC';
  }
  if (err) throw new KernelError(err, 'test_run output does not fit');
  return 0;
}

// ---------------------------------------------------------------------------------------
// Pins, ids, info

function objPin(kernel: Kernel, task: Task, a: BpfAttr): number {
  if ((a.file_flags ?? 0) !== 0) throw new KernelError('EINVAL', 'OBJ_PIN takes no file_flags');
  const f = task.fds.get(a.bpf_fd ?? -1);
  const path = a.pathname ?? '';
  if (f instanceof BpfProgFile) {
    bpfProgGet(f.prog);
    try {
      pinObject(kernel, path, { kind: 'prog', prog: f.prog });
    } catch (e) {
      bpfProgPut(kernel, f.prog);
      throw e;
    }
  } else if (f instanceof BpfMapFile) {
    bpfMapGet(f.map);
    try {
      pinObject(kernel, path, { kind: 'map', map: f.map });
    } catch (e) {
      bpfMapPut(kernel, f.map);
      throw e;
    }
  } else {
    throw new KernelError('EINVAL', `fd ${a.bpf_fd} is not a BPF object`);
  }
  return 0;
}

function objGet(kernel: Kernel, task: Task, a: BpfAttr): number {
  const ff = a.file_flags ?? 0;
  if ((a.bpf_fd ?? 0) !== 0 || ff & ~BPF_OBJ_FLAG_MASK) throw new KernelError('EINVAL', 'bad OBJ_GET flags');
  const obj = getPinned(kernel, a.pathname ?? '');
  if (obj.kind === 'prog') return installProgFd(kernel, task, bpfProgGet(obj.prog));
  return installMapFd(kernel, task, bpfMapGet(obj.map));
}

function requireSysAdmin(task: Task): void {
  if (!capable(task.cred, CAP.CAP_SYS_ADMIN)) throw new KernelError('EPERM', 'needs CAP_SYS_ADMIN');
}

function getNextId(task: Task, a: BpfAttr, ids: readonly number[]): number {
  requireSysAdmin(task);
  const start = u32(a.start_id, 'start_id');
  const next = ids.find((id) => id > start);
  if (next === undefined) throw new KernelError('ENOENT', `no id after ${start}`);
  a.next_id = next;
  return 0;
}

function progGetFdById(kernel: Kernel, task: Task, a: BpfAttr): number {
  requireSysAdmin(task);
  const prog = progById(kernel, u32(a.prog_id, 'prog_id'));
  if (!prog) throw new KernelError('ENOENT', `no program ${a.prog_id}`);
  return installProgFd(kernel, task, bpfProgGet(prog));
}

function mapGetFdById(kernel: Kernel, task: Task, a: BpfAttr): number {
  if ((a.open_flags ?? 0) & ~BPF_OBJ_FLAG_MASK) throw new KernelError('EINVAL', 'bad open_flags');
  requireSysAdmin(task);
  const map = mapById(kernel, u32(a.map_id, 'map_id'));
  if (!map) throw new KernelError('ENOENT', `no map ${a.map_id}`);
  return installMapFd(kernel, task, bpfMapGet(map));
}

/**
 * bpf_insn_prepare_dump: the xlated program as userspace sees it, map addresses turned
 * back into `BPF_PSEUDO_MAP_FD`/`MAP_VALUE` pairs carrying the map id (bpftool prints
 * `map[id:N]` from these).
 */
export function xlatedForDump(kernel: Kernel, prog: BpfProg): Insn[] {
  const out = prog.xlated.map((i) => ({ ...i }));
  for (let n = 0; n + 1 < out.length; n++) {
    const i = out[n]!;
    if (!isLdImm64(i)) continue;
    const hi = out[n + 1]!;
    n++;
    if (i.src !== 0) continue;
    const addr = (BigInt(hi.imm >>> 0) << 32n) | BigInt(i.imm >>> 0);
    for (const map of prog.usedMaps) {
      const base = mapAddr(kernel, map);
      if (addr === base) {
        i.src = BPF_PSEUDO_MAP_FD;
        i.imm = map.id;
        hi.imm = 0;
        break;
      }
      if (map.impl.directValue) {
        const start = kernel.mem.addr(map.impl.directValue(0));
        if (addr >= start && addr < start + BigInt(map.attr.valueSize)) {
          i.src = BPF_PSEUDO_MAP_VALUE;
          i.imm = map.id;
          hi.imm = Number(addr - start);
          break;
        }
      }
    }
  }
  return out;
}

export function progInfo(kernel: Kernel, prog: BpfProg): BpfProgInfo {
  const xlated = encodeInsns(xlatedForDump(kernel, prog));
  return {
    kind: 'prog',
    type: prog.type.id,
    id: prog.id,
    tag: prog.tag,
    jited_prog_len: prog.jited?.size ?? 0,
    xlated_prog_len: xlated.length,
    xlated_prog_insns: xlated,
    load_time: prog.loadTimeNs,
    created_by_uid: prog.uid,
    nr_map_ids: prog.usedMaps.length,
    map_ids: prog.usedMaps.map((m) => m.id),
    name: prog.name,
    gpl_compatible: prog.gplCompatible,
    run_time_ns: prog.runTimeNs,
    run_cnt: prog.runCount,
    verified_insns: prog.insns.length,
    jit_error: prog.jitError,
  };
}

export function mapInfo(map: BpfMap): BpfMapInfo {
  return {
    kind: 'map',
    type: map.type,
    id: map.id,
    key_size: map.attr.keySize,
    value_size: map.attr.valueSize,
    max_entries: map.attr.maxEntries,
    map_flags: map.attr.mapFlags,
    name: map.name,
    frozen: map.frozen,
  };
}

function objGetInfoByFd(kernel: Kernel, task: Task, a: BpfAttr): number {
  const f = task.fds.get(a.bpf_fd ?? -1);
  if (f instanceof BpfProgFile) a.info = progInfo(kernel, f.prog);
  else if (f instanceof BpfMapFile) a.info = mapInfo(f.map);
  else if (f instanceof BpfLinkFile) {
    const l = f.link;
    a.link_info = { kind: 'link', type: l.type, id: l.id, prog_id: l.prog.id, attach_type: l.attachType };
    a.info_len = Object.keys(a.link_info).length;
    return 0;
  }
  else throw new KernelError('EINVAL', `fd ${a.bpf_fd} is not a BPF object`);
  a.info_len = Object.keys(a.info).length;
  return 0;
}

// ---------------------------------------------------------------------------------------
// Links

/**
 * link_create for the attach types bpfkern has (Linux's order of checks): the program fd
 * (EBADF, EINVAL for another file), the attach type against the program type (EINVAL:
 * tracepoint and perf_event programs take only BPF_PERF_EVENT, and BPF_PERF_EVENT no other
 * program type here), then bpf_perf_link_attach: flags must be 0 (EINVAL), target_fd must
 * be a perf event (perf_event_get: EBADF), and the event takes the program or refuses it
 * (perf_event_set_bpf_prog: EINVAL for a mismatched program, EEXIST when the event has
 * one). Returns the link fd; closing its last copy detaches.
 */
function linkCreate(kernel: Kernel, task: Task, a: BpfAttr): number {
  const prog = progFromFd(task, a.prog_fd ?? -1);
  const attachType = u32(a.attach_type, 'attach_type');
  const isPerfProg = prog.type.id === P.BPF_PROG_TYPE_TRACEPOINT || prog.type.id === P.BPF_PROG_TYPE_PERF_EVENT || prog.type.id === P.BPF_PROG_TYPE_KPROBE;
  if (!isPerfProg || attachType !== BPF_PERF_EVENT) {
    throw new KernelError('EINVAL', `attach type ${attachType} does not fit a ${prog.type.name} program`);
  }
  if ((a.flags ?? 0) !== 0) throw new KernelError('EINVAL', 'link_create flags must be 0 for a perf event link');
  const target = task.fds.has(a.target_fd ?? -1) ? task.fds.get(a.target_fd ?? -1) : null;
  if (!target || !isPerfLinkTarget(target)) throw new KernelError('EBADF', `fd ${a.target_fd} is not a perf event`);
  const cookie = BigInt.asUintN(64, BigInt(a.bpf_cookie ?? 0));
  // Two references: the link's (bpf_link_init) and the event's (bpf_prog_inc after set_bpf_prog).
  // On failure attachBpfLink leaves the event's reference with us.
  bpfProgGet(prog);
  bpfProgGet(prog);
  let detach: () => void;
  try {
    detach = target.attachBpfLink(prog, cookie);
  } catch (e) {
    bpfProgPut(kernel, prog);
    bpfProgPut(kernel, prog);
    throw e;
  }
  const link = registerLink(kernel, { type: BPF_LINK_TYPE.BPF_LINK_TYPE_PERF_EVENT, attachType, prog, detach });
  return installLinkFd(kernel, task, link);
}

// ---------------------------------------------------------------------------------------
// Entry

/** Runs one bpf() command as `task`; throws KernelError (the syscall entry makes it -errno). */
export function bpfCommand(kernel: Kernel, task: Task, cmd: number, attr: BpfAttr): number {
  const C = BPF_CMD;
  switch (cmd) {
    case C.BPF_MAP_CREATE:
      return mapCreate(kernel, task, attr);
    case C.BPF_MAP_LOOKUP_ELEM:
      return mapLookupElem(kernel, task, attr);
    case C.BPF_MAP_UPDATE_ELEM:
      return mapUpdateElem(kernel, task, attr);
    case C.BPF_MAP_DELETE_ELEM:
      return mapDeleteElem(kernel, task, attr);
    case C.BPF_MAP_GET_NEXT_KEY:
      return mapGetNextKey(kernel, task, attr);
    case C.BPF_MAP_FREEZE:
      return mapFreeze(task, attr);
    case C.BPF_PROG_LOAD:
      return progLoad(kernel, task, attr);
    case C.BPF_OBJ_PIN:
      return objPin(kernel, task, attr);
    case C.BPF_OBJ_GET:
      return objGet(kernel, task, attr);
    case C.BPF_PROG_TEST_RUN:
      return progTestRun(kernel, task, attr);
    case C.BPF_PROG_GET_NEXT_ID:
      return getNextId(task, attr, allProgs(kernel).map((p) => p.id));
    case C.BPF_MAP_GET_NEXT_ID:
      return getNextId(task, attr, allMaps(kernel).map((m) => m.id));
    case C.BPF_PROG_GET_FD_BY_ID:
      return progGetFdById(kernel, task, attr);
    case C.BPF_MAP_GET_FD_BY_ID:
      return mapGetFdById(kernel, task, attr);
    case C.BPF_OBJ_GET_INFO_BY_FD:
      return objGetInfoByFd(kernel, task, attr);
    case C.BPF_LINK_CREATE:
      return linkCreate(kernel, task, attr);
    default:
      throw new KernelError('EINVAL', `unsupported bpf command ${cmd}`);
  }
}

function bpfSyscall({ kernel, task, args }: SyscallCall): number {
  const cmd = args[0];
  const attr = args[1];
  if (typeof cmd !== 'number') throw new KernelError('EINVAL', 'bpf: bad command');
  if (attr === null || typeof attr !== 'object' || attr instanceof Uint8Array) {
    throw new KernelError('EFAULT', 'bpf: attr is not user memory');
  }
  return bpfCommand(kernel, task, cmd, attr as BpfAttr);
}

/** Boot step: defines bpf(2). */
export function registerBpfSyscall(kernel: Kernel): void {
  defineSyscall(kernel, 'bpf', bpfSyscall);
}
