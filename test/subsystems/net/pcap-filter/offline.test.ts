// offlineFilter on both engines (the JIT's raw entry with the packet as parameters, the
// interpreter's numeric entry) against bpfProgRun on the interpreter, the reference, for
// every differential expression over hand-made, random and truncated frames; run (copy)
// and runAt (in place) and a wire length beyond the capture length (what `len` reads).
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../../../kernel/kernel.js';
import { SKB, SK_BUFF_SIZE } from '../../../../kernel/bpf/skb-layout.js';
import { bpfProgRun } from '../../../../kernel/bpf/run.js';
import { compileFilter } from '../../../../subsystems/net/pcap-filter/index.js';
import { offlineFilter } from '../../../../subsystems/net/pcap-filter/offline.js';
import { mixedTraffic } from '../../../../userspace/bench/packets.js';
import { DIFF_EXPRS } from './exprs.js';

describe('offlineFilter engines agree with bpfProgRun', () => {
  const kernel = new Kernel();
  kernel.sysctl.bpfJitEnable = 1;
  const pool = mixedTraffic(0x5eed, 400);
  const frames = [...pool, ...pool.slice(0, 60).map((f) => f.subarray(0, 30))];
  const ref = (prog: ReturnType<typeof offlineFilter>['prog'], f: Uint8Array, wire: number): number => {
    const mem = kernel.mem;
    const ctx = mem.alloc(SK_BUFF_SIZE, 8);
    const buf = mem.alloc(Math.max(f.length, 1), 8);
    try {
      mem.write(buf, f);
      mem.dv.setUint32(ctx + SKB.len, wire, true);
      mem.dv.setUint16(ctx + SKB.protocol, f.length >= 14 ? (f[12]! << 8) | f[13]! : 0, false);
      const r = bpfProgRun(kernel, prog, mem.addr(ctx), { engine: 'interp', packet: { data: buf, len: f.length, mac: buf, net: buf + 14 } });
      return Number(r & 0xffffffffn);
    } finally {
      mem.free(buf);
      mem.free(ctx);
    }
  };

  it.each(DIFF_EXPRS.map((e) => [e]))('%s', (expr) => {
    const insns = compileFilter(expr);
    const filters = [offlineFilter(kernel, insns, { engine: 'interp' }), offlineFilter(kernel, insns, { engine: 'jit' }), offlineFilter(kernel, insns)];
    const at = kernel.mem.alloc(2048, 8);
    try {
      for (const [i, f] of frames.entries()) {
        const wire = i % 3 === 0 ? f.length + 100 : f.length;
        const want = ref(filters[0]!.prog, f, wire);
        kernel.mem.write(at, f);
        for (const [k, flt] of filters.entries()) {
          expect(flt.run(f, wire), `frame ${i} filter ${k} run`).toBe(want);
          expect(flt.runAt(at, f.length, wire), `frame ${i} filter ${k} runAt`).toBe(want);
        }
      }
    } finally {
      kernel.mem.free(at);
      for (const f of filters) f.free();
    }
  });
});
