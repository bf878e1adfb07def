import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assemble, dataFileProgram, parseDataFile } from '../../../kernel/bpf/asm.js';
import { CheckError, checkProgram, isValidOpcode, verificationStats } from '../../../kernel/bpf/check.js';
import { type Insn, decodeInsns, insn, parseHexBytes } from '../../../kernel/bpf/isa.js';
import { type ErrnoName, KernelError } from '../../../kernel/errno.js';

interface Case {
  name: string;
  asm?: string;
  hex?: string;
  errno: ErrnoName | null;
  errstr?: string;
}

function program(c: { asm?: string; hex?: string }): Insn[] {
  if (c.asm !== undefined) return assemble(c.asm);
  const bytes = parseHexBytes(c.hex ?? '');
  if (!bytes) throw new Error('bad hex');
  return decodeInsns(bytes);
}

function outcome(insns: readonly Insn[], opts = {}): { errno: ErrnoName | null; errstr?: string; log?: string } {
  try {
    checkProgram(insns, opts);
    return { errno: null };
  } catch (e) {
    if (!(e instanceof CheckError)) throw e;
    return { errno: e.errno, errstr: e.detail, log: e.log };
  }
}

// Every row was loaded into the host's Linux 6.18 (socket_filter, root) with
// /tmp/oracle/bin/ebpf-run --batch and gave exactly this errno and last log message.
const HOST_VERIFIED: Case[] = [
  { name: 'no exit at end', asm: 'mov %r0, 0\nmov %r0, 0', errno: 'EINVAL', errstr: 'last insn is not an exit or jmp' },
  { name: 'unreachable', asm: 'mov %r0, 0\nja +1\nexit\nexit', errno: 'EINVAL', errstr: 'unreachable insn 2' },
  { name: 'jump out of range fwd', asm: 'mov %r0, 0\nja +5\nexit', errno: 'EINVAL', errstr: 'jump out of range from insn 1 to 7' },
  { name: 'jump out of range back', asm: 'ja -2\nexit', errno: 'EINVAL', errstr: 'jump out of range from insn 0 to -1' },
  { name: 'cond jump out of range', asm: 'mov %r0, 0\njeq %r0, 0, +3\nexit', errno: 'EINVAL', errstr: 'jump out of range from insn 1 to 5' },
  { name: 'unknown opcode ff', hex: 'b700000000000000ff000000000000009500000000000000', errno: 'EINVAL', errstr: 'unknown opcode ff' },
  { name: 'callx unknown', asm: 'mov %r0, 0\ncall %r1\nexit', errno: 'EINVAL', errstr: 'unknown opcode 8d' },
  { name: 'ldx imm set', hex: 'b70000000000000061100000010000009500000000000000', errno: 'EINVAL', errstr: 'BPF_LDX uses reserved fields' },
  { name: 'ldx bad mode', hex: 'b70000000000000021100000000000009500000000000000', errno: 'EINVAL', errstr: 'BPF_LDX uses reserved fields' },
  { name: 'ldx memsx dw', hex: 'b70000000000000099100000000000009500000000000000', errno: 'EINVAL', errstr: 'unknown opcode 99' },
  { name: 'ldimm64 last', hex: 'b70000000000000095000000000000001800000000000000', errno: 'EINVAL', errstr: 'last insn is not an exit or jmp' },
  { name: 'ldimm64 second slot code', hex: 'b7000000000000001801000000000000b7000000000000009500000000000000', errno: 'EINVAL', errstr: 'invalid bpf_ld_imm64 insn' },
  { name: 'ldimm64 second slot off', hex: 'b700000000000000180100000000000000000100000000009500000000000000', errno: 'EINVAL', errstr: 'invalid bpf_ld_imm64 insn' },
  { name: 'jump into ldimm64', asm: 'mov %r0, 0\njeq %r0, 0, +1\nlddw %r1, 0x1\nexit', errno: 'EINVAL', errstr: 'jump into the middle of ldimm64 insn 2' },
  { name: 'ldimm64 src 7', hex: 'b700000000000000187100000000000000000000000000009500000000000000', errno: 'EINVAL', errstr: 'unrecognized bpf_ld_imm64 insn' },
  { name: 'ldimm64 map fd with upper imm', hex: 'b700000000000000181100000300000000000000010000009500000000000000', errno: 'EINVAL', errstr: 'unrecognized bpf_ld_imm64 insn' },
  { name: 'ldimm64 off set', hex: 'b700000000000000180101000000000000000000000000009500000000000000', errno: 'EINVAL', errstr: 'BPF_LD_IMM64 uses reserved fields' },
  { name: 'shift 64', asm: 'mov %r0, 0\nlsh %r0, 64\nexit', errno: 'EINVAL', errstr: 'invalid shift 64' },
  { name: 'shift32 32', asm: 'mov %r0, 0\nrsh32 %r0, 32\nexit', errno: 'EINVAL', errstr: 'invalid shift 32' },
  { name: 'arsh -1', asm: 'mov %r0, 0\narsh %r0, -1\nexit', errno: 'EINVAL', errstr: 'invalid shift -1' },
  { name: 'div by zero', asm: 'mov %r0, 1\ndiv %r0, 0\nexit', errno: 'EINVAL', errstr: 'div by zero' },
  { name: 'mod32 by zero', asm: 'mov %r0, 1\nmod32 %r0, 0\nexit', errno: 'EINVAL', errstr: 'div by zero' },
  { name: 'sdiv by zero', asm: 'mov %r0, 1\nsdiv %r0, 0\nexit', errno: 'EINVAL', errstr: 'div by zero' },
  { name: 'R11 dst', hex: 'b70b0000000000009500000000000000', errno: 'EINVAL', errstr: 'R11 is invalid' },
  { name: 'R12 src', hex: 'b700000000000000bfc00000000000009500000000000000', errno: 'EINVAL', errstr: 'R12 is invalid' },
  { name: 'write r10', asm: 'mov %r10, 0\nexit', errno: 'EACCES', errstr: 'frame pointer is read only' },
  { name: 'ldx into r10', asm: 'mov %r0, 0\nldxdw %r10, [%r1]\nexit', errno: 'EACCES', errstr: 'frame pointer is read only' },
  { name: 'alu imm with src', hex: 'b70000000000000007100000010000009500000000000000', errno: 'EINVAL', errstr: 'BPF_ALU uses reserved fields' },
  { name: 'alu reg with imm', hex: 'b7000000000000000f100000010000009500000000000000', errno: 'EINVAL', errstr: 'BPF_ALU uses reserved fields' },
  { name: 'add with off 1', hex: 'b70000000000000007000100010000009500000000000000', errno: 'EINVAL', errstr: 'BPF_ALU uses reserved fields' },
  { name: 'neg with imm', hex: 'b70000000000000087000000010000009500000000000000', errno: 'EINVAL', errstr: 'BPF_NEG uses reserved fields' },
  { name: 'be8', hex: 'b700000000000000dc000000080000009500000000000000', errno: 'EINVAL', errstr: 'BPF_END uses reserved fields' },
  { name: 'bswap with src', hex: 'b700000000000000d7100000100000009500000000000000', errno: 'EINVAL', errstr: 'BPF_END uses reserved fields' },
  { name: 'movsx32 off 32', hex: 'b700000000000000bc102000000000009500000000000000', errno: 'EINVAL', errstr: 'BPF_MOV uses reserved fields' },
  { name: 'mov imm with off', hex: 'b7000100000000009500000000000000', errno: 'EINVAL', errstr: 'BPF_MOV uses reserved fields' },
  { name: 'mov reg with imm', hex: 'bf100000010000009500000000000000', errno: 'EINVAL', errstr: 'BPF_MOV uses reserved fields' },
  { name: 'addr_space_cast', hex: 'bf100100010000009500000000000000', errno: 'EINVAL', errstr: 'addr_space_cast insn can only be used in a program that has an associated arena' },
  { name: 'stx imm set', hex: 'b700000000000000631afcff010000009500000000000000', errno: 'EINVAL', errstr: 'BPF_STX uses reserved fields' },
  { name: 'st src set', hex: 'b700000000000000621afcff010000009500000000000000', errno: 'EINVAL', errstr: 'BPF_ST uses reserved fields' },
  { name: 'st dst r11', hex: 'b700000000000000620bfcff010000009500000000000000', errno: 'EINVAL', errstr: 'R11 is invalid' },
  { name: 'call dst set', hex: '85010000070000009500000000000000', errno: 'EINVAL', errstr: 'BPF_CALL uses reserved fields' },
  { name: 'call off set', hex: '85000100070000009500000000000000', errno: 'EINVAL', errstr: 'BPF_CALL uses reserved fields' },
  { name: 'call src 3', hex: '85300000070000009500000000000000', errno: 'EINVAL', errstr: 'BPF_CALL uses reserved fields' },
  { name: 'invalid func', asm: 'call 9999\nexit', errno: 'EINVAL', errstr: 'invalid func unknown#9999' },
  { name: 'invalid func negative', asm: 'call -1\nexit', errno: 'EINVAL', errstr: 'invalid func unknown#-1' },
  { name: 'ja imm set', hex: 'b70000000000000005000000010000009500000000000000', errno: 'EINVAL', errstr: 'BPF_JA uses reserved fields' },
  { name: 'gotol off set', hex: 'b70000000000000006000100000000009500000000000000', errno: 'EINVAL', errstr: 'BPF_JA uses reserved fields' },
  { name: 'ja dst set', hex: 'b70000000000000005010000000000009500000000000000', errno: 'EINVAL', errstr: 'BPF_JA uses reserved fields' },
  { name: 'exit imm set', hex: 'b7000000000000009500000001000000', errno: 'EINVAL', errstr: 'BPF_EXIT uses reserved fields' },
  { name: 'exit dst set', hex: 'b7000000000000009501000000000000', errno: 'EINVAL', errstr: 'BPF_EXIT uses reserved fields' },
  { name: 'jeq reg with imm', hex: 'b7000000000000001d000000010000009500000000000000', errno: 'EINVAL', errstr: 'BPF_JMP/JMP32 uses reserved fields' },
  { name: 'jeq imm with src', hex: 'b70000000000000015100000010000009500000000000000', errno: 'EINVAL', errstr: 'BPF_JMP/JMP32 uses reserved fields' },
  { name: 'jeq src r12', hex: 'b7000000000000001dc00000000000009500000000000000', errno: 'EINVAL', errstr: 'R12 is invalid' },
  { name: 'jeq dst r11', hex: 'b700000000000000150b0000000000009500000000000000', errno: 'EINVAL', errstr: 'R11 is invalid' },
  { name: 'call local out of range', asm: 'mov %r0, 0\ncall local +100\nexit', errno: 'EINVAL', errstr: 'call to invalid destination' },
  { name: 'call local negative', asm: 'mov %r0, 0\ncall local -5\nexit', errno: 'EINVAL', errstr: 'call to invalid destination' },
  { name: 'jump into subprog', asm: 'mov %r0, 0\ncall local +2\nja +1\nexit\nmov %r0, 0\nexit', errno: 'EINVAL', errstr: 'jump out of range from insn 2 to 4' },
  { name: 'subprog last not exit', asm: 'mov %r0, 0\ncall local +1\nexit\nmov %r0, 0', errno: 'EINVAL', errstr: 'last insn is not an exit or jmp' },
  { name: 'ldabs dst set', hex: 'bf160000000000002001000002000000b7000000000000009500000000000000', errno: 'EINVAL', errstr: 'BPF_LD_[ABS|IND] uses reserved fields' },
  { name: 'ldabs src set', hex: 'bf160000000000002010000002000000b7000000000000009500000000000000', errno: 'EINVAL', errstr: 'BPF_LD_[ABS|IND] uses reserved fields' },
  { name: 'ldind off set', hex: 'bf16000000000000b70000000000000040000100020000009500000000000000', errno: 'EINVAL', errstr: 'BPF_LD_[ABS|IND] uses reserved fields' },
  { name: 'ldind src r11', hex: 'bf16000000000000b70000000000000040b00000020000009500000000000000', errno: 'EINVAL', errstr: 'R11 is invalid' },
  { name: 'atomic sub', hex: 'b700000000000000db0af8ff100000009500000000000000', errno: 'EINVAL', errstr: 'BPF_ATOMIC uses invalid atomic opcode 10' },
  { name: 'atomic byte', hex: 'b700000000000000d30af8ff000000009500000000000000', errno: 'EINVAL', errstr: 'invalid atomic operand size' },
  { name: 'atomic src r11', hex: 'b700000000000000dbbaf8ff000000009500000000000000', errno: 'EINVAL', errstr: 'R11 is invalid' },
  { name: 'may_goto imm', hex: 'e500000001000000b7000000000000009500000000000000', errno: 'EINVAL', errstr: 'invalid may_goto imm 1' },
  { name: 'jmp32 call', hex: 'b70000000000000086000000000000009500000000000000', errno: 'EINVAL', errstr: 'unknown opcode 86' },
  { name: 'alu64 be', hex: 'b700000000000000df000000100000009500000000000000', errno: 'EINVAL', errstr: 'unknown opcode df' },
  { name: 'pseudo func out of range', hex: 'b700000000000000184100003200000000000000000000009500000000000000', errno: 'EINVAL', errstr: 'call to invalid destination' },
  { name: 'fallthrough error before branch', asm: 'ldxw %r0, [%r1]\njeq %r0, 0, +2\nlsh %r0, 70\nexit\ndiv %r0, 0\nexit', errno: 'EINVAL', errstr: 'invalid shift 70' },
  { name: 'unknown opcode vs last insn', hex: 'b700000000000000ff00000000000000', errno: 'EINVAL', errstr: 'last insn is not an exit or jmp' },
  { name: 'unknown opcode vs jump range', hex: 'b700000000000000ff0000000000000005000500000000009500000000000000', errno: 'EINVAL', errstr: 'jump out of range from insn 2 to 8' },
  { name: 'ldx reserved vs last insn', hex: 'b7000000000000006110000001000000', errno: 'EINVAL', errstr: 'last insn is not an exit or jmp' },
  { name: 'ok: bounded loop', asm: 'mov %r0, 0\nadd %r0, 1\njlt %r0, 10, -2\nexit', errno: null },
  { name: 'ok: subprog', asm: 'mov %r1, 1\ncall local +1\nexit\nmov %r0, %r1\nexit', errno: null },
];

