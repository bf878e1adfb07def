// Fuzzes writes of arbitrary text to every writable pseudo file: /proc/sys, tracefs
// (event filters through the ftrace filter parser, enable, set_event, tracing_on...),
// debugfs's bpfkern control files (map ctl, map_create, prog_load, a task's seccomp chain,
// a socket's filter). A write succeeds or fails with an errno; a rejected write leaves the
// file and the kernel's other visible state as they were — except where Linux itself
// changes state on a failed write: an event filter then shows the error and is disabled,
// and error_log gains the entry.
import { describe, it } from 'vitest';
import { bootKernel, type BootedKernel } from '../../index.js';
import { BPF_CMD } from '../../kernel/bpf/isa.js';
import { bpfCommand } from '../../kernel/bpf/syscall.js';
import { formatBpfAsm, formatDd, formatDdd, formatTcpdump } from '../../kernel/bpf/classic/text.js';
import { syscall } from '../../kernel/syscall.js';
import { compileFilter } from '../../subsystems/net/pcap-filter/index.js';
import { Fuzz, check, expectClean, iterations } from '../helpers/fuzz.js';

const FILTER_VOCAB = [
  'sig', 'errno', 'code', 'pid', 'comm', 'common_pid', 'common_type', 'common_flags', 'CPU', 'COMM', 'prev_comm', 'next_pid',
  'prev_state', 'filename', 'flags', 'mode', 'dfd', 'location', 'reason', 'len', 'skbaddr', 'protocol', 'group', 'result',
  '==', '!=', '<', '<=', '>', '>=', '&', '~', '=<', '=', '!', '&&', '||', '(', ')', '"bash"', '"*sh"', '"b*"', '"*a*"', '"[ab]*"',
  '"\\"', '"', "'x'", 'bash', '0x11', '-1', '17', '0', '1e3', '.function', '.symbol', '$', 'common_timestamp',
];
const FILTER_CORPUS = [
  '! ', '! ! ', '!', // regressions: no predicate at all (TypeError in parseFilter)
  'sig == 17', '((sig >= 10 && sig < 15) || sig == 17) && comm != "bash"', 'comm ~ "*sh"', 'common_pid > 1 && !(sig & 2)',
  'prev_comm == "swapper/0" || next_pid != 0', 'filename ~ "/etc/*"', 'reason == 2', 'CPU == 0', 'sig != 9 && errno == 0',
];

function classicTexts(): string[] {
  const out: string[] = [];
  for (const e of ['ip', 'tcp port 80', 'udp and not port 53']) {
    const p = compileFilter(e);
    out.push(formatDdd(p), formatDd(p), formatTcpdump(p), formatBpfAsm(p));
  }
  out.push('ld [4]\njeq #0xc000003e, ok, bad\nok: ret #0x7fff0000\nbad: ret #0', '1\n6 0 0 2147418112', 'ret #0');
  return out;
}

interface Target { path: string; corpus: string[]; vocab: string[]; filter?: boolean }

function setup(): { k: BootedKernel; targets: Target[]; state: string[] } {
  const k = bootKernel();
  const task = k.tasks.spawn({ comm: 'fuzzee' });
  syscall(k, task, 'socket', [2, 2, 0]);
  bpfCommand(k, task, BPF_CMD.BPF_MAP_CREATE, { map_type: 2, key_size: 4, value_size: 8, max_entries: 4 });
  bpfCommand(k, task, BPF_CMD.BPF_MAP_CREATE, { map_type: 1, key_size: 4, value_size: 4, max_entries: 4 });
  const walk = (dir: string, out: string[]): void => {
    for (const n of k.fs.readdirSync(dir)) {
      const p = `${dir}/${n}`;
      const st = k.fs.statSync(p);
      if (st.isDirectory()) {
        // one event per system keeps the walk short; every event's files are alike
        if (/\/events\/[^/]+\/[^/]+$/.test(p) && !/sched_switch|signal_generate|kfree_skb|sys_enter_openat/.test(p)) continue;
        if (/\/debug\/tracing$/.test(p)) continue; // the same tracefs as /sys/kernel/tracing
        walk(p, out);
      } else if (st.mode & 0o222) out.push(p);
    }
  };
  const files: string[] = [];
  for (const d of ['/proc/sys', `/proc/${task.pid}`, '/sys/kernel/tracing', '/sys/kernel/debug/bpfkern']) walk(d, files);
  const classic = classicTexts();
  const targets: Target[] = files.map((path) => {
    const base = path.slice(path.lastIndexOf('/') + 1);
    if (base === 'filter' && path.includes('/events/')) return { path, corpus: FILTER_CORPUS, vocab: FILTER_VOCAB, filter: true };
    if (base === 'filter' || base === 'seccomp') return { path, corpus: [...classic, 'prog 1', 'detach', '0', ''], vocab: ['ld', 'ret', '#0', 'jeq', 'prog', 'detach'] };
    if (base === 'ctl') {
      return { path, corpus: ['lookup 00000000', 'update 00000000 0100000000000000 any', 'update 01000000 01000000 noexist', 'delete 00000000', 'next', 'next 00000000', 'freeze'],
        vocab: ['lookup', 'update', 'delete', 'next', 'freeze', '00000000', '0100000000000000', 'any', 'exist', 'noexist', '4'] };
    }
    if (base === 'map_create') return { path, corpus: ['/sys/fs/bpf/m 2 4 8 16', '/sys/fs/bpf/h 1 4 4 8 name 0'], vocab: ['/sys/fs/bpf/x', '/sys/fs/bpf', '/etc/x', '1', '2', '4', '0'] };
    if (base === 'prog_load') return { path, corpus: ['/sys/fs/bpf/p 1 b7000000010000009500000000000000 p', '/sys/fs/bpf/q 1 9500000000000000'], vocab: ['/sys/fs/bpf/y', '1', '3', 'b700000001000000', '9500000000000000', 'name'] };
    if (base === 'pin') return { path, corpus: ['/sys/fs/bpf/pinned', '/sys/fs/bpf/a/b'], vocab: ['/sys/fs/bpf/', '..', 'x', '/'] };
    if (base === 'set_event') return { path, corpus: ['signal:signal_generate', 'sched:*', '!sched:sched_switch', '*:*', 'syscalls:sys_enter_openat'], vocab: ['signal', 'sched', ':', '*', '!', 'sched_switch', 'nope'] };
    return { path, corpus: ['0', '1', '2', '1\n', '7', 'kill_process kill_thread trap errno user_notif trace log', ''], vocab: ['0', '1', '2', 'log', 'trap', 'errno', 'kill'] };
  });
  const state = files.filter((p) => !/\/(trace|trace_marker|error_log)$/.test(p))
    .concat([`/proc/${task.pid}/status`, '/sys/kernel/tracing/trace']);
  return { k, targets, state };
}

