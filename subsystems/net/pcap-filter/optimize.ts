/**
 * The optimizer: the same kinds of transformation libpcap's optimize.c makes, on the
 * block DAG, repeated until nothing changes:
 *
 *   values      each register (A, X, M[0..15]) holds a value number; a load of a packet
 *               word always gives the same number (packets do not change while a filter
 *               runs), so "A already holds [12]" is a lookup. Constants fold.
 *   redundant   a statement whose register already holds its result is removed
 *               (the second `ldh [12]`, the second `ldxb 4*([14]&0xf)`, ...).
 *   dead code   a statement whose result no later statement or jump reads is removed.
 *   threading   an edge P→B where the facts known on that edge (tests passed on every
 *               path to it) decide B's test goes straight to B's successor, provided
 *               every register live there holds the same value either way (libpcap's
 *               use_conflict). This is what turns `(ip and a) or (ip and b)` into one test.
 *   merging     identical blocks (same statements, same successors) become one, and
 *               empty unconditional blocks are bypassed.
 *   peephole    `and #m; jeq #0` → `jset #m` with the branches swapped.
 *
 * Like libpcap, loads are treated as pure: removing a load that would have read past the
 * end of a short packet changes nothing for packets long enough, and libpcap does the
 * same, so both accept the same packets.
 */
import {
  BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_DIV, BPF_IMM, BPF_IND, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET,
  BPF_K, BPF_LD, BPF_LDX, BPF_LEN, BPF_LSH, BPF_MEM, BPF_MOD, BPF_MSH, BPF_MUL, BPF_NEG, BPF_OR, BPF_RSH,
  BPF_ST, BPF_STX, BPF_SUB, BPF_X, BPF_XOR, aluOp, cls, jmpOp, modeOf, sizeOf, srcBit,
} from '../../../kernel/bpf/isa.js';
import { BPF_MEMWORDS, BPF_MISC, BPF_TAX, BPF_TXA } from '../../../kernel/bpf/classic/isa.js';
import { succs, topoOrder, type Block, type Stmt } from './blocks.js';

const NREGS = 2 + BPF_MEMWORDS;
const A = 0;
const X = 1;
const M = (k: number): number => 2 + k;

type State = number[];

class Values {
  private readonly byKey = new Map<string, number>();
  readonly consts = new Map<number, number>();
  vn(key: string): number {
    let v = this.byKey.get(key);
    if (v === undefined) {
      v = this.byKey.size + 1;
      this.byKey.set(key, v);
    }
    return v;
  }
  private fresh = 0;
  /** A value equal to no other (what an unknown statement leaves). */
  unknown(): number {
    return this.vn(`?${this.fresh++}`);
  }
  konst(c: number): number {
    const v = this.vn(`#${c >>> 0}`);
    this.consts.set(v, c >>> 0);
    return v;
  }
  constOf(v: number): number | undefined {
    return this.consts.get(v);
  }
}

function foldAlu(op: number, a: number, b: number): number | null {
  switch (op) {
    case BPF_ADD: return (a + b) >>> 0;
    case BPF_SUB: return (a - b) >>> 0;
    case BPF_MUL: return Math.imul(a, b) >>> 0;
    case BPF_DIV: return b === 0 ? null : Math.floor(a / b) >>> 0;
    case BPF_MOD: return b === 0 ? null : a % b >>> 0;
    case BPF_AND: return (a & b) >>> 0;
    case BPF_OR: return (a | b) >>> 0;
    case BPF_XOR: return (a ^ b) >>> 0;
    case BPF_LSH: return b > 31 ? null : (a << b) >>> 0;
    case BPF_RSH: return b > 31 ? null : a >>> b;
    default: return null;
  }
}

/**
 * Applies one statement to a state. Returns the statement it should become (possibly
 * rewritten to a cheaper equivalent) or null when it has no effect.
 */