describe('checkProgram: verdicts verified on Linux 6.18', () => {
  it.each(HOST_VERIFIED)('$name', (c) => {
    const got = outcome(program(c));
    expect(got.errno).toBe(c.errno);
    if (c.errno !== null) expect(got.errstr).toBe(c.errstr);
  });
});

describe('checkProgram: cases not run on the host', () => {
  const cases: (Case & { opts?: Parameters<typeof checkProgram>[1] })[] = [
    // Linux gives E2BIG for 0 insns (host-verified) and for more than 1,000,000 (privileged)
    // or 4096 (unprivileged), before any log exists.
    { name: 'empty program', hex: '', errno: 'E2BIG', errstr: 'program has 0 insns (limit 1000000)' },
    { name: 'unprivileged limit', asm: 'mov %r0, 0\n'.repeat(4096) + 'exit', errno: 'E2BIG', errstr: 'program has 4097 insns (limit 4096)', opts: { privileged: false } },
    { name: 'unprivileged back-edge', asm: 'mov %r0, 0\nl: add %r0, 1\njlt %r0, 10, l\nexit', errno: 'EINVAL', errstr: 'back-edge from insn 2 to 1', opts: { privileged: false } },
    { name: 'unprivileged bpf-to-bpf call', asm: 'call local f\nexit\nf: mov %r0, 0\nexit', errno: 'EPERM', errstr: 'loading/calling other bpf or kernel functions are allowed for CAP_BPF and CAP_SYS_ADMIN', opts: { privileged: false } },
    { name: 'kfunc without BTF', hex: '8520000001000000' + '9500000000000000', errno: 'ENOTSUPP', errstr: 'calling kernel function is not supported without CONFIG_DEBUG_INFO_BTF' },
    { name: 'helper not allowed for the type', asm: 'call 7\nexit', errno: 'EINVAL', errstr: 'program of this type cannot use helper bpf_get_prandom_u32#7', opts: { helperAllowed: (id: number) => id === 1 } },
    { name: 'helper allowed for the type', asm: 'call 1\nexit', errno: null, opts: { helperAllowed: (id: number) => id === 1 } },
    { name: 'ld_abs for a type without packets', asm: 'mov %r6, %r1\nldabsb 0\nexit', errno: 'EINVAL', errstr: 'BPF_LD_[ABS|IND] instructions not allowed for this program type', opts: { allowsLdAbs: false } },
    { name: 'btf id load without BTF', hex: '1831000001000000' + '0000000000000000' + '9500000000000000', errno: 'EINVAL', errstr: 'kernel is missing BTF, make sure CONFIG_DEBUG_INFO_BTF=y is specified in Kconfig.' },
    { name: 'map fd load passes to the syscall layer', hex: '1811000003000000' + '0000000000000000' + '9500000000000000', errno: null },
  ];
  it.each(cases)('$name', (c) => {
    const got = outcome(program(c), c.opts ?? {});
    expect(got.errno).toBe(c.errno);
    if (c.errno !== null) expect(got.errstr).toBe(c.errstr);
  });

  it('refuses more than 1,000,000 insns for privileged loaders', () => {
    const prog = new Array<Insn>(1_000_001).fill(insn(0x95));
    expect(outcome(prog).errno).toBe('E2BIG');
  });
});

