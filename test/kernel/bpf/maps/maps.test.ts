// Map semantics through the bpf() commands (kernel/bpf/syscall.ts bpfCommand) and the
// kernel-side ring buffer / perf buffer APIs. Create-time errnos marked "host" were
// checked on Linux 6.18 with the oracle's `ebpf-run --map TYPE:KS:VS:MAX`.
import { describe, expect, it } from 'vitest';
import { KernelError, type ErrnoName } from '../../../../kernel/errno.js';
import { Kernel } from '../../../../kernel/kernel.js';
import { BPF_ANY, BPF_CMD, BPF_EXIST, BPF_MAP_TYPE as T, BPF_NOEXIST } from '../../../../kernel/bpf/isa.js';
import { bpfCommand, type BpfAttr } from '../../../../kernel/bpf/syscall.js';
import { mapById, mapFromFd, progById } from '../../../../kernel/bpf/objects.js';
import { registerNetProgTypes } from '../../../../subsystems/net/progtypes.js';
import { ringbufCommit, ringbufDrain, ringbufQuery, ringbufReserve } from '../../../../kernel/bpf/maps/ringbuf.js';
import { perfEventOutput, perfEventRead } from '../../../../kernel/bpf/maps/perf_event_array.js';
import type { Task } from '../../../../kernel/task.js';

function setup(ncpus = 2): { kernel: Kernel; task: Task; cmd: (c: number, a: BpfAttr) => number } {
  const kernel = new Kernel({ ncpus });
  const task = kernel.tasks.spawn({ comm: 'test' });
  return { kernel, task, cmd: (c, a) => kernel.tasks.runAs(task, () => bpfCommand(kernel, task, c, a)) };
}

function errnoOf(fn: () => unknown): ErrnoName | null {
  try {
    fn();
    return null;
  } catch (e) {
    if (e instanceof KernelError) return e.errno;
    throw e;
  }
}

const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);

