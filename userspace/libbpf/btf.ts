/**
 * Just enough BTF (include/uapi/linux/btf.h, Documentation/bpf/btf.rst) to read
 * BTF-defined maps out of an object's `.BTF` section. BTF is not loaded into the kernel
 * (bpfkern has no BPF_BTF_LOAD); this only answers "what does the `.maps` variable NAME
 * declare".
 *
 *   struct btf_header { u16 magic 0xeB9F; u8 version 1; u8 flags; u32 hdr_len;
 *                       u32 type_off, type_len, str_off, str_len; }   (offsets after hdr_len)
 *   struct btf_type   { u32 name_off; u32 info (vlen 0..15, kind 24..28, kind_flag 31);
 *                       u32 size_or_type; }  followed by kind-specific data:
 *     INT u32 · ARRAY {type, index_type, nelems} · STRUCT/UNION vlen x {name_off, type, offset}
 *     ENUM vlen x {name_off, val} · FUNC_PROTO vlen x {name_off, type} · VAR {linkage}
 *     DATASEC vlen x {type, offset, size} · DECL_TAG {component_idx} · ENUM64 vlen x 12 bytes
 *
 * A map definition is an anonymous struct whose members encode the attributes in their
 * types: `__uint(type, 2)` is `int (*type)[2]` (PTR -> ARRAY with nelems 2), `__type(key, T)`
 * is `T *key` (PTR -> T, whose size is key_size).
 *
 * Invariants as in elf.ts: every read is bounds-checked (BpfObjectError with the file
 * offset), one pass over the type section, type chains followed at most MAX_CHAIN steps.
 */
import { BpfObjectError } from './elf.js';

export const BTF_KIND = {
  UNKN: 0, INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9,
  CONST: 10, RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, FLOAT: 16, DECL_TAG: 17,
  TYPE_TAG: 18, ENUM64: 19,
} as const;

const BTF_MAGIC = 0xeb9f;
const MAX_CHAIN = 32;

export interface BtfMember {
  name: string;
  type: number;
}

export interface BtfType {
  id: number;
  name: string;
  kind: number;
  vlen: number;
  /** size (INT, STRUCT, UNION, ENUM, DATASEC, FLOAT) or referenced type id (PTR, TYPEDEF, VAR...). */
  sizeOrType: number;
  /** ARRAY: element type and count. */
  array?: { type: number; nelems: number };
  /** STRUCT/UNION members; DATASEC variables as {name: '', type: var id}. */
  members: BtfMember[];
}

export interface Btf {
  types: BtfType[]; // index = type id; [0] is void
  /** Where the section starts in the file, for error offsets. */
  fileOffset: number;
}

/** The attributes a BTF map definition may set (missing ones are undefined). */
export interface BtfMapDef {
  type?: number;
  maxEntries?: number;
  mapFlags?: number;
  keySize?: number;
  valueSize?: number;
}

/** Extra bytes after the 12-byte btf_type for each kind. */
function extraSize(kind: number, vlen: number): number | null {
  switch (kind) {
    case BTF_KIND.INT: case BTF_KIND.VAR: case BTF_KIND.DECL_TAG:
      return 4;
    case BTF_KIND.ARRAY:
      return 12;
    case BTF_KIND.STRUCT: case BTF_KIND.UNION: case BTF_KIND.DATASEC: case BTF_KIND.ENUM64:
      return 12 * vlen;
    case BTF_KIND.ENUM: case BTF_KIND.FUNC_PROTO:
      return 8 * vlen;
    case BTF_KIND.PTR: case BTF_KIND.FWD: case BTF_KIND.TYPEDEF: case BTF_KIND.VOLATILE: case BTF_KIND.CONST:
    case BTF_KIND.RESTRICT: case BTF_KIND.FUNC: case BTF_KIND.FLOAT: case BTF_KIND.TYPE_TAG:
      return 0;
    default:
      return null;
  }
}

