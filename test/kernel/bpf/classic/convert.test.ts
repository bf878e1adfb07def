import { describe, expect, it } from 'vitest';
import { checkClassic } from '../../../../kernel/bpf/classic/checker.js';
import { convertClassic } from '../../../../kernel/bpf/classic/convert.js';
import { ancillaryK, SKF_AD, type SockFilter } from '../../../../kernel/bpf/classic/isa.js';
import { bpfProgCreateClassic } from '../../../../kernel/bpf/classic/prog.js';
import { formatOneLine, parseClassic } from '../../../../kernel/bpf/classic/text.js';
import { Kernel } from '../../../../kernel/kernel.js';
import { toHex } from '../../../../kernel/bpf/isa.js';
import { runSkbProg, type SkBuff } from '../../../../subsystems/net/filter.js';
import { NO_VLAN } from '../../../../subsystems/net/frames.js';
import { defaultDevices } from '../../../../subsystems/net/netdev.js';
import { socketFilterProgType } from '../../../../subsystems/net/progtypes.js';
import { cbpfOracle, oracleBatch } from '../../../helpers/cbpf-oracle.js';
import { randomPacket, randomProgram, refRun, rng } from './refvm.js';

const kernel = new Kernel({ seed: 7 });

function run(prog: readonly SockFilter[], pkt: Uint8Array, over: Partial<SkBuff> = {}): number {
  const p = bpfProgCreateClassic(kernel, prog, { type: socketFilterProgType });
  const skb: SkBuff = { frame: pkt, netOff: 0, dataOff: 0, protocol: 0, pktType: 0, dev: null, vlan: NO_VLAN, ...over };
  return runSkbProg(kernel, p, skb, null, 1);
}

const P = Uint8Array.from([0x45, 0x00, 0x00, 0x24, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0xab, 0xcd, 10, 0, 0, 1, 10, 0, 0, 2]);

// Hand-written programs, one per family of instructions, with their expected returns.
const hand: { name: string; prog: string; want: number }[] = [
  { name: 'ret #k', prog: 'ret #77', want: 77 },
  { name: 'A and X start at 0', prog: 'tax\nadd x\nret a', want: 0 },
  { name: 'ld [k] big endian', prog: 'ld [0]\nret a', want: 0x45000024 },
  { name: 'ldh [k]', prog: 'ldh [2]\nret a', want: 0x24 },
  { name: 'ldb [k]', prog: 'ldb [9]\nret a', want: 0x11 },
  { name: 'load past the end ends with 0', prog: 'ldb [20]\nret #1', want: 0 },
  { name: 'ld [x + k]', prog: 'ldx #4\nldh [x + 2]\nret a', want: 0x4000 },
  { name: 'ldx 4*([k]&0xf) keeps A', prog: 'ld #9\nldx 4*([0]&0xf)\nadd x\nret a', want: 29 },
  { name: 'ld #len', prog: 'ld #len\nret a', want: 20 },
  { name: 'ldx #len', prog: 'ldx #len\ntxa\nret a', want: 20 },
  { name: 'scratch memory', prog: 'ld #5\nst M[3]\nld #1\nldx M[3]\ntxa\nret a', want: 5 },
  { name: 'div by X = 0 returns 0', prog: 'ld #9\ndiv x\nret #1', want: 0 },
  { name: 'mod', prog: 'ld #17\nmod #5\nret a', want: 2 },
  { name: 'neg', prog: 'ld #1\nneg\nret a', want: 0xffffffff },
  { name: 'lsh by X masks to 31', prog: 'ld #1\nldx #33\nlsh x\nret a', want: 2 },
  { name: 'jeq taken / not', prog: 'ldb [9]\njeq #17, yes, no\nyes: ret #1\nno: ret #2', want: 1 },
  { name: 'jgt with k >= 2^31 compares unsigned', prog: 'ld #0xffffffff\njgt #0x80000000, yes, no\nyes: ret #1\nno: ret #2', want: 1 },
  { name: 'jset', prog: 'ld #6\njset #1, yes, no\nyes: ret #1\nno: ret #2', want: 2 },
  { name: 'jneq (jt = 0)', prog: 'ld #3\njneq #3, no\nret #1\nno: ret #2', want: 1 },
  { name: 'ja', prog: 'jmp end\nret #1\nend: ret #2', want: 2 },
];