describe('map create checks', () => {
  // [type, key, value, max, flags, errno]
  const cases: [string, number, number, number, number, number, ErrnoName | null][] = [
    ['array ok (host)', T.BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0, null],
    ['array key 8 (host)', T.BPF_MAP_TYPE_ARRAY, 8, 4, 1, 0, 'EINVAL'],
    ['array value 0 (host)', T.BPF_MAP_TYPE_ARRAY, 4, 0, 1, 0, 'EINVAL'],
    ['array max 0 (host)', T.BPF_MAP_TYPE_ARRAY, 4, 4, 0, 0, 'EINVAL'],
    ['array unknown flag', T.BPF_MAP_TYPE_ARRAY, 4, 4, 1, 1 << 20, 'EINVAL'],
    ['array rdonly|wronly', T.BPF_MAP_TYPE_ARRAY, 4, 4, 1, (1 << 3) | (1 << 4), 'EINVAL'],
    ['array huge (host: ENOMEM)', T.BPF_MAP_TYPE_ARRAY, 4, 4, 0xffffffff, 0, 'ENOMEM'],
    ['percpu_array value 32768 (host)', T.BPF_MAP_TYPE_PERCPU_ARRAY, 4, 32768, 1, 0, null],
    ['percpu_array value 32769 (host)', T.BPF_MAP_TYPE_PERCPU_ARRAY, 4, 32769, 1, 0, 'E2BIG'],
    ['hash key 0 (host)', T.BPF_MAP_TYPE_HASH, 0, 4, 1, 0, 'EINVAL'],
    ['hash value 0 (host)', T.BPF_MAP_TYPE_HASH, 4, 0, 1, 0, 'EINVAL'],
    ['hash max 0 (host)', T.BPF_MAP_TYPE_HASH, 4, 4, 0, 0, 'EINVAL'],
    ['hash key 513 (host)', T.BPF_MAP_TYPE_HASH, 513, 4, 1, 0, null],
    ['hash k+v = KMALLOC_MAX - 49 (host)', T.BPF_MAP_TYPE_HASH, 4, 4194251, 1, 0, null],
    ['hash k+v = KMALLOC_MAX - 48 (host)', T.BPF_MAP_TYPE_HASH, 4, 4194252, 1, 0, 'E2BIG'],
    ['hash NO_COMMON_LRU without LRU', T.BPF_MAP_TYPE_HASH, 4, 4, 1, 2, 'EINVAL'],
    ['percpu_hash value 32769 (host)', T.BPF_MAP_TYPE_PERCPU_HASH, 4, 32769, 1, 0, 'E2BIG'],
    ['lru_hash max 0 (host)', T.BPF_MAP_TYPE_LRU_HASH, 4, 4, 0, 0, 'EINVAL'],
    ['lru_hash NO_PREALLOC', T.BPF_MAP_TYPE_LRU_HASH, 4, 4, 1, 1, 'ENOTSUPP'],
    ['lru_hash key 0 (host)', T.BPF_MAP_TYPE_LRU_HASH, 0, 4, 1, 0, 'EINVAL'],
    ['prog_array ok (host)', T.BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 1, 0, null],
    ['prog_array value 8 (host)', T.BPF_MAP_TYPE_PROG_ARRAY, 4, 8, 1, 0, 'EINVAL'],
    ['prog_array key 8 (host)', T.BPF_MAP_TYPE_PROG_ARRAY, 8, 4, 1, 0, 'EINVAL'],
    ['perf_event_array ok (host)', T.BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 1, 0, null],
    ['perf_event_array value 8 (host)', T.BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 8, 1, 0, 'EINVAL'],
    ['perf_event_array max 0 (host)', T.BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 0, 0, 'EINVAL'],
    ['ringbuf 4096 (host)', T.BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, 0, null],
    ['ringbuf 8192 (host)', T.BPF_MAP_TYPE_RINGBUF, 0, 0, 8192, 0, null],
    ['ringbuf 4097 (host)', T.BPF_MAP_TYPE_RINGBUF, 0, 0, 4097, 0, 'EINVAL'],
    ['ringbuf 12288 not a power of 2 (host)', T.BPF_MAP_TYPE_RINGBUF, 0, 0, 12288, 0, 'EINVAL'],
    ['ringbuf 2048 below a page (host)', T.BPF_MAP_TYPE_RINGBUF, 0, 0, 2048, 0, 'EINVAL'],
    ['ringbuf key 4 (host)', T.BPF_MAP_TYPE_RINGBUF, 4, 0, 4096, 0, 'EINVAL'],
    ['unimplemented type (lpm_trie)', T.BPF_MAP_TYPE_LPM_TRIE, 8, 4, 1, 1, 'EINVAL'],
    ['unknown type', 999, 4, 4, 1, 0, 'EINVAL'],
  ];
  it.each(cases)('%s', (_name, type, key, value, max, flags, want) => {
    const { cmd } = setup();
    const got = errnoOf(() =>
      cmd(BPF_CMD.BPF_MAP_CREATE, { map_type: type, key_size: key, value_size: value, max_entries: max, map_flags: flags }),
    );
    expect(got).toBe(want);
  });

  it.each([
    ['counts', null],
    ['a.b_c', null],
    ['bad-name', 'EINVAL'],
    ['sixteen_chars_xx', 'EINVAL'],
  ] as const)('map name %s', (name, want) => {
    const { cmd } = setup();
    expect(
      errnoOf(() => cmd(BPF_CMD.BPF_MAP_CREATE, { map_type: T.BPF_MAP_TYPE_ARRAY, key_size: 4, value_size: 4, max_entries: 1, map_name: name })),
    ).toBe(want);
  });
});

function mkMap(cmd: (c: number, a: BpfAttr) => number, type: number, ks: number, vs: number, max: number, flags = 0): number {
  return cmd(BPF_CMD.BPF_MAP_CREATE, { map_type: type, key_size: ks, value_size: vs, max_entries: max, map_flags: flags });
}

