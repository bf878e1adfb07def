/**
 * The text bpftool prints for programs and maps (`prog show`, `prog dump xlated`,
 * `map show`, `map dump`), shared by bpffs (reading a pin) and debugfs
 * (programs/<id>/...). One formatter so both files and the bpftool command agree.
 */
import { dumpXlated, type DumpOptions } from '../kernel/bpf/disasm.js';
import type { Insn } from '../kernel/bpf/isa.js';
import { mapInfo, progInfo, xlatedForDump } from '../kernel/bpf/syscall.js';
import { pinnedPaths } from '../kernel/bpf/pins.js';
import type { BpfMap, BpfProg } from '../kernel/bpf/types.js';
import type { Kernel } from '../kernel/kernel.js';
import { KernelError } from '../kernel/errno.js';

/** Wall-clock base for loaded_at: deterministic, so trace and bpftool output repeat. */
const BOOT_EPOCH_MS = Date.UTC(2024, 0, 1);

function loadedAt(ns: bigint): string {
  const d = new Date(BOOT_EPOCH_MS + Number(ns / 1_000_000n));
  return d.toISOString().replace(/\.\d{3}Z$/, '+0000');
}

const INSN_SIZE = 8;

/** `bpftool prog show` for one program (plain output). */
export function progShow(kernel: Kernel, prog: BpfProg): string {
  const lines = [
    `${prog.id}: ${prog.type.name}  ${prog.name ? `name ${prog.name}  ` : ''}tag ${prog.tag}${prog.gplCompatible ? '  gpl' : ''}`,
    `\tloaded_at ${loadedAt(prog.loadTimeNs)}  uid ${prog.uid}`,
  ];
  const jit = prog.jited ? `jited ${prog.jited.size}B` : 'not jited';
  const maps = prog.usedMaps.length > 0 ? `  map_ids ${prog.usedMaps.map((m) => m.id).join(',')}` : '';
  lines.push(`\txlated ${prog.xlated.length * INSN_SIZE}B  ${jit}  memlock 4096B${maps}`);
  for (const p of pinnedPaths(kernel, prog)) lines.push(`\tpinned ${p}`);
  return lines.join('\n') + '\n';
}

/** `bpftool prog dump xlated` (map addresses shown as map[id:N], as bpftool does). */
export function progXlated(kernel: Kernel, prog: BpfProg): string {
  return dumpXlated(xlatedForDump(kernel, prog), {
    helperName: (id) => prog.helpers.get(id)?.name?.replace(/^bpf_/, ''),
  });
}

/** `bpftool prog dump jited`: the JIT's own listing, or why there is none. */
export function progJited(prog: BpfProg): string {
  if (prog.jited) return prog.jited.dump();
  return `no instructions returned${prog.jitError ? ` (${prog.jitError})` : ''}\n`;
}

