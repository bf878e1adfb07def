/**
 * eBPF -> WebAssembly module. Pure: instructions and helper table in, module bytes (and,
 * on request, its text) out; index.ts instantiates and runs it.
 *
 * Module layout
 *   imports   h.<id>      one per helper the program calls: (i64 x nargs) -> i64
 *             k.callx     helper call through a register (callx), if used
 *             k.eloop     (insn i32) -> (): throws ELOOP (programs with back edges)
 *             k.mem       the kernel's one WebAssembly.Memory
 *   globals   0 $fp (i64)  r10 of the frame that last called a helper (bpf_loop callbacks)
 *             1 $tc (i32)  set by the helper wrapper when a tail call is pending; per run:
 *                          each entry saves it, clears it and restores it after $sub_0
 *             2-5 $pdata $plen $pmac $pnet (i32)  packet offsets for LD_ABS/LD_IND
 *             6 $budget (i32)  instruction budget left in the run in progress (programs with
 *                          back edges): each entry sets it to $limit; a function with back
 *                          edges keeps it in its local $left and writes it back around calls
 *                          and at returns; a taken back edge subtracts its distance (as the
 *                          interpreter does) and calls k.eloop(target) when it goes below 0
 *             7 $limit (i32)   the budget a run starts with (index.ts sets it)
 *   functions $main(ctxLo i32, ctxHi i32, fp i32, P) -> i64   builds r1/r10, calls $sub_0
 *             $main_args(r1..r5 i64, fp i32, P) -> i64      the same with r2..r5 given
 *             $sub_<insn>(r1..r5 i64, r10 i64) -> i64        one per BPF (sub)program
 *             $pkt(off i32, size i32) -> i32                 LD_ABS address or -1
 *             $main_raw(ctx i32, fp i32, P) -> i32          r1 = BASE|ctx, r10 = BASE|fp; low
 *                                                           32 bits of r0 (no BigInt either way)
 *             where P = pdata plen pmac pnet (i32): the packet, stored into the globals
 *             by the entry itself (programs with LD_ABS/LD_IND) and $tc saved, cleared and
 *             restored (programs with helper calls: a nested run of the same program, from
 *             one of its helpers, keeps its pending tail call to itself), so a run sets no
 *             WebAssembly.Global from JavaScript.
 *   exports   main, main_args, main_raw, sub_<insn>, fp, tc, pdata, plen, pmac, pnet, budget, limit
 *
 * Registers are i64 locals of each function; r1-r5 and r10 are its parameters, so a
 * bpf-to-bpf call passes them and r6-r9 stay the caller's own locals (preserved for free).
 *
 * Memory: a BPF address 0xffff8880_xxxxxxxx maps to offset xxxxxxxx of the memory. Code
 * computes t = addr - 0xffff8880_00000000 - 4096; t must be below 2^32 (else `unreachable`
 * traps) and the access uses memarg offset 4096, so the reserved first page and anything
 * past the memory's end trap too (the latter by wasm's own bounds check).
 *
 * Arithmetic follows BPF where wasm differs: x/0 = 0, x%0 = x, INT_MIN/-1 = INT_MIN,
 * 32-bit results zero-extended. Shift counts need no masking: wasm masks them by the
 * operand width exactly like BPF.
 */
import { KernelError } from '../../errno.js';
import {
  BPF_ABS, BPF_ADD, BPF_ALU, BPF_ALU64, BPF_AND, BPF_ARSH, BPF_ATOMIC, BPF_B, BPF_CALL,
  BPF_CMPXCHG, BPF_DIV, BPF_DW, BPF_END, BPF_EXIT, BPF_FETCH, BPF_H, BPF_IMM, BPF_IND, BPF_JA,
  BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JLE, BPF_JLT, BPF_JMP, BPF_JMP32, BPF_JNE, BPF_JSET, BPF_JSGE,
  BPF_JSGT, BPF_JSLE, BPF_JSLT, BPF_LD, BPF_LDX, BPF_LSH, BPF_MEM, BPF_MEMSX, BPF_MOD, BPF_MOV,
  BPF_MUL, BPF_NEG, BPF_OR, BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC, BPF_RSH, BPF_ST, BPF_STX, BPF_SUB,
  BPF_W, BPF_X, BPF_XCHG, BPF_XOR, MAX_BPF_STACK, MAX_CALL_FRAMES, type Insn, aluOp, cls,
  isLdImm64, ldImm64Value, modeOf, sizeOf, srcBit,
} from '../isa.js';
import { KERNEL_BASE, PAGE_SIZE } from '../memory.js';
import type { FuncProto } from '../types.js';
import { formatInsn } from '../disasm.js';
import { structure, type Interval, type Structure } from './structure.js';
import { Body, Op, type OpCode, ValType, encodeModule, type FuncType, valTypeName } from './wasm.js';

export interface CompileOptions {
  /** Also produce the module as text (for the jited dump). */
  text?: boolean;
  /** Compile every function through the dispatch loop (tests of the fallback). */
  forceDispatch?: boolean;
}

export interface CompiledModule {
  bytes: Uint8Array;
  text: string | null;
  /** Instruction index of each (sub)program, in function order; [0] is the main one. */
  subprogs: number[];
  /** Helper ids imported as h.<id>, with their argument counts. */
  helperImports: { id: number; nargs: number }[];
  usesCallx: boolean;
  usesPacket: boolean;
  /** The program has helper calls, so a tail call may be pending after one. */
  hasCalls: boolean;
  /** Some LD_IMM64 takes a subprogram address (bpf_loop callbacks). */
  hasCallbacks: boolean;
  /** Subprograms that needed the dispatch loop (their instruction index). */
  dispatched: number[];
  /** Some jump goes backwards: the module imports k.eloop and counts $budget. */
  hasLoops: boolean;
}

const I64 = ValType.i64;
const I32 = ValType.i32;

// Local slots of a $sub function: r1-r5 and r10 are the parameters.
const REG_LOCAL = [6, 0, 1, 2, 3, 4, 7, 8, 9, 10, 5, 11]; // r0..r10, AX
const T = 12; // i64 scratch
const U = 13; // i64 scratch
const A = 14; // i32 scratch (addresses)
const PC = 15; // i32 dispatch state
const LEFT = 16; // i32 instruction budget left (functions with back edges; see FuncCompiler.charge)
const SUB_LOCALS: ValType[] = [I64, I64, I64, I64, I64, I64, I64, I64, I32, I32, I32]; // slots 6..16 after 6 params
const LOCAL_NAMES = ['$r1', '$r2', '$r3', '$r4', '$r5', '$r10', '$r0', '$r6', '$r7', '$r8', '$r9', '$ax', '$t', '$u', '$a', '$pc', '$left'];

const G_FP = 0;
const G_TC = 1;
const G_PDATA = 2;
const G_PLEN = 3;
const G_PMAC = 4;
const G_PNET = 5;
const G_BUDGET = 6;
const G_LIMIT = 7;
const GLOBAL_NAMES = ['fp', 'tc', 'pdata', 'plen', 'pmac', 'pnet', 'budget', 'limit'];

/** BASE + PAGE_SIZE, subtracted from an address to get the wasm address of an access. */
const ADDR_BIAS = KERNEL_BASE + BigInt(PAGE_SIZE);

const SKF_NET_OFF = -0x100000;
const SKF_LL_OFF = -0x200000;

/**
 * V8's limits (v8/src/wasm/wasm-limits.h): a function body of at most this many bytes, a
 * br_table of at most this many entries. A module over them is refused by V8 after all
 * the encoding work; checked here instead, so a program too large for the JIT (about
 * 500k eBPF instructions in one function) is declined early and runs on the interpreter.
 */
export const V8_MAX_FUNCTION_SIZE = 7654321;
export const V8_MAX_BR_TABLE_SIZE = 65520;

class Unstructured extends Error {}

function fail(errno: 'EINVAL' | 'ENOTSUPP' | 'E2BIG', msg: string): never {
  throw new KernelError(errno, `JIT: ${msg}`);
}

