/**
 * The core helpers, as Linux declares them (kernel/bpf/helpers.c, ringbuf.c,
 * kernel/trace/bpf_trace.c, net/core/filter.c): ids and prototypes are Linux's, so the
 * verifier checks calls against them and bpftool prints their names.
 *
 * Calling convention (types.ts FuncProto): arguments arrive as unsigned 64-bit bigints,
 * pointers are BPF addresses (memory.ts). A helper reports failure the way Linux does, as
 * a negative errno in r0; only an address outside the address space (which the verifier
 * rules out) throws, stopping the program with EFAULT.
 */
import { KernelError, errnoNumber, type ErrnoName } from '../../errno.js';
import { perKernel, type Kernel } from '../../kernel.js';
import { MAX_TAIL_CALL_CNT } from '../isa.js';
import { perfEventOutput } from '../maps/perf_event_array.js';
import { progArrayTarget } from '../maps/prog_array.js';
import { ringbufCommit, ringbufQuery, ringbufReserve } from '../maps/ringbuf.js';
import { mapFromAddr } from '../objects.js';
import type { FuncProto, RunEnv } from '../types.js';

const U64 = (n: number | bigint): bigint => BigInt.asUintN(64, BigInt(n));
const neg = (errno: ErrnoName): bigint => U64(-errnoNumber(errno));

/** Runs a map operation, turning its KernelError into -errno as the helper returns it. */
function errnoOf(fn: () => void): bigint {
  try {
    fn();
    return 0n;
  } catch (e) {
    if (e instanceof KernelError) return neg(e.errno);
    throw e;
  }
}

export const BPF_FUNC = {
  map_lookup_elem: 1,
  map_update_elem: 2,
  map_delete_elem: 3,
  ktime_get_ns: 5,
  trace_printk: 6,
  get_prandom_u32: 7,
  get_smp_processor_id: 8,
  tail_call: 12,
  get_current_pid_tgid: 14,
  get_current_uid_gid: 15,
  get_current_comm: 16,
  perf_event_output: 25,
  skb_load_bytes: 26,
  ktime_get_boot_ns: 125,
  ringbuf_output: 130,
  ringbuf_reserve: 131,
  ringbuf_submit: 132,
  ringbuf_discard: 133,
  ringbuf_query: 134,
  loop: 181,
} as const;

// ---------------------------------------------------------------------------------------
// Maps

export const mapLookupElemProto: FuncProto = {
  id: BPF_FUNC.map_lookup_elem,
  name: 'map_lookup_elem',
  ret: 'PTR_TO_MAP_VALUE_OR_NULL',
  args: ['CONST_MAP_PTR', 'PTR_TO_MAP_KEY'],
  call: (env, r1, r2) => {
    const mem = env.kernel.mem;
    const map = mapFromAddr(env.kernel, r1);
    const key = mem.offsetOf(r2, map.attr.keySize);
    try {
      const off = map.impl.lookup(key, env.cpu);
      return off < 0 ? 0n : mem.addr(off);
    } catch (e) {
      if (e instanceof KernelError) return 0n;
      throw e;
    }
  },
};

export const mapUpdateElemProto: FuncProto = {
  id: BPF_FUNC.map_update_elem,
  name: 'map_update_elem',
  ret: 'INTEGER',
  args: ['CONST_MAP_PTR', 'PTR_TO_MAP_KEY', 'PTR_TO_MAP_VALUE', 'ANYTHING'],
  call: (env, r1, r2, r3, r4) => {
    const mem = env.kernel.mem;
    const map = mapFromAddr(env.kernel, r1);
    const key = mem.offsetOf(r2, map.attr.keySize);
    const value = mem.offsetOf(r3, map.attr.valueSize);
    return errnoOf(() => map.impl.update(key, value, Number(BigInt.asUintN(32, r4)), env.cpu));
  },
};

export const mapDeleteElemProto: FuncProto = {
  id: BPF_FUNC.map_delete_elem,
  name: 'map_delete_elem',
  ret: 'INTEGER',
  args: ['CONST_MAP_PTR', 'PTR_TO_MAP_KEY'],
  call: (env, r1, r2) => {
    const map = mapFromAddr(env.kernel, r1);
    const key = env.kernel.mem.offsetOf(r2, map.attr.keySize);
    return errnoOf(() => map.impl.delete(key));
  },
};

