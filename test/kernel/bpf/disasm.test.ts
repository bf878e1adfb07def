import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assemble, dataFileProgram, parseDataFile } from '../../../kernel/bpf/asm.js';
import { bpftoolImm64, dumpXlated, formatInsn, funcIdName } from '../../../kernel/bpf/disasm.js';
import { type Insn, decodeInsns, insn, parseHexBytes } from '../../../kernel/bpf/isa.js';

const GOLDEN = join(import.meta.dirname, 'golden');
const CONFORMANCE = join(import.meta.dirname, '../../fixtures/conformance');

/** Compares with golden/NAME; UPDATE_GOLDEN=1 rewrites it (read the diff before committing). */
function expectGolden(name: string, actual: string): void {
  const path = join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(path)) {
    writeFileSync(path, actual);
    if (process.env.UPDATE_GOLDEN !== '1') throw new Error(`golden ${name} was missing and has been written; rerun`);
    return;
  }
  expect(actual).toBe(readFileSync(path, 'utf8'));
}

function hexInsns(hex: string): Insn[] {
  const bytes = parseHexBytes(hex);
  if (!bytes) throw new Error(`bad hex ${hex}`);
  return decodeInsns(bytes);
}

describe('formatInsn matches the Linux 6.18 verifier log', () => {
  // Captured on the host (`ebpf-run --log`); see the header of the file.
  const rows = readFileSync(join(GOLDEN, 'host-insn-text.txt'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => {
      const m = /^([0-9a-f]+)\s+(.*)$/.exec(l);
      if (!m) throw new Error(`bad row ${l}`);
      return { hex: m[1] ?? '', text: m[2] ?? '' };
    });

  it('has the captured rows', () => {
    expect(rows.length).toBeGreaterThan(70);
  });

  it.each(rows)('$hex → $text', ({ hex, text }) => {
    expect(formatInsn(hexInsns(hex), 0)).toBe(text);
  });
});

describe('formatInsn forms not in the host capture', () => {
  const cases: { name: string; insns: Insn[]; text: string; index?: number }[] = [
    { name: 'jmp imm printed as u32', insns: [insn(0x25, 1, 0, 3, -1)], text: '(25) if r1 > 0xffffffff goto pc+3' },
    { name: 'jmp32 reg backwards', insns: [insn(0xce, 1, 2, -1)], text: '(ce) if w1 s< w2 goto pc-1' },
    { name: 'gotol negative', insns: [insn(0x06, 0, 0, 0, -4)], text: '(06) gotol pc-4' },
    { name: 'unknown helper id', insns: [insn(0x85, 0, 0, 0, 9999)], text: '(85) call unknown#9999' },
    { name: 'kfunc call', insns: [insn(0x85, 0, 2, 0, 77)], text: '(85) call kernel-function#77' },
    { name: 'pseudo call backwards', insns: [insn(0x85, 0, 1, 0, -3)], text: '(85) call pc-3' },
    { name: 'ldimm64 default hex', insns: [insn(0x18, 1, 0, 0, 0x123), insn(0)], text: '(18) r1 = 0x123' },
    { name: 'ldimm64 map without ptr leaks', insns: [insn(0x18, 1, 1, 0, 5), insn(0, 0, 0, 0, 1)], text: '(18) r1 = 0x0' },
    { name: 'atomic64 fetch and', insns: [insn(0xdb, 10, 2, -8, 0x51)], text: '(db) r2 = atomic64_fetch_and((u64 *)(r10 -8), r2)' },
    { name: 'store_release', insns: [insn(0xdb, 10, 2, -8, 0x110)], text: '(db) store_release((u64 *)(r10 -8), r2)' },
    { name: 'bad atomic imm', insns: [insn(0xdb, 10, 2, -8, 0x02)], text: 'BUG_db' },
    { name: 'ldx bad mode', insns: [insn(0x21)], text: 'BUG_ldx_21' },
    { name: 'st bad mode', insns: [insn(0x22)], text: 'BUG_st_22' },
    { name: 'ld bad mode', insns: [insn(0x60)], text: 'BUG_ld_60' },
    { name: 'nospec', insns: [insn(0xc2)], text: '(c2) nospec' },
    { name: 'addr_space_cast', insns: [insn(0xbf, 1, 2, 1, 0x10000)], text: '(bf) r1 = addr_space_cast(r2, 1, 0)' },
    { name: 'percpu mov', insns: [insn(0xbf, 1, 2, -1)], text: '(bf) r1 = &(void __percpu *)(r2)' },
    { name: 'movsx off 4 has no cast', insns: [insn(0xbf, 1, 2, 4)], text: '(bf) r1 = r2' },
    { name: 'sdiv by reg', insns: [insn(0x3f, 1, 2, 1)], text: '(3f) r1 s/= r2' },
    { name: 'ld_abs negative', insns: [insn(0x20, 0, 0, 0, -5)], text: '(20) r0 = *(u32 *)skb[-5]' },
  ];
  it.each(cases)('$name', ({ insns, text, index }) => {
    expect(formatInsn(insns, index ?? 0, { allowPtrLeaks: false })).toBe(text);
  });

  it('callName and imm64 callbacks override defaults but not the helper table', () => {
    const insns = [insn(0x85, 0, 0, 0, 1), insn(0x85, 0, 0, 0, 5000), insn(0x85, 0, 1, 0, 2)];
    const opts = { callName: (i: Insn) => `cb${i.imm}` };
    expect([0, 1, 2].map((n) => formatInsn(insns, n, opts))).toEqual([
      '(85) call bpf_map_lookup_elem#1',
      '(85) call cb5000#5000',
      '(85) call pccb2',
    ]);
  });

  it('funcIdName covers the frozen helper list', () => {
    expect(funcIdName(1)).toBe('bpf_map_lookup_elem');
    expect(funcIdName(12)).toBe('bpf_tail_call');
    expect(funcIdName(181)).toBe('bpf_loop');
    expect(funcIdName(211)).toBe('bpf_cgrp_storage_delete');
    expect(funcIdName(212)).toBe('unknown');
    expect(funcIdName(-1)).toBe('unknown');
  });
});

describe('dumpXlated (bpftool prog dump xlated)', () => {
  it('prints map ids the way bpftool does', () => {
    const prog = [
      insn(0x18, 1, 1, 0, 3), insn(0),
      insn(0x18, 2, 2, 0, 3), insn(0, 0, 0, 0, 16),
      insn(0x18, 3, 0, 0, 0x1000), insn(0),
      insn(0x18, 4, 4, 0, 2), insn(0),
      insn(0x85, 0, 0, 0, 1),
      insn(0x85, 0, 0, 0, 300),
      insn(0x95),
    ];
    const text = dumpXlated(prog, {
      helperName: (id) => (id === 300 ? 'bpfkern_special' : undefined),
      mapOf: (a) => (a === 0x1000n ? { id: 7, off: 4, value: true } : undefined),
    });
    expect(text).toBe([
      '   0: (18) r1 = map[id:3]',
      '   2: (18) r2 = map[id:3][0]+16',
      '   4: (18) r3 = map[id:7][0]+4',
      '   6: (18) r4 = subprog[+2]',
      '   8: (85) call bpf_map_lookup_elem#1',
      '   9: (85) call bpf_bpfkern_special#300',
      '  10: (95) exit',
      '',
    ].join('\n'));
  });

  it('prints opcodes under each line when asked', () => {
    const text = dumpXlated(assemble('lddw %r0, 0x1122334455667788\nexit'), { opcodes: true });
    expect(text).toBe([
      '   0: (18) r0 = 0x1122334455667788',
      '       18 00 00 00 88 77 66 55 00 00 00 00 44 33 22 11',
      '   2: (95) exit',
      '       95 00 00 00 00 00 00 00',
      '',
    ].join('\n'));
  });

  it('bpftoolImm64 falls back to hex', () => {
    expect(bpftoolImm64(insn(0x18), insn(0), 0xabcn)).toBe('0xabc');
  });

  const programs = ['prime', 'subnet', 'call_local', 'lddw', 'callx', 'ja32', 'lock_cmpxchg', 'lock_fetch_xor32', 'movsx3264-reg', 'rfc9669_bswap16'];
  it.each(programs)('conformance %s matches golden/xlated-%s.txt', (name) => {
    const prog = dataFileProgram(parseDataFile(readFileSync(join(CONFORMANCE, `${name}.data`), 'utf8')));
    expectGolden(`xlated-${name}.txt`, dumpXlated(prog));
  });
});