/** Where a jump-like instruction goes, or null. */
function jumpTarget(i: Insn, idx: number): number | null {
  const c = cls(i.code);
  if (c !== BPF_JMP && c !== BPF_JMP32) return null;
  const op = aluOp(i.code);
  if (op === BPF_CALL || op === BPF_EXIT) return null;
  if (op === BPF_JA && c === BPF_JMP32) return idx + 1 + i.imm;
  return idx + 1 + i.off;
}

function isUncondJump(i: Insn): boolean {
  const c = cls(i.code);
  return (c === BPF_JMP || c === BPF_JMP32) && aluOp(i.code) === BPF_JA;
}

function isExit(i: Insn): boolean {
  return cls(i.code) === BPF_JMP && aluOp(i.code) === BPF_EXIT;
}

function isPseudoCall(i: Insn): boolean {
  return cls(i.code) === BPF_JMP && aluOp(i.code) === BPF_CALL && i.src === BPF_PSEUDO_CALL;
}

/** A program whose r10 is never written: r10-relative accesses need no address check. */
function writesR10(insns: readonly Insn[]): boolean {
  for (const i of insns) {
    const c = cls(i.code);
    if ((c === BPF_ALU || c === BPF_ALU64 || c === BPF_LDX || c === BPF_LD) && i.dst === 10) return true;
    if (c === BPF_STX && modeOf(i.code) === BPF_ATOMIC && (i.imm & BPF_FETCH) !== 0 && i.src === 10) return true;
  }
  return false;
}