export function parseBtf(data: Uint8Array, fileOffset: number): Btf {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const bad = (detail: string, at: number): BpfObjectError => new BpfObjectError('EINVAL', `.BTF: ${detail}`, fileOffset + at);
  const u32 = (at: number): number => {
    if (at < 0 || at + 4 > data.length) throw bad(`truncated (read at ${at} of ${data.length} bytes)`, at);
    return dv.getUint32(at, true);
  };
  if (data.length < 24) throw bad(`header needs 24 bytes, section has ${data.length}`, 0);
  if (dv.getUint16(0, true) !== BTF_MAGIC) throw bad('bad magic (want 0xeb9f little-endian)', 0);
  if (dv.getUint8(2) !== 1) throw bad(`unsupported version ${dv.getUint8(2)}`, 2);
  const hdrLen = u32(4);
  const typeOff = u32(8);
  const typeLen = u32(12);
  const strOff = u32(16);
  const strLen = u32(20);
  if (hdrLen < 24 || hdrLen + typeOff + typeLen > data.length) throw bad('type section is outside the BTF data', 8);
  if (hdrLen + strOff + strLen > data.length) throw bad('string section is outside the BTF data', 16);
  const strBase = hdrLen + strOff;
  const str = (off: number, at: number): string => {
    if (off === 0) return '';
    if (off >= strLen) throw bad(`name offset ${off} is outside the string section (${strLen} bytes)`, at);
    const end = data.indexOf(0, strBase + off);
    if (end < 0 || end >= strBase + strLen) throw bad(`name at ${off} is not NUL-terminated`, at);
    return Buffer.from(data.subarray(strBase + off, end)).toString('latin1');
  };

  const types: BtfType[] = [{ id: 0, name: '', kind: BTF_KIND.UNKN, vlen: 0, sizeOrType: 0, members: [] }];
  const end = hdrLen + typeOff + typeLen;
  // Each iteration consumes at least 12 bytes: at most typeLen / 12 iterations.
  for (let p = hdrLen + typeOff; p < end; ) {
    if (p + 12 > end) throw bad(`type ${types.length} is truncated`, p);
    const info = u32(p + 4);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const extra = extraSize(kind, vlen);
    if (extra === null) throw bad(`type ${types.length} has unknown kind ${kind}`, p + 4);
    if (p + 12 + extra > end) throw bad(`type ${types.length} (kind ${kind}, vlen ${vlen}) is truncated`, p);
    const t: BtfType = { id: types.length, name: str(u32(p), p), kind, vlen, sizeOrType: u32(p + 8), members: [] };
    const x = p + 12;
    if (kind === BTF_KIND.ARRAY) t.array = { type: u32(x), nelems: u32(x + 8) };
    if (kind === BTF_KIND.STRUCT || kind === BTF_KIND.UNION) {
      for (let i = 0; i < vlen; i++) t.members.push({ name: str(u32(x + 12 * i), x + 12 * i), type: u32(x + 12 * i + 4) });
    }
    if (kind === BTF_KIND.DATASEC) for (let i = 0; i < vlen; i++) t.members.push({ name: '', type: u32(x + 12 * i) });
    types.push(t);
    p = x + extra;
  }
  return { types, fileOffset };
}

function typeById(btf: Btf, id: number, what: string): BtfType {
  const t = btf.types[id];
  if (!t) throw new BpfObjectError('EINVAL', `.BTF: ${what} refers to type ${id}, which does not exist`, btf.fileOffset);
  return t;
}

/** Follows typedef/const/volatile/restrict/type_tag to the real type. */
function skipMods(btf: Btf, id: number, what: string): BtfType {
  let t = typeById(btf, id, what);
  for (let n = 0; n < MAX_CHAIN; n++) {
    if (t.kind !== BTF_KIND.TYPEDEF && t.kind !== BTF_KIND.VOLATILE && t.kind !== BTF_KIND.CONST &&
      t.kind !== BTF_KIND.RESTRICT && t.kind !== BTF_KIND.TYPE_TAG) return t;
    t = typeById(btf, t.sizeOrType, what);
  }
  throw new BpfObjectError('EINVAL', `.BTF: ${what}: type chain longer than ${MAX_CHAIN}`, btf.fileOffset);
}

