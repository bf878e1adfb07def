/**
 * `bpftool prog load OBJ PATH [type TYPE] [pinmaps DIR]` and `prog loadall OBJ DIR` on the
 * checked-in ELF objects, over the three backends: bpf(2) from a process of a kernel (the
 * object copied into its /tmp), the CLI's fresh kernel (the object on the host), and a
 * kernel's files (debugfs map_create / maps/<id>/ctl / prog_load, what --mount does), plus
 * the real --mount over FUSE where it can run.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootKernel, type BootedKernel } from '../../../index.js';
import { bpfObjGet, bpfProgTestRun } from '../../../userspace/libc/bpf.js';
import type { Proc } from '../../../userspace/libc/process.js';
import { bpftoolCommand, runBpftool, runBpftoolFiles } from '../../../userspace/commands/bpftool.js';
import type { CommandIo } from '../../../userspace/commands/index.js';
import { cleanup, cli, fuseProblem, q, sh, startMount } from '../../helpers/fuse.js';

const FIX = join(__dirname, '../../fixtures/elf');
const fix = (name: string): string => join(FIX, `${name}.o`);

interface Out {
  code: number;
  out: string;
  err: string;
}

function io(): { io: CommandIo; res: () => Omit<Out, 'code'> } {
  let out = '';
  let err = '';
  return {
    io: { stdout: (s) => (out += s), stderr: (s) => (err += s), stdin: async () => '' },
    res: () => ({ out, err }),
  };
}

function setup(): { k: BootedKernel; p: Proc } {
  const k = bootKernel({ seed: 5 });
  const p = { kernel: k, task: k.tasks.spawn({ comm: 'bpftool' }) };
  for (const name of ['sockfilter_count', 'tp_signals', 'calls_globals']) k.fs.writeFileSync(`/tmp/${name}.o`, readFileSync(fix(name)));
  return { k, p };
}

async function tool(p: Proc, ...argv: string[]): Promise<Out> {
  const o = io();
  const code = await runBpftool(p, argv, o.io);
  return { code, ...o.res() };
}

async function files(k: BootedKernel, ...argv: string[]): Promise<Out> {
  const o = io();
  const code = await runBpftoolFiles(k.fs, '', argv, o.io);
  return { code, ...o.res() };
}

async function cli_(...argv: string[]): Promise<Out> {
  const o = io();
  const code = await bpftoolCommand.run(argv, o.io);
  return { code, ...o.res() };
}

const packet = (len: number): Uint8Array => {
  const b = new Uint8Array(len);
  b[12] = 0x08;
  return b;
};

/** Runs the pinned socket filter once on a packet of len bytes; its return value. */
async function runPinned(p: Proc, path: string, len: number): Promise<number> {
  const fd = await bpfObjGet(p, path);
  return (await bpfProgTestRun(p, fd, { data: packet(len) })).retval;
}