function step(vals: Values, s: State, stmt: Stmt): Stmt | null {
  const c = stmt.code;
  const set = (r: number, v: number, out: Stmt): Stmt | null => {
    if (s[r] === v) return null;
    s[r] = v;
    return out;
  };
  const constA = vals.constOf(s[A]!);
  const constX = vals.constOf(s[X]!);
  switch (cls(c)) {
    case BPF_LD:
      switch (modeOf(c)) {
        case BPF_ABS:
          return set(A, vals.vn(`abs${sizeOf(c)}:${stmt.k >>> 0}`), stmt);
        case BPF_IND:
          if (constX !== undefined) {
            const k = (constX + stmt.k) >>> 0;
            return set(A, vals.vn(`abs${sizeOf(c)}:${k}`), { code: BPF_LD | BPF_ABS | sizeOf(c), k });
          }
          return set(A, vals.vn(`ind${sizeOf(c)}:${s[X]}:${stmt.k >>> 0}`), stmt);
        case BPF_IMM:
          return set(A, vals.konst(stmt.k), stmt);
        case BPF_LEN:
          return set(A, vals.vn('len'), stmt);
        case BPF_MEM: {
          const v = s[M(stmt.k)]!;
          const k = vals.constOf(v);
          return set(A, v, k !== undefined ? { code: BPF_LD | BPF_IMM, k } : stmt);
        }
      }
      break;
    case BPF_LDX:
      switch (modeOf(c)) {
        case BPF_IMM:
          return set(X, vals.konst(stmt.k), stmt);
        case BPF_LEN:
          return set(X, vals.vn('len'), stmt);
        case BPF_MSH:
          return set(X, vals.vn(`msh:${stmt.k >>> 0}`), stmt);
        case BPF_MEM: {
          const v = s[M(stmt.k)]!;
          const k = vals.constOf(v);
          return set(X, v, k !== undefined ? { code: BPF_LDX | BPF_IMM, k } : stmt);
        }
      }
      break;
    case BPF_ST:
      return set(M(stmt.k), s[A]!, stmt);
    case BPF_STX:
      return set(M(stmt.k), s[X]!, stmt);
    case BPF_ALU: {
      const op = aluOp(c);
      if (op === BPF_NEG) {
        if (constA !== undefined) return set(A, vals.konst(-constA >>> 0), { code: BPF_LD | BPF_IMM, k: -constA >>> 0 });
        return set(A, vals.vn(`neg:${s[A]}`), stmt);
      }
      let k: number | undefined = srcBit(c) === BPF_K ? stmt.k >>> 0 : constX;
      let out = stmt;
      if (srcBit(c) === BPF_X && constX !== undefined && foldAlu(op, 1, constX) !== null) {
        out = { code: BPF_ALU | op | BPF_K, k: constX };
      } else if (srcBit(c) === BPF_X) {
        k = undefined;
      }
      if (k !== undefined && constA !== undefined) {
        const r = foldAlu(op, constA, k);
        if (r !== null) return set(A, vals.konst(r), { code: BPF_LD | BPF_IMM, k: r });
      }
      // x + 0, x | 0, x ^ 0, x << 0, x >> 0, x - 0 and x * 1: no effect
      if (k !== undefined && ((k === 0 && ([BPF_ADD, BPF_SUB, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH] as number[]).includes(op)) || (k === 1 && (op === BPF_MUL || op === BPF_DIV)))) {
        return null;
      }
      const rhs = k !== undefined ? `#${k}` : String(s[X]);
      return set(A, vals.vn(`alu${op}:${s[A]}:${rhs}`), out);
    }
    case BPF_MISC:
      if ((c & 0xf8) === BPF_TAX) return set(X, s[A]!, stmt);
      if ((c & 0xf8) === BPF_TXA) return set(A, s[X]!, stmt);
      break;
  }
  // Anything else is not produced by gencode; keep it and forget what A and X hold.
  s[A] = vals.unknown();
  s[X] = vals.unknown();
  return stmt;
}

