// bpf(2) commands through the syscall entry: errnos in Linux's order, privilege, the
// verifier log buffer, pins, ids, info and BPF_PROG_TEST_RUN for socket_filter/sched_cls.
// Values marked "host" were checked on Linux 6.18 with the oracle's ebpf-run.
import { describe, expect, it } from 'vitest';
import { errnoNumber, type ErrnoName } from '../../../kernel/errno.js';
import { Kernel } from '../../../kernel/kernel.js';
import { BPF_CMD, BPF_MAP_TYPE as T, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE, insn, parseHexBytes } from '../../../kernel/bpf/isa.js';
import { registerBpfSyscall, type BpfAttr } from '../../../kernel/bpf/syscall.js';
import { registerProgType } from '../../../kernel/bpf/progtypes.js';
import { progTag } from '../../../kernel/bpf/tag.js';
import { syscall } from '../../../kernel/syscall.js';
import { userCred, type Task } from '../../../kernel/task.js';
import { registerNetProgTypes } from '../../../subsystems/net/progtypes.js';
import { SKB } from '../../../subsystems/net/skb.js';

const FRAME = parseHexBytes('00112233445566778899aabb08004500002412344000401100000a0000010a0000023039003500100000646174612d2d2d2d')!;
const RET42 = parseHexBytes('b70000002a0000009500000000000000')!;

function setup() {
  const kernel = new Kernel();
  registerBpfSyscall(kernel);
  registerNetProgTypes(kernel);
  const task = kernel.tasks.spawn({ comm: 'test' });
  const bpf = (cmd: number, attr: BpfAttr, t: Task = task): number => syscall(kernel, t, 'bpf', [cmd, attr]) as number;
  return { kernel, task, bpf };
}