export function compileProgram(
  insns: readonly Insn[],
  helpers: ReadonlyMap<number, FuncProto>,
  opts: CompileOptions = {},
): CompiledModule {
  const n = insns.length;
  if (n === 0) fail('EINVAL', 'empty program');

  // --- Subprograms: the entry plus every bpf-to-bpf call and callback target.
  const starts = new Set<number>([0]);
  const slot2 = new Uint8Array(n); // second slots of LD_IMM64
  let hasCallbacks = false;
  for (let idx = 0; idx < n; idx++) {
    const i = insns[idx]!;
    if (isLdImm64(i)) {
      if (idx + 1 >= n) fail('EINVAL', `insn ${idx}: LD_IMM64 without its second slot`);
      slot2[idx + 1] = 1;
      if (i.src === BPF_PSEUDO_FUNC) {
        const t = idx + 1 + i.imm;
        if (t < 0 || t >= n) fail('EINVAL', `insn ${idx}: callback target ${t} out of range`);
        starts.add(t);
        hasCallbacks = true;
      }
      idx++;
      continue;
    }
    if (isPseudoCall(i)) {
      const t = idx + 1 + i.imm;
      if (t < 0 || t >= n) fail('EINVAL', `insn ${idx}: call target ${t} out of range`);
      starts.add(t);
    }
  }
  const subprogs = [...starts].sort((a, b) => a - b);
  const funcOf = new Map<number, number>(subprogs.map((s, k) => [s, k]));
  const endOf = (k: number): number => subprogs[k + 1] ?? n;

  // --- Call graph: no recursion, at most MAX_CALL_FRAMES frames deep (the verifier's rule;
  // checked here too because the frames share one fixed stack region).
  const callees: number[][] = subprogs.map(() => []);
  subprogs.forEach((s, k) => {
    for (let idx = s; idx < endOf(k); idx++) {
      const i = insns[idx]!;
      if (isPseudoCall(i)) callees[k]!.push(funcOf.get(idx + 1 + i.imm)!);
      if (isLdImm64(i) && i.src === BPF_PSEUDO_FUNC) callees[k]!.push(funcOf.get(idx + 1 + i.imm)!);
    }
  });
  const depthMemo = new Map<number, number>();
  const depth = (k: number, path: Set<number>): number => {
    if (path.has(k)) fail('EINVAL', `recursive call to subprogram at insn ${subprogs[k]}`);
    const memo = depthMemo.get(k);
    if (memo !== undefined) return memo;
    // Deeper than allowed already: stop here (and keep the JS recursion shallow).
    if (path.size >= MAX_CALL_FRAMES) fail('E2BIG', `the call stack of more than ${MAX_CALL_FRAMES} frames is too deep`);
    path.add(k);
    let d = 1;
    for (const c of callees[k]!) d = Math.max(d, 1 + depth(c, path));
    path.delete(k);
    depthMemo.set(k, d);
    return d;
  };
  const maxDepth = depth(0, new Set());
  if (maxDepth > MAX_CALL_FRAMES) fail('E2BIG', `the call stack of ${maxDepth} frames is too deep`);

  // --- Imports: the helpers the program calls.
  const helperIdx = new Map<number, { id: number; nargs: number; proto: FuncProto }>();
  let usesCallx = false;
  let usesPacket = false;
  for (let idx = 0; idx < n; idx++) {
    const i = insns[idx]!;
    if (slot2[idx]) continue;
    const c = cls(i.code);
    if (c === BPF_JMP && aluOp(i.code) === BPF_CALL && i.src !== BPF_PSEUDO_CALL) {
      if (srcBit(i.code) === BPF_X) {
        usesCallx = true;
        continue;
      }
      if (i.src !== 0) fail('ENOTSUPP', `insn ${idx}: kfunc calls are not supported`);
      if (helperIdx.has(i.imm)) continue;
      const proto = helpers.get(i.imm);
      if (!proto) fail('EINVAL', `insn ${idx}: unknown helper func#${i.imm}`);
      helperIdx.set(i.imm, { id: i.imm, nargs: Math.min(5, proto.args.length), proto });
    }
    if (c === BPF_LD && (modeOf(i.code) === BPF_ABS || modeOf(i.code) === BPF_IND)) usesPacket = true;
  }
  const helperImports = [...helperIdx.values()].map(({ id, nargs }) => ({ id, nargs }));
  let hasLoops = false;
  for (let idx = 0; idx < n && !hasLoops; idx++) {
    if (slot2[idx]) continue;
    const t = jumpTarget(insns[idx]!, idx);
    if (t !== null && t <= idx) hasLoops = true;
  }

  // Types: 0 = $sub/callx, 1 = $main, 2 = $pkt, 3+k = helper with k args.
  const types: FuncType[] = [
    { params: [I64, I64, I64, I64, I64, I64], results: [I64] },
    { params: [I32, I32, I32, I32, I32, I32, I32], results: [I64] },
    { params: [I32, I32], results: [I32] },
  ];
  for (let k = 0; k <= 5; k++) types.push({ params: new Array<ValType>(k).fill(I64), results: [I64] });
  const MAIN_ARGS_TYPE = types.length;
  types.push({ params: [I64, I64, I64, I64, I64, I32, I32, I32, I32, I32], results: [I64] });
  const MAIN_RAW_TYPE = types.length;
  types.push({ params: [I32, I32, I32, I32, I32, I32], results: [I32] });
  const ELOOP_TYPE = types.length;
  types.push({ params: [I32], results: [] });
  const funcImports = helperImports.map((h) => ({ module: 'h', name: String(h.id), type: 3 + h.nargs }));
  const helperFunc = new Map<number, number>(helperImports.map((h, k) => [h.id, k]));
  const callxFunc = usesCallx ? funcImports.length : -1;
  if (usesCallx) funcImports.push({ module: 'k', name: 'callx', type: 0 });
  const eloopFunc = hasLoops ? funcImports.length : -1;
  if (hasLoops) funcImports.push({ module: 'k', name: 'eloop', type: ELOOP_TYPE });
  const mainFunc = funcImports.length;
  const mainArgsFunc = mainFunc + 1;
  const subFunc = (k: number): number => mainFunc + 2 + k;
  const pktFunc = mainFunc + 2 + subprogs.length;
  const mainRawFunc = pktFunc + 1; // last, so the other indexes (and the dump) are unchanged
  const hasCalls = helperImports.length > 0 || usesCallx;
  const trustR10 = !writesR10(insns);

  const text: string[] | null = opts.text ? [] : null;
  const funcs: { type: number; locals: ValType[]; body: Uint8Array }[] = [];

  /**
   * Entry prologue: the packet parameters (locals first..first+3) into the globals $pkt
   * reads, and no tail call pending. Only what the program uses, so a run of a program
   * without packets or helpers pays for neither.
   *
   * $tc belongs to the run: a helper of this program may run the same program again (a
   * tracepoint firing it), and a tail call pending at the end of that inner run must not
   * end the outer one. So the entry keeps the caller's $tc in local `saved` (an i32 local
   * the entry declares, see entryLocals) and epilogue() puts it back after $sub_0 returns.
   */
  const entry = (b: Body, first: number, saved: number): void => {
    if (usesPacket) {
      for (let g = 0; g < 4; g++) {
        b.local(Op.local_get, first + g);
        b.global(Op.global_set, G_PDATA + g, GLOBAL_NAMES[G_PDATA + g]!);
      }
    }
    if (hasCalls) {
      b.global(Op.global_get, G_TC, 'tc');
      b.local(Op.local_set, saved);
      b.i32Const(0);
      b.global(Op.global_set, G_TC, 'tc');
    }
    // A fresh budget per run. Nested runs of the same image (and runs a throw ended) get
    // the outer run's $budget back from index.ts, which knows when a run nests.
    if (hasLoops) {
      b.global(Op.global_get, G_LIMIT, 'limit');
      b.global(Op.global_set, G_BUDGET, 'budget');
    }
  };
  /** After $sub_0 returned (its r0 on the stack): the caller's $tc back. */
  const epilogue = (b: Body, saved: number): void => {
    if (hasCalls) {
      b.local(Op.local_get, saved);
      b.global(Op.global_set, G_TC, 'tc');
    }
  };
  const entryLocals: ValType[] = hasCalls ? [I32] : [];

  // --- $main
  {
    const b = new Body(text === null ? null : [], ['$ctx_lo', '$ctx_hi', '$fp', '$pdata', '$plen', '$pmac', '$pnet', '$tc_saved']);
    entry(b, 3, 7);
    b.local(Op.local_get, 1);
    b.op(Op.i64_extend_i32_u);
    b.i64ConstSmall(32);
    b.op(Op.i64_shl);
    b.local(Op.local_get, 0);
    b.op(Op.i64_extend_i32_u);
    b.op(Op.i64_or);
    for (let k = 0; k < 4; k++) b.i64ConstSmall(0);
    b.local(Op.local_get, 2);
    b.op(Op.i64_extend_i32_u);
    b.i64Const(KERNEL_BASE);
    b.op(Op.i64_or);
    b.call(subFunc(0), 'sub_0');
    epilogue(b, 7);
    b.end();
    funcs.push({ type: 1, locals: entryLocals, body: b.w.result() });
    if (text) {
      text.push('  (func $main (export "main") (param $ctx_lo i32) (param $ctx_hi i32) (param $fp i32) (param $pdata i32) (param $plen i32) (param $pmac i32) (param $pnet i32) (result i64)');
      if (hasCalls) text.push('    (local $tc_saved i32)');
      text.push(...b.text!.slice(0, -1), '  )');
    }
  }

  // --- $main_args: all five argument registers given (harnesses; BigInts, so slower)
  {
    const b = new Body(text === null ? null : [], ['$r1', '$r2', '$r3', '$r4', '$r5', '$fp', '$pdata', '$plen', '$pmac', '$pnet', '$tc_saved']);
    entry(b, 6, 10);
    for (let k = 0; k < 5; k++) b.local(Op.local_get, k);
    b.local(Op.local_get, 5);
    b.op(Op.i64_extend_i32_u);
    b.i64Const(KERNEL_BASE);
    b.op(Op.i64_or);
    b.call(subFunc(0), 'sub_0');
    epilogue(b, 10);
    b.end();
    funcs.push({ type: MAIN_ARGS_TYPE, locals: entryLocals, body: b.w.result() });
  }

  // --- one function per subprogram
  const dispatched: number[] = [];
  const dispatchedSet = new Set<number>();
  subprogs.forEach((start, k) => {
    const end = endOf(k);
    const fc = new FuncCompiler(insns, start, end, slot2, {
      helperFunc, helperIdx, callxFunc, subFunc, funcOf, pktFunc, hasCalls, trustR10, helpers, eloopFunc,
    });
    let body: Body;
    if (opts.forceDispatch) {
      body = fc.compile(text !== null, true);
      dispatched.push(start);
      dispatchedSet.add(start);
    } else {
      try {
        body = fc.compile(text !== null, false);
      } catch (e) {
        if (!(e instanceof Unstructured)) throw e;
        body = fc.compile(text !== null, true);
        dispatched.push(start);
        dispatchedSet.add(start);
      }
    }
    const bytes = body.w.result();
    if (bytes.length > V8_MAX_FUNCTION_SIZE) {
      fail('ENOTSUPP', `subprogram at insn ${start} needs ${bytes.length} bytes of wasm, over V8's function limit of ${V8_MAX_FUNCTION_SIZE}`);
    }
    funcs.push({ type: 0, locals: SUB_LOCALS, body: bytes });
    if (text) {
      const how = dispatchedSet.has(start) ? ' (dispatch loop)' : '';
      text.push(
        `  (func $sub_${start} (export "sub_${start}") (param $r1 i64) (param $r2 i64) (param $r3 i64) (param $r4 i64) (param $r5 i64) (param $r10 i64) (result i64)`,
        `    ;; subprogram at insn ${start}..${end - 1}${how}`,
        `    (local $r0 i64) (local $r6 i64) (local $r7 i64) (local $r8 i64) (local $r9 i64) (local $ax i64) (local $t i64) (local $u i64) (local $a i32) (local $pc i32) (local $left i32)`,
        ...body.text!.slice(0, -1),
        '  )',
      );
    }
  });

  // --- $pkt(off, size) -> i32: the memory offset of packet bytes [off, off+size), or -1.
  {
    const b = new Body(text === null ? null : [], ['$off', '$size', '$p']);
    const pkt = b;
    // off >= 0: data + off when off + size <= len
    pkt.local(Op.local_get, 0);
    pkt.i32Const(0);
    pkt.op(Op.i32_ge_s);
    pkt.open(Op.if);
    pkt.local(Op.local_get, 0);
    pkt.local(Op.local_get, 1);
    pkt.op(Op.i32_add);
    pkt.global(Op.global_get, G_PLEN, 'plen');
    pkt.op(Op.i32_gt_u);
    pkt.open(Op.if);
    pkt.i32Const(-1);
    pkt.op(Op.return);
    pkt.end();
    pkt.global(Op.global_get, G_PDATA, 'pdata');
    pkt.local(Op.local_get, 0);
    pkt.op(Op.i32_add);
    pkt.op(Op.return);
    pkt.end();
    // SKF_NET_OFF <= off < 0: network header; SKF_LL_OFF <= off: link-layer header.
    pkt.local(Op.local_get, 0);
    pkt.i32Const(SKF_NET_OFF);
    pkt.op(Op.i32_ge_s);
    pkt.open(Op.if, I32);
    pkt.global(Op.global_get, G_PNET, 'pnet');
    pkt.local(Op.local_get, 0);
    pkt.i32Const(SKF_NET_OFF);
    pkt.op(Op.i32_sub);
    pkt.op(Op.i32_add);
    pkt.op(Op.else);
    pkt.local(Op.local_get, 0);
    pkt.i32Const(SKF_LL_OFF);
    pkt.op(Op.i32_lt_s);
    pkt.open(Op.if);
    pkt.i32Const(-1);
    pkt.op(Op.return);
    pkt.end();
    pkt.global(Op.global_get, G_PMAC, 'pmac');
    pkt.local(Op.local_get, 0);
    pkt.i32Const(SKF_LL_OFF);
    pkt.op(Op.i32_sub);
    pkt.op(Op.i32_add);
    pkt.end();
    pkt.local(Op.local_tee, 2);
    // The bytes must lie within [mac, data + len): the skb's head to tail.
    pkt.global(Op.global_get, G_PMAC, 'pmac');
    pkt.op(Op.i32_lt_u);
    pkt.local(Op.local_get, 2);
    pkt.local(Op.local_get, 1);
    pkt.op(Op.i32_add);
    pkt.global(Op.global_get, G_PDATA, 'pdata');
    pkt.global(Op.global_get, G_PLEN, 'plen');
    pkt.op(Op.i32_add);
    pkt.op(Op.i32_gt_u);
    pkt.op(Op.i32_or);
    pkt.open(Op.if);
    pkt.i32Const(-1);
    pkt.op(Op.return);
    pkt.end();
    pkt.local(Op.local_get, 2);
    pkt.end();
    funcs.push({ type: 2, locals: [I32], body: b.w.result() });
    if (text && usesPacket) {
      text.push('  (func $pkt (param $off i32) (param $size i32) (result i32)', '    (local $p i32)');
      text.push(...b.text!.slice(0, -1), '  )');
    }
  }

  // --- $main_raw(ctx, fp, pdata, plen, pmac, pnet) -> i32: the entry for callers that
  // want no BigInt at all (index.ts's runRaw): ctx and the stack top are offsets below
  // 2^32, r2..r5 are 0, and only the low 32 bits of r0 come back. Not in the text dump,
  // like $main_args. A program of one function without helper calls (every tracing
  // filter without string helpers, every classic filter without ancillary calls) gets
  // its body compiled right into $main_raw: V8 does not inline wasm calls by default,
  // and the call to $sub_0 costs as much as a short filter. Its LD_ABS/LD_IND read the
  // packet bounds from the parameters.
  let rawBody: Uint8Array | null = null;
  if (subprogs.length === 1 && !hasCalls && !hasCallbacks) {
    const fc = new FuncCompiler(insns, 0, endOf(0), slot2, {
      helperFunc, helperIdx, callxFunc, subFunc, funcOf, pktFunc, hasCalls, trustR10, helpers, eloopFunc,
    });
    rawBody = fc.compile(false, dispatchedSet.has(0), true, usesPacket).w.result();
    if (rawBody.length > V8_MAX_FUNCTION_SIZE) rawBody = null; // just over: call $sub_0 instead
  }
  if (rawBody !== null) {
    funcs.push({ type: MAIN_RAW_TYPE, locals: [I64, I64, I64, I64, I64, I64, ...SUB_LOCALS], body: rawBody });
  } else {
    const b = new Body(null, ['$ctx', '$fp', '$pdata', '$plen', '$pmac', '$pnet', '$tc_saved']);
    entry(b, 2, 6);
    b.local(Op.local_get, 0);
    b.op(Op.i64_extend_i32_u);
    b.i64Const(KERNEL_BASE);
    b.op(Op.i64_or);
    for (let k = 0; k < 4; k++) b.i64ConstSmall(0);
    b.local(Op.local_get, 1);
    b.op(Op.i64_extend_i32_u);
    b.i64Const(KERNEL_BASE);
    b.op(Op.i64_or);
    b.call(subFunc(0), 'sub_0');
    epilogue(b, 6);
    b.op(Op.i32_wrap_i64);
    b.end();
    funcs.push({ type: MAIN_RAW_TYPE, locals: entryLocals, body: b.w.result() });
  }

  const exports: { name: string; kind: 'func' | 'global'; index: number }[] = [
    { name: 'main', kind: 'func', index: mainFunc },
    { name: 'main_args', kind: 'func', index: mainArgsFunc },
    { name: 'main_raw', kind: 'func', index: mainRawFunc },
  ];
  subprogs.forEach((s, k) => exports.push({ name: `sub_${s}`, kind: 'func', index: subFunc(k) }));
  GLOBAL_NAMES.forEach((name, g) => exports.push({ name, kind: 'global', index: g }));

  const bytes = encodeModule({
    types,
    funcImports,
    memory: { module: 'k', name: 'mem' },
    funcs,
    globals: [I64, I32, I32, I32, I32, I32, I32, I32],
    exports,
  });

  let wat: string | null = null;
  if (text) {
    const head = ['(module'];
    helperImports.forEach((h) => {
      const name = helperIdx.get(h.id)!.proto.name;
      const params = new Array<string>(h.nargs).fill('i64').join(' ');
      head.push(`  (import "h" "${h.id}" (func $${name} (param ${params}) (result i64)))`);
    });
    if (usesCallx) head.push('  (import "k" "callx" (func $callx (param i64 i64 i64 i64 i64 i64) (result i64)))');
    if (hasLoops) head.push('  (import "k" "eloop" (func $eloop (param i32)))');
    head.push('  (import "k" "mem" (memory 1))');
    GLOBAL_NAMES.forEach((g, k) => head.push(`  (global $${g} (export "${g}") (mut ${valTypeName(k === 0 ? I64 : I32)}) (${valTypeName(k === 0 ? I64 : I32)}.const 0))`));
    wat = [...head, ...text, ')'].join('\n');
  }

  return {
    bytes, text: wat, subprogs, helperImports, usesCallx, usesPacket, hasCalls, hasCallbacks, dispatched, hasLoops,
  };
}

