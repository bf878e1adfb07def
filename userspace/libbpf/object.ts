/**
 * bpf_object__open: an ELF object from `clang -target bpf` turned into what the kernel
 * wants — map definitions and one instruction array per program, relocated. Nothing here
 * talks to the kernel; load.ts does (BPF_MAP_CREATE, BPF_PROG_LOAD).
 *
 * What an object holds and how each part is read:
 *
 *   SEC("socket") ...        executable sections other than .text: programs. Each STT_FUNC
 *                            symbol in the section is one program (its name); the section
 *                            name gives the program type (SECTION_DEFS).
 *   .text                    subprograms. A program that calls into .text (R_BPF_64_32 on
 *                            a BPF_PSEUDO_CALL) or takes a callback's address (R_BPF_64_64
 *                            on LD_IMM64) gets the whole of .text appended after its own
 *                            code, and the call's imm is rewritten relative to the copy.
 *   license, version         the license string, the kernel version (u32).
 *   maps                     legacy map definitions: struct bpf_map_def {type, key_size,
 *                            value_size, max_entries, map_flags}, one per symbol.
 *   .maps                    BTF-defined maps: the definition is read from .BTF (btf.ts).
 *   .rodata* .data* .bss*    global data: each non-empty section becomes a one-element
 *                            array map whose value is the section ("<obj>.rodata"); .rodata
 *                            is created BPF_F_RDONLY_PROG and frozen after it is filled.
 *
 * Relocated programs refer to maps by *index* into `maps`: an LD_IMM64 whose src is
 * BPF_PSEUDO_MAP_FD (the map) or BPF_PSEUDO_MAP_VALUE (an address inside its value, the
 * offset in the second slot's imm) carries the map's index in imm. `withMapFds` swaps the
 * indexes for fds just before BPF_PROG_LOAD; bpftool's mount backend swaps them for ids.
 */
import {
  BPF_CALL, BPF_JMP, BPF_PROG_TYPE, BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE,
  decodeInsns, isLdImm64, type Insn,
} from '../../kernel/bpf/isa.js';
import { btfMapDef, parseBtf, type Btf } from './btf.js';
import {
  BpfObjectError, R_BPF, SHF_EXECINSTR, SHT, STT, parseElf, type ElfFile, type ElfRel, type ElfSection, type ElfSymbol,
} from './elf.js';

const P = BPF_PROG_TYPE;

/** What a SEC() name means: the program type, and for tracepoints where to attach. */
export interface SectionDef {
  /** `socket` matches `socket` and `socket/...`; a prefix ending in '/' needs something after it. */
  prefix: string;
  type: number;
  attach?: 'tracepoint';
}

/** The section names bpfkern knows (libbpf's spellings), one line each. */
export const SECTION_DEFS: readonly SectionDef[] = [
  { prefix: 'socket', type: P.BPF_PROG_TYPE_SOCKET_FILTER },
  { prefix: 'socket_filter', type: P.BPF_PROG_TYPE_SOCKET_FILTER },
  { prefix: 'kprobe/', type: P.BPF_PROG_TYPE_KPROBE },
  { prefix: 'kretprobe/', type: P.BPF_PROG_TYPE_KPROBE },
  { prefix: 'tracepoint/', type: P.BPF_PROG_TYPE_TRACEPOINT, attach: 'tracepoint' },
  { prefix: 'tp/', type: P.BPF_PROG_TYPE_TRACEPOINT, attach: 'tracepoint' },
  { prefix: 'raw_tracepoint/', type: P.BPF_PROG_TYPE_RAW_TRACEPOINT },
  { prefix: 'raw_tp/', type: P.BPF_PROG_TYPE_RAW_TRACEPOINT },
  { prefix: 'perf_event', type: P.BPF_PROG_TYPE_PERF_EVENT },
  { prefix: 'classifier', type: P.BPF_PROG_TYPE_SCHED_CLS },
  { prefix: 'tc', type: P.BPF_PROG_TYPE_SCHED_CLS },
  { prefix: 'action', type: P.BPF_PROG_TYPE_SCHED_ACT },
  { prefix: 'xdp', type: P.BPF_PROG_TYPE_XDP },
  { prefix: 'cgroup_skb/', type: P.BPF_PROG_TYPE_CGROUP_SKB },
  { prefix: 'cgroup/skb', type: P.BPF_PROG_TYPE_CGROUP_SKB },
];