describe('element operations', () => {
  // [description, map type, steps]; each step: [op, key, value|null, flags, errno]
  type Step = ['update' | 'lookup' | 'delete', number, number | null, number, ErrnoName | null];
  const cases: [string, number, number, Step[]][] = [
    ['array: BPF_ANY, lookup', T.BPF_MAP_TYPE_ARRAY, 4, [['update', 1, 7, BPF_ANY, null], ['lookup', 1, 7, 0, null]]],
    ['array: NOEXIST is EEXIST', T.BPF_MAP_TYPE_ARRAY, 4, [['update', 0, 1, BPF_NOEXIST, 'EEXIST']]],
    ['array: EXIST works', T.BPF_MAP_TYPE_ARRAY, 4, [['update', 0, 9, BPF_EXIST, null], ['lookup', 0, 9, 0, null]]],
    ['array: out of range update is E2BIG', T.BPF_MAP_TYPE_ARRAY, 4, [['update', 4, 1, BPF_ANY, 'E2BIG']]],
    ['array: out of range lookup is ENOENT', T.BPF_MAP_TYPE_ARRAY, 4, [['lookup', 4, null, 0, 'ENOENT']]],
    ['array: delete is EINVAL', T.BPF_MAP_TYPE_ARRAY, 4, [['delete', 0, null, 0, 'EINVAL']]],
    ['array: bad flags', T.BPF_MAP_TYPE_ARRAY, 4, [['update', 0, 1, 3, 'EINVAL']]],
    ['array: BPF_F_LOCK without spin lock', T.BPF_MAP_TYPE_ARRAY, 4, [['update', 0, 1, 4, 'EINVAL']]],
    ['array: zero-initialised', T.BPF_MAP_TYPE_ARRAY, 4, [['lookup', 3, 0, 0, null]]],
    ['hash: absent lookup', T.BPF_MAP_TYPE_HASH, 2, [['lookup', 5, null, 0, 'ENOENT']]],
    ['hash: EXIST on absent is ENOENT', T.BPF_MAP_TYPE_HASH, 2, [['update', 5, 1, BPF_EXIST, 'ENOENT']]],
    [
      'hash: NOEXIST on present is EEXIST',
      T.BPF_MAP_TYPE_HASH,
      2,
      [['update', 5, 1, BPF_NOEXIST, null], ['update', 5, 2, BPF_NOEXIST, 'EEXIST'], ['lookup', 5, 1, 0, null]],
    ],
    [
      'hash: full is E2BIG, replacing is fine',
      T.BPF_MAP_TYPE_HASH,
      2,
      [['update', 1, 1, BPF_ANY, null], ['update', 2, 2, BPF_ANY, null], ['update', 3, 3, BPF_ANY, 'E2BIG'], ['update', 2, 5, BPF_ANY, null]],
    ],
    [
      'hash: delete then absent',
      T.BPF_MAP_TYPE_HASH,
      2,
      [['update', 1, 1, BPF_ANY, null], ['delete', 1, null, 0, null], ['delete', 1, null, 0, 'ENOENT'], ['lookup', 1, null, 0, 'ENOENT']],
    ],
    [
      'lru_hash: full evicts the least recently used',
      T.BPF_MAP_TYPE_LRU_HASH,
      2,
      [['update', 1, 1, BPF_ANY, null], ['update', 2, 2, BPF_ANY, null], ['update', 1, 10, BPF_ANY, null], ['update', 3, 3, BPF_ANY, null], ['lookup', 2, null, 0, 'ENOENT'], ['lookup', 1, 10, 0, null], ['lookup', 3, 3, 0, null]],
    ],
  ];
  it.each(cases)('%s', (_name, type, max, steps) => {
    const { cmd } = setup();
    const fd = mkMap(cmd, type, 4, 4, max);
    for (const [op, key, value, flags, want] of steps) {
      if (op === 'update') {
        expect(errnoOf(() => cmd(BPF_CMD.BPF_MAP_UPDATE_ELEM, { map_fd: fd, key: u32(key), value: u32(value!), flags }))).toBe(want);
      } else if (op === 'delete') {
        expect(errnoOf(() => cmd(BPF_CMD.BPF_MAP_DELETE_ELEM, { map_fd: fd, key: u32(key) }))).toBe(want);
      } else {
        const out = new Uint8Array(4);
        expect(errnoOf(() => cmd(BPF_CMD.BPF_MAP_LOOKUP_ELEM, { map_fd: fd, key: u32(key), value: out }))).toBe(want);
        if (want === null) expect(new Uint32Array(out.buffer)[0]).toBe(value);
      }
    }
  });
});

describe('get_next_key', () => {
  function walk(cmd: (c: number, a: BpfAttr) => number, fd: number, start: number | null): number[] {
    const keys: number[] = [];
    let key = start === null ? null : u32(start);
    for (;;) {
      const next = new Uint8Array(4);
      if (errnoOf(() => cmd(BPF_CMD.BPF_MAP_GET_NEXT_KEY, { map_fd: fd, key, next_key: next })) === 'ENOENT') return keys;
      keys.push(new Uint32Array(next.buffer)[0]!);
      key = next;
    }
  }
  it('array: 0..max-1; a missing or out-of-range key restarts at 0', () => {
    const { cmd } = setup();
    const fd = mkMap(cmd, T.BPF_MAP_TYPE_ARRAY, 4, 4, 3);
    expect(walk(cmd, fd, null)).toEqual([0, 1, 2]);
    expect(walk(cmd, fd, 1)).toEqual([2]);
    expect(walk(cmd, fd, 99)).toEqual([0, 1, 2]);
  });
  it('hash: every key once, in insertion order; an absent key restarts', () => {
    const { cmd } = setup();
    const fd = mkMap(cmd, T.BPF_MAP_TYPE_HASH, 4, 4, 8);
    for (const k of [30, 10, 20]) cmd(BPF_CMD.BPF_MAP_UPDATE_ELEM, { map_fd: fd, key: u32(k), value: u32(k), flags: 0 });
    expect(walk(cmd, fd, null)).toEqual([30, 10, 20]);
    expect(walk(cmd, fd, 10)).toEqual([20]);
    expect(walk(cmd, fd, 77)).toEqual([30, 10, 20]);
  });
});

