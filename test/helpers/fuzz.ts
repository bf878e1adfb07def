// A small seeded fuzzer for test/fuzz: random bytes, random token strings from a
// grammar's vocabulary, and mutations of valid corpus inputs. Everything depends only on
// the seed, so a failure names the seed and the input and replays exactly.
//
// Environment (for longer local campaigns; `make test` uses the defaults):
//   FUZZ_ITERATIONS=N   run N iterations in every fuzz loop instead of its default
//   FUZZ_SEED=S         base seed (default 1)
//   FUZZ_SLOW_MS=T      a single call slower than T ms (twice in a row) fails (default 250)
//   FUZZ_SHOW=N         characters of a failing input to print (default 400)
import { performance } from 'node:perf_hooks';
import { ERRNO, KernelError } from '../../kernel/errno.js';
import { FsError } from '../../fs/api.js';

/** mulberry32 */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const BASE_SEED = Number(process.env.FUZZ_SEED ?? 1) >>> 0;
export const SLOW_MS = Number(process.env.FUZZ_SLOW_MS ?? 250);
const SHOW = Number(process.env.FUZZ_SHOW ?? 400);

/** Iterations of one fuzz loop: FUZZ_ITERATIONS when set, else the loop's default. */
export function iterations(dflt: number): number {
  const n = Number(process.env.FUZZ_ITERATIONS);
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : dflt;
}

/** Numbers that break parsers: limits of every width, signs, radices, huge digit runs. */
export const NUMBER_CORNERS: readonly string[] = [
  '0', '1', '-1', '2', '7', '8', '15', '16', '31', '32', '33', '63', '64', '65', '127', '128', '255', '256',
  '4095', '4096', '4097', '65535', '65536', '-32768', '32767', '32768', '2147483647', '2147483648',
  '-2147483648', '-2147483649', '4294967295', '4294967296', '9223372036854775807', '9223372036854775808',
  '18446744073709551615', '18446744073709551616', '-9223372036854775808', '0x0', '0x7fffffff', '0x80000000',
  '0xffffffff', '0x100000000', '0xffffffffffffffff', '0x10000000000000000', '0b101', '017', '08', '1e3',
  '1.5', 'NaN', 'Infinity', '-0', '+1', '0x', '-', '--1', '9'.repeat(40), '0x' + 'f'.repeat(40),
];

/** Characters that break parsers: delimiters, quotes, escapes, controls, non-ASCII. */
const SPECIAL = [
  ' ', '\t', '\n', '\r', '\0', '"', "'", '\\', '(', ')', '[', ']', '{', '}', ',', ';', ':', '#', '/*', '*/',
  '*', '?', '~', '!', '=', '&', '|', '^', '<', '>', '+', '-', '%', '$', '@', '.', '/', 'é', '\u{1F600}', '\uFFFD',
  '\u00a0', '\u2028',
];

export class Fuzz {
  private readonly r: () => number;
  constructor(readonly seed: number) {
    this.r = mulberry32((Math.imul(seed ^ BASE_SEED, 0x9e3779b1) + 0x7f4a7c15) >>> 0);
  }

  /** 0..n-1 */
  int(n: number): number {
    return Math.floor(this.r() * n);
  }

  chance(p: number): boolean {
    return this.r() < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  u32(): number {
    return (this.int(0x10000) * 0x10000 + this.int(0x10000)) >>> 0;
  }

  /** A 32-bit signed value, biased towards corners. */
  i32(): number {
    if (this.chance(0.5)) return this.pick([0, 1, -1, 2, 4, 8, 16, 31, 32, 63, 64, 255, 4096, 0x7fffffff, -0x80000000, 0xffff, -0x8000]);
    return this.u32() | 0;
  }

  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }

  /** Printable-ish text with the odd special character. */
  text(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += this.chance(0.15) ? this.pick(SPECIAL) : String.fromCharCode(32 + this.int(95));
    return s;
  }

