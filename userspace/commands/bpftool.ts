/**
 * `bpfkern bpftool`: the subset of bpftool(8) that inspects programs and maps, printing
 * what the real tool prints (plain text, or JSON with -j/--json):
 *
 *   bpftool prog show|list [id N | pinned PATH]
 *   bpftool prog dump xlated id N | pinned PATH
 *   bpftool map show|list [id N | pinned PATH]
 *   bpftool map dump id N | pinned PATH
 *
 * Like the real tool it only uses bpf(2): GET_NEXT_ID, GET_FD_BY_ID, OBJ_GET,
 * OBJ_GET_INFO_BY_FD, map lookups. `runBpftool(proc, argv, io)` works on any process's
 * kernel; the command itself boots a fresh kernel, so for scripts and tests it takes
 * setup options first, applied in order before the bpftool arguments:
 *
 *   --map TYPE:KEYSIZE:VALSIZE:MAX[:NAME]   create a map (TYPE: array, hash, ... or a number)
 *   --map-update IDX:KEYHEX:VALHEX          update map number IDX (0-based, in --map order)
 *   --load HEX[:TYPE[:NAME]]                load a program; LD_IMM64 map references carry a
 *                                           --map index in imm, as in the host oracle
 *   --pin PATH                              pin the object created last
 *
 * Errors print `Error: ...` on stderr and exit 255, as bpftool's -1 does.
 */
import { dumpXlated } from '../../kernel/bpf/disasm.js';
import {
  BPF_MAP_TYPE, BPF_PROG_TYPE, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE, decodeInsns, encodeInsns, isLdImm64,
  parseHexBytes,
} from '../../kernel/bpf/isa.js';
import { errnoName, errnoText } from '../../kernel/errno.js';
import {
  bpfMapCreate, bpfMapGetFdById, bpfMapGetNextId, bpfMapGetNextKey, bpfMapLookup, bpfMapUpdate, bpfObjGet,
  bpfObjGetInfoByFd, bpfObjPin, bpfProgGetFdById, bpfProgGetNextId, bpfProgLoad, type BpfMapInfo, type BpfProgInfo,
} from '../libc/bpf.js';
import { SyscallError, sys, type Proc } from '../libc/process.js';
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

