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
 *               Facts include, per value, a small set it lies in (`[23] ∈ {6,17,132}`
 *               after `tcp or udp or sctp`); a test the set does not decide is followed
 *               once per member, and the edge moves to where every case meets.
 *   pulling     or-chains (and and-chains) have their tests regrouped so that tests of
 *               one value are adjacent and the reloads between them become redundant
 *               (libpcap's or_pull / and_pull); checked by value numbering first.
 *   merging     identical blocks (same statements, same successors) become one, and
 *               empty unconditional blocks are bypassed.
 *   peephole    `and #m; jeq #0` → `jset #m` with the branches swapped.
 *
 * Like libpcap, loads are treated as pure: removing a load that would have read past the
 * end of a short packet changes nothing for packets long enough, and libpcap does the
 * same, so both accept the same packets. (On a packet cut short inside a field the
 * order of an or-chain's tests decides whether a match or the short load comes first,
 * so pulling also makes those verdicts libpcap's.)
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

/**
 * What is known on an edge: outcomes of earlier tests (`tests`, keyed by tested value,
 * jump and operand) and, per value, a finite set it is known to lie in (`sets`: a
 * `jeq #k` taken gives {k}; an or-chain of jeqs on one value joins to the set of its
 * constants, so `[23] ∈ {6, 17, 132}` is known after `tcp or udp or sctp`).
 */
interface Facts {
  tests: Map<string, boolean>;
  sets: Map<number, Set<number>>;
}

/** Sets larger than this are dropped (they only serve or-chains of constants). */
const MAX_SET = 32;

function emptyFacts(): Facts {
  return { tests: new Map(), sets: new Map() };
}

function copyFacts(f: Facts): Facts {
  return { tests: new Map(f.tests), sets: new Map(f.sets) };
}

function factKey(vnA: number, b: Block, xvn: number): string {
  return srcBit(b.jcode) === BPF_X ? `${vnA}|${b.jcode}|x${xvn}` : `${vnA}|${b.jcode}|${b.jk >>> 0}`;
}

/** facts plus the outcome of p's test (A = exit[A]) on its `side` edge. */
function edgeFacts(facts: Facts, p: Block, exit: State, side: 'jt' | 'jf'): Facts {
  const edge = copyFacts(facts);
  if (p.jt === p.jf) return edge;
  const taken = side === 'jt';
  edge.tests.set(factKey(exit[A]!, p, exit[X]!), taken);
  if (srcBit(p.jcode) === BPF_K) {
    const v = exit[A]!;
    const op = jmpOp(p.jcode);
    const known = edge.sets.get(v);
    if (known) edge.sets.set(v, new Set([...known].filter((c) => evalJump(op, c, p.jk) === taken)));
    else if (op === BPF_JEQ && taken) edge.sets.set(v, new Set([p.jk >>> 0]));
  }
  return edge;
}

/** Narrows `into` (the facts on a block's earlier in-edges) to what `edge` also knows. */
function joinFacts(into: Facts, edge: Facts): void {
  for (const [k, v] of into.tests) if (edge.tests.get(k) !== v) into.tests.delete(k);
  for (const [v, set] of into.sets) {
    const other = edge.sets.get(v);
    if (!other) {
      into.sets.delete(v);
      continue;
    }
    const u = new Set([...set, ...other]);
    if (u.size > MAX_SET) into.sets.delete(v);
    else into.sets.set(v, u);
  }
}

/** The outcome of b's test (A = vnA) given facts, or undefined. */
function decide(facts: Facts, b: Block, vnA: number, xvn: number): boolean | undefined {
  const exact = facts.tests.get(factKey(vnA, b, xvn));
  if (exact !== undefined) return exact;
  if (srcBit(b.jcode) !== BPF_K) return undefined;
  const op = jmpOp(b.jcode);
  const k = b.jk >>> 0;
  const set = facts.sets.get(vnA);
  if (set) {
    // Every value A may hold gives the same outcome (an empty set: the edge is never
    // taken, and either outcome is right).
    const outs = new Set([...set].map((c) => evalJump(op, c, k)));
    if (outs.size <= 1) return outs.has(false) ? false : true;
  }
  for (const [key, val] of facts.tests) {
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

/** Cap on the blocks one edge is followed past (the DAG is finite anyway). */
const MAX_HOPS = 10_000;

class Threader {
  constructor(
    private readonly vals: Values,
    private readonly liveIn: Map<Block, number>,
  ) {}

  exitOf(b: Block, from: State): State {
    const s = from.slice();
    for (const st of b.stmts) step(this.vals, s, st);
    return s;
  }

  /**
   * The blocks an edge leaving with state pExit and facts `facts` passes through when
   * the facts decide every test on the way, starting with `start` (each next one is
   * where the previous block's test goes), and for each whether the edge may go straight
   * there: every register live there must hold on the edge the value it would hold on
   * arriving along the path (libpcap's use_conflict; the blocks in between may load
   * other values, as long as those are dead or reloaded by then). When a test is not
   * decided but the value it tests is known to lie in a small set, each member is
   * followed separately (`split`), and the walk goes on from the furthest block every
   * case may go to.
   */
  walk(facts: Facts, start: Block, pExit: State, split: boolean): { block: Block; ok: boolean }[] {
    const path = [{ block: start, ok: true }];
    let target = start;
    let cur = pExit; // the registers on arriving at target along the path
    for (let hops = 0; hops < MAX_HOPS && target.ret === null; hops++) {
      const tExit = this.exitOf(target, cur);
      let next: Block;
      if (target.jt === target.jf) {
        next = target.jt!;
      } else {
        const d = decide(facts, target, tExit[A]!, tExit[X]!);
        if (d === undefined) {
          const meet = split ? this.caseSplit(facts, target, tExit[A]!, cur, pExit) : undefined;
          if (meet === undefined) break;
          // Every case arrives at meet with the edge's value in each live register;
          // the others are dead there, so the edge's state serves from here on.
          path.push({ block: meet, ok: true });
          target = meet;
          cur = pExit;
          continue;
        }
        next = d ? target.jt! : target.jf!;
      }
      cur = tExit;
      path.push({ block: next, ok: this.agree(next, cur, pExit) });
      target = next;
    }
    return path;
  }

  /** Every register live at b holds the same value in s and in pExit. */
  private agree(b: Block, s: State, pExit: State): boolean {
    const live = this.liveIn.get(b) ?? 0;
    for (let r = 0; r < NREGS; r++) if (live & (1 << r) && s[r] !== pExit[r]) return false;
    return true;
  }

  /** The furthest block past `target` that every member of A's known set may go to. */
  private caseSplit(facts: Facts, target: Block, vnA: number, cur: State, pExit: State): Block | undefined {
    const set = facts.sets.get(vnA);
    if (!set || set.size < 2 || srcBit(target.jcode) !== BPF_K) return undefined;
    if (!this.agree(target, cur, pExit)) return undefined;
    const paths: Block[][] = [];
    for (const c of set) {
      const f = copyFacts(facts);
      f.sets.set(vnA, new Set([c]));
      // target's entry registers agree with the edge's where they are live, so the
      // walk may start from the edge's state.
      const path = this.walk(f, target, pExit, false).filter((e) => e.ok).map((e) => e.block);
      if (path.length < 2) return undefined;
      paths.push(path);
    }
    const first = paths[0]!;
    const rest = paths.slice(1).map((p) => new Set(p));
    for (let i = first.length - 1; i > 0; i--) if (rest.every((p) => p.has(first[i]!))) return first[i];
    return undefined;
  }
}

function thread(vals: Values, root: Block): boolean {
  const order = topoOrder(root);
  const entry = entryStates(vals, order, root);
  const liveIn = liveness(order);
  const threader = new Threader(vals, liveIn);
  const inFacts = new Map<Block, Facts>();
  let changed = false;
  for (const p of order) {
    const facts = inFacts.get(p) ?? emptyFacts();
    if (p.ret !== null) continue;
    const pExit = threader.exitOf(p, entry.get(p)!);
    for (const side of ['jt', 'jf'] as const) {
      const path = threader.walk(edgeFacts(facts, p, pExit, side), p[side]!, pExit, true);
      const target = path.filter((e) => e.ok).pop()!.block;
      if (target !== p[side]) {
        p[side] = target;
        changed = true;
      }
    }
    // Facts on entry to each successor: the join over its in-edges.
    for (const side of ['jt', 'jf'] as const) {
      const n = p[side]!;
      const edge = edgeFacts(facts, p, pExit, side);
      const prev = inFacts.get(n);
      if (prev === undefined) inFacts.set(n, edge);
      else joinFacts(prev, edge);
      if (p.jt === p.jf) break;
    }
    // Moving an edge forward leaves the states computed above right on every live
    // register (use_conflict held), and later blocks' facts are joined over the edges
    // as they are now, so the pass goes on; the caller iterates to a fixed point.
  }
  return changed;
}

/**
 * Or-pull and and-pull. An or-chain is blocks c0 → c1 → … → cn linked by false edges,
 * all jumping to one T when their test holds (`a or b or c`); an and-chain the same
 * with the sides exchanged. Every member past c0 has its predecessor in the chain as its
 * only predecessor, so the order of the tests is seen by no other path and only decides
 * which test sends the packet to T first. The tests are regrouped so that tests of one
 * value sit together (the value A holds on entry first, then in order of appearance),
 * which leaves the reloads between them redundant: `ld [26]; jeq a; ld [30]; jeq a;
 * ld [26]; jeq b; ld [30]; jeq b` becomes `ld [26]; jeq a; jeq b; ld [30]; jeq a; jeq b`.
 *
 * The new order is checked by value numbering before it is used: every block must test
 * the same values as before, every register live at T must hold the same value on every
 * jump to it in both orders, and every register live at the chain's exit the same value
 * as before. Loads are pure here as everywhere in this optimizer (see the top).
 * Returns the new root when the chain started at it.
 */
function pullChains(vals: Values, root: Block): { root: Block; changed: boolean } {
  const order = topoOrder(root);
  const entry = entryStates(vals, order, root);
  const liveIn = liveness(order);
  const preds = new Map<Block, Block[]>();
  for (const b of order) for (const n of succs(b)) preds.set(n, [...(preds.get(n) ?? []), b]);
  const conditional = (b: Block): boolean => b.ret === null && b.jt !== b.jf;
  for (const [link, common] of [['jf', 'jt'], ['jt', 'jf']] as const) {
    const next = (b: Block): Block | null => {
      const n = b[link]!;
      if (!conditional(n) || n[common] !== b[common]) return null;
      const ps = preds.get(n) ?? [];
      return ps.length === 1 && ps[0] === b ? n : null;
    };
    for (const head of order) {
      if (!conditional(head)) continue;
      const hp = preds.get(head) ?? [];
      if (hp.length === 1 && conditional(hp[0]!) && next(hp[0]!) === head) continue; // not a head
      const chain = [head];
      for (let n = next(head); n !== null && chain.length < 256; n = next(n)) chain.push(n);
      if (chain.length < 2) continue;
      const start = entry.get(head)!;
      const run = (blocks: Block[]): { tested: Map<Block, string>; exits: State[] } => {
        const s = start.slice();
        const tested = new Map<Block, string>();
        const exits: State[] = [];
        for (const b of blocks) {
          for (const st of b.stmts) step(vals, s, st);
          tested.set(b, srcBit(b.jcode) === BPF_X ? `${s[A]}:${s[X]}` : `${s[A]}`);
          exits.push(s.slice());
        }
        return { tested, exits };
      };
      const before = run(chain);
      const groups = new Map<number, number>([[start[A]!, 0]]);
      for (const e of before.exits) if (!groups.has(e[A]!)) groups.set(e[A]!, groups.size);
      const rank = new Map(chain.map((b, i) => [b, groups.get(before.exits[i]![A]!)!]));
      const reordered = chain.slice().sort((a, b) => rank.get(a)! - rank.get(b)!); // stable
      if (reordered.every((b, i) => b === chain[i])) continue;
      const after = run(reordered);
      if (reordered.some((b) => after.tested.get(b) !== before.tested.get(b))) continue;
      const t = head[common]!;
      const f = chain[chain.length - 1]![link]!;
      const liveT = liveIn.get(t) ?? 0;
      const liveF = liveIn.get(f) ?? 0;
      const ref = before.exits[0]!;
      const lastBefore = before.exits[before.exits.length - 1]!;
      const lastAfter = after.exits[after.exits.length - 1]!;
      let ok = true;
      for (let r = 0; r < NREGS && ok; r++) {
        if (liveT & (1 << r) && [...before.exits, ...after.exits].some((e) => e[r] !== ref[r])) ok = false;
        if (liveF & (1 << r) && lastAfter[r] !== lastBefore[r]) ok = false;
      }
      if (!ok) continue;
      const first = reordered[0]!;
      for (const p of hp) {
        if (p.jt === head) p.jt = first;
        if (p.jf === head) p.jf = first;
      }
      reordered.forEach((b, i) => {
        b[link] = reordered[i + 1] ?? f;
      });
      return { root: head === root ? first : root, changed: true };
    }
  }
  return { root, changed: false };
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
    const p = pullChains(vals, root);
    root = p.root;
    changed = p.changed || changed;
    const m = merge(root);
    root = m.root;
    changed = m.changed || changed;
    if (!changed) break;
  }
  return root;
}
