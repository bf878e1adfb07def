/**
 * A small libbpf: open an ELF object from `clang -target bpf` (openObject), load it into a
 * kernel through bpf(2) from a mini-OS process (loadObject), attach tracepoint programs
 * (attachTracepoint). See README.md.
 */
export { BpfObjectError, parseElf, EM_BPF, R_BPF, type ElfFile, type ElfSection, type ElfSymbol, type ElfRel } from './elf.js';
export { parseBtf, btfMapDef, BTF_KIND, type Btf, type BtfMapDef } from './btf.js';
export {
  openObject, withMapRefs, sectionDef, SECTION_DEFS, objName,
  type BpfObjectSpec, type MapSpec, type MapKind, type ProgramSpec, type OpenOptions, type SectionDef,
} from './object.js';
export {
  loadObject, loadProgram, createMap, attachTracepoint,
  type LoadOptions, type LoadedObject, type LoadedMap, type LoadedProgram, type TracepointLink,
} from './load.js';