describe('per-CPU maps', () => {
  it.each([T.BPF_MAP_TYPE_PERCPU_ARRAY, T.BPF_MAP_TYPE_PERCPU_HASH])('type %i: syscall sees every CPU, each value rounded up to 8', (type) => {
    const { kernel, task, cmd } = setup(3);
    const fd = mkMap(cmd, type, 4, 4, 4);
    // value_size 4 rounds up to 8 per CPU: 3 CPUs * 8 bytes
    const all = new Uint8Array(24);
    new DataView(all.buffer).setUint32(0, 11, true);
    new DataView(all.buffer).setUint32(8, 22, true);
    new DataView(all.buffer).setUint32(16, 33, true);
    cmd(BPF_CMD.BPF_MAP_UPDATE_ELEM, { map_fd: fd, key: u32(1), value: all, flags: 0 });
    expect(errnoOf(() => cmd(BPF_CMD.BPF_MAP_LOOKUP_ELEM, { map_fd: fd, key: u32(1), value: new Uint8Array(4) }))).toBe('EFAULT');
    const out = new Uint8Array(24);
    cmd(BPF_CMD.BPF_MAP_LOOKUP_ELEM, { map_fd: fd, key: u32(1), value: out });
    expect(Array.from(new Uint32Array(out.buffer))).toEqual([11, 0, 22, 0, 33, 0]);
    // a program on CPU 2 sees CPU 2's value
    const map = mapFromFd(task, fd);
    const k = kernel.mem.alloc(4);
    kernel.mem.write(k, u32(1));
    expect(kernel.mem.dv.getUint32(map.impl.lookup(k, 2), true)).toBe(33);
  });
});

describe('read-only and frozen maps', () => {
  it('BPF_F_RDONLY refuses syscall writes with EPERM; FREEZE refuses later updates', () => {
    const { cmd } = setup();
    const ro = mkMap(cmd, T.BPF_MAP_TYPE_ARRAY, 4, 4, 1, 1 << 3);
    expect(errnoOf(() => cmd(BPF_CMD.BPF_MAP_UPDATE_ELEM, { map_fd: ro, key: u32(0), value: u32(1), flags: 0 }))).toBe('EPERM');
    const fd = mkMap(cmd, T.BPF_MAP_TYPE_ARRAY, 4, 4, 1);
    cmd(BPF_CMD.BPF_MAP_FREEZE, { map_fd: fd });
    expect(errnoOf(() => cmd(BPF_CMD.BPF_MAP_UPDATE_ELEM, { map_fd: fd, key: u32(0), value: u32(1), flags: 0 }))).toBe('EPERM');
    expect(errnoOf(() => cmd(BPF_CMD.BPF_MAP_FREEZE, { map_fd: fd }))).toBe('EBUSY');
  });
});

describe('ringbuf', () => {
  it('reserve/submit/discard/output/query and userspace consumption, across the wrap', () => {
    const { kernel, task, cmd } = setup();
    const fd = mkMap(cmd, T.BPF_MAP_TYPE_RINGBUF, 0, 0, 4096);
    const map = mapFromFd(task, fd);
    expect(errnoOf(() => cmd(BPF_CMD.BPF_MAP_LOOKUP_ELEM, { map_fd: fd, key: new Uint8Array(0), value: new Uint8Array(0) }))).toBe('ENOTSUPP');
    const a = ringbufReserve(map, 5);
    kernel.mem.write(a, new Uint8Array([1, 2, 3, 4, 5]));
    const b = ringbufReserve(map, 3);
    expect(ringbufQuery(map, 0)).toBe(32n); // (8 + 8) + (8 + 8) bytes outstanding
    expect(ringbufDrain(map)).toEqual([]); // a is still busy
    ringbufCommit(kernel, b, true, 0);
    ringbufCommit(kernel, a, false, 0);
    expect(ringbufDrain(map).map((s) => Array.from(s))).toEqual([[1, 2, 3, 4, 5]]);
    expect(ringbufQuery(map, 1)).toBe(4096n);
    // fill to near the end so that the next record wraps
    for (let i = 0; i < 15; i++) {
      const r = ringbufReserve(map, 248);
      ringbufCommit(kernel, r, true, 0);
    }
    ringbufDrain(map);
    const big = ringbufReserve(map, 100);
    expect(big).toBeGreaterThan(0);
    const data = Uint8Array.from({ length: 100 }, (_, i) => i);
    kernel.mem.write(big, data);
    ringbufCommit(kernel, big, false, 0);
    expect(Array.from(ringbufDrain(map)[0]!)).toEqual(Array.from(data));
    expect(ringbufReserve(map, 4096)).toBe(-1); // larger than the ring
  });
});

