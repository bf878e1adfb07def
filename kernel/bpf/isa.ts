/**
 * The eBPF instruction set as Linux 6.x encodes it (include/uapi/linux/bpf.h,
 * Documentation/bpf/standardization/instruction-set.rst). Constants keep the kernel's
 * spelling so they can be grepped against the man pages and the ISA document.
 *
 * One instruction is 8 bytes, little-endian:
 *
 *   byte  0        1              2..3        4..7
 *        +--------+------+------+-----------+---------------+
 *        | opcode | src  | dst  |  off(s16) |   imm (s32)   |
 *        +--------+------+------+-----------+---------------+
 *                  hi 4b  lo 4b
 *
 * The opcode's low 3 bits are the class. For ALU/JMP classes:
 *
 *     7 6 5 4   3    2 1 0
 *    +-------+-----+-------+
 *    |  op   | src | class |      src: BPF_K (imm) or BPF_X (register)
 *    +-------+-----+-------+
 *
 * For load/store classes:
 *
 *     7 6 5   4 3    2 1 0
 *    +-----+------+-------+
 *    | mode| size | class |
 *    +-----+------+-------+
 *
 * LD_IMM64 (BPF_LD|BPF_IMM|BPF_DW) takes two slots: the second slot's imm is the upper
 * 32 bits and all its other fields must be zero.
 */

export const BPF_CLASS = {
  BPF_LD: 0x00,
  BPF_LDX: 0x01,
  BPF_ST: 0x02,
  BPF_STX: 0x03,
  BPF_ALU: 0x04,
  BPF_JMP: 0x05,
  BPF_JMP32: 0x06,
  BPF_ALU64: 0x07,
} as const;
export const { BPF_LD, BPF_LDX, BPF_ST, BPF_STX, BPF_ALU, BPF_JMP, BPF_JMP32, BPF_ALU64 } = BPF_CLASS;

export const BPF_SIZE = { BPF_W: 0x00, BPF_H: 0x08, BPF_B: 0x10, BPF_DW: 0x18 } as const;
export const { BPF_W, BPF_H, BPF_B, BPF_DW } = BPF_SIZE;

export const BPF_MODE = {
  BPF_IMM: 0x00,
  BPF_ABS: 0x20,
  BPF_IND: 0x40,
  BPF_MEM: 0x60,
  BPF_LEN: 0x80, // classic only
  BPF_MSH: 0xa0, // classic only
  BPF_MEMSX: 0x80, // eBPF sign-extending load (LDX only)
  BPF_ATOMIC: 0xc0,
} as const;
export const { BPF_IMM, BPF_ABS, BPF_IND, BPF_MEM, BPF_LEN, BPF_MSH, BPF_MEMSX, BPF_ATOMIC } = BPF_MODE;

export const BPF_SRC = { BPF_K: 0x00, BPF_X: 0x08 } as const;
export const { BPF_K, BPF_X } = BPF_SRC;

export const BPF_ALU_OP = {
  BPF_ADD: 0x00,
  BPF_SUB: 0x10,
  BPF_MUL: 0x20,
  BPF_DIV: 0x30,
  BPF_OR: 0x40,
  BPF_AND: 0x50,
  BPF_LSH: 0x60,
  BPF_RSH: 0x70,
  BPF_NEG: 0x80,
  BPF_MOD: 0x90,
  BPF_XOR: 0xa0,
  BPF_MOV: 0xb0,
  BPF_ARSH: 0xc0,
  BPF_END: 0xd0,
} as const;
export const {
  BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND, BPF_LSH, BPF_RSH, BPF_NEG, BPF_MOD,
  BPF_XOR, BPF_MOV, BPF_ARSH, BPF_END,
} = BPF_ALU_OP;

/** BPF_END's source bit: BPF_TO_LE (0) / BPF_TO_BE (8); in ALU64 class it is BSWAP. */
export const BPF_TO_LE = 0x00;
export const BPF_TO_BE = 0x08;

export const BPF_JMP_OP = {
  BPF_JA: 0x00,
  BPF_JEQ: 0x10,
  BPF_JGT: 0x20,
  BPF_JGE: 0x30,
  BPF_JSET: 0x40,
  BPF_JNE: 0x50,
  BPF_JSGT: 0x60,
  BPF_JSGE: 0x70,
  BPF_CALL: 0x80,
  BPF_EXIT: 0x90,
  BPF_JLT: 0xa0,
  BPF_JLE: 0xb0,
  BPF_JSLT: 0xc0,
  BPF_JSLE: 0xd0,
} as const;
export const {
  BPF_JA, BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET, BPF_JNE, BPF_JSGT, BPF_JSGE, BPF_CALL, BPF_EXIT,
  BPF_JLT, BPF_JLE, BPF_JSLT, BPF_JSLE,
} = BPF_JMP_OP;