interface Ctx {
  helperFunc: Map<number, number>;
  helperIdx: Map<number, { id: number; nargs: number; proto: FuncProto }>;
  callxFunc: number;
  subFunc: (k: number) => number;
  funcOf: Map<number, number>;
  pktFunc: number;
  hasCalls: boolean;
  trustR10: boolean;
  helpers: ReadonlyMap<number, FuncProto>;
  /** Function index of the k.eloop import (-1: no back edges in the program). */
  eloopFunc: number;
}

const JMP64: Record<number, OpCode> = {
  [BPF_JEQ]: Op.i64_eq, [BPF_JNE]: Op.i64_ne, [BPF_JGT]: Op.i64_gt_u, [BPF_JGE]: Op.i64_ge_u,
  [BPF_JLT]: Op.i64_lt_u, [BPF_JLE]: Op.i64_le_u, [BPF_JSGT]: Op.i64_gt_s, [BPF_JSGE]: Op.i64_ge_s,
  [BPF_JSLT]: Op.i64_lt_s, [BPF_JSLE]: Op.i64_le_s,
};
const JMP32: Record<number, OpCode> = {
  [BPF_JEQ]: Op.i32_eq, [BPF_JNE]: Op.i32_ne, [BPF_JGT]: Op.i32_gt_u, [BPF_JGE]: Op.i32_ge_u,
  [BPF_JLT]: Op.i32_lt_u, [BPF_JLE]: Op.i32_le_u, [BPF_JSGT]: Op.i32_gt_s, [BPF_JSGE]: Op.i32_ge_s,
  [BPF_JSLT]: Op.i32_lt_s, [BPF_JSLE]: Op.i32_le_s,
};
/** ALU ops that map to one wasm instruction: [64-bit, 32-bit]. */
const SIMPLE_ALU: Record<number, [OpCode, OpCode]> = {
  [BPF_ADD]: [Op.i64_add, Op.i32_add], [BPF_SUB]: [Op.i64_sub, Op.i32_sub],
  [BPF_MUL]: [Op.i64_mul, Op.i32_mul], [BPF_OR]: [Op.i64_or, Op.i32_or],
  [BPF_AND]: [Op.i64_and, Op.i32_and], [BPF_XOR]: [Op.i64_xor, Op.i32_xor],
  [BPF_LSH]: [Op.i64_shl, Op.i32_shl], [BPF_RSH]: [Op.i64_shr_u, Op.i32_shr_u],
  [BPF_ARSH]: [Op.i64_shr_s, Op.i32_shr_s],
};

const LOAD: Record<number, OpCode> = { [BPF_B]: Op.i64_load8_u, [BPF_H]: Op.i64_load16_u, [BPF_W]: Op.i64_load32_u, [BPF_DW]: Op.i64_load };
const LOADSX: Record<number, OpCode> = { [BPF_B]: Op.i64_load8_s, [BPF_H]: Op.i64_load16_s, [BPF_W]: Op.i64_load32_s };
const STORE: Record<number, OpCode> = { [BPF_B]: Op.i64_store8, [BPF_H]: Op.i64_store16, [BPF_W]: Op.i64_store32, [BPF_DW]: Op.i64_store };

