/**
 * A task's filter chain as text and back (bpfkern's debugfs tasks/<pid>/seccomp): the
 * readback Linux gives checkpoint/restore tools (PTRACE_SECCOMP_GET_FILTER returns each
 * filter's original program, PTRACE_SECCOMP_GET_METADATA its flags), in `tcpdump -ddd`
 * form with one header line per filter, newest first:
 *
 *   # filter 0: 6 insns, flags 0x2 (log)
 *   6
 *   32 0 0 4
 *   ...
 *
 * The header says the classic length, the flags the filter was installed with
 * (SECCOMP_FILTER_FLAG_LOG, NEW_LISTENER, WAIT_KILLABLE_RECV) and `listener` while its
 * USER_NOTIF listener is open. Writing that text back installs the same chain: the
 * sections are installed oldest first, each with its LOG flag (a listener cannot be
 * re-created from a file: NEW_LISTENER and WAIT_KILLABLE_RECV are dropped). Text with no
 * header is one program. Every section is parsed and checked before anything is installed
 * (a later setModeFilter error, e.g. ENOMEM for a too long chain, can still stop midway).
 */
import { KernelError } from '../../kernel/errno.js';
import type { Kernel } from '../../kernel/kernel.js';
import { formatDdd, parseClassic } from '../../kernel/bpf/classic/text.js';
import { checkClassic } from '../../kernel/bpf/classic/checker.js';
import type { SockFilter } from '../../kernel/bpf/classic/isa.js';
import { BPF_MAXINSNS } from '../../kernel/bpf/isa.js';
import type { Task } from '../../kernel/task.js';
import { seccompCheckFilter } from './check.js';
import { seccompOf, setModeFilter, type SeccompFilter } from './filter.js';
import {
  SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_NEW_LISTENER, SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
} from './uapi.js';

/** The seccomp(2) flags a filter was installed with, as far as the filter remembers them. */
export function filterFlags(f: SeccompFilter): number {
  let flags = 0;
  if (f.log) flags |= SECCOMP_FILTER_FLAG_LOG;
  if (f.listener) flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
  if (f.waitKillable) flags |= SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
  return flags;
}

function flagNames(flags: number): string {
  const names: string[] = [];
  if (flags & SECCOMP_FILTER_FLAG_LOG) names.push('log');
  if (flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) names.push('new_listener');
  if (flags & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) names.push('wait_killable_recv');
  return names.length ? ` (${names.join('|')})` : '';
}

/** The chain of a task, newest first, as the debugfs file shows it. */
export function seccompFiltersText(task: Task): string {
  const st = seccompOf(task);
  const out: string[] = [];
  let i = 0;
  for (let f = st.filter; f; f = f.prev) {
    const flags = filterFlags(f);
    const listener = f.listener && !f.listener.closed ? ', listener' : '';
    out.push(`# filter ${i++}: ${f.orig.length} insns, flags 0x${flags.toString(16)}${flagNames(flags)}${listener}\n${formatDdd(f.orig)}`);
  }
  return out.length > 0 ? out.join('') : `# no filter (seccomp mode ${st.mode})\n`;
}

interface Section {
  flags: number;
  filter: SockFilter[];
}

const HEADER = /^#\s*filter\b(.*)$/;

/** Splits the text at `# filter` headers and parses each program (EINVAL on the first bad one). */
export function parseFiltersText(text: string): Section[] {
  const sections: { header: string | null; lines: string[] }[] = [];
  let cur: { header: string | null; lines: string[] } | null = null;
  for (const line of text.split('\n')) {
    const m = HEADER.exec(line.trim());
    if (m) {
      cur = { header: m[1] ?? '', lines: [] };
      sections.push(cur);
      continue;
    }
    if (line.trim().startsWith('#')) continue; // a comment
    if (!cur) {
      if (line.trim() === '') continue;
      cur = { header: null, lines: [] };
      sections.push(cur);
    }
    cur.lines.push(line);
  }
  if (sections.length === 0) throw new KernelError('EINVAL', 'no filter in the text');
  return sections.map((s, n) => {
    const body = s.lines.join('\n');
    if (body.trim() === '') throw new KernelError('EINVAL', `filter ${n}: empty program`);
    const fm = s.header ? /\bflags\s+(0x[0-9a-f]+|\d+)/i.exec(s.header) : null;
    const flags = fm ? Number(fm[1]) : /\(log\)/.test(s.header ?? '') ? SECCOMP_FILTER_FLAG_LOG : 0;
    return { flags: flags & SECCOMP_FILTER_FLAG_LOG, filter: parseClassic(body) };
  });
}

/**
 * Installs the programs of a text (seccompFiltersText's form, or one program in any
 * classic text form) on `task`, oldest first, through seccomp's own setModeFilter: the
 * target needs no_new_privs or CAP_SYS_ADMIN, exactly as if it had called seccomp(2).
 */
export function installFiltersText(kernel: Kernel, task: Task, text: string): void {
  const sections = parseFiltersText(text);
  // Both checkers on every section first, so that a bad one installs nothing.
  for (const s of sections) {
    if (s.filter.length === 0 || s.filter.length > BPF_MAXINSNS) throw new KernelError('EINVAL', `filter length ${s.filter.length} not in 1..${BPF_MAXINSNS}`);
    checkClassic(s.filter);
    seccompCheckFilter(s.filter);
  }
  for (let n = sections.length - 1; n >= 0; n--) {
    const { flags, filter } = sections[n]!;
    setModeFilter(kernel, task, flags, { len: filter.length, filter }, () => {
      throw new KernelError('EINVAL', 'no listener from a file');
    });
  }
}
