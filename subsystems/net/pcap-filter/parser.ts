/**
 * pcap-filter(7) expressions to a syntax tree. Recursive descent with the grammar of
 * libpcap's grammar.y:
 *
 *   expr   := term { (and | or | && | ||) (term | id) }   and/or: equal precedence, left
 *   term   := (not | !) term | '(' expr ')' | arith relop arith | head id | pname
 *           | [pname] broadcast | [pname] multicast | less N | greater N | vlan [N]
 *   head   := [pname] [dir] [host|net|port|portrange|gateway] | [pname] proto
 *   id     := value | (not | !) id | '(' id { (and|or) id } ')'
 *   arith  := C-like + - * / % & | ^ << >> and unary -, over numbers, `len`
 *             and `pname [ arith [: 1|2|4] ]`
 *
 * A bare id after and/or takes the qualifiers of the last head (`port 53 or 54`), as in
 * libpcap; after a term with no head (`tcp or 80`) that is libpcap's "syntax error in
 * filter expression". Arithmetic versus a parenthesised expression is decided by trying
 * the relation first and backtracking.
 */
import { FilterError, FilterSyntaxError } from './errors.js';
import { tokenize, type Token } from './lexer.js';

export type Proto = 'link' | 'ip' | 'ip6' | 'arp' | 'rarp' | 'tcp' | 'udp' | 'icmp' | 'icmp6' | 'sctp' | 'igmp';
export type Dir = 'src' | 'dst' | 'src or dst' | 'src and dst';
export type AddrType = 'host' | 'net' | 'port' | 'portrange' | 'proto' | 'gateway';

export interface Qual {
  proto: Proto | null;
  dir: Dir | null;
  type: AddrType | null;
}

export type IdValue =
  | { t: 'num'; v: number; text: string }
  | { t: 'name'; s: string }
  | { t: 'ipv4'; s: string; masklen?: number; mask?: string }
  | { t: 'ipv6'; s: string; masklen?: number }
  | { t: 'mac'; s: string }
  | { t: 'range'; lo: number; hi: number; text: string };

export type ArithOp = '+' | '-' | '*' | '/' | '%' | '&' | '|' | '^' | '<<' | '>>';
export type RelOp = '>' | '<' | '>=' | '<=' | '=' | '!=';

export type Arith =
  | { k: 'num'; v: number }
  | { k: 'len' }
  | { k: 'load'; proto: Proto; index: Arith; size: 1 | 2 | 4; pos: number }
  | { k: 'bin'; op: ArithOp; l: Arith; r: Arith; pos: number }
  | { k: 'neg'; e: Arith };

export type Expr =
  | { k: 'and' | 'or'; l: Expr; r: Expr }
  | { k: 'not'; e: Expr }
  | { k: 'id'; q: Qual; val: IdValue; pos: number }
  | { k: 'proto'; proto: Proto; pos: number }
  | { k: 'broadcast' | 'multicast'; proto: Proto | null; pos: number }
  | { k: 'less' | 'greater'; n: number }
  | { k: 'vlan'; id: number | null; pos: number }
  | { k: 'rel'; op: RelOp; l: Arith; r: Arith; pos: number };

const PNAMES: Readonly<Record<string, Proto>> = {
  ether: 'link', link: 'link', fddi: 'link', tr: 'link', wlan: 'link',
  ip: 'ip', ip6: 'ip6', arp: 'arp', rarp: 'rarp', tcp: 'tcp', udp: 'udp', icmp: 'icmp', icmp6: 'icmp6',
  sctp: 'sctp', igmp: 'igmp',
};

const RELOPS: Readonly<Record<string, RelOp>> = { '>': '>', '<': '<', '>=': '>=', '<=': '<=', '=': '=', '==': '=', '!=': '!=' };

/** Binary arithmetic operators by precedence level, loosest first (C's order). */
const ARITH_LEVELS: readonly (readonly ArithOp[])[] = [['|'], ['^'], ['&'], ['<<', '>>'], ['+', '-'], ['*', '/', '%']];