// ---------------------------------------------------------------------------------------
// Time, randomness, CPU

export const ktimeGetNsProto: FuncProto = {
  id: BPF_FUNC.ktime_get_ns,
  name: 'ktime_get_ns',
  ret: 'INTEGER',
  args: [],
  call: (env) => env.kernel.clock.now(),
};

/** bpfkern has no suspend, so boot time equals monotonic time. */
export const ktimeGetBootNsProto: FuncProto = {
  id: BPF_FUNC.ktime_get_boot_ns,
  name: 'ktime_get_boot_ns',
  ret: 'INTEGER',
  args: [],
  call: (env) => env.kernel.clock.now(),
};

export const getPrandomU32Proto: FuncProto = {
  id: BPF_FUNC.get_prandom_u32,
  name: 'get_prandom_u32',
  ret: 'INTEGER',
  args: [],
  call: (env) => BigInt(env.kernel.random.u32()),
};

export const getSmpProcessorIdProto: FuncProto = {
  id: BPF_FUNC.get_smp_processor_id,
  name: 'get_smp_processor_id',
  ret: 'INTEGER',
  args: [],
  call: (env) => BigInt(env.cpu),
};

// ---------------------------------------------------------------------------------------
// The current task

const currentTask = (env: RunEnv) => env.task ?? env.kernel.tasks.current;

export const getCurrentPidTgidProto: FuncProto = {
  id: BPF_FUNC.get_current_pid_tgid,
  name: 'get_current_pid_tgid',
  ret: 'INTEGER',
  args: [],
  call: (env) => {
    const t = currentTask(env);
    return t ? (BigInt(t.tgid) << 32n) | BigInt(t.pid) : neg('EINVAL');
  },
};

export const getCurrentUidGidProto: FuncProto = {
  id: BPF_FUNC.get_current_uid_gid,
  name: 'get_current_uid_gid',
  ret: 'INTEGER',
  args: [],
  call: (env) => {
    const t = currentTask(env);
    return t ? (BigInt(t.cred.gid >>> 0) << 32n) | BigInt(t.cred.uid >>> 0) : neg('EINVAL');
  },
};

export const getCurrentCommProto: FuncProto = {
  id: BPF_FUNC.get_current_comm,
  name: 'get_current_comm',
  ret: 'INTEGER',
  args: ['PTR_TO_UNINIT_MEM', 'CONST_SIZE'],
  call: (env, r1, r2) => {
    const size = Number(BigInt.asUintN(32, r2));
    const mem = env.kernel.mem;
    const buf = mem.offsetOf(r1, size);
    mem.u8.fill(0, buf, buf + size);
    const t = currentTask(env);
    if (!t) return neg('EINVAL');
    // strscpy_pad: at most size-1 bytes, always NUL-terminated.
    const comm = Buffer.from(t.comm, 'utf8').subarray(0, Math.max(0, size - 1));
    mem.u8.set(comm, buf);
    return 0n;
  },
};

// ---------------------------------------------------------------------------------------
// trace_printk

export type TracePrintkSink = (text: string, env: RunEnv) => void;
const printkSinkOf = perKernel((): { sink: TracePrintkSink | null } => ({ sink: null }));

/** Where bpf_trace_printk's lines go; tracing sets this to write the trace buffer. */
export function setTracePrintkSink(kernel: Kernel, sink: TracePrintkSink | null): void {
  printkSinkOf(kernel).sink = sink;
}

/** Reads a NUL-terminated string at a BPF address (at most max bytes). */
function readCString(env: RunEnv, addr: bigint, max: number): string {
  const mem = env.kernel.mem;
  const start = mem.offsetOf(addr, 1);
  let end = start;
  while (end < mem.u8.length && end - start < max && mem.u8[end] !== 0) end++;
  return Buffer.from(mem.u8.subarray(start, end)).toString('latin1');
}

/**
 * bpf_bprintf_prepare + bstr_printf for the conversions Linux allows in BPF formats:
 * %d %i %u %x %X with l/ll, %c, %s, %p/%px/%pK, %%, flags `-+ 0#`, width and precision.
 * Returns null for a format Linux rejects (-EINVAL).
 */
