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
    // or-pull: the tests of [26] grouped before those of [30]
    ['ip host 1.2.3.4 or 1.2.3.5', '10\n40 0 0 12\n21 0 7 2048\n32 0 0 26\n21 4 0 16909060\n21 3 0 16909061\n32 0 0 30\n21 1 0 16909060\n21 0 1 16909061\n6 0 0 262144\n6 0 0 0\n'],
    ['udp port 53 or 5', '23\n40 0 0 12\n21 0 7 34525\n48 0 0 20\n21 0 18 17\n40 0 0 54\n21 15 0 53\n21 14 0 5\n40 0 0 56\n21 12 11 53\n21 0 12 2048\n48 0 0 23\n21 0 10 17\n40 0 0 20\n69 8 0 8191\n177 0 0 14\n72 0 0 14\n21 4 0 53\n21 3 0 5\n72 0 0 16\n21 1 0 53\n21 0 1 5\n6 0 0 262144\n6 0 0 0\n'],
    // threading past a block whose load is dead where the edge lands
    ['not tcp and not udp and not icmp', '15\n40 0 0 12\n21 0 4 2048\n48 0 0 23\n21 9 0 6\n21 8 0 17\n21 7 8 1\n21 0 7 34525\n48 0 0 20\n21 4 0 6\n21 0 2 44\n48 0 0 54\n21 1 0 6\n21 0 1 17\n6 0 0 0\n6 0 0 262144\n'],
  ])('%s', (expr, want) => {
    expect(formatDdd(compileFilter(expr))).toBe(want);
  });
});

describe('or-pull on long chains (sizes as tcpdump 4.99 / libpcap 1.10 gives them)', () => {
  const ports = (n: number): string => Array.from({ length: n }, (_, i) => `port ${i + 1}`).join(' or ');
  const hosts = (n: number): string => Array.from({ length: n }, (_, i) => `host 10.0.0.${i + 1}`).join(' or ');
  it.each([
    [ports(40), 141],
    [`${hosts(20)} and (${ports(10)})`, 75],
  ])('%s', (expr, want) => {
    expect(compileFilter(expr).length).toBe(want);
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