describe('checkProgram: log and result', () => {
  it('early rejections log the message and the statistics line (as on the host)', () => {
    const got = outcome(program({ asm: 'mov %r0, 0\nmov %r0, 0' }));
    expect(got.log).toBe(`last insn is not an exit or jmp\n${verificationStats(0)}`);
    expect(verificationStats(0)).toBe('processed 0 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n');
  });

  it('path rejections print the failing insn and count the insns walked', () => {
    // Host: "...\n2: (67) r0 <<= 70\ninvalid shift 70\nprocessed 3 insns ..." (its state lines omitted here).
    const got = outcome(program({ asm: 'ldxw %r0, [%r1]\njeq %r0, 0, +2\nlsh %r0, 70\nexit\ndiv %r0, 0\nexit' }));
    expect(got.log).toBe(`2: (67) r0 <<= 70\ninvalid shift 70\n${verificationStats(3)}`);
  });

  it('is a KernelError carrying the errno', () => {
    expect(() => checkProgram(program({ asm: 'mov %r10, 0\nexit' }))).toThrow(KernelError);
  });

  it('reports subprogram starts', () => {
    const res = checkProgram(program({ asm: 'mov %r1, 1\ncall local f\nexit\nf: mov %r0, %r1\nexit' }));
    expect(res).toEqual({ log: '', subprogStarts: [0, 3] });
  });
});

