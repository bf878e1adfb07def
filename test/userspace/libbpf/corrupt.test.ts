/**
 * Bad objects: each corruption of a good fixture fails openObject with a BpfObjectError
 * (errno and, where it is about a place in the file, the offset) — never another
 * exception, never a hang. Then a seeded fuzz: random byte flips and truncations.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BpfObjectError, openObject } from '../../../userspace/libbpf/index.js';

const FIX = join(__dirname, '../../fixtures/elf');
const good = (name: string): Uint8Array => new Uint8Array(readFileSync(join(FIX, `${name}.o`)));
const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** A copy of `name` changed by `edit`. */
function patched(name: string, edit: (b: Uint8Array, d: DataView) => void): Uint8Array {
  const b = good(name).slice();
  edit(b, dv(b));
  return b;
}

/** File offset of section `idx`'s header. */
const shdr = (d: DataView, idx: number): number => Number(d.getBigUint64(0x28, true)) + idx * 64;
/** Index of the section named `name` (read through the real headers). */
function sectionIndex(b: Uint8Array, name: string): number {
  const d = dv(b);
  const n = d.getUint16(0x3c, true);
  const strOff = Number(d.getBigUint64(shdr(d, d.getUint16(0x3e, true)) + 0x18, true));
  for (let i = 0; i < n; i++) {
    const o = strOff + d.getUint32(shdr(d, i), true);
    if (Buffer.from(b.subarray(o, b.indexOf(0, o))).toString() === name) return i;
  }
  throw new Error(`no ${name}`);
}

const CASES: { name: string; obj?: string; bytes: () => Uint8Array; errno?: string; error: RegExp }[] = [
  { name: 'empty file', bytes: () => new Uint8Array(0), error: /shorter than the 64-byte ELF header \(at offset 0x0\)/ },
  { name: 'bad magic', bytes: () => patched('sockfilter_count', (b) => (b[0] = 0)), error: /not an ELF file \(bad magic\) \(at offset 0x0\)/ },
  { name: 'ELF32', bytes: () => patched('sockfilter_count', (b) => (b[4] = 1)), error: /not ELF64 \(EI_CLASS 1\) \(at offset 0x4\)/ },
  { name: 'big-endian', bytes: () => patched('sockfilter_count', (b) => (b[5] = 2)), error: /not little-endian/ },
  { name: 'not relocatable', bytes: () => patched('sockfilter_count', (_, d) => d.setUint16(0x10, 2, true)), error: /not a relocatable object \(e_type 2\) \(at offset 0x10\)/ },
  { name: 'x86-64 object', bytes: () => patched('sockfilter_count', (_, d) => d.setUint16(0x12, 62, true)), error: /not a BPF object \(e_machine 62, want 247\) \(at offset 0x12\)/ },
  { name: 'truncated section headers', bytes: () => good('sockfilter_count').subarray(0, 1000), error: /section header table \(\d+ bytes\) is past the end of the file \(1000 bytes\)/ },
  { name: 'e_shoff huge', bytes: () => patched('sockfilter_count', (_, d) => d.setBigUint64(0x28, 0xffff_ffff_ffffn, true)), error: /section header table .* past the end/ },
  { name: 'e_shoff beyond 2^53', bytes: () => patched('sockfilter_count', (_, d) => d.setBigUint64(0x28, 1n << 60n, true)), error: /e_shoff 0x1000000000000000 is too large \(at offset 0x28\)/ },
  { name: 'bad e_shentsize', bytes: () => patched('sockfilter_count', (_, d) => d.setUint16(0x3a, 40, true)), error: /e_shentsize 40, want 64/ },
  { name: 'e_shstrndx out of range', bytes: () => patched('sockfilter_count', (_, d) => d.setUint16(0x3e, 999, true)), error: /e_shstrndx 999 is not a section/ },
  {
    name: 'section contents past the end',
    bytes: () => patched('sockfilter_count', (b, d) => d.setBigUint64(shdr(d, sectionIndex(b, 'socket')) + 0x20, 1n << 30n, true)),
    error: /contents of section \d+ \(1073741824 bytes\) is past the end/,
  },
  {
    name: 'section name offset outside .strtab',
    bytes: () => patched('sockfilter_count', (b, d) => d.setUint32(shdr(d, sectionIndex(b, 'socket')), 0xfffffff, true)),
    error: /name offset 268435455 is outside its string table/,
  },
  {
    name: 'program section not a multiple of 8',
    bytes: () => patched('sockfilter_count', (b, d) => {
      const h = shdr(d, sectionIndex(b, 'socket'));
      d.setBigUint64(h + 0x20, d.getBigUint64(h + 0x20, true) - 4n, true);
    }),
    error: /is not a multiple of 8|outside section|size \d+ is not a multiple/,
  },
  {
    name: 'relocation naming a missing symbol',
    bytes: () => patched('sockfilter_count', (b, d) => d.setUint32(Number(d.getBigUint64(shdr(d, sectionIndex(b, '.relsocket')) + 0x18, true)) + 12, 5000, true)),
    error: /relocation 0 of \.relsocket names symbol 5000/,
  },
  {
    name: 'relocation off the instructions',
    bytes: () => patched('sockfilter_count', (b, d) => d.setBigUint64(Number(d.getBigUint64(shdr(d, sectionIndex(b, '.relsocket')) + 0x18, true)), 3n, true)),
    error: /relocation at socket\+3 is not on an instruction/,
  },
  {
    name: 'map relocation on a non-LD_IMM64',
    bytes: () => patched('sockfilter_count', (b, d) => d.setBigUint64(Number(d.getBigUint64(shdr(d, sectionIndex(b, '.relsocket')) + 0x18, true)), 0n, true)),
    error: /map relocation on an instruction that is not LD_IMM64/,
  },
  {
    name: 'legacy maps section of the wrong size',
    bytes: () => patched('sockfilter_count', (b, d) => d.setBigUint64(shdr(d, sectionIndex(b, 'maps')) + 0x20, 12n, true)),
    error: /bpf_map_def of 12 bytes is too small|is not a whole bpf_map_def/,
  },
  { name: 'bad BTF magic', bytes: () => patched('tp_signals', (b, d) => d.setUint16(Number(d.getBigUint64(shdr(d, sectionIndex(b, '.BTF')) + 0x18, true)), 0, true)), error: /\.BTF: bad magic/ },
  {
    name: 'BTF type section length past the data',
    bytes: () => patched('tp_signals', (b, d) => d.setUint32(Number(d.getBigUint64(shdr(d, sectionIndex(b, '.BTF')) + 0x18, true)) + 12, 0xffffff, true)),
    error: /\.BTF: type section is outside the BTF data/,
  },
  {
    name: '.bss claiming a terabyte (no file bytes to check it against)',
    bytes: () => patched('calls_globals', (b, d) => d.setBigUint64(shdr(d, sectionIndex(b, '.bss')) + 0x20, 1n << 40n, true)),
    errno: 'E2BIG',
    error: /section '\.bss' \(1099511627776 bytes\) is too large for a map value/,
  },
  {
    name: 'call relocation into nowhere',
    bytes: () => patched('calls_globals', (b, d) => {
      const insn = Number(d.getBigUint64(shdr(d, sectionIndex(b, 'socket')) + 0x18, true)) + 8;
      d.setInt32(insn + 4, 100000, true);
    }),
    error: /call target \d+ is outside \.text/,
  },
];

