// A direct reading of classic BPF semantics (no conversion), the reference the converted
// programs are compared with. Packet = the bytes LD_ABS 0 sees; no device, no ancillary data.
import type { SockFilter } from '../../../../kernel/bpf/classic/isa.js';

export function refRun(prog: readonly SockFilter[], pkt: Uint8Array): number {
  let A = 0;
  let X = 0;
  const M = new Array<number>(16).fill(0);
  const load = (off: number, size: number): number | null => {
    if (off < 0 || off + size > pkt.length) return null;
    let v = 0;
    for (let i = 0; i < size; i++) v = (v * 256 + pkt[off + i]!) >>> 0;
    return v;
  };
  for (let pc = 0; pc < prog.length; pc++) {
    const f = prog[pc]!;
    const k = f.k >>> 0;
    const size = [4, 2, 1][(f.code >> 3) & 3] ?? 4;
    switch (f.code) {
      case 0x20: case 0x28: case 0x30: case 0x40: case 0x48: case 0x50: {
        const off = f.code >= 0x40 ? (X + k) | 0 : k | 0;
        const v = load(off, size);
        if (v === null) return 0;
        A = v;
        break;
      }
      case 0x00: A = k; break;
      case 0x01: X = k; break;
      case 0x80: A = pkt.length; break;
      case 0x81: X = pkt.length; break;
      case 0x60: A = M[k]!; break;
      case 0x61: X = M[k]!; break;
      case 0x02: M[k] = A; break;
      case 0x03: M[k] = X; break;
      case 0xb1: {
        const v = load(k | 0, 1);
        if (v === null) return 0;
        X = (v & 0xf) * 4;
        break;
      }
      case 0x07: X = A; break;
      case 0x87: A = X; break;
      case 0x06: return k;
      case 0x16: return A;
      case 0x05: pc += k; break;
      case 0x84: A = (-A) >>> 0; break;
      default: {
        const cls = f.code & 7;
        const src = f.code & 0x08 ? X : k;
        const op = f.code & 0xf0;
        if (cls === 4) {
          switch (op) {
            case 0x00: A = (A + src) >>> 0; break;
            case 0x10: A = (A - src) >>> 0; break;
            case 0x20: A = Math.imul(A, src) >>> 0; break;
            case 0x30: if (src === 0) return 0; A = Math.floor(A / src) >>> 0; break;
            case 0x90: if (src === 0) return 0; A = (A % src) >>> 0; break;
            case 0x40: A = (A | src) >>> 0; break;
            case 0x50: A = (A & src) >>> 0; break;
            case 0xa0: A = (A ^ src) >>> 0; break;
            case 0x60: A = (A << (src & 31)) >>> 0; break;
            case 0x70: A = A >>> (src & 31); break;
            default: throw new Error(`ref: alu ${f.code}`);
          }
        } else if (cls === 5) {
          let t: boolean;
          switch (op) {
            case 0x10: t = A === src; break;
            case 0x20: t = A > src; break;
            case 0x30: t = A >= src; break;
            case 0x40: t = (A & src) !== 0; break;
            default: throw new Error(`ref: jmp ${f.code}`);
          }
          pc += t ? f.jt : f.jf;
        } else throw new Error(`ref: code ${f.code}`);
      }
    }
  }
  throw new Error('ref: fell off the end');
}

/** xorshift, so random programs are reproducible by seed. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}

/** A random program from the whole classic ISA (minus ancillary loads); may fail the checker. */
export function randomProgram(r: () => number, maxLen = 14): SockFilter[] {
  const n = 2 + (r() % maxLen);
  const pick = <T,>(xs: readonly T[]): T => xs[r() % xs.length]!;
  const small = (): number => r() % 24;
  const k32 = (): number => pick([0, 1, 2, 3, 14, 31, 32, 0x7fffffff, 0x80000000, 0xffffffff, r() >>> 0, small()]);
  const out: SockFilter[] = [];
  for (let i = 0; i < n - 1; i++) {
    const left = n - 1 - i - 1;
    const kind = r() % 9;
    const f = (code: number, k = 0, jt = 0, jf = 0): SockFilter => ({ code, jt, jf, k: k >>> 0 });
    switch (kind) {
      case 0: out.push(f(pick([0x20, 0x28, 0x30]), small())); break;
      case 1: out.push(f(pick([0x40, 0x48, 0x50]), small())); break;
      case 2: { const c = pick([0x00, 0x01, 0x80, 0x81]); out.push(f(c, c >= 0x80 ? 0 : k32())); break; }
      case 3: out.push(f(pick([0x04, 0x14, 0x24, 0x34, 0x94, 0x44, 0x54, 0xa4, 0x64, 0x74]), pick([1, 2, 3, 7, 31, r() >>> 0]))); break;
      case 4: out.push(f(pick([0x0c, 0x1c, 0x2c, 0x3c, 0x9c, 0x4c, 0x5c, 0xac, 0x6c, 0x7c, 0x84]))); break;
      case 5: { const c = pick([0x07, 0x87, 0xb1]); out.push(f(c, c === 0xb1 ? small() : 0)); break; }
      case 6: {
        const m = r() % 4;
        out.push(f(pick([0x02, 0x03, 0x02, 0x60, 0x61]), m));
        break;
      }
      case 7: {
        if (left <= 0) { out.push(f(0x00, k32())); break; }
        const c = pick([0x15, 0x25, 0x35, 0x45, 0x1d, 0x2d, 0x3d, 0x4d]);
        out.push(f(c, c & 8 ? 0 : k32(), r() % (left + 1), r() % (left + 1)));
        break;
      }
      default:
        out.push(r() % 4 === 0 ? f(0x06, pick([0, 1, 5, 40, 0xffffffff])) : f(0x00, k32()));
    }
  }
  out.push(r() % 2 ? { code: 0x06, jt: 0, jf: 0, k: pick([0, 3, 20, 0x40000, 0xffffffff]) >>> 0 } : { code: 0x16, jt: 0, jf: 0, k: 0 });
  return out;
}

export function randomPacket(r: () => number): Uint8Array {
  const n = r() % 34;
  return Uint8Array.from({ length: n }, () => r() & 0xff);
}