  /** n tokens from the vocabulary, joined with random separators. */
  tokens(vocab: readonly string[], n: number): string {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const t = this.chance(0.1) ? this.pick(NUMBER_CORNERS) : this.pick(vocab);
      out.push(t, this.chance(0.8) ? ' ' : this.pick(['', '', '\n', '\t', '  ', ',']));
    }
    return out.join('');
  }

  /** 1..4 mutations of s: splice tokens/specials/numbers in, cut, duplicate, swap, truncate. */
  mutate(s: string, vocab: readonly string[] = []): string {
    let t = s;
    const rounds = 1 + this.int(4);
    for (let k = 0; k < rounds; k++) {
      const at = this.int(t.length + 1);
      const to = at + this.int(Math.min(16, t.length - at) + 1);
      switch (this.int(10)) {
        case 0: t = t.slice(0, at) + t.slice(to); break; // delete
        case 1: t = t.slice(0, at) + this.pick(SPECIAL) + t.slice(at); break;
        case 2: t = t.slice(0, at) + (vocab.length ? this.pick(vocab) : this.text(3)) + ' ' + t.slice(at); break;
        case 3: t = t.slice(0, at) + this.pick(NUMBER_CORNERS) + t.slice(at); break;
        case 4: t = t.slice(0, to) + t.slice(at, to) + t.slice(to); break; // duplicate
        case 5: t = t.slice(0, at); break; // truncate
        case 6: { // replace one number with a corner
          const m = [...t.matchAll(/-?(0x)?[0-9a-f]+/gi)];
          if (m.length) {
            const x = this.pick(m);
            t = t.slice(0, x.index) + this.pick(NUMBER_CORNERS) + t.slice(x.index + x[0].length);
          }
          break;
        }
        case 7: { // swap two lines
          const lines = t.split('\n');
          if (lines.length > 1) {
            const i = this.int(lines.length);
            const j = this.int(lines.length);
            [lines[i], lines[j]] = [lines[j]!, lines[i]!];
            t = lines.join('\n');
          }
          break;
        }
        case 8: t = t.slice(0, at) + String.fromCharCode(this.int(0x80)) + t.slice(to); break; // replace range
        default: t = t.slice(0, at) + t.slice(at, to).toUpperCase() + t.slice(to); break;
      }
    }
    return t;
  }

  mutateBytes(b: Uint8Array): Uint8Array {
    const out = Array.from(b);
    const rounds = 1 + this.int(4);
    for (let k = 0; k < rounds; k++) {
      const at = this.int(out.length + 1);
      switch (this.int(6)) {
        case 0: if (at < out.length) out[at] = (out[at]! ^ (1 << this.int(8))) & 0xff; break;
        case 1: if (at < out.length) out[at] = this.int(256); break;
        case 2: out.splice(at, this.int(9)); break;
        case 3: out.splice(at, 0, ...this.bytes(this.int(9))); break;
        case 4: if (at < out.length) out[at] = this.pick([0, 0x7f, 0x80, 0xff]); break;
        default: out.splice(at, 0, ...out.slice(at, at + this.int(16))); break;
      }
    }
    return Uint8Array.from(out);
  }
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; errno: string; message: string };

const show = (input: unknown): string => {
  try {
    return JSON.stringify(input, (_k, v: unknown) =>
      typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? `hex:${Buffer.from(v).toString('hex')}` : v).slice(0, SHOW);
  } catch {
    return String(input).slice(0, SHOW);
  }
};

/**
 * Runs fn on one input: success, or a KernelError / FsError naming an errno from
 * kernel/errno.ts. Anything else (a TypeError, RangeError, stack overflow...) is a bug
 * and fails with the input. So does a call slower than SLOW_MS twice in a row (once may
 * be a GC pause or the other test workers).
 */
export function expectClean<T>(what: string, input: unknown, fn: () => T): Outcome<T> {
  const once = (): { out: Outcome<T>; ms: number } => {
    const t0 = performance.now();
    let out: Outcome<T>;
    try {
      out = { ok: true, value: fn() };
    } catch (e) {
      if (e instanceof KernelError || e instanceof FsError) {
        const errno = e instanceof KernelError ? e.errno : e.code;
        if (!(errno in ERRNO)) throw new Error(`${what}: invalid errno ${String(errno)} for input ${show(input)}`);
        out = { ok: false, errno, message: e.message };
      } else {
        const err = e as Error;
        throw new Error(`${what}: non-KernelError ${err?.name}: ${err?.message} for input ${show(input)}\n${err?.stack ?? ''}`);
      }
    }
    return { out, ms: performance.now() - t0 };
  };
  const first = once();
  if (first.ms <= SLOW_MS) return first.out;
  const again = once();
  if (again.ms > SLOW_MS) throw new Error(`${what}: ${again.ms.toFixed(0)} ms (limit ${SLOW_MS}) for input ${show(input)}`);
  return again.out;
}

/** Fails with the input unless cond holds. */
export function check(cond: boolean, what: string, input: unknown): void {
  if (!cond) throw new Error(`${what} for input ${show(input)}`);
}
