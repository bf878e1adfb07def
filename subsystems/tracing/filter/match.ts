/**
 * String matching for filter predicates, byte for byte as Linux's regex_match_*() and
 * lib/glob.c: shared by the tree walker and by the compiled program's string helper, so
 * both evaluators agree by construction on the one part that is not inlined.
 *
 * `len` is what Linux passes: the field size for char[N] (so "*sh" compares the END of the
 * 16-byte array, not of the string — Linux's behaviour, kept), the data_loc length (with
 * the NUL) for __data_loc strings, TASK_COMM_LEN for comm.
 */
import type { MatchType } from './parse.js';

export function matchFull(u8: Uint8Array, at: number, len: number, pat: Uint8Array): boolean {
  for (let i = 0; i < len; i++) {
    const a = u8[at + i]!;
    const b = i < pat.length ? pat[i]! : 0;
    if (a !== b) return false;
    if (a === 0) return true;
  }
  return true;
}

function matchFront(u8: Uint8Array, at: number, len: number, pat: Uint8Array): boolean {
  if (len < pat.length) return false;
  for (let i = 0; i < pat.length; i++) if (u8[at + i] !== pat[i]) return false;
  return true;
}

function matchMiddle(u8: Uint8Array, at: number, len: number, pat: Uint8Array): boolean {
  if (pat.length === 0) return true;
  outer: for (let s = 0; s + pat.length <= len; s++) {
    for (let i = 0; i < pat.length; i++) if (u8[at + s + i] !== pat[i]) continue outer;
    return true;
  }
  return false;
}

function matchEnd(u8: Uint8Array, at: number, len: number, pat: Uint8Array): boolean {
  const strlen = len - 1;
  if (strlen < pat.length) return false;
  const from = at + strlen - pat.length;
  for (let i = 0; i < pat.length; i++) if (u8[from + i] !== pat[i]) return false;
  return true;
}

/** lib/glob.c glob_match(): *, ?, [a-z], [!x], backslash escapes; str ends at NUL or len. */
export function globMatch(pat: Uint8Array, u8: Uint8Array, at: number, len: number): boolean {
  let p = 0;
  let s = 0;
  let backP = -1;
  let backS = 0;
  const P = (k: number): number => (k < pat.length ? pat[k]! : 0);
  for (;;) {
    const c = s < len ? u8[at + s]! : 0;
    s++;
    let d = P(p++);
    let literal = true;
    if (d === 0x3f) {
      // '?' matches any one character
      if (c === 0) return false;
      continue;
    } else if (d === 0x2a) {
      // '*': remember where to resume when a later literal fails
      if (P(p) === 0) return true;
      backP = p;
      backS = --s;
      continue;
    } else if (d === 0x5b) {
      // '[...]': a class; malformed ones are the literal '['
      const inverted = P(p) === 0x21;
      let cls = p + (inverted ? 1 : 0);
      let a = P(cls++);
      let match = false;
      let malformed = false;
      do {
        let b = a;
        if (a === 0) {
          malformed = true;
          break;
        }
        if (P(cls) === 0x2d && P(cls + 1) !== 0x5d) {
          b = P(cls + 1);
          if (b === 0) {
            malformed = true;
            break;
          }
          cls += 2;
        }
        if (a <= c && c <= b) match = true;
        a = P(cls++);
      } while (a !== 0x5d);
      if (!malformed) {
        if (c !== 0 && match !== inverted) {
          p = cls;
          continue;
        }
        literal = false; // backtrack
      }
    } else if (d === 0x5c) {
      d = P(p++);
    }
    if (literal && c === d) {
      if (d === 0) return true;
      continue;
    }
    if (c === 0 || backP < 0) return false;
    p = backP;
    s = ++backS;
  }
}

export function matchString(type: MatchType, u8: Uint8Array, at: number, len: number, pat: Uint8Array): boolean {
  switch (type) {
    case 'full':
      return matchFull(u8, at, len, pat);
    case 'front':
      return matchFront(u8, at, len, pat);
    case 'middle':
      return matchMiddle(u8, at, len, pat);
    case 'end':
      return matchEnd(u8, at, len, pat);
    case 'glob':
      return globMatch(pat, u8, at, len);
  }
}