describe('convertClassic + engine', () => {
  it.each(hand)('$name', ({ prog, want }) => {
    const p = parseClassic(prog, 'bpf_asm');
    checkClassic(p);
    expect(run(p, P)).toBe(want >>> 0);
    expect(refRun(p, P)).toBe(want >>> 0);
  });

  it('starts with the prologue that zeroes A and X and saves ctx', () => {
    const out = convertClassic(parseClassic('1,6 0 0 0')).insns;
    expect(out.slice(0, 3).map((i) => [i.code, i.dst, i.src])).toEqual([[0xac, 0, 0], [0xac, 7, 7], [0xbf, 6, 1]]);
  });

  it('maps jumps like bpf_convert_filter: jf = 0 one jump, jt = 0 negated, else jump + ja', () => {
    const codes = (text: string): number[] => convertClassic(parseClassic(text)).insns.slice(3).map((i) => i.code);
    expect(codes('3,21 1 0 5,6 0 0 0,6 0 0 1')).toEqual([0x15, 0xb4, 0x95, 0xb4, 0x95]);
    expect(codes('3,21 0 1 5,6 0 0 0,6 0 0 1')).toEqual([0x55, 0xb4, 0x95, 0xb4, 0x95]);
    expect(codes('4,21 1 2 5,6 0 0 0,6 0 0 1,6 0 0 2').slice(0, 2)).toEqual([0x15, 0x05]);
  });

  const anc: { name: string; ad: number; skb: Partial<SkBuff>; want: number }[] = [
    { name: 'protocol', ad: SKF_AD.SKF_AD_PROTOCOL, skb: { protocol: 0x86dd }, want: 0x86dd },
    { name: 'pkttype', ad: SKF_AD.SKF_AD_PKTTYPE, skb: { pktType: 3 }, want: 3 },
    { name: 'ifindex', ad: SKF_AD.SKF_AD_IFINDEX, skb: { dev: defaultDevices()[1]! }, want: 2 },
    { name: 'hatype', ad: SKF_AD.SKF_AD_HATYPE, skb: { dev: defaultDevices()[0]! }, want: 772 },
    { name: 'ifindex without a device exits with A', ad: SKF_AD.SKF_AD_IFINDEX, skb: {}, want: 100 },
    { name: 'mark', ad: SKF_AD.SKF_AD_MARK, skb: { mark: 0xdead }, want: 0xdead },
    { name: 'rxhash', ad: SKF_AD.SKF_AD_RXHASH, skb: { hash: 0x12345678 }, want: 0x12345678 },
    { name: 'queue', ad: SKF_AD.SKF_AD_QUEUE, skb: { queueMapping: 3 }, want: 3 },
    { name: 'vlan_tci', ad: SKF_AD.SKF_AD_VLAN_TAG, skb: { vlan: { present: true, tci: 0x2005, proto: 0x8100 } }, want: 0x2005 },
    { name: 'vlan_avail', ad: SKF_AD.SKF_AD_VLAN_TAG_PRESENT, skb: { vlan: { present: true, tci: 0, proto: 0x8100 } }, want: 1 },
    { name: 'vlan_avail absent', ad: SKF_AD.SKF_AD_VLAN_TAG_PRESENT, skb: {}, want: 0 },
    { name: 'vlan_tpid', ad: SKF_AD.SKF_AD_VLAN_TPID, skb: { vlan: { present: true, tci: 0, proto: 0x88a8 } }, want: 0x88a8 },
    { name: 'cpu', ad: SKF_AD.SKF_AD_CPU, skb: {}, want: 1 },
    { name: 'poff of IPv4/UDP from the IP header', ad: SKF_AD.SKF_AD_PAY_OFFSET, skb: { protocol: 0x0800 }, want: 28 },
  ];
  it.each(anc)('ancillary $name', ({ ad, skb, want }) => {
    const prog: SockFilter[] = [
      { code: 0x00, jt: 0, jf: 0, k: 100 },
      { code: 0x20, jt: 0, jf: 0, k: ancillaryK(ad) },
      { code: 0x16, jt: 0, jf: 0, k: 0 },
    ];
    expect(run(prog, P, skb)).toBe(want);
  });

  it('ancillary xor_x is A ^= X', () => {
    expect(run(parseClassic(`ld #6\nldx #3\nld [${ancillaryK(SKF_AD.SKF_AD_ALU_XOR_X) | 0}]\nret a`, 'bpf_asm'), P)).toBe(5);
  });

  it('nla finds a netlink attribute by type', () => {
    // two attributes: len 8 type 1, len 8 type 2 (little-endian nlattr headers)
    const pkt = Uint8Array.from([8, 0, 1, 0, 0, 0, 0, 0, 8, 0, 2, 0, 0, 0, 0, 0]);
    const prog = parseClassic(`ld #0\nldx #2\nld #nla\nret a`, 'bpf_asm');
    expect(run(prog, pkt)).toBe(8);
  });

  it('agrees with the reference reading on 2000 random programs', () => {
    const r = rng(42);
    let checked = 0;
    const bad: string[] = [];
    while (checked < 2000) {
      const prog = randomProgram(r);
      try {
        checkClassic(prog);
      } catch {
        continue;
      }
      checked++;
      for (let i = 0; i < 3; i++) {
        const pkt = randomPacket(r);
        const got = run(prog, pkt);
        const want = refRun(prog, pkt);
        if (got !== want) bad.push(`${formatOneLine(prog)} | ${toHex(pkt)}: engine ${got} ref ${want}`);
      }
    }
    expect(bad.slice(0, 5)).toEqual([]);
  });
});