/** btf__resolve_size: the byte size of a type. */
export function btfSize(btf: Btf, id: number, what: string, depth = 0): number {
  if (depth > MAX_CHAIN) throw new BpfObjectError('EINVAL', `.BTF: ${what}: type nesting deeper than ${MAX_CHAIN}`, btf.fileOffset);
  const t = skipMods(btf, id, what);
  switch (t.kind) {
    case BTF_KIND.INT: case BTF_KIND.STRUCT: case BTF_KIND.UNION: case BTF_KIND.ENUM: case BTF_KIND.ENUM64:
    case BTF_KIND.FLOAT: case BTF_KIND.DATASEC:
      return t.sizeOrType;
    case BTF_KIND.PTR:
      return 8;
    case BTF_KIND.ARRAY:
      return t.array!.nelems * btfSize(btf, t.array!.type, what, depth + 1);
    default:
      throw new BpfObjectError('EINVAL', `.BTF: ${what}: type ${id} (kind ${t.kind}) has no size`, btf.fileOffset);
  }
}

/** `int (*name)[N]` -> N. */
function uintMember(btf: Btf, m: BtfMember, what: string): number {
  const ptr = skipMods(btf, m.type, what);
  if (ptr.kind !== BTF_KIND.PTR) throw new BpfObjectError('EINVAL', `.BTF: ${what}: '${m.name}' is not __uint(...)`, btf.fileOffset);
  const arr = skipMods(btf, ptr.sizeOrType, what);
  if (arr.kind !== BTF_KIND.ARRAY) throw new BpfObjectError('EINVAL', `.BTF: ${what}: '${m.name}' is not __uint(...)`, btf.fileOffset);
  return arr.array!.nelems;
}

/** `T *name` -> sizeof(T). */
function typeMember(btf: Btf, m: BtfMember, what: string): number {
  const ptr = skipMods(btf, m.type, what);
  if (ptr.kind !== BTF_KIND.PTR) throw new BpfObjectError('EINVAL', `.BTF: ${what}: '${m.name}' is not __type(...)`, btf.fileOffset);
  return btfSize(btf, ptr.sizeOrType, what);
}

/**
 * The definition of the `.maps` variable `name`: found through the DATASEC `.maps`, its
 * VAR of that name, the VAR's struct. Unknown members (pinning, values, inner maps...)
 * are refused with ENOTSUP so nothing is silently ignored.
 */
export function btfMapDef(btf: Btf, name: string): BtfMapDef {
  const what = `map '${name}'`;
  const sec = btf.types.find((t) => t.kind === BTF_KIND.DATASEC && t.name === '.maps');
  if (!sec) throw new BpfObjectError('EINVAL', `.BTF has no DATASEC '.maps' for ${what}`, btf.fileOffset);
  const v = sec.members.map((m) => typeById(btf, m.type, what)).find((t) => t.kind === BTF_KIND.VAR && t.name === name);
  if (!v) throw new BpfObjectError('EINVAL', `.BTF: no variable for ${what} in '.maps'`, btf.fileOffset);
  const def = skipMods(btf, v.sizeOrType, what);
  if (def.kind !== BTF_KIND.STRUCT) throw new BpfObjectError('EINVAL', `.BTF: ${what} is not a struct`, btf.fileOffset);
  const out: BtfMapDef = {};
  for (const m of def.members) {
    switch (m.name) {
      case 'type':
        out.type = uintMember(btf, m, what);
        break;
      case 'max_entries':
        out.maxEntries = uintMember(btf, m, what);
        break;
      case 'map_flags':
        out.mapFlags = uintMember(btf, m, what);
        break;
      case 'key_size':
        out.keySize = uintMember(btf, m, what);
        break;
      case 'value_size':
        out.valueSize = uintMember(btf, m, what);
        break;
      case 'key':
        out.keySize = typeMember(btf, m, what);
        break;
      case 'value':
        out.valueSize = typeMember(btf, m, what);
        break;
      default:
        throw new BpfObjectError('EOPNOTSUPP', `${what}: BTF map attribute '${m.name}' is not supported`, btf.fileOffset);
    }
  }
  return out;
}