class Backtrack extends Error {}

class Parser {
  private i = 0;
  /** Qualifiers of the last head, inherited by bare ids after and/or (null: none). */
  private last: Qual | null = null;

  constructor(private readonly toks: Token[]) {}

  private peek(n = 0): Token {
    return this.toks[Math.min(this.i + n, this.toks.length - 1)]!;
  }
  private next(): Token {
    const t = this.peek();
    if (this.i < this.toks.length - 1) this.i++;
    return t;
  }
  private isOp(t: Token, ...ops: string[]): boolean {
    return t.kind === 'op' && ops.includes(t.text);
  }
  private isKw(t: Token, ...kws: string[]): boolean {
    return t.kind === 'kw' && kws.includes(t.text);
  }
  private fail(t: Token = this.peek()): never {
    throw new FilterSyntaxError('syntax error', t.pos);
  }
  private expectOp(op: string): Token {
    const t = this.next();
    if (!this.isOp(t, op)) this.fail(t);
    return t;
  }

  /** Runs f; on a syntax error restores the position and returns null. */
  private attempt<T>(f: () => T): T | null {
    const save = this.i;
    const last = this.last;
    try {
      return f();
    } catch (e) {
      if (e instanceof FilterSyntaxError || e instanceof Backtrack) {
        this.i = save;
        this.last = last;
        return null;
      }
      throw e;
    }
  }

  parseProgram(): Expr | null {
    if (this.peek().kind === 'eof') return null; // empty filter: accept all
    const e = this.parseExpr();
    if (this.peek().kind !== 'eof') this.fail();
    return e;
  }

  private parseExpr(): Expr {
    let l = this.parseTerm();
    for (;;) {
      const t = this.peek();
      let op: 'and' | 'or';
      if (this.isKw(t, 'and') || this.isOp(t, '&&')) op = 'and';
      else if (this.isKw(t, 'or') || this.isOp(t, '||')) op = 'or';
      else return l;
      this.next();
      const r = this.attempt(() => this.parseInheritedId()) ?? this.parseTerm();
      l = { k: op, l, r };
    }
  }

  /** `id` after and/or: a value (or not/parenthesised values) with the last head's qualifiers. */
  private parseInheritedId(): Expr {
    const t = this.peek();
    if (!this.startsId(t) && !this.isKw(t, 'not') && !this.isOp(t, '!', '(')) throw new Backtrack();
    // `5 > 3` after and/or is a relation, not a port
    if (this.attempt(() => this.parseRelation()) !== null) throw new Backtrack();
    return this.parseIdList(t);
  }

  private startsId(t: Token): boolean {
    return t.kind === 'num' || t.kind === 'id' || t.kind === 'ipv4' || t.kind === 'ipv6' || t.kind === 'mac';
  }

  /** id := value | not id | '(' id {and|or id} ')' with this.last's qualifiers. */
  private parseIdList(first: Token): Expr {
    const t = this.peek();
    if (this.isKw(t, 'not') || this.isOp(t, '!')) {
      this.next();
      return { k: 'not', e: this.parseIdList(first) };
    }
    if (this.isOp(t, '(')) {
      this.next();
      let l = this.parseIdList(first);
      for (;;) {
        const o = this.peek();
        if (this.isOp(o, ')')) {
          this.next();
          return l;
        }
        let op: 'and' | 'or';
        if (this.isKw(o, 'and') || this.isOp(o, '&&')) op = 'and';
        else if (this.isKw(o, 'or') || this.isOp(o, '||')) op = 'or';
        else this.fail(o);
        this.next();
        l = { k: op, l, r: this.parseIdList(first) };
      }
    }
    if (!this.startsId(t)) this.fail(t);
    if (this.last === null) throw new FilterError('syntax error in filter expression', t.pos);
    return this.parseValue(this.last);
  }