function readOr(k: BootedKernel, p: string): string {
  try {
    return k.fs.readFileSync(p, 'utf8');
  } catch (e) {
    return `<${(e as { code?: string }).code ?? String(e)}>`;
  }
}

/** Writes text without O_TRUNC (set_event and trace clear on O_TRUNC, as in Linux). */
function write(k: BootedKernel, path: string, text: string): void {
  const fd = k.fs.openSync(path, 'r+');
  try {
    k.fs.writeSync(fd, text);
  } finally {
    k.fs.closeSync(fd);
  }
}

describe('writes to every writable pseudo file', () => {
  it('regressions and corpus', () => {
    const { k, targets } = setup();
    check(targets.length > 20, `only ${targets.length} writable files found`, targets.map((t) => t.path));
    for (const t of targets) {
      for (const text of [...t.corpus, '', '\n', '\0', 'x'.repeat(4096), '9'.repeat(100)]) expectClean(`write ${t.path}`, text, () => write(k, t.path, text));
    }
  });

  it('mutated and random text; rejected writes change nothing', () => {
    const f = new Fuzz(701);
    const n = iterations(800);
    let { k, targets, state } = setup();
    for (let i = 0; i < n; i++) {
      if (i % 200 === 199) ({ k, targets, state } = setup());
      const t = f.pick(targets);
      const text = f.chance(0.6) ? f.mutate(f.pick(t.corpus), t.vocab) : f.chance(0.5) ? f.tokens(t.vocab, 1 + f.int(8)) : f.text(f.int(64));
      const watch = f.chance(0.3) ? state : [t.path];
      const before = watch.map((p) => readOr(k, p));
      const r = expectClean(`write ${t.path}`, text, () => write(k, t.path, text));
      if (r.ok) continue;
      // set_event takes one token per write(2) in Linux (a shell's write loop sends the
      // rest): the tokens before the bad one stay applied.
      if (t.path.endsWith('/set_event') && text.trim().split(/\s+/).length > 1) continue;
      watch.forEach((p, j) => {
        if (t.filter && p === t.path) return; // Linux: the filter file now shows the error
        const after = readOr(k, p);
        check(after === before[j], `rejected write (${r.errno}) to ${t.path} changed ${p}: ${JSON.stringify(before[j]).slice(0, 200)} -> ${JSON.stringify(after).slice(0, 200)}`, text);
      });
    }
  });

  it('ftrace event filters: mutated and random expressions', () => {
    const f = new Fuzz(702);
    const n = iterations(1000);
    const { k, targets } = setup();
    const filters = targets.filter((t) => t.filter);
    check(filters.length >= 8, `only ${filters.length} filter files`, null);
    for (let i = 0; i < n; i++) {
      const t = f.pick(filters);
      const text = f.chance(0.6) ? f.mutate(f.pick(FILTER_CORPUS), FILTER_VOCAB) : f.tokens(FILTER_VOCAB, 1 + f.int(12));
      expectClean(`write ${t.path}`, text, () => write(k, t.path, text));
      expectClean(`read ${t.path}`, text, () => k.fs.readFileSync(t.path, 'utf8'));
    }
  });
});