/**
 * The body of $main_raw when the program is compiled into it: its two i32 parameters
 * (ctx, fp) come first, so every register local of a $sub body moves up by two.
 */
class RawBody extends Body {
  override local(code: typeof Op.local_get | typeof Op.local_set | typeof Op.local_tee, idx: number): void {
    super.local(code, idx + RAW_PARAMS);
  }
  param(code: typeof Op.local_get, idx: number): void {
    super.local(code, idx);
  }
}
const RAW_PARAMS = 6;

/** Compiles one (sub)program [start, end) into a $sub function body. */
class FuncCompiler {
  private b!: Body;
  private dispatch = false;
  /** Compiling into $main_raw: i32 parameters, the result is r0's low 32 bits. */
  private raw = false;
  /** Structured mode: the intervals and the stack of open ones. */
  private st: Structure | null = null;
  private open: Interval[] = [];
  /** Stack position of each open interval (branch depths in O(1)). */
  private openAt = new Map<Interval, number>();
  private nextIv = 0;
  /** Dispatch mode: basic block index per leader instruction, and the current block. */
  private bbOf = new Map<number, number>();
  private curBB = 0;
  private nBB = 0;
  /** This function has back edges: it keeps the budget in $left (see charge). */
  private loops = false;

  constructor(
    private readonly insns: readonly Insn[],
    private readonly start: number,
    private readonly end: number,
    private readonly slot2: Uint8Array,
    private readonly cx: Ctx,
  ) {}

  private edges(): [number, number][] {
    const out: [number, number][] = [];
    for (let idx = this.start; idx < this.end; idx++) {
      if (this.slot2[idx]) continue;
      const t = jumpTarget(this.insns[idx]!, idx);
      if (t === null) continue;
      if (t < this.start || t >= this.end) fail('EINVAL', `jump out of range from insn ${idx} to ${t}`);
      if (this.slot2[t]) fail('EINVAL', `insn ${idx}: jump into the middle of ld_imm64 at ${t - 1}`);
      out.push([idx - this.start, t - this.start]);
    }
    return out;
  }

  compile(withText: boolean, dispatch: boolean, raw = false, rawPacket = false): Body {
    this.b = raw ? new RawBody(null) : new Body(withText ? [] : null, LOCAL_NAMES);
    this.dispatch = dispatch;
    this.raw = raw;
    const edges = this.edges();
    const n = this.end - this.start;
    const b = this.b;
    this.loops = edges.some(([from, to]) => to <= from);
    if (b instanceof RawBody) {
      // r1 = BASE | ctx, r10 = BASE | fp (locals 0 and 5 of a $sub body); r2..r5 stay 0.
      for (const [param, reg] of [[0, 0], [1, 5]] as const) {
        b.param(Op.local_get, param);
        b.op(Op.i64_extend_i32_u);
        b.i64Const(KERNEL_BASE);
        b.op(Op.i64_or);
        b.local(Op.local_set, reg);
      }
      // $pkt (LD_IND, negative offsets) reads the packet from the globals.
      if (rawPacket) {
        for (let g = 0; g < 4; g++) {
          b.param(Op.local_get, 2 + g);
          b.global(Op.global_set, G_PDATA + g, GLOBAL_NAMES[G_PDATA + g]!);
        }
      }
    }
    if (this.loops) {
      // $main_raw's own body (one function, no calls) starts from $limit itself and never
      // needs the global; a $sub takes what its caller left.
      b.global(Op.global_get, raw ? G_LIMIT : G_BUDGET, raw ? 'limit' : 'budget');
      b.local(Op.local_set, LEFT);
    }
    if (!dispatch) {
      this.st = structure(edges);
      if (this.st === null) throw new Unstructured();
      this.open = [];
      this.openAt = new Map();
      this.nextIv = 0;
    } else {
      // Leaders: the entry, every target, every instruction after a jump or exit.
      const leaders = new Set<number>([0]);
      for (const [from, to] of edges) {
        leaders.add(to);
        if (from + 1 < n) leaders.add(from + 1);
      }
      for (let r = 0; r < n; r++) {
        const i = this.insns[this.start + r]!;
        if ((isExit(i) || isUncondJump(i)) && r + 1 < n) leaders.add(r + 1);
      }
      const sorted = [...leaders].sort((x, y) => x - y);
      if (sorted.length > V8_MAX_BR_TABLE_SIZE) {
        fail('ENOTSUPP', `subprogram at insn ${this.start} has ${sorted.length} basic blocks, over V8's br_table limit of ${V8_MAX_BR_TABLE_SIZE} for the dispatch loop`);
      }
      this.nBB = sorted.length;
      this.bbOf = new Map(sorted.map((r, k) => [r, k]));
      this.curBB = 0;
      b.open(Op.loop);
      for (let k = this.nBB - 1; k >= 0; k--) b.open(Op.block);
      b.local(Op.local_get, PC);
      b.brTable(sorted.map((_, k) => k), 0);
      b.end(); // $b0: block 0 code follows
    }

    for (let r = 0; r < n; r++) {
      const idx = this.start + r;
      if (this.slot2[idx]) continue;
      this.boundary(r);
      const i = this.insns[idx]!;
      if (b.text !== null) b.comment(`${idx}: ${formatInsn(this.insns, idx, { callName: (c) => this.callName(c) })}`);
      this.insn(i, idx);
    }
    this.boundary(n);
    if (dispatch) b.end(); // loop
    b.op(Op.unreachable); // falling off the end: the verifier forbids it
    b.end();
    return b;
  }

  /** Closes and opens the structure before relative position r. */
  private boundary(r: number): void {
    const b = this.b;
    if (this.dispatch) {
      const k = this.bbOf.get(r);
      if (k !== undefined && k > 0) {
        b.end(); // closes $b<k>: basic block k starts here
        this.curBB = k;
      }
      return;
    }
    const st = this.st!;
    const open = this.open;
    while (open.length > 0 && open[open.length - 1]!.e === r) {
      this.openAt.delete(open.pop()!);
      b.end();
    }
    // Ends never increase up the stack (checked on push), so the top ends first.
    if (open.length > 0 && open[open.length - 1]!.e <= r) throw new Unstructured();
    // st.order is sorted by start, so the intervals opening here are the next ones.
    while (this.nextIv < st.order.length && st.order[this.nextIv]!.s === r) {
      const iv = st.order[this.nextIv++]!;
      if (open.length > 0 && open[open.length - 1]!.e < iv.e) throw new Unstructured();
      this.openAt.set(iv, open.length);
      open.push(iv);
      b.open(iv.loop ? Op.loop : Op.block);
    }
  }

  /** Branch to relative target `to` from relative position `from`; cond already pushed if conditional. */
  private branch(from: number, to: number, conditional: boolean): void {
    const b = this.b;
    if (to === from + 1) {
      if (conditional) b.op(Op.drop);
      return;
    }
    if (!this.dispatch) {
      const iv = to > from ? this.st!.blocks.get(to) : this.st!.loops.get(to);
      const pos = iv ? this.openAt.get(iv) : undefined;
      if (pos === undefined) throw new Unstructured();
      const depth = this.open.length - 1 - pos;
      if (to > from) b.br(conditional ? Op.br_if : Op.br, depth);
      else if (!conditional) {
        this.charge(from, to);
        b.br(Op.br, depth);
      } else {
        b.open(Op.if);
        this.charge(from, to);
        b.br(Op.br, depth + 1);
        b.end();
      }
      return;
    }
    const j = this.bbOf.get(to)!;
    const k = this.curBB;
    if (j > k) {
      b.br(conditional ? Op.br_if : Op.br, j - k - 1);
      return;
    }
    // Backwards: through the dispatch loop.
    if (conditional) b.open(Op.if);
    this.charge(from, to);
    b.i32Const(j);
    b.local(Op.local_set, PC);
    b.br(Op.br, this.nBB - 1 - k + (conditional ? 1 : 0));
    if (conditional) b.end();
  }

