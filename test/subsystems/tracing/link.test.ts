/**
 * bpf(BPF_LINK_CREATE) for tracepoint programs on a perf event (attach_type
 * BPF_PERF_EVENT, target_fd = the perf fd), the way libbpf attaches since Linux 5.15:
 * the link fd owns the attachment — closing the perf fd detaches nothing, closing the link
 * does — and the errno of each refusal is Linux's (link_create, bpf_perf_link_attach,
 * perf_event_set_bpf_prog).
 */
import { describe, expect, it } from 'vitest';
import { assemble } from '../../../kernel/bpf/asm.js';
import { BPF_CMD, BPF_PROG_TYPE } from '../../../kernel/bpf/isa.js';
import { allLinks, BPF_LINK_TYPE, BPF_PERF_EVENT } from '../../../kernel/bpf/link.js';
import { allProgs } from '../../../kernel/bpf/objects.js';
import type { BpfAttr } from '../../../kernel/bpf/syscall.js';
import { tracepointOf } from '../../../kernel/trace/tracepoint.js';
import { counterSetup, insnsWithMap, sysSync, TRACEFS } from '../../helpers/tracepoint-prog.js';
import { PERF_EVENT_IOC_SET_BPF, PERF_TYPE_TRACEPOINT, tracingOf } from '../../../subsystems/tracing/index.js';

const T = TRACEFS;
const EBADF = -9;
const EEXIST = -17;
const EINVAL = -22;

const sys = sysSync;

/** Counts every event in map[0]; returns 1 (record it). */
const COUNT = `
  stw [%r10-4], 0
  lddw %r1, 0
  mov %r2, %r10
  add %r2, -4
  call 1
  jeq %r0, 0, +2
  mov %r1, 1
  lock add [%r0+0], %r1
  mov %r0, 1
  exit
`;

function setup(jit: 0 | 1) {
  const { k, task, bpf, mapFd, count, eventId: id } = counterSetup(11, 'libbpf', jit);
  const progFd = bpf(BPF_CMD.BPF_PROG_LOAD, {
    prog_type: BPF_PROG_TYPE.BPF_PROG_TYPE_TRACEPOINT, insns: insnsWithMap(COUNT, mapFd), license: 'GPL',
  });
  expect(progFd).toBeGreaterThanOrEqual(0);
  const perfOpen = (): number => sys(k, task, 'perf_event_open', [{ type: PERF_TYPE_TRACEPOINT, config: id }]);
  const tp = tracepointOf(k, 'signal', 'signal_generate');
  const fire = (n: number): void => {
    for (let i = 0; i < n; i++) tp.fire(task, { sig: 10, errno: 0, code: 0, comm: 'x', pid: 2, group: 1, result: 0 });
  };
  const link = (attr: BpfAttr): number => bpf(BPF_CMD.BPF_LINK_CREATE, attr);
  return { k, task, bpf, mapFd, progFd, count, perfOpen, tp, fire, link };
}

