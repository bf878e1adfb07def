/**
 * The fields a filter or a BPF program can see in an event record, and the record layout
 * itself (include/linux/trace_events.h struct trace_entry + the event's own fields):
 *
 *   offset 0  u16 common_type            the event id
 *          2  u8  common_flags           TRACE_FLAG_* (irqs-off, need-resched, ...)
 *          3  u8  common_preempt_count
 *          4  s32 common_pid
 *          8  the event's fields at the offsets of its format file
 *   recordSize..  the __data_loc strings (u32 item = len << 16 | offset, len with the NUL)
 *
 * A filter also sees pseudo-fields that are not in the record: CPU/cpu/common_cpu (the
 * CPU the event fired on) and COMM/comm (current->comm) — Linux's ftrace_generic_fields.
 * An event's own field wins over a pseudo-field of the same name (signal_generate's comm
 * is the target's, not current's).
 */
import type { EventDef, EventField, EventValue, EventValues } from '../../kernel/trace/tracepoint.js';

export const COMMON_FIELDS: readonly EventField[] = [
  { type: 'unsigned short', name: 'common_type', offset: 0, size: 2, signed: false },
  { type: 'unsigned char', name: 'common_flags', offset: 2, size: 1, signed: false },
  { type: 'unsigned char', name: 'common_preempt_count', offset: 3, size: 1, signed: false },
  { type: 'int', name: 'common_pid', offset: 4, size: 4, signed: true },
];
export const COMMON_SIZE = 8;

/** TRACE_FLAG_* bits of common_flags (kernel/trace/trace.h). */
export const TRACE_FLAG = {
  IRQS_OFF: 0x01,
  IRQS_NOSUPPORT: 0x02,
  NEED_RESCHED: 0x04,
  HARDIRQ: 0x08,
  SOFTIRQ: 0x10,
  PREEMPT_RESCHED: 0x20,
  NMI: 0x40,
  BH_OFF: 0x80,
} as const;

/** How a filter predicate reads a field (Linux's filter_type). */
export type FilterType = 'other' | 'static_string' | 'dyn_string' | 'pchar' | 'cpu' | 'comm';

export interface FilterField {
  name: string;
  type: string;
  offset: number;
  size: number;
  signed: boolean;
  filterType: FilterType;
}

/** Linux's filter_assign_type(). */
export function filterTypeOf(type: string): FilterType {
  if (type.includes('__data_loc') && type.includes('char')) return 'dyn_string';
  if (type.includes('[') && type.includes('char')) return 'static_string';
  return 'other';
}

const GENERIC_FIELDS: readonly FilterField[] = [
  { name: 'CPU', type: 'int', offset: 0, size: 4, signed: true, filterType: 'cpu' },
  { name: 'cpu', type: 'int', offset: 0, size: 4, signed: true, filterType: 'cpu' },
  { name: 'common_cpu', type: 'int', offset: 0, size: 4, signed: true, filterType: 'cpu' },
  { name: 'COMM', type: 'char *', offset: 0, size: 16, signed: false, filterType: 'comm' },
  { name: 'comm', type: 'char *', offset: 0, size: 16, signed: false, filterType: 'comm' },
];

function toFilterField(f: EventField): FilterField {
  return { name: f.name, type: f.type, offset: f.offset, size: f.size, signed: f.signed, filterType: filterTypeOf(f.type) };
}

/** Field lookup in Linux's order: the event's fields, the generic pseudo-fields, then common_. */
export function makeFieldFinder(def: EventDef): (name: string) => FilterField | undefined {
  const map = new Map<string, FilterField>();
  for (const f of COMMON_FIELDS) map.set(f.name, toFilterField(f));
  for (const f of GENERIC_FIELDS) map.set(f.name, f);
  for (const f of def.fields) map.set(f.name, toFilterField(f));
  return (name) => map.get(name);
}

/** Bytes of the fixed part of the record (common fields + the event's fields). */
export function fixedRecordSize(def: EventDef): number {
  let end = COMMON_SIZE;
  for (const f of def.fields) end = Math.max(end, f.offset + f.size);
  return end;
}

const encoder = new TextEncoder();

/** Stores the bytes of `text` (NUL-terminated, truncated to `size`) into u8 at off. */
export function putCString(u8: Uint8Array, off: number, size: number, text: string): void {
  const bytes = encoder.encode(text);
  const n = Math.min(bytes.length, size - 1);
  u8.set(bytes.subarray(0, n), off);
  u8.fill(0, off + n, off + size);
}

function toBigInt(v: EventValue | undefined): bigint {
  if (v === undefined) return 0n;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  if (typeof v === 'string') return 0n;
  return 0n;
}

function putInt(dv: DataView, off: number, size: number, v: bigint): void {
  switch (size) {
    case 1:
      dv.setUint8(off, Number(BigInt.asUintN(8, v)));
      break;
    case 2:
      dv.setUint16(off, Number(BigInt.asUintN(16, v)), true);
      break;
    case 4:
      dv.setUint32(off, Number(BigInt.asUintN(32, v)), true);
      break;
    case 8:
      dv.setBigUint64(off, BigInt.asUintN(64, v), true);
      break;
    default:
      break;
  }
}

/** Upper bound of the record's size for these values (fixed part + dynamic strings). */
export function recordSizeFor(def: EventDef, fixed: number, values: EventValues): number {
  let n = fixed;
  for (const f of def.fields) {
    if (f.type.startsWith('__data_loc')) n += encoder.encode(String(values[f.name] ?? '')).length + 1;
  }
  return (n + 7) & ~7;
}

export interface CommonValues {
  type: number;
  flags: number;
  preemptCount: number;
  pid: number;
}

/**
 * Lays out one record at `off` in (u8, dv) exactly as the format file says; returns the
 * number of bytes used. The caller provides at least recordSizeFor() zeroed-or-not bytes.
 */
export function writeRecord(
  u8: Uint8Array,
  dv: DataView,
  off: number,
  def: EventDef,
  fixed: number,
  common: CommonValues,
  values: EventValues,
): number {
  u8.fill(0, off, off + fixed);
  dv.setUint16(off, common.type, true);
  dv.setUint8(off + 2, common.flags);
  dv.setUint8(off + 3, common.preemptCount);
  dv.setInt32(off + 4, common.pid, true);
  let dyn = fixed;
  for (const f of def.fields) {
    const v = values[f.name];
    if (f.type.startsWith('__data_loc')) {
      const bytes = encoder.encode(String(v ?? ''));
      u8.set(bytes, off + dyn);
      u8[off + dyn + bytes.length] = 0;
      const len = bytes.length + 1;
      dv.setUint32(off + f.offset, ((len & 0xffff) << 16 | (dyn & 0xffff)) >>> 0, true);
      dyn += len;
    } else if (typeof v === 'string') {
      putCString(u8, off + f.offset, f.size, v);
    } else if (Array.isArray(v)) {
      const elem = f.size / Math.max(1, Number(/\[(\d+)\]/.exec(f.type)?.[1] ?? 1));
      v.forEach((x, i) => {
        if ((i + 1) * elem <= f.size) putInt(dv, off + f.offset + i * elem, elem, toBigInt(x));
      });
    } else {
      putInt(dv, off + f.offset, f.size, toBigInt(v as EventValue | undefined));
    }
  }
  return dyn;
}
