/**
 * An ELF64 little-endian relocatable object, read the way a BPF loader needs it: section
 * headers (by index and by name), the symbol table, and SHT_REL relocation sections.
 * Nothing else of ELF (program headers, dynamic linking, big-endian, ELF32) exists here.
 *
 * Byte layout (System V gABI, elf.h):
 *
 *   Elf64_Ehdr  0x00 e_ident[16]   7f 'E' 'L' 'F', EI_CLASS 2 (64), EI_DATA 1 (LE), EI_VERSION 1
 *               0x10 e_type u16    1 = ET_REL          0x12 e_machine u16   247 = EM_BPF
 *               0x28 e_shoff u64   0x3a e_shentsize u16 (64)  0x3c e_shnum u16  0x3e e_shstrndx u16
 *   Elf64_Shdr  0x00 sh_name u32  0x04 sh_type u32  0x08 sh_flags u64  0x18 sh_offset u64
 *               0x20 sh_size u64  0x28 sh_link u32  0x2c sh_info u32    0x38 sh_entsize u64
 *   Elf64_Sym   0x00 st_name u32  0x04 st_info u8 (bind << 4 | type)  0x06 st_shndx u16
 *               0x08 st_value u64 0x10 st_size u64                                 (24 bytes)
 *   Elf64_Rel   0x00 r_offset u64 0x08 r_info u64 (sym << 32 | type)                (16 bytes)
 *
 * Invariants: every offset read is checked against the buffer first, so a truncated or
 * corrupt object fails with a BpfObjectError (EINVAL, naming the file offset) and never
 * reads out of range; every loop runs over a count that was checked against the file
 * size, so parsing is linear in the input and cannot hang.
 */
import type { ErrnoName } from '../../kernel/errno.js';

/** A refusal to open or load an object: the errno libbpf would return, and where in the file. */
export class BpfObjectError extends Error {
  constructor(
    readonly errno: ErrnoName,
    readonly detail: string,
    readonly offset: number | null = null,
  ) {
    super(`${errno}: ${detail}${offset === null ? '' : ` (at offset 0x${offset.toString(16)})`}`);
    this.name = 'BpfObjectError';
  }
}

export const EM_BPF = 247;
export const ET_REL = 1;
export const SHT = { NULL: 0, PROGBITS: 1, SYMTAB: 2, STRTAB: 3, RELA: 4, NOBITS: 8, REL: 9 } as const;
export const SHF_WRITE = 0x1;
export const SHF_ALLOC = 0x2;
export const SHF_EXECINSTR = 0x4;
export const STT = { NOTYPE: 0, OBJECT: 1, FUNC: 2, SECTION: 3, FILE: 4 } as const;
export const STB_GLOBAL = 1;
/** Relocation types of the BPF backend (llvm BPFELFObjectWriter). */
export const R_BPF = { NONE: 0, R_BPF_64_64: 1, R_BPF_64_ABS64: 2, R_BPF_64_ABS32: 3, R_BPF_64_NODYLD32: 4, R_BPF_64_32: 10 } as const;

const EHDR_SIZE = 64;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;
const REL_SIZE = 16;
/** SHN_LORESERVE: section indexes from here up are special (ABS, COMMON, XINDEX). */
const SHN_LORESERVE = 0xff00;

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: number;
  /** File offset of the contents (meaningless for SHT_NOBITS). */
  offset: number;
  size: number;
  link: number;
  info: number;
  entsize: number;
  /** The contents: size zero bytes for SHT_NOBITS. A view into the file, not a copy. */
  data: Uint8Array;
}

export interface ElfSymbol {
  index: number;
  name: string;
  bind: number;
  type: number;
  /** Section index (0 undefined, >= 0xff00 special). */
  shndx: number;
  value: number;
  size: number;
}

export interface ElfRel {
  /** Offset inside the target section. */
  offset: number;
  type: number;
  sym: number;
  /** Where the entry is in the file (for error messages). */
  fileOffset: number;
}