describe.each([0, 1] as const)('BPF_LINK_CREATE on a perf event (bpf_jit_enable=%i)', (jit) => {
  it('attaches through a link fd that counts events; closing the perf fd keeps it, closing the link detaches', () => {
    const { k, task, bpf, progFd, count, perfOpen, tp, fire, link } = setup(jit);
    const perfFd = perfOpen();
    expect(tp.probes).toHaveLength(0);
    const linkFd = link({ prog_fd: progFd, target_fd: perfFd, attach_type: BPF_PERF_EVENT });
    expect(linkFd).toBeGreaterThanOrEqual(0);
    expect(tp.probes).toHaveLength(1);
    fire(5);
    expect(count()).toBe(5n);

    // struct bpf_link_info through OBJ_GET_INFO_BY_FD.
    const attr: BpfAttr = { bpf_fd: linkFd };
    expect(bpf(BPF_CMD.BPF_OBJ_GET_INFO_BY_FD, attr)).toBe(0);
    const progId = allProgs(k)[0]!.id;
    expect(attr.link_info).toEqual({ kind: 'link', type: BPF_LINK_TYPE.BPF_LINK_TYPE_PERF_EVENT, id: allLinks(k)[0]!.id, prog_id: progId, attach_type: BPF_PERF_EVENT });

    // The link holds the perf event: closing its fd (and the prog fd) detaches nothing.
    expect(sys(k, task, 'close', [perfFd])).toBe(0);
    expect(sys(k, task, 'close', [progFd])).toBe(0);
    fire(3);
    expect(count()).toBe(8n);
    expect(allProgs(k).map((p) => p.id)).toEqual([progId]);

    // Closing the link: detached, the probe gone, the program freed.
    expect(sys(k, task, 'close', [linkFd])).toBe(0);
    fire(4);
    expect(count()).toBe(8n);
    expect(tp.probes).toHaveLength(0);
    expect(tracingOf(k).file('signal', 'signal_generate').progs).toEqual([]);
    expect(allLinks(k)).toEqual([]);
    expect(allProgs(k)).toEqual([]);
  });

  it('closing the link while the perf fd is open detaches; the perf fd can take a program again', () => {
    const { k, task, progFd, count, perfOpen, tp, fire, link } = setup(jit);
    const perfFd = perfOpen();
    const linkFd = link({ prog_fd: progFd, target_fd: perfFd, attach_type: BPF_PERF_EVENT });
    // The event has a program: PERF_EVENT_IOC_SET_BPF and a second link are EEXIST.
    expect(sys(k, task, 'ioctl', [perfFd, PERF_EVENT_IOC_SET_BPF, progFd])).toBe(EEXIST);
    expect(link({ prog_fd: progFd, target_fd: perfFd, attach_type: BPF_PERF_EVENT })).toBe(EEXIST);
    // The same program on the same tracepoint through another perf event: EEXIST (bpf_prog_array_copy).
    const perf2 = perfOpen();
    expect(link({ prog_fd: progFd, target_fd: perf2, attach_type: BPF_PERF_EVENT })).toBe(EEXIST);
    fire(2);
    expect(count()).toBe(2n);
    expect(sys(k, task, 'close', [linkFd])).toBe(0);
    fire(2);
    expect(count()).toBe(2n);
    expect(tp.probes).toHaveLength(0);
    expect(sys(k, task, 'ioctl', [perfFd, PERF_EVENT_IOC_SET_BPF, progFd])).toBe(0);
    fire(1);
    expect(count()).toBe(3n);
    sys(k, task, 'close', [perfFd]);
    sys(k, task, 'close', [perf2]);
    expect(tp.probes).toHaveLength(0);
  });

  it('refuses what Linux refuses, leaving no attachment and no extra reference', () => {
    const { k, task, bpf, mapFd, progFd, perfOpen, tp, link } = setup(jit);
    const perfFd = perfOpen();
    const refs = (): number => allProgs(k)[0]!.refcnt;
    const before = refs();
    // prog_fd: closed (EBADF), not a program (EINVAL).
    expect(link({ prog_fd: 99, target_fd: perfFd, attach_type: BPF_PERF_EVENT })).toBe(EBADF);
    expect(link({ prog_fd: mapFd, target_fd: perfFd, attach_type: BPF_PERF_EVENT })).toBe(EINVAL);
    // A tracepoint program takes only BPF_PERF_EVENT; a socket filter not that.
    expect(link({ prog_fd: progFd, target_fd: perfFd, attach_type: 0 })).toBe(EINVAL);
    const sockFd = bpf(BPF_CMD.BPF_PROG_LOAD, {
      prog_type: BPF_PROG_TYPE.BPF_PROG_TYPE_SOCKET_FILTER, insns: assemble('mov %r0, 0\nexit'), license: 'GPL',
    });
    expect(link({ prog_fd: sockFd, target_fd: perfFd, attach_type: BPF_PERF_EVENT })).toBe(EINVAL);
    // flags must be 0; target_fd must be a perf event (perf_event_get: EBADF).
    expect(link({ prog_fd: progFd, target_fd: perfFd, attach_type: BPF_PERF_EVENT, flags: 1 })).toBe(EINVAL);
    expect(link({ prog_fd: progFd, target_fd: mapFd, attach_type: BPF_PERF_EVENT })).toBe(EBADF);
    expect(link({ prog_fd: progFd, target_fd: 77, attach_type: BPF_PERF_EVENT })).toBe(EBADF);
    expect(refs()).toBe(before);
    expect(tp.probes).toHaveLength(0);
    expect(allLinks(k)).toEqual([]);
    sys(k, task, 'close', [perfFd]);
  });
});
