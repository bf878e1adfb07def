/**
 * BPF_PROG_TYPE_TRACEPOINT (bpf_types.h: tracepoint). r1 points at the event record laid
 * out as the event's format file says (common fields first). Linux lets the program read
 * any offset of the record up to PERF_MAX_TRACE_SIZE; the return value says whether the
 * event is also recorded (0: not). No test_run, as in Linux (ENOTSUPP).
 */
import { BASE_HELPER_IDS } from '../../kernel/bpf/helpers/index.js';
import { BPF_PROG_TYPE } from '../../kernel/bpf/isa.js';
import type { ProgTypeDef } from '../../kernel/bpf/types.js';

/** PERF_MAX_TRACE_SIZE: the largest record a tracepoint program may read. */
export const PERF_MAX_TRACE_SIZE = 2048;

export const tracepointProgType: ProgTypeDef = {
  id: BPF_PROG_TYPE.BPF_PROG_TYPE_TRACEPOINT,
  name: 'tracepoint',
  ctxSize: PERF_MAX_TRACE_SIZE,
  ctxFields: [],
  // base helpers + probe_read (4), perf_event_output (25), get_stackid (27), probe_read_kernel/str (113, 115)
  allowedHelpers: new Set([...BASE_HELPER_IDS, 4, 25, 27, 113, 115]),
  allowsLdAbs: false,
};
