import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  assemble, assembleBytes, dataFileProgram, disassembleConformance, parseDataFile,
} from '../../../kernel/bpf/asm.js';
import { encodeInsns, insn, parseHexBytes, toHex } from '../../../kernel/bpf/isa.js';
import { KernelError } from '../../../kernel/errno.js';

const DIR = join(import.meta.dirname, '../../fixtures/conformance');
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.data')).sort();

function expectedHex(name: string): string {
  const bytes = parseHexBytes(readFileSync(join(DIR, 'hex', `${name}.hex`), 'utf8'));
  if (!bytes) throw new Error(`bad hex file for ${name}`);
  return toHex(bytes);
}

describe('conformance suite', () => {
  it('has all 313 files', () => {
    expect(FILES.length).toBe(313);
  });

  it.each(FILES)('%s assembles to hex/NAME.hex and round-trips', (file) => {
    const name = file.replace(/\.data$/, '');
    const df = parseDataFile(readFileSync(join(DIR, file), 'utf8'));
    const want = expectedHex(name);
    // The asm section alone must give the bytes too, even where a raw section exists.
    expect(toHex(assembleBytes(df.asm ?? ''))).toBe(want);
    const prog = dataFileProgram(df);
    expect(toHex(encodeInsns(prog))).toBe(want);
    expect(toHex(assembleBytes(disassembleConformance(prog)))).toBe(want);
  });
});

describe('assemble', () => {
  const cases: { name: string; asm: string; hex: string }[] = [
    { name: 'mov32 imm', asm: 'mov32 %r0, 1', hex: 'b400000001000000' },
    { name: 'mov64 reg', asm: 'mov %r2, %r1', hex: 'bf12000000000000' },
    { name: 'registers without %', asm: 'add r0, r1', hex: '0f10000000000000' },
    { name: 'hex mask imm wraps', asm: 'and32 %r0, 0xffffff80', hex: '5400000080ffffff' },
    { name: 'sdiv has off 1', asm: 'sdiv %r0, 3', hex: '3700010003000000' },
    { name: 'smod32 reg', asm: 'smod32 %r0, %r1', hex: '9c10010000000000' },
    { name: 'neg', asm: 'neg %r3', hex: '8703000000000000' },
    { name: 'neg32', asm: 'neg32 %r3', hex: '8403000000000000' },
    { name: 'movsx1664', asm: 'movsx1664 %r1, %r2', hex: 'bf21100000000000' },
    { name: 'be16', asm: 'be16 %r0', hex: 'dc00000010000000' },
    { name: 'le64', asm: 'le64 %r0', hex: 'd400000040000000' },
    { name: 'bswap32', asm: 'bswap32 %r0', hex: 'd700000020000000' },
    { name: 'ldxw with offset', asm: 'ldxw %r0, [%r1+4]', hex: '6110040000000000' },
    { name: 'ldxsb', asm: 'ldxsb %r0, [%r1-2]', hex: '9110feff00000000' },
    { name: 'stxdw', asm: 'stxdw [%r10-8], %r1', hex: '7b1af8ff00000000' },
    { name: 'stw', asm: 'stw [%r1+2], -1', hex: '62010200ffffffff' },
    { name: 'lddw', asm: 'lddw %r0, 0x123456789', hex: '1800000089674523' + '0000000001000000' },
    { name: 'lddw negative', asm: 'lddw %r1, -1', hex: '18010000ffffffff' + '00000000ffffffff' },
    { name: 'jeq imm +2', asm: 'jeq %r1, 3, +2', hex: '1501020003000000' },
    { name: 'jsgt32 reg -1', asm: 'jsgt32 %r1, %r2, -1', hex: '6e21ffff00000000' },
    { name: 'ja label', asm: 'ja l\nexit\nl: exit', hex: '0500010000000000' + '9500000000000000'.repeat(2) },
    { name: 'gotol = ja32', asm: 'gotol +1\nexit\nexit', hex: '0600000001000000' + '9500000000000000'.repeat(2) },
    { name: 'implicit exit label', asm: 'jeq %r0, 0, exit\nexit', hex: '1500000000000000' + '9500000000000000' },
    { name: 'call helper', asm: 'call 5', hex: '8500000005000000' },
    { name: 'callx', asm: 'callx %r2', hex: '8d02000000000000' },
    { name: 'call local label', asm: 'call local f\nexit\nf: exit', hex: '8510000001000000' + '9500000000000000'.repeat(2) },
    { name: 'lock add', asm: 'lock add [%r10-8], %r1', hex: 'db1af8ff00000000' },
    { name: 'lock fetch xor32', asm: 'lock fetch xor32 [%r10-4], %r3', hex: 'c33afcffa1000000' },
    { name: 'lock cmpxchg', asm: 'lock cmpxchg [%r10-8], %r1', hex: 'db1af8fff1000000' },
    { name: 'ldabsh', asm: 'ldabsh 12', hex: '280000000c000000' },
    { name: 'ldindb', asm: 'ldindb %r1, 2', hex: '5010000002000000' },
    { name: 'comments and label on line', asm: '# c\nstart: mov %r0, 0 # tail\nexit', hex: 'b700000000000000' + '9500000000000000' },
  ];
  it.each(cases)('$name', ({ asm, hex }) => {
    expect(toHex(assembleBytes(asm))).toBe(hex);
  });
});

