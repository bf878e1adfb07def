/**
 * The compiler's intermediate form, as in libpcap: a DAG of basic blocks. A block is a
 * list of straight-line cBPF statements (loads, ALU, stores, tax/txa) ending either in
 * one conditional jump with two successors (jt, jf) or in `ret #k`. jt === jf means an
 * unconditional jump (the test is dead). Blocks only ever point forward, so the graph is
 * acyclic and every walk over it terminates.
 *
 * linearize() lays the DAG out as a cBPF program: reverse postorder (true branches first,
 * the shared `ret` blocks last, as libpcap's listings look), `ja` for unconditional jumps
 * that do not fall through, and a `ja` trampoline wherever a conditional offset would not
 * fit in the 8-bit jt/jf.
 */
import { KernelError } from '../../../kernel/errno.js';
import { BPF_JA, BPF_JMP, BPF_K } from '../../../kernel/bpf/isa.js';
import { BPF_MAXINSNS, BPF_RET, sf, type SockFilter } from '../../../kernel/bpf/classic/isa.js';

export interface Stmt {
  code: number;
  k: number;
}

export interface Block {
  readonly id: number;
  stmts: Stmt[];
  /** Non-null: this block ends in `ret #ret` and has no successors. */
  ret: number | null;
  /** The jump's opcode (BPF_JMP | op | BPF_K/BPF_X) and constant. */
  jcode: number;
  jk: number;
  jt: Block | null;
  jf: Block | null;
}

let nextId = 1;

export function newBlock(stmts: Stmt[], jcode: number, jk: number, jt: Block, jf: Block): Block {
  return { id: nextId++, stmts, ret: null, jcode, jk: jk >>> 0, jt, jf };
}

export function retBlock(k: number): Block {
  return { id: nextId++, stmts: [], ret: k >>> 0, jcode: 0, jk: 0, jt: null, jf: null };
}

export function succs(b: Block): Block[] {
  if (b.ret !== null) return [];
  return b.jt === b.jf ? [b.jt!] : [b.jt!, b.jf!];
}

/** Blocks reachable from root, in reverse postorder (a topological order: preds first). */
export function topoOrder(root: Block): Block[] {
  const seen = new Set<Block>();
  const post: Block[] = [];
  // Iterative DFS: the graph can be deep (long or-chains); false branch visited first so
  // that true branches come first in the reversed order.
  const stack: { b: Block; i: number; kids: Block[] }[] = [];
  const push = (b: Block): void => {
    seen.add(b);
    const kids = b.ret !== null ? [] : b.jt === b.jf ? [b.jt!] : [b.jf!, b.jt!];
    stack.push({ b, i: 0, kids });
  };
  push(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.i < top.kids.length) {
      const k = top.kids[top.i++]!;
      if (!seen.has(k)) push(k);
    } else {
      post.push(top.b);
      stack.pop();
    }
  }
  return post.reverse();
}

/** Lays the DAG out as cBPF. Throws E2BIG past BPF_MAXINSNS. */
export function linearize(root: Block): SockFilter[] {
  const order = topoOrder(root);
  // Trampolines: a goto block inserted right after the block whose jump is too long.
  const tramp = new Map<Block, { side: 'jt' | 'jf'; to: Block }[]>();
  for (let round = 0; round < 64; round++) {
    const pos = new Map<Block, number>();
    const trampPos = new Map<string, number>();
    let at = 0;
    const sizeOf = (b: Block, next: Block | undefined): number => {
      if (b.ret !== null) return b.stmts.length + 1;
      if (b.jt === b.jf) return b.stmts.length + (b.jt === next ? 0 : 1);
      return b.stmts.length + 1;
    };
    order.forEach((b, i) => {
      pos.set(b, at);
      at += sizeOf(b, order[i + 1]);
      for (const t of tramp.get(b) ?? []) {
        trampPos.set(`${b.id}:${t.side}`, at);
        at += 1;
      }
    });
    if (at > BPF_MAXINSNS) throw new KernelError('E2BIG', `filter expression needs ${at} instructions (max ${BPF_MAXINSNS})`);
    const out: SockFilter[] = [];
    let tooFar = false;
    order.forEach((b, i) => {
      for (const s of b.stmts) out.push(sf(s.code, 0, 0, s.k));
      if (b.ret !== null) {
        out.push(sf(BPF_RET | BPF_K, 0, 0, b.ret));
      } else if (b.jt === b.jf) {
        if (b.jt !== order[i + 1]) out.push(sf(BPF_JMP | BPF_JA, 0, 0, pos.get(b.jt!)! - out.length - 1));
      } else {
        const here = out.length + 1;
        const off = (side: 'jt' | 'jf', to: Block): number => {
          const tp = trampPos.get(`${b.id}:${side}`);
          const d = (tp ?? pos.get(to)!) - here;
          if (d > 255) {
            tooFar = true;
            const list = tramp.get(b) ?? [];
            if (!list.some((t) => t.side === side)) list.push({ side, to });
            tramp.set(b, list);
          }
          return d & 0xff;
        };
        out.push(sf(b.jcode, off('jt', b.jt!), off('jf', b.jf!), b.jk));
      }
      for (const t of tramp.get(b) ?? []) {
        if (trampPos.has(`${b.id}:${t.side}`)) out.push(sf(BPF_JMP | BPF_JA, 0, 0, pos.get(t.to)! - out.length - 1));
      }
    });
    if (!tooFar) return out;
  }
  throw new KernelError('E2BIG', 'filter expression has jumps too long to lay out');
}