/** Registers read and written by a statement, as bit masks over A, X, M[]. */
function useDef(stmt: Stmt): { use: number; def: number } {
  const c = stmt.code;
  const a = 1 << A;
  const x = 1 << X;
  const m = 1 << M(stmt.k & 15);
  switch (cls(c)) {
    case BPF_LD:
      switch (modeOf(c)) {
        case BPF_IND: return { use: x, def: a };
        case BPF_MEM: return { use: m, def: a };
        default: return { use: 0, def: a };
      }
    case BPF_LDX:
      return modeOf(c) === BPF_MEM ? { use: m, def: x } : { use: 0, def: x };
    case BPF_ST: return { use: a, def: m };
    case BPF_STX: return { use: x, def: m };
    case BPF_ALU:
      return { use: a | (srcBit(c) === BPF_X && aluOp(c) !== BPF_NEG ? x : 0), def: a };
    case BPF_MISC:
      return (c & 0xf8) === BPF_TXA ? { use: x, def: a } : { use: a, def: x };
    default:
      return { use: a | x, def: 0 };
  }
}

function jumpUses(b: Block): number {
  if (b.ret !== null || b.jt === b.jf) return 0;
  return (1 << A) | (srcBit(b.jcode) === BPF_X ? 1 << X : 0);
}

function liveness(order: Block[]): Map<Block, number> {
  const liveIn = new Map<Block, number>();
  for (let i = order.length - 1; i >= 0; i--) {
    const b = order[i]!;
    let live = 0;
    for (const s of succs(b)) live |= liveIn.get(s) ?? 0;
    live |= jumpUses(b);
    for (let j = b.stmts.length - 1; j >= 0; j--) {
      const ud = useDef(b.stmts[j]!);
      live = (live & ~ud.def) | ud.use;
    }
    liveIn.set(b, live);
  }
  return liveIn;
}

function liveOut(b: Block, liveIn: Map<Block, number>): number {
  let live = 0;
  for (const s of succs(b)) live |= liveIn.get(s) ?? 0;
  return live;
}

/** Entry states: the meet over predecessors (same value or an opaque one per block). */
function entryStates(vals: Values, order: Block[], root: Block): Map<Block, State> {
  const entry = new Map<Block, State>();
  const exits = new Map<Block, State[]>();
  for (const b of order) {
    let s: State;
    const ins = exits.get(b);
    if (b === root || !ins) {
      s = Array.from({ length: NREGS }, (_, r) => vals.vn(`in:${b.id}:${r}`));
    } else {
      s = ins[0]!.slice();
      for (const o of ins.slice(1)) for (let r = 0; r < NREGS; r++) if (s[r] !== o[r]) s[r] = vals.vn(`in:${b.id}:${r}`);
    }
    entry.set(b, s);
    const out = s.slice();
    for (const st of b.stmts) step(vals, out, st);
    for (const n of succs(b)) {
      const l = exits.get(n) ?? [];
      l.push(out);
      exits.set(n, l);
    }
  }
  return entry;
}

/** Redundant-statement removal and constant folding; true if anything changed. */
function simplifyStatements(vals: Values, root: Block): boolean {
  const order = topoOrder(root);
  const entry = entryStates(vals, order, root);
  let changed = false;
  for (const b of order) {
    const s = entry.get(b)!.slice();
    const out: Stmt[] = [];
    for (const st of b.stmts) {
      const r = step(vals, s, st);
      if (r === null) {
        changed = true;
        continue;
      }
      if (r.code !== st.code || r.k !== st.k) changed = true;
      out.push(r);
    }
    b.stmts = out;
    if (b.ret === null && b.jt !== b.jf) {
      const cx = vals.constOf(s[X]!);
      if (srcBit(b.jcode) === BPF_X && cx !== undefined) {
        b.jcode = BPF_JMP | jmpOp(b.jcode) | BPF_K;
        b.jk = cx;
        changed = true;
      }
      const ca = vals.constOf(s[A]!);
      if (ca !== undefined && srcBit(b.jcode) === BPF_K) {
        const taken = evalJump(jmpOp(b.jcode), ca, b.jk);
        b.jt = b.jf = taken ? b.jt : b.jf;
        changed = true;
      }
    }
  }
  return changed;
}