/** `bpftool map show` for one map. */
export function mapShow(kernel: Kernel, map: BpfMap): string {
  const a = map.attr;
  const lines = [
    `${map.id}: ${map.ops.name}  ${map.name ? `name ${map.name}  ` : ''}flags 0x${a.mapFlags.toString(16)}`,
    `\tkey ${a.keySize}B  value ${a.valueSize}B  max_entries ${a.maxEntries}  memlock 4096B${map.frozen ? '  frozen' : ''}`,
  ];
  for (const p of pinnedPaths(kernel, map)) lines.push(`\tpinned ${p}`);
  return lines.join('\n') + '\n';
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** `bpftool map dump` without BTF: `key: .. value: ..` lines and the element count. */
export function mapDump(kernel: Kernel, map: BpfMap, limit = 4096): string {
  const { keySize } = map.attr;
  const impl = map.impl;
  const valueSize = impl.syscallValueSize;
  const mem = kernel.mem;
  const cur = mem.alloc(Math.max(keySize, 1));
  const next = mem.alloc(Math.max(keySize, 1));
  const out = mem.alloc(Math.max(valueSize, 1));
  const lines: string[] = [];
  try {
    let have = false;
    let n = 0;
    while (n < limit && impl.getNextKey(have ? cur : -1, next)) {
      mem.write(cur, mem.bytes(next, keySize).slice());
      have = true;
      const key = mem.bytes(cur, keySize).slice();
      let value: string;
      try {
        if (impl.lookupSyscall) impl.lookupSyscall(cur, out);
        else {
          const v = impl.lookup(cur, 0);
          if (v < 0) throw new KernelError('ENOENT', 'element vanished');
          mem.write(out, mem.bytes(v, valueSize).slice());
        }
        value = `value: ${hex(mem.bytes(out, valueSize))}`;
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
        value = `value: <${e.errno === 'ENOENT' ? 'no entry' : 'cannot be read'}>`;
      }
      lines.push(`key: ${hex(key)}  ${value}`);
      n++;
    }
    lines.push(`Found ${n} element${n === 1 ? '' : 's'}`);
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    lines.push(`Error: can't dump map: ${e.detail}`);
  } finally {
    mem.free(cur);
    mem.free(next);
    mem.free(out);
  }
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------
// Machine-readable forms for bpftool over files (debugfs programs/<id>/info.json,
// maps/<id>/info.json): struct bpf_prog_info / bpf_map_info as BPF_OBJ_GET_INFO_BY_FD
// fills them, bigints as decimal strings and byte arrays as hex.

function jsonable(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  return v;
}

/** programs/<id>/info.json: bpf_prog_info plus the pins. */
export function progInfoJson(kernel: Kernel, prog: BpfProg): string {
  const info: Record<string, unknown> = { ...progInfo(kernel, prog) };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(info)) out[k] = jsonable(v);
  out['pinned'] = pinnedPaths(kernel, prog);
  return `${JSON.stringify(out)}\n`;
}

/** maps/<id>/info.json: bpf_map_info plus the pins and the CPU count per-CPU values use. */
export function mapInfoJson(kernel: Kernel, map: BpfMap): string {
  return `${JSON.stringify({ ...mapInfo(map), ncpus: kernel.ncpus, pinned: pinnedPaths(kernel, map) })}\n`;
}

// ---------------------------------------------------------------------------------------
// `bpftool prog dump xlated ... visual`: the control-flow graph in DOT (bpftool cfg.c).
// Functions start at insn 0 and at every bpf-to-bpf call target; a basic block starts at
// a function start, a jump target and after a conditional jump; ENTRY is block 0 and
// EXIT block 1 of each function; edges are the fall-through then the jump.

const isJmpClass = (code: number): boolean => (code & 7) === 0x05 || (code & 7) === 0x06;
const OP = (code: number): number => code & 0xf0;
const JA = 0x00;
const CALL = 0x80;
const EXIT = 0x90;
const PSEUDO_CALL = 1;

interface Block {
  idx: number;
  head: number;
  tail: number;
}

/** print_insn_for_graph: `\l\` at line ends, `<>|&` escaped for record labels. */
function graphEscape(text: string): string {
  return text.replace(/[<>|&]/g, (c) => `\\${c}`);
}

export function dumpXlatedVisual(insns: readonly Insn[], opts: DumpOptions = {}): string {
  const n = insns.length;
  const starts = new Set<number>([0]);
  insns.forEach((i, pc) => {
    if (i.code === (0x05 | CALL) && i.src === PSEUDO_CALL) {
      const t = pc + i.imm + 1;
      if (t >= 0 && t < n) starts.add(t);
    }
  });
  const funcStarts = [...starts].sort((a, b) => a - b);
  let out = 'digraph "DOT graph for eBPF program" {\n';
  funcStarts.forEach((start, fidx) => {
    const end = (funcStarts[fidx + 1] ?? n) - 1;
    const heads = new Set<number>([start]);
    for (let pc = start; pc <= end; pc++) {
      const i = insns[pc]!;
      if (!isJmpClass(i.code)) continue;
      const op = OP(i.code);
      if (op === EXIT || op === CALL) continue;
      const t = pc + i.off + 1;
      if (t >= start && t <= end) heads.add(t);
      if (op !== JA && pc + 1 <= end) heads.add(pc + 1);
    }
    const sorted = [...heads].sort((a, b) => a - b);
    const blocks: Block[] = sorted.map((head, k) => ({ idx: k + 2, head, tail: (sorted[k + 1] ?? end + 1) - 1 }));
    const byHead = new Map(blocks.map((b) => [b.head, b]));
    out += `subgraph "cluster_${fidx}" {\n\tstyle="dashed";\n\tcolor="black";\n\tlabel="func_${fidx} ()";\n`;
    out += `\tfn_${fidx}_bb_0 [shape=Mdiamond,style=filled,label="ENTRY"];\n\n`;
    for (const b of blocks) {
      const lines: string[] = [];
      for (let pc = b.head; pc <= b.tail; pc++) {
        const i = insns[pc]!;
        lines.push(`${pc - start}: ${graphEscape(dumpOne(insns, pc, opts))}\\l\\\n`);
        if (i.code === 0x18) pc++;
      }
      out += `\tfn_${fidx}_bb_${b.idx} [shape=record,style=filled,label="{${lines.join('| ')}}"];\n\n`;
    }
    out += `\tfn_${fidx}_bb_1 [shape=Mdiamond,style=filled,label="EXIT"];\n\n`;
    const edge = (from: number, to: number): string =>
      `\tfn_${fidx}_bb_${from}:s -> fn_${fidx}_bb_${to}:n [style="solid,bold", color=black, weight=10, constraint=true];\n`;
    out += edge(0, blocks[0]?.idx ?? 1);
    blocks.forEach((b, k) => {
      const next = blocks[k + 1]?.idx ?? 1;
      let last = b.tail;
      // the tail of a block ending in LD_IMM64 is its second slot: look at the first
      if (last > b.head && insns[last - 1]?.code === 0x18) last--;
      const i = insns[last]!;
      if (!isJmpClass(i.code) || OP(i.code) === EXIT || OP(i.code) === CALL) {
        out += edge(b.idx, next);
        return;
      }
      const target = byHead.get(last + i.off + 1)?.idx;
      if (OP(i.code) === JA) {
        if (target !== undefined) out += edge(b.idx, target);
        return;
      }
      out += edge(b.idx, next);
      if (target !== undefined) out += edge(b.idx, target);
    });
    out += `\tfn_${fidx}_bb_0:s -> fn_${fidx}_bb_1:n [style="invis", constraint=true];\n}\n`;
  });
  return `${out}}\n`;
}

/** One instruction as dumpXlated prints it, without the `% 4d: ` prefix and newline. */
function dumpOne(insns: readonly Insn[], pc: number, opts: DumpOptions): string {
  const line = dumpXlated(insns.slice(pc, pc + 2), opts).split('\n')[0] ?? '';
  return line.replace(/^\s*\d+: /, '');
}
