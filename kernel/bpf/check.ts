/**
 * The structural checks BPF_PROG_LOAD makes before (and in the first steps of) the
 * verifier's path walk, in Linux's order so the first error found is the one Linux
 * reports:
 *
 *   1. bpf_prog_load: instruction count (E2BIG, no log).
 *   2. add_subprog_and_kfunc: bpf-to-bpf call targets, kfuncs.
 *   3. check_subprogs: jumps stay inside their subprogram, each ends in exit/jmp.
 *   4. resolve_pseudo_ldimm64: LDX reserved fields, LD_IMM64 pairs, opcode table.
 *   5. check_cfg: depth-first walk: jump targets, back-edges (unprivileged only),
 *      unreachable instructions, jumps into the middle of an LD_IMM64.
 *   6. do_check's per-instruction checks that need no register state (reserved fields,
 *      register numbers, r10 written, constant shifts and divisions, helper ids), in the
 *      order do_check walks (fall-through first, branch targets later).
 *
 * Messages, errnos and log layout are Linux 6.18's (checked with the host oracle; see
 * test/kernel/bpf/check.test.ts). The full verifier (register state, memory access) is
 * a later stage and builds on this; it can call checkProgram first and continue.
 */
import { KernelError, type ErrnoName } from '../errno.js';
import {
  BPF_ALU, BPF_ALU64, BPF_ABS, BPF_ATOMIC, BPF_CALL, BPF_CMPXCHG, BPF_COMPLEXITY_LIMIT_INSNS,
  BPF_DIV, BPF_DW, BPF_END, BPF_EXIT, BPF_FETCH, BPF_IMM, BPF_IND, BPF_JA, BPF_JMP, BPF_JMP32,
  BPF_K, BPF_LD, BPF_LDX, BPF_LSH, BPF_MAXINSNS, BPF_MEM, BPF_MEMSX, BPF_MOD, BPF_MOV, BPF_NEG,
  BPF_PSEUDO_BTF_ID, BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC, BPF_PSEUDO_KFUNC_CALL, BPF_PSEUDO_MAP_FD,
  BPF_PSEUDO_MAP_IDX, BPF_PSEUDO_MAP_IDX_VALUE, BPF_PSEUDO_MAP_VALUE, BPF_REG_FP, BPF_RSH,
  BPF_ARSH, BPF_ST, BPF_STX, BPF_TO_LE, BPF_W, BPF_X, BPF_XCHG, MAX_BPF_REG, type Insn, cls,
  isLdImm64,
} from './isa.js';
import { formatInsn, funcIdName } from './disasm.js';

export interface CheckOptions {
  /**
   * The loader has CAP_BPF/CAP_SYS_ADMIN (default true, bpfkern's tasks are root unless
   * they drop it): 1,000,000 instructions instead of 4096, bpf-to-bpf calls, loops.
   */
  privileged?: boolean;
  /** LD_ABS/LD_IND allowed (ProgTypeDef.allowsLdAbs). Default true. */
  allowsLdAbs?: boolean;
  /**
   * Whether the program type may call this helper (its get_func_proto). Absent: any id
   * in Linux's helper list passes this stage.
   */
  helperAllowed?: (id: number) => boolean;
}

export interface CheckResult {
  /** Empty when the program passes: the verifier proper writes the success log. */
  log: string;
  /** First instruction of each subprogram, ascending; [0] is the main program. */
  subprogStarts: number[];
}

/** Linux's last log line; the structural stage has walked no states. */
export function verificationStats(processed: number): string {
  return `processed ${processed} insns (limit ${BPF_COMPLEXITY_LIMIT_INSNS}) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n`;
}

/** A rejection: the message, its errno and, for do_check errors, the instruction. */
class Reject {
  constructor(
    readonly errno: ErrnoName,
    readonly msg: string,
    readonly at: number | null = null,
  ) {}
  /** Instructions walked up to and including the failing one (Linux's "processed N"). */
  processed = 0;
}

