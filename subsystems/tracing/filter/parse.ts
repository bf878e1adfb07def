/**
 * The ftrace event filter language (Documentation/trace/events.rst §5), parsed the way
 * Linux 6.x's trace_events_filter.c does so that acceptance, messages, caret positions
 * and errnos match: calc_stack() first (parens, quotes), then predicate_parse() which
 * turns the expression into a flat program of predicates with short-circuit jumps:
 *
 *     entries[i] = { pred, whenToBranch, target }
 *     for (i = 0; i < n; i++) if (pred_i(rec) == whenToBranch_i) i = target_i;
 *     return i == n;               // target n-1 (+1) is TRUE, target n (+1) is FALSE
 *
 * The one deliberate difference: a bare word compared with a string field is taken as a
 * string (`comm != bash`), as 3.x kernels did; 6.x says "Invalid value (did you forget
 * quotes)?". See README.md, Differences from Linux.
 *
 * Errors come back as a FilterError carrying the errno Linux returns (mostly EINVAL;
 * calc_stack's -1/-2/-3 surface as EPERM/ENOENT/ESRCH) and the parse_error state
 * (lasterr, lasterr_pos) that the filter file and error_log render.
 */
import type { ErrnoName } from '../../../kernel/errno.js';
import type { FilterField } from '../fields.js';
import { FILT_ERR } from './errors.js';

export type FilterOp = 'GLOB' | 'NE' | 'EQ' | 'LE' | 'LT' | 'GE' | 'GT' | 'BAND';

/** Token order matters: '<=' before '<', '>=' before '>' (Linux's OPS). */
const OPS: readonly [FilterOp, string][] = [
  ['GLOB', '~'],
  ['NE', '!='],
  ['EQ', '=='],
  ['LE', '<='],
  ['LT', '<'],
  ['GE', '>='],
  ['GT', '>'],
  ['BAND', '&'],
];

export type MatchType = 'full' | 'front' | 'middle' | 'end' | 'glob';

export interface Pred {
  field: FilterField;
  op: FilterOp;
  /** Result inverted (!=, a '!' glob). */
  not: boolean;
  /** Numeric operand as written, two's complement in 64 bits. */
  val: bigint;
  /** String operand after regex parsing (the search part). */
  pattern: string;
  match: MatchType;
}

export interface ProgEntry {
  pred: Pred;
  whenToBranch: boolean;
  target: number;
}

export interface FilterProg {
  entries: ProgEntry[];
}

export class FilterError extends Error {
  constructor(
    readonly errno: ErrnoName,
    /** FILT_ERR_* (0: no parse error recorded, the file shows "Error: (0)"). */
    readonly lasterr: number,
    readonly pos: number,
  ) {
    super(`filter parse error ${lasterr} at ${pos}`);
  }
}

const MAX_FILTER_STR_VAL = 256;

const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\v' || c === '\f' || c === '\r';
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isAlnum = (c: string | undefined): boolean =>
  c !== undefined && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));

function isStringField(f: FilterField): boolean {
  return f.filterType === 'static_string' || f.filterType === 'dyn_string' || f.filterType === 'pchar' || f.filterType === 'comm';
}

/** calc_stack(): counts predicates and paren depth, finds unbalanced parens and quotes. */
function calcStack(str: string): { parens: number; preds: number } {
  let isPred = false;
  let nrPreds = 0;
  let open = 1;
  let maxOpen = 1;
  let quote = '';
  let lastQuote = 0;
  let i = 0;
  for (; i < str.length; i++) {
    const c = str[i]!;
    if (isSpace(c)) continue;
    if (quote) {
      if (c === quote) quote = '';
      continue;
    }
    switch (c) {
      case "'":
      case '"':
        quote = c;
        lastQuote = i;
        break;
      case '|':
      case '&':
        if (str[i + 1] !== c) break;
        isPred = false;
        continue;
      case '(':
        isPred = false;
        open++;
        if (open > maxOpen) maxOpen = open;
        continue;
      case ')':
        isPred = false;
        if (open === 1) throw new FilterError('EPERM', FILT_ERR.TOO_MANY_CLOSE, i);
        open--;
        continue;
    }
    if (!isPred) {
      nrPreds++;
      isPred = true;
    }
  }
  if (quote) throw new FilterError('ESRCH', FILT_ERR.MISSING_QUOTE, lastQuote);
  if (open !== 1) {
    let level = open;
    // Find the bad open, scanning back (index 0 is never examined, as in Linux).
    for (i--; i > 0; i--) {
      const c = str[i]!;
      if (quote) {
        if (c === quote) quote = '';
        continue;
      }
      if (c === '(') {
        if (level === open) throw new FilterError('ENOENT', FILT_ERR.TOO_MANY_OPEN, i);
        level--;
      } else if (c === ')') level++;
      else if (c === "'" || c === '"') quote = c;
    }
    throw new FilterError('ENOENT', FILT_ERR.TOO_MANY_OPEN, 0);
  }
  return { parens: maxOpen, preds: nrPreds };
}