describe('assemble errors', () => {
  const cases: { name: string; asm: string; msg: string }[] = [
    { name: 'unknown mnemonic', asm: 'mov %r0, 0\nfrob %r0', msg: "line 2: unknown mnemonic 'frob'" },
    { name: 'register 11', asm: 'mov %r11, 0', msg: "line 1: invalid register '%r11'" },
    { name: 'undefined label', asm: 'ja nowhere', msg: "line 1: undefined label 'nowhere'" },
    { name: 'duplicate label', asm: 'a:\na:\nexit', msg: "line 2: duplicate label 'a'" },
    { name: 'too few operands', asm: 'add %r0', msg: "line 1: 'add' takes 2 operands, got 1" },
    { name: 'imm too large', asm: 'mov %r0, 0x100000000', msg: 'line 1: immediate out of range: 4294967296' },
    { name: 'lddw too large', asm: 'lddw %r0, 0x10000000000000000', msg: 'line 1: immediate out of range: 18446744073709551616' },
    { name: 'offset too large', asm: 'ldxw %r0, [%r1+40000]', msg: "line 1: offset out of range in '[%r1+40000]'" },
    { name: 'jump too far', asm: 'ja +40000', msg: 'line 1: jump offset out of range: 40000' },
    { name: 'bad memory operand', asm: 'ldxw %r0, [%r1+]', msg: "line 1: invalid memory operand '[%r1+]'" },
    { name: 'store needs memory', asm: 'stxw %r1, %r2', msg: 'line 1: expected a memory operand [%rN+off]' },
    { name: 'bad atomic', asm: 'lock frob [%r10-8], %r1', msg: "line 1: invalid atomic operation 'lock frob [%r10-8], %r1'" },
    { name: 'fetch xchg', asm: 'lock fetch xchg [%r10-8], %r1', msg: "line 1: 'xchg' always fetches" },
    { name: 'garbage operand', asm: 'mov %r0, $5', msg: "line 1: invalid operand '$5'" },
  ];
  it.each(cases)('$name', ({ asm, msg }) => {
    let err: unknown;
    try {
      assemble(asm);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KernelError);
    expect((err as KernelError).errno).toBe('EINVAL');
    expect((err as KernelError).detail).toBe(msg);
  });
});

describe('disassembleConformance', () => {
  it('prints numeric offsets and canonical operands', () => {
    const text = disassembleConformance(assemble('jeq %r1, 3, l\nldxw %r0, [%r1]\nl: lddw %r2, 0x1122334455667788\nexit'));
    expect(text).toBe('jeq %r1, 3, +1\nldxw %r0, [%r1]\nlddw %r2, 0x1122334455667788\nexit\n');
  });

  const unprintable: { name: string; i: ReturnType<typeof insn>[] }[] = [
    { name: 'unknown opcode', i: [insn(0xff)] },
    { name: 'reserved src on imm ALU', i: [insn(0xb7, 0, 3, 0, 1)] },
    { name: 'pseudo map fd lddw', i: [insn(0x18, 1, 1, 0, 3), insn(0)] },
  ];
  it.each(unprintable)('refuses $name', ({ i }) => {
    expect(() => disassembleConformance(i)).toThrow(/cannot be written in conformance assembly/);
  });
});

describe('parseDataFile', () => {
  it('reads all sections', () => {
    const df = parseDataFile('# c\n-- asm\nmov %r0, 1\nexit\n-- raw\n0x00000001000000b7\n0x0000000000000095\n-- mem\n11 22\n33\n-- result\n0xffffffffffffffff\n');
    expect(df.asm).toBe('mov %r0, 1\nexit');
    expect(df.raw).toEqual([insn(0xb7, 0, 0, 0, 1), insn(0x95)]);
    expect(Array.from(df.mem ?? [])).toEqual([0x11, 0x22, 0x33]);
    expect(df.result).toBe(0xffffffffffffffffn);
  });

  it('reads an error section and decimal results', () => {
    expect(parseDataFile('-- asm\nexit\n-- result\n-1\n').result).toBe(0xffffffffffffffffn);
    expect(parseDataFile('-- asm\nexit\n-- error\ninvalid\n').error).toBe('invalid');
  });

  it('rejects bad mem hex with the line number', () => {
    expect(() => parseDataFile('-- asm\nexit\n-- mem\nzz\n')).toThrow('line 4: invalid hex in mem section');
  });
});