describe('bpftool prog load / loadall over bpf(2)', () => {
  it('prog load pins the program; its maps live on with it; pinmaps pins them by name', async () => {
    const { k, p } = setup();
    expect(await tool(p, 'prog', 'load', '/tmp/sockfilter_count.o', '/sys/fs/bpf/count', 'pinmaps', '/sys/fs/bpf/count_maps'))
      .toEqual({ code: 0, out: '', err: '' });
    expect((await tool(p, 'prog', 'show', 'pinned', '/sys/fs/bpf/count')).out).toMatch(/^1: socket_filter {2}name count_packets {2}tag [0-9a-f]{16} {2}gpl\n/);
    expect(await runPinned(p, '/sys/fs/bpf/count', 74)).toBe(60);
    expect((await tool(p, 'map', 'lookup', 'pinned', '/sys/fs/bpf/count_maps/counters', 'key', '1', '0', '0', '0')).out)
      .toBe('key: 01 00 00 00  value: 3c 00 00 00 00 00 00 00\n');
    expect(k.fs.readdirSync('/sys/fs/bpf')).toEqual(['count', 'count_maps']);
  });

  it('prog loadall pins every program under DIR by name; -j prints null', async () => {
    const { k, p } = setup();
    expect(await tool(p, '-j', 'prog', 'loadall', '/tmp/tp_signals.o', '/sys/fs/bpf/tp')).toEqual({ code: 0, out: 'null\n', err: '' });
    expect(k.fs.readdirSync('/sys/fs/bpf/tp').sort()).toEqual(['count_deliver', 'count_sigs']);
    const show = (await tool(p, 'prog', 'show')).out;
    expect(show).toMatch(/^1: tracepoint {2}name count_sigs .*\n.*\n.*map_ids 1\n2: tracepoint {2}name count_deliver .*\n.*\n.*map_ids 2\n$/);
  });

  it('global data and a bpf-to-bpf call through a pinned program', async () => {
    const { p } = setup();
    expect((await tool(p, 'prog', 'load', '/tmp/calls_globals.o', '/sys/fs/bpf/g', 'pinmaps', '/sys/fs/bpf/gm')).code).toBe(0);
    expect(await runPinned(p, '/sys/fs/bpf/g', 24)).toBe(100 + 10 * 3 + 1);
    expect((await tool(p, 'map', 'dump', 'pinned', '/sys/fs/bpf/gm/calls_glob.data')).out).toBe('key: 00 00 00 00  value: 83 00 00 00 00 00 00 00\nFound 1 element\n');
    expect((await tool(p, 'map', 'show', 'pinned', '/sys/fs/bpf/gm/calls_gl.rodata')).out).toMatch(/flags 0x80\n.*\n\tfrozen\n$/);
  });

  it('type TYPE overrides the section; errors say what failed', async () => {
    const { k, p } = setup();
    // a socket program loaded as sched_cls ("tc", libbpf's section name)
    expect((await tool(p, 'prog', 'load', '/tmp/sockfilter_count.o', '/sys/fs/bpf/tc', 'type', 'tc')).code).toBe(0);
    expect((await tool(p, 'prog', 'show', 'pinned', '/sys/fs/bpf/tc')).out).toMatch(/^\d+: sched_cls /);
    expect(await tool(p, 'prog', 'load', '/tmp/nope.o', '/sys/fs/bpf/x')).toEqual({
      code: 255, out: '', err: 'Error: failed to open object file /tmp/nope.o: No such file or directory\n',
    });
    k.fs.writeFileSync('/tmp/bad.o', 'not an object at all, but long enough for an ELF header to be read from it....');
    expect((await tool(p, 'prog', 'load', '/tmp/bad.o', '/sys/fs/bpf/x')).err).toBe(
      'Error: failed to open object file /tmp/bad.o: EINVAL: not an ELF file (bad magic) (at offset 0x0)\n',
    );
    expect((await tool(p, 'prog', 'load', '/tmp/sockfilter_count.o', '/sys/fs/bpf/tc')).err).toBe(
      'Error: failed to load object file /tmp/sockfilter_count.o: File exists\n',
    );
    expect((await tool(p, 'prog', 'load', '/tmp/sockfilter_count.o', '/sys/fs/bpf/y', 'type', 'frob')).err).toBe('Error: unrecognized program type: frob\n');
    // a failed load leaves no pins behind
    expect(k.fs.readdirSync('/sys/fs/bpf')).toEqual(['tc']);
  });
});