export function sectionDef(section: string): SectionDef | null {
  for (const d of SECTION_DEFS) {
    if (d.prefix.endsWith('/') ? section.startsWith(d.prefix) && section.length > d.prefix.length
      : section === d.prefix || section.startsWith(`${d.prefix}/`)) return d;
  }
  return null;
}

export type MapKind = 'legacy' | 'btf' | 'rodata' | 'data' | 'bss';

export interface MapSpec {
  name: string;
  kind: MapKind;
  /** The ELF section it comes from. */
  section: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  /** Global data: the value of element 0 (the section's bytes, zeros for .bss). */
  initial: Uint8Array | null;
  /** .rodata: BPF_MAP_FREEZE after the initial value is written. */
  freeze: boolean;
}

export interface ProgramSpec {
  /** The function's name (the kernel keeps the first 15 characters). */
  name: string;
  section: string;
  /** From the section name; null when the name is not one of SECTION_DEFS. */
  type: number | null;
  /** tracepoint/<category>/<event>, tp/<category>/<event>. */
  tracepoint: { category: string; event: string } | null;
  /** Relocated; map references carry map indexes (see the file comment). */
  insns: Insn[];
}

export interface BpfObjectSpec {
  /** The object's name: the file name without .o, or 'obj'. */
  name: string;
  license: string;
  kernVersion: number;
  maps: MapSpec[];
  programs: ProgramSpec[];
}

export interface OpenOptions {
  /** Object name (map name prefix of global data): default 'obj'. */
  name?: string;
}

const BPF_MAP_TYPE_ARRAY = 2;
const BPF_F_RDONLY_PROG = 1 << 7;
const BPF_OBJ_NAME_LEN = 16;
const LEGACY_DEF_MIN = 16;
const LEGACY_DEF_FIELDS = 20;
const INSN = 8;
/** The largest global data section made into a map value (4 MiB, Linux's KMALLOC_MAX_SIZE on x86-64). */
const MAX_DATA_SECTION = 4 << 20;

const bad = (detail: string, offset: number | null = null): BpfObjectError => new BpfObjectError('EINVAL', detail, offset);
const unsupported = (detail: string, offset: number | null = null): BpfObjectError =>
  new BpfObjectError('EOPNOTSUPP', detail, offset);

/** Kernel object names: [A-Za-z0-9_.], at most 15 characters. */
export function objName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.]/g, '_').slice(0, BPF_OBJ_NAME_LEN - 1);
}

/** A global data map's name: as much of the object name as fits, then the section name. */
function dataMapName(objNameText: string, section: string): string {
  const sfx = section.slice(0, BPF_OBJ_NAME_LEN - 1);
  const pfx = objNameText.slice(0, Math.max(0, BPF_OBJ_NAME_LEN - 1 - sfx.length));
  return objName(`${pfx}${sfx}`);
}

function dataKind(name: string): MapKind | null {
  if (name === '.rodata' || name.startsWith('.rodata.')) return 'rodata';
  if (name === '.data' || name.startsWith('.data.')) return 'data';
  if (name === '.bss' || name.startsWith('.bss.')) return 'bss';
  return null;
}

/** A NUL-terminated string inside a section (bounded by it). */
function cString(s: ElfSection): string {
  const nul = s.data.indexOf(0);
  return Buffer.from(s.data.subarray(0, nul < 0 ? s.data.length : nul)).toString('latin1');
}

function legacyMaps(elf: ElfFile, sec: ElfSection): MapSpec[] {
  const syms = elf.symbols.filter((s) => s.shndx === sec.index && s.type !== STT.SECTION && s.name !== '')
    .sort((a, b) => a.value - b.value);
  if (syms.length === 0) {
    if (sec.size === 0) return [];
    throw bad(`section 'maps' has ${sec.size} bytes but no map symbols`, sec.offset);
  }
  if (sec.size % syms.length !== 0) throw bad(`section 'maps' size ${sec.size} is not a multiple of its ${syms.length} maps`, sec.offset);
  const defSize = sec.size / syms.length;
  if (defSize < LEGACY_DEF_MIN) throw bad(`bpf_map_def of ${defSize} bytes is too small (need ${LEGACY_DEF_MIN})`, sec.offset);
  const dv = new DataView(sec.data.buffer, sec.data.byteOffset, sec.data.byteLength);
  return syms.map((sym) => {
    const o = sym.value;
    if (o % defSize !== 0 || o + defSize > sec.size) throw bad(`map '${sym.name}' at ${o} is not a whole bpf_map_def`, sec.offset + Math.min(o, sec.size));
    for (let i = LEGACY_DEF_FIELDS; i < defSize; i++) {
      if (sec.data[o + i] !== 0) throw unsupported(`map '${sym.name}': bpf_map_def field at byte ${i} is not supported`, sec.offset + o + i);
    }
    return {
      name: sym.name, kind: 'legacy', section: sec.name,
      type: dv.getUint32(o, true), keySize: dv.getUint32(o + 4, true), valueSize: dv.getUint32(o + 8, true),
      maxEntries: dv.getUint32(o + 12, true), flags: defSize >= LEGACY_DEF_FIELDS ? dv.getUint32(o + 16, true) : 0,
      initial: null, freeze: false,
    };
  });
}