function evalJump(op: number, a: number, k: number): boolean {
  switch (op) {
    case BPF_JEQ: return a === k >>> 0;
    case BPF_JGT: return a > k >>> 0;
    case BPF_JGE: return a >= k >>> 0;
    case BPF_JSET: return (a & k) !== 0;
    default: return false;
  }
}

function deadCode(root: Block): boolean {
  const order = topoOrder(root);
  const liveIn = liveness(order);
  let changed = false;
  for (const b of order) {
    let live = liveOut(b, liveIn) | jumpUses(b);
    const keep: Stmt[] = [];
    for (let j = b.stmts.length - 1; j >= 0; j--) {
      const st = b.stmts[j]!;
      const ud = useDef(st);
      if ((ud.def & live) === 0 && ud.def !== 0) {
        changed = true;
        continue;
      }
      live = (live & ~ud.def) | ud.use;
      keep.push(st);
    }
    b.stmts = keep.reverse();
  }
  return changed;
}

/** `and #m; jeq #0` with A dead afterwards → `jset #m`, branches swapped. */
function peephole(root: Block): boolean {
  const order = topoOrder(root);
  const liveIn = liveness(order);
  let changed = false;
  for (const b of order) {
    if (b.ret !== null || b.jt === b.jf) continue;
    const last = b.stmts[b.stmts.length - 1];
    if (!last || last.code !== (BPF_ALU | BPF_AND | BPF_K) || b.jcode !== (BPF_JMP | BPF_JEQ | BPF_K) || b.jk !== 0) continue;
    if (liveOut(b, liveIn) & (1 << A)) continue;
    b.stmts.pop();
    b.jcode = BPF_JMP | BPF_JSET | BPF_K;
    b.jk = last.k >>> 0;
    [b.jt, b.jf] = [b.jf, b.jt];
    changed = true;
  }
  return changed;
}

type Facts = Map<string, boolean>;

function factKey(vnA: number, b: Block, xvn: number): string {
  return srcBit(b.jcode) === BPF_X ? `${vnA}|${b.jcode}|x${xvn}` : `${vnA}|${b.jcode}|${b.jk >>> 0}`;
}

/** The outcome of b's test (A = vnA) given facts, or undefined. */
function decide(vals: Values, facts: Facts, b: Block, vnA: number, xvn: number): boolean | undefined {
  const exact = facts.get(factKey(vnA, b, xvn));
  if (exact !== undefined) return exact;
  if (srcBit(b.jcode) !== BPF_K) return undefined;
  const op = jmpOp(b.jcode);
  const k = b.jk >>> 0;
  for (const [key, val] of facts) {
    const [v, code, ks] = key.split('|') as [string, string, string];
    if (Number(v) !== vnA || ks.startsWith('x')) continue;
    const fop = jmpOp(Number(code));
    const c = Number(ks);
    if (fop === BPF_JEQ && val) return evalJump(op, c, k);
    if (fop === BPF_JGT && val && (op === BPF_JGT || op === BPF_JGE) && c >= k) return true; // A > c >= k
    if (fop === BPF_JGE && val && op === BPF_JGE && c >= k) return true;
    if (fop === BPF_JGE && val && op === BPF_JGT && c > k) return true;
    if (fop === BPF_JGT && !val && (op === BPF_JGT && c <= k)) return false; // A <= c <= k
    if (fop === BPF_JGE && !val && ((op === BPF_JGE && c <= k) || (op === BPF_JGT && c <= k + 1))) return false;
    if (fop === BPF_JGT && !val && op === BPF_JGE && c < k) return false;
    if (fop === BPF_JGT && !val && op === BPF_JEQ && c < k) return false;
    if (fop === BPF_JGE && !val && op === BPF_JEQ && c <= k) return false;
    if (fop === BPF_JGT && val && op === BPF_JEQ && c >= k) return false;
    if (fop === BPF_JGE && val && op === BPF_JEQ && c > k) return false;
  }
  return undefined;
}

