/**
 * bpf_trace: events (kernel/trace/bpf_trace.h): bpf_trace_printk's output, one event per
 * call, the formatted text as a __data_loc string. Copied from Linux 6.18's format file.
 */
import { declareFromFormat } from '../event-def.js';

export const bpfTracePrintk = declareFromFormat(
  'bpf_trace',
  'bpf_trace_printk',
  `
	field:__data_loc char[] bpf_string;	offset:8;	size:4;	signed:0;
`,
  '"%s", __get_str(bpf_string)',
);
