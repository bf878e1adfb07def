// The demo workload's network: dig/named over UDP, curl/nginx over TCP, a tcpdump-like
// AF_PACKET listener, frames on lo and eth0; and the pcap:FILE replay workload.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../../index.js';
import { addExitHook } from '../../../kernel/syscall.js';
import { tracepointOf } from '../../../kernel/trace/tracepoint.js';
import { netOf, tcpStateOf, udp4Frame } from '../../../subsystems/net/index.js';
import { writePcap } from '../../../subsystems/net/pcap.js';
import { startWorkload } from '../../../userspace/workloads/index.js';

async function record(seed: number, ms: number) {
  const k = bootKernel({ seed });
  const calls: string[] = [];
  addExitHook(k, (call, ret) => {
    if (['sendto', 'recvfrom', 'connect', 'accept4', 'listen'].includes(call.name)) calls.push(`${call.task.comm} ${call.name} ${Number(ret) >= 0 ? 'ok' : Number(ret)}`);
  });
  const devs: string[] = [];
  tracepointOf(k, 'net', 'net_dev_xmit').attach((_t, rec) => void devs.push(String(rec['name'])));
  const w = startWorkload(k, 'demo', seed, 5);
  await new Promise((r) => setTimeout(r, ms));
  await w.stop();
  return { k, calls, devs };
}

describe('demo workload: the network', () => {
  it('named answers dig, nginx serves curl, tcpdump reads frames from lo and eth0', async () => {
    const { k, calls, devs } = await record(4, 2000);
    expect(devs).toContain('lo');
    expect(devs).toContain('eth0');
    const has = (s: string) => calls.some((c) => c.startsWith(s));
    expect(has('named recvfrom ok') && has('named sendto ok')).toBe(true);
    expect(has('dig sendto ok') && has('dig recvfrom ok')).toBe(true);
    expect(has('curl connect ok') && has('nginx accept4 ok') && has('curl recvfrom ok')).toBe(true);
    expect(has('tcpdump recvfrom ok')).toBe(true);
    expect(calls.filter((c) => c === 'tcpdump recvfrom ok').length).toBeGreaterThan(20);
    // Stopped: every task exited and closed its sockets.
    expect(netOf(k).sockets.size).toBe(0);
    expect(k.log.lines.filter((l) => l.includes('task code threw'))).toEqual([]);
  });

  it('keeps its sockets and their queues bounded: every connection ends, every queue is read', async () => {
    const k = bootKernel({ seed: 6 });
    const sockets = netOf(k).sockets;
    const w = startWorkload(k, 'demo', 6, 5);
    const samples: { total: number; connections: number; fullest: number }[] = [];
    let connected = 0;
    addExitHook(k, (call, ret) => void (call.name === 'connect' && call.task.comm === 'curl' && ret === 0 && connected++));
    for (let tick = 0; tick < 15; tick++) {
      await new Promise((r) => setTimeout(r, 100));
      const all = [...sockets];
      samples.push({
        total: all.length,
        connections: all.filter((s) => !['LISTEN', null].includes(tcpStateOf(s))).length,
        fullest: Math.max(...all.map((s) => s.rmemAlloc() / s.rcvbuf)),
      });
    }
    await w.stop();
    expect(connected).toBeGreaterThan(10);
    // tcpdump, named (2), nginx's listeners (2), a dig, and one curl connection (both ends).
    expect(Math.max(...samples.map((x) => x.total))).toBeLessThanOrEqual(8);
    expect(Math.max(...samples.map((x) => x.connections))).toBeLessThanOrEqual(2);
    expect(Math.max(...samples.map((x) => x.fullest))).toBeLessThan(0.5);
    expect(sockets.size).toBe(0);
  });

  it('repeats its network choices for a seed', async () => {
    const a = await record(9, 700);
    const b = await record(9, 700);
    const seq = (c: string[]) => c.filter((x) => x.startsWith('dig sendto') || x.startsWith('curl connect'));
    const n = Math.min(seq(a.calls).length, seq(b.calls).length, 10);
    expect(n).toBeGreaterThan(3);
    expect(seq(a.calls).slice(0, n)).toEqual(seq(b.calls).slice(0, n));
  });
});

describe('pcap:FILE workload', () => {
  it("replays the file's frames into eth0, looping", async () => {
    const k = bootKernel({ seed: 1 });
    const dir = mkdtempSync(join(tmpdir(), 'bpfkern-pcap-'));
    const frame = udp4Frame({ addr: '10.0.2.2', port: 1234 }, { addr: '10.0.2.15', port: 9 }, new Uint8Array(4));
    frame.set([0x52, 0x54, 0x00, 0x12, 0x34, 0x56], 0);
    writeFileSync(join(dir, 'x.pcap'), writePcap([{ data: frame, tsSec: 0, tsNsec: 0 }]));
    const seen: number[] = [];
    tracepointOf(k, 'net', 'netif_receive_skb').attach((_t, rec) => void seen.push(Number(rec['len'])));
    const w = startWorkload(k, `pcap:${join(dir, 'x.pcap')}`, 1, 5);
    await new Promise((r) => setTimeout(r, 200));
    await w.stop();
    expect(seen.length).toBeGreaterThan(3);
  });

  it('says what is wrong with a missing or corrupt file', () => {
    const k = bootKernel({ seed: 1 });
    expect(() => startWorkload(k, 'pcap:/nonexistent.pcap', 1)).toThrow(/cannot read/);
    expect(() => startWorkload(k, 'pcap', 1)).toThrow(/needs a file/);
    const dir = mkdtempSync(join(tmpdir(), 'bpfkern-pcap-'));
    writeFileSync(join(dir, 'bad.pcap'), 'not a capture');
    expect(() => startWorkload(k, `pcap:${join(dir, 'bad.pcap')}`, 1)).toThrow(/bad\.pcap/);
  });
});
