/**
 * The `print fmt:` of an event, evaluated to produce the text after `name: ` on a trace
 * line (what Linux's generated trace_raw_output_<event>() does). The argument list is a
 * small C expression language: REC->field, REC->arr[i], __get_str(f), casts, ?:, the
 * usual binary operators, __print_flags() and __print_symbolic(). Each event's format is
 * parsed once and cached; formatting then reads the record bytes.
 */
import type { EventDef, EventField } from '../../kernel/trace/tracepoint.js';

type Val = bigint | string;

type Expr =
  | { k: 'num'; v: bigint }
  | { k: 'str'; v: string }
  | { k: 'field'; name: string; index: Expr | null }
  | { k: 'getstr'; name: string }
  | { k: 'un'; op: string; e: Expr }
  | { k: 'bin'; op: string; a: Expr; b: Expr }
  | { k: 'cond'; c: Expr; t: Expr; f: Expr }
  | { k: 'flags'; v: Expr; delim: string; table: [bigint, string][] }
  | { k: 'sym'; v: Expr; table: [bigint, string][] };

const TOKEN = /\s*(?:(0x[0-9a-fA-F]+|\d+)|("(?:[^"\\]|\\.)*")|([A-Za-z_][A-Za-z0-9_]*)|(->|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^!~?:(),<>{}[\]]))/y;

function tokenize(s: string): string[] {
  const out: string[] = [];
  TOKEN.lastIndex = 0;
  let m: RegExpExecArray | null;
  while (TOKEN.lastIndex < s.length && (m = TOKEN.exec(s))) out.push(m[1] ?? m[2] ?? m[3] ?? m[4]!);
  return out;
}

const BINARY: Record<string, number> = {
  '||': 1, '&&': 2, '|': 3, '^': 4, '&': 5, '==': 6, '!=': 6, '<': 7, '>': 7, '<=': 7, '>=': 7,
  '<<': 8, '>>': 8, '+': 9, '-': 9, '*': 10, '/': 10, '%': 10,
};
const TYPE_WORDS = new Set(['unsigned', 'signed', 'long', 'int', 'short', 'char', 'const', 'void', 'bool', 'u8', 'u16', 'u32', 'u64', 's8', 's16', 's32', 's64', 'size_t']);

class Parser {
  i = 0;
  constructor(private readonly t: string[]) {}
  peek(): string | undefined {
    return this.t[this.i];
  }
  take(expect?: string): string {
    const tok = this.t[this.i++];
    if (tok === undefined || (expect !== undefined && tok !== expect)) throw new Error(`print fmt: expected ${expect ?? 'token'}`);
    return tok;
  }
  expr(): Expr {
    const c = this.binary(1);
    if (this.peek() === '?') {
      this.take();
      const t = this.expr();
      this.take(':');
      const f = this.expr();
      return { k: 'cond', c, t, f };
    }
    return c;
  }
  binary(min: number): Expr {
    let a = this.unary();
    for (;;) {
      const op = this.peek();
      const p = op === undefined ? undefined : BINARY[op];
      if (p === undefined || p < min) return a;
      this.take();
      const b = this.binary(p + 1);
      a = { k: 'bin', op: op!, a, b };
    }
  }
  unary(): Expr {
    const tok = this.peek();
    if (tok === '!' || tok === '~' || tok === '-') {
      this.take();
      return { k: 'un', op: tok, e: this.unary() };
    }
    if (tok === '(') {
      // A cast `(unsigned long)` or a parenthesized expression.
      const save = this.i;
      this.take();
      let isCast = true;
      let j = this.i;
      while (this.t[j] !== ')') {
        const w = this.t[j];
        if (w === undefined || !(TYPE_WORDS.has(w) || w === '*')) {
          isCast = false;
          break;
        }
        j++;
      }
      if (isCast && j > this.i) {
        this.i = j + 1;
        return this.unary();
      }
      this.i = save + 1;
      const e = this.expr();
      this.take(')');
      return e;
    }
    return this.primary();
  }
  table(): [bigint, string][] {
    const out: [bigint, string][] = [];
    while (this.peek() === ',') {
      this.take();
      this.take('{');
      const v = this.expr();
      this.take(',');
      const s = this.take();
      this.take('}');
      out.push([evalConst(v), JSON.parse(s) as string]);
    }
    return out;
  }
  primary(): Expr {
    const tok = this.take();
    if (/^(0x|\d)/.test(tok)) return { k: 'num', v: BigInt(tok) };
    if (tok.startsWith('"')) return { k: 'str', v: JSON.parse(tok) as string };
    if (tok === 'REC') {
      this.take('->');
      const name = this.take();
      let index: Expr | null = null;
      if (this.peek() === '[') {
        this.take();
        index = this.expr();
        this.take(']');
      }
      return { k: 'field', name, index };
    }
    if (tok === '__get_str') {
      this.take('(');
      const name = this.take();
      this.take(')');
      return { k: 'getstr', name };
    }
    if (tok === '__print_flags') {
      this.take('(');
      const v = this.expr();
      this.take(',');
      const delim = JSON.parse(this.take()) as string;
      const table = this.table();
      this.take(')');
      return { k: 'flags', v, delim, table };
    }
    if (tok === '__print_symbolic') {
      this.take('(');
      const v = this.expr();
      const table = this.table();
      this.take(')');
      return { k: 'sym', v, table };
    }
    throw new Error(`print fmt: unexpected ${tok}`);
  }
}

