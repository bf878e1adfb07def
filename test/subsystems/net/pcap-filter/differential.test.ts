// Differential test: every expression in exprs.ts compiled by bpfkern and by the host's
// tcpdump (-y EN10MB -ddd), both programs run on bpfkern's BPF machine over the same
// frames (hand-crafted, also cut short at several lengths, and random); verdicts and
// return lengths must agree. Also writes the size table (ours vs libpcap's) to
// sizes.golden, checked against our sizes; UPDATE_GOLDEN=1 rewrites it. Skips with a
// reason when tcpdump is absent.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseClassic } from '../../../../kernel/bpf/classic/text.js';
import { Kernel } from '../../../../kernel/kernel.js';
import { compileFilter } from '../../../../subsystems/net/pcap-filter/index.js';
import { offlineFilter } from '../../../../subsystems/net/pcap-filter/offline.js';
import { buildFrame, mixedTraffic, type PacketSpec } from '../../../../userspace/bench/packets.js';
import { DIFF_EXPRS } from './exprs.js';

function tcpdumpAvailable(): string | null {
  const r = spawnSync('tcpdump', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? null : 'tcpdump is not installed (apt-get install tcpdump)';
}

const skip = tcpdumpAvailable();

function tcpdumpProgram(expr: string): string {
  const r = spawnSync('tcpdump', ['-y', 'EN10MB', '-ddd', expr], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tcpdump -ddd '${expr}': ${r.stderr}`);
  return r.stdout;
}

const HAND: PacketSpec[] = [
  { l3: 'ip', proto: 6, sport: 1234, dport: 80, tcpFlags: 0x02 },
  { l3: 'ip', proto: 6, sport: 80, dport: 22, tcpFlags: 0x03, src: '1.2.3.4', dst: '10.0.0.1' },
  { l3: 'ip', proto: 6, sport: 1234, dport: 80, fragOff: 185, mf: false },
  { l3: 'ip', proto: 6, sport: 1234, dport: 80, fragOff: 0, mf: true },
  { l3: 'ip', proto: 6, sport: 1234, dport: 80, ihl: 8 },
  { l3: 'ip', proto: 17, sport: 53, dport: 5353, src: '10.0.0.1', dst: '192.168.1.1' },
  { l3: 'ip', proto: 17, sport: 5, dport: 100, payload: 100 },
  { l3: 'ip', proto: 17, sport: 5, dport: 9999, src: '1.2.3.5', dst: '10.9.8.7' },
  { l3: 'ip', proto: 1, icmpType: 8, src: '172.16.0.9' },
  { l3: 'ip', proto: 1, icmpType: 0 },
  { l3: 'ip', proto: 2, dst: '224.0.0.251', macDst: [1, 0, 0x5e, 0, 0, 0xfb] },
  { l3: 'ip', proto: 17, dst: '255.255.255.255', macDst: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff] },
  { l3: 'ip', proto: 132, sport: 443, dport: 9 },
  { l3: 'ip6', proto: 6, sport: 80, dport: 1234, src: '2001:db8::1' },
  { l3: 'ip6', proto: 17, sport: 53, dport: 53, ip6Frag: true },
  { l3: 'ip6', proto: 58, icmpType: 128, dst: 'ff02::1', macDst: [0x33, 0x33, 0, 0, 0, 1] },
  { l3: 'ip6', proto: 6, src: 'fe80::1', dport: 443 },
  { l3: 'arp', src: '10.0.0.1', dst: '10.0.0.2', arpOp: 2 },
  { l3: 'rarp', src: '1.2.3.4', dst: '10.0.0.1', arpOp: 3 },
  { l3: 'llc', proto: 0x42 },
  { l3: 'other', etherType: 0x88cc },
  { l3: 'ip', proto: 6, dport: 80, vlans: [{ tpid: 0x8100, tci: 100 }] },
  { l3: 'ip', proto: 6, dport: 22, vlans: [{ tpid: 0x88a8, tci: 100 }, { tpid: 0x8100, tci: 5 }] },
  { l3: 'ip6', proto: 17, vlans: [{ tpid: 0x9100, tci: 0x2064 }] },
  { l3: 'ip', proto: 6, macSrc: [0x52, 0x54, 0, 0xab, 0xcd, 0xef], macDst: [1, 2, 3, 4, 5, 6] },
];

function frames(): Uint8Array[] {
  const hand = HAND.map(buildFrame);
  // Truncations at several depths: which load of an or-chain runs past the end first
  // depends on the order of its tests, so these pin the optimizer to libpcap's order.
  const cuts = [31, 36, 40, 56].flatMap((n) => hand.map((f) => f.subarray(0, n)));
  return [...hand, ...cuts, ...mixedTraffic(0xc0ffee, 1500)];
}

const GOLDEN = join(import.meta.dirname, 'sizes.golden');

describe.skipIf(skip !== null)(`filter compiler vs tcpdump -ddd${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const kernel = new Kernel();
  const pkts = frames();
  const rows: string[] = [];

  it.each(DIFF_EXPRS.map((e) => [e]))('%s', (expr) => {
    const theirs = parseClassic(tcpdumpProgram(expr), 'ddd');
    const ours = compileFilter(expr);
    const a = offlineFilter(kernel, ours, { engine: 'interp' });
    const b = offlineFilter(kernel, theirs, { engine: 'interp' });
    let accepted = 0;
    try {
      for (const [i, f] of pkts.entries()) {
        const ra = a.run(f);
        const rb = b.run(f);
        if (ra !== rb) {
          const hex = Buffer.from(f).toString('hex');
          expect.fail(`packet ${i} (${f.length} bytes ${hex}): bpfkern returns ${ra}, tcpdump's program ${rb}`);
        }
        if (ra !== 0) accepted++;
      }
    } finally {
      a.free();
      b.free();
    }
    rows.push(`${String(ours.length).padStart(5)} ${String(theirs.length).padStart(8)} ${String(accepted).padStart(9)}  ${expr}`);
  });

  it('size table matches the golden file', () => {
    const table = ['# ours libpcap  accepted  expression (over the differential frames)', ...rows].join('\n') + '\n';
    console.log(`\nfilter program sizes (instructions):\n${table}`);
    if (process.env.UPDATE_GOLDEN || !existsSync(GOLDEN)) writeFileSync(GOLDEN, table);
    const ourSizes = (t: string): string[] => t.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => `${l.trim().split(/\s+/)[0]} ${l.slice(26)}`);
    expect(ourSizes(table)).toEqual(ourSizes(readFileSync(GOLDEN, 'utf8')));
  });
});
