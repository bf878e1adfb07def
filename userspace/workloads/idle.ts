/** `idle`: an init and a login shell that sleep; nothing else happens. */
import { spawn } from '../libc/proc.js';
import type { Workload } from './index.js';

export const idleWorkload: Workload = {
  name: 'idle',
  summary: 'init and bash, asleep: no events',
  start(kernel) {
    let wake: () => void = () => undefined;
    const stopped = new Promise<void>((r) => (wake = r));
    const init = spawn(kernel, { comm: 'init' }, async (p) => {
      const sh = spawn(kernel, { comm: 'bash', parent: p.task }, () => stopped);
      await Promise.race([stopped, sh.exited]);
    });
    return {
      name: 'idle',
      stop: async () => {
        wake();
        await Promise.race([init.exited, new Promise((r) => setTimeout(r, 500))]);
      },
    };
  },
};
