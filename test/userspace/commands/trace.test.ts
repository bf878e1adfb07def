// `bpfkern trace bench` as a script calls it: the built CLI in a child process (the test
// run builds dist/ first), JSON and table output, exit codes, errors.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '../../../dist/userspace/bin/bpfkern.js');

function cli(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, 'trace', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

interface Row {
  name: string;
  nsPerEvent: number;
  passed: number;
}

describe('bpfkern trace bench', () => {
  it('--json prints one object: every evaluator, the same count through, all agree', () => {
    const filter = '((sig >= 10 && sig < 15) || sig == 17) && comm != bash';
    const r = cli('bench', '--event', 'signal:signal_generate', '--filter', filter, '--events', '3000', '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { event: string; filter: string; events: number; agree: boolean; rows: Row[] };
    expect(j).toMatchObject({ event: 'signal:signal_generate', filter, events: 3000, agree: true });
    expect(j.rows.map((x) => x.name)).toEqual(['no filter', 'walker', 'compiled (interpreter)', 'compiled (JIT)']);
    expect(j.rows[0]!.passed).toBe(3000);
    const through = j.rows[1]!.passed;
    expect(through).toBeGreaterThan(0);
    expect(through).toBeLessThan(3000);
    for (const row of j.rows.slice(1)) {
      expect(row.passed).toBe(through);
      expect(row.nsPerEvent).toBeGreaterThan(0);
    }
    expect(r.out.trim().split('\n')).toHaveLength(1);
  });

  it('prints a table by default, with data_loc strings and globs (helper path) too', () => {
    const r = cli('bench', '--event', 'sched:sched_process_fork', '--filter', 'parent_comm ~ "s*" && child_pid > 3', '--events', '2000');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toBe('sched:sched_process_fork filter: parent_comm ~ "s*" && child_pid > 3  (2000 events)');
    expect(lines.slice(1).map((l) => l.replace(/\s+[\d.]+ ns\/event\s+\d+ passed$/, ''))).toEqual([
      'no filter', 'walker', 'compiled (interpreter)', 'compiled (JIT)',
    ]);
    expect(r.out).not.toContain('MISMATCH');
  });

  it('reports a bad filter as the filter file would (exit 1), bad events and usage (exit 1 / 2)', () => {
    const bad = cli('bench', '--filter', 'sig ==', '--events', '10');
    expect(bad.code).toBe(1);
    expect(bad.err).toBe('bpfkern: bad filter (EINVAL)\nsig ==\n      ^\nparse_error: Invalid value (did you forget quotes)?\n');
    const noEvent = cli('bench', '--event', 'nope:x', '--filter', 'sig == 1', '--events', '10');
    expect(noEvent.code).toBe(1);
    expect(noEvent.err).toBe('bpfkern: no event nope:x\n');
    const usage = cli('bench', '--events', '10');
    expect(usage.code).toBe(2);
    expect(usage.err).toMatch(/^usage: bpfkern trace bench/);
    expect(cli('frobnicate').code).toBe(2);
  });
});
