/**
 * `make bench fs`: FUSE round trips per second for small reads and writes of a sysctl,
 * and trace events per second read through trace_pipe on the mount while the demo
 * workload runs with every event enabled. The mount is served by this process; the
 * client side uses fs.promises (libuv's thread pool), so the two never deadlock.
 */
import { bootKernel } from '../../index.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { open, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kernel } from '../../kernel/kernel.js';
import { isFuseProblem, loadFuse, mountKernel } from '../../fs/fuse/index.js';
import { fsOf } from '../../fs/api.js';
import { startWorkload } from '../workloads/index.js';
import type { Bench } from './run.js';

async function rate(ms: number, op: () => Promise<unknown>): Promise<number> {
  const end = performance.now() + ms;
  let n = 0;
  while (performance.now() < end) {
    await op();
    n++;
  }
  return (n * 1000) / ms;
}

export const fsBench: Bench = {
  name: 'fs',
  async run(out) {
    const fuse = loadFuse();
    if (isFuseProblem(fuse)) {
      out(`skipped: ${fuse.reason} (${fuse.fix})`);
      return;
    }
    const kernel = bootKernel({ seed: 1 });
    const base = mkdtempSync(join(tmpdir(), 'bpfkern-bench-'));
    const mnt = await mountKernel(kernel, join(base, 'mnt'));
    try {
      const sysctl = join(mnt.mnt, 'proc/sys/net/core/bpf_jit_harden');
      const reads = await rate(1500, () => readFile(sysctl, 'utf8'));
      const writes = await rate(1500, () => writeFile(sysctl, '0\n'));
      out('operation                          per second   goal');
      out(`cat sysctl (open+read+release)     ${reads.toFixed(0).padStart(10)}   >= 1000`);
      out(`echo > sysctl (open+write+release) ${writes.toFixed(0).padStart(10)}   >= 1000`);

      const kfs = fsOf(kernel);
      const tracing = '/sys/kernel/tracing';
      if (!kfs.existsSync(`${tracing}/trace_pipe`)) {
        out('trace_pipe: no tracefs yet');
        return;
      }
      kfs.writeFileSync(`${tracing}/events/enable`, '1');
      const w = startWorkload(kernel, 'demo', 1, 10);
      const h = await open(join(mnt.mnt, 'sys/kernel/tracing/trace_pipe'), 'r');
      const buf = Buffer.alloc(65536);
      let lines = 0;
      const end = performance.now() + 3000;
      while (performance.now() < end) {
        const { bytesRead } = await h.read(buf, 0, buf.length, null);
        for (let i = 0; i < bytesRead; i++) if (buf[i] === 10) lines++;
      }
      await w.stop();
      kfs.writeFileSync(`${tracing}/events/enable`, '0');
      // One more event so the read pending on trace_pipe returns before close.
      kfs.writeFileSync(`${tracing}/trace_marker`, 'bench done');
      await h.close();
      out(`trace_pipe events through FUSE     ${(lines / 3).toFixed(0).padStart(10)}   >= 300 (demo workload, every event on)`);
    } finally {
      await mnt.unmount();
      rmSync(base, { recursive: true, force: true });
    }
  },
};