/** Atomic operations live in imm of BPF_STX|BPF_ATOMIC. */
export const BPF_ATOMIC_OP = {
  BPF_ADD: 0x00,
  BPF_OR: 0x40,
  BPF_AND: 0x50,
  BPF_XOR: 0xa0,
  BPF_FETCH: 0x01,
  BPF_XCHG: 0xe0 | 0x01,
  BPF_CMPXCHG: 0xf0 | 0x01,
} as const;
export const BPF_FETCH = 0x01;
export const BPF_XCHG = 0xe1;
export const BPF_CMPXCHG = 0xf1;

/** src_reg of LD_IMM64. */
export const BPF_PSEUDO = {
  BPF_PSEUDO_MAP_FD: 1,
  BPF_PSEUDO_MAP_VALUE: 2,
  BPF_PSEUDO_BTF_ID: 3,
  BPF_PSEUDO_FUNC: 4,
  BPF_PSEUDO_MAP_IDX: 5,
  BPF_PSEUDO_MAP_IDX_VALUE: 6,
} as const;
export const {
  BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE, BPF_PSEUDO_BTF_ID, BPF_PSEUDO_FUNC,
  BPF_PSEUDO_MAP_IDX, BPF_PSEUDO_MAP_IDX_VALUE,
} = BPF_PSEUDO;

/** src_reg of BPF_CALL. */
export const BPF_PSEUDO_CALL = 1;
export const BPF_PSEUDO_KFUNC_CALL = 2;

export const MAX_BPF_REG = 11; // r0..r10
export const BPF_REG_FP = 10;
export const MAX_BPF_STACK = 512;
export const MAX_CALL_FRAMES = 8;
export const MAX_TAIL_CALL_CNT = 33;
export const BPF_MAXINSNS = 4096; // classic limit and the unprivileged eBPF limit
export const BPF_COMPLEXITY_LIMIT_INSNS = 1_000_000;
export const INSN_SIZE = 8;

export const cls = (code: number): number => code & 0x07;
export const aluOp = (code: number): number => code & 0xf0;
export const jmpOp = (code: number): number => code & 0xf0;
export const srcBit = (code: number): number => code & 0x08;
export const sizeOf = (code: number): number => code & 0x18;
export const modeOf = (code: number): number => code & 0xe0;

/** Bytes moved by a load/store of this size field. */
export function sizeBytes(size: number): 1 | 2 | 4 | 8 {
  switch (size) {
    case BPF_B:
      return 1;
    case BPF_H:
      return 2;
    case BPF_W:
      return 4;
    default:
      return 8;
  }
}

/** One decoded instruction slot. off and imm are signed, as in struct bpf_insn. */
export interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

export function insn(code: number, dst = 0, src = 0, off = 0, imm = 0): Insn {
  return { code: code & 0xff, dst: dst & 0xf, src: src & 0xf, off: (off << 16) >> 16, imm: imm | 0 };
}

export function isLdImm64(i: Insn): boolean {
  return i.code === (BPF_LD | BPF_IMM | BPF_DW);
}

