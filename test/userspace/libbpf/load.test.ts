/**
 * The checked-in objects in test/fixtures/elf (built by clang -O2 -g -target bpf) opened
 * with openObject and loaded through bpf(2) from a mini-OS process with loadObject, then
 * run: PROG_TEST_RUN for the socket filters, real signals through the tracing subsystem
 * (perf_event_open + BPF_LINK_CREATE) for the tracepoint programs. Map contents are read
 * back with BPF_MAP_LOOKUP_ELEM. Both engines.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../../index.js';
import { fsOf } from '../../../fs/api.js';
import { BPF_MAP_TYPE, BPF_PROG_TYPE, BPF_PSEUDO_CALL, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE, isLdImm64 } from '../../../kernel/bpf/isa.js';
import { bpfMapGetNextKey, bpfMapLookup, bpfProgTestRun } from '../../../userspace/libc/bpf.js';
import { sys, type Proc } from '../../../userspace/libc/process.js';
import { attachTracepoint, loadObject, openObject, type BpfObjectSpec } from '../../../userspace/libbpf/index.js';

const FIX = join(__dirname, '../../fixtures/elf');
const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(join(FIX, `${name}.o`)));
const open = (name: string): BpfObjectSpec => openObject(fixture(name), { name });

function proc(jit: 0 | 1): Proc {
  const kernel = bootKernel({ seed: 11 });
  kernel.sysctl.bpfJitEnable = jit;
  return { kernel, task: kernel.tasks.spawn({ comm: 'loader' }) };
}

const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
const u64At = (b: Uint8Array, off = 0): bigint => new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(off, true);

async function lookupU64(p: Proc, fd: number, key: number): Promise<bigint | null> {
  const v = await bpfMapLookup(p, fd, u32(key), 8);
  return v ? u64At(v) : null;
}

/** A minimal Ethernet + IPv4 frame of `len` bytes. */
function packet(len: number): Uint8Array {
  const b = new Uint8Array(len);
  b[12] = 0x08;
  b[14] = 0x45;
  return b;
}

describe('openObject on the fixtures', () => {
  it('sockfilter_count.o: one socket program, a legacy map, the license', () => {
    const o = open('sockfilter_count');
    expect(o.license).toBe('GPL');
    expect(o.maps).toEqual([
      expect.objectContaining({ name: 'counters', kind: 'legacy', type: BPF_MAP_TYPE.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 2, flags: 0 }),
    ]);
    expect(o.programs.map((p) => [p.name, p.section, p.type])).toEqual([['count_packets', 'socket', BPF_PROG_TYPE.BPF_PROG_TYPE_SOCKET_FILTER]]);
    const refs = o.programs[0]!.insns.filter((i) => isLdImm64(i) && i.src === BPF_PSEUDO_MAP_FD);
    expect(refs.map((i) => i.imm)).toEqual([0, 0]);
  });

  it('tp_signals.o: two tracepoint programs and two BTF-defined maps', () => {
    const o = open('tp_signals');
    expect(o.license).toBe('Dual BSD/GPL');
    expect(o.maps.map((m) => [m.name, m.kind, m.type, m.keySize, m.valueSize, m.maxEntries])).toEqual([
      ['sig_counts', 'btf', BPF_MAP_TYPE.BPF_MAP_TYPE_HASH, 4, 8, 64],
      ['delivered', 'btf', BPF_MAP_TYPE.BPF_MAP_TYPE_ARRAY, 4, 8, 1],
    ]);
    expect(o.programs.map((p) => [p.name, p.type, p.tracepoint])).toEqual([
      ['count_sigs', BPF_PROG_TYPE.BPF_PROG_TYPE_TRACEPOINT, { category: 'signal', event: 'signal_generate' }],
      ['count_deliver', BPF_PROG_TYPE.BPF_PROG_TYPE_TRACEPOINT, { category: 'signal', event: 'signal_deliver' }],
    ]);
  });

  it('calls_globals.o: .text appended, the call relocated, .rodata/.data/.bss as array maps', () => {
    const o = open('calls_globals');
    expect(o.maps.map((m) => [m.name, m.kind, m.valueSize, m.flags, m.freeze])).toEqual([
      // libbpf's naming: as much of the object name as fits in 15 characters, then the section
      ['calls_gl.rodata', 'rodata', 8, 0x80, true],
      ['calls_glob.data', 'data', 8, 0, false],
      ['calls_globa.bss', 'bss', 8, 0, false],
    ]);
    expect(Array.from(o.maps[0]!.initial!)).toEqual([3, 0, 0, 0, 1, 0, 0, 0]);
    expect(u64At(o.maps[1]!.initial!)).toBe(100n);
    const prog = o.programs[0]!;
    expect(prog.name).toBe('calls_and_globals');
    const call = prog.insns.findIndex((i) => i.src === BPF_PSEUDO_CALL && i.code === 0x85);
    // the program is 3 insns; bump is the first function of the appended .text
    expect(call + 1 + prog.insns[call]!.imm).toBe(3);
    const values = prog.insns.filter((i) => isLdImm64(i) && i.src === BPF_PSEUDO_MAP_VALUE);
    expect(values.map((i) => i.imm)).toEqual([2, 1, 0, 0]); // calls(.bss) total(.data) factor bias(.rodata)
  });
});

