/**
 * Socket filters: SO_ATTACH_FILTER / SO_ATTACH_BPF / SO_DETACH_FILTER / SO_LOCK_FILTER /
 * SO_GET_FILTER, and running the attached program on an skb (Linux's sk_filter_trim_cap()
 * and packet sockets' run_filter()).
 *
 * Running: the skb's __sk_buff and a copy of its bytes are placed in the address space;
 * LD_ABS offset 0 is skb->data, which is where the socket type's view starts (the MAC
 * header for AF_PACKET raw, the network header for AF_PACKET dgram, the UDP header for UDP,
 * the payload for AF_UNIX). The program's u32 result is the number of bytes to keep.
 */
import { KernelError } from '../../kernel/errno.js';
import type { Kernel } from '../../kernel/kernel.js';
import type { Task } from '../../kernel/task.js';
import { bpfProgCreateClassic } from '../../kernel/bpf/classic/prog.js';
import { decodeSockFilters, encodeSockFilters, BPF_MAXINSNS, SOCK_FILTER_SIZE, type SockFilter } from '../../kernel/bpf/classic/isa.js';
import type { ClassicSkbData } from '../../kernel/bpf/classic/helpers.js';
import { BPF_PROG_TYPE } from '../../kernel/bpf/isa.js';
import { bpfProgGet, bpfProgGetFromFd, bpfProgPut } from '../../kernel/bpf/objects.js';
import { bpfProgRun } from '../../kernel/bpf/run.js';
import type { BpfProg } from '../../kernel/bpf/types.js';
import type { VlanInfo } from './frames.js';
import type { NetDevice } from './netdev.js';
import { socketFilterProgType } from './progtypes.js';
import { buildSkb } from './skb.js';

/** What a filter runs on: one packet as one socket sees it. */
export interface SkBuff {
  /** The bytes from the MAC header on (the payload alone when there is none: AF_UNIX). */
  readonly frame: Uint8Array;
  /** Where the network header starts: the MAC header's length (0 without one). */
  readonly netOff: number;
  /** Where skb->data points for this socket (LD_ABS 0). */
  readonly dataOff: number;
  /** skb->protocol, host order. */
  readonly protocol: number;
  readonly pktType: number;
  readonly dev: NetDevice | null;
  readonly vlan: VlanInfo;
  /** skb->mark, skb->hash, skb->queue_mapping: 0 when left out (no netfilter, RPS or multiqueue here). */
  readonly mark?: number;
  readonly hash?: number;
  readonly queueMapping?: number;
}

export interface SocketFilterState {
  prog: BpfProg | null;
  locked: boolean;
}

function setFilter(kernel: Kernel, st: SocketFilterState, prog: BpfProg): void {
  const old = st.prog;
  st.prog = prog;
  if (old) bpfProgPut(kernel, old);
}

/**
 * SO_ATTACH_FILTER with struct sock_fprog { u16 len; struct sock_filter *filter; }: the
 * optval object stands for the user struct, `filter` for the user array.
 */
export function attachClassic(kernel: Kernel, task: Task, st: SocketFilterState, optval: unknown, optlen: number): void {
  if (optlen !== 16 || typeof optval !== 'object' || optval === null) {
    throw new KernelError('EINVAL', 'SO_ATTACH_FILTER needs a struct sock_fprog (16 bytes)');
  }
  if (st.locked) throw new KernelError('EPERM', 'socket filter is locked');
  const fprog = optval as { len?: unknown; filter?: unknown };
  const len = typeof fprog.len === 'number' ? fprog.len & 0xffff : 0;
  if (fprog.filter === null || fprog.filter === undefined || len === 0 || len > BPF_MAXINSNS) {
    throw new KernelError('EINVAL', `bad filter length ${len}`);
  }
  let insns: SockFilter[];
  if (fprog.filter instanceof Uint8Array) {
    if (fprog.filter.length < len * SOCK_FILTER_SIZE) throw new KernelError('EFAULT', 'filter array shorter than len');
    insns = decodeSockFilters(fprog.filter.subarray(0, len * SOCK_FILTER_SIZE));
  } else if (Array.isArray(fprog.filter)) {
    if (fprog.filter.length < len) throw new KernelError('EFAULT', 'filter array shorter than len');
    insns = decodeSockFilters(encodeSockFilters((fprog.filter as SockFilter[]).slice(0, len)));
  } else {
    throw new KernelError('EFAULT', 'bad filter pointer');
  }
  attachClassicInsns(kernel, task.cred.euid, st, insns);
}

