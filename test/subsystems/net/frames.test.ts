// The frames the stack builds carry checksums a receiver accepts: the IPv4 header's and
// TCP's over its pseudo-header, checked here by summing the way a receiver does (to 0xffff).
import { describe, expect, it } from 'vitest';
import { TCP_FLAG, tcpFrame, udp4Frame, udp6Frame } from '../../../subsystems/net/index.js';
import { ipv4String, ipv6String, macString } from '../../../subsystems/net/frames.js';

function onesSum(...parts: Uint8Array[]): number {
  let sum = 0;
  for (const b of parts) for (let i = 0; i < b.length; i += 2) sum += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}
const be16 = (n: number) => Uint8Array.from([n >> 8, n & 0xff]);
const seg = { sport: 40000, dport: 80, seq: 1, ack: 2, flags: TCP_FLAG.ACK | TCP_FLAG.PSH, window: 65535, mss: 0, payload: Uint8Array.from([1, 2, 3]) };

describe('frames', () => {
  it('IPv4 headers carry a valid checksum (UDP and TCP alike)', () => {
    for (const f of [udp4Frame({ addr: '127.0.0.1', port: 1 }, { addr: '127.0.0.1', port: 2 }, new Uint8Array(5)), tcpFrame('ip', '10.0.2.15', '93.184.216.34', seg)]) {
      expect(onesSum(f.subarray(14, 34))).toBe(0xffff);
    }
  });

  it('TCP checksums cover the pseudo-header, over IPv4 and IPv6', () => {
    const v4 = tcpFrame('ip', '127.0.0.1', '127.0.0.2', seg);
    expect(onesSum(v4.subarray(26, 34), be16(6), be16(v4.length - 34), v4.subarray(34))).toBe(0xffff);
    const v6 = tcpFrame('ip6', '::1', 'fe80::1', seg);
    expect(onesSum(v6.subarray(22, 54), be16(6), be16(v6.length - 54), v6.subarray(54))).toBe(0xffff);
  });

  it('addresses print as inet_ntop and ip link do', () => {
    const f = udp6Frame({ addr: '::ffff:10.0.0.1', port: 1 }, { addr: 'fe80::5054:ff:fe12:3456', port: 2 }, new Uint8Array(0));
    expect(ipv6String(f.subarray(22, 38))).toBe('::ffff:10.0.0.1');
    expect(ipv6String(f.subarray(38, 54))).toBe('fe80::5054:ff:fe12:3456');
    expect(ipv4String(Uint8Array.from([10, 0, 2, 15]))).toBe('10.0.2.15');
    expect(macString(Uint8Array.from([0x52, 0x54, 0, 0x12, 0x34, 0x56]))).toBe('52:54:00:12:34:56');
  });
});
