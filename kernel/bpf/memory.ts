/**
 * The single address space (DESIGN.md, decision 2). Every byte a BPF program can touch —
 * stacks, contexts, packets, map values, ring buffers — lives in one WebAssembly.Memory.
 * The interpreter reads it through the typed-array views below, the JIT's modules import
 * the same Memory, helpers written in TypeScript use the same views.
 *
 * A BPF pointer is a 64-bit address that looks like a kernel one:
 *
 *     0xffff8880_00000000 + offset      (offset < memory size < 4 GiB)
 *
 * so its high word is always KERNEL_BASE_HI and its low word is the offset into the
 * memory. 0 is NULL. The first page is never handed out, so no object has offset 0 and a
 * zeroed low word always means a bad pointer.
 *
 * Invariant: views are replaced when the memory grows (growing detaches the old
 * ArrayBuffer). Code that caches `u8`/`dv` must re-read them after anything that can
 * allocate (helper calls), or subscribe with onGrow().
 */
import { KernelError } from '../errno.js';

export const KERNEL_BASE_HI = 0xffff8880;
export const KERNEL_BASE = 0xffff8880_00000000n;
export const PAGE_SIZE = 4096;
const WASM_PAGE = 65536;

export interface AddressSpaceOptions {
  /** Initial size in MiB (default 16). */
  initialMiB?: number;
  /** Hard limit in MiB (default 1024); allocations beyond it fail with ENOMEM. */
  maximumMiB?: number;
}

export class AddressSpace {
  readonly memory: WebAssembly.Memory;
  u8!: Uint8Array;
  i8!: Int8Array;
  dv!: DataView;
  private readonly maxBytes: number;
  private brk = PAGE_SIZE;
  /** Free blocks by exact (rounded) size, reused first. */
  private readonly freeBySize = new Map<number, number[]>();
  /** Live allocations: offset -> rounded size. */
  private readonly live = new Map<number, number>();
  private readonly growListeners = new Set<() => void>();

  constructor(opts: AddressSpaceOptions = {}) {
    const initial = Math.max(1, Math.ceil(((opts.initialMiB ?? 16) << 20) / WASM_PAGE));
    const maximum = Math.max(initial, Math.ceil(((opts.maximumMiB ?? 1024) << 20) / WASM_PAGE));
    this.maxBytes = maximum * WASM_PAGE;
    this.memory = new WebAssembly.Memory({ initial, maximum });
    this.refreshViews();
  }

  get size(): number {
    return this.memory.buffer.byteLength;
  }

  /** Bytes handed out and not freed. */
  get used(): number {
    let n = 0;
    for (const s of this.live.values()) n += s;
    return n;
  }

  onGrow(listener: () => void): () => void {
    this.growListeners.add(listener);
    return () => this.growListeners.delete(listener);
  }

  /**
   * Allocates `size` zeroed bytes aligned to `align` (a power of two, at most a page) and
   * returns the offset. Throws ENOMEM when the address space cannot grow.
   */
  alloc(size: number, align = 8): number {
    if (!Number.isInteger(size) || size < 0) throw new KernelError('EINVAL', `bad allocation size ${size}`);
    const rounded = roundUp(Math.max(size, 1), Math.max(8, align));
    const reuse = this.freeBySize.get(rounded);
    const recycled = reuse?.pop();
    if (recycled !== undefined && recycled % align === 0) {
      this.u8.fill(0, recycled, recycled + rounded);
      this.live.set(recycled, rounded);
      return recycled;
    }
    if (recycled !== undefined) reuse!.push(recycled);
    const offset = roundUp(this.brk, Math.max(8, align));
    const end = offset + rounded;
    if (end > this.size) this.growTo(end);
    this.brk = end;
    this.live.set(offset, rounded);
    return offset;
  }

  free(offset: number): void {
    const size = this.live.get(offset);
    if (size === undefined) throw new Error(`free of unallocated offset ${offset}`);
    this.live.delete(offset);
    let list = this.freeBySize.get(size);
    if (!list) this.freeBySize.set(size, (list = []));
    list.push(offset);
  }

  /** The BPF address of an offset. */
  addr(offset: number): bigint {
    return KERNEL_BASE + BigInt(offset);
  }

  /**
   * The offset of a BPF address when [addr, addr+len) lies inside the memory; otherwise
   * EFAULT. Used by helpers and the syscall layer, never trusted blindly.
   */
  offsetOf(addr: bigint, len = 1): number {
    const off = addr - KERNEL_BASE;
    if (addr === 0n || off < BigInt(PAGE_SIZE) || off + BigInt(len) > BigInt(this.size)) {
      throw new KernelError('EFAULT', `bad address 0x${addr.toString(16)} (len ${len})`);
    }
    return Number(off);
  }

  /** Same check on a split address (the interpreter's register halves). */
  offsetOfHalves(lo: number, hi: number, len: number): number {
    const off = lo >>> 0;
    if ((hi >>> 0) !== KERNEL_BASE_HI || off < PAGE_SIZE || off + len > this.u8.length) return -1;
    return off;
  }

  bytes(offset: number, len: number): Uint8Array {
    return this.u8.subarray(offset, offset + len);
  }

  write(offset: number, data: Uint8Array): void {
    this.u8.set(data, offset);
  }

  private growTo(end: number): void {
    if (end > this.maxBytes) throw new KernelError('ENOMEM', `address space exhausted (${this.maxBytes} bytes)`);
    const pages = Math.ceil((end - this.size) / WASM_PAGE);
    const grow = Math.max(pages, Math.min(this.size / WASM_PAGE, (this.maxBytes - this.size) / WASM_PAGE));
    this.memory.grow(Math.max(pages, Math.floor(grow)));
    this.refreshViews();
    for (const l of this.growListeners) l();
  }

  private refreshViews(): void {
    const buf = this.memory.buffer;
    this.u8 = new Uint8Array(buf);
    this.i8 = new Int8Array(buf);
    this.dv = new DataView(buf);
  }
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}