  private parseTerm(): Expr {
    const t = this.peek();
    if (this.isKw(t, 'not') || this.isOp(t, '!')) {
      this.next();
      return { k: 'not', e: this.parseTerm() };
    }
    const rel = this.attempt(() => this.parseRelation());
    if (rel) return rel;
    if (this.isOp(t, '(')) {
      this.next();
      const e = this.parseExpr();
      this.expectOp(')');
      return e;
    }
    return this.parsePrimitive();
  }

  private parsePrimitive(): Expr {
    const t = this.peek();
    if (this.isKw(t, 'less', 'greater')) {
      this.next();
      const n = this.next();
      if (n.kind !== 'num') this.fail(n);
      this.last = null;
      return { k: t.text as 'less' | 'greater', n: n.value };
    }
    if (this.isKw(t, 'vlan')) {
      this.next();
      this.last = null;
      const n = this.peek();
      if (n.kind === 'num') {
        this.next();
        if (n.value > 4095) throw new FilterError(`VLAN tag ${n.value} greater than maximum 4095`, n.pos);
        return { k: 'vlan', id: n.value, pos: t.pos };
      }
      return { k: 'vlan', id: null, pos: t.pos };
    }
    if (this.isKw(t, 'mpls', 'inbound', 'outbound')) {
      throw new FilterError(`'${t.text}' is not supported by bpfkern's filter compiler`, t.pos);
    }
    const q: Qual = { proto: null, dir: null, type: null };
    if (t.kind === 'kw' && PNAMES[t.text] !== undefined) {
      this.next();
      q.proto = PNAMES[t.text]!;
    }
    const d = this.peek();
    if (this.isKw(d, 'src', 'dst')) {
      this.next();
      q.dir = d.text as Dir;
      const c = this.peek();
      const other = this.peek(1);
      if (this.isKw(c, 'or', 'and') && this.isKw(other, 'src', 'dst') && other.text !== d.text) {
        this.next();
        this.next();
        q.dir = c.text === 'or' ? 'src or dst' : 'src and dst';
      }
    }
    const a = this.peek();
    if (this.isKw(a, 'host', 'net', 'port', 'portrange', 'gateway')) {
      this.next();
      q.type = a.text as AddrType;
    } else if (q.dir === null && this.isKw(a, 'proto')) {
      this.next();
      q.type = 'proto';
    } else if (q.dir === null && this.isKw(a, 'broadcast', 'multicast')) {
      this.next();
      this.last = null;
      return { k: a.text as 'broadcast' | 'multicast', proto: q.proto, pos: a.pos };
    }
    if (q.dir === null && q.type === null) {
      if (q.proto === null) this.fail(t);
      this.last = null;
      return { k: 'proto', proto: q.proto, pos: t.pos };
    }
    this.last = q;
    const v = this.peek();
    if (this.isOp(v, '(') || this.isKw(v, 'not') || this.isOp(v, '!')) return this.parseIdList(v);
    return this.parseValue(q);
  }

  /** One host/net/port value with its optional /len, mask or -range. */
  private parseValue(q: Qual): Expr {
    const t = this.next();
    const pos = t.pos;
    const id = (val: IdValue): Expr => ({ k: 'id', q, val, pos });
    switch (t.kind) {
      case 'num': {
        if (q.type === 'portrange' && this.isOp(this.peek(), '-') && this.peek(1).kind === 'num') {
          this.next();
          const hi = this.next();
          return id({ t: 'range', lo: t.value, hi: hi.value, text: `${t.text}-${hi.text}` });
        }
        // `net 10/8`: a number is a partial network
        if (this.isOp(this.peek(), '/')) return id(this.netSuffix({ t: 'ipv4', s: t.text }));
        return id({ t: 'num', v: t.value, text: t.text });
      }
      case 'ipv4':
        return id(this.netSuffix({ t: 'ipv4', s: t.text }));
      case 'ipv6': {
        if (this.isOp(this.peek(), '/')) {
          this.next();
          const n = this.next();
          if (n.kind !== 'num') this.fail(n);
          return id({ t: 'ipv6', s: t.text, masklen: n.value });
        }
        return id({ t: 'ipv6', s: t.text });
      }
      case 'mac':
        return id({ t: 'mac', s: t.text });
      case 'id': {
        if (q.type === 'portrange' && t.text.includes('-')) {
          const [lo, hi] = t.text.split('-', 2) as [string, string];
          return id({ t: 'name', s: `${lo}-${hi}` });
        }
        return id({ t: 'name', s: t.text });
      }
      default:
        return this.fail(t);
    }
  }

