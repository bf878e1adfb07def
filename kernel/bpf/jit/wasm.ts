/**
 * A small WebAssembly binary encoder: just what the JIT emits (MVP integer instructions,
 * the sign-extension operators, one imported memory, mutable globals, functions).
 *
 * Function bodies are written through `Body`, which appends the binary encoding and, when
 * asked, the same instruction as a line of WebAssembly text (the WAT printer). Text is
 * only produced for `bpftool prog dump jited` (the JIT compiles a second time with text
 * on), so the hot compile path only touches bytes.
 *
 * Opcode numbers are those of the WebAssembly core specification, section 5.4
 * ("Instructions"); section ids and type codes are section 5.5 / 5.3.
 */

/** Instruction opcodes (single byte). Names are the text-format mnemonics. */
export const Op = {
  unreachable: 0x00,
  nop: 0x01,
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  br_if: 0x0d,
  br_table: 0x0e,
  return: 0x0f,
  call: 0x10,
  drop: 0x1a,
  select: 0x1b,
  local_get: 0x20,
  local_set: 0x21,
  local_tee: 0x22,
  global_get: 0x23,
  global_set: 0x24,
  i32_load: 0x28,
  i64_load: 0x29,
  i32_load8_s: 0x2c,
  i32_load8_u: 0x2d,
  i32_load16_s: 0x2e,
  i32_load16_u: 0x2f,
  i64_load8_s: 0x30,
  i64_load8_u: 0x31,
  i64_load16_s: 0x32,
  i64_load16_u: 0x33,
  i64_load32_s: 0x34,
  i64_load32_u: 0x35,
  i32_store: 0x36,
  i64_store: 0x37,
  i32_store8: 0x3a,
  i32_store16: 0x3b,
  i64_store8: 0x3c,
  i64_store16: 0x3d,
  i64_store32: 0x3e,
  i32_const: 0x41,
  i64_const: 0x42,
  i32_eqz: 0x45,
  i32_eq: 0x46,
  i32_ne: 0x47,
  i32_lt_s: 0x48,
  i32_lt_u: 0x49,
  i32_gt_s: 0x4a,
  i32_gt_u: 0x4b,
  i32_le_s: 0x4c,
  i32_le_u: 0x4d,
  i32_ge_s: 0x4e,
  i32_ge_u: 0x4f,
  i64_eqz: 0x50,
  i64_eq: 0x51,
  i64_ne: 0x52,
  i64_lt_s: 0x53,
  i64_lt_u: 0x54,
  i64_gt_s: 0x55,
  i64_gt_u: 0x56,
  i64_le_s: 0x57,
  i64_le_u: 0x58,
  i64_ge_s: 0x59,
  i64_ge_u: 0x5a,
  i32_add: 0x6a,
  i32_sub: 0x6b,
  i32_mul: 0x6c,
  i32_div_s: 0x6d,
  i32_div_u: 0x6e,
  i32_rem_s: 0x6f,
  i32_rem_u: 0x70,
  i32_and: 0x71,
  i32_or: 0x72,
  i32_xor: 0x73,
  i32_shl: 0x74,
  i32_shr_s: 0x75,
  i32_shr_u: 0x76,
  i32_rotl: 0x77,
  i32_rotr: 0x78,
  i64_add: 0x7c,
  i64_sub: 0x7d,
  i64_mul: 0x7e,
  i64_div_s: 0x7f,
  i64_div_u: 0x80,
  i64_rem_s: 0x81,
  i64_rem_u: 0x82,
  i64_and: 0x83,
  i64_or: 0x84,
  i64_xor: 0x85,
  i64_shl: 0x86,
  i64_shr_s: 0x87,
  i64_shr_u: 0x88,
  i64_rotl: 0x89,
  i64_rotr: 0x8a,
  i32_wrap_i64: 0xa7,
  i64_extend_i32_s: 0xac,
  i64_extend_i32_u: 0xad,
  i32_extend8_s: 0xc0,
  i32_extend16_s: 0xc1,
  i64_extend8_s: 0xc2,
  i64_extend16_s: 0xc3,
  i64_extend32_s: 0xc4,
} as const;
export type OpCode = (typeof Op)[keyof typeof Op];

/** Text mnemonic by opcode byte (`i64_add` is printed `i64.add`). */
const OP_NAME: string[] = [];
// `i64_load8_u` prints `i64.load8_u`: only the first underscore of a typed name is a dot.
for (const [name, code] of Object.entries(Op)) {
  const dot = name.indexOf('_');
  const typed = /^(i32|i64|local|global)_/.test(name);
  OP_NAME[code] = typed ? name.slice(0, dot) + '.' + name.slice(dot + 1) : name;
}