function thread(vals: Values, root: Block): boolean {
  const order = topoOrder(root);
  const entry = entryStates(vals, order, root);
  const liveIn = liveness(order);
  const inFacts = new Map<Block, Facts>();
  const exitOf = (b: Block, from: State): State => {
    const s = from.slice();
    for (const st of b.stmts) step(vals, s, st);
    return s;
  };
  let changed = false;
  for (const p of order) {
    const facts = inFacts.get(p) ?? new Map<string, boolean>();
    if (p.ret !== null) continue;
    const pExit = exitOf(p, entry.get(p)!);
    for (const side of ['jt', 'jf'] as const) {
      const edge: Facts = new Map(facts);
      if (p.jt !== p.jf) edge.set(factKey(pExit[A]!, p, pExit[X]!), side === 'jt');
      // Follow the edge past every block the facts decide.
      let target = p[side]!;
      for (let hops = 0; hops < 10_000 && target.ret === null; hops++) {
        const tExit = exitOf(target, pExit);
        let next: Block;
        if (target.jt === target.jf) {
          next = target.jt!;
        } else {
          const d = decide(vals, edge, target, tExit[A]!, tExit[X]!);
          if (d === undefined) break;
          next = d ? target.jt! : target.jf!;
        }
        const live = liveIn.get(next) ?? 0;
        let conflict = false;
        for (let r = 0; r < NREGS; r++) if (live & (1 << r) && tExit[r] !== pExit[r]) conflict = true;
        if (conflict) break;
        target = next;
      }
      if (target !== p[side]) {
        p[side] = target;
        changed = true;
      }
    }
    // Facts on entry to each successor: the intersection over its in-edges.
    for (const side of ['jt', 'jf'] as const) {
      const n = p[side]!;
      const edge: Facts = new Map(facts);
      if (p.jt !== p.jf) edge.set(factKey(pExit[A]!, p, pExit[X]!), side === 'jt');
      const prev = inFacts.get(n);
      if (prev === undefined) inFacts.set(n, edge);
      else for (const [k, v] of prev) if (edge.get(k) !== v) prev.delete(k);
      if (p.jt === p.jf) break;
    }
    // Moving an edge forward leaves the states computed above right on every live
    // register (use_conflict held), and later blocks' facts are intersected over the
    // edges as they are now, so the pass goes on; the caller iterates to a fixed point.
  }
  return changed;
}

/** Merges identical blocks and bypasses empty unconditional ones; returns the new root. */
function merge(root: Block): { root: Block; changed: boolean } {
  const order = topoOrder(root);
  const canon = new Map<Block, Block>();
  const byKey = new Map<string, Block>();
  let changed = false;
  const resolve = (b: Block): Block => canon.get(b) ?? b;
  for (let i = order.length - 1; i >= 0; i--) {
    const b = order[i]!;
    if (b.ret === null) {
      const jt = resolve(b.jt!);
      const jf = resolve(b.jf!);
      if (jt !== b.jt || jf !== b.jf) changed = true;
      b.jt = jt;
      b.jf = jf;
      if (b.stmts.length === 0 && jt === jf) {
        canon.set(b, jt);
        changed = true;
        continue;
      }
    }
    const key = JSON.stringify([b.stmts.map((s) => [s.code, s.k >>> 0]), b.ret, b.jt === b.jf ? 0 : b.jcode, b.jt === b.jf ? 0 : b.jk, b.jt?.id, b.jf?.id]);
    const same = byKey.get(key);
    if (same && same !== b) {
      canon.set(b, same);
      changed = true;
    } else {
      byKey.set(key, b);
    }
  }
  return { root: resolve(root), changed };
}

/** Optimizes the DAG in place; returns its (possibly new) root. */
export function optimize(root: Block): Block {
  const vals = new Values();
  for (let iter = 0; iter < 1000; iter++) {
    let changed = simplifyStatements(vals, root);
    changed = deadCode(root) || changed;
    changed = peephole(root) || changed;
    changed = thread(vals, root) || changed;
    const m = merge(root);
    root = m.root;
    changed = m.changed || changed;
    if (!changed) break;
  }
  return root;
}