export interface ElfFile {
  bytes: Uint8Array;
  sections: ElfSection[];
  symbols: ElfSymbol[];
  /** Relocations by the index of the section they apply to. */
  rels: Map<number, ElfRel[]>;
  section(name: string): ElfSection | undefined;
}

const bad = (detail: string, offset: number | null = null): BpfObjectError => new BpfObjectError('EINVAL', detail, offset);

/** A bounds-checked little-endian reader over the file. */
class Reader {
  readonly dv: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(off: number, len: number, what: string): void {
    if (!Number.isSafeInteger(off) || off < 0 || len < 0 || off + len > this.bytes.length) {
      throw bad(`${what} (${len} bytes) is past the end of the file (${this.bytes.length} bytes)`, off);
    }
  }
  u8(off: number): number {
    this.need(off, 1, 'byte');
    return this.dv.getUint8(off);
  }
  u16(off: number): number {
    this.need(off, 2, 'u16');
    return this.dv.getUint16(off, true);
  }
  u32(off: number): number {
    this.need(off, 4, 'u32');
    return this.dv.getUint32(off, true);
  }
  /** A u64 that must fit a safe integer (offsets and sizes in a file that fits in memory). */
  u64(off: number, what: string): number {
    this.need(off, 8, what);
    const v = this.dv.getBigUint64(off, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(`${what} 0x${v.toString(16)} is too large`, off);
    return Number(v);
  }
}

/** A NUL-terminated name at `off` in a string table section; bounded by the table. */
function strAt(strtab: ElfSection | undefined, off: number, where: number): string {
  if (!strtab) throw bad('no string table for names', where);
  if (off >= strtab.data.length) throw bad(`name offset ${off} is outside its string table (${strtab.data.length} bytes)`, where);
  const end = strtab.data.indexOf(0, off);
  if (end < 0) throw bad(`name at string table offset ${off} is not NUL-terminated`, where);
  return Buffer.from(strtab.data.subarray(off, end)).toString('latin1');
}

/** Parses the headers, the symbol table and the REL sections; contents stay views into `bytes`. */
export function parseElf(bytes: Uint8Array): ElfFile {
  const r = new Reader(bytes);
  if (bytes.length < EHDR_SIZE) throw bad(`file is ${bytes.length} bytes, shorter than the 64-byte ELF header`, 0);
  if (r.u32(0) !== 0x464c457f) throw bad('not an ELF file (bad magic)', 0);
  if (r.u8(4) !== 2) throw bad(`not ELF64 (EI_CLASS ${r.u8(4)})`, 4);
  if (r.u8(5) !== 1) throw bad(`not little-endian (EI_DATA ${r.u8(5)})`, 5);
  if (r.u8(6) !== 1) throw bad(`bad EI_VERSION ${r.u8(6)}`, 6);
  if (r.u16(0x10) !== ET_REL) throw bad(`not a relocatable object (e_type ${r.u16(0x10)})`, 0x10);
  if (r.u16(0x12) !== EM_BPF) throw bad(`not a BPF object (e_machine ${r.u16(0x12)}, want ${EM_BPF})`, 0x12);
  const shoff = r.u64(0x28, 'e_shoff');
  const shentsize = r.u16(0x3a);
  const shnum = r.u16(0x3c);
  const shstrndx = r.u16(0x3e);
  if (shnum === 0) throw bad('no section headers (e_shnum 0; extended numbering is not supported)', 0x3c);
  if (shentsize !== SHDR_SIZE) throw bad(`e_shentsize ${shentsize}, want ${SHDR_SIZE}`, 0x3a);
  r.need(shoff, shnum * SHDR_SIZE, 'section header table');
  if (shstrndx >= shnum) throw bad(`e_shstrndx ${shstrndx} is not a section (e_shnum ${shnum})`, 0x3e);

  const sections: ElfSection[] = [];
  for (let i = 0; i < shnum; i++) {
    const h = shoff + i * SHDR_SIZE;
    const type = r.u32(h + 4);
    const offset = r.u64(h + 0x18, 'sh_offset');
    const size = r.u64(h + 0x20, 'sh_size');
    if (type !== SHT.NOBITS && type !== SHT.NULL) r.need(offset, size, `contents of section ${i}`);
    sections.push({
      index: i,
      name: '',
      type,
      flags: r.u64(h + 8, 'sh_flags'),
      offset,
      size,
      link: r.u32(h + 0x28),
      info: r.u32(h + 0x2c),
      entsize: r.u64(h + 0x38, 'sh_entsize'),
      data: type === SHT.NOBITS || type === SHT.NULL ? new Uint8Array(0) : bytes.subarray(offset, offset + size),
    });
  }
  const shstr = sections[shstrndx]!;
  if (shstr.type !== SHT.STRTAB) throw bad(`section ${shstrndx} (e_shstrndx) is not a string table`, shoff + shstrndx * SHDR_SIZE);
  for (const s of sections) s.name = strAt(shstr, r.u32(shoff + s.index * SHDR_SIZE), shoff + s.index * SHDR_SIZE);

  const symtabs = sections.filter((s) => s.type === SHT.SYMTAB);
  if (symtabs.length > 1) throw bad('more than one symbol table', symtabs[1]!.offset);
  const symbols: ElfSymbol[] = [];
  const symtab = symtabs[0];
  if (symtab) {
    if (symtab.size % SYM_SIZE !== 0) throw bad(`symbol table size ${symtab.size} is not a multiple of ${SYM_SIZE}`, symtab.offset);
    const strtab = sections[symtab.link];
    if (!strtab || strtab.type !== SHT.STRTAB) throw bad(`symbol table's sh_link ${symtab.link} is not a string table`, symtab.offset);
    for (let i = 0; i < symtab.size / SYM_SIZE; i++) {
      const o = symtab.offset + i * SYM_SIZE;
      const info = r.u8(o + 4);
      const shndx = r.u16(o + 6);
      if (shndx !== 0 && shndx < SHN_LORESERVE && shndx >= shnum) throw bad(`symbol ${i} is in section ${shndx}, which does not exist`, o + 6);
      symbols.push({
        index: i,
        name: strAt(strtab, r.u32(o), o),
        bind: info >> 4,
        type: info & 0xf,
        shndx,
        value: r.u64(o + 8, 'st_value'),
        size: r.u64(o + 16, 'st_size'),
      });
    }
  }

  const rels = new Map<number, ElfRel[]>();
  for (const s of sections) {
    if (s.type === SHT.RELA) throw bad(`section ${s.name}: SHT_RELA relocations are not used by the BPF backend`, s.offset);
    if (s.type !== SHT.REL) continue;
    if (s.size % REL_SIZE !== 0) throw bad(`relocation section ${s.name} size ${s.size} is not a multiple of ${REL_SIZE}`, s.offset);
    if (s.info === 0 || s.info >= shnum) throw bad(`relocation section ${s.name} applies to section ${s.info}, which does not exist`, s.offset);
    if (s.link !== symtab?.index) throw bad(`relocation section ${s.name} does not use the symbol table`, s.offset);
    const list: ElfRel[] = rels.get(s.info) ?? [];
    for (let i = 0; i < s.size / REL_SIZE; i++) {
      const o = s.offset + i * REL_SIZE;
      const offset = r.u64(o, 'r_offset');
      const type = r.u32(o + 8);
      const sym = r.u32(o + 12);
      if (sym >= symbols.length) throw bad(`relocation ${i} of ${s.name} names symbol ${sym} (the table has ${symbols.length})`, o + 12);
      list.push({ offset, type, sym, fileOffset: o });
    }
    rels.set(s.info, list);
  }

  const byName = new Map<string, ElfSection>();
  for (const s of sections) if (!byName.has(s.name)) byName.set(s.name, s);
  return { bytes, sections, symbols, rels, section: (name) => byName.get(name) };
}