/** Decodes raw little-endian bytes; the length must be a multiple of 8. */
export function decodeInsns(bytes: Uint8Array): Insn[] {
  if (bytes.length % INSN_SIZE !== 0) {
    throw new RangeError(`program length ${bytes.length} is not a multiple of ${INSN_SIZE}`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Insn[] = [];
  for (let p = 0; p < bytes.length; p += INSN_SIZE) {
    const regs = dv.getUint8(p + 1);
    out.push({
      code: dv.getUint8(p),
      dst: regs & 0x0f,
      src: regs >> 4,
      off: dv.getInt16(p + 2, true),
      imm: dv.getInt32(p + 4, true),
    });
  }
  return out;
}

export function encodeInsns(insns: readonly Insn[]): Uint8Array {
  const bytes = new Uint8Array(insns.length * INSN_SIZE);
  const dv = new DataView(bytes.buffer);
  insns.forEach((i, n) => {
    const p = n * INSN_SIZE;
    dv.setUint8(p, i.code & 0xff);
    dv.setUint8(p + 1, ((i.src & 0xf) << 4) | (i.dst & 0xf));
    dv.setInt16(p + 2, i.off, true);
    dv.setInt32(p + 4, i.imm, true);
  });
  return bytes;
}

/** Hex text (whitespace, commas and an optional 0x ignored) to bytes; null if not hex. */
export function parseHexBytes(text: string): Uint8Array | null {
  const clean = text.replace(/0x/gi, '').replace(/[\s,]/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) return null;
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

/** The 64-bit immediate of an LD_IMM64 pair, as an unsigned bigint. */
export function ldImm64Value(first: Insn, second: Insn): bigint {
  return (BigInt(second.imm >>> 0) << 32n) | BigInt(first.imm >>> 0);
}

/** Program types (enum bpf_prog_type). */
export const BPF_PROG_TYPE = {
  BPF_PROG_TYPE_UNSPEC: 0,
  BPF_PROG_TYPE_SOCKET_FILTER: 1,
  BPF_PROG_TYPE_KPROBE: 2,
  BPF_PROG_TYPE_SCHED_CLS: 3,
  BPF_PROG_TYPE_SCHED_ACT: 4,
  BPF_PROG_TYPE_TRACEPOINT: 5,
  BPF_PROG_TYPE_XDP: 6,
  BPF_PROG_TYPE_PERF_EVENT: 7,
  BPF_PROG_TYPE_CGROUP_SKB: 8,
  BPF_PROG_TYPE_CGROUP_SOCK: 9,
  BPF_PROG_TYPE_LWT_IN: 10,
  BPF_PROG_TYPE_LWT_OUT: 11,
  BPF_PROG_TYPE_LWT_XMIT: 12,
  BPF_PROG_TYPE_SOCK_OPS: 13,
  BPF_PROG_TYPE_SK_SKB: 14,
  BPF_PROG_TYPE_CGROUP_DEVICE: 15,
  BPF_PROG_TYPE_SK_MSG: 16,
  BPF_PROG_TYPE_RAW_TRACEPOINT: 17,
} as const;

/** Map types (enum bpf_map_type). */
export const BPF_MAP_TYPE = {
  BPF_MAP_TYPE_UNSPEC: 0,
  BPF_MAP_TYPE_HASH: 1,
  BPF_MAP_TYPE_ARRAY: 2,
  BPF_MAP_TYPE_PROG_ARRAY: 3,
  BPF_MAP_TYPE_PERF_EVENT_ARRAY: 4,
  BPF_MAP_TYPE_PERCPU_HASH: 5,
  BPF_MAP_TYPE_PERCPU_ARRAY: 6,
  BPF_MAP_TYPE_STACK_TRACE: 7,
  BPF_MAP_TYPE_CGROUP_ARRAY: 8,
  BPF_MAP_TYPE_LRU_HASH: 9,
  BPF_MAP_TYPE_LRU_PERCPU_HASH: 10,
  BPF_MAP_TYPE_LPM_TRIE: 11,
  BPF_MAP_TYPE_ARRAY_OF_MAPS: 12,
  BPF_MAP_TYPE_HASH_OF_MAPS: 13,
  BPF_MAP_TYPE_DEVMAP: 14,
  BPF_MAP_TYPE_SOCKMAP: 15,
  BPF_MAP_TYPE_CPUMAP: 16,
  BPF_MAP_TYPE_XSKMAP: 17,
  BPF_MAP_TYPE_SOCKHASH: 18,
  BPF_MAP_TYPE_CGROUP_STORAGE: 19,
  BPF_MAP_TYPE_REUSEPORT_SOCKARRAY: 20,
  BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE: 21,
  BPF_MAP_TYPE_QUEUE: 22,
  BPF_MAP_TYPE_STACK: 23,
  BPF_MAP_TYPE_SK_STORAGE: 24,
  BPF_MAP_TYPE_DEVMAP_HASH: 25,
  BPF_MAP_TYPE_STRUCT_OPS: 26,
  BPF_MAP_TYPE_RINGBUF: 27,
} as const;

/** bpf(2) commands (enum bpf_cmd). */
export const BPF_CMD = {
  BPF_MAP_CREATE: 0,
  BPF_MAP_LOOKUP_ELEM: 1,
  BPF_MAP_UPDATE_ELEM: 2,
  BPF_MAP_DELETE_ELEM: 3,
  BPF_MAP_GET_NEXT_KEY: 4,
  BPF_PROG_LOAD: 5,
  BPF_OBJ_PIN: 6,
  BPF_OBJ_GET: 7,
  BPF_PROG_ATTACH: 8,
  BPF_PROG_DETACH: 9,
  BPF_PROG_TEST_RUN: 10,
  BPF_PROG_GET_NEXT_ID: 11,
  BPF_MAP_GET_NEXT_ID: 12,
  BPF_PROG_GET_FD_BY_ID: 13,
  BPF_MAP_GET_FD_BY_ID: 14,
  BPF_OBJ_GET_INFO_BY_FD: 15,
  BPF_PROG_QUERY: 16,
  BPF_RAW_TRACEPOINT_OPEN: 17,
  BPF_BTF_LOAD: 18,
  BPF_BTF_GET_FD_BY_ID: 19,
  BPF_TASK_FD_QUERY: 20,
  BPF_MAP_LOOKUP_AND_DELETE_ELEM: 21,
  BPF_MAP_FREEZE: 22,
  BPF_BTF_GET_NEXT_ID: 23,
  BPF_MAP_LOOKUP_BATCH: 24,
  BPF_MAP_LOOKUP_AND_DELETE_BATCH: 25,
  BPF_MAP_UPDATE_BATCH: 26,
  BPF_MAP_DELETE_BATCH: 27,
  BPF_LINK_CREATE: 28,
} as const;

/** Map update flags. */
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;
export const BPF_F_LOCK = 4;
