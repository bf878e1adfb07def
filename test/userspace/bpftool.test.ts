// `bpfkern bpftool`: bpftool's text and JSON formats over a fresh kernel set up with
// --map/--map-update/--load/--pin (see userspace/commands/bpftool.ts).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '../../dist/userspace/bin/bpfkern.js');

function bpftool(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, 'bpftool', ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// r1 = map (the first --map); r0 = 0; exit
const USES_MAP = '18110000000000000000000000000000b7000000000000009500000000000000';

describe('bpfkern bpftool', () => {
  it('prog show: header, loaded_at, xlated/jited/memlock/map_ids', () => {
    const r = bpftool(['--map', 'array:4:4:1', '--load', `${USES_MAP}:socket_filter:myprog`, 'prog', 'show']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /^1: socket_filter {2}name myprog {2}tag [0-9a-f]{16} {2}gpl\n\tloaded_at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000 {2}uid 0\n\txlated 32B {2}(jited \d+B|not jited) {2}memlock 4096B {2}map_ids 1\n$/,
    );
  });

  it('prog dump xlated prints map references by id', () => {
    const r = bpftool(['--map', 'hash:4:4:2', '--load', USES_MAP, '--pin', '/sys/fs/bpf/p', 'prog', 'dump', 'xlated', 'pinned', '/sys/fs/bpf/p']);
    expect(r.stdout).toBe('   0: (18) r1 = map[id:1]\n   2: (b7) r0 = 0\n   3: (95) exit\n');
  });

  it('map show and map dump', () => {
    const setup = ['--map', 'array:4:8:2:counts', '--map-update', '0:01000000:0102030405060708'];
    expect(bpftool([...setup, 'map', 'show']).stdout).toMatch(/^1: array {2}name counts {2}flags 0x0\n\tkey 4B {2}value 8B {2}max_entries 2 {2}memlock \d+B\n$/);
    expect(bpftool([...setup, 'map', 'dump', 'id', '1']).stdout).toBe(
      'key: 00 00 00 00  value: 00 00 00 00 00 00 00 00\nkey: 01 00 00 00  value: 01 02 03 04 05 06 07 08\nFound 2 elements\n',
    );
  });

  it('per-CPU dump prints one value per CPU', () => {
    const r = bpftool(['--map', 'percpu_hash:4:4:4', 'map', 'dump', 'id', '1']);
    expect(r.stdout).toBe('Found 0 elements\n');
  });

  it('JSON output', () => {
    const r = bpftool(['-j', '--map', 'hash:4:4:8', '--map-update', '0:2a000000:07000000', 'map', 'dump', 'id', '1']);
    expect(JSON.parse(r.stdout)).toEqual([{ key: ['0x2a', '0x00', '0x00', '0x00'], value: ['0x07', '0x00', '0x00', '0x00'] }]);
    const show = JSON.parse(bpftool(['--json', '--map', 'hash:4:4:8:m', 'map', 'show']).stdout) as unknown[];
    expect(show).toEqual([expect.objectContaining({ id: 1, type: 'hash', name: 'm', bytes_key: 4, bytes_value: 4, max_entries: 8 })]);
  });

  it('errors: unknown id exits 255 with bpftool\'s message', () => {
    const r = bpftool(['prog', 'show', 'id', '3']);
    expect(r.status).toBe(255);
    expect(r.stderr).toBe('Error: get by id (3): No such file or directory\n');
    expect(bpftool(['prog', 'show']).stdout).toBe('');
  });
});

describe('bpfkern bpftool: element commands, pin, dump jited/visual (fresh kernel)', () => {
  it('map update then lookup, getnext, delete; flags; bad input', () => {
    const m = ['--map', 'hash:4:4:4:m', '--map-update', '0:01000000:02000000'];
    expect(bpftool([...m, 'map', 'lookup', 'id', '1', 'key', 'hex', '01', '00', '00', '00']).stdout).toBe('key: 01 00 00 00  value: 02 00 00 00\n');
    const dup = bpftool([...m, 'map', 'update', 'id', '1', 'key', '1', '0', '0', '0', 'value', '0', '0', '0', '0', 'noexist']);
    expect([dup.status, dup.stderr]).toEqual([255, 'Error: update failed: File exists\n']);
    expect(bpftool([...m, 'map', 'getnext', 'id', '1']).stdout).toBe('key: None\nnext key:\n01 00 00 00\n');
    expect(bpftool([...m, 'map', 'delete', 'id', '1', 'key', '1', '0', '0', '0']).status).toBe(0);
    const miss = bpftool([...m, 'map', 'lookup', 'id', '1', 'key', '9', '0', '0', '0']);
    expect([miss.status, miss.stdout]).toEqual([255, 'key:\n09 00 00 00\n\nNot found\n']);
    expect(bpftool([...m, 'map', 'update', 'id', '1', 'key', '1', '0', '0', '0']).stderr).toBe('Error: did not find value\n');
    expect(JSON.parse(bpftool(['-j', ...m, 'map', 'delete', 'id', '1', 'key', '1', '0', '0', '0']).stdout)).toBeNull();
  });

  it('prog pin, prog dump xlated visual and jited', () => {
    const r = bpftool(['--load', 'b7000000000000009500000000000000', 'prog', 'pin', 'id', '1', '/sys/fs/bpf/x']);
    expect(r.status).toBe(0);
    const dot = bpftool(['--load', 'b7000000000000009500000000000000', 'prog', 'dump', 'xlated', 'id', '1', 'visual']).stdout;
    expect(dot).toContain('digraph "DOT graph for eBPF program" {\nsubgraph "cluster_0" {');
    expect(dot).toContain('\tfn_0_bb_2 [shape=record,style=filled,label="{0: (b7) r0 = 0\\l\\\n| 1: (95) exit\\l\\\n}"];');
    const jited = bpftool(['--load', 'b7000000000000009500000000000000', 'prog', 'dump', 'jited', 'id', '1']);
    expect(jited.status).toBe(0);
    expect(jited.stdout).toMatch(/\(module|no instructions returned/);
  });

  it('--mount on a directory that is not a bpfkern mount is an error', () => {
    const r = bpftool(['--mount', '/tmp', 'map', 'show']);
    expect(r.status).toBe(255);
    expect(r.stderr).toMatch(/^Error: \/tmp is not a bpfkern mount/);
  });
});