/** kstrtoll/kstrtoull with base 0: 0x hex, leading-0 octal, decimal; null when invalid. */
function parseInteger(text: string, signed: boolean): bigint | null {
  let s = text;
  let neg = false;
  if (s.startsWith('-')) {
    if (!signed) return null;
    neg = true;
    s = s.slice(1);
  }
  let base = 10;
  if (/^0x/i.test(s)) {
    base = 16;
    s = s.slice(2);
  } else if (s.startsWith('0') && s.length > 1) {
    base = 8;
    s = s.slice(1);
  }
  if (s === '') return null;
  const digits = base === 16 ? /^[0-9a-fA-F]+$/ : base === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  if (!digits.test(s)) return null;
  const v = base === 16 ? BigInt(`0x${s}`) : base === 8 ? BigInt(`0o${s}`) : BigInt(s);
  if (v >= 1n << 64n) return null;
  if (signed) {
    if (neg ? v > 1n << 63n : v >= 1n << 63n) return null;
    return BigInt.asUintN(64, neg ? -v : v);
  }
  return v;
}

/** filter_parse_regex() + filter_build_regex() for a string predicate. */
function buildRegex(pred: Pred, raw: string): void {
  if (pred.op !== 'GLOB') {
    pred.pattern = raw;
    pred.match = 'full';
    return;
  }
  let buff = raw;
  if (buff.startsWith('!')) {
    pred.not = true;
    buff = buff.slice(1);
  } else {
    pred.not = false;
  }
  let type: MatchType = 'full';
  let search = buff;
  for (let i = 0; i < buff.length; i++) {
    const c = buff[i]!;
    if (c === '*') {
      if (i === 0) {
        type = 'end';
      } else if (i === buff.length - 1) {
        type = type === 'end' ? 'middle' : 'front';
        search = buff.slice(0, i);
        break;
      } else {
        pred.pattern = buff;
        pred.match = 'glob';
        return;
      }
    } else if (c === '[' || c === '?' || c === '\\') {
      pred.pattern = buff;
      pred.match = 'glob';
      return;
    }
  }
  if (buff.startsWith('*')) search = search.slice(1);
  pred.pattern = search;
  pred.match = type;
}

/**
 * parse_pred(): one `field op value` at str[start..]; `pos` is Linux's (start + 1), which
 * is why carets land one to the right of the offending character in some messages.
 * Returns the predicate and the index just past it.
 */
function parsePred(
  str: string,
  start: number,
  pos: number,
  findField: (name: string) => FilterField | undefined,
): { pred: Pred; end: number } {
  const at = (k: number): string | undefined => str[start + k];
  let i = 0;
  while (isSpace(at(i))) i++;
  let s = i;
  while (isAlnum(at(i)) || at(i) === '_') i++;
  const len = i - s;
  // Linux returns -1 here without recording an error: EPERM and "Error: (0)".
  if (!len) throw new FilterError('EPERM', FILT_ERR.NONE, 0);
  const field = findField(str.slice(start + s, start + i));
  if (!field) throw new FilterError('EINVAL', FILT_ERR.FIELD_NOT_FOUND, pos + i);
  while (isSpace(at(i))) i++;
  const op = OPS.find(([, tok]) => str.startsWith(tok, start + i));
  if (!op) throw new FilterError('EINVAL', FILT_ERR.INVALID_OP, pos + i);
  i += op[1].length;
  while (isSpace(at(i))) i++;
  s = i;
  const pred: Pred = { field, op: op[0], not: false, val: 0n, pattern: '', match: 'full' };
  const c = at(i);
  const bareWord =
    isStringField(field) && c !== undefined && !isDigit(c) && c !== '-' && !isSpace(c) && !'\'"()&|!'.includes(c);
  if (c === "'" || c === '"' || bareWord) {
    switch (pred.op) {
      case 'NE':
        pred.not = true;
        break;
      case 'GLOB':
      case 'EQ':
        break;
      default:
        throw new FilterError('EINVAL', FILT_ERR.ILLEGAL_FIELD_OP, pos + i);
    }
    if (!isStringField(field)) throw new FilterError('EINVAL', FILT_ERR.EXPECT_DIGIT, pos + i);
    let text: string;
    if (bareWord) {
      while (at(i) !== undefined && !isSpace(at(i)) && !')&|'.includes(at(i)!)) i++;
      text = str.slice(start + s, start + i);
    } else {
      const q = c!;
      for (i++; at(i) !== undefined; i++) if (at(i) === q) break;
      if (at(i) === undefined) throw new FilterError('EINVAL', FILT_ERR.MISSING_QUOTE, pos + i);
      text = str.slice(start + s + 1, start + i);
      i++;
    }
    if (text.length >= MAX_FILTER_STR_VAL) throw new FilterError('EINVAL', FILT_ERR.OPERAND_TOO_LONG, pos + i);
    buildRegex(pred, text);
  } else if (isDigit(c) || c === '-') {
    if (isStringField(field)) throw new FilterError('EINVAL', FILT_ERR.EXPECT_STRING, pos + i);
    if (pred.op === 'GLOB') throw new FilterError('EINVAL', FILT_ERR.ILLEGAL_FIELD_OP, pos + i);
    if (c === '-') i++;
    while (isAlnum(at(i))) i++;
    const numLen = i - s;
    if (numLen >= 24) throw new FilterError('EINVAL', FILT_ERR.OPERAND_TOO_LONG, pos + i);
    const v = parseInteger(str.slice(start + s, start + i), field.signed);
    if (v === null) throw new FilterError('EINVAL', FILT_ERR.ILLEGAL_INTVAL, pos + s);
    pred.val = v;
    if (pred.op === 'NE' && field.filterType !== 'cpu') pred.not = true;
  } else {
    throw new FilterError('EINVAL', FILT_ERR.INVALID_VALUE, pos + i);
  }
  return { pred, end: start + i };
}