export function opName(code: number): string {
  return OP_NAME[code] ?? `0x${code.toString(16)}`;
}

export const ValType = { i32: 0x7f, i64: 0x7e } as const;
export type ValType = (typeof ValType)[keyof typeof ValType];
const VALTYPE_NAME: Record<number, string> = { 0x7f: 'i32', 0x7e: 'i64' };
export const BLOCK_VOID = 0x40;

/** Growable byte buffer with LEB128 writers. */
export class ByteWriter {
  buf: Uint8Array;
  len = 0;
  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
  }
  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  u8(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }
  /** Unsigned LEB128 of a non-negative integer below 2^32. */
  u32(n: number): void {
    this.ensure(5);
    let v = n >>> 0;
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      this.buf[this.len++] = b;
    } while (v !== 0);
  }
  /** Signed LEB128 of a 32-bit integer. */
  s32(n: number): void {
    this.ensure(5);
    let v = n | 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
        this.buf[this.len++] = b;
        return;
      }
      this.buf[this.len++] = b | 0x80;
    }
  }
  /** Signed LEB128 of a 64-bit value (taken modulo 2^64, as i64.const reads it). */
  s64(n: bigint): void {
    this.ensure(10);
    let v = BigInt.asIntN(64, n);
    for (;;) {
      const b = Number(v & 0x7fn);
      v >>= 7n;
      if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) {
        this.buf[this.len++] = b;
        return;
      }
      this.buf[this.len++] = b | 0x80;
    }
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  name(s: string): void {
    const b = new TextEncoder().encode(s);
    this.u32(b.length);
    this.bytes(b);
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/**
 * One function body under construction. Every emitting method appends the encoding to
 * `w` and, when `text` is not null, one line of WebAssembly text at the current nesting.
 * `localNames` names locals in the text (`$r0`); labels are printed as relative depths,
 * which is what the binary holds.
 */
export class Body {
  readonly w = new ByteWriter(1024);
  private depth = 2;
  constructor(
    readonly text: string[] | null,
    private readonly localNames: readonly string[] = [],
  ) {}

  private line(s: string): void {
    if (this.text !== null) this.text.push(' '.repeat(this.depth * 2) + s);
  }

  comment(s: string): void {
    if (this.text !== null) this.line(`;; ${s}`);
  }

  op(code: OpCode): void {
    this.w.u8(code);
    if (this.text !== null) {
      if (code === Op.end || code === Op.else) this.depth--;
      this.line(opName(code));
      if (code === Op.else) this.depth++;
    }
  }

  /** block / loop / if with an empty or single-value result type. */
  open(code: typeof Op.block | typeof Op.loop | typeof Op.if, result: ValType | null = null): void {
    this.w.u8(code);
    this.w.u8(result ?? BLOCK_VOID);
    if (this.text !== null) {
      this.line(result === null ? opName(code) : `${opName(code)} (result ${VALTYPE_NAME[result]})`);
      this.depth++;
    }
  }

  end(): void {
    this.op(Op.end);
  }

  local(code: typeof Op.local_get | typeof Op.local_set | typeof Op.local_tee, idx: number): void {
    this.w.u8(code);
    this.w.u32(idx);
    if (this.text !== null) this.line(`${opName(code)} ${this.localNames[idx] ?? idx}`);
  }

  global(code: typeof Op.global_get | typeof Op.global_set, idx: number, name: string): void {
    this.w.u8(code);
    this.w.u32(idx);
    if (this.text !== null) this.line(`${opName(code)} $${name}`);
  }

  br(code: typeof Op.br | typeof Op.br_if, depth: number): void {
    this.w.u8(code);
    this.w.u32(depth);
    if (this.text !== null) this.line(`${opName(code)} ${depth}`);
  }

  brTable(depths: readonly number[], dflt: number): void {
    this.w.u8(Op.br_table);
    this.w.u32(depths.length);
    for (const d of depths) this.w.u32(d);
    this.w.u32(dflt);
    if (this.text !== null) this.line(`br_table ${depths.join(' ')} ${dflt}`);
  }

  call(idx: number, name: string): void {
    this.w.u8(Op.call);
    this.w.u32(idx);
    if (this.text !== null) this.line(`call $${name}`);
  }

  i32Const(v: number): void {
    this.w.u8(Op.i32_const);
    this.w.s32(v);
    if (this.text !== null) this.line(`i32.const ${v | 0}`);
  }

  /** i64.const of a value that fits in a signed 32-bit integer (the common case). */
  i64ConstSmall(v: number): void {
    this.w.u8(Op.i64_const);
    this.w.s32(v);
    if (this.text !== null) this.line(`i64.const ${v | 0}`);
  }

  i64Const(v: bigint): void {
    const s = BigInt.asIntN(64, v);
    if (s >= -0x80000000n && s <= 0x7fffffffn) {
      this.i64ConstSmall(Number(s));
      return;
    }
    this.w.u8(Op.i64_const);
    this.w.s64(s);
    if (this.text !== null) this.line(`i64.const ${s < 0n ? '-0x' + (-s).toString(16) : '0x' + s.toString(16)}`);
  }

  /** Loads and stores: memarg is (log2 alignment hint, constant offset). */
  mem(code: OpCode, offset: number): void {
    this.w.u8(code);
    this.w.u32(0);
    this.w.u32(offset);
    if (this.text !== null) this.line(`${opName(code)} offset=${offset} align=1`);
  }
}

// ---------------------------------------------------------------------------------------
// Module assembly

export interface FuncType {
  params: readonly ValType[];
  results: readonly ValType[];
}

export interface ModuleSpec {
  types: readonly FuncType[];
  /** Imported functions (by type index), in function-index order. */
  funcImports: readonly { module: string; name: string; type: number }[];
  /** The imported memory (module, name); minimum 1 page, no maximum. */
  memory: { module: string; name: string };
  /** Defined functions: type index, extra locals (beyond params) and the body bytes. */
  funcs: readonly { type: number; locals: readonly ValType[]; body: Uint8Array }[];
  /** Defined mutable globals with zero initial values. */
  globals: readonly ValType[];
  exports: readonly { name: string; kind: 'func' | 'global'; index: number }[];
}

function section(out: ByteWriter, id: number, content: ByteWriter): void {
  out.u8(id);
  out.u32(content.len);
  out.bytes(content.buf.subarray(0, content.len));
}

export function encodeModule(spec: ModuleSpec): Uint8Array {
  const out = new ByteWriter(4096);
  out.bytes(new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]));

  const types = new ByteWriter();
  types.u32(spec.types.length);
  for (const t of spec.types) {
    types.u8(0x60);
    types.u32(t.params.length);
    for (const p of t.params) types.u8(p);
    types.u32(t.results.length);
    for (const r of t.results) types.u8(r);
  }
  section(out, 1, types);

  const imports = new ByteWriter();
  imports.u32(spec.funcImports.length + 1);
  for (const imp of spec.funcImports) {
    imports.name(imp.module);
    imports.name(imp.name);
    imports.u8(0x00);
    imports.u32(imp.type);
  }
  imports.name(spec.memory.module);
  imports.name(spec.memory.name);
  imports.u8(0x02);
  imports.u8(0x00); // limits: min only
  imports.u32(1);
  section(out, 2, imports);

  const funcs = new ByteWriter();
  funcs.u32(spec.funcs.length);
  for (const f of spec.funcs) funcs.u32(f.type);
  section(out, 3, funcs);

  if (spec.globals.length > 0) {
    const globals = new ByteWriter();
    globals.u32(spec.globals.length);
    for (const g of spec.globals) {
      globals.u8(g);
      globals.u8(0x01); // mutable
      globals.u8(g === ValType.i64 ? Op.i64_const : Op.i32_const);
      globals.u8(0x00);
      globals.u8(Op.end);
    }
    section(out, 6, globals);
  }

  const exps = new ByteWriter();
  exps.u32(spec.exports.length);
  for (const e of spec.exports) {
    exps.name(e.name);
    exps.u8(e.kind === 'func' ? 0x00 : 0x03);
    exps.u32(e.index);
  }
  section(out, 7, exps);

  const code = new ByteWriter(4096);
  code.u32(spec.funcs.length);
  for (const f of spec.funcs) {
    const fn = new ByteWriter(f.body.length + 16);
    // Locals are run-length encoded: consecutive equal types form one entry.
    const runs: { n: number; t: ValType }[] = [];
    for (const t of f.locals) {
      const last = runs[runs.length - 1];
      if (last && last.t === t) last.n++;
      else runs.push({ n: 1, t });
    }
    fn.u32(runs.length);
    for (const r of runs) {
      fn.u32(r.n);
      fn.u8(r.t);
    }
    fn.bytes(f.body);
    code.u32(fn.len);
    code.bytes(fn.buf.subarray(0, fn.len));
  }
  section(out, 10, code);
  return out.result();
}

export function valTypeName(t: ValType): string {
  return VALTYPE_NAME[t] ?? '?';
}