export function bpfSnprintf(env: RunEnv, fmt: string, args: readonly bigint[]): string | null {
  let out = '';
  let argi = 0;
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i]!;
    if (c !== '%') {
      if (c.charCodeAt(0) > 0x7f || (c < ' ' && c !== '\n' && c !== '\t' && c !== '\r')) return null;
      out += c;
      continue;
    }
    if (fmt[i + 1] === '%') {
      out += '%';
      i++;
      continue;
    }
    const m = /^([-+ 0#]*)(\d*)(?:\.(\d+))?(p[xKsB]?|s|c|(?:ll|l)?[diuxX])/.exec(fmt.slice(i + 1));
    if (!m) return null;
    if (argi >= args.length) return null;
    const arg = args[argi++]!;
    const [whole, flags = '', width = '', prec, conv = ''] = m;
    i += whole.length;
    const long = conv.startsWith('l');
    const kind = conv.replace(/^l+/, '');
    const bits = conv.startsWith('ll') || (long && conv.startsWith('l')) ? 64 : 32;
    let s: string;
    switch (kind[0]) {
      case 'd':
      case 'i':
        s = BigInt.asIntN(bits, arg).toString();
        if (flags.includes('+') && !s.startsWith('-')) s = `+${s}`;
        else if (flags.includes(' ') && !s.startsWith('-')) s = ` ${s}`;
        break;
      case 'u':
        s = BigInt.asUintN(bits, arg).toString();
        break;
      case 'x':
      case 'X':
        s = BigInt.asUintN(bits, arg).toString(16);
        if (kind === 'X') s = s.toUpperCase();
        if (flags.includes('#') && arg !== 0n) s = `0x${s}`;
        break;
      case 'c':
        s = String.fromCharCode(Number(arg & 0xffn));
        break;
      case 's':
        s = arg === 0n ? '(null)' : readCString(env, arg, 4096);
        if (prec !== undefined) s = s.slice(0, Number(prec));
        break;
      default: // p, px, pK, ps, pB
        s = `0x${BigInt.asUintN(64, arg).toString(16).padStart(16, '0')}`;
    }
    const w = width === '' ? 0 : Number(width);
    if (s.length < w) {
      if (flags.includes('-')) s = s.padEnd(w);
      else if (flags.includes('0') && kind !== 's' && kind !== 'c') {
        const sign = /^[-+ ]/.test(s) ? s[0]! : '';
        s = sign + s.slice(sign.length).padStart(w - sign.length, '0');
      } else s = s.padStart(w);
    }
    out += s;
  }
  return out;
}

export const tracePrintkProto: FuncProto = {
  id: BPF_FUNC.trace_printk,
  name: 'trace_printk',
  ret: 'INTEGER',
  args: ['PTR_TO_MEM', 'CONST_SIZE', 'ANYTHING', 'ANYTHING', 'ANYTHING'],
  gplOnly: true,
  call: (env, r1, r2, r3, r4, r5) => {
    const size = Number(BigInt.asUintN(32, r2));
    const mem = env.kernel.mem;
    const off = mem.offsetOf(r1, Math.max(size, 1));
    const bytes = mem.u8.subarray(off, off + size);
    const nul = bytes.indexOf(0);
    if (size === 0 || nul < 0) return neg('EINVAL');
    const text = bpfSnprintf(env, Buffer.from(bytes.subarray(0, nul)).toString('latin1'), [r3, r4, r5]);
    if (text === null) return neg('EINVAL');
    printkSinkOf(env.kernel).sink?.(text, env);
    return BigInt(text.length);
  },
};

// ---------------------------------------------------------------------------------------
// Tail calls and loops

export const tailCallProto: FuncProto = {
  id: BPF_FUNC.tail_call,
  name: 'tail_call',
  ret: 'VOID',
  args: ['PTR_TO_CTX', 'CONST_MAP_PTR', 'ANYTHING'],
  call: (env, _ctx, r2, r3) => {
    // On any failure the program continues after the call (the engine sees no target).
    const map = mapFromAddr(env.kernel, r2);
    const index = BigInt.asUintN(32, r3);
    if (index >= BigInt(map.attr.maxEntries) || env.tailCalls >= MAX_TAIL_CALL_CNT) return 0n;
    const target = progArrayTarget(map, Number(index));
    if (target) env.tailCallTarget = target; // the engine counts the call when it jumps
    return 0n;
  },
};