/** Kernel encodings not in isa.ts's UAPI set. */
const BPF_JCOND = 0xe0;
const BPF_MAY_GOTO = 0;
const BPF_ADDR_SPACE_CAST = 1;
const BPF_LOAD_ACQ = 0x100;
const BPF_STORE_REL = 0x110;
/** __BPF_FUNC_MAX_ID: the helper list is frozen at 211. */
const BPF_FUNC_MAX_ID = 212;

/** Opcodes Linux accepts (core.c's public insn table, 6.18; checked on the host). */
const VALID_OPCODES: ReadonlySet<number> = (() => {
  const s = new Set<number>();
  for (const c of [BPF_ALU, BPF_ALU64]) {
    for (let op = 0x00; op <= 0xc0; op += 0x10) {
      s.add(c | op | BPF_K);
      if (op !== BPF_NEG) s.add(c | op | BPF_X);
    }
  }
  s.add(BPF_ALU | BPF_END | 0x00).add(BPF_ALU | BPF_END | 0x08).add(BPF_ALU64 | BPF_END);
  for (const c of [BPF_JMP, BPF_JMP32]) {
    for (const op of [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0]) s.add(c | op | BPF_K).add(c | op | BPF_X);
    s.add(c | BPF_JA);
  }
  s.add(BPF_JMP | BPF_CALL).add(BPF_JMP | BPF_EXIT).add(BPF_JMP | BPF_JCOND);
  for (const size of [0x00, 0x08, 0x10, 0x18]) {
    s.add(BPF_LDX | BPF_MEM | size).add(BPF_ST | BPF_MEM | size).add(BPF_STX | BPF_MEM | size);
    s.add(BPF_STX | BPF_ATOMIC | size);
    if (size !== BPF_DW) s.add(BPF_LDX | BPF_MEMSX | size).add(BPF_LD | BPF_ABS | size).add(BPF_LD | BPF_IND | size);
  }
  s.add(BPF_LD | BPF_IMM | BPF_DW);
  return s;
})();

export function isValidOpcode(code: number): boolean {
  return VALID_OPCODES.has(code);
}

const isPseudoCall = (i: Insn): boolean => i.code === (BPF_JMP | BPF_CALL) && i.src === BPF_PSEUDO_CALL;
const isPseudoFunc = (i: Insn): boolean => isLdImm64(i) && i.src === BPF_PSEUDO_FUNC;

/**
 * Runs the structural checks. Throws KernelError with Linux's errno and message (the
 * log, with the message and the closing statistics line, is in the error's `log`);
 * returns the subprogram layout otherwise.
 */
export function checkProgram(insns: readonly Insn[], opts: CheckOptions = {}): CheckResult {
  const privileged = opts.privileged ?? true;
  const limit = privileged ? BPF_COMPLEXITY_LIMIT_INSNS : BPF_MAXINSNS;
  // bpf_prog_load refuses the count before a log exists.
  if (insns.length === 0 || insns.length > limit) throw new CheckError('E2BIG', `program has ${insns.length} insns (limit ${limit})`, '');
  const r = run(insns, privileged, opts);
  if (r instanceof Reject) {
    let log = '';
    if (r.at !== null) log += `${r.at}: ${formatInsn(insns, r.at)}\n`;
    log += `${r.msg}\n${verificationStats(r.processed)}`;
    throw new CheckError(r.errno, r.msg, log);
  }
  return { log: '', subprogStarts: r };
}

/** KernelError carrying the verifier log, as BPF_PROG_LOAD copies it to userspace. */
export class CheckError extends KernelError {
  constructor(
    errno: ErrnoName,
    detail: string,
    readonly log: string,
  ) {
    super(errno, detail);
    this.name = 'CheckError';
  }
}

function run(insns: readonly Insn[], privileged: boolean, opts: CheckOptions): Reject | number[] {
  const subprogs = addSubprogs(insns, privileged);
  if (subprogs instanceof Reject) return subprogs;
  const r3 = checkSubprogs(insns, subprogs);
  if (r3) return r3;
  const r4 = resolvePseudoLdimm64(insns);
  if (r4) return r4;
  const r5 = checkCfg(insns, privileged);
  if (r5) return r5;
  const r6 = checkInsns(insns, opts);
  if (r6) return r6;
  return subprogs;
}

