/**
 * bpf(2) wrappers, libbpf-style: `bpf(p, cmd, attr)` is the raw call (a value or -errno),
 * the named wrappers build union bpf_attr (kernel/bpf/syscall.ts BpfAttr), make the call
 * and throw SyscallError on failure. Outputs the kernel writes into attr (retval,
 * log_true_size, next_id, info...) are read back from the same object, as in C.
 */
import type { BpfAttr, BpfMapInfo, BpfProgInfo } from '../../kernel/bpf/syscall.js';
import { BPF_CMD, BPF_PROG_TYPE, type Insn } from '../../kernel/bpf/isa.js';
import { SyscallError, check, sys, type Proc } from './process.js';

export type { BpfAttr, BpfMapInfo, BpfProgInfo };

/** The raw syscall: returns the kernel's result (fd, 0 or -errno). */
export async function bpf(p: Proc, cmd: number, attr: BpfAttr): Promise<number> {
  const r = await sys(p, 'bpf', cmd, attr, Object.keys(attr).length);
  return typeof r === 'bigint' ? Number(BigInt.asIntN(64, r)) : r;
}

async function bpfCheck(p: Proc, cmd: number, attr: BpfAttr): Promise<number> {
  return check(p, 'bpf', cmd, attr, Object.keys(attr).length);
}

function errnoOf(e: unknown): number | null {
  return e instanceof SyscallError ? e.errno : null;
}

export interface MapCreateOpts {
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags?: number;
  name?: string;
}

export function bpfMapCreate(p: Proc, o: MapCreateOpts): Promise<number> {
  return bpfCheck(p, BPF_CMD.BPF_MAP_CREATE, {
    map_type: o.type,
    key_size: o.keySize,
    value_size: o.valueSize,
    max_entries: o.maxEntries,
    map_flags: o.flags ?? 0,
    ...(o.name !== undefined ? { map_name: o.name } : {}),
  });
}

/** The value (valueSize bytes: for per-CPU maps every CPU's), or null when the key is absent. */
export async function bpfMapLookup(p: Proc, fd: number, key: Uint8Array, valueSize: number): Promise<Uint8Array | null> {
  const value = new Uint8Array(valueSize);
  try {
    await bpfCheck(p, BPF_CMD.BPF_MAP_LOOKUP_ELEM, { map_fd: fd, key, value });
  } catch (e) {
    if (errnoOf(e) === 2) return null;
    throw e;
  }
  return value;
}

export async function bpfMapUpdate(p: Proc, fd: number, key: Uint8Array, value: Uint8Array, flags = 0): Promise<void> {
  await bpfCheck(p, BPF_CMD.BPF_MAP_UPDATE_ELEM, { map_fd: fd, key, value, flags });
}

export async function bpfMapDelete(p: Proc, fd: number, key: Uint8Array): Promise<void> {
  await bpfCheck(p, BPF_CMD.BPF_MAP_DELETE_ELEM, { map_fd: fd, key });
}

/** The key after `key` (the first when null), or null at the end. */
export async function bpfMapGetNextKey(p: Proc, fd: number, key: Uint8Array | null, keySize: number): Promise<Uint8Array | null> {
  const next_key = new Uint8Array(keySize);
  try {
    await bpfCheck(p, BPF_CMD.BPF_MAP_GET_NEXT_KEY, { map_fd: fd, key, next_key });
  } catch (e) {
    if (errnoOf(e) === 2) return null;
    throw e;
  }
  return next_key;
}

export interface ProgLoadOpts {
  type?: number;
  insns: Uint8Array | readonly Insn[];
  license?: string;
  name?: string;
  logLevel?: number;
  logSize?: number;
  flags?: number;
}

export interface ProgLoadResult {
  /** The program fd, or -errno when the kernel refused it. */
  fd: number;
  /** The verifier log (empty without log_level). */
  log: string;
}

