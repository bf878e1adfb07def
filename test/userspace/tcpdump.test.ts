// `bpfkern tcpdump`: -d/-dd/-ddd listings and -r summaries compared with the host's
// tcpdump (skipped with a reason when it is absent), -w output, errors.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tcpdumpCommand } from '../../userspace/commands/tcpdump.js';
import { readCapture, writePcap, writePcapng } from '../../subsystems/net/pcap.js';
import { buildFrame, type PacketSpec } from '../../userspace/bench/packets.js';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await tcpdumpCommand.run(argv, { stdout: (t) => (out += t), stderr: (t) => (err += t), stdin: async () => '' });
  return { code, out, err };
}

const skip = spawnSync('tcpdump', ['--version']).status === 0 ? null : 'tcpdump is not installed (apt-get install tcpdump)';
const dir = mkdtempSync(join(tmpdir(), 'bpfkern-tcpdump-'));

// Ports tcpdump has no application decoder for, so its line ends where ours does.
const SPECS: PacketSpec[] = [
  { l3: 'ip', proto: 6, sport: 40000, dport: 7777, tcpFlags: 0x02, payload: 0 },
  { l3: 'ip', proto: 6, sport: 7777, dport: 40000, tcpFlags: 0x12, payload: 0, src: '10.0.0.2', dst: '10.0.0.1' },
  { l3: 'ip', proto: 6, sport: 40000, dport: 7777, tcpFlags: 0x10, payload: 0 },
  { l3: 'ip', proto: 6, sport: 40000, dport: 7777, tcpFlags: 0x18, payload: 12 },
  { l3: 'ip', proto: 6, sport: 7777, dport: 40000, tcpFlags: 0x11, payload: 0, src: '10.0.0.2', dst: '10.0.0.1' },
  { l3: 'ip', proto: 6, sport: 40001, dport: 7777, tcpFlags: 0x04, payload: 0 },
  { l3: 'ip', proto: 17, sport: 12345, dport: 23456, payload: 8 },
  { l3: 'ip', proto: 1, icmpType: 8, payload: 8 },
  { l3: 'ip', proto: 1, icmpType: 0, payload: 8, src: '10.0.0.2', dst: '10.0.0.1' },
  { l3: 'ip6', proto: 6, sport: 40000, dport: 7777, tcpFlags: 0x02, payload: 0 },
  { l3: 'ip6', proto: 17, sport: 12345, dport: 23456, payload: 20, src: 'fe80::1', dst: '2001:db8:1::5' },
  { l3: 'ip6', proto: 58, icmpType: 128, payload: 8 },
  { l3: 'ip6', proto: 58, icmpType: 129, payload: 8 },
  { l3: 'arp', src: '10.0.0.1', dst: '10.0.0.2', arpOp: 1 },
  { l3: 'arp', src: '10.0.0.2', dst: '10.0.0.1', arpOp: 2, macSrc: [2, 0, 0, 0, 0, 2] },
  { l3: 'ip', proto: 17, sport: 12345, dport: 23456, vlans: [{ tpid: 0x8100, tci: 100 }] },
];
const FILE = join(dir, 'in.pcap');
writeFileSync(FILE, writePcap(SPECS.map((s, i) => ({ tsSec: 1_700_000_000 + i, tsNsec: i * 1_234_567, data: buildFrame(s) }))));
const NGFILE = join(dir, 'in.pcapng');
writeFileSync(NGFILE, writePcapng(SPECS.map((s, i) => ({ tsSec: 1_700_000_000 + i, tsNsec: i * 1_234_567, data: buildFrame(s) }))));

describe.skipIf(skip !== null)(`bpfkern tcpdump vs tcpdump${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it.each([
    ['-d', 'tcp port 80'],
    ['-dd', 'host 10.0.0.1'],
    ['-ddd', 'vlan 100 and tcp'],
    ['-d', 'icmp[icmptype] = icmp-echo'],
    ['-dd', 'ip6 net fe80::/10'],
  ])('%s %s prints what tcpdump prints', async (flag, expr) => {
    const want = spawnSync('tcpdump', ['-y', 'EN10MB', flag, expr], { encoding: 'utf8' }).stdout;
    const got = await run([flag, expr]);
    expect(got.code).toBe(0);
    expect(got.out).toBe(want);
  });

  it.each([
    [[], ''],
    [[], 'tcp'],
    [['-S'], 'tcp'],
    [['-e'], ''],
    [['-c', '3'], 'udp or icmp or icmp6'],
    [[], 'arp or ip6'],
    [['-e'], 'vlan'],
    [['-e'], 'arp'],
  ])('-r %j %s prints what tcpdump -n prints', async (flags, expr) => {
    for (const f of [FILE, NGFILE]) {
      const args = ['-r', f, '-n', ...flags, ...(expr ? [expr] : [])];
      const want = spawnSync('tcpdump', args, { encoding: 'utf8' });
      expect(want.status).toBe(0);
      const got = await run(args);
      expect(got.code).toBe(0);
      expect(got.out).toBe(want.stdout);
    }
  });
});

describe('bpfkern tcpdump', () => {
  it('-w writes the matching packets', async () => {
    const out = join(dir, 'out.pcap');
    const r = await run(['-r', FILE, '-w', out, 'udp']);
    expect(r.code).toBe(0);
    expect(r.out).toBe('');
    const f = readCapture(readFileSync(out));
    expect(f.packets.map((p) => p.data.length)).toEqual([50, 82]); // the 802.1Q-tagged one is not `udp`, as in libpcap
  });

  it.each([
    ['tcp port', "tcpdump: can't parse filter expression: syntax error\n"],
    ['host foo.invalid', "tcpdump: unknown host 'foo.invalid'\n"],
    ['port 99999', 'tcpdump: illegal port number 99999 > 65535\n'],
    ['ip[0:3] = 1', 'tcpdump: data size must be 1, 2, or 4\n'],
    ['tcp or 80', 'tcpdump: syntax error in filter expression\n'],
    ['1 = 2', 'tcpdump: expression rejects all packets\n'],
  ])('%s: %s', async (expr, msg) => {
    const r = await run(['-d', expr]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(msg);
  });

  it('a corrupt file is an error, not a crash', async () => {
    const bad = join(dir, 'bad.pcap');
    writeFileSync(bad, Uint8Array.from([0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, ...Array<number>(16).fill(0), 1, 0, 0, 0, 9]));
    const r = await run(['-r', bad]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^tcpdump: corrupt capture file at offset 24: truncated packet header/);
  });
});
