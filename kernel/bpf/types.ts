/**
 * The contracts shared by the pieces of kernel/bpf: programs, program types, helper
 * prototypes, maps and map operations, and the run environment the engines (interpreter,
 * JIT) hand to helpers. Plain object literals implement them (STYLE.md): one file per map
 * type exporting a MapOps table, one FuncProto per helper, one ProgTypeDef per program type.
 */
import type { Kernel } from '../kernel.js';
import type { Task } from '../task.js';
import type { Insn } from './isa.js';

// ---------------------------------------------------------------------------------------
// Helpers

/** Return types of helper prototypes (enum bpf_return_type, the ones we use). */
export type RetType =
  | 'INTEGER'
  | 'VOID'
  | 'PTR_TO_MAP_VALUE_OR_NULL'
  | 'PTR_TO_MEM_OR_NULL' // ringbuf_reserve
  | 'PTR_TO_SOCKET_OR_NULL';

/** Argument types of helper prototypes (enum bpf_arg_type, the ones we use). */
export type ArgType =
  | 'DONTCARE'
  | 'ANYTHING'
  | 'CONST_MAP_PTR'
  | 'PTR_TO_MAP_KEY'
  | 'PTR_TO_MAP_VALUE'
  | 'PTR_TO_MEM' // readable memory, size in the next arg
  | 'PTR_TO_UNINIT_MEM' // writable memory, size in the next arg
  | 'CONST_SIZE'
  | 'CONST_SIZE_OR_ZERO'
  | 'PTR_TO_CTX'
  | 'PTR_TO_RINGBUF_MEM' // ringbuf_submit/discard
  | 'PTR_TO_FUNC' // bpf_loop callback
  | 'PTR_TO_STACK_OR_NULL'
  | 'PTR_TO_LONG';

/**
 * A helper the way Linux declares it (bpf_func_proto): the verifier checks calls against
 * ret/args, the engines call `call` with the five argument registers as unsigned 64-bit
 * values and put the result (taken modulo 2^64) in r0.
 */
export interface FuncProto {
  /** enum bpf_func_id value. */
  id: number;
  /** Name without the bpf_ prefix, as bpftool prints it: `call bpf_map_lookup_elem#1`. */
  name: string;
  ret: RetType;
  args: readonly ArgType[];
  gplOnly?: boolean;
  call: (env: RunEnv, r1: bigint, r2: bigint, r3: bigint, r4: bigint, r5: bigint) => bigint;
}

// ---------------------------------------------------------------------------------------
// Programs

/** Context field access rules for one program type (the verifier's is_valid_access). */
export interface CtxField {
  name: string;
  offset: number;
  size: number;
  /** Writable by the program (e.g. __sk_buff.mark, cb[]). */
  writable?: boolean;
  /**
   * A pointer field whose UAPI slot is 32 bits (__sk_buff.data, data_end): the context
   * keeps the 64-bit pointer at this offset, and the verifier rewrites the program's
   * 32-bit load of the field into a 64-bit load from here (Linux's convert_ctx_access).
   */
  ptrAt?: number;
}

export interface ProgTypeDef {
  /** enum bpf_prog_type value. */
  id: number;
  /** bpftool's name: socket_filter, sched_cls, tracepoint, ... */
  name: string;
  /** Size of the context struct the program's r1 points to (0: no fixed layout). */
  ctxSize: number;
  ctxFields: readonly CtxField[];
  /** Helpers this program type may call (func ids). */
  allowedHelpers: ReadonlySet<number>;
  /** LD_ABS/LD_IND allowed (socket filters and the converted classic programs). */
  allowsLdAbs: boolean;
  /**
   * BPF_PROG_TEST_RUN for this type; absent means ENOTSUPP as in Linux.
   * Given data_in/ctx_in, runs the program `repeat` times and reports.
   */
  testRun?: (req: TestRunRequest) => TestRunResult;
}

export interface TestRunRequest {
  kernel: Kernel;
  prog: BpfProg;
  dataIn: Uint8Array | null;
  ctxIn: Uint8Array | null;
  repeat: number;
  task: Task | null;
}

