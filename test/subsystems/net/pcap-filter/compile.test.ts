// The compiler on its own (no host tools): exact listings for libpcap-identical cases,
// tcpdump's error texts with positions, precedence and qualifier inheritance by verdict.
import { describe, expect, it } from 'vitest';
import { formatDdd } from '../../../../kernel/bpf/classic/text.js';
import { Kernel } from '../../../../kernel/kernel.js';
import { compileFilter, FilterError } from '../../../../subsystems/net/pcap-filter/index.js';
import { offlineFilter } from '../../../../subsystems/net/pcap-filter/offline.js';
import { buildFrame, type PacketSpec } from '../../../../userspace/bench/packets.js';

describe('listings (as tcpdump 4.99 / libpcap 1.10 -ddd prints them)', () => {
  it.each([
    ['ip', '4\n40 0 0 12\n21 0 1 2048\n6 0 0 262144\n6 0 0 0\n'],
    ['less 100', '4\n128 0 0 0\n37 0 1 100\n6 0 0 0\n6 0 0 262144\n'],
    ['ip6 multicast', '6\n40 0 0 12\n21 0 3 34525\n48 0 0 38\n21 0 1 255\n6 0 0 262144\n6 0 0 0\n'],
    ['', '1\n6 0 0 262144\n'],
  ])('%s', (expr, want) => {
    expect(formatDdd(compileFilter(expr))).toBe(want);
  });
});

describe('errors', () => {
  it.each([
    ['tcp port', "can't parse filter expression: syntax error", 8],
    ['ip[', "can't parse filter expression: syntax error", 2],
    ['host foo.invalid', "unknown host 'foo.invalid'", 5],
    ['port 99999', 'illegal port number 99999 > 65535', 5],
    ['net 10.0.0.1/8', 'non-network bits set in "10.0.0.1/8"', 4],
    ['net 10.0.0.0/33', 'mask length must be <= 32', 4],
    ['ip[1/0] = 1', 'division by zero', 4],
    ['ip[0] << 40 = 1', 'shift by more than 31 bits', 6],
    ['tcp host 1.2.3.4', "'tcp' modifier applied to host", 9],
    ['ip proto \\foo', "unknown ip proto 'foo'", 9],
    ['tcp or 80', 'syntax error in filter expression', 7],
    ['1 = 2', 'expression rejects all packets', 0],
  ])('%s', (expr, msg, pos) => {
    let err: unknown;
    try {
      compileFilter(expr);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FilterError);
    expect((err as FilterError).errno).toBe('EINVAL');
    expect((err as FilterError).detail).toBe(msg);
    expect((err as FilterError).pos).toBe(pos);
  });
});

describe('verdicts', () => {
  const kernel = new Kernel();
  const P: Record<string, PacketSpec> = {
    tcp80: { l3: 'ip', proto: 6, sport: 1234, dport: 80, src: '10.0.0.1' },
    udp53: { l3: 'ip', proto: 17, sport: 1234, dport: 53, src: '10.0.0.9' },
    udp54: { l3: 'ip', proto: 17, sport: 1234, dport: 54, src: '10.0.0.9' },
    frag80: { l3: 'ip', proto: 6, dport: 80, fragOff: 10 },
    arp: { l3: 'arp', src: '10.0.0.1' },
  };
  it.each([
    // and/or have equal precedence, left to right: (tcp or udp) and host 10.0.0.1
    ['tcp or udp and host 10.0.0.1', { tcp80: true, udp53: false, udp54: false, frag80: true, arp: false }],
    ['udp port 53 or 54', { tcp80: false, udp53: true, udp54: true, frag80: false, arp: false }],
    ['tcp port 80', { tcp80: true, udp53: false, udp54: false, frag80: false, arp: false }],
    ['host 10.0.0.1', { tcp80: true, udp53: false, udp54: false, frag80: true, arp: true }],
    ['not host 10.0.0.1 and not arp', { tcp80: false, udp53: true, udp54: true, frag80: false, arp: false }],
    ['ip[6:2] & 0x1fff != 0', { tcp80: false, udp53: false, udp54: false, frag80: true, arp: false }],
  ])('%s', (expr, want) => {
    const f = offlineFilter(kernel, compileFilter(expr), { engine: 'interp' });
    try {
      const got = Object.fromEntries(Object.entries(P).map(([k, s]) => [k, f.run(buildFrame(s)) === 262144]));
      expect(got).toEqual(want);
    } finally {
      f.free();
    }
  });

  it('the -O (unoptimized) program gives the same verdicts', () => {
    for (const expr of ['tcp port 80', 'host 10.0.0.1', 'udp port 53 or 54']) {
      const a = offlineFilter(kernel, compileFilter(expr), { engine: 'interp' });
      const b = offlineFilter(kernel, compileFilter(expr, { optimize: false }), { engine: 'interp' });
      for (const s of Object.values(P)) expect(a.run(buildFrame(s))).toBe(b.run(buildFrame(s)));
      a.free();
      b.free();
    }
  });
});