function resolvePseudoLdimm64(insns: readonly Insn[]): Reject | null {
  for (let i = 0; i < insns.length; i++) {
    const insn = insns[i] as Insn;
    if (cls(insn.code) === BPF_LDX) {
      const mode = insn.code & 0xe0;
      if ((mode !== BPF_MEM && mode !== BPF_MEMSX) || insn.imm !== 0) return new Reject('EINVAL', 'BPF_LDX uses reserved fields');
    }
    if (isLdImm64(insn)) {
      const next = insns[i + 1];
      if (!next || next.code !== 0 || next.dst !== 0 || next.src !== 0 || next.off !== 0) {
        return new Reject('EINVAL', 'invalid bpf_ld_imm64 insn');
      }
      i++;
      if (insn.src === 0 || insn.src === BPF_PSEUDO_FUNC) continue;
      if (insn.src === BPF_PSEUDO_BTF_ID) return new Reject('EINVAL', 'kernel is missing BTF, make sure CONFIG_DEBUG_INFO_BTF=y is specified in Kconfig.');
      const mapFd = insn.src === BPF_PSEUDO_MAP_FD || insn.src === BPF_PSEUDO_MAP_IDX;
      const mapValue = insn.src === BPF_PSEUDO_MAP_VALUE || insn.src === BPF_PSEUDO_MAP_IDX_VALUE;
      if (!mapValue && !(mapFd && next.imm === 0)) return new Reject('EINVAL', 'unrecognized bpf_ld_imm64 insn');
      // The map fd itself is resolved by the caller (bpf syscall), which owns the fd table.
      continue;
    }
    if (!VALID_OPCODES.has(insn.code)) return new Reject('EINVAL', `unknown opcode ${insn.code.toString(16).padStart(2, '0')}`);
  }
  return null;
}

function addSubprogs(insns: readonly Insn[], privileged: boolean): Reject | number[] {
  const starts = new Set<number>([0]);
  for (let i = 0; i < insns.length; i++) {
    const insn = insns[i] as Insn;
    const call = isPseudoCall(insn);
    const kfunc = insn.code === (BPF_JMP | BPF_CALL) && insn.src === BPF_PSEUDO_KFUNC_CALL;
    if (!call && !kfunc && !isPseudoFunc(insn)) continue;
    if (!privileged) return new Reject('EPERM', 'loading/calling other bpf or kernel functions are allowed for CAP_BPF and CAP_SYS_ADMIN');
    // bpfkern has no kernel BTF, so it answers as a kernel built without it does.
    if (kfunc) return new Reject('ENOTSUPP', 'calling kernel function is not supported without CONFIG_DEBUG_INFO_BTF');
    const target = i + insn.imm + 1;
    if (target < 0 || target >= insns.length) return new Reject('EINVAL', 'call to invalid destination');
    starts.add(target);
  }
  return [...starts].sort((a, b) => a - b);
}

function checkSubprogs(insns: readonly Insn[], starts: readonly number[]): Reject | null {
  for (let s = 0; s < starts.length; s++) {
    const start = starts[s] as number;
    const end = starts[s + 1] ?? insns.length;
    for (let i = start; i < end; i++) {
      const insn = insns[i] as Insn;
      const c = cls(insn.code);
      const op = insn.code & 0xf0;
      if ((c === BPF_JMP || c === BPF_JMP32) && op !== BPF_EXIT && op !== BPF_CALL) {
        const to = insn.code === (BPF_JMP32 | BPF_JA) ? i + insn.imm + 1 : i + insn.off + 1;
        if (to < start || to >= end) return new Reject('EINVAL', `jump out of range from insn ${i} to ${to}`);
      }
      if (i === end - 1 && insn.code !== (BPF_JMP | BPF_EXIT) && insn.code !== (BPF_JMP32 | BPF_JA) && insn.code !== (BPF_JMP | BPF_JA)) {
        return new Reject('EINVAL', 'last insn is not an exit or jmp');
      }
    }
  }
  return null;
}