function btfMaps(elf: ElfFile, sec: ElfSection, btf: Btf | null): MapSpec[] {
  const syms = elf.symbols.filter((s) => s.shndx === sec.index && s.type !== STT.SECTION && s.name !== '')
    .sort((a, b) => a.value - b.value);
  if (syms.length > 0 && !btf) throw bad("section '.maps' needs .BTF to describe its maps (compile with -g)", sec.offset);
  return syms.map((sym) => {
    const d = btfMapDef(btf!, sym.name);
    if (d.type === undefined) throw bad(`map '${sym.name}': no map type in its BTF definition`, btf!.fileOffset);
    return {
      name: sym.name, kind: 'btf', section: sec.name, type: d.type, keySize: d.keySize ?? 0, valueSize: d.valueSize ?? 0,
      maxEntries: d.maxEntries ?? 0, flags: d.mapFlags ?? 0, initial: null, freeze: false,
    };
  });
}

/** One relocation resolved against the object: what the instruction must refer to. */
type Target =
  | { kind: 'map'; index: number; offset: number | null } // offset: MAP_VALUE
  | { kind: 'code'; section: number; insn: number };

interface Ctx {
  elf: ElfFile;
  /** Section index -> its map (data sections) or the maps it holds by symbol offset. */
  mapBySection: Map<number, { kind: 'data'; index: number } | { kind: 'defs'; byOffset: Map<number, number> }>;
}

function resolve(ctx: Ctx, sec: ElfSection, rel: ElfRel, insns: Insn[], at: number): Target {
  const sym: ElfSymbol = ctx.elf.symbols[rel.sym]!;
  const where = `${sec.name}+${rel.offset}`;
  const i = insns[at]!;
  const target = ctx.elf.sections[sym.shndx];
  if (sym.shndx === 0 || !target) throw unsupported(`${where}: relocation against extern '${sym.name}' is not supported`, rel.fileOffset);
  const m = ctx.mapBySection.get(sym.shndx);
  if (m) {
    if (!isLdImm64(i) || rel.type !== R_BPF.R_BPF_64_64) throw bad(`${where}: map relocation on an instruction that is not LD_IMM64`, rel.fileOffset);
    if (m.kind === 'data') return { kind: 'map', index: m.index, offset: i.imm + (sym.type === STT.SECTION ? 0 : sym.value) };
    const index = m.byOffset.get(sym.value);
    if (index === undefined) throw bad(`${where}: '${sym.name}' is not a map in ${target.name}`, rel.fileOffset);
    return { kind: 'map', index, offset: null };
  }
  if (target.flags & SHF_EXECINSTR) {
    const isCall = i.code === (BPF_JMP | BPF_CALL) && i.src === BPF_PSEUDO_CALL;
    if (isCall && rel.type !== R_BPF.R_BPF_64_32) throw bad(`${where}: call relocation of type ${rel.type}, want R_BPF_64_32`, rel.fileOffset);
    if (!isCall && !(isLdImm64(i) && rel.type === R_BPF.R_BPF_64_64)) {
      throw bad(`${where}: code relocation on an instruction that is neither a bpf-to-bpf call nor LD_IMM64`, rel.fileOffset);
    }
    if (sym.value % INSN !== 0) throw bad(`${where}: '${sym.name}' is not instruction-aligned`, rel.fileOffset);
    // STT_FUNC: clang leaves imm -1 (call) / 0 (ld_imm64); a section symbol carries the
    // target in imm: (imm + 1) instructions after the call, imm bytes for LD_IMM64.
    const insn = isCall ? sym.value / INSN + i.imm + 1 : (sym.value + (sym.type === STT.SECTION ? i.imm : 0)) / INSN;
    if (!Number.isInteger(insn) || insn < 0 || insn >= target.size / INSN) {
      throw bad(`${where}: call target ${insn} is outside ${target.name}`, rel.fileOffset);
    }
    return { kind: 'code', section: target.index, insn };
  }
  throw unsupported(`${where}: relocation against '${sym.name}' in section '${target.name}' is not supported`, rel.fileOffset);
}