const E = (name: ErrnoName): number => -errnoNumber(name);
const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
/** `r0 = *(u32 *)(r1 + off); exit`: reads one __sk_buff field. */
const readCtx = (off: number): Uint8Array => new Uint8Array([0x61, 0x10, off & 0xff, off >> 8, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);

describe('privilege', () => {
  it.each([
    ['root, disabled=2', 2, false, 1, null],
    ['user, disabled=2', 2, true, 1, 'EPERM'],
    ['user, disabled=0, socket_filter', 0, true, 1, null],
    ['user, disabled=0, sched_cls', 0, true, 3, 'EPERM'],
  ] as const)('%s', (_n, sysctl, unpriv, type, want) => {
    const { kernel, bpf } = setup();
    kernel.sysctl.unprivilegedBpfDisabled = sysctl;
    const user = kernel.tasks.spawn({ comm: 'user', cred: userCred(1000) });
    const r = bpf(BPF_CMD.BPF_PROG_LOAD, { prog_type: type, insns: RET42, license: 'GPL' }, unpriv ? user : undefined);
    if (want === null) expect(r).toBeGreaterThanOrEqual(0);
    else expect(r).toBe(E(want));
  });

  it('GET_NEXT_ID needs CAP_SYS_ADMIN', () => {
    const { kernel, bpf } = setup();
    const user = kernel.tasks.spawn({ comm: 'user', cred: userCred(1000) });
    expect(bpf(BPF_CMD.BPF_PROG_GET_NEXT_ID, { start_id: 0 }, user)).toBe(E('EPERM'));
  });
});

describe('BPF_PROG_LOAD', () => {
  const cases: [string, BpfAttr, ErrnoName | null][] = [
    ['ok', { prog_type: 1, insns: RET42, license: 'GPL' }, null],
    ['unknown type', { prog_type: 77, insns: RET42, license: 'GPL' }, 'EINVAL'],
    ['no instructions (host: E2BIG)', { prog_type: 1, insns: new Uint8Array(0), license: 'GPL' }, 'E2BIG'],
    ['bad name', { prog_type: 1, insns: RET42, license: 'GPL', prog_name: 'a-b' }, 'EINVAL'],
    ['unknown prog_flags', { prog_type: 1, insns: RET42, license: 'GPL', prog_flags: 1 << 30 }, 'EINVAL'],
    ['log_buf without log_level', { prog_type: 1, insns: RET42, license: 'GPL', log_buf: new Uint8Array(64), log_size: 64 }, 'EINVAL'],
    ['log_level without log_buf is fine', { prog_type: 1, insns: RET42, license: 'GPL', log_level: 1 }, null],
    ['bad log_level', { prog_type: 1, insns: RET42, license: 'GPL', log_level: 64, log_buf: new Uint8Array(64), log_size: 64 }, 'EINVAL'],
    ['last insn not exit (host: EINVAL)', { prog_type: 1, insns: RET42.subarray(0, 8), license: 'GPL' }, 'EINVAL'],
    ['insns not user memory', { prog_type: 1, license: 'GPL' }, 'EFAULT'],
  ];
  it.each(cases)('%s', (_n, attr, want) => {
    const { bpf } = setup();
    const r = bpf(BPF_CMD.BPF_PROG_LOAD, attr);
    if (want === null) expect(r).toBeGreaterThanOrEqual(0);
    else expect(r).toBe(E(want));
  });

  it('the log comes back NUL-terminated with log_true_size; too small a buffer keeps the tail and gives ENOSPC', () => {
    const { bpf } = setup();
    const full: BpfAttr = { prog_type: 1, insns: RET42, license: 'GPL', log_level: 1, log_buf: new Uint8Array(256), log_size: 256 };
    expect(bpf(BPF_CMD.BPF_PROG_LOAD, full)).toBeGreaterThanOrEqual(0);
    const text = Buffer.from(full.log_buf!.subarray(0, full.log_buf!.indexOf(0))).toString();
    expect(text).toMatch(/^processed 2 insns \(limit 1000000\)/);
    expect(full.log_true_size).toBe(text.length + 1);
    const small: BpfAttr = { prog_type: 1, insns: RET42, license: 'GPL', log_level: 1, log_buf: new Uint8Array(11), log_size: 11 };
    expect(bpf(BPF_CMD.BPF_PROG_LOAD, small)).toBe(E('ENOSPC'));
    expect(Buffer.from(small.log_buf!.subarray(0, 10)).toString()).toBe(text.slice(-10));
    expect(small.log_buf![10]).toBe(0);
    const fixed: BpfAttr = { ...small, log_buf: new Uint8Array(11), log_level: 1 | 8 };
    expect(bpf(BPF_CMD.BPF_PROG_LOAD, fixed)).toBe(E('ENOSPC'));
    expect(Buffer.from(fixed.log_buf!.subarray(0, 10)).toString()).toBe(text.slice(0, 10));
  });

  it('a rejected program gets the checker log', () => {
    const { bpf } = setup();
    const a: BpfAttr = { prog_type: 1, insns: parseHexBytes('ff00000000000000')!, license: 'GPL', log_level: 1, log_buf: new Uint8Array(1024), log_size: 1024 };
    expect(bpf(BPF_CMD.BPF_PROG_LOAD, a)).toBe(E('EINVAL'));
    expect(Buffer.from(a.log_buf!.subarray(0, a.log_buf!.indexOf(0))).toString()).toMatch(/processed \d+ insns/);
  });

  it('map references: bad fd EBADF, non-map fd EINVAL, MAP_VALUE past the value EINVAL, and the tag ignores fd numbers', () => {
    const { bpf } = setup();
    const m = bpf(BPF_CMD.BPF_MAP_CREATE, { map_type: T.BPF_MAP_TYPE_ARRAY, key_size: 4, value_size: 8, max_entries: 1 });
    const progFd = bpf(BPF_CMD.BPF_PROG_LOAD, { prog_type: 1, insns: RET42, license: 'GPL' });
    const withMap = (src: number, fd: number, off = 0) => [
      insn(0x18, 1, src, 0, fd), insn(0, 0, 0, 0, off), insn(0xb7, 0, 0, 0, 0), insn(0x95),
    ];
    expect(bpf(BPF_CMD.BPF_PROG_LOAD, { prog_type: 1, insns: withMap(BPF_PSEUDO_MAP_FD, 99), license: 'GPL' })).toBe(E('EBADF'));
    expect(bpf(BPF_CMD.BPF_PROG_LOAD, { prog_type: 1, insns: withMap(BPF_PSEUDO_MAP_FD, progFd), license: 'GPL' })).toBe(E('EINVAL'));
    expect(bpf(BPF_CMD.BPF_PROG_LOAD, { prog_type: 1, insns: withMap(BPF_PSEUDO_MAP_VALUE, m, 8), license: 'GPL' })).toBe(E('EINVAL'));
    expect(bpf(BPF_CMD.BPF_PROG_LOAD, { prog_type: 1, insns: withMap(BPF_PSEUDO_MAP_VALUE, m, 4), license: 'GPL' })).toBeGreaterThanOrEqual(0);
    expect(progTag(withMap(BPF_PSEUDO_MAP_FD, 3))).toBe(progTag(withMap(BPF_PSEUDO_MAP_FD, 7)));
    expect(progTag(withMap(0, 3))).not.toBe(progTag(withMap(0, 7)));
  });
});

describe('ids, fds, pins and info', () => {
  it('walks ids, reopens by id, pins and gets, reports info', () => {
    const { kernel, task, bpf } = setup();
    const m = bpf(BPF_CMD.BPF_MAP_CREATE, { map_type: T.BPF_MAP_TYPE_HASH, key_size: 4, value_size: 4, max_entries: 4, map_name: 'counts' });
    const insns = [insn(0x18, 1, BPF_PSEUDO_MAP_FD, 0, m), insn(0), insn(0xb7, 0, 0, 0, 0), insn(0x95)];
    const p = bpf(BPF_CMD.BPF_PROG_LOAD, { prog_type: 1, insns, license: 'GPL', prog_name: 'myprog' });
    const next: BpfAttr = { start_id: 0 };
    expect(bpf(BPF_CMD.BPF_PROG_GET_NEXT_ID, next)).toBe(0);
    const id = next.next_id!;
    expect(bpf(BPF_CMD.BPF_PROG_GET_NEXT_ID, { start_id: id })).toBe(E('ENOENT'));
    expect(bpf(BPF_CMD.BPF_PROG_GET_FD_BY_ID, { prog_id: 999 })).toBe(E('ENOENT'));
    const info: BpfAttr = { bpf_fd: p };
    expect(bpf(BPF_CMD.BPF_OBJ_GET_INFO_BY_FD, info)).toBe(0);
    expect(info.info).toMatchObject({ kind: 'prog', id, type: 1, name: 'myprog', nr_map_ids: 1, gpl_compatible: true, xlated_prog_len: 32 });
    const mapInfo: BpfAttr = { bpf_fd: m };
    bpf(BPF_CMD.BPF_OBJ_GET_INFO_BY_FD, mapInfo);
    expect(mapInfo.info).toMatchObject({ kind: 'map', type: T.BPF_MAP_TYPE_HASH, name: 'counts', key_size: 4, value_size: 4, max_entries: 4 });
    // pin, close every fd: the pin keeps the program alive
    expect(bpf(BPF_CMD.BPF_OBJ_PIN, { bpf_fd: p, pathname: '/sys/fs/bpf/myprog' })).toBe(0);
    expect(bpf(BPF_CMD.BPF_OBJ_PIN, { bpf_fd: p, pathname: '/sys/fs/bpf/myprog' })).toBe(E('EEXIST'));
    expect(bpf(BPF_CMD.BPF_OBJ_PIN, { bpf_fd: p, pathname: '/tmp/x' })).toBe(E('EPERM'));
    expect(bpf(BPF_CMD.BPF_OBJ_PIN, { bpf_fd: p, pathname: '/sys/fs/bpf/nodir/x' })).toBe(E('ENOENT'));
    task.fds.close(p);
    task.fds.close(m);
    const again = bpf(BPF_CMD.BPF_OBJ_GET, { pathname: '/sys/fs/bpf/myprog' });
    expect(again).toBeGreaterThanOrEqual(0);
    expect(bpf(BPF_CMD.BPF_OBJ_GET, { pathname: '/sys/fs/bpf/none' })).toBe(E('ENOENT'));
    // the program holds its map
    expect(bpf(BPF_CMD.BPF_MAP_GET_NEXT_ID, { start_id: 0 })).toBe(0);
    void kernel;
  });
});

describe('BPF_PROG_TEST_RUN', () => {
  function run(type: number, prog: Uint8Array, attr: Partial<BpfAttr> = {}) {
    const { bpf } = setup();
    const fd = bpf(BPF_CMD.BPF_PROG_LOAD, { prog_type: type, insns: prog, license: 'GPL' });
    const a: BpfAttr = { prog_fd: fd, data_in: FRAME, repeat: 1, ...attr };
    return { r: bpf(BPF_CMD.BPF_PROG_TEST_RUN, a), a };
  }
  // [name, prog type, __sk_buff offset, expected retval] (host values)
  const fields: [string, number, number, number][] = [
    ['socket_filter len = frame - 14 (host)', 1, SKB.len, 36],
    ['sched_cls len = frame (host)', 3, SKB.len, 50],
    ['protocol is the be16 ETH_P_IP (host)', 1, SKB.protocol, 8],
    ['pkt_type OTHERHOST on lo (host)', 1, SKB.pkt_type, 3],
    ['ifindex 1 (lo) (host)', 1, SKB.ifindex, 1],
  ];
  it.each(fields)('%s', (_n, type, off, want) => {
    const { r, a } = run(type, readCtx(off));
    expect(r).toBe(0);
    expect(a.retval).toBe(want);
  });

  it('retval is the low 32 bits of r0; duration is reported', () => {
    // r0 = 0x1_0000_0007 (lddw); exit
    const prog = new Uint8Array([0x18, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
    const { r, a } = run(1, prog, { repeat: 10 });
    expect(r).toBe(0);
    expect(a.retval).toBe(7);
    expect(a.duration).toBeGreaterThanOrEqual(0);
  });

  it('socket_filter data_out has the MAC header zeroed (host); sched_cls returns the frame', () => {
    const sf = run(1, RET42, { data_out: new Uint8Array(64) });
    expect(sf.a.data_size_out).toBe(50);
    expect(Buffer.from(sf.a.data_out!.subarray(0, 50)).toString('hex')).toBe('0'.repeat(28) + Buffer.from(FRAME.subarray(14)).toString('hex'));
    const cls = run(3, RET42, { data_out: new Uint8Array(64) });
    expect(Buffer.from(cls.a.data_out!.subarray(0, 50)).equals(Buffer.from(FRAME))).toBe(true);
    const small = run(1, RET42, { data_out: new Uint8Array(10) });
    expect(small.r).toBe(E('ENOSPC'));
    expect(small.a.retval).toBe(42);
  });

  const bad: [string, Partial<BpfAttr>, ErrnoName][] = [
    ['data shorter than 14 (host)', { data_in: new Uint8Array(13) }, 'EINVAL'],
    ['data longer than 3712 (host)', { data_in: new Uint8Array(3713) }, 'EINVAL'],
    ['no data', { data_in: null }, 'EINVAL'],
    ['ctx_in sets len', { ctx_in: new Uint8Array(192).fill(1, 0, 4) }, 'EINVAL'],
    ['ctx_in longer with non-zero tail', { ctx_in: new Uint8Array(200).fill(1, 196, 197) }, 'E2BIG'],
    ['ctx_in ifindex 2', { ctx_in: (() => { const c = new Uint8Array(192); c[SKB.ifindex] = 2; return c; })() }, 'ENODEV'],
    ['flags', { flags: 1 }, 'EINVAL'],
  ];
  it.each(bad)('%s', (_n, attr, want) => {
    expect(run(1, RET42, attr).r).toBe(E(want));
  });
  it('data of exactly 14 and 3712 bytes runs (host)', () => {
    expect(run(1, RET42, { data_in: new Uint8Array(14) }).r).toBe(0);
    expect(run(1, RET42, { data_in: new Uint8Array(3712) }).r).toBe(0);
  });

  it('ctx_in mark and cb reach the program and come back in ctx_out', () => {
    const ctx = new Uint8Array(192);
    new DataView(ctx.buffer).setUint32(SKB.mark, 77, true);
    // r0 = skb->mark; skb->cb[0] = 5; exit
    const prog = new Uint8Array([0x61, 0x10, SKB.mark, 0, 0, 0, 0, 0, 0x62, 0x01, SKB.cb, 0, 5, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
    const { r, a } = run(1, prog, { ctx_in: ctx, ctx_out: new Uint8Array(192) });
    expect(r).toBe(0);
    expect(a.retval).toBe(77);
    const out = new DataView(a.ctx_out!.buffer);
    expect(out.getUint32(SKB.cb, true)).toBe(5);
    expect(out.getUint32(SKB.mark, true)).toBe(77);
  });

  it('a program type without test_run is ENOTSUPP', () => {
    const { kernel, bpf } = setup();
    registerProgType(kernel, { id: 5, name: 'tracepoint', ctxSize: 0, ctxFields: [], allowedHelpers: new Set(), allowsLdAbs: false });
    const fd = bpf(BPF_CMD.BPF_PROG_LOAD, { prog_type: 5, insns: RET42, license: 'GPL' });
    expect(bpf(BPF_CMD.BPF_PROG_TEST_RUN, { prog_fd: fd, repeat: 1 })).toBe(E('ENOTSUPP'));
  });
});

describe('map syscalls', () => {
  it('bad fds: EBADF for a closed fd, EINVAL for a program fd', () => {
    const { bpf } = setup();
    const p = bpf(BPF_CMD.BPF_PROG_LOAD, { prog_type: 1, insns: RET42, license: 'GPL' });
    expect(bpf(BPF_CMD.BPF_MAP_LOOKUP_ELEM, { map_fd: 55, key: u32(0), value: u32(0) })).toBe(E('EBADF'));
    expect(bpf(BPF_CMD.BPF_MAP_LOOKUP_ELEM, { map_fd: p, key: u32(0), value: u32(0) })).toBe(E('EINVAL'));
    expect(bpf(99, {})).toBe(E('EINVAL'));
  });
});