export interface TestRunResult {
  retval: number; // u32, as the kernel reports it
  durationNs: number; // mean per run
  dataOut: Uint8Array | null;
  ctxOut: Uint8Array | null;
}

/** A compiled form attached to a program by the JIT. */
export interface JitImage {
  /** Runs the program with r1 = ctx; returns r0. insnLimit: its instruction budget (default the interpreter's). */
  run: (env: RunEnv, insnLimit?: number) => bigint;
  /** Size of the generated code in bytes. */
  size: number;
  /** Text shown by `bpftool prog dump jited`. */
  dump: () => string;
  /**
   * Optional fast entry (the wasm JIT has it) for callers that run one program very often
   * with only the context changing (tracing filters, via run.ts's bpfProgRunner): r1 = the
   * address of offset ctxOff, r10 = stackTop (a region the caller owns), r2..r5 = 0;
   * returns the low 32 bits of r0 (what Linux's bpf_prog_run returns). No BigInt, no
   * allocation. `env` is what helpers see; null only when rawNeedsEnv is false.
   */
  runRaw?: (ctxOff: number, stackTop: number, env: RunEnv | null, packet?: RunPacket | null) => number;
  /**
   * $main_raw itself, when rawNeedsEnv is false: (ctxOff, stackTop, pktData, pktLen,
   * pktMac, pktNet) -> r0's low 32 bits, with no JavaScript frame in between (run.ts's
   * bpfPacketRunner calls it per packet). A bad access surfaces as a
   * WebAssembly.RuntimeError: callers turn it into EFAULT (jit/index.ts's jitFault).
   */
  rawEntry?: (ctxOff: number, stackTop: number, data: number, len: number, mac: number, net: number) => number;
  /**
   * runRaw needs an env: the program calls helpers or has callbacks. Without one, a
   * packet program takes its packet as runRaw's `packet` (absent: no packet).
   */
  rawNeedsEnv?: boolean;
}

export interface BpfProg {
  readonly id: number;
  readonly type: ProgTypeDef;
  name: string;
  /** Hex of the first 8 bytes of SHA-1 over the instructions with map fds zeroed (as Linux). */
  tag: string;
  license: string;
  gplCompatible: boolean;
  /** The program as loaded by userspace (orig_prog_insns). */
  readonly insns: readonly Insn[];
  /** The program as it runs after load-time rewriting (map fds -> map addresses, ...). */
  xlated: Insn[];
  /**
   * The helpers this program may call, by func id, resolved at load from its program type
   * (the conformance harness installs its own table). Engines look calls up here.
   */
  helpers: ReadonlyMap<number, FuncProto>;
  /** Maps the program references; they stay alive while the program does. */
  usedMaps: BpfMap[];
  /** Combined stack depth of the main program, from the verifier (<= 512). */
  stackDepth: number;
  loadTimeNs: bigint;
  uid: number;
  /** Set by the JIT when it compiled the program; null means the interpreter runs it. */
  jited: JitImage | null;
  /** Why the JIT declined, when it did (kept for the kernel log and bpftool). */
  jitError: string | null;
  /** Counts references from fds, pins, attachments and prog arrays. */
  refcnt: number;
  /** For classic programs: the original cBPF (code, jt, jf, k) list, shown by bpftool. */
  classic?: readonly { code: number; jt: number; jf: number; k: number }[];
  runCount: number;
  runTimeNs: bigint;
}

/**
 * A packet as LD_ABS/LD_IND and skb helpers see it (RunEnv.packet): address-space
 * offsets of skb->data (LD_ABS offset 0), of the link and network headers, and the bytes
 * from data on.
 */
export interface RunPacket {
  data: number;
  len: number;
  mac: number;
  net: number;
}

/**
 * What the engine and helpers see while a program runs. One is made per top-level run;
 * tail calls and bpf-to-bpf calls keep it.
 */