function insnsOf(sec: ElfSection): Insn[] {
  if (sec.size % INSN !== 0) throw bad(`section '${sec.name}' size ${sec.size} is not a multiple of ${INSN}`, sec.offset);
  return decodeInsns(sec.data);
}

/** Applies a map target to the LD_IMM64 at `at`. */
function setMapRef(insns: Insn[], at: number, t: Extract<Target, { kind: 'map' }>): void {
  const lo = insns[at]!;
  const hi = insns[at + 1];
  if (!hi) throw bad(`LD_IMM64 at ${at} has no second slot`);
  lo.src = t.offset === null ? BPF_PSEUDO_MAP_FD : BPF_PSEUDO_MAP_VALUE;
  lo.imm = t.index;
  hi.imm = t.offset ?? 0;
}

/** Parses the object and relocates every program (see the file comment). */
export function openObject(bytes: Uint8Array, opts: OpenOptions = {}): BpfObjectSpec {
  const elf = parseElf(bytes);
  const name = opts.name ?? 'obj';
  const btfSec = elf.section('.BTF');
  const btf = btfSec && btfSec.type === SHT.PROGBITS ? parseBtf(btfSec.data, btfSec.offset) : null;

  const licSec = elf.section('license');
  const license = licSec ? cString(licSec) : '';
  const verSec = elf.section('version');
  let kernVersion = 0;
  if (verSec) {
    if (verSec.size !== 4) throw bad(`section 'version' is ${verSec.size} bytes, want 4`, verSec.offset);
    kernVersion = new DataView(verSec.data.buffer, verSec.data.byteOffset, 4).getUint32(0, true);
  }

  const maps: MapSpec[] = [];
  const ctx: Ctx = { elf, mapBySection: new Map() };
  const defsSection = (sec: ElfSection, list: MapSpec[], syms: number[]): void => {
    const byOffset = new Map<number, number>();
    list.forEach((m, n) => byOffset.set(syms[n]!, maps.length + n));
    maps.push(...list);
    ctx.mapBySection.set(sec.index, { kind: 'defs', byOffset });
  };
  const symOffsets = (sec: ElfSection): number[] =>
    elf.symbols.filter((s) => s.shndx === sec.index && s.type !== STT.SECTION && s.name !== '').map((s) => s.value).sort((a, b) => a - b);
  const legacy = elf.section('maps');
  if (legacy) defsSection(legacy, legacyMaps(elf, legacy), symOffsets(legacy));
  const dotMaps = elf.section('.maps');
  if (dotMaps) defsSection(dotMaps, btfMaps(elf, dotMaps, btf), symOffsets(dotMaps));
  for (const s of elf.sections) {
    const kind = dataKind(s.name);
    if (!kind || s.size === 0 || (s.type !== SHT.PROGBITS && s.type !== SHT.NOBITS)) continue;
    // .bss has no bytes in the file: its size is unchecked until here (KMALLOC_MAX_SIZE-like cap)
    if (s.size > MAX_DATA_SECTION) throw new BpfObjectError('E2BIG', `section '${s.name}' (${s.size} bytes) is too large for a map value`, s.offset);
    ctx.mapBySection.set(s.index, { kind: 'data', index: maps.length });
    maps.push({
      name: dataMapName(name, s.name), kind, section: s.name, type: BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: s.size,
      maxEntries: 1, flags: kind === 'rodata' ? BPF_F_RDONLY_PROG : 0,
      initial: s.type === SHT.NOBITS ? new Uint8Array(s.size) : Uint8Array.from(s.data), freeze: kind === 'rodata',
    });
  }
  const names = new Set<string>();
  for (const m of maps) {
    if (names.has(m.name)) throw bad(`two maps are named '${m.name}'`);
    names.add(m.name);
  }

  // .text: relocated once (its calls are relative inside .text, so any base works).
  const text = elf.section('.text');
  const textExec = text && text.flags & SHF_EXECINSTR && text.size > 0 ? text : null;
  const textInsns = textExec ? insnsOf(textExec) : [];
  const relocate = (sec: ElfSection, insns: Insn[], base: number, end: number, textBase: () => number): void => {
    for (const rel of elf.rels.get(sec.index) ?? []) {
      if (rel.offset % INSN !== 0 || rel.offset >= sec.size) {
        throw bad(`relocation at ${sec.name}+${rel.offset} is not on an instruction`, rel.fileOffset);
      }
      const abs = rel.offset / INSN;
      if (abs < base || abs >= end) continue;
      const at = abs - base;
      const t = resolve(ctx, sec, rel, insns, at);
      if (t.kind === 'map') {
        setMapRef(insns, at, t);
        continue;
      }
      let dest: number;
      if (t.section === sec.index && t.insn >= base && t.insn < end) dest = t.insn - base;
      else if (textExec && t.section === textExec.index) dest = textBase() + t.insn;
      else throw unsupported(`${sec.name}+${rel.offset}: call into another program's code (section ${elf.sections[t.section]!.name})`, rel.fileOffset);
      const i = insns[at]!;
      if (isLdImm64(i)) {
        i.src = BPF_PSEUDO_FUNC;
        i.imm = dest - at - 1;
        insns[at + 1]!.imm = 0;
      } else {
        i.imm = dest - at - 1;
      }
    }
  };
  if (textExec) relocate(textExec, textInsns, 0, textInsns.length, () => 0);

  const programs: ProgramSpec[] = [];
  for (const sec of elf.sections) {
    if (!(sec.flags & SHF_EXECINSTR) || sec.type !== SHT.PROGBITS || sec === textExec || sec.size === 0) continue;
    const all = insnsOf(sec);
    const funcs = elf.symbols.filter((s) => s.shndx === sec.index && s.type === STT.FUNC).sort((a, b) => a.value - b.value);
    const ranges = funcs.length > 0
      ? funcs.map((f, n) => {
        if (f.value % INSN !== 0 || f.value >= sec.size) throw bad(`program '${f.name}' at ${f.value} is outside section '${sec.name}'`, sec.offset);
        const next = funcs[n + 1]?.value ?? sec.size;
        const endByte = f.size > 0 ? Math.min(f.value + f.size, sec.size) : next;
        if (endByte % INSN !== 0) throw bad(`program '${f.name}' size ${f.size} is not a multiple of ${INSN}`, sec.offset + f.value);
        return { name: f.name, start: f.value / INSN, end: endByte / INSN };
      })
      : [{ name: sec.name, start: 0, end: all.length }];
    const def = sectionDef(sec.name);
    for (const r of ranges) {
      const insns = all.slice(r.start, r.end).map((i) => ({ ...i }));
      let appended = false;
      relocate(sec, insns, r.start, r.end, () => {
        appended = true;
        return r.end - r.start;
      });
      if (appended) insns.push(...textInsns.map((i) => ({ ...i })));
      let tracepoint: ProgramSpec['tracepoint'] = null;
      if (def?.attach === 'tracepoint') {
        const [category = '', event = ''] = sec.name.slice(def.prefix.length).split('/');
        if (category && event) tracepoint = { category, event };
      }
      programs.push({ name: r.name, section: sec.name, type: def?.type ?? null, tracepoint, insns });
    }
  }
  if (programs.length === 0) throw bad('object has no programs (no executable section besides .text)');
  return { name, license, kernVersion, maps, programs };
}

/**
 * The program's instructions with map indexes replaced by `refs[index]` (fds for
 * BPF_PROG_LOAD). Only LD_IMM64 map loads change.
 */
export function withMapRefs(prog: ProgramSpec, refs: readonly number[]): Insn[] {
  const out = prog.insns.map((i) => ({ ...i }));
  for (let n = 0; n + 1 < out.length; n++) {
    const i = out[n]!;
    if (!isLdImm64(i)) continue;
    if (i.src === BPF_PSEUDO_MAP_FD || i.src === BPF_PSEUDO_MAP_VALUE) {
      const ref = refs[i.imm];
      if (ref === undefined) throw bad(`program '${prog.name}': instruction ${n} refers to map ${i.imm}, which does not exist`);
      i.imm = ref;
    }
    n++;
  }
  return out;
}
