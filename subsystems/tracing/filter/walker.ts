/**
 * The predicate walker: Linux's filter_match_preds(). Each predicate's comparison is
 * chosen once by field size, signedness and operator (select_comparison_fn) and kept in
 * typed arrays; the walk is a loop over the flat program with short-circuit jumps — no
 * tree recursion, no allocation per event (see makeWalker). predFn gives the same test
 * as one closure per predicate (the walker's fallback for 64-bit fields and char *).
 *
 * A record is read where it lies in the address space: `base` is its offset. The filter
 * header sits just before it (see FILTER_HDR in compile.ts): the CPU at base-24 (u32) and
 * current->comm at base-16 (char[16]); the compiled program reads the same bytes.
 */
import type { FilterProg, MatchType, Pred } from './parse.js';
import { matchString } from './match.js';

export const HDR_CPU = -24;
export const HDR_COMM = -16;
/** Bytes reserved before a record for the filter header. */
export const FILTER_HDR_SIZE = 24;

export type PredFn = (u8: Uint8Array, dv: DataView, base: number) => boolean;

const encoder = new TextEncoder();

function numericPred(pred: Pred): PredFn {
  const { offset, size, signed, filterType } = pred.field;
  const op = pred.op;
  if (filterType === 'cpu') {
    const v = Number(BigInt.asIntN(32, pred.val));
    switch (op) {
      case 'EQ':
        return (_u8, dv, b) => dv.getInt32(b + HDR_CPU, true) === v;
      case 'NE':
        return (_u8, dv, b) => dv.getInt32(b + HDR_CPU, true) !== v;
      case 'LT':
        return (_u8, dv, b) => dv.getInt32(b + HDR_CPU, true) < v;
      case 'LE':
        return (_u8, dv, b) => dv.getInt32(b + HDR_CPU, true) <= v;
      case 'GT':
        return (_u8, dv, b) => dv.getInt32(b + HDR_CPU, true) > v;
      case 'GE':
        return (_u8, dv, b) => dv.getInt32(b + HDR_CPU, true) >= v;
      default:
        return () => false; // filter_pred_cpu has no '&': never matches
    }
  }
  const not = pred.not;
  if (size === 8) {
    const v = signed ? BigInt.asIntN(64, pred.val) : BigInt.asUintN(64, pred.val);
    const get = signed
      ? (dv: DataView, b: number): bigint => dv.getBigInt64(b + offset, true)
      : (dv: DataView, b: number): bigint => dv.getBigUint64(b + offset, true);
    switch (op) {
      case 'EQ':
      case 'NE':
        return (_u8, dv, b) => (get(dv, b) === v) !== not;
      case 'LT':
        return (_u8, dv, b) => get(dv, b) < v;
      case 'LE':
        return (_u8, dv, b) => get(dv, b) <= v;
      case 'GT':
        return (_u8, dv, b) => get(dv, b) > v;
      case 'GE':
        return (_u8, dv, b) => get(dv, b) >= v;
      case 'BAND':
        return (_u8, dv, b) => (get(dv, b) & v) !== 0n;
      default:
        return () => false;
    }
  }
  if (size !== 4 && size !== 2 && size !== 1) return () => false; // no comparison for this size
  const bits = size * 8;
  // Equality compares the unsigned bits (filter_pred_32); ordering uses the field's sign.
  const ueq = Number(BigInt.asUintN(bits, pred.val));
  const v = Number(signed ? BigInt.asIntN(bits, pred.val) : BigInt.asUintN(bits, pred.val));
  let getU: (dv: DataView, b: number) => number;
  let get: (dv: DataView, b: number) => number;
  if (size === 4) {
    getU = (dv, b) => dv.getUint32(b + offset, true);
    get = signed ? (dv, b) => dv.getInt32(b + offset, true) : getU;
  } else if (size === 2) {
    getU = (dv, b) => dv.getUint16(b + offset, true);
    get = signed ? (dv, b) => dv.getInt16(b + offset, true) : getU;
  } else {
    getU = (dv, b) => dv.getUint8(b + offset);
    get = signed ? (dv, b) => dv.getInt8(b + offset) : getU;
  }
  switch (op) {
    case 'EQ':
      return (_u8, dv, b) => getU(dv, b) === ueq;
    case 'NE':
      return (_u8, dv, b) => getU(dv, b) !== ueq;
    case 'LT':
      return (_u8, dv, b) => get(dv, b) < v;
    case 'LE':
      return (_u8, dv, b) => get(dv, b) <= v;
    case 'GT':
      return (_u8, dv, b) => get(dv, b) > v;
    case 'GE':
      return (_u8, dv, b) => get(dv, b) >= v;
    case 'BAND':
      return (_u8, dv, b) => (getU(dv, b) & ueq) !== 0;
    default:
      return () => false;
  }
}

