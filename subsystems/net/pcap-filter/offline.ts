/**
 * pcap_offline_filter(): running a compiled filter over captured frames, as tcpdump -r
 * does, on the kernel's one BPF machine (the classic program is converted to eBPF and
 * run by the interpreter or the JIT, like a socket filter). The frame is the whole
 * Ethernet frame: LD_ABS offset 0 is the destination MAC, as for libpcap's bpf_filter().
 *
 * One context and one frame buffer are allocated once per filter and reused for every
 * frame, and the program runs through a bpfProgRunner (kernel/bpf/run.ts): on the JIT one
 * call into the module with the packet as i32 parameters, on the interpreter its numeric
 * entry; so filtering a million packets allocates nothing per packet and makes no BigInt.
 *
 *   ctx  (struct __sk_buff, 192 bytes): len = the wire length (what `ld #pktlen` reads,
 *        as libpcap's bpf_filter), protocol = the EtherType; loads stop at the caplen
 *   buf  frame bytes, at most `capacity`
 */
import { KernelError } from '../../../kernel/errno.js';
import type { Kernel } from '../../../kernel/kernel.js';
import type { SockFilter } from '../../../kernel/bpf/classic/isa.js';
import { bpfProgCreateClassic } from '../../../kernel/bpf/classic/prog.js';
import { SKB, SK_BUFF_SIZE } from '../../../kernel/bpf/skb-layout.js';
import { BPF_PROG_TYPE } from '../../../kernel/bpf/isa.js';
import { progTypeById } from '../../../kernel/bpf/progtypes.js';
import { bpfPacketRunner, type Engine } from '../../../kernel/bpf/run.js';
import type { BpfProg, ProgTypeDef } from '../../../kernel/bpf/types.js';

export interface OfflineFilterOptions {
  /** Force an engine; default: the JIT image when there is one, else the interpreter. */
  engine?: Engine;
  /** Largest frame accepted (default 262144, tcpdump's snaplen). */
  capacity?: number;
}

export interface OfflineFilter {
  readonly prog: BpfProg;
  /**
   * The program's return value for one frame (0: rejected; else bytes to keep). wireLen
   * is the length on the wire when the capture was truncated (what `len` reads).
   */
  run(frame: Uint8Array, wireLen?: number): number;
  /**
   * The same for a frame already in the address space at offset `at` (no copy, as
   * libpcap's bpf_filter reads the capture buffer in place).
   */
  runAt(at: number, caplen: number, wireLen?: number): number;
  free(): void;
}

function socketFilterType(kernel: Kernel): ProgTypeDef {
  return (
    progTypeById(kernel, BPF_PROG_TYPE.BPF_PROG_TYPE_SOCKET_FILTER) ?? {
      id: BPF_PROG_TYPE.BPF_PROG_TYPE_SOCKET_FILTER,
      name: 'socket_filter',
      ctxSize: SK_BUFF_SIZE,
      ctxFields: [],
      allowedHelpers: new Set(),
      allowsLdAbs: true,
    }
  );
}

/** Loads a classic program (checked; EINVAL if not valid) for offline filtering. */
export function offlineFilter(kernel: Kernel, insns: readonly SockFilter[], opts: OfflineFilterOptions = {}): OfflineFilter {
  const capacity = opts.capacity ?? 262144;
  const prog = bpfProgCreateClassic(kernel, insns, { type: socketFilterType(kernel) });
  if (opts.engine === 'jit' && prog.jited === null) {
    throw new KernelError('ENOTSUPP', `filter is not JIT-compiled: ${prog.jitError ?? 'JIT disabled'}`);
  }
  const mem = kernel.mem;
  const ctx = mem.alloc(SK_BUFF_SIZE, 8);
  const buf = mem.alloc(capacity, 8);
  mem.u8.fill(0, ctx, ctx + SK_BUFF_SIZE);
  const runner = bpfPacketRunner(kernel, prog, opts.engine);
  let freed = false;
  return {
    prog,
    run(frame: Uint8Array, wireLen?: number): number {
      if (freed) throw new KernelError('EBADF', 'offline filter already freed');
      const len = Math.min(frame.length, capacity);
      // the memory may have grown (and its views been replaced) since the last frame
      mem.u8.set(len === frame.length ? frame : frame.subarray(0, len), buf);
      const dv = mem.dv;
      dv.setUint32(ctx + SKB.len, wireLen ?? len, true);
      dv.setUint16(ctx + SKB.protocol, len >= 14 ? (frame[12]! << 8) | frame[13]! : 0, false);
      return runner(ctx, buf, len, buf, buf + 14) >>> 0;
    },
    runAt(at: number, caplen: number, wireLen?: number): number {
      if (freed) throw new KernelError('EBADF', 'offline filter already freed');
      const dv = mem.dv;
      dv.setUint32(ctx + SKB.len, wireLen ?? caplen, true);
      dv.setUint16(ctx + SKB.protocol, caplen >= 14 ? dv.getUint16(at + 12, false) : 0, false);
      return runner(ctx, at, caplen, at, at + 14) >>> 0;
    },
    free(): void {
      if (freed) return;
      freed = true;
      mem.free(buf);
      mem.free(ctx);
    },
  };
}