describe('perf_event_array', () => {
  it('samples go to the slot userspace opened; empty slot ENOENT, out of range E2BIG', () => {
    const { task, cmd } = setup();
    const fd = mkMap(cmd, T.BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 2);
    const map = mapFromFd(task, fd);
    expect(perfEventOutput(map, 0, new Uint8Array([1]))).toBe(-2);
    cmd(BPF_CMD.BPF_MAP_UPDATE_ELEM, { map_fd: fd, key: u32(0), value: u32(99), flags: 0 });
    expect(perfEventOutput(map, 0, new Uint8Array([1, 2]))).toBe(0);
    expect(perfEventOutput(map, 5, new Uint8Array([1]))).toBe(-7);
    expect(perfEventRead(map, 0).samples.map((s) => Array.from(s))).toEqual([[1, 2]]);
    expect(perfEventRead(map, 0).samples).toEqual([]);
  });
});

describe('prog_array', () => {
  it('holds program fds, answers ids, and keeps the program alive', () => {
    const { kernel, task, cmd } = setup();
    registerNetProgTypes(kernel);
    const progFd = cmd(BPF_CMD.BPF_PROG_LOAD, {
      prog_type: 1,
      insns: new Uint8Array([0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]),
      license: 'GPL',
    });
    const fd = mkMap(cmd, T.BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 2);
    expect(errnoOf(() => cmd(BPF_CMD.BPF_MAP_UPDATE_ELEM, { map_fd: fd, key: u32(0), value: u32(progFd), flags: BPF_NOEXIST }))).toBe('EINVAL');
    expect(errnoOf(() => cmd(BPF_CMD.BPF_MAP_UPDATE_ELEM, { map_fd: fd, key: u32(2), value: u32(progFd), flags: 0 }))).toBe('E2BIG');
    expect(errnoOf(() => cmd(BPF_CMD.BPF_MAP_UPDATE_ELEM, { map_fd: fd, key: u32(0), value: u32(fd), flags: 0 }))).toBe('EINVAL');
    cmd(BPF_CMD.BPF_MAP_UPDATE_ELEM, { map_fd: fd, key: u32(0), value: u32(progFd), flags: 0 });
    const id = new Uint8Array(4);
    cmd(BPF_CMD.BPF_MAP_LOOKUP_ELEM, { map_fd: fd, key: u32(0), value: id });
    const progId = new Uint32Array(id.buffer)[0]!;
    expect(progById(kernel, progId)).toBeDefined();
    expect(errnoOf(() => cmd(BPF_CMD.BPF_MAP_LOOKUP_ELEM, { map_fd: fd, key: u32(1), value: id }))).toBe('ENOENT');
    task.fds.close(progFd);
    expect(progById(kernel, progId)).toBeDefined(); // the slot holds it
    cmd(BPF_CMD.BPF_MAP_DELETE_ELEM, { map_fd: fd, key: u32(0) });
    expect(progById(kernel, progId)).toBeUndefined();
    expect(errnoOf(() => cmd(BPF_CMD.BPF_MAP_DELETE_ELEM, { map_fd: fd, key: u32(0) }))).toBe('ENOENT');
  });
});

describe('memory', () => {
  it('closing the last fd frees the map and returns its memory', () => {
    const { kernel, task, cmd } = setup();
    const before = kernel.mem.used;
    const fd = mkMap(cmd, T.BPF_MAP_TYPE_HASH, 4, 64, 16);
    for (let k = 0; k < 10; k++) cmd(BPF_CMD.BPF_MAP_UPDATE_ELEM, { map_fd: fd, key: u32(k), value: new Uint8Array(64), flags: 0 });
    expect(kernel.mem.used).toBeGreaterThan(before);
    const id = mapFromFd(task, fd).id;
    task.fds.close(fd);
    expect(kernel.mem.used).toBe(before);
    expect(mapById(kernel, id)).toBeUndefined();
  });
});