export const BPF_MAX_LOOPS = 8 * 1024 * 1024;

/**
 * bpf_loop(nr_loops, callback, ctx, flags). r2 holds the callback's absolute instruction
 * index: what the engines load for an LD_IMM64 BPF_PSEUDO_FUNC.
 */
export const loopProto: FuncProto = {
  id: BPF_FUNC.loop,
  name: 'loop',
  ret: 'INTEGER',
  args: ['ANYTHING', 'PTR_TO_FUNC', 'PTR_TO_STACK_OR_NULL', 'ANYTHING'],
  call: (env, r1, r2, r3, r4) => {
    if (r4 !== 0n) return neg('EINVAL');
    const n = BigInt.asUintN(32, r1);
    if (n > BigInt(BPF_MAX_LOOPS)) return neg('E2BIG');
    const call = env.callSubprog;
    if (!call) throw new KernelError('ENOTSUPP', 'bpf_loop needs an engine with subprogram calls');
    const target = Number(BigInt.asUintN(32, r2));
    let i = 0n;
    for (; i < n; i++) {
      if (call(target, [i, r3, 0n, 0n, 0n]) !== 0n) return i + 1n;
    }
    return i;
  },
};

// ---------------------------------------------------------------------------------------
// Output to userspace: perf buffers and ring buffers

const BPF_F_INDEX_MASK = 0xffff_ffffn;
const BPF_F_CURRENT_CPU = BPF_F_INDEX_MASK;
const BPF_F_CTXLEN_MASK = 0xfffffn << 32n;

/**
 * bpf_perf_event_output(ctx, map, flags, data, size). For packet programs (the skb
 * variant) the upper flag bits (BPF_F_CTXLEN_MASK) ask for that many packet bytes to
 * be appended to the sample.
 */
export const perfEventOutputProto: FuncProto = {
  id: BPF_FUNC.perf_event_output,
  name: 'perf_event_output',
  ret: 'INTEGER',
  args: ['PTR_TO_CTX', 'CONST_MAP_PTR', 'ANYTHING', 'PTR_TO_MEM', 'CONST_SIZE_OR_ZERO'],
  gplOnly: true,
  call: (env, _ctx, r2, r3, r4, r5) => {
    const mem = env.kernel.mem;
    const map = mapFromAddr(env.kernel, r2);
    const pkt = env.packet;
    const extra = pkt ? (r3 & BPF_F_CTXLEN_MASK) >> 32n : 0n;
    if ((r3 & ~(BPF_F_INDEX_MASK | (pkt ? BPF_F_CTXLEN_MASK : 0n))) !== 0n) return neg('EINVAL');
    if (pkt && extra > BigInt(pkt.len)) return neg('EFAULT');
    let index = r3 & BPF_F_INDEX_MASK;
    if (index === BPF_F_CURRENT_CPU) index = BigInt(env.cpu);
    if (index >= BigInt(map.attr.maxEntries)) return neg('E2BIG');
    const size = Number(BigInt.asUintN(32, r5));
    const data = size > 0 ? mem.bytes(mem.offsetOf(r4, size), size) : new Uint8Array(0);
    const sample = new Uint8Array(size + Number(extra));
    sample.set(data);
    if (pkt && extra > 0n) sample.set(mem.bytes(pkt.data, Number(extra)), size);
    return U64(perfEventOutput(map, Number(index), sample));
  },
};

/**
 * bpf_skb_load_bytes(skb, offset, to, len): copies packet bytes from skb->data + offset;
 * out of range, `to` is zeroed and the result is -EFAULT.
 */