  /**
   * A taken back edge from relative position `from` to `to` (to <= from): charges its
   * distance to the budget, as the interpreter does (so both engines stop a runaway
   * program after the same work), and stops the run with ELOOP when it is used up. The
   * budget lives in the i32 local $left (a register in the loop: a subtract and a branch
   * per iteration); calls and returns write it back to $budget (syncOut/syncIn).
   */
  private charge(from: number, to: number): void {
    const b = this.b;
    b.local(Op.local_get, LEFT);
    b.i32Const(from + 1 - to);
    b.op(Op.i32_sub);
    b.local(Op.local_tee, LEFT);
    b.i32Const(0);
    b.op(Op.i32_lt_s);
    b.open(Op.if);
    b.i32Const(this.start + to); // the interpreter's message names the jump's target
    b.call(this.cx.eloopFunc, 'eloop');
    b.op(Op.unreachable);
    b.end();
  }

  /** Before a call or a return: $left back into $budget (functions with back edges). */
  private syncOut(): void {
    if (!this.loops || this.raw) return;
    this.b.local(Op.local_get, LEFT);
    this.b.global(Op.global_set, G_BUDGET, 'budget');
  }

  /** After a call: what the callee (or a bpf_loop callback) left. */
  private syncIn(): void {
    if (!this.loops || this.raw) return;
    this.b.global(Op.global_get, G_BUDGET, 'budget');
    this.b.local(Op.local_set, LEFT);
  }

  private get(reg: number): void {
    this.b.local(Op.local_get, REG_LOCAL[reg]!);
  }

  /** Pushes packet field `which` (0 data, 1 len, 2 mac, 3 net): $main_raw's parameter, else the global. */
  private pkt(which: 0 | 1 | 2 | 3): void {
    const b = this.b;
    if (b instanceof RawBody) b.param(Op.local_get, 2 + which);
    else b.global(Op.global_get, G_PDATA + which, GLOBAL_NAMES[G_PDATA + which]!);
  }
  private set(reg: number): void {
    this.b.local(Op.local_set, REG_LOCAL[reg]!);
  }

  /** Pushes the i32 wasm address for [reg + off]; the access itself uses offset PAGE_SIZE. */
  private addr(reg: number, off: number): number {
    const b = this.b;
    if (reg === 10 && this.cx.trustR10 && off < 0 && off >= -MAX_BPF_STACK) {
      // r10 always points into this run's stack region: no check needed.
      this.get(10);
      b.op(Op.i32_wrap_i64);
      b.i32Const(off - PAGE_SIZE);
      b.op(Op.i32_add);
      return PAGE_SIZE;
    }
    this.get(reg);
    b.i64Const(BigInt(off) - ADDR_BIAS);
    b.op(Op.i64_add);
    b.local(Op.local_tee, T);
    b.i64Const(0xffffffffn);
    b.op(Op.i64_gt_u);
    b.open(Op.if);
    b.op(Op.unreachable); // not an address in the kernel's memory: EFAULT
    b.end();
    b.local(Op.local_get, T);
    b.op(Op.i32_wrap_i64);
    return PAGE_SIZE;
  }

  private tailCallCheck(): void {
    const b = this.b;
    b.global(Op.global_get, G_TC, 'tc');
    b.open(Op.if);
    b.i64ConstSmall(0);
    b.op(Op.return);
    b.end();
  }

  /** bswap of the low `bits` of the i64 register, zero-extended. */
  private bswap(reg: number, bits: number): void {
    const b = this.b;
    if (bits === 16) {
      this.get(reg);
      b.i64ConstSmall(8);
      b.op(Op.i64_shr_u);
      b.i64ConstSmall(0xff);
      b.op(Op.i64_and);
      this.get(reg);
      b.i64ConstSmall(0xff);
      b.op(Op.i64_and);
      b.i64ConstSmall(8);
      b.op(Op.i64_shl);
      b.op(Op.i64_or);
    } else if (bits === 32) {
      this.get(reg);
      b.op(Op.i32_wrap_i64);
      this.bswap32OnStack();
      b.op(Op.i64_extend_i32_u);
    } else {
      // Swap bytes within 16-bit pairs, then pairs within 32-bit halves, then the halves.
      this.get(reg);
      this.swapLanes(T, 8, 0x00ff00ff00ff00ffn);
      this.swapLanes(T, 16, 0x0000ffff0000ffffn);
      b.i64ConstSmall(32);
      b.op(Op.i64_rotl);
    }
    this.set(reg);
  }

  /**
   * i64 on the stack -> ((x >> bits) & mask) | ((x & mask) << bits): swaps each pair of
   * `bits`-wide lanes that `mask` selects (uses the i64 scratch `tmp`).
   */
  private swapLanes(tmp: number, bits: number, mask: bigint): void {
    const b = this.b;
    b.local(Op.local_tee, tmp);
    b.i64ConstSmall(bits);
    b.op(Op.i64_shr_u);
    b.i64Const(mask);
    b.op(Op.i64_and);
    b.local(Op.local_get, tmp);
    b.i64Const(mask);
    b.op(Op.i64_and);
    b.i64ConstSmall(bits);
    b.op(Op.i64_shl);
    b.op(Op.i64_or);
  }

  /** i32 on the stack -> its bytes reversed (uses the i32 scratch). */
  private bswap32OnStack(): void {
    const b = this.b;
    b.local(Op.local_tee, A);
    b.i32Const(0xff00ff00 | 0);
    b.op(Op.i32_and);
    b.i32Const(8);
    b.op(Op.i32_rotl);
    b.local(Op.local_get, A);
    b.i32Const(0x00ff00ff);
    b.op(Op.i32_and);
    b.i32Const(8);
    b.op(Op.i32_rotr);
    b.op(Op.i32_or);
  }

  private insn(i: Insn, idx: number): void {
    const c = cls(i.code);
    switch (c) {
      case BPF_ALU64:
        return this.alu64(i, idx);
      case BPF_ALU:
        return this.alu32(i, idx);
      case BPF_JMP:
      case BPF_JMP32:
        return this.jmp(i, idx);
      case BPF_LDX:
        return this.ldx(i, idx);
      case BPF_ST:
      case BPF_STX:
        return this.store(i, idx);
      case BPF_LD:
        return this.ld(i, idx);
      default:
        fail('EINVAL', `unknown opcode ${i.code.toString(16)} at insn ${idx}`);
    }
  }

  /** Helpers by the program's own table (the conformance helper 5 is not Linux's #5). */
  private callName(i: Insn): string | undefined {
    if (i.src !== 0) return undefined;
    const p = this.cx.helpers.get(i.imm);
    return p ? `bpf_${p.name}` : undefined;
  }

  private checkRegs(i: Insn, idx: number): void {
    if (i.dst > 10 && i.dst !== 11) fail('EINVAL', `insn ${idx}: R${i.dst} is invalid`);
    if (i.src > 10 && i.src !== 11) fail('EINVAL', `insn ${idx}: R${i.src} is invalid`);
  }

  private alu64(i: Insn, idx: number): void {
    const b = this.b;
    this.checkRegs(i, idx);
    const op = aluOp(i.code);
    const x = srcBit(i.code) === BPF_X;
    const d = i.dst;
    const src = (): void => (x ? this.get(i.src) : b.i64ConstSmall(i.imm));
    const simple = SIMPLE_ALU[op];
    if (simple) {
      this.get(d);
      src();
      b.op(simple[0]);
      this.set(d);
      return;
    }
    switch (op) {
      case BPF_MOV:
        if (x && i.off !== 0) {
          const ext = { 8: Op.i64_extend8_s, 16: Op.i64_extend16_s, 32: Op.i64_extend32_s }[i.off];
          if (ext === undefined) fail('EINVAL', `insn ${idx}: invalid movsx offset ${i.off}`);
          this.get(i.src);
          b.op(ext);
        } else src();
        this.set(d);
        return;
      case BPF_NEG:
        b.i64ConstSmall(0);
        this.get(d);
        b.op(Op.i64_sub);
        this.set(d);
        return;
      case BPF_DIV:
      case BPF_MOD:
        return this.divmod(i, idx, true);
      case BPF_END:
        if (i.imm !== 16 && i.imm !== 32 && i.imm !== 64) fail('EINVAL', `insn ${idx}: invalid bswap width ${i.imm}`);
        if (x) fail('EINVAL', `insn ${idx}: invalid bswap encoding`);
        return this.bswap(d, i.imm);
      default:
        fail('EINVAL', `unknown opcode ${i.code.toString(16)} at insn ${idx}`);
    }
  }