/** BPF_PROG_LOAD; never throws for a refusal: the result carries -errno and the log. */
export async function bpfProgLoad(p: Proc, o: ProgLoadOpts): Promise<ProgLoadResult> {
  const logLevel = o.logLevel ?? 0;
  const logSize = logLevel > 0 ? (o.logSize ?? 1 << 20) : 0;
  const logBuf = logLevel > 0 ? new Uint8Array(logSize) : null;
  const attr: BpfAttr = {
    prog_type: o.type ?? BPF_PROG_TYPE.BPF_PROG_TYPE_SOCKET_FILTER,
    insns: o.insns,
    license: o.license ?? 'GPL',
    log_level: logLevel,
    log_size: logSize,
    log_buf: logBuf,
    prog_flags: o.flags ?? 0,
    ...(o.name !== undefined ? { prog_name: o.name } : {}),
  };
  const fd = await bpf(p, BPF_CMD.BPF_PROG_LOAD, attr);
  let log = '';
  if (logBuf) {
    const nul = logBuf.indexOf(0);
    log = Buffer.from(logBuf.subarray(0, nul < 0 ? logBuf.length : nul)).toString('utf8');
  }
  return { fd, log };
}

export interface TestRunOpts {
  data?: Uint8Array;
  ctx?: Uint8Array;
  repeat?: number;
  /** Room for data_out (default: data's length + 256). */
  dataOutSize?: number;
  ctxOutSize?: number;
}

export interface TestRunOut {
  retval: number;
  duration: number;
  dataOut: Uint8Array | null;
  ctxOut: Uint8Array | null;
}

export async function bpfProgTestRun(p: Proc, fd: number, o: TestRunOpts = {}): Promise<TestRunOut> {
  const dataOut = o.data ? new Uint8Array(o.dataOutSize ?? o.data.length + 256) : null;
  const ctxOut = o.ctx || o.ctxOutSize ? new Uint8Array(o.ctxOutSize ?? o.ctx?.length ?? 0) : null;
  const attr: BpfAttr = {
    prog_fd: fd,
    data_in: o.data ?? null,
    data_out: dataOut,
    ctx_in: o.ctx ?? null,
    ctx_out: ctxOut,
    repeat: o.repeat ?? 1,
  };
  await bpfCheck(p, BPF_CMD.BPF_PROG_TEST_RUN, attr);
  return {
    retval: attr.retval ?? 0,
    duration: attr.duration ?? 0,
    dataOut: dataOut ? dataOut.subarray(0, attr.data_size_out ?? dataOut.length) : null,
    ctxOut: ctxOut ? ctxOut.subarray(0, attr.ctx_size_out ?? ctxOut.length) : null,
  };
}

export async function bpfObjPin(p: Proc, fd: number, path: string): Promise<void> {
  await bpfCheck(p, BPF_CMD.BPF_OBJ_PIN, { bpf_fd: fd, pathname: path });
}

export function bpfObjGet(p: Proc, path: string): Promise<number> {
  return bpfCheck(p, BPF_CMD.BPF_OBJ_GET, { pathname: path });
}

async function nextId(p: Proc, cmd: number, start: number): Promise<number | null> {
  const attr: BpfAttr = { start_id: start };
  try {
    await bpfCheck(p, cmd, attr);
  } catch (e) {
    if (errnoOf(e) === 2) return null;
    throw e;
  }
  return attr.next_id ?? null;
}

export const bpfProgGetNextId = (p: Proc, start: number): Promise<number | null> =>
  nextId(p, BPF_CMD.BPF_PROG_GET_NEXT_ID, start);
export const bpfMapGetNextId = (p: Proc, start: number): Promise<number | null> =>
  nextId(p, BPF_CMD.BPF_MAP_GET_NEXT_ID, start);

export const bpfProgGetFdById = (p: Proc, id: number): Promise<number> =>
  bpfCheck(p, BPF_CMD.BPF_PROG_GET_FD_BY_ID, { prog_id: id });
export const bpfMapGetFdById = (p: Proc, id: number): Promise<number> =>
  bpfCheck(p, BPF_CMD.BPF_MAP_GET_FD_BY_ID, { map_id: id });

export async function bpfObjGetInfoByFd(p: Proc, fd: number): Promise<BpfProgInfo | BpfMapInfo> {
  const attr: BpfAttr = { bpf_fd: fd, info: null };
  await bpfCheck(p, BPF_CMD.BPF_OBJ_GET_INFO_BY_FD, attr);
  if (!attr.info) throw new SyscallError('bpf', 22);
  return attr.info;
}