  private netSuffix(v: { t: 'ipv4'; s: string }): IdValue {
    const p = this.peek();
    if (this.isOp(p, '/')) {
      this.next();
      const n = this.next();
      if (n.kind !== 'num') this.fail(n);
      return { ...v, masklen: n.value };
    }
    if (this.isKw(p, 'mask')) {
      this.next();
      const m = this.next();
      if (m.kind !== 'ipv4') this.fail(m);
      return { ...v, mask: m.text };
    }
    return v;
  }

  // ---- arithmetic ------------------------------------------------------------------

  private parseRelation(): Expr {
    const start = this.peek();
    const l = this.parseArith(0);
    const o = this.next();
    const op = o.kind === 'op' ? RELOPS[o.text] : undefined;
    if (op === undefined) this.fail(o);
    const r = this.parseArith(0);
    this.last = null;
    return { k: 'rel', op, l, r, pos: start.pos };
  }

  private parseArith(level: number): Arith {
    if (level >= ARITH_LEVELS.length) return this.parseUnary();
    let l = this.parseArith(level + 1);
    const ops = ARITH_LEVELS[level]!;
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'op' || !ops.includes(t.text as ArithOp)) return l;
      this.next();
      const r = this.parseArith(level + 1);
      l = { k: 'bin', op: t.text as ArithOp, l, r, pos: t.pos };
    }
  }

  private parseUnary(): Arith {
    const t = this.next();
    if (this.isOp(t, '-')) return { k: 'neg', e: this.parseUnary() };
    if (this.isOp(t, '(')) {
      const e = this.parseArith(0);
      this.expectOp(')');
      return e;
    }
    if (t.kind === 'num') return { k: 'num', v: t.value };
    if (this.isKw(t, 'len')) return { k: 'len' };
    if (t.kind === 'kw' && PNAMES[t.text] !== undefined && this.isOp(this.peek(), '[')) {
      this.next();
      const index = this.parseArith(0);
      let size: 1 | 2 | 4 = 1;
      if (this.isOp(this.peek(), ':')) {
        this.next();
        const n = this.next();
        if (n.kind !== 'num') this.fail(n);
        if (n.value !== 1 && n.value !== 2 && n.value !== 4) throw new FilterError('data size must be 1, 2, or 4', n.pos);
        size = n.value;
      }
      this.expectOp(']');
      return { k: 'load', proto: PNAMES[t.text]!, index, size, pos: t.pos };
    }
    return this.fail(t);
  }
}

/** Parses an expression; null for the empty expression (which accepts every packet). */
export function parseFilter(src: string): Expr | null {
  const toks = tokenize(src);
  checkNesting(toks);
  return new Parser(toks).parseProgram();
}

/**
 * The parser and code generator recurse once per '(' and per prefix operator; bound the
 * nesting so a hostile expression gets an error instead of overflowing the JS stack
 * (libpcap's bison parser has its own stack limit, YYMAXDEPTH).
 */
const MAX_NESTING = 200;

function checkNesting(toks: readonly Token[]): void {
  let parens = 0;
  let prefix = 0;
  for (const t of toks) {
    const op = t.kind === 'op' ? t.text : t.kind === 'kw' && t.text === 'not' ? '!' : '';
    if (op === '(') parens++;
    else if (op === ')') parens = Math.max(0, parens - 1);
    if (op === '!' || op === '-') prefix++;
    else if (op !== '(') prefix = 0;
    if (parens + prefix > MAX_NESTING) throw new FilterError('expression too complex', t.pos);
  }
}