  private alu32(i: Insn, idx: number): void {
    const b = this.b;
    this.checkRegs(i, idx);
    const op = aluOp(i.code);
    const x = srcBit(i.code) === BPF_X;
    const d = i.dst;
    const src = (): void => {
      if (x) {
        this.get(i.src);
        b.op(Op.i32_wrap_i64);
      } else b.i32Const(i.imm);
    };
    const simple = SIMPLE_ALU[op];
    if (simple) {
      this.get(d);
      b.op(Op.i32_wrap_i64);
      src();
      b.op(simple[1]);
      b.op(Op.i64_extend_i32_u);
      this.set(d);
      return;
    }
    switch (op) {
      case BPF_MOV:
        if (x && i.off !== 0) {
          const ext = { 8: Op.i32_extend8_s, 16: Op.i32_extend16_s }[i.off];
          if (ext === undefined) fail('EINVAL', `insn ${idx}: invalid movsx offset ${i.off}`);
          this.get(i.src);
          b.op(Op.i32_wrap_i64);
          b.op(ext);
          b.op(Op.i64_extend_i32_u);
        } else if (x) {
          this.get(i.src);
          b.op(Op.i32_wrap_i64);
          b.op(Op.i64_extend_i32_u);
        } else b.i64Const(BigInt(i.imm >>> 0));
        this.set(d);
        return;
      case BPF_NEG:
        b.i32Const(0);
        this.get(d);
        b.op(Op.i32_wrap_i64);
        b.op(Op.i32_sub);
        b.op(Op.i64_extend_i32_u);
        this.set(d);
        return;
      case BPF_DIV:
      case BPF_MOD:
        return this.divmod(i, idx, false);
      case BPF_END: {
        if (i.imm !== 16 && i.imm !== 32 && i.imm !== 64) fail('EINVAL', `insn ${idx}: invalid endianness width ${i.imm}`);
        if (x) return this.bswap(d, i.imm); // to big endian: the host is little-endian
        if (i.imm === 64) return;
        this.get(d);
        b.i64Const(i.imm === 16 ? 0xffffn : 0xffffffffn);
        b.op(Op.i64_and);
        this.set(d);
        return;
      }
      default:
        fail('EINVAL', `unknown opcode ${i.code.toString(16)} at insn ${idx}`);
    }
  }

  /**
   * div/mod/sdiv/smod with BPF's answers where wasm traps: x/0 = 0, x%0 = x (zero-extended
   * for 32 bits), INT_MIN/-1 = INT_MIN (computed as 0 - x), x s% -1 = 0.
   */
  private divmod(i: Insn, idx: number, is64: boolean): void {
    const b = this.b;
    const isDiv = aluOp(i.code) === BPF_DIV;
    if (i.off !== 0 && i.off !== 1) fail('EINVAL', `insn ${idx}: invalid div/mod offset ${i.off}`);
    const signed = i.off === 1;
    const x = srcBit(i.code) === BPF_X;
    const d = i.dst;
    const W = is64
      ? { sub: Op.i64_sub, div: signed ? Op.i64_div_s : Op.i64_div_u, rem: signed ? Op.i64_rem_s : Op.i64_rem_u }
      : { sub: Op.i32_sub, div: signed ? Op.i32_div_s : Op.i32_div_u, rem: signed ? Op.i32_rem_s : Op.i32_rem_u };
    const dst = (): void => {
      this.get(d);
      if (!is64) b.op(Op.i32_wrap_i64);
    };
    const zero = (): void => (is64 ? b.i64ConstSmall(0) : b.i32Const(0));
    const finish = (): void => {
      if (!is64) b.op(Op.i64_extend_i32_u);
      this.set(d);
    };
    if (!x) {
      const k = i.imm; // ALU64: sign-extended; ALU: the 32-bit pattern — same wasm constant
      const kconst = (): void => (is64 ? b.i64ConstSmall(k) : b.i32Const(k));
      if (k === 0) {
        if (isDiv) zero();
        else dst();
      } else if (signed && k === -1) {
        if (isDiv) {
          zero();
          dst();
          b.op(W.sub);
        } else zero();
      } else {
        dst();
        kconst();
        b.op(isDiv ? W.div : W.rem);
      }
      finish();
      return;
    }
    // Register divisor, kept in a scratch local of the operation's width.
    const S = is64 ? T : A;
    this.get(i.src);
    if (!is64) b.op(Op.i32_wrap_i64);
    b.local(Op.local_tee, S);
    b.op(is64 ? Op.i64_eqz : Op.i32_eqz);
    b.open(Op.if, is64 ? I64 : I32);
    if (isDiv) zero();
    else dst();
    b.op(Op.else);
    if (signed) {
      b.local(Op.local_get, S);
      if (is64) b.i64ConstSmall(-1);
      else b.i32Const(-1);
      b.op(is64 ? Op.i64_eq : Op.i32_eq);
      b.open(Op.if, is64 ? I64 : I32);
      if (isDiv) {
        zero();
        dst();
        b.op(W.sub);
      } else zero();
      b.op(Op.else);
    }
    dst();
    b.local(Op.local_get, S);
    b.op(isDiv ? W.div : W.rem);
    if (signed) b.end();
    b.end();
    finish();
  }

  private jmp(i: Insn, idx: number): void {
    const b = this.b;
    const c = cls(i.code);
    const op = aluOp(i.code);
    const r = idx - this.start;
    if (op === BPF_EXIT) {
      if (c !== BPF_JMP) fail('EINVAL', `unknown opcode ${i.code.toString(16)} at insn ${idx}`);
      this.syncOut();
      this.get(0);
      if (this.raw) b.op(Op.i32_wrap_i64);
      b.op(Op.return);
      return;
    }
    if (op === BPF_CALL) {
      if (c !== BPF_JMP) fail('EINVAL', `unknown opcode ${i.code.toString(16)} at insn ${idx}`);
      return this.call(i, idx);
    }
    if (op === BPF_JA) {
      this.branch(r, jumpTarget(i, idx)! - this.start, false);
      return;
    }
    this.checkRegs(i, idx);
    const x = srcBit(i.code) === BPF_X;
    if (c === BPF_JMP) {
      this.get(i.dst);
      if (x) this.get(i.src);
      else b.i64ConstSmall(i.imm);
      if (op === BPF_JSET) {
        b.op(Op.i64_and);
        b.i64ConstSmall(0);
        b.op(Op.i64_ne);
      } else {
        const cmp = JMP64[op];
        if (cmp === undefined) fail('EINVAL', `unknown opcode ${i.code.toString(16)} at insn ${idx}`);
        b.op(cmp);
      }
    } else {
      this.get(i.dst);
      b.op(Op.i32_wrap_i64);
      if (x) {
        this.get(i.src);
        b.op(Op.i32_wrap_i64);
      } else b.i32Const(i.imm);
      if (op === BPF_JSET) b.op(Op.i32_and);
      else {
        const cmp = JMP32[op];
        if (cmp === undefined) fail('EINVAL', `unknown opcode ${i.code.toString(16)} at insn ${idx}`);
        b.op(cmp);
      }
    }
    this.branch(r, jumpTarget(i, idx)! - this.start, true);
  }