function strerror(e: unknown): string {
  if (e instanceof SyscallError) {
    const name = errnoName(e.errno);
    return name ? errnoText(name) : `Unknown error ${e.errno}`;
  }
  throw e;
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

interface Ctx {
  p: Proc;
  io: CommandIo;
  json: boolean;
}

async function closeFd(p: Proc, fd: number): Promise<void> {
  await sys(p, 'close', fd);
}

/** The fd a selector names: `id N`, `pinned PATH` (and, for programs, `tag T` / `name N` via the id walk). */
async function fdsFor(ctx: Ctx, kind: 'prog' | 'map', args: string[]): Promise<number[]> {
  const [sel, val] = args;
  if (sel === undefined) return [];
  if (val === undefined) throw new ToolError(`expected ${kind.toUpperCase()} after '${sel}'`);
  if (args.length > 2) throw new ToolError(`too many arguments: '${args[2]}'`);
  if (sel === 'id') {
    const id = Number(val);
    if (!Number.isInteger(id) || id < 0) throw new ToolError(`can't parse ${val} as ID`);
    try {
      return [kind === 'prog' ? await bpfProgGetFdById(ctx.p, id) : await bpfMapGetFdById(ctx.p, id)];
    } catch (e) {
      throw new ToolError(`get by id (${id}): ${strerror(e)}`);
    }
  }
  if (sel === 'pinned') {
    let fd: number;
    try {
      fd = await bpfObjGet(ctx.p, val);
    } catch (e) {
      throw new ToolError(`bpf obj get (${val}): ${strerror(e)}`);
    }
    const info = await bpfObjGetInfoByFd(ctx.p, fd);
    if (info.kind !== kind) {
      await closeFd(ctx.p, fd);
      throw new ToolError(`incorrect object type: ${info.kind === 'prog' ? 'prog' : 'map'}`);
    }
    return [fd];
  }
  if (kind === 'prog' && (sel === 'tag' || sel === 'name')) {
    const out: number[] = [];
    for await (const fd of allFds(ctx, 'prog')) {
      const info = (await bpfObjGetInfoByFd(ctx.p, fd)) as BpfProgInfo;
      if ((sel === 'tag' && info.tag === val.replace(/\s/g, '')) || (sel === 'name' && info.name === val)) out.push(fd);
      else await closeFd(ctx.p, fd);
    }
    if (out.length === 0) throw new ToolError(`no program with ${sel} ${val} found`);
    return out;
  }
  throw new ToolError(`expected 'id' or 'pinned', got: '${sel}'?`);
}

async function* allFds(ctx: Ctx, kind: 'prog' | 'map'): AsyncGenerator<number> {
  let id = 0;
  for (;;) {
    const next = kind === 'prog' ? await bpfProgGetNextId(ctx.p, id) : await bpfMapGetNextId(ctx.p, id);
    if (next === null) return;
    id = next;
    try {
      yield kind === 'prog' ? await bpfProgGetFdById(ctx.p, id) : await bpfMapGetFdById(ctx.p, id);
    } catch (e) {
      // freed between GET_NEXT_ID and GET_FD_BY_ID: skip it, as bpftool does
      if (e instanceof SyscallError && e.errno === 2) continue;
      throw e;
    }
  }
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

async function doShow(ctx: Ctx, kind: 'prog' | 'map', args: string[]): Promise<void> {
  const fds = args.length > 0 ? await fdsFor(ctx, kind, args) : [];
  const source: AsyncIterable<number> | number[] = args.length > 0 ? fds : allFds(ctx, kind);
  const json: Record<string, unknown>[] = [];
  for await (const fd of source) {
    try {
      const info = await bpfObjGetInfoByFd(ctx.p, fd);
      const ncpus = ctx.p.kernel.ncpus;
      if (info.kind === 'prog') {
        if (ctx.json) json.push(showProgJson(info));
        else ctx.io.stdout(showProgPlain(info));
      } else if (ctx.json) json.push(showMapJson(info, ncpus));
      else ctx.io.stdout(showMapPlain(info, ncpus));
    } finally {
      await closeFd(ctx.p, fd);
    }
  }
  if (ctx.json) ctx.io.stdout(`${JSON.stringify(args.length > 0 && json.length === 1 ? json[0] : json)}\n`);
}

async function doDumpXlated(ctx: Ctx, args: string[]): Promise<void> {
  if (args[0] !== 'xlated') throw new ToolError(`unsupported dump type '${args[0] ?? ''}' (only 'xlated')`);
  const fds = await fdsFor(ctx, 'prog', args.slice(1));
  if (fds.length === 0) throw new ToolError('expected id, pinned, tag or name');
  for (const fd of fds) {
    try {
      const info = (await bpfObjGetInfoByFd(ctx.p, fd)) as BpfProgInfo;
      const insns = decodeInsns(info.xlated_prog_insns);
      if (ctx.json) {
        ctx.io.stdout(`${JSON.stringify(insns.map((i, n) => ({ pc: n, raw: Array.from(encodeInsns([i]), (b) => `0x${b.toString(16).padStart(2, '0')}`) })))}\n`);
      } else {
        ctx.io.stdout(dumpXlated(insns));
      }
    } finally {
      await closeFd(ctx.p, fd);
    }
  }
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

async function doMapDump(ctx: Ctx, args: string[]): Promise<void> {
  const fds = await fdsFor(ctx, 'map', args);
  if (fds.length === 0) throw new ToolError('expected id or pinned');
  const fd = fds[0]!;
  try {
    const info = (await bpfObjGetInfoByFd(ctx.p, fd)) as BpfMapInfo;
    const ncpus = ctx.p.kernel.ncpus;
    const vsize = isPerCpu(info.type) ? roundUp(info.value_size, 8) * ncpus : info.value_size;
    const fdArray = info.type === BPF_MAP_TYPE.BPF_MAP_TYPE_PROG_ARRAY || info.type === BPF_MAP_TYPE.BPF_MAP_TYPE_PERF_EVENT_ARRAY;
    let key: Uint8Array | null = null;
    let n = 0;
    const json: Record<string, unknown>[] = [];
    for (;;) {
      try {
        key = await bpfMapGetNextKey(ctx.p, fd, key, info.key_size);
      } catch (e) {
        throw new ToolError(`can't get next key: ${strerror(e)}`);
      }
      if (key === null) break;
      let value: Uint8Array | null;
      try {
        value = await bpfMapLookup(ctx.p, fd, key, vsize);
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
      if (!ctx.json) ctx.io.stdout(entryPlain(info, key, value, ncpus));
      else if (!isPerCpu(info.type)) json.push({ key: hexList(key), value: hexList(value) });
      else {
        const step = roundUp(info.value_size, 8);
        json.push({
          key: hexList(key),
          values: Array.from({ length: ncpus }, (_, cpu) => ({
            cpu,
            value: hexList(value.subarray(cpu * step, cpu * step + info.value_size)),
          })),
        });
      }
    }
    if (ctx.json) ctx.io.stdout(`${JSON.stringify(json)}\n`);
    else ctx.io.stdout(`Found ${n} element${n === 1 ? '' : 's'}\n`);
  } finally {
    await closeFd(ctx.p, fd);
  }
}

const HELP = `Usage: bpftool [OPTIONS] OBJECT { COMMAND | help }
       bpftool prog { show | list } [PROG]
       bpftool prog dump xlated PROG
       bpftool map { show | list } [MAP]
       bpftool map dump MAP
       PROG := { id PROG_ID | pinned FILE | tag PROG_TAG | name PROG_NAME }
       MAP := { id MAP_ID | pinned FILE }
       OPTIONS := { {-j|--json} [{-p|--pretty}] }
`;

/** bpftool proper, over any process's kernel. Returns the exit status. */
export async function runBpftool(p: Proc, argv: string[], io: CommandIo): Promise<number> {
  const json = argv.some((a) => GLOBAL_OPTS.includes(a));
  const args = argv.filter((a) => !GLOBAL_OPTS.includes(a));
  const ctx: Ctx = { p, io, json };
  const [object, command = 'show', ...rest] = args;
  const prefix = (word: string, full: string): boolean => word.length > 0 && full.startsWith(word);
  try {
    if (object === undefined || object === 'help' || object === '--help' || object === '-h') {
      io.stdout(HELP);
      return object === undefined ? 255 : 0;
    }
    if (prefix(object, 'prog')) {
      if (prefix(command, 'show') || prefix(command, 'list')) await doShow(ctx, 'prog', rest);
      else if (prefix(command, 'dump')) await doDumpXlated(ctx, rest);
      else throw new ToolError(`unknown prog command '${command}'`);
    } else if (prefix(object, 'map')) {
      if (prefix(command, 'show') || prefix(command, 'list')) await doShow(ctx, 'map', rest);
      else if (prefix(command, 'dump')) await doMapDump(ctx, rest);
      else throw new ToolError(`unknown map command '${command}'`);
    } else {
      throw new ToolError(`object '${object}' not supported (prog, map)`);
    }
    return 0;
  } catch (e) {
    if (!(e instanceof ToolError)) throw e;
    if (json) io.stdout(`${JSON.stringify({ error: e.message })}\n`);
    else io.stderr(`Error: ${e.message}\n`);
    return 255;
  }
}

// ---------------------------------------------------------------------------------------
// The command: a fresh kernel, set up by --map/--map-update/--load/--pin, then bpftool.

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
const GLOBAL_OPTS = ['-j', '--json', '-p', '--pretty'];

export const bpftoolCommand: Command = {
  name: 'bpftool',
  summary: 'inspect BPF programs and maps (prog show, prog dump xlated, map show, map dump)',
  run: async (argv, io) => {
    const kernel = bootCliKernel();
    const p = cliProc(kernel, 'bpftool');
    const maps: number[] = [];
    const last: { fd: number | null } = { fd: null };
    const globals = argv.filter((a) => GLOBAL_OPTS.includes(a));
    const args = argv.filter((a) => !GLOBAL_OPTS.includes(a));
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
    return runBpftool(p, [...globals, ...args.slice(i)], io);
  },
};