function evalConst(e: Expr): bigint {
  const v = evaluate(e, () => 0n);
  return typeof v === 'bigint' ? v : 0n;
}

const asNum = (v: Val): bigint => (typeof v === 'bigint' ? v : 0n);

function evaluate(e: Expr, field: (name: string, index: bigint | null, str: boolean) => Val): Val {
  switch (e.k) {
    case 'num':
    case 'str':
      return e.v;
    case 'field':
      return field(e.name, e.index ? asNum(evaluate(e.index, field)) : null, false);
    case 'getstr':
      return field(e.name, null, true);
    case 'un': {
      const v = asNum(evaluate(e.e, field));
      return e.op === '!' ? (v === 0n ? 1n : 0n) : e.op === '~' ? ~v : -v;
    }
    case 'cond': {
      const c = evaluate(e.c, field);
      return (typeof c === 'bigint' ? c !== 0n : c !== '') ? evaluate(e.t, field) : evaluate(e.f, field);
    }
    case 'bin': {
      if (e.op === '&&') return asNum(evaluate(e.a, field)) !== 0n && asNum(evaluate(e.b, field)) !== 0n ? 1n : 0n;
      if (e.op === '||') return asNum(evaluate(e.a, field)) !== 0n || asNum(evaluate(e.b, field)) !== 0n ? 1n : 0n;
      const a = asNum(evaluate(e.a, field));
      const b = asNum(evaluate(e.b, field));
      switch (e.op) {
        case '|': return a | b;
        case '^': return a ^ b;
        case '&': return a & b;
        case '==': return a === b ? 1n : 0n;
        case '!=': return a !== b ? 1n : 0n;
        case '<': return a < b ? 1n : 0n;
        case '>': return a > b ? 1n : 0n;
        case '<=': return a <= b ? 1n : 0n;
        case '>=': return a >= b ? 1n : 0n;
        case '<<': return a << b;
        case '>>': return a >> b;
        case '+': return a + b;
        case '-': return a - b;
        case '*': return a * b;
        case '/': return b === 0n ? 0n : a / b;
        default: return b === 0n ? 0n : a % b;
      }
    }
    case 'flags': {
      let v = asNum(evaluate(e.v, field));
      const parts: string[] = [];
      for (const [bit, name] of e.table) {
        if (bit !== 0n && (v & bit) === bit) {
          parts.push(name);
          v &= ~bit;
        }
      }
      if (v !== 0n) parts.push(`0x${v.toString(16)}`);
      return parts.join(e.delim);
    }
    case 'sym': {
      const v = asNum(evaluate(e.v, field));
      const hit = e.table.find(([k]) => k === v);
      return hit ? hit[1] : `0x${v.toString(16)}`;
    }
  }
}

/** One `%...` conversion of the format string, or a literal run. */
type Piece = { lit: string } | { flags: string; width: number | null; prec: number | null; len: string; conv: string };