  private call(i: Insn, idx: number): void {
    const b = this.b;
    const cx = this.cx;
    if (i.src === BPF_PSEUDO_CALL) {
      const k = cx.funcOf.get(idx + 1 + i.imm)!;
      for (let r = 1; r <= 5; r++) this.get(r);
      this.get(10);
      b.i64ConstSmall(MAX_BPF_STACK);
      b.op(Op.i64_sub);
      this.syncOut();
      b.call(cx.subFunc(k), `sub_${idx + 1 + i.imm}`);
      this.syncIn();
      this.set(0);
      if (cx.hasCalls) this.tailCallCheck();
      return;
    }
    if (srcBit(i.code) === BPF_X) {
      this.get(10);
      b.global(Op.global_set, G_FP, 'fp');
      this.get(i.dst);
      for (let r = 1; r <= 5; r++) this.get(r);
      this.syncOut();
      b.call(cx.callxFunc, 'callx');
      this.syncIn();
      this.set(0);
      this.tailCallCheck();
      return;
    }
    const h = cx.helperIdx.get(i.imm)!;
    if (h.proto.args.includes('PTR_TO_FUNC')) {
      // The callback's frame goes below this one (env.callSubprog reads $fp).
      this.get(10);
      b.global(Op.global_set, G_FP, 'fp');
    }
    for (let r = 1; r <= h.nargs; r++) this.get(r);
    this.syncOut();
    b.call(cx.helperFunc.get(i.imm)!, h.proto.name);
    this.syncIn();
    this.set(0);
    this.tailCallCheck();
  }

  private ldx(i: Insn, idx: number): void {
    const mode = modeOf(i.code);
    this.checkRegs(i, idx);
    const size = sizeOf(i.code);
    const op = mode === BPF_MEM ? LOAD[size] : mode === BPF_MEMSX ? LOADSX[size] : undefined;
    if (op === undefined) fail('EINVAL', `unknown opcode ${i.code.toString(16)} at insn ${idx}`);
    const off = this.addr(i.src, i.off);
    this.b.mem(op, off);
    this.set(i.dst);
  }

  private store(i: Insn, idx: number): void {
    const b = this.b;
    const mode = modeOf(i.code);
    this.checkRegs(i, idx);
    const size = sizeOf(i.code);
    if (mode === BPF_MEM) {
      const off = this.addr(i.dst, i.off);
      if (cls(i.code) === BPF_ST) b.i64ConstSmall(i.imm);
      else this.get(i.src);
      b.mem(STORE[size]!, off);
      return;
    }
    if (cls(i.code) !== BPF_STX || mode !== BPF_ATOMIC || (size !== BPF_W && size !== BPF_DW)) {
      fail('EINVAL', `unknown opcode ${i.code.toString(16)} at insn ${idx}`);
    }
    const w = size === BPF_W;
    const ld = w ? Op.i64_load32_u : Op.i64_load;
    const stOp = w ? Op.i64_store32 : Op.i64_store;
    // Single-threaded: a plain load-modify-store is atomic. The address goes to $a, the
    // old value to $u.
    const off = this.addr(i.dst, i.off);
    b.local(Op.local_set, A);
    b.local(Op.local_get, A);
    b.mem(ld, off);
    b.local(Op.local_set, U);
    const fetchInto = (reg: number): void => {
      b.local(Op.local_get, U);
      this.set(reg);
    };
    if (i.imm === BPF_CMPXCHG) {
      // if (old == r0) *p = src; r0 = old   (32-bit: compares the low halves)
      b.local(Op.local_get, U);
      this.get(0);
      if (w) {
        b.i64Const(0xffffffffn);
        b.op(Op.i64_and);
      }
      b.op(Op.i64_eq);
      b.open(Op.if);
      b.local(Op.local_get, A);
      this.get(i.src);
      b.mem(stOp, off);
      b.end();
      fetchInto(0);
      return;
    }
    if (i.imm === BPF_XCHG) {
      b.local(Op.local_get, A);
      this.get(i.src);
      b.mem(stOp, off);
      fetchInto(i.src);
      return;
    }
    const aop = { [BPF_ADD]: Op.i64_add, [BPF_OR]: Op.i64_or, [BPF_AND]: Op.i64_and, [BPF_XOR]: Op.i64_xor }[i.imm & ~BPF_FETCH];
    if (aop === undefined || (i.imm & ~0xf1) !== 0) fail('EINVAL', `insn ${idx}: invalid atomic operation ${i.imm.toString(16)}`);
    b.local(Op.local_get, A);
    b.local(Op.local_get, U);
    this.get(i.src);
    b.op(aop);
    b.mem(stOp, off);
    if (i.imm & BPF_FETCH) fetchInto(i.src);
  }

  private ld(i: Insn, idx: number): void {
    const b = this.b;
    const mode = modeOf(i.code);
    const size = sizeOf(i.code);
    if (mode === BPF_IMM && size === BPF_DW) {
      this.checkRegs(i, idx);
      const next = this.insns[idx + 1]!;
      if (i.src === BPF_PSEUDO_FUNC) {
        // A callback "address" is its instruction index; env.callSubprog takes it back.
        b.i64ConstSmall(idx + 1 + i.imm);
      } else b.i64Const(ldImm64Value(i, next));
      this.set(i.dst);
      return;
    }
    if (mode !== BPF_ABS && mode !== BPF_IND) fail('EINVAL', `unknown opcode ${i.code.toString(16)} at insn ${idx}`);
    const bytes = size === BPF_W ? 4 : size === BPF_H ? 2 : size === BPF_B ? 1 : 0;
    if (bytes === 0) fail('EINVAL', `unknown opcode ${i.code.toString(16)} at insn ${idx}`);
    // r0 = ntohN(packet[k] or packet[src + k]); out of the packet: the program returns 0.
    // Offsets into [0, len) are checked inline (one compare); the rest (negative, i.e.
    // SKF_NET_OFF/SKF_LL_OFF, or out of range) go through $pkt.
    const ret0 = (): void => {
      b.open(Op.if);
      this.syncOut();
      if (this.raw) b.i32Const(0);
      else b.i64ConstSmall(0);
      b.op(Op.return);
      b.end();
    };
    let memOff = 0;
    if (mode === BPF_ABS && i.imm >= 0) {
      // k + bytes > len (unsigned; k < 2^31 so k + bytes fits in 32 bits): return 0
      this.pkt(1);
      b.i32Const((i.imm + bytes) | 0);
      b.op(Op.i32_lt_u);
      ret0();
      this.pkt(0);
      memOff = i.imm;
    } else {
      if (mode === BPF_IND) {
        this.checkRegs(i, idx);
        this.get(i.src);
        b.op(Op.i32_wrap_i64);
        b.i32Const(i.imm);
        b.op(Op.i32_add);
      } else b.i32Const(i.imm);
      b.local(Op.local_tee, A);
      // (u32)off + bytes <= len: data + off; else ask $pkt (negative offsets, or out)
      b.op(Op.i64_extend_i32_u);
      b.i64ConstSmall(bytes);
      b.op(Op.i64_add);
      this.pkt(1);
      b.op(Op.i64_extend_i32_u);
      b.op(Op.i64_le_u);
      b.open(Op.if, I32);
      this.pkt(0);
      b.local(Op.local_get, A);
      b.op(Op.i32_add);
      b.op(Op.else);
      b.local(Op.local_get, A);
      b.i32Const(bytes);
      b.call(this.cx.pktFunc, 'pkt');
      b.local(Op.local_tee, A);
      b.i32Const(-1);
      b.op(Op.i32_eq);
      ret0();
      b.local(Op.local_get, A);
      b.end();
    }
    if (bytes === 1) {
      b.mem(Op.i64_load8_u, memOff);
    } else if (bytes === 2) {
      b.mem(Op.i32_load16_u, memOff);
      b.local(Op.local_tee, A);
      b.i32Const(8);
      b.op(Op.i32_shr_u);
      b.local(Op.local_get, A);
      b.i32Const(8);
      b.op(Op.i32_shl);
      b.op(Op.i32_or);
      b.i32Const(0xffff);
      b.op(Op.i32_and);
      b.op(Op.i64_extend_i32_u);
    } else {
      b.mem(Op.i32_load, memOff);
      this.bswap32OnStack();
      b.op(Op.i64_extend_i32_u);
    }
    this.set(0);
  }
}

