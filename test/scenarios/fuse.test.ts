/**
 * The issue's end-to-end scenarios through a real FUSE mount (`bpfkern mount DIR
 * --workload demo`) driven by real shell commands: `sh -c 'echo ... > file'`, `cat`,
 * `ls`, `grep`, `head -n 5 trace_pipe`. The same scenarios run in process in
 * in-process.test.ts. Skips, saying why, where /dev/fuse or libfuse2 is missing; always
 * unmounts in afterAll.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, fuseProblem, q, sh, startMount, waitFor } from '../helpers/fuse.js';
import { matchesSeed, parseSignalLines, SEED_FILTER } from './common.js';

const problem = fuseProblem();
if (problem) console.warn(`skipping FUSE scenario tests: ${problem}`);

/** One mount per describe, each on its own directory; unmounted in afterAll whatever happened. */
function useMount(opts: { workload: string; extra?: string[] }): { mnt: string } {
  const base = mkdtempSync(join(tmpdir(), 'bpfkern-scen-'));
  const ref = { mnt: join(base, 'mnt') };
  let child: ChildProcess | null = null;
  beforeAll(async () => {
    child = await startMount(ref.mnt, opts);
  });
  afterAll(async () => {
    await cleanup(child, ref.mnt);
    rmSync(base, { recursive: true, force: true });
  });
  return ref;
}

/** The pid of the task named `comm` in the mount's /proc. */
async function pidOf(mnt: string, comm: string): Promise<number> {
  const r = await sh(`grep -l '^Name:[[:space:]]*${comm}$' ${mnt}/proc/[0-9]*/status`);
  const m = /\/proc\/(\d+)\/status/.exec(r.stdout);
  if (!m) throw new Error(`no ${comm} in ${mnt}/proc: ${r.stdout} ${r.stderr}`);
  return Number(m[1]);
}

