import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KernelError } from '../../../kernel/errno.js';
import { readCapture, writePcap, writePcapng, type PacketIn } from '../../../subsystems/net/pcap.js';
import { mixedTraffic, rng } from '../../../userspace/bench/packets.js';

const PKTS: PacketIn[] = mixedTraffic(7, 40).map((data, i) => ({ tsSec: 1_700_000_000 + i, tsNsec: i * 123_456_789 % 1e9, data, origLen: data.length + (i % 3) }));

describe('pcap round trips', () => {
  const cases = [
    { name: 'pcap little-endian usec', write: writePcap, opts: {} },
    { name: 'pcap big-endian usec', write: writePcap, opts: { bigEndian: true } },
    { name: 'pcap little-endian nsec', write: writePcap, opts: { nanosecond: true } },
    { name: 'pcap big-endian nsec', write: writePcap, opts: { bigEndian: true, nanosecond: true } },
    { name: 'pcapng little-endian usec', write: writePcapng, opts: {} },
    { name: 'pcapng big-endian nsec', write: writePcapng, opts: { bigEndian: true, nanosecond: true } },
  ];
  it.each(cases)('$name', ({ write, opts }) => {
    const f = readCapture(write(PKTS, opts));
    expect(f.bigEndian).toBe(opts.bigEndian ?? false);
    expect(f.nanosecond).toBe(opts.nanosecond ?? false);
    expect(f.linktype).toBe(1);
    expect(f.packets.length).toBe(PKTS.length);
    f.packets.forEach((p, i) => {
      const want = PKTS[i]!;
      expect(p.data).toEqual(want.data);
      expect(p.origLen).toBe(want.origLen);
      expect(p.tsSec).toBe(want.tsSec);
      expect(p.tsNsec).toBe(opts.nanosecond ? want.tsNsec : Math.floor(want.tsNsec / 1000) * 1000);
    });
  });
});

// Hand-built pcapng pieces: a simple packet block and an if_tsresol of 2^-10.
function block(type: number, body: number[]): number[] {
  const len = 12 + body.length;
  const u32 = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24];
  return [...u32(type), ...u32(len), ...body, ...u32(len)];
}
const u32 = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24];
const SHB = block(0x0a0d0d0a, [...u32(0x1a2b3c4d), 1, 0, 0, 0, ...Array<number>(8).fill(0xff)]);

describe('pcapng blocks', () => {
  it('reads a simple packet block cut to the interface snaplen, skips unknown blocks', () => {
    const idb = block(1, [1, 0, 0, 0, ...u32(4)]);
    const spb = block(3, [...u32(6), 1, 2, 3, 4]);
    const unknown = block(0x0bad, [9, 9, 9, 9]);
    const f = readCapture(Uint8Array.from([...SHB, ...idb, ...unknown, ...spb]));
    expect(f.packets).toHaveLength(1);
    expect(Array.from(f.packets[0]!.data)).toEqual([1, 2, 3, 4]);
    expect(f.packets[0]!.origLen).toBe(6);
  });
  it('converts binary timestamp resolutions', () => {
    const idb = block(1, [1, 0, 0, 0, ...u32(0), 9, 0, 1, 0, 0x8a, 0, 0, 0, 0, 0, 0, 0]);
    const ticks = 3 * 1024 + 512; // 3.5 s
    const epb = block(6, [...u32(0), ...u32(0), ...u32(ticks), ...u32(0), ...u32(0)]);
    const p = readCapture(Uint8Array.from([...SHB, ...idb, ...epb])).packets[0]!;
    expect([p.tsSec, p.tsNsec]).toEqual([3, 500_000_000]);
  });
});

describe('corrupt files are EINVAL', () => {
  const good = writePcap(PKTS.slice(0, 3));
  const goodNg = writePcapng(PKTS.slice(0, 3));
  const cases: { name: string; bytes: Uint8Array; msg: RegExp }[] = [
    { name: 'empty', bytes: new Uint8Array(0), msg: /too short/ },
    { name: 'bad magic', bytes: Uint8Array.from([1, 2, 3, 4, ...good.subarray(4)]), msg: /unknown magic/ },
    { name: 'truncated record', bytes: good.subarray(0, good.length - 1), msg: /past the end/ },
    { name: 'half a record header', bytes: good.subarray(0, 24 + 8), msg: /truncated packet header/ },
    { name: 'huge caplen', bytes: (() => { const b = good.slice(); new DataView(b.buffer).setUint32(32, 0xffffffff, true); return b; })(), msg: /bigger than/ },
    { name: 'pcapng block length not a multiple of 4', bytes: (() => { const b = goodNg.slice(); new DataView(b.buffer).setUint32(4, 30, true); return b; })(), msg: /bad block length/ },
    { name: 'pcapng trailing length mismatch', bytes: (() => { const b = goodNg.slice(); new DataView(b.buffer).setUint32(24, 32, true); return b; })(), msg: /trailing/ },
    { name: 'pcapng packet before any interface', bytes: Uint8Array.from([...SHB, ...block(6, Array<number>(20).fill(0))]), msg: /undeclared interface/ },
  ];
  it.each(cases)('$name', ({ bytes, msg }) => {
    let err: unknown;
    try {
      readCapture(bytes);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KernelError);
    expect((err as KernelError).errno).toBe('EINVAL');
    expect((err as KernelError).detail).toMatch(msg);
  });

  it('fuzz: mutated and random files only ever parse or fail with EINVAL, quickly', () => {
    const r = rng(99);
    const seeds = [good, goodNg, writePcapng(PKTS.slice(0, 3), { bigEndian: true, nanosecond: true })];
    const start = Date.now();
    let parsed = 0;
    for (let i = 0; i < 3000; i++) {
      let b: Uint8Array;
      if (i % 10 === 0) {
        b = Uint8Array.from({ length: r(200) }, () => r(256));
      } else {
        b = seeds[i % seeds.length]!.slice();
        const flips = 1 + r(4);
        for (let j = 0; j < flips; j++) b[r(b.length)] = r(256);
        if (r(4) === 0) b = b.subarray(0, r(b.length));
      }
      try {
        readCapture(b);
        parsed++;
      } catch (e) {
        if (!(e instanceof KernelError) || e.errno !== 'EINVAL') throw e;
      }
    }
    expect(parsed).toBeGreaterThan(0);
    expect(Date.now() - start).toBeLessThan(20_000);
  });
});

const tcpdumpMissing = spawnSync('tcpdump', ['--version']).status === 0 ? null : 'tcpdump is not installed';

describe.skipIf(tcpdumpMissing !== null)(`files tcpdump reads${tcpdumpMissing ? ` (skipped: ${tcpdumpMissing})` : ''}`, () => {
  it.each([
    ['pcap usec', writePcap(PKTS, {})],
    ['pcap big-endian nsec', writePcap(PKTS, { bigEndian: true, nanosecond: true })],
    ['pcapng', writePcapng(PKTS, {})],
  ] as const)('%s: tcpdump -r counts every packet', (_n, bytes) => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfkern-pcap-'));
    const file = join(dir, 'x.pcap');
    writeFileSync(file, bytes);
    const r = spawnSync('tcpdump', ['-r', file, '-n', '-q'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(PKTS.length);
  });
});
