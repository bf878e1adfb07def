/**
 * Making a runnable program out of a classic one, as Linux's bpf_prog_create_from_user()
 * → bpf_prepare_filter() → bpf_migrate_filter() → bpf_prog_select_runtime(): check,
 * convert to eBPF, keep the original (SO_GET_FILTER returns it, bpftool shows it), pick
 * the engine. Converted programs are trusted by construction and skip the eBPF verifier,
 * as in Linux. Like Linux, they get no id: socket filters and seccomp filters are not in
 * the prog idr (bpftool prog show does not list them).
 */
import type { Kernel } from '../../kernel.js';
import { newBpfProg } from '../objects.js';
import { bpfProgSelectRuntime } from '../run.js';
import type { BpfProg, ProgTypeDef } from '../types.js';
import { checkClassic } from './checker.js';
import { convertClassic } from './convert.js';
import { classicHelpers } from './helpers.js';
import type { SockFilter } from './isa.js';

export interface ClassicProgOptions {
  /** The program type it runs as (socket_filter for sockets; the caller owns the definition). */
  type: ProgTypeDef;
  uid?: number;
  /** Skip checkClassic (a caller with its own checker, such as seccomp's). */
  checked?: boolean;
  seccomp?: boolean;
}

/** Checks (EINVAL), converts and prepares a classic program; refcnt 1, owned by the caller. */
export function bpfProgCreateClassic(kernel: Kernel, filter: readonly SockFilter[], opts: ClassicProgOptions): BpfProg {
  if (!opts.checked) checkClassic(filter);
  const conv = convertClassic(filter, opts.seccomp ? { seccomp: true } : {});
  const prog = newBpfProg(kernel, {
    type: opts.type,
    insns: conv.insns,
    helpers: classicHelpers,
    stackDepth: conv.stackDepth,
    uid: opts.uid ?? 0,
    classic: filter.map((f) => ({ code: f.code, jt: f.jt, jf: f.jf, k: f.k >>> 0 })),
  });
  bpfProgSelectRuntime(kernel, prog);
  return prog;
}
