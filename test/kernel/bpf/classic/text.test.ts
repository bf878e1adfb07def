import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  formatBpfAsm, formatDd, formatDdd, formatOneLine, formatTcpdump, parseBpfAsm, parseClassic,
} from '../../../../kernel/bpf/classic/text.js';
import { checkClassic } from '../../../../kernel/bpf/classic/checker.js';
import { randomProgram, rng } from './refvm.js';

// `tcpdump -y EN10MB -ddd ip`
const IP = '4,40 0 0 12,21 0 1 2048,6 0 0 262144,6 0 0 0';

describe('classic text formats', () => {
  it('prints tcpdump -d byte for byte (golden)', () => {
    expect(formatTcpdump(parseClassic(IP))).toBe(
      '(000) ldh      [12]\n(001) jeq      #0x800           jt 2\tjf 3\n(002) ret      #262144\n(003) ret      #0\n',
    );
    expect(formatTcpdump(parseClassic('4,177 0 0 14,72 0 0 16,32 0 0 4294963200,22 0 0 0'))).toBe(
      '(000) ldxb     4*([14]&0xf)\n(001) ldh      [x + 16]\n(002) ld       [proto]\n(003) ret      \n',
    );
  });

  it('prints -dd and -ddd (golden)', () => {
    const p = parseClassic(IP);
    expect(formatDd(p)).toBe('{ 0x28, 0, 0, 0x0000000c },\n{ 0x15, 0, 1, 0x00000800 },\n{ 0x6, 0, 0, 0x00040000 },\n{ 0x6, 0, 0, 0x00000000 },\n');
    expect(formatDdd(p)).toBe('4\n40 0 0 12\n21 0 1 2048\n6 0 0 262144\n6 0 0 0\n');
    expect(formatOneLine(p)).toBe(IP);
  });

  it('parses every format to the same program', () => {
    const p = parseClassic(IP);
    for (const text of [formatTcpdump(p), formatDd(p), formatDdd(p), `${IP},`, formatBpfAsm(p)]) {
      expect(parseClassic(text)).toEqual(p);
    }
  });

  it('reads bpf_asm syntax: labels, jneq, ancillary names, ldx 4*([k]&0xf), comments', () => {
    const p = parseBpfAsm(`
      ; tools/bpf style
      ldh [12]
      jneq #0x800, drop     /* not IPv4 */
      ldb [23]
      jeq #6, tcp, drop
tcp:  ldx 4*([14]&0xf)
      ld #proto
      ld M[0]
      ret #-1
drop: ret #0
`.replace('ld M[0]', 'st M[0]'));
    expect(formatOneLine(p)).toBe('9,40 0 0 12,21 0 6 2048,48 0 0 23,21 0 4 6,177 0 0 14,32 0 0 4294963200,2 0 0 0,6 0 0 4294967295,6 0 0 0');
  });

  const errors: [string, RegExp][] = [
    ['ret #1\nfoo #2', /unknown instruction 'foo'/],
    ['jeq #1, nowhere\nret #0', /no such label 'nowhere'/],
    ['3,6 0 0 0', /count 3 does not match 1/],
    ['ld [x+]', /bad/],
  ];
  it.each(errors)('rejects %j with EINVAL', (text, msg) => {
    expect(() => parseClassic(text)).toThrow(/EINVAL/);
    expect(() => parseClassic(text)).toThrow(msg);
  });

  it('round-trips 300 random programs through -d, -dd, -ddd and bpf_asm', () => {
    const r = rng(5);
    let n = 0;
    while (n < 300) {
      const p = randomProgram(r);
      try {
        checkClassic(p);
      } catch {
        continue;
      }
      n++;
      expect(parseClassic(formatTcpdump(p))).toEqual(p);
      expect(parseClassic(formatDd(p))).toEqual(p);
      expect(parseClassic(formatDdd(p))).toEqual(p);
      expect(parseBpfAsm(formatBpfAsm(p))).toEqual(p);
    }
  });

  const tcpdump = spawnSync('tcpdump', ['--version']).status === 0;
  it.skipIf(!tcpdump)('matches the installed tcpdump -d/-dd/-ddd for real expressions (skipped: tcpdump absent)', () => {
    for (const expr of ['ip', 'udp port 53 or vlan', 'tcp[tcpflags] & tcp-syn != 0', 'len > 100 and ether[0] & 1 != 0', 'icmp6']) {
      const run = (flag: string): string => execFileSync('tcpdump', ['-y', 'EN10MB', flag, expr], { encoding: 'utf8' });
      const p = parseClassic(run('-ddd'));
      expect(formatDdd(p)).toBe(run('-ddd'));
      expect(formatDd(p)).toBe(run('-dd'));
      expect(formatTcpdump(p)).toBe(run('-d'));
      expect(parseClassic(run('-d'))).toEqual(p);
    }
  });
});
