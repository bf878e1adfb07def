// The demo workload: it forks, execs, makes syscalls and sends every signal 1..31, and
// the same seed gives the same choices.
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../../index.js';
import { addExitHook } from '../../../kernel/syscall.js';
import { startWorkload } from '../../../userspace/workloads/index.js';

async function record(seed: number, ms: number) {
  const k = bootKernel({ seed });
  const kills: number[] = [];
  const names = new Set<string>();
  const comms = new Set<string>();
  addExitHook(k, (call) => {
    names.add(call.name);
    comms.add(call.task.comm);
    if (call.name === 'kill' && call.task.comm === 'bash') kills.push(Number(call.args[1]));
  });
  const w = startWorkload(k, 'demo', seed, 5);
  await new Promise((r) => setTimeout(r, ms));
  await w.stop();
  return { kills, names, comms, k };
}

describe('demo workload', () => {
  it('sends every signal 1..31 and runs the usual programs', async () => {
    const { kills, names, comms, k } = await record(3, 2500);
    for (let s = 1; s <= 31; s++) expect(kills).toContain(s);
    expect([...names]).toEqual(expect.arrayContaining(['fork', 'execve', 'wait4', 'kill', 'rt_sigaction', 'getpid', 'openat']));
    expect([...comms]).toEqual(expect.arrayContaining(['bash', 'sleep', 'sshd', 'nginx', 'cron', 'systemd']));
    expect(k.log.lines.filter((l) => l.includes('task code threw'))).toEqual([]);
  });

  it('repeats its choices for a seed', async () => {
    const a = await record(5, 600);
    const b = await record(5, 600);
    const n = Math.min(a.kills.length, b.kills.length, 20);
    expect(n).toBeGreaterThan(5);
    expect(a.kills.slice(0, n)).toEqual(b.kills.slice(0, n));
  });
});
