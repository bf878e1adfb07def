// bpftool over a kernel's files (what `bpfkern bpftool --mount DIR` does on a FUSE mount),
// in process through kernel.fs: debugfs's bpfkern/{programs,maps}/<id>/{info.json,ctl,pin,
// jited} and the bpffs pins. Also the same files read and written directly.
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../index.js';
import { assemble } from '../../kernel/bpf/asm.js';
import { BPF_CMD, BPF_MAP_TYPE } from '../../kernel/bpf/isa.js';
import { bpfCommand } from '../../kernel/bpf/syscall.js';
import { userCred } from '../../kernel/task.js';
import { runBpftoolFiles } from '../../userspace/commands/bpftool.js';

function setup() {
  const k = bootKernel();
  const t = k.tasks.spawn({ comm: 'loader' });
  const mapFd = bpfCommand(k, t, BPF_CMD.BPF_MAP_CREATE, {
    map_type: BPF_MAP_TYPE.BPF_MAP_TYPE_HASH, key_size: 4, value_size: 4, max_entries: 8, map_name: 'counts',
  });
  const pcpu = bpfCommand(k, t, BPF_CMD.BPF_MAP_CREATE, {
    map_type: BPF_MAP_TYPE.BPF_MAP_TYPE_PERCPU_ARRAY, key_size: 4, value_size: 4, max_entries: 1, map_name: 'pcpu',
  });
  const progFd = bpfCommand(k, t, BPF_CMD.BPF_PROG_LOAD, {
    prog_type: 1,
    insns: assemble('mov %r0, 0\njeq %r1, 0, +1\nmov %r0, 1\nexit'),
    license: 'GPL',
    prog_name: 'branchy',
  });
  bpfCommand(k, t, BPF_CMD.BPF_OBJ_PIN, { bpf_fd: mapFd, pathname: '/sys/fs/bpf/counts' });
  void pcpu;
  void progFd;
  // keep the fds open: the objects live while the loader holds them
  return { k, t };
}

async function tool(k: ReturnType<typeof bootKernel>, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runBpftoolFiles(k.fs, '', argv, {
    stdout: (s) => (out += s),
    stderr: (s) => (err += s),
    stdin: async () => '',
  });
  return { code, out, err };
}