/** Where a string operand lives: [at, at+len) in u8, or null when unreadable. */
export function stringLocation(pred: Pred, u8: Uint8Array, dv: DataView, base: number): [number, number] | null {
  const f = pred.field;
  switch (f.filterType) {
    case 'static_string':
      return [base + f.offset, f.size];
    case 'dyn_string': {
      const item = dv.getUint32(base + f.offset, true);
      return [base + (item & 0xffff), item >>> 16];
    }
    case 'comm':
      return [base + HDR_COMM, 16];
    case 'pchar': {
      // A char * in the record: an address in the single address space (KERNEL_BASE + off).
      const hi = dv.getUint32(base + f.offset + 4, true);
      const lo = dv.getUint32(base + f.offset, true);
      if (hi !== 0xffff8880 || lo === 0 || lo >= u8.length) return null;
      let n = 0;
      while (lo + n < u8.length && u8[lo + n] !== 0) n++;
      return [lo, n + 1];
    }
    default:
      return null;
  }
}

function stringPred(pred: Pred): PredFn {
  const pat = encoder.encode(pred.pattern);
  const not = pred.not;
  const type = pred.match;
  return (u8, dv, b) => {
    const loc = stringLocation(pred, u8, dv, b);
    if (!loc) return not;
    return matchString(type, u8, loc[0], loc[1], pat) !== not;
  };
}

export function predFn(pred: Pred): PredFn {
  return pred.field.filterType === 'other' || pred.field.filterType === 'cpu' ? numericPred(pred) : stringPred(pred);
}

// Predicate kinds of the walker's flat program (select_comparison_fn, chosen once).
const K_U8 = 0;
const K_S8 = 1;
const K_U16 = 2;
const K_S16 = 3;
const K_U32 = 4;
const K_S32 = 5;
const K_CPU = 6; // s32 at HDR_CPU
const K_STR_FIXED = 7; // char[N] field or comm: [base+off, base+off+len)
const K_STR_DYN = 8; // __data_loc char[]: u32 (len << 16 | offset) at base+off
const K_FALSE = 9; // no comparison exists (odd sizes, '&' on CPU): never matches
const K_FN = 10; // everything else (64-bit fields, char *): the predicate's closure

const O_EQ = 0;
const O_NE = 1;
const O_LT = 2;
const O_LE = 3;
const O_GT = 4;
const O_GE = 5;
const O_BAND = 6;
const OP_CODE: Record<string, number> = { EQ: O_EQ, NE: O_NE, LT: O_LT, LE: O_LE, GT: O_GT, GE: O_GE, BAND: O_BAND, GLOB: O_EQ };

function kindOf(pred: Pred): number {
  const f = pred.field;
  switch (f.filterType) {
    case 'cpu':
      return pred.op === 'BAND' || pred.op === 'GLOB' ? K_FALSE : K_CPU;
    case 'static_string':
    case 'comm':
      return K_STR_FIXED;
    case 'dyn_string':
      return K_STR_DYN;
    case 'pchar':
      return K_FN;
    default:
      switch (f.size) {
        case 1:
          return f.signed ? K_S8 : K_U8;
        case 2:
          return f.signed ? K_S16 : K_U16;
        case 4:
          return f.signed ? K_S32 : K_U32;
        case 8:
          return K_FN;
        default:
          return K_FALSE;
      }
  }
}

