/**
 * BPF_PROG_TEST_RUN as a user sees it: the cost of one bpf(BPF_PROG_TEST_RUN) call from a
 * mini-OS task (syscall entry, skb build, run, copy-out) on a 50-byte frame, and the
 * per-run `duration` the kernel reports with repeat, for both engines. The host's figure
 * for the same call comes from ../shared/oracle's `ebpf-run --repeat` (26 ns per run of
 * `r0 = 1; exit`, issue "The JIT").
 */
import { bootKernel } from '../../index.js';
import { BPF_CMD, BPF_PROG_TYPE, parseHexBytes } from '../../kernel/bpf/isa.js';
import type { BpfAttr } from '../../kernel/bpf/syscall.js';
import { syscall } from '../../kernel/syscall.js';
import type { Bench } from './run.js';
import { bestNsPerCall } from './timing.js';

const FRAME = parseHexBytes(
  '00112233445566778899aabb08004500002412344000401100000a0000010a0000023039003500100000646174612d2d2d2d',
)!;
/** r0 = 1; exit */
const RET1 = parseHexBytes('b7000000010000009500000000000000')!;

function measure(jit: 0 | 1): { perCallNs: number; durationNs: number } {
  const k = bootKernel({ seed: 1 });
  k.sysctl.bpfJitEnable = jit;
  const task = k.tasks.spawn({ comm: 'bench' });
  const load: BpfAttr = { prog_type: BPF_PROG_TYPE.BPF_PROG_TYPE_SOCKET_FILTER, insns: RET1, license: 'GPL' };
  const fd = Number(syscall(k, task, 'bpf', [BPF_CMD.BPF_PROG_LOAD, load, 0]));
  if (fd < 0) throw new Error(`PROG_LOAD failed: ${fd}`);
  const run = (repeat: number): BpfAttr => {
    const attr: BpfAttr = { prog_fd: fd, data_in: FRAME, data_out: null, ctx_in: null, ctx_out: null, repeat };
    const r = syscall(k, task, 'bpf', [BPF_CMD.BPF_PROG_TEST_RUN, attr, 0]);
    if (r !== 0) throw new Error(`PROG_TEST_RUN failed: ${String(r)}`);
    return attr;
  };
  for (let i = 0; i < 2000; i++) run(1);
  const n = 20_000;
  const best = bestNsPerCall(() => run(1), n, 5);
  const durationNs = Math.min(...Array.from({ length: 5 }, () => run(100_000).duration ?? NaN));
  return { perCallNs: best, durationNs };
}

export const testRunBench: Bench = {
  name: 'test_run',
  run: async (out) => {
    out('BPF_PROG_TEST_RUN of `r0 = 1; exit` (socket_filter, 50-byte frame), best of 5');
    out('engine        ns per bpf() call (repeat 1)   duration ns per run (repeat 100000)');
    for (const [name, jit] of [['interpreter', 0], ['JIT', 1]] as const) {
      const m = measure(jit);
      out(`${name.padEnd(14)}${m.perCallNs.toFixed(0).padStart(28)}${m.durationNs.toFixed(0).padStart(38)}`);
    }
    out('host Linux 6.18 JIT: 26 ns per run (ebpf-run --repeat)');
  },
};