/** Successors of an instruction in the control-flow graph (check_cfg's visit_insn). */
function successors(insns: readonly Insn[], t: number): number[] {
  const insn = insns[t] as Insn;
  const c = cls(insn.code);
  if (isLdImm64(insn)) return isPseudoFunc(insn) ? [t + 2, t + insn.imm + 1] : [t + 2];
  if (c !== BPF_JMP && c !== BPF_JMP32) return [t + 1];
  const op = insn.code & 0xf0;
  if (op === BPF_EXIT) return [];
  if (op === BPF_CALL) return isPseudoCall(insn) ? [t + 1, t + insn.imm + 1] : [t + 1];
  if (op === BPF_JA) return [c === BPF_JMP32 ? t + insn.imm + 1 : t + insn.off + 1];
  return [t + 1, t + insn.off + 1];
}

const DISCOVERED = 1;
const EXPLORED = 2;

function checkCfg(insns: readonly Insn[], privileged: boolean): Reject | null {
  const state = new Uint8Array(insns.length);
  const stack: { t: number; next: number }[] = [{ t: 0, next: 0 }];
  state[0] = DISCOVERED;
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as { t: number; next: number };
    const succ = successors(insns, top.t);
    if (top.next >= succ.length) {
      state[top.t] = EXPLORED;
      stack.pop();
      continue;
    }
    const w = succ[top.next++] as number;
    if (w < 0 || w >= insns.length) return new Reject('EINVAL', `jump out of range from insn ${top.t} to ${w}`);
    if (state[w] === 0) {
      state[w] = DISCOVERED;
      stack.push({ t: w, next: 0 });
    } else if (state[w] === DISCOVERED && !privileged) {
      return new Reject('EINVAL', `back-edge from insn ${top.t} to ${w}`);
    }
  }
  for (let i = 0; i < insns.length; i++) {
    if (state[i] !== EXPLORED) return new Reject('EINVAL', `unreachable insn ${i}`);
    if (isLdImm64(insns[i] as Insn)) {
      if (state[i + 1] !== 0) return new Reject('EINVAL', `jump into the middle of ldimm64 insn ${i}`);
      i++;
    }
  }
  return null;
}

/** Walks instructions in do_check's order: fall-through first, pending branches LIFO. */
function checkInsns(insns: readonly Insn[], opts: CheckOptions): Reject | null {
  const seen = new Uint8Array(insns.length);
  const pending: number[] = [0];
  let processed = 0;
  while (pending.length > 0) {
    let t = pending.pop() as number;
    while (t < insns.length && !seen[t]) {
      seen[t] = 1;
      processed++;
      const err = checkInsn(insns, t, opts);
      if (err) {
        err.processed = processed;
        return err;
      }
      const succ = successors(insns, t);
      if (succ.length === 0) break;
      // Calls enter the callee first; conditional jumps continue with the fall-through.
      const insn = insns[t] as Insn;
      if (isPseudoCall(insn)) {
        pending.push(succ[0] as number);
        t = succ[1] as number;
      } else {
        for (let k = succ.length - 1; k >= 1; k--) pending.push(succ[k] as number);
        t = succ[0] as number;
      }
    }
  }
  return null;
}

type Op = 'SRC' | 'DST';

/** check_reg_arg without register state: the number, and r10 as a destination. */
function reg(t: number, regno: number, op: Op): Reject | null {
  if (regno >= MAX_BPF_REG) return new Reject('EINVAL', `R${regno} is invalid`, t);
  if (op === 'DST' && regno === BPF_REG_FP) return new Reject('EACCES', 'frame pointer is read only', t);
  return null;
}

function first(...checks: (() => Reject | null)[]): Reject | null {
  for (const c of checks) {
    const r = c();
    if (r) return r;
  }
  return null;
}

