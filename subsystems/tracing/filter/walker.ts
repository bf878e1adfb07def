/**
 * The predicate walker: Linux's filter_match_preds(). Each predicate becomes a small
 * closure chosen once by field size, signedness and operator (select_comparison_fn), and
 * the walk is a loop over the flat program with short-circuit jumps — no tree recursion,
 * no allocation per event.
 *
 * A record is read where it lies in the address space: `base` is its offset. The filter
 * header sits just before it (see FILTER_HDR in compile.ts): the CPU at base-24 (u32) and
 * current->comm at base-16 (char[16]); the compiled program reads the same bytes.
 */
import type { FilterProg, Pred } from './parse.js';
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

/** A ready-to-run walker for a parsed filter: returns true when the event passes. */
export function makeWalker(prog: FilterProg): (u8: Uint8Array, dv: DataView, base: number) => boolean {
  const n = prog.entries.length;
  const fns = prog.entries.map((e) => predFn(e.pred));
  const when = prog.entries.map((e) => e.whenToBranch);
  const target = Int32Array.from(prog.entries.map((e) => e.target));
  return (u8, dv, base) => {
    let i = 0;
    for (; i < n; i++) {
      if (fns[i]!(u8, dv, base) === when[i]) i = target[i]!;
    }
    return i === n;
  };
}
