// `bpfkern ebpf run`: the exact syntax and one-JSON-line output outside scripts rely on,
// run as users run it (node dist/userspace/bin/bpfkern.js). Expected values match the
// host oracle's ebpf-run for the same programs.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '../../dist/userspace/bin/bpfkern.js');

function ebpf(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, 'ebpf', ...args], { input: input ?? '', encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const RET42 = 'b70000002a0000009500000000000000';
const LEN = '61100000000000009500000000000000'; // r0 = skb->len

describe('bpfkern ebpf run', () => {
  // [args, expected subset of the JSON line]
  const cases: [string, string[], Record<string, unknown>][] = [
    ['r0 = 42 (host: 42)', ['--prog', RET42], { loaded: true, retval: 42, errno: null }],
    ['skb->len on the default frame (host: 36)', ['--prog', LEN], { loaded: true, retval: 36 }],
    ['sched_cls sees the whole frame (host: 50)', ['--prog', LEN, '--type', 'sched_cls'], { loaded: true, retval: 50 }],
    ['given data', ['--prog', LEN, '--data', '00'.repeat(20)], { retval: 6 }],
    ['data shorter than 14 (host: run EINVAL)', ['--prog', LEN, '--data', '0011'], { loaded: true, retval: null, run_errno: 'EINVAL' }],
    ['rejected program', ['--prog', 'ff00000000000000'], { loaded: false, errno: 'EINVAL', retval: null, duration_ns: null }],
    ['interpreter', ['--prog', RET42, '--jit', '0'], { retval: 42, jited: false }],
    ['repeat', ['--prog', RET42, '--repeat', '5'], { retval: 42 }],
    ['log level 0: no log', ['--prog', RET42, '--log-level', '0'], { log: '' }],
  ];
  it.each(cases)('%s', (_n, args, want) => {
    const r = ebpf(['run', ...args]);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const out = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(out).toMatchObject(want);
    for (const k of ['loaded', 'retval', 'duration_ns', 'errno', 'log', 'jited']) expect(out).toHaveProperty(k);
  });

  it('log level 1 gives the processed line (host)', () => {
    const out = JSON.parse(ebpf(['run', '--prog', RET42]).stdout) as { log: string };
    expect(out.log).toMatch(/^processed 2 insns \(limit 1000000\) max_states_per_insn 0/);
  });

  it('--batch: one JSON line per stdin line, in one process', () => {
    const r = ebpf(['run', '--batch'], `${RET42}\n${LEN} ${'00'.repeat(30)}\n\nff00000000000000\n`);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.loaded, l.retval])).toEqual([[true, 42], [true, 16], [false, null]]);
  });

  it.each([
    [['run']],
    [['run', '--prog', 'zz']],
    [['run', '--prog', RET42, '--jit', '2']],
    [['run', '--prog', RET42, '--type', 'nosuch']],
    [['run', '--prog', RET42, '--bogus']],
    [['walk']],
  ])('bad usage %j exits non-zero', (args) => {
    const r = ebpf(args);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/^bpfkern: /);
  });
});
