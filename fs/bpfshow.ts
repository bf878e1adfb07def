/**
 * The text bpftool prints for programs and maps (`prog show`, `prog dump xlated`,
 * `map show`, `map dump`), shared by bpffs (reading a pin) and debugfs
 * (programs/<id>/...). One formatter so both files and the bpftool command agree.
 */
import { dumpXlated } from '../kernel/bpf/disasm.js';
import { xlatedForDump } from '../kernel/bpf/syscall.js';
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