describe('bpfkern bpftool (the command: a fresh kernel, OBJ from the host)', () => {
  it('prog load and loadall succeed; a corrupt object fails with its offset', async () => {
    expect(await cli_('prog', 'load', fix('sockfilter_count'), '/sys/fs/bpf/p')).toEqual({ code: 0, out: '', err: '' });
    expect(await cli_('-j', 'prog', 'loadall', fix('tp_signals'), '/sys/fs/bpf/all', 'pinmaps', '/sys/fs/bpf/maps')).toEqual({ code: 0, out: 'null\n', err: '' });
    const dir = mkdtempSync(join(tmpdir(), 'bpfkern-elf-'));
    const bytes = readFileSync(fix('calls_globals'));
    writeFileSync(join(dir, 'short.o'), bytes.subarray(0, 100));
    const r = await cli_('prog', 'load', join(dir, 'short.o'), '/sys/fs/bpf/p');
    expect(r.code).toBe(255);
    expect(r.err).toMatch(/^Error: failed to open object file .*short\.o: EINVAL: section header table \(1984 bytes\) is past the end of the file \(100 bytes\) \(at offset 0x13a0\)\n$/);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('bpftool prog load over a kernel\'s files (the --mount backend, in process)', () => {
  it('maps through map_create + ctl, programs through prog_load maps=...; no transient pins left', async () => {
    const { k, p } = setup();
    expect(await files(k, 'prog', 'loadall', fix('calls_globals'), '/sys/fs/bpf/g', 'pinmaps', '/sys/fs/bpf/gm')).toEqual({ code: 0, out: '', err: '' });
    expect(await runPinned(p, '/sys/fs/bpf/g/calls_and_globals', 24)).toBe(131);
    expect(await runPinned(p, '/sys/fs/bpf/g/calls_and_globals', 24)).toBe(162);
    expect((await files(k, 'map', 'lookup', 'pinned', '/sys/fs/bpf/gm/calls_globa.bss', 'key', '0', '0', '0', '0')).out).toBe('key: 00 00 00 00  value: 02 00 00 00 00 00 00 00\n');
    expect((await files(k, 'map', 'show', 'pinned', '/sys/fs/bpf/gm/calls_gl.rodata')).out).toMatch(/\tfrozen\n$/);

    // without pinmaps the maps get transient pins, dropped once the program holds them
    expect(await files(k, 'prog', 'load', fix('tp_signals'), '/sys/fs/bpf/sigs')).toEqual({ code: 0, out: '', err: '' });
    expect(k.fs.readdirSync('/sys/fs/bpf').sort()).toEqual(['g', 'gm', 'sigs']);
    expect((await files(k, 'prog', 'show', 'pinned', '/sys/fs/bpf/sigs')).out).toMatch(/^\d+: tracepoint {2}name count_sigs .*\n.*\n.*map_ids \d+\n$/);
    // the license travels through prog_load (URI-encoded: "Dual BSD/GPL")
    expect((await files(k, 'prog', 'show', 'pinned', '/sys/fs/bpf/sigs')).out).toMatch(/ gpl\n/);

    // the second program of tp_signals was loaded, not pinned, and is gone again
    expect((await files(k, 'prog', 'show')).out).not.toMatch(/count_deliver/);
  });

  it('prog_load by hand: maps= and license=', () => {
    const { k } = setup();
    k.fs.writeFileSync('/sys/kernel/debug/bpfkern/map_create', '/sys/fs/bpf/m array 4 8 1 m');
    // r1 = map[0]; r0 = 0; exit
    const hex = '18110000000000000000000000000000b7000000000000009500000000000000';
    k.fs.writeFileSync('/sys/kernel/debug/bpfkern/prog_load', `/sys/fs/bpf/p socket_filter ${hex} - license=Dual%20MIT%2FGPL maps=1`);
    expect(k.fs.readFileSync('/sys/kernel/debug/bpfkern/prog_load', 'utf8')).toBe('id 1\n');
    expect(k.fs.readFileSync('/sys/kernel/debug/bpfkern/programs/1/info', 'utf8')).toMatch(/gpl\n.*map_ids 1/s);
    const bad = (line: string): void => {
      expect(() => k.fs.writeFileSync('/sys/kernel/debug/bpfkern/prog_load', line)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    };
    bad(`/sys/fs/bpf/q socket_filter ${hex} - maps=`);
    bad(`/sys/fs/bpf/q socket_filter ${hex} - frob=1`);
    bad(`/sys/fs/bpf/q socket_filter ${hex} - license=%zz`);
    bad('/sys/fs/bpf/q socket_filter b70000000000000095000000000000 x');
    expect(() => k.fs.writeFileSync('/sys/kernel/debug/bpfkern/prog_load', `/sys/fs/bpf/q socket_filter ${hex} - maps=9`))
      .toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
});

const problem = fuseProblem();
describe.skipIf(problem !== null)('bpfkern bpftool --mount prog load (FUSE)', () => {
  const base = mkdtempSync(join(tmpdir(), 'bpfkern-elfload-'));
  const mnt = join(base, 'mnt');
  let child: ChildProcess | null = null;
  beforeAll(async () => {
    child = await startMount(mnt, { workload: 'idle' });
  }, 30_000);
  afterAll(async () => {
    await cleanup(child, mnt);
    rmSync(base, { recursive: true, force: true });
  });

  it('loads a host object into the mounted kernel and pins it there', async () => {
    const bt = (args: string): ReturnType<typeof sh> => sh(`node ${q(cli)} bpftool ${args}`, 20_000);
    const r = await bt(`prog loadall ${q(fix('tp_signals'))} ${q(`${mnt}/sys/fs/bpf/tp`)} pinmaps ${q(`${mnt}/sys/fs/bpf/tpmaps`)}`);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect((await sh(`ls ${q(`${mnt}/sys/fs/bpf/tp`)}`)).stdout).toBe('count_deliver\ncount_sigs\n');
    const show = await bt(`--mount ${q(mnt)} prog show pinned /sys/fs/bpf/tp/count_sigs`);
    expect(show.stdout).toMatch(/^\d+: tracepoint {2}name count_sigs /);
    expect((await bt(`--mount ${q(mnt)} map show pinned /sys/fs/bpf/tpmaps/sig_counts`)).stdout).toMatch(/: hash {2}name sig_counts /);
  }, 30_000);
});