describe('bpftool over kernel.fs files', () => {
  it('map update / lookup / dump / delete with bpftool syntax and output', async () => {
    const { k } = setup();
    expect(await tool(k, 'map', 'update', 'pinned', '/sys/fs/bpf/counts', 'key', '1', '0', '0', '0', 'value', 'hex', '2a', '00', '00', '00')).toEqual({ code: 0, out: '', err: '' });
    expect((await tool(k, 'map', 'lookup', 'id', '1', 'key', '1', '0', '0', '0')).out).toBe('key: 01 00 00 00  value: 2a 00 00 00\n');
    expect((await tool(k, 'map', 'dump', 'name', 'counts')).out).toBe('key: 01 00 00 00  value: 2a 00 00 00\nFound 1 element\n');
    // noexist on an existing key: EEXIST from the kernel, bpftool's message
    const dup = await tool(k, 'map', 'update', 'id', '1', 'key', '1', '0', '0', '0', 'value', '0', '0', '0', '0', 'noexist');
    expect(dup.code).toBe(255);
    expect(dup.err).toBe('Error: update failed: File exists\n');
    expect((await tool(k, 'map', 'delete', 'id', '1', 'key', '1', '0', '0', '0')).code).toBe(0);
    const miss = await tool(k, 'map', 'lookup', 'id', '1', 'key', '1', '0', '0', '0');
    expect(miss).toEqual({ code: 255, out: 'key:\n01 00 00 00\n\nNot found\n', err: '' });
    expect((await tool(k, 'map', 'delete', 'id', '1', 'key', '1', '0', '0', '0')).err).toBe('Error: delete failed: No such file or directory\n');
    expect((await tool(k, 'map', 'lookup', 'id', '1', 'key', '1', '0')).err).toBe('Error: key expected 4 bytes got 2\n');
    expect((await tool(k, 'map', 'lookup', 'id', '1', 'key', 'zz', '0', '0', '0')).err).toBe('Error: error parsing byte: zz\n');
  });

  it('JSON: show, lookup, update (null), getnext, and errors', async () => {
    const { k } = setup();
    expect(JSON.parse((await tool(k, '-j', 'map', 'update', 'id', '1', 'key', '2', '0', '0', '0', 'value', '3', '0', '0', '0')).out)).toBeNull();
    expect(JSON.parse((await tool(k, '-j', 'map', 'lookup', 'id', '1', 'key', '2', '0', '0', '0')).out)).toEqual({
      key: ['0x02', '0x00', '0x00', '0x00'],
      value: ['0x03', '0x00', '0x00', '0x00'],
    });
    expect(JSON.parse((await tool(k, '-j', 'map', 'getnext', 'id', '1')).out)).toEqual({ next_key: ['0x02', '0x00', '0x00', '0x00'] });
    const shown = JSON.parse((await tool(k, '-j', 'map', 'show', 'id', '1')).out) as Record<string, unknown>;
    expect(shown).toMatchObject({ id: 1, type: 'hash', name: 'counts', bytes_key: 4, bytes_value: 4, max_entries: 8 });
    const pretty = await tool(k, '-p', 'map', 'show', 'id', '1');
    expect(pretty.out).toContain('\n    "id": 1,');
    expect(JSON.parse((await tool(k, '-j', 'map', 'show', 'id', '9')).out)).toEqual({ error: 'get by id (9): No such file or directory' });
  });

  it('per-CPU maps: one value in, every CPU out', async () => {
    const { k } = setup();
    expect((await tool(k, 'map', 'update', 'name', 'pcpu', 'key', '0', '0', '0', '0', 'value', '5', '0', '0', '0')).code).toBe(0);
    const out = (await tool(k, 'map', 'lookup', 'id', '2', 'key', '0', '0', '0', '0')).out;
    expect(out.startsWith('key:\n00 00 00 00\nvalue (CPU 00): 05 00 00 00\n')).toBe(true);
    expect(out.split('\n').filter((l) => l.startsWith('value (CPU')).length).toBe(k.ncpus);
  });

  it('prog show / dump xlated / visual / jited / pin', async () => {
    const { k } = setup();
    expect((await tool(k, 'prog', 'show')).out).toMatch(/^1: socket_filter {2}name branchy {2}tag [0-9a-f]{16} {2}gpl\n\tloaded_at /);
    expect((await tool(k, 'prog', 'dump', 'xlated', 'id', '1')).out).toBe(
      '   0: (b7) r0 = 0\n   1: (15) if r1 == 0x0 goto pc+1\n   2: (b7) r0 = 1\n   3: (95) exit\n',
    );
    expect(JSON.parse((await tool(k, '-j', 'prog', 'dump', 'xlated', 'id', '1')).out)).toEqual([
      { disasm: '(b7) r0 = 0' }, { disasm: '(15) if r1 == 0x0 goto pc+1' }, { disasm: '(b7) r0 = 1' }, { disasm: '(95) exit' },
    ]);
    const dot = (await tool(k, 'prog', 'dump', 'xlated', 'name', 'branchy', 'visual')).out;
    expect(dot).toBe(
      [
        'digraph "DOT graph for eBPF program" {',
        'subgraph "cluster_0" {',
        '\tstyle="dashed";',
        '\tcolor="black";',
        '\tlabel="func_0 ()";',
        '\tfn_0_bb_0 [shape=Mdiamond,style=filled,label="ENTRY"];',
        '',
        '\tfn_0_bb_2 [shape=record,style=filled,label="{0: (b7) r0 = 0\\l\\',
        '| 1: (15) if r1 == 0x0 goto pc+1\\l\\',
        '}"];',
        '',
        '\tfn_0_bb_3 [shape=record,style=filled,label="{2: (b7) r0 = 1\\l\\',
        '}"];',
        '',
        '\tfn_0_bb_4 [shape=record,style=filled,label="{3: (95) exit\\l\\',
        '}"];',
        '',
        '\tfn_0_bb_1 [shape=Mdiamond,style=filled,label="EXIT"];',
        '',
        '\tfn_0_bb_0:s -> fn_0_bb_2:n [style="solid,bold", color=black, weight=10, constraint=true];',
        '\tfn_0_bb_2:s -> fn_0_bb_3:n [style="solid,bold", color=black, weight=10, constraint=true];',
        '\tfn_0_bb_2:s -> fn_0_bb_4:n [style="solid,bold", color=black, weight=10, constraint=true];',
        '\tfn_0_bb_3:s -> fn_0_bb_4:n [style="solid,bold", color=black, weight=10, constraint=true];',
        '\tfn_0_bb_4:s -> fn_0_bb_1:n [style="solid,bold", color=black, weight=10, constraint=true];',
        '\tfn_0_bb_0:s -> fn_0_bb_1:n [style="invis", constraint=true];',
        '}',
        '}',
        '',
      ].join('\n'),
    );
    const jited = await tool(k, 'prog', 'dump', 'jited', 'id', '1');
    if (k.sysctl.bpfJitEnable) expect(jited.out).toMatch(/;; 0: /);
    expect((await tool(k, 'prog', 'pin', 'id', '1', '/sys/fs/bpf/branchy')).code).toBe(0);
    expect(k.fs.readFileSync('/sys/fs/bpf/branchy', 'utf8')).toMatch(/^1: socket_filter {2}name branchy/);
    expect((await tool(k, 'prog', 'show', 'pinned', '/sys/fs/bpf/branchy')).out).toMatch(/^1: socket_filter/);
    expect((await tool(k, 'map', 'show', 'pinned', '/sys/fs/bpf/branchy')).err).toBe('Error: incorrect object type: prog\n');
    expect((await tool(k, 'prog', 'pin', 'id', '1', '/sys/fs/bpf/branchy')).err).toBe(
      "Error: can't pin the object (/sys/fs/bpf/branchy): File exists\n",
    );
    expect((await tool(k, 'prog', 'show', 'pinned', '/sys/fs/bpf/nope')).err).toBe('Error: bpf obj get (/sys/fs/bpf/nope): No such file or directory\n');
  });

  it('the control files by hand: ctl answers on the same open file and after a fresh open', () => {
    const { k } = setup();
    const ctl = '/sys/kernel/debug/bpfkern/maps/1/ctl';
    k.fs.writeFileSync(ctl, 'update 07000000 08000000 noexist');
    expect(k.fs.readFileSync(ctl, 'utf8')).toBe('ok\n');
    const fd = k.fs.openSync(ctl, 'r+');
    k.fs.writeSync(fd, 'lookup 07000000');
    const buf = new Uint8Array(100);
    const n = k.fs.readSync(fd, buf, 0, 100, 0);
    k.fs.closeSync(fd);
    expect(Buffer.from(buf.subarray(0, n)).toString()).toBe('value 08000000\n');
    expect(() => k.fs.writeFileSync(ctl, 'lookup 09000000')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(() => k.fs.writeFileSync(ctl, 'lookup 0900')).toThrow(expect.objectContaining({ code: 'EFAULT' }));
    expect(() => k.fs.writeFileSync(ctl, 'frobnicate')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(JSON.parse(k.fs.readFileSync('/sys/kernel/debug/bpfkern/maps/1/info.json', 'utf8'))).toMatchObject({
      id: 1, key_size: 4, value_size: 4, pinned: ['/sys/fs/bpf/counts'],
    });
    // a non-root task is refused (debugfs is root-only; bpf() would want CAP_SYS_ADMIN too)
    const user = k.tasks.spawn({ comm: 'user', cred: userCred(1000) });
    expect(() => k.fs.as(user).writeFileSync(ctl, 'lookup 07000000')).toThrow();
  });

  it('map create through map_create, prog_load by hand', async () => {
    const { k } = setup();
    expect((await tool(k, 'map', 'create', '/sys/fs/bpf/new', 'type', 'array', 'key', '4', 'value', '8', 'entries', '2', 'name', 'fresh')).code).toBe(0);
    expect((await tool(k, 'map', 'show', 'pinned', '/sys/fs/bpf/new')).out).toMatch(/^3: array {2}name fresh {2}flags 0x0\n/);
    expect((await tool(k, 'map', 'create', '/sys/fs/bpf/new', 'type', 'array', 'key', '4', 'value', '8', 'entries', '2', 'name', 'x')).err).toBe(
      'Error: map create failed: File exists\n',
    );
    k.fs.writeFileSync('/sys/kernel/debug/bpfkern/prog_load', '/sys/fs/bpf/p socket_filter b7000000000000009500000000000000 tiny');
    expect(k.fs.readFileSync('/sys/kernel/debug/bpfkern/prog_load', 'utf8')).toBe('id 2\n');
    expect((await tool(k, 'prog', 'dump', 'xlated', 'pinned', '/sys/fs/bpf/p')).out).toBe('   0: (b7) r0 = 0\n   1: (95) exit\n');
  });
});
