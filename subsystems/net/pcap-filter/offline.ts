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
import { BPF_CALL, BPF_JMP, BPF_LDX } from '../../../kernel/bpf/isa.js';
import { bpfPacketRunner, type Engine } from '../../../kernel/bpf/run.js';
import type { BpfProg } from '../../../kernel/bpf/types.js';
import { socketFilterProgType } from '../progtypes.js';

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

/**
 * Whether the converted program may read its context: a memory load not from the stack
 * (the converter reads the __sk_buff through r6 and the scratch words M[] through r10), or
 * a call (the ancillary functions get the context).
 */
function readsContext(prog: BpfProg): boolean {
  return prog.xlated.some((i) => ((i.code & 0x07) === BPF_LDX && i.src !== 10) || i.code === (BPF_JMP | BPF_CALL));
}

/** Loads a classic program (checked; EINVAL if not valid) for offline filtering. */
export function offlineFilter(kernel: Kernel, insns: readonly SockFilter[], opts: OfflineFilterOptions = {}): OfflineFilter {
  const capacity = opts.capacity ?? 262144;
  const prog = bpfProgCreateClassic(kernel, insns, { type: socketFilterProgType });
  if (opts.engine === 'jit' && prog.jited === null) {
    throw new KernelError('ENOTSUPP', `filter is not JIT-compiled: ${prog.jitError ?? 'JIT disabled'}`);
  }
  const mem = kernel.mem;
  const ctx = mem.alloc(SK_BUFF_SIZE, 8);
  const buf = mem.alloc(capacity, 8);
  mem.u8.fill(0, ctx, ctx + SK_BUFF_SIZE);
  const runner = bpfPacketRunner(kernel, prog, opts.engine);
  // Most expressions never read the __sk_buff (only `len` and ancillary loads do): then
  // the per-frame context update is skipped.
  const ctxUsed = readsContext(prog);
  let freed = false;
  return {
    prog,
    run(frame: Uint8Array, wireLen?: number): number {
      if (freed) throw new KernelError('EBADF', 'offline filter already freed');
      const len = Math.min(frame.length, capacity);
      // the memory may have grown (and its views been replaced) since the last frame
      mem.u8.set(len === frame.length ? frame : frame.subarray(0, len), buf);
      if (ctxUsed) {
        const dv = mem.dv;
        dv.setUint32(ctx + SKB.len, wireLen ?? len, true);
        dv.setUint16(ctx + SKB.protocol, len >= 14 ? (frame[12]! << 8) | frame[13]! : 0, false);
      }
      return runner(ctx, buf, len, buf, buf + 14) >>> 0;
    },
    runAt(at: number, caplen: number, wireLen?: number): number {
      if (freed) throw new KernelError('EBADF', 'offline filter already freed');
      if (ctxUsed) {
        const dv = mem.dv;
        dv.setUint32(ctx + SKB.len, wireLen ?? caplen, true);
        dv.setUint16(ctx + SKB.protocol, caplen >= 14 ? dv.getUint16(at + 12, false) : 0, false);
      }
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