function parseFormat(fmt: string): Piece[] {
  const out: Piece[] = [];
  const re = /%([-+ 0#]*)(\d+)?(?:\.(\d+))?(hh|h|ll|l|z)?([diuxXcspS%])(S)?/g;
  let last = 0;
  for (const m of fmt.matchAll(re)) {
    if (m.index > last) out.push({ lit: fmt.slice(last, m.index) });
    if (m[5] === '%') out.push({ lit: '%' });
    else if (m[5] === 'p') out.push({ flags: m[1] ?? '', width: null, prec: null, len: 'l', conv: m[6] === 'S' ? 'pS' : 'p' });
    else out.push({ flags: m[1] ?? '', width: m[2] ? Number(m[2]) : null, prec: m[3] ? Number(m[3]) : null, len: m[4] ?? '', conv: m[5]! });
    last = m.index + m[0].length;
  }
  if (last < fmt.length) out.push({ lit: fmt.slice(last) });
  return out;
}

function pad(s: string, flags: string, width: number | null): string {
  if (width === null || s.length >= width) return s;
  if (flags.includes('-')) return s.padEnd(width);
  if (flags.includes('0')) {
    const neg = s.startsWith('-');
    return (neg ? '-' : '') + (neg ? s.slice(1) : s).padStart(neg ? width - 1 : width, '0');
  }
  return s.padStart(width);
}

function conv(p: Exclude<Piece, { lit: string }>, v: Val): string {
  if (p.conv === 's') {
    const s = typeof v === 'string' ? v : v.toString();
    return pad(p.prec !== null ? s.slice(0, p.prec) : s, p.flags, p.width);
  }
  const n = typeof v === 'bigint' ? v : 0n;
  const bits = p.len === 'l' || p.len === 'll' || p.len === 'z' ? 64 : p.len === 'h' ? 16 : p.len === 'hh' ? 8 : 32;
  switch (p.conv) {
    case 'd':
    case 'i':
      return pad(BigInt.asIntN(bits, n).toString(), p.flags, p.width);
    case 'u':
      return pad(BigInt.asUintN(bits, n).toString(), p.flags, p.width);
    case 'x':
    case 'X': {
      let s = BigInt.asUintN(bits, n).toString(16);
      if (p.conv === 'X') s = s.toUpperCase();
      if (p.flags.includes('#') && n !== 0n) s = `0x${s}`;
      return pad(s, p.flags, p.width);
    }
    case 'c':
      return String.fromCharCode(Number(n & 0xffn));
    case 'p':
      return BigInt.asUintN(64, n).toString(16).padStart(16, '0');
    case 'pS':
      return `0x${BigInt.asUintN(64, n).toString(16)}`;
    default:
      return '';
  }
}

export interface EventPrinter {
  (u8: Uint8Array, dv: DataView, base: number): string;
}

const decoder = new TextDecoder('latin1');

function cstr(u8: Uint8Array, at: number, max: number): string {
  let end = at;
  while (end < at + max && u8[end] !== 0) end++;
  return decoder.decode(u8.subarray(at, end));
}

function readField(f: EventField, u8: Uint8Array, dv: DataView, base: number, index: bigint | null): Val {
  if (f.type.startsWith('__data_loc')) {
    const item = dv.getUint32(base + f.offset, true);
    return cstr(u8, base + (item & 0xffff), item >>> 16);
  }
  const dims = /\[(\d+)\]$/.exec(f.type);
  if (dims && f.type.startsWith('char')) return cstr(u8, base + f.offset, f.size);
  let size = f.size;
  let off = f.offset;
  if (dims) {
    size = f.size / Number(dims[1]);
    off += Number(index ?? 0n) * size;
  }
  const at = base + off;
  switch (size) {
    case 1:
      return BigInt(f.signed ? dv.getInt8(at) : dv.getUint8(at));
    case 2:
      return BigInt(f.signed ? dv.getInt16(at, true) : dv.getUint16(at, true));
    case 4:
      return BigInt(f.signed ? dv.getInt32(at, true) : dv.getUint32(at, true));
    case 8:
      return f.signed ? dv.getBigInt64(at, true) : dv.getBigUint64(at, true);
    default:
      return 0n;
  }
}

/** Builds the printer for an event from its print fmt. */
export function makePrinter(def: EventDef): EventPrinter {
  const m = /^"((?:[^"\\]|\\.)*)"\s*(?:,(.*))?$/s.exec(def.printFmt.trim());
  if (!m) return () => '';
  const pieces = parseFormat(JSON.parse(`"${m[1]!}"`) as string);
  const args: Expr[] = [];
  if (m[2] !== undefined) {
    const p = new Parser(tokenize(m[2]));
    while (p.peek() !== undefined) {
      args.push(p.expr());
      if (p.peek() === ',') p.take();
    }
  }
  const byName = new Map(def.fields.map((f) => [f.name, f]));
  return (u8, dv, base) => {
    const field = (name: string, index: bigint | null): Val => {
      const f = byName.get(name);
      return f ? readField(f, u8, dv, base, index) : 0n;
    };
    let out = '';
    let a = 0;
    for (const piece of pieces) {
      if ('lit' in piece) out += piece.lit;
      else out += conv(piece, args[a] ? evaluate(args[a++]!, field) : 0n);
    }
    return out;
  };
}