const oracle = cbpfOracle();
describe.skipIf(!oracle.bin)(`differential against the host's SO_ATTACH_FILTER ${oracle.reason}`, () => {
  it('delivered lengths match on an AF_UNIX socketpair for 400 random programs', async () => {
    const { bootKernel } = await import('../../../../index.js');
    const net = await import('../../../../userspace/libc/net.js');
    const k = bootKernel({ seed: 3 });
    const p = { kernel: k, task: k.tasks.spawn({ comm: 'diff' }) };
    const r = rng(7);
    const progs: SockFilter[][] = [];
    while (progs.length < 400) {
      const prog = randomProgram(r);
      try {
        checkClassic(prog);
        progs.push(prog);
      } catch {
        // the checker table covers refusals
      }
    }
    const pkts = progs.map(() => [randomPacket(r), randomPacket(r)]);
    const host = oracleBatch(oracle.bin!, 'unix', progs.map((pr, i) => `${formatOneLine(pr)}|${pkts[i]!.map((b) => (b.length ? toHex(b) : '-')).join(' ')}`));
    const bad: string[] = [];
    for (let i = 0; i < progs.length; i++) {
      const [a, b] = await net.socketpair(p, net.AF_UNIX, net.SOCK_DGRAM);
      await net.attachFilter(p, a, progs[i]!);
      const got: number[] = [];
      for (const pkt of pkts[i]!) {
        await net.send(p, b, pkt);
        try {
          got.push((await net.recvfrom(p, a, 65536, net.MSG_DONTWAIT)).n);
        } catch {
          got.push(0);
        }
      }
      await net.close(p, a);
      await net.close(p, b);
      const want = host[i]!.results!.map((x) => x.received);
      if (JSON.stringify(got) !== JSON.stringify(want)) bad.push(`${formatOneLine(progs[i]!)}: ours ${got} host ${want}`);
    }
    expect(bad.slice(0, 5)).toEqual([]);
  });

  it('AF_PACKET on lo: tcpdump-style programs and ancillary loads match the host', async () => {
    const frame = '00000000000000000000000008004500002412344000401100000a0000010a0000023039003500100000646174612d2d2d2d';
    const other = '00112233445566778899aabb08004500002412344000401100000a0000010a0000023039003500100000646174612d2d2d2d';
    const tagged = '000000000000000000000000810000050800450000241234400040110000';
    const lines = [
      `4,40 0 0 12,21 0 1 2048,6 0 0 262144,6 0 0 0|${frame} ${other} 0011223344556677889900112233`,
      `2,32 0 0 ${ancillaryK(SKF_AD.SKF_AD_PKTTYPE)},22 0 0 0|${frame} ${other}`,
      `2,32 0 0 ${ancillaryK(SKF_AD.SKF_AD_PROTOCOL)},22 0 0 0|${frame}`,
      `4,32 0 0 ${ancillaryK(SKF_AD.SKF_AD_VLAN_TAG)},21 0 1 5,6 0 0 65535,6 0 0 0|${tagged} ${frame}`,
      `1,6 0 0 65535|${tagged} 0000000000000000000000008100`,
    ];
    const host = oracleBatch(oracle.bin!, 'packet', lines);
    const { bootKernel } = await import('../../../../index.js');
    const net = await import('../../../../userspace/libc/net.js');
    const k = bootKernel({ seed: 4 });
    const p = { kernel: k, task: k.tasks.spawn({ comm: 'diffpkt' }) };
    const ours: number[][] = [];
    for (const line of lines) {
      const [progText, pktText] = line.split('|') as [string, string];
      const rx = await net.socket(p, net.AF_PACKET, net.SOCK_RAW, net.htons(net.ETH_P_ALL));
      await net.bind(p, rx, { family: net.AF_PACKET, ifindex: 1 });
      await net.attachFilter(p, rx, parseClassic(progText));
      const tx = await net.socket(p, net.AF_PACKET, net.SOCK_RAW, 0);
      const row: number[] = [];
      for (const hex of pktText.split(' ')) {
        await net.sendto(p, tx, Uint8Array.from(Buffer.from(hex, 'hex')), 0, { family: net.AF_PACKET, ifindex: 1 });
        let got = 0;
        for (;;) {
          const from: { pkttype?: number } = {};
          try {
            const r = await net.recvfrom(p, rx, 65536, net.MSG_DONTWAIT, from);
            if (from.pkttype === 4) continue; // the outgoing copy, as the host helper skips it
            got = r.n;
          } catch {
            // EAGAIN: dropped
          }
          break;
        }
        row.push(got);
      }
      await net.close(p, rx);
      await net.close(p, tx);
      ours.push(row);
    }
    expect(ours).toEqual(host.map((h) => h.results!.map((x) => x.received)));
    expect(ours).toEqual([[50, 50, 0], [0, 3], [50], [26, 0], [26, 0]]);
  });
});
