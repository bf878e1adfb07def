/**
 * `pcap:FILE`: replays a capture file's frames into eth0 as if they arrived from the wire
 * (netifRx), one every interval (default 20 ms), looping forever. The file is read once
 * at start with subsystems/net/pcap.ts's reader (pcap or pcapng); only Ethernet captures
 * (LINKTYPE_ETHERNET) can be replayed. Packet taps, tracepoints and any socket whose
 * address the frames carry (eth0 is 10.0.2.15 / fe80::5054:ff:fe12:3456) see them.
 */
import { readFileSync } from 'node:fs';
import type { Kernel } from '../../kernel/kernel.js';
import { LINKTYPE_ETHERNET, netifRx, readCapture } from '../../subsystems/net/index.js';
import type { RunningWorkload, Workload, WorkloadOptions } from './index.js';

export const pcapWorkload: Workload = {
  name: 'pcap',
  summary: "pcap:FILE — replay a pcap/pcapng file's frames into eth0, looping",
  start(kernel: Kernel, opts: WorkloadOptions): RunningWorkload {
    if (!opts.arg) throw new Error('the pcap workload needs a file: --workload pcap:FILE');
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(opts.arg);
    } catch (e) {
      throw new Error(`cannot read ${opts.arg}: ${e instanceof Error ? e.message : String(e)}`);
    }
    let file;
    try {
      file = readCapture(bytes);
    } catch (e) {
      throw new Error(`${opts.arg}: ${e instanceof Error ? e.message : String(e)}`);
    }
    const frames = file.packets.filter((p) => p.linktype === LINKTYPE_ETHERNET).map((p) => p.data);
    if (frames.length === 0) throw new Error(`${opts.arg}: no Ethernet frames to replay (linktype ${file.linktype})`);
    const interval = opts.intervalMs ?? 20;
    let i = 0;
    const timer = setInterval(() => {
      netifRx(kernel, 'eth0', frames[i]!);
      i = (i + 1) % frames.length;
    }, interval);
    return {
      name: 'pcap',
      stop: async () => clearInterval(timer),
    };
  },
};
