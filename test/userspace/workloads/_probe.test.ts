import { it } from 'vitest';
import { bootKernel } from '../../../index.js';
import { netOf } from '../../../subsystems/net/index.js';
import { socketInfo } from '../../../subsystems/net/control.js';
import { startWorkload } from '../../../userspace/workloads/index.js';
it('probe', async () => {
  const k = bootKernel({ seed: 4 });
  const w = startWorkload(k, 'demo', 4, 5);
  for (const ms of [500, 1000, 1500]) {
    await new Promise((r) => setTimeout(r, 500));
    const socks = [...netOf(k).sockets];
    console.log(ms, socks.length, socks.map((s) => socketInfo(k, s).split('\n').filter(l => /^(owner|state|rx_queue|type|local|remote):/.test(l)).join(' | ')).join('\n'));
  }
  await w.stop();
}, 20000);