/** The checked part of SO_ATTACH_FILTER once the user's array is read (debugfs calls it too). */
export function attachClassicInsns(kernel: Kernel, uid: number, st: SocketFilterState, insns: readonly SockFilter[]): void {
  if (st.locked) throw new KernelError('EPERM', 'socket filter is locked');
  if (insns.length === 0 || insns.length > BPF_MAXINSNS) throw new KernelError('EINVAL', `bad filter length ${insns.length}`);
  const prog = bpfProgCreateClassic(kernel, [...insns], { type: socketFilterProgType, uid });
  setFilter(kernel, st, prog);
}

/** SO_ATTACH_BPF's checks for a program already in hand (debugfs: by prog id). */
export function attachProg(kernel: Kernel, st: SocketFilterState, prog: BpfProg): void {
  if (st.locked) throw new KernelError('EPERM', 'socket filter is locked');
  if (prog.type.id !== BPF_PROG_TYPE.BPF_PROG_TYPE_SOCKET_FILTER) throw new KernelError('EINVAL', `program ${prog.id} is not a socket_filter`);
  setFilter(kernel, st, bpfProgGet(prog));
}

/** SO_ATTACH_BPF: a u32 program fd of type socket_filter. */
export function attachEbpf(kernel: Kernel, task: Task, st: SocketFilterState, optval: unknown, optlen: number): void {
  if (optlen !== 4) throw new KernelError('EINVAL', 'SO_ATTACH_BPF needs a 4-byte fd');
  const fd = optvalU32(optval);
  if (st.locked) throw new KernelError('EPERM', 'socket filter is locked');
  const prog = bpfProgGetFromFd(task, fd, BPF_PROG_TYPE.BPF_PROG_TYPE_SOCKET_FILTER);
  setFilter(kernel, st, prog);
}

export function detach(kernel: Kernel, st: SocketFilterState): void {
  if (st.locked) throw new KernelError('EPERM', 'socket filter is locked');
  if (!st.prog) throw new KernelError('ENOENT', 'no filter attached');
  const old = st.prog;
  st.prog = null;
  bpfProgPut(kernel, old);
}

export function lock(st: SocketFilterState, optval: unknown, optlen: number): void {
  if (optlen < 4) throw new KernelError('EINVAL', 'SO_LOCK_FILTER needs an int');
  const on = optvalU32(optval) !== 0;
  if (st.locked && !on) throw new KernelError('EPERM', 'socket filter lock cannot be undone');
  st.locked = on;
}

/**
 * SO_GET_FILTER (sk_get_filter): with len 0 (in instructions, not bytes) returns the count;
 * with a buffer of at least that many instructions copies them. No filter: 0. An eBPF
 * filter has no classic original: EACCES. A short buffer: EINVAL.
 */
export function getFilter(st: SocketFilterState, buf: Uint8Array | null, len: number): number {
  if (!st.prog) return 0;
  const classic = st.prog.classic;
  if (!classic) throw new KernelError('EACCES', 'attached filter is not a classic program');
  if (len === 0) return classic.length;
  if (len < classic.length) throw new KernelError('EINVAL', `buffer holds ${len} < ${classic.length} instructions`);
  if (!buf || buf.length < classic.length * SOCK_FILTER_SIZE) throw new KernelError('EFAULT', 'bad optval buffer');
  buf.set(encodeSockFilters(classic));
  return classic.length;
}

/** An int optval: a number, or the bytes of a little-endian u32. */
export function optvalU32(v: unknown): number {
  if (typeof v === 'number') return v >>> 0;
  if (v instanceof Uint8Array && v.length >= 4) return new DataView(v.buffer, v.byteOffset, 4).getUint32(0, true);
  throw new KernelError('EFAULT', 'bad optval');
}

/**
 * Runs prog on skb (laid out by buildSkb); returns the program's u32 result (bytes to
 * keep; 0 drops). Classic ancillary loads find the device in RunEnv.data.
 */
export function runSkbProg(kernel: Kernel, prog: BpfProg, skb: SkBuff, task: Task | null, cpu: number): number {
  const laid = buildSkb(kernel, skb.frame, {
    macLen: skb.netOff,
    dataAt: skb.dataOff,
    protocol: skb.protocol,
    pkttype: skb.pktType,
    ifindex: skb.dev?.ifindex ?? 0,
    vlan: skb.vlan,
    ...(skb.mark !== undefined ? { mark: skb.mark } : {}),
    ...(skb.hash !== undefined ? { hash: skb.hash } : {}),
    ...(skb.queueMapping !== undefined ? { queueMapping: skb.queueMapping } : {}),
  });
  try {
    const data: ClassicSkbData = { dev: skb.dev };
    return Number(bpfProgRun(kernel, prog, laid.ctxAddr, { task, cpu, data, packet: laid.packet }) & 0xffffffffn);
  } finally {
    laid.free();
  }
}