/**
 * A ready-to-run walker for a parsed filter: returns true when the event passes.
 *
 * Linux's filter_match_preds() loop over the flat program, with each predicate's test
 * inlined by kind: numbers of up to 32 bits are one typed load and one compare (the
 * value read with the field's sign, so EQ/NE/& compare the same bits as Linux's
 * unsigned compare and the ordered ops use the sign as select_comparison_fn does);
 * strings run the shared matcher on the field's bytes where they lie. 64-bit fields and
 * char * fall back to the predicate's closure (predFn). Nothing is allocated per event.
 */
export function makeWalker(prog: FilterProg): (u8: Uint8Array, dv: DataView, base: number) => boolean {
  const n = prog.entries.length;
  const kind = new Int32Array(n);
  const op = new Int32Array(n);
  const off = new Int32Array(n);
  const len = new Int32Array(n);
  const val = new Float64Array(n);
  const not = new Uint8Array(n);
  const when = new Uint8Array(n);
  const target = new Int32Array(n);
  const pats: Uint8Array[] = [];
  const types: MatchType[] = [];
  const fns: PredFn[] = [];
  prog.entries.forEach((e, i) => {
    const p = e.pred;
    const f = p.field;
    const k = kindOf(p);
    kind[i] = k;
    op[i] = OP_CODE[p.op]!;
    off[i] = k === K_CPU ? HDR_CPU : f.filterType === 'comm' ? HDR_COMM : f.offset;
    len[i] = f.filterType === 'comm' ? 16 : f.size;
    const bits = k === K_CPU ? 32 : f.size * 8;
    const signed = k === K_CPU || f.signed;
    val[i] = k <= K_CPU ? Number(signed ? BigInt.asIntN(bits, p.val) : BigInt.asUintN(bits, p.val)) : 0;
    not[i] = p.not ? 1 : 0;
    when[i] = e.whenToBranch ? 1 : 0;
    target[i] = e.target;
    pats.push(encoder.encode(p.pattern));
    types.push(p.match);
    fns.push(k === K_FN ? predFn(p) : () => false);
  });
  return (u8, dv, b) => {
    let i = 0;
    for (; i < n; i++) {
      const k = kind[i]!;
      let r: boolean;
      if (k <= K_CPU) {
        const at = b + off[i]!;
        let x: number;
        switch (k) {
          case K_U8:
            x = u8[at]!;
            break;
          case K_S8:
            x = (u8[at]! << 24) >> 24;
            break;
          case K_U16:
            x = dv.getUint16(at, true);
            break;
          case K_S16:
            x = dv.getInt16(at, true);
            break;
          case K_U32:
            x = dv.getUint32(at, true);
            break;
          default: // K_S32, K_CPU
            x = dv.getInt32(at, true);
        }
        const v = val[i]!;
        switch (op[i]) {
          case O_EQ:
            r = x === v;
            break;
          case O_NE:
            r = x !== v;
            break;
          case O_LT:
            r = x < v;
            break;
          case O_LE:
            r = x <= v;
            break;
          case O_GT:
            r = x > v;
            break;
          case O_GE:
            r = x >= v;
            break;
          default:
            r = (x & v) !== 0;
        }
      } else if (k === K_STR_FIXED) {
        r = matchString(types[i]!, u8, b + off[i]!, len[i]!, pats[i]!) !== (not[i] === 1);
      } else if (k === K_STR_DYN) {
        const item = dv.getUint32(b + off[i]!, true);
        r = matchString(types[i]!, u8, b + (item & 0xffff), item >>> 16, pats[i]!) !== (not[i] === 1);
      } else if (k === K_FALSE) {
        r = false;
      } else {
        r = fns[i]!(u8, dv, b);
      }
      if (r === (when[i] === 1)) i = target[i]!;
    }
    return i === n;
  };
}