describe('corrupt objects', () => {
  it.each(CASES)('$name', ({ bytes, error, errno }) => {
    let caught: unknown = null;
    try {
      openObject(bytes());
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(BpfObjectError);
    const e = caught as BpfObjectError;
    expect(e.errno).toBe(errno ?? 'EINVAL');
    expect(e.message).toMatch(error);
  });

  it('an extern symbol (e.g. a kfunc or __ksym) is refused as EOPNOTSUPP', () => {
    const b = patched('sockfilter_count', (bb, d) => {
      // point the relocation's symbol at one whose section is 0 (the null symbol, index 0)
      d.setUint32(Number(d.getBigUint64(shdr(d, sectionIndex(bb, '.relsocket')) + 0x18, true)) + 12, 0, true);
    });
    expect(() => openObject(b)).toThrow(/EOPNOTSUPP: socket\+\d+: relocation against extern '' is not supported/);
  });
});

/** xorshift32: the fuzz is seeded so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

describe('fuzz', () => {
  it.each(['sockfilter_count', 'tp_signals', 'calls_globals'])('%s: random flips and truncations only ever fail cleanly', (name) => {
    const base = good(name);
    const next = rng(0xb0f + base.length);
    const started = Date.now();
    let ok = 0;
    let refused = 0;
    for (let round = 0; round < 400; round++) {
      let b = base.slice();
      const flips = 1 + (next() % 8);
      for (let i = 0; i < flips; i++) {
        // bias towards the headers, where corruption changes the most
        const at = next() % 2 === 0 ? next() % 64 : next() % b.length;
        b[at] = next() & 0xff;
      }
      if (next() % 5 === 0) b = b.subarray(0, next() % b.length);
      try {
        openObject(b);
        ok++;
      } catch (e) {
        if (!(e instanceof BpfObjectError)) throw new Error(`round ${round}: ${String(e)}`, { cause: e });
        refused++;
      }
    }
    expect(ok + refused).toBe(400);
    expect(refused).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});
