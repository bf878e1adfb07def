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

  it('map create / update / lookup / dump / pin over the mounted files', async () => {
    const created = await bt(`map create ${mnt}/sys/fs/bpf/counts type hash key 4 value 4 entries 8 name counts`);
    expect(created.stderr).toBe('');
    const show = await bt('map show pinned /sys/fs/bpf/counts');
    const id = /^(\d+): hash {2}name counts {2}flags 0x0\n/.exec(show.stdout)?.[1];
    expect(id).toBeDefined();
    expect((await bt(`map update id ${id} key 1 0 0 0 value hex 2a 00 00 00`)).stderr).toBe('');
    expect((await bt(`map update pinned ${mnt}/sys/fs/bpf/counts key 2 0 0 0 value 7 0 0 0 noexist`)).stderr).toBe('');
    const dup = await bt(`map update id ${id} key 2 0 0 0 value 7 0 0 0 noexist`);
    expect([dup.code, dup.stderr]).toEqual([255, 'Error: update failed: File exists\n']);
    expect((await bt(`map lookup id ${id} key 1 0 0 0`)).stdout).toBe('key: 01 00 00 00  value: 2a 00 00 00\n');
    expect((await bt(`map dump id ${id}`)).stdout).toBe(
      'key: 01 00 00 00  value: 2a 00 00 00\nkey: 02 00 00 00  value: 07 00 00 00\nFound 2 elements\n',
    );
    expect(JSON.parse((await bt(`-j map dump id ${id}`)).stdout)).toHaveLength(2);
    expect((await bt(`map delete id ${id} key 1 0 0 0`)).stderr).toBe('');
    // the same element through the control file with shell redirection
    const raw = await sh(`echo 'lookup 02000000' > ${mnt}/sys/kernel/debug/bpfkern/maps/${id}/ctl && cat ${mnt}/sys/kernel/debug/bpfkern/maps/${id}/ctl`);
    expect(raw.stdout).toBe('value 07000000\n');
    // a second pin, then the mount found from the pinned path alone (no --mount)
    expect((await bt(`map pin id ${id} ${mnt}/sys/fs/bpf/counts2`)).stderr).toBe('');
    const auto = await sh(`node ${q(cli)} bpftool map dump pinned ${q(`${mnt}/sys/fs/bpf/counts2`)}`, 20_000);
    expect(auto.stdout).toBe('key: 02 00 00 00  value: 07 00 00 00\nFound 1 element\n');
  });

  it('prog dump xlated / jited / visual of a program loaded through prog_load', async () => {
    // r0 = 0; if r1 == 0 goto +1; r0 = 1; exit
    const hex = 'b7000000000000001501010000000000b7000000010000009500000000000000';
    const load = await sh(`echo '/sys/fs/bpf/p socket_filter ${hex} branchy' > ${mnt}/sys/kernel/debug/bpfkern/prog_load && cat ${mnt}/sys/kernel/debug/bpfkern/prog_load`);
    expect(load.stderr).toBe('');
    const id = /^id (\d+)/.exec(load.stdout)?.[1];
    expect(id).toBeDefined();
    expect((await bt(`prog dump xlated id ${id}`)).stdout).toBe(
      '   0: (b7) r0 = 0\n   1: (15) if r1 == 0x0 goto pc+1\n   2: (b7) r0 = 1\n   3: (95) exit\n',
    );
    expect((await bt(`prog dump xlated pinned ${mnt}/sys/fs/bpf/p visual`)).stdout).toContain(
      '\tfn_0_bb_2:s -> fn_0_bb_4:n [style="solid,bold", color=black, weight=10, constraint=true];\n',
    );
    const show = JSON.parse((await bt(`-j prog show id ${id}`)).stdout) as { name: string; jited: boolean };
    expect(show.name).toBe('branchy');
    const j = await bt(`prog dump jited id ${id}`);
    expect(j.code).toBe(0);
    if (show.jited) expect(j.stdout).toMatch(/;; 0: /);
    expect((await bt(`prog pin id ${id} ${mnt}/sys/fs/bpf/p2`)).stderr).toBe('');
    expect((await sh(`ls ${mnt}/sys/fs/bpf`)).stdout.split('\n')).toEqual(expect.arrayContaining(['p', 'p2']));
  });

  it('errors come back with bpftool messages', async () => {
    const r = await bt('map lookup id 99999 key 0 0 0 0');
    expect(r.code).toBe(255);
    expect(r.stderr).toBe('Error: get by id (99999): No such file or directory\n');
  });
});