describe('opcode table', () => {
  // From the host: [code 00 00 00 00000000, r0 = 0, exit] for all 256 codes; these
  // answered "unknown opcode %02x" (LDX codes with a bad mode answer "BPF_LDX uses
  // reserved fields" first and are left out).
  const HOST_UNKNOWN = `00 02 03 08 0a 0b 0d 0e 10 12 13 1a 1b 22 23 2a 2b 32 33 38 3a 3b 42 43 4a 4b 52 53
    58 5a 5b 60 68 70 78 80 82 83 86 88 8a 8b 8c 8d 8e 8f 90 92 93 96 98 99 9a 9b 9d 9e a0 a2 a3 a8 aa
    ab b0 b2 b3 b8 ba bb c0 c2 c8 ca d0 d2 d8 da df e0 e2 e3 e4 e6 e7 e8 ea eb ec ed ee ef f0 f2 f3 f4
    f5 f6 f7 f8 fa fb fc fd fe ff`.split(/\s+/).map((h) => parseInt(h, 16));
  const LDX_BAD_MODE = [0x01, 0x09, 0x11, 0x19, 0x21, 0x29, 0x31, 0x39, 0x41, 0x49, 0x51, 0x59,
    0xa1, 0xa9, 0xb1, 0xb9, 0xc1, 0xc9, 0xd1, 0xd9, 0xe1, 0xe9, 0xf1, 0xf9];
  it('matches the host for all 256 codes', () => {
    const unknown = new Set(HOST_UNKNOWN);
    const bad = new Set(LDX_BAD_MODE);
    const mismatches: string[] = [];
    for (let code = 0; code < 256; code++) {
      const expected = !unknown.has(code) && !bad.has(code);
      if (isValidOpcode(code) !== expected) mismatches.push(code.toString(16));
    }
    expect(mismatches).toEqual([]);
  });
});

describe('conformance programs', () => {
  const dir = join(import.meta.dirname, '../../fixtures/conformance');
  // The suite assumes helper 5 and callx exist; Linux has no callx (unknown opcode 8d).
  it.each(['prime', 'subnet', 'call_local', 'lddw', 'lock_cmpxchg', 'ja32', 'callx'])('%s', (name) => {
    const prog = dataFileProgram(parseDataFile(readFileSync(join(dir, `${name}.data`), 'utf8')));
    const got = outcome(prog);
    if (name === 'callx') expect(got.errstr).toBe('unknown opcode 8d');
    else expect(got.errno).toBe(null);
  });
});