function checkInsn(insns: readonly Insn[], t: number, opts: CheckOptions): Reject | null {
  const insn = insns[t] as Insn;
  const c = cls(insn.code);
  const reserved = (what: string): Reject => new Reject('EINVAL', `${what} uses reserved fields`, t);
  switch (c) {
    case BPF_ALU:
    case BPF_ALU64:
      return checkAlu(insn, t);
    case BPF_LDX:
      return first(() => reg(t, insn.src, 'SRC'), () => reg(t, insn.dst, 'DST'));
    case BPF_STX: {
      if ((insn.code & 0xe0) === BPF_ATOMIC) return checkAtomic(insn, t);
      if ((insn.code & 0xe0) !== BPF_MEM || insn.imm !== 0) return reserved('BPF_STX');
      return first(() => reg(t, insn.src, 'SRC'), () => reg(t, insn.dst, 'SRC'));
    }
    case BPF_ST:
      if ((insn.code & 0xe0) !== BPF_MEM || insn.src !== 0) return reserved('BPF_ST');
      return reg(t, insn.dst, 'SRC');
    case BPF_JMP:
    case BPF_JMP32:
      return checkJmp(insn, t, opts);
    case BPF_LD: {
      const mode = insn.code & 0xe0;
      if (mode === BPF_ABS || mode === BPF_IND) {
        if (opts.allowsLdAbs === false) return new Reject('EINVAL', 'BPF_LD_[ABS|IND] instructions not allowed for this program type', t);
        if (insn.dst !== 0 || insn.off !== 0 || (insn.code & 0x18) === BPF_DW || (mode === BPF_ABS && insn.src !== 0)) {
          return reserved('BPF_LD_[ABS|IND]');
        }
        return mode === BPF_IND ? reg(t, insn.src, 'SRC') : null;
      }
      if (mode !== BPF_IMM) return new Reject('EINVAL', 'invalid BPF_LD mode', t);
      if ((insn.code & 0x18) !== BPF_DW) return new Reject('EINVAL', 'invalid BPF_LD_IMM insn', t);
      if (insn.off !== 0) return reserved('BPF_LD_IMM64');
      return reg(t, insn.dst, 'DST');
    }
    default:
      return new Reject('EINVAL', `unknown insn class ${c}`, t);
  }
}

function checkAlu(insn: Insn, t: number): Reject | null {
  const op = insn.code & 0xf0;
  const x = (insn.code & 0x08) === BPF_X;
  const alu64 = cls(insn.code) === BPF_ALU64;
  const reserved = (what: string): Reject => new Reject('EINVAL', `${what} uses reserved fields`, t);
  if (op === BPF_NEG) {
    if (x || insn.src !== 0 || insn.off !== 0 || insn.imm !== 0) return reserved('BPF_NEG');
    return first(() => reg(t, insn.dst, 'SRC'), () => reg(t, insn.dst, 'DST'));
  }
  if (op === BPF_END) {
    if (insn.src !== 0 || insn.off !== 0 || ![16, 32, 64].includes(insn.imm) || (alu64 && (insn.code & 0x08) !== BPF_TO_LE)) {
      return reserved('BPF_END');
    }
    return first(() => reg(t, insn.dst, 'SRC'), () => reg(t, insn.dst, 'DST'));
  }
  if (op === BPF_MOV) {
    if (x) {
      const offs = alu64 ? [0, 8, 16, 32] : [0, 8, 16];
      if (alu64 && insn.off === BPF_ADDR_SPACE_CAST) {
        if (insn.imm !== 1 && insn.imm !== 1 << 16) return new Reject('EINVAL', 'addr_space_cast insn can only convert between address space 1 and 0', t);
        return new Reject('EINVAL', 'addr_space_cast insn can only be used in a program that has an associated arena', t);
      }
      if (!offs.includes(insn.off) || insn.imm !== 0) return reserved('BPF_MOV');
      const e = reg(t, insn.src, 'SRC');
      if (e) return e;
    } else if (insn.src !== 0 || insn.off !== 0) {
      return reserved('BPF_MOV');
    }
    return reg(t, insn.dst, 'DST');
  }
  if (op > BPF_END) return new Reject('EINVAL', `invalid BPF_ALU opcode ${op.toString(16)}`, t);
  const signedOk = insn.off === 0 || (insn.off === 1 && (op === BPF_DIV || op === BPF_MOD));
  if (x) {
    if (insn.imm !== 0 || !signedOk) return reserved('BPF_ALU');
    const e = reg(t, insn.src, 'SRC');
    if (e) return e;
  } else if (insn.src !== 0 || !signedOk) {
    return reserved('BPF_ALU');
  }
  const e = reg(t, insn.dst, 'SRC');
  if (e) return e;
  if ((op === BPF_MOD || op === BPF_DIV) && !x && insn.imm === 0) return new Reject('EINVAL', 'div by zero', t);
  if ((op === BPF_LSH || op === BPF_RSH || op === BPF_ARSH) && !x) {
    const size = alu64 ? 64 : 32;
    if (insn.imm < 0 || insn.imm >= size) return new Reject('EINVAL', `invalid shift ${insn.imm}`, t);
  }
  return reg(t, insn.dst, 'DST');
}