export interface RunEnv {
  readonly kernel: Kernel;
  prog: BpfProg;
  /** r1 at entry (address of the context). */
  readonly ctx: bigint;
  readonly cpu: number;
  readonly task: Task | null;
  /**
   * Packet data for LD_ABS/LD_IND and skb helpers, as address-space offsets: `data` is
   * where skb->data points (LD_ABS offset 0), `len` the bytes from there, `mac` and `net`
   * where the link and network headers start (SKF_LL_OFF / SKF_NET_OFF loads). Absent for
   * programs without packets.
   */
  readonly packet?: RunPacket | undefined;
  /**
   * r1..r5 at entry when a caller passes more than the context (args[0] is ctx again);
   * the conformance harness uses it for r2 = memory length. Absent: r2..r5 start at 0.
   */
  readonly args?: readonly bigint[];
  /** Tail calls taken so far in this run (limit MAX_TAIL_CALL_CNT). */
  tailCalls: number;
  /** Set by bpf_tail_call: the program to continue with after the helper returns. */
  tailCallTarget: BpfProg | null;
  /** Calls a BPF subprogram (bpf_loop's callback) at the given insn index with args. */
  callSubprog?: (insnIdx: number, args: readonly bigint[]) => bigint;
  /** Subsystem data for helpers that need it (the skb, the trace event...). */
  readonly data?: unknown;
}

// ---------------------------------------------------------------------------------------
// Maps

export interface MapAttr {
  mapType: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  mapFlags: number;
  name?: string;
  numaNode?: number;
  innerMapFd?: number;
}

/**
 * One map type's operations (bpf_map_ops). Keys and values cross this interface as
 * offsets into the address space so that helpers (which get BPF addresses) and the bpf()
 * syscall (which copies user bytes in first) share one implementation.
 */
export interface MapOps {
  /** bpftool's name of the type: array, hash, percpu_array, ringbuf... */
  readonly name: string;
  /** Linux's map_alloc_check: EINVAL / E2BIG for bad attributes, before any allocation. */
  allocCheck(attr: MapAttr): void;
  alloc(kernel: Kernel, attr: MapAttr): MapImpl;
}

export interface MapImpl {
  /**
   * Offset of the value for the key at keyOff, or -1 if absent (per-CPU maps: this CPU's).
   * Types without BPF-side lookup (prog_array, ringbuf, perf_event_array) throw
   * ENOTSUPP/EOPNOTSUPP; the lookup helper turns that into NULL.
   */
  lookup(keyOff: number, cpu: number): number;
  /** Update from the value at valueOff with BPF_ANY/NOEXIST/EXIST; throws KernelError. */
  update(keyOff: number, valueOff: number, flags: number, cpu: number): void;
  /** Throws ENOENT when absent, EINVAL where deleting is not allowed (arrays). */
  delete(keyOff: number): void;
  /**
   * Writes the next key after keyOff (or the first if keyOff < 0) to outOff; false at the
   * end (the syscall turns that into ENOENT).
   */
  getNextKey(keyOff: number, outOff: number): boolean;
  /**
   * Syscall lookup: copies syscallValueSize bytes to outOff (per-CPU maps: every CPU's
   * value, each rounded up to 8 bytes; prog_array: the program's id). Throws ENOENT when
   * absent. Absent member: copy value_size bytes from lookup().
   */
  lookupSyscall?(keyOff: number, outOff: number): void;
  /** Syscall update (value holds syscallValueSize bytes). Absent member: update(). */
  updateSyscall?(keyOff: number, valueOff: number, flags: number): void;
  /** Bytes userspace gets from a syscall lookup (value size, or all CPUs' for per-CPU). */
  readonly syscallValueSize: number;
  /** Address-space offset of the value at byte `off` for BPF_PSEUDO_MAP_VALUE (arrays). */
  directValue?(off: number): number;
  /** Frees everything in the address space. */
  free(): void;
}
export interface BpfMap {
  readonly id: number;
  readonly type: number;
  readonly attr: MapAttr;
  readonly ops: MapOps;
  readonly impl: MapImpl;
  name: string;
  refcnt: number;
  frozen: boolean;
}