describe.each([0, 1] as const)('loadObject (bpf_jit_enable=%i)', (jit) => {
  it('the socket filter counts packets and bytes in its array map (PROG_TEST_RUN)', async () => {
    const p = proc(jit);
    const obj = await loadObject(p, open('sockfilter_count'));
    const prog = obj.program('count_packets');
    for (const len of [60, 100, 1500]) {
      const r = await bpfProgTestRun(p, prog.fd, { data: packet(len) });
      expect(r.retval).toBe(len - 14); // skb->len after eth_type_trans, as Linux's test_run
    }
    const m = obj.map('counters').fd;
    expect(await lookupU64(p, m, 0)).toBe(3n);
    expect(await lookupU64(p, m, 1)).toBe(46n + 86n + 1486n);
    await obj.close();
  });

  it('the tracepoint program counts signals by number in its hash map', async () => {
    const p = proc(jit);
    const obj = await loadObject(p, open('tp_signals'));
    const link = await attachTracepoint(p, obj.program('count_sigs'));
    const target = p.kernel.tasks.spawn({ comm: 'victim' });
    // signals whose default action is to ignore them, so the target lives on
    for (const sig of [17, 28, 17, 17, 28, 23]) expect(await sys(p, 'kill', target.pid, sig)).toBe(0);
    const m = obj.map('sig_counts').fd;
    expect(await lookupU64(p, m, 17)).toBe(3n);
    expect(await lookupU64(p, m, 28)).toBe(2n);
    expect(await lookupU64(p, m, 23)).toBe(1n);
    expect(await lookupU64(p, m, 9)).toBeNull();
    const keys: number[] = [];
    for (let k = await bpfMapGetNextKey(p, m, null, 4); k; k = await bpfMapGetNextKey(p, m, k, 4)) keys.push(new DataView(k.buffer).getUint32(0, true));
    expect(keys.sort((a, b) => a - b)).toEqual([17, 23, 28]);
    await link.destroy();
    expect(await sys(p, 'kill', target.pid, 17)).toBe(0);
    expect(await lookupU64(p, m, 17)).toBe(3n);
    await obj.close();
  });

  it('bpf-to-bpf call and global data: .data and .bss change, .rodata is frozen', async () => {
    const p = proc(jit);
    const obj = await loadObject(p, open('calls_globals'));
    const prog = obj.program('calls_and_globals');
    expect(prog.name).toBe('calls_and_globa'); // the kernel keeps 15 characters
    let total = 100n;
    for (const len of [60, 64, 200]) {
      total += BigInt(len - 14) * 3n + 1n;
      const r = await bpfProgTestRun(p, prog.fd, { data: packet(len) });
      expect(r.retval).toBe(Number(total & 0xffffffffn));
    }
    expect(await lookupU64(p, obj.map('.data').fd, 0)).toBe(total);
    expect(await lookupU64(p, obj.map('.bss').fd, 0)).toBe(3n);
    const ro = await bpfMapLookup(p, obj.map('calls_gl.rodata').fd, u32(0), 8);
    expect(Array.from(ro!)).toEqual([3, 0, 0, 0, 1, 0, 0, 0]);
    const fs = fsOf(p.kernel);
    const roId = fs.readdirSync('/sys/kernel/debug/bpfkern/maps').find((id: string) =>
      fs.readFileSync(`/sys/kernel/debug/bpfkern/maps/${id}/info`, 'utf8').includes('calls_gl.rodata'));
    expect(fs.readFileSync(`/sys/kernel/debug/bpfkern/maps/${roId}/info`, 'utf8')).toMatch(/frozen/);
    await obj.close();
  });
});

describe('the fixtures are what their C sources compile to', () => {
  let clang = false;
  try {
    execFileSync('clang', ['--version'], { stdio: 'ignore' });
    clang = true;
  } catch {
    clang = false;
  }
  it.skipIf(!clang).each(['sockfilter_count', 'tp_signals', 'calls_globals'])('%s.c', (name) => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfkern-elf-'));
    const out = join(dir, `${name}.o`);
    execFileSync('clang', ['-O2', '-g', '-target', 'bpf', '-c', join(FIX, `${name}.c`), '-o', out], { cwd: FIX });
    // Debug info records paths and versions; compare what the loader reads.
    const strip = (o: BpfObjectSpec): unknown => ({ ...o, maps: o.maps.map((m) => ({ ...m, initial: m.initial ? Array.from(m.initial) : null })) });
    expect(strip(openObject(new Uint8Array(readFileSync(out)), { name }))).toEqual(strip(open(name)));
  });
});
