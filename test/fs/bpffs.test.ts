// bpffs and debugfs's bpfkern/ files over real BPF objects made with the bpf() command
// path: reading a pin prints bpftool's text, unlink unpins (the object goes), mkdir works.
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../index.js';
import { assemble } from '../../kernel/bpf/asm.js';
import { BPF_CMD } from '../../kernel/bpf/isa.js';
import { mapById, progById } from '../../kernel/bpf/objects.js';
import { bpfCommand } from '../../kernel/bpf/syscall.js';
import { userCred } from '../../kernel/task.js';

function setup() {
  const k = bootKernel();
  const t = k.tasks.spawn({ comm: 'loader' });
  const mapFd = bpfCommand(k, t, BPF_CMD.BPF_MAP_CREATE, { map_type: 2, key_size: 4, value_size: 8, max_entries: 2, map_name: 'counts' });
  bpfCommand(k, t, BPF_CMD.BPF_MAP_UPDATE_ELEM, {
    map_fd: mapFd,
    key: new Uint8Array([1, 0, 0, 0]),
    value: new Uint8Array([7, 0, 0, 0, 0, 0, 0, 0]),
    flags: 0,
  });
  const progFd = bpfCommand(k, t, BPF_CMD.BPF_PROG_LOAD, {
    prog_type: 1,
    insns: assemble('mov %r0, 0\nexit'),
    license: 'GPL',
    prog_name: 'noop',
  });
  bpfCommand(k, t, BPF_CMD.BPF_OBJ_PIN, { bpf_fd: mapFd, pathname: '/sys/fs/bpf/counts' });
  bpfCommand(k, t, BPF_CMD.BPF_OBJ_PIN, { bpf_fd: progFd, pathname: '/sys/fs/bpf/noop' });
  t.fds.closeAll();
  return { k, t };
}

describe('bpffs', () => {
  it('lists pins and prints bpftool text for them', () => {
    const { k } = setup();
    expect(k.fs.readdirSync('/sys/fs/bpf')).toEqual(['counts', 'noop']);
    const m = k.fs.readFileSync('/sys/fs/bpf/counts', 'utf8');
    expect(m).toMatch(/^\d+: array  name counts  flags 0x0\n\tkey 4B  value 8B  max_entries 2  memlock 4096B\n\tpinned \/sys\/fs\/bpf\/counts\n/);
    expect(m).toContain('key: 00 00 00 00  value: 00 00 00 00 00 00 00 00\n');
    expect(m).toContain('key: 01 00 00 00  value: 07 00 00 00 00 00 00 00\n');
    expect(m.endsWith('Found 2 elements\n')).toBe(true);
    const p = k.fs.readFileSync('/sys/fs/bpf/noop', 'utf8');
    expect(p).toMatch(/^\d+: socket_filter  name noop  tag [0-9a-f]{16}  gpl\n/);
    expect(p).toContain('\tpinned /sys/fs/bpf/noop\n');
    expect(k.fs.statSync('/sys/fs/bpf/noop').mode & 0o777).toBe(0o600);
  });

  it('unlink unpins and frees an object nothing else holds', () => {
    const { k } = setup();
    const id = Number(/^(\d+):/.exec(k.fs.readFileSync('/sys/fs/bpf/counts', 'utf8'))![1]);
    expect(mapById(k, id)).toBeDefined();
    k.fs.unlinkSync('/sys/fs/bpf/counts');
    expect(k.fs.existsSync('/sys/fs/bpf/counts')).toBe(false);
    expect(mapById(k, id)).toBeUndefined();
  });

  it('mkdir and rmdir; ENOTEMPTY; a user gets EACCES/EPERM', () => {
    const { k } = setup();
    k.fs.mkdirSync('/sys/fs/bpf/dir');
    expect(k.fs.statSync('/sys/fs/bpf/dir').isDirectory()).toBe(true);
    expect(k.fs.readdirSync('/sys/fs/bpf')).toContain('dir');
    k.fs.rmdirSync('/sys/fs/bpf/dir');
    expect(k.fs.existsSync('/sys/fs/bpf/dir')).toBe(false);
    const user = k.fs.as(k.tasks.spawn({ comm: 'u', cred: userCred(1000) }));
    let code: string | undefined;
    try {
      user.unlinkSync('/sys/fs/bpf/noop');
    } catch (e) {
      code = (e as { code: string }).code;
    }
    expect(code).toBe('EPERM');
    try {
      user.readFileSync('/sys/fs/bpf/noop');
    } catch (e) {
      code = (e as { code: string }).code;
    }
    expect(code).toBe('EACCES');
  });
});

describe('debugfs bpfkern/', () => {
  it('programs/<id>/{info,xlated,jited} and maps/<id>/dump', () => {
    const { k } = setup();
    const [id] = k.fs.readdirSync('/sys/kernel/debug/bpfkern/programs');
    expect(progById(k, Number(id))).toBeDefined();
    const base = `/sys/kernel/debug/bpfkern/programs/${id}`;
    expect(k.fs.readdirSync(base)).toEqual(expect.arrayContaining(['info', 'jited', 'xlated']));
    expect(k.fs.readFileSync(`${base}/info`, 'utf8')).toMatch(/name noop/);
    expect(k.fs.readFileSync(`${base}/xlated`, 'utf8')).toBe('   0: (b7) r0 = 0\n   1: (95) exit\n');
    expect(k.fs.readFileSync(`${base}/jited`, 'utf8').length).toBeGreaterThan(0);
    const [mid] = k.fs.readdirSync('/sys/kernel/debug/bpfkern/maps');
    expect(k.fs.readFileSync(`/sys/kernel/debug/bpfkern/maps/${mid}/dump`, 'utf8')).toContain('Found 2 elements');
  });

  it('tracing/ is the tracefs', () => {
    const k = bootKernel();
    if (!k.fs.existsSync('/sys/kernel/tracing')) return;
    expect(k.fs.readdirSync('/sys/kernel/debug/tracing')).toEqual(k.fs.readdirSync('/sys/kernel/tracing'));
  });
});