describe.skipIf(problem !== null)('scenarios through FUSE and the shell (demo workload)', () => {
  const m = useMount({ workload: 'demo', extra: ['--seed', '1'] });
  const T = (): string => `${m.mnt}/sys/kernel/tracing`;
  const EV = (): string => `${T()}/events/signal/signal_generate`;
  const DBG = (): string => `${m.mnt}/sys/kernel/debug/bpfkern`;
  const JIT = (): string => `${m.mnt}/proc/sys/net/core/bpf_jit_enable`;

  it('1: the seed filter: trace holds only matching signal_generate lines; head -n 5 trace_pipe gives 5', async () => {
    const w = await sh(`sh -c ${q(`echo '${SEED_FILTER}' > ${EV()}/filter`)} && echo 1 > ${EV()}/enable && cat ${EV()}/filter ${EV()}/enable`);
    expect(w.stderr).toBe('');
    expect(w.stdout).toBe(`${SEED_FILTER}\n1\n`);
    const lines = await waitFor('matching lines in trace', async () => {
      const ls = parseSignalLines((await sh(`cat ${T()}/trace`)).stdout);
      return ls.length >= 3 ? ls : undefined;
    });
    for (const l of lines) expect(matchesSeed(l), JSON.stringify(l)).toBe(true);
    // The demo's bash sends them to its sleep children.
    expect(lines.every((l) => l.task === 'bash' && l.comm === 'sleep')).toBe(true);

    const head = await sh(`head -n 5 ${T()}/trace_pipe`, 20_000);
    expect(head.code).toBe(0);
    const got = parseSignalLines(head.stdout);
    expect(got).toHaveLength(5);
    for (const l of got) expect(matchesSeed(l), JSON.stringify(l)).toBe(true);

    const off = await sh(`echo 0 > ${EV()}/enable && echo 0 > ${EV()}/filter && cat ${EV()}/filter`);
    expect(off.stdout).toBe('none\n');
  });

  it('2: a bad filter: the shell gets "write error: Invalid argument"; filter shows the caret and parse_error; error_log has it', async () => {
    const bad = '((sig >= 10 && sig < 15) || sig == 17) && cmm != bash';
    await sh(`echo > ${T()}/error_log`);
    const r = await sh(`echo ${q(bad)} > ${EV()}/filter`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('write error: Invalid argument');
    const shown = (await sh(`cat ${EV()}/filter`)).stdout.split('\n');
    expect(shown[0]).toBe(bad);
    expect(shown[1]).toMatch(/^ +\^$/);
    expect(shown[2]).toBe('parse_error: Field not found');
    const log = (await sh(`cat ${T()}/error_log`)).stdout;
    expect(log).toMatch(/^\[ *\d+\.\d{6}\] event filter parse error: error: Field not found\n {2}Command: /);
    expect(log).toContain(`  Command: ${bad}\n`);

    // /bin/sh may be dash, whose echo says "I/O error" whatever the errno: check the status there.
    const r2 = await sh(`sh -c 'echo "sig =< 3" > ${EV()}/filter'`);
    expect(r2.code).not.toBe(0);
    expect(r2.stderr).toMatch(/Invalid argument|I\/O error/);
    expect((await sh(`cat ${EV()}/filter`)).stdout).toBe('sig =< 3\n     ^\nparse_error: Invalid operator\n\n');
    expect((await sh(`cat ${T()}/error_log`)).stdout).toMatch(/error: Invalid operator\n {2}Command: sig =< 3\n {16}\^\n$/);
    await sh(`echo 0 > ${EV()}/filter`);
  });

  it('3: bpf_jit_enable from the shell: 0 interprets, 2 JITs and dumps to dmesg, 1 JITs quietly', async () => {
    const filterLog = async (): Promise<string[]> => (await sh(`grep -c 'from=trace_filter' ${DBG()}/dmesg`)).stdout.trim().split('\n');
    const count = async (): Promise<number> => Number((await filterLog())[0]);

    expect((await sh(`echo 0 > ${JIT()} && cat ${JIT()}`)).stdout).toBe('0\n');
    const n0 = await count();
    expect((await sh(`echo 'sig == 9' > ${EV()}/filter`)).code).toBe(0);
    expect(await count()).toBe(n0); // the interpreter: nothing JITed, nothing dumped

    expect((await sh(`echo 2 > ${JIT()} && cat ${JIT()}`)).stdout).toBe('2\n');
    expect((await sh(`echo 'sig == 10' > ${EV()}/filter`)).code).toBe(0);
    expect(await count()).toBe(n0 + 1);
    const dump = (await sh(`grep -A2 'from=trace_filter' ${DBG()}/dmesg | tail -3`)).stdout;
    expect(dump).toMatch(/flen=\d+ proglen=\d+ pass=1 image=[0-9a-f]{16} from=trace_filter/);
    expect(dump).toContain('(module');

    expect((await sh(`echo 1 > ${JIT()} && cat ${JIT()}`)).stdout).toBe('1\n');
    expect((await sh(`echo 'sig == 11' > ${EV()}/filter`)).code).toBe(0);
    expect(await count()).toBe(n0 + 1); // JITed, not dumped

    const bad = await sh(`echo 3 > ${JIT()}`);
    expect(bad.stderr).toContain('write error: Invalid argument');
    expect((await sh(`cat ${JIT()}`)).stdout).toBe('1\n');
    // Programs loaded from now on appear under debugfs programs/ with their jited image.
    const progs = await sh(`ls ${DBG()}/programs`);
    expect(progs.code).toBe(0);
    await sh(`echo 0 > ${EV()}/filter`);
  });

  it('4: a classic filter attached to a socket through debugfs drops packets', async () => {
    // The demo's `named` serves UDP on 127.0.0.1:53; `dig` keeps querying it.
    const D = `${DBG()}/sockets`;
    const info = (id: string): Promise<string> => sh(`cat ${D}/${id}/info`).then((r) => r.stdout);
    const counter = (text: string, name: string): number => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
    const id = await waitFor('the UDP socket of named', async () => {
      const ids = (await sh(`ls ${D}`)).stdout.trim().split('\n').filter(Boolean);
      for (const i of ids) if ((await info(i)).includes('local: 127.0.0.1:53\n')) return i;
      return undefined;
    });
    const r = await sh(`echo '1,6 0 0 0' > ${D}/${id}/filter && cat ${D}/${id}/filter`);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('(000) ret      #0\n');
    const before = counter(await info(id), 'rx_dropped');
    expect(before).toBeGreaterThanOrEqual(0);
    // Every datagram that arrives from now on is dropped by the filter.
    await waitFor('datagrams dropped by the filter', async () => (counter(await info(id), 'rx_dropped') > before ? true : undefined));
    expect((await sh(`echo 0 > ${D}/${id}/filter && cat ${D}/${id}/info`)).stdout).toContain('filter: none');
  });
});

describe.skipIf(problem !== null)('scenario 5 through FUSE: a seccomp filter from debugfs kills sshd', () => {
  // A slow demo (a round every 500 ms) so that status can be read between the install and
  // the task's next syscall; the install is timed right after sshd's round (trace_pipe).
  const m = useMount({ workload: 'demo', extra: ['--seed', '1', '--interval', '500'] });
  // arch == x86_64 && nr == getpid → ALLOW, anything else → KILL_PROCESS (bpf_asm one-line form).
  const PROG = '6,32 0 0 4,21 0 3 3221225534,32 0 0 0,21 0 1 39,6 0 0 2147418112,6 0 0 2147483648';

  it('5: Seccomp 2 / Seccomp_filters 1 in /proc/<pid>/status, then death by SIGSYS on the next syscall', async () => {
    const mnt = m.mnt;
    const T = `${mnt}/sys/kernel/tracing`;
    const DBG = `${mnt}/sys/kernel/debug/bpfkern`;
    const pid = await pidOf(mnt, 'sshd');
    expect((await sh(`grep Seccomp ${mnt}/proc/${pid}/status`)).stdout).toBe('Seccomp:\t0\nSeccomp_filters:\t0\n');
    expect((await sh(`cat ${DBG}/tasks/${pid}/seccomp`)).stdout).toBe('# no filter (seccomp mode 0)\n');

    // Wait for sshd's syscalls of one round (it makes two, then sleeps 500 ms), then install
    // and read status at once.
    const ev = `${T}/events/raw_syscalls/sys_exit`;
    const sync = await sh(`echo 'common_pid == ${pid}' > ${ev}/filter && echo 1 > ${ev}/enable && echo > ${T}/trace && head -n 2 ${T}/trace_pipe >/dev/null && echo 0 > ${ev}/enable`, 20_000);
    expect(sync.code).toBe(0);
    const r = await sh(`echo ${q(PROG)} > ${DBG}/tasks/${pid}/seccomp && cat ${mnt}/proc/${pid}/status ${DBG}/tasks/${pid}/seccomp`);
    expect(r.stderr).toBe('');
    // Read back as written: ld [k] stays 32 (Linux keeps the original program).
    expect(r.stdout).toContain('# filter 0: 6 insns, flags 0x0\n6\n32 0 0 4\n21 0 3 3221225534\n32 0 0 0\n21 0 1 39\n6 0 0 2147418112\n6 0 0 2147483648\n');
    expect(r.stdout).toMatch(/^State:\t[RS] /m);
    expect(r.stdout).toMatch(/^Seccomp:\t2$/m);
    expect(r.stdout).toMatch(/^Seccomp_filters:\t1$/m);

    // Its next syscall is not getpid: killed by SIGSYS, logged, reaped by init.
    const audit = await waitFor('the audit line of the kill', async () => {
      const d = (await sh(`grep 'type=1326' ${DBG}/dmesg`)).stdout;
      return d.includes(`pid=${pid} `) ? d : undefined;
    });
    expect(audit).toMatch(new RegExp(`pid=${pid} comm="sshd" exe="/bin/sshd" sig=31 arch=c000003e syscall=\\d+ compat=0 ip=0x[0-9a-f]+ code=0x80000000`));
    await waitFor(`/proc/${pid} to go`, async () => ((await sh(`test -e ${mnt}/proc/${pid}`)).code !== 0 ? true : undefined));
    expect((await sh(`ls ${mnt}/proc`)).stdout.split('\n')).not.toContain(String(pid));
  });
});