const INVERT = 1;
const PROCESS_AND = 2;
const PROCESS_OR = 4;

/** Parses a filter string for an event whose fields findField knows. Throws FilterError. */
export function parseFilter(str: string, findField: (name: string) => FilterField | undefined): FilterProg {
  const { parens, preds } = calcStack(str);
  if (!preds) throw new FilterError('EINVAL', FILT_ERR.NONE, 0);
  const nrPreds = preds + 2;
  const stack: number[] = [0];
  const prog: { pred: Pred | null; whenToBranch: boolean; target: number }[] = [];
  const inverts: boolean[] = [];
  let invert = false;
  let ptr = 0;
  let n = 0;

  const updatePreds = (N: number, inv: boolean): void => {
    const t = prog[N]!.target;
    const s = prog[t]!.target;
    prog[t]!.whenToBranch = inv;
    prog[t]!.target = N;
    prog[N]!.target = s;
  };

  outer: while (ptr < str.length) {
    const next = ptr++;
    const ch = str[next]!;
    if (isSpace(ch)) continue;
    if (ch === '(') {
      if (stack.length - 1 > parens) throw new FilterError('EINVAL', FILT_ERR.NONE, 0);
      stack.push(invert ? INVERT : 0);
      continue;
    }
    if (ch === '!' && str[next + 1] !== '=' && str[next + 1] !== '~') {
      invert = !invert;
      continue;
    }
    if (n >= nrPreds) throw new FilterError('EINVAL', FILT_ERR.TOO_MANY_PREDS, next);
    inverts[n] = invert;
    const { pred, end } = parsePred(str, next, ptr, findField);
    prog[n] = { pred, whenToBranch: false, target: n - 1 };
    ptr = end;
    n++;

    for (;;) {
      const nx = ptr++;
      const c = str[nx];
      if (c !== undefined && isSpace(c)) continue;
      if (c === '&' || c === '|') {
        if (str[nx + 1] === c) ptr++;
        else throw new FilterError('EPERM', FILT_ERR.TOO_MANY_PREDS, nx);
      } else if (c !== ')' && c !== undefined) {
        throw new FilterError('EPERM', FILT_ERR.TOO_MANY_PREDS, nx);
      }
      let top = stack[stack.length - 1]!;
      invert = (top & INVERT) !== 0;
      if (top & PROCESS_AND) {
        updatePreds(n - 1, invert);
        top &= ~PROCESS_AND;
      }
      if (c === '&') {
        stack[stack.length - 1] = top | PROCESS_AND;
        continue outer;
      }
      if (top & PROCESS_OR) {
        updatePreds(n - 1, !invert);
        top &= ~PROCESS_OR;
      }
      if (c === '|') {
        stack[stack.length - 1] = top | PROCESS_OR;
        continue outer;
      }
      stack[stack.length - 1] = top;
      if (c === undefined) break outer;
      if (stack.length === 1) throw new FilterError('EPERM', FILT_ERR.TOO_MANY_CLOSE, ptr);
      stack.pop();
    }
  }
  if (stack.length !== 1) throw new FilterError('ENOENT', FILT_ERR.TOO_MANY_OPEN, ptr);
  // Only '!' and spaces (`! `): Linux's process_preds says "No program?".
  if (n === 0) throw new FilterError('EINVAL', FILT_ERR.NO_FILTER, ptr);
  // A trailing && or || leaves pending flags: Linux accepts the filter as it stands.
  const N = n;
  prog[N] = { pred: null, whenToBranch: false, target: 1 };
  prog[N + 1] = { pred: null, whenToBranch: false, target: 0 };
  prog[N - 1]!.target = N;
  prog[N - 1]!.whenToBranch = false;
  for (let i = N - 1; i--; ) {
    const t = prog[i]!.target;
    if (prog[i]!.whenToBranch === prog[t]!.whenToBranch) prog[i]!.target = prog[t]!.target;
  }
  const entries: ProgEntry[] = [];
  for (let i = 0; i < N; i++) {
    const e = prog[i]!;
    const w = inverts[i] !== e.whenToBranch;
    if (e.target <= i) throw new FilterError('EINVAL', FILT_ERR.NONE, 0);
    entries.push({ pred: e.pred!, whenToBranch: w, target: e.target });
  }
  return { entries };
}