export const skbLoadBytesProto: FuncProto = {
  id: BPF_FUNC.skb_load_bytes,
  name: 'skb_load_bytes',
  ret: 'INTEGER',
  args: ['PTR_TO_CTX', 'ANYTHING', 'PTR_TO_UNINIT_MEM', 'CONST_SIZE'],
  call: (env, _ctx, r2, r3, r4) => {
    const mem = env.kernel.mem;
    const len = Number(BigInt.asUintN(32, r4));
    const to = mem.offsetOf(r3, Math.max(len, 1));
    const offset = BigInt.asUintN(32, r2);
    const pkt = env.packet;
    if (!pkt || offset > 0x7fffffffn || Number(offset) + len > pkt.len) {
      mem.u8.fill(0, to, to + len);
      return neg('EFAULT');
    }
    mem.u8.copyWithin(to, pkt.data + Number(offset), pkt.data + Number(offset) + len);
    return 0n;
  },
};

const RB_WAKEUP_FLAGS = 1n | 2n; // BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP

export const ringbufOutputProto: FuncProto = {
  id: BPF_FUNC.ringbuf_output,
  name: 'ringbuf_output',
  ret: 'INTEGER',
  args: ['CONST_MAP_PTR', 'PTR_TO_MEM', 'CONST_SIZE_OR_ZERO', 'ANYTHING'],
  call: (env, r1, r2, r3, r4) => {
    if ((r4 & ~RB_WAKEUP_FLAGS) !== 0n) return neg('EINVAL');
    const mem = env.kernel.mem;
    const map = mapFromAddr(env.kernel, r1);
    const size = Number(BigInt.asUintN(32, r3));
    const src = size > 0 ? mem.offsetOf(r2, size) : 0;
    const rec = ringbufReserve(map, size);
    if (rec < 0) return neg('EAGAIN');
    if (size > 0) mem.u8.copyWithin(rec, src, src + size);
    ringbufCommit(env.kernel, rec, false, Number(r4));
    return 0n;
  },
};

export const ringbufReserveProto: FuncProto = {
  id: BPF_FUNC.ringbuf_reserve,
  name: 'ringbuf_reserve',
  ret: 'PTR_TO_MEM_OR_NULL',
  args: ['CONST_MAP_PTR', 'CONST_SIZE_OR_ZERO', 'ANYTHING'],
  call: (env, r1, r2, r3) => {
    if (r3 !== 0n) return 0n;
    const map = mapFromAddr(env.kernel, r1);
    const rec = ringbufReserve(map, Number(BigInt.asUintN(32, r2)));
    return rec < 0 ? 0n : env.kernel.mem.addr(rec);
  },
};

function ringbufCommitProto(id: number, name: string, discard: boolean): FuncProto {
  return {
    id,
    name,
    ret: 'VOID',
    args: ['PTR_TO_RINGBUF_MEM', 'ANYTHING'],
    call: (env, r1, r2) => {
      ringbufCommit(env.kernel, env.kernel.mem.offsetOf(r1, 1), discard, Number(BigInt.asUintN(32, r2)));
      return 0n;
    },
  };
}

export const ringbufSubmitProto = ringbufCommitProto(BPF_FUNC.ringbuf_submit, 'ringbuf_submit', false);
export const ringbufDiscardProto = ringbufCommitProto(BPF_FUNC.ringbuf_discard, 'ringbuf_discard', true);

export const ringbufQueryProto: FuncProto = {
  id: BPF_FUNC.ringbuf_query,
  name: 'ringbuf_query',
  ret: 'INTEGER',
  args: ['CONST_MAP_PTR', 'ANYTHING'],
  call: (env, r1, r2) => ringbufQuery(mapFromAddr(env.kernel, r1), Number(BigInt.asUintN(32, r2))),
};

/** Every helper in this file. */
export const CORE_HELPERS: readonly FuncProto[] = [
  mapLookupElemProto, mapUpdateElemProto, mapDeleteElemProto, ktimeGetNsProto, tracePrintkProto,
  getPrandomU32Proto, getSmpProcessorIdProto, tailCallProto, getCurrentPidTgidProto,
  getCurrentUidGidProto, getCurrentCommProto, perfEventOutputProto, skbLoadBytesProto,
  ktimeGetBootNsProto, ringbufOutputProto, ringbufReserveProto, ringbufSubmitProto,
  ringbufDiscardProto, ringbufQueryProto, loopProto,
];
