/**
 * pcap_compile() for DLT_EN10MB: a pcap-filter(7) expression to a classic BPF program
 * that accepts (returns snaplen) exactly the frames tcpdump's would and rejects (0) the
 * rest. parse → gencode (block DAG) → optimize → linearize; the result always passes
 * the classic checker. Errors are FilterError (KernelError EINVAL) with tcpdump's text.
 */
import { checkClassic } from '../../../kernel/bpf/classic/checker.js';
import type { SockFilter } from '../../../kernel/bpf/classic/isa.js';
import { linearize } from './blocks.js';
import { FilterError } from './errors.js';
import { genCode } from './gencode.js';
import { optimize } from './optimize.js';
import { parseFilter } from './parser.js';

export { FilterError, FilterSyntaxError } from './errors.js';
export { parseFilter } from './parser.js';

/** tcpdump's default snapshot length, what an accepting filter returns. */
export const DEFAULT_SNAPLEN = 262144;

export interface CompileOptions {
  /** Run the optimizer (tcpdump -O turns it off). Default true. */
  optimize?: boolean;
  /** What the program returns for an accepted packet. Default 262144. */
  snaplen?: number;
}

export function compileFilter(expr: string, opts: CompileOptions = {}): SockFilter[] {
  const snaplen = opts.snaplen ?? DEFAULT_SNAPLEN;
  let root = genCode(parseFilter(expr), snaplen);
  if (opts.optimize ?? true) {
    root = optimize(root);
    if (root.ret === 0 && root.stmts.length === 0) throw new FilterError('expression rejects all packets', 0);
  }
  const prog = linearize(root);
  checkClassic(prog);
  return prog;
}