function checkAtomic(insn: Insn, t: number): Reject | null {
  const rmw = [0x00, 0x40, 0x50, 0xa0].flatMap((op) => [op, op | BPF_FETCH]).concat([BPF_XCHG, BPF_CMPXCHG]);
  if (insn.imm === BPF_LOAD_ACQ || insn.imm === BPF_STORE_REL) {
    // load-acquire reads through src into dst; store-release writes src through dst.
    return insn.imm === BPF_LOAD_ACQ
      ? first(() => reg(t, insn.src, 'SRC'), () => reg(t, insn.dst, 'DST'))
      : first(() => reg(t, insn.src, 'SRC'), () => reg(t, insn.dst, 'SRC'));
  }
  if (!rmw.includes(insn.imm)) {
    return new Reject('EINVAL', `BPF_ATOMIC uses invalid atomic opcode ${(insn.imm >>> 0).toString(16).padStart(2, '0')}`, t);
  }
  const size = insn.code & 0x18;
  if (size !== BPF_W && size !== BPF_DW) return new Reject('EINVAL', 'invalid atomic operand size', t);
  return first(() => reg(t, insn.src, 'SRC'), () => reg(t, insn.dst, 'SRC'));
}

function checkJmp(insn: Insn, t: number, opts: CheckOptions): Reject | null {
  const c = cls(insn.code);
  const op = insn.code & 0xf0;
  const x = (insn.code & 0x08) === BPF_X;
  const reserved = (what: string): Reject => new Reject('EINVAL', `${what} uses reserved fields`, t);
  if (op === BPF_CALL) {
    if (x || (insn.src !== BPF_PSEUDO_KFUNC_CALL && insn.off !== 0)
      || (insn.src !== 0 && insn.src !== BPF_PSEUDO_CALL && insn.src !== BPF_PSEUDO_KFUNC_CALL)
      || insn.dst !== 0 || c === BPF_JMP32) {
      return reserved('BPF_CALL');
    }
    if (insn.src !== 0) return null;
    const id = insn.imm;
    if (id < 0 || id >= BPF_FUNC_MAX_ID) return new Reject('EINVAL', `invalid func ${funcIdName(id)}#${id}`, t);
    if (opts.helperAllowed && !opts.helperAllowed(id)) {
      return new Reject('EINVAL', `program of this type cannot use helper ${funcIdName(id)}#${id}`, t);
    }
    return null;
  }
  if (op === BPF_JA) {
    if (x || insn.src !== 0 || insn.dst !== 0 || (c === BPF_JMP && insn.imm !== 0) || (c === BPF_JMP32 && insn.off !== 0)) {
      return reserved('BPF_JA');
    }
    return null;
  }
  if (op === BPF_EXIT) {
    if (x || insn.imm !== 0 || insn.src !== 0 || insn.dst !== 0 || c === BPF_JMP32) return reserved('BPF_EXIT');
    return null;
  }
  if (op === BPF_JCOND) {
    if (insn.code !== (BPF_JMP | BPF_JCOND) || insn.src !== BPF_MAY_GOTO || insn.dst !== 0 || insn.imm !== 0) {
      return new Reject('EINVAL', `invalid may_goto imm ${insn.imm}`, t);
    }
    return null;
  }
  if (op > BPF_JCOND) return new Reject('EINVAL', `invalid BPF_JMP/JMP32 opcode ${op.toString(16)}`, t);
  const e = reg(t, insn.dst, 'SRC');
  if (e) return e;
  if (x) {
    if (insn.imm !== 0) return reserved('BPF_JMP/JMP32');
    return reg(t, insn.src, 'SRC');
  }
  if (insn.src !== 0) return reserved('BPF_JMP/JMP32');
  return null;
}
