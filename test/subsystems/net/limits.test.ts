// What keeps a socket's resources bounded: the receive buffer (SO_RCVBUF, truesize
// accounting, drops counted and traced as Linux's) and the FIN_WAIT2 timer of orphans.
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../../index.js';
import { errnoNumber } from '../../../kernel/errno.js';
import { tracepointOf } from '../../../kernel/trace/tracepoint.js';
import { skbDropReason } from '../../../kernel/trace/events/skb.js';
import { netOf, socketControl, tcpStateOf } from '../../../subsystems/net/index.js';
import { RMEM_DEFAULT, skbTruesize } from '../../../subsystems/net/socket.js';
import { TCP_FIN_TIMEOUT_NS } from '../../../subsystems/net/tcp.js';
import * as net from '../../../userspace/libc/net.js';
import type { Proc } from '../../../userspace/libc/process.js';

function proc() {
  const k = bootKernel({ seed: 5 });
  const p: Proc = { kernel: k, task: k.tasks.spawn({ comm: 'app' }) };
  const drops: number[] = [];
  tracepointOf(k, 'skb', 'kfree_skb').attach((_t, rec) => void drops.push(Number(rec['reason'])));
  return { k, p, drops };
}

async function rcvbufOf(p: Proc, fd: number): Promise<number> {
  const buf = new Uint8Array(4);
  await net.getsockopt(p, fd, net.SOL_SOCKET, net.SO.SO_RCVBUF, buf, 4);
  return new DataView(buf.buffer).getInt32(0, true);
}

const sockOf = (p: Proc, fd: number) => [...netOf(p.kernel).sockets].find((s) => p.task.fds.get(fd) === s)!;

describe('SO_RCVBUF', () => {
  it('starts at rmem_default; a set value is doubled, capped by rmem_max and floored', async () => {
    const { p } = proc();
    const fd = await net.socket(p, net.AF_INET, net.SOCK_DGRAM);
    expect(await rcvbufOf(p, fd)).toBe(RMEM_DEFAULT);
    for (const [set, want] of [[10000, 20000], [1, 4608], [1 << 30, 425984], [-1, 425984]] as const) {
      await net.setsockopt(p, fd, net.SOL_SOCKET, net.SO.SO_RCVBUF, set, 4);
      expect(await rcvbufOf(p, fd)).toBe(want);
    }
    await expect(net.setsockopt(p, fd, net.SOL_SOCKET, net.SO.SO_RCVBUF, 100, 2)).rejects.toMatchObject({ errno: errnoNumber('EINVAL') });
  });

  it('a packet tap nobody reads stops at its buffer: the rest is dropped (PACKET_SOCK_ERROR) and counted', async () => {
    const { k, p, drops } = proc();
    const tap = await net.socket(p, net.AF_PACKET, net.SOCK_RAW, net.htons(net.ETH_P_ALL));
    await net.setsockopt(p, tap, net.SOL_SOCKET, net.SO.SO_RCVBUF, 4096, 4);
    const tx = await net.socket(p, net.AF_INET, net.SOCK_DGRAM);
    for (let i = 0; i < 100; i++) await net.sendto(p, tx, new Uint8Array(200), 0, { family: net.AF_INET, addr: '10.0.2.3', port: 53 });
    const sk = sockOf(p, tap);
    // One packet may overshoot: the check is made before the packet is charged.
    expect(sk.rmemAlloc()).toBeLessThan(8192 + skbTruesize(14 + 20 + 8 + 200));
    expect(sk.rx.length).toBe(Math.ceil(8192 / skbTruesize(242)));
    expect(sk.rcvbufDrops).toBe(100 - sk.rx.length); // a tap sees a frame leaving eth0 once
    expect(drops.filter((r) => r === skbDropReason('PACKET_SOCK_ERROR'))).toHaveLength(sk.rcvbufDrops);
    expect(socketControl(k).show(sk.id)).toContain(`rcvbuf: 8192\nrcvbuf_drops: ${sk.rcvbufDrops}\n`);
    // Reading makes room again.
    while (sk.rx.length > 0) await net.recvfrom(p, tap, 2000, net.MSG_DONTWAIT);
    await net.sendto(p, tx, new Uint8Array(1), 0, { family: net.AF_INET, addr: '10.0.2.3', port: 53 });
    expect(sk.rx.length).toBe(1);
  });

  it('a UDP socket that does not read drops with SOCKET_RCVBUFF; its sender never notices', async () => {
    const { p, drops } = proc();
    const rx = await net.socket(p, net.AF_INET, net.SOCK_DGRAM);
    await net.bind(p, rx, { family: net.AF_INET, addr: '127.0.0.1', port: 5353 });
    const tx = await net.socket(p, net.AF_INET, net.SOCK_DGRAM);
    const n = Math.ceil(RMEM_DEFAULT / skbTruesize(1000)) + 10;
    for (let i = 0; i < n; i++) await net.sendto(p, tx, new Uint8Array(1000), 0, { family: net.AF_INET, addr: '127.0.0.1', port: 5353 });
    const sk = sockOf(p, rx);
    expect(sk.rx.length).toBe(Math.ceil(RMEM_DEFAULT / skbTruesize(1000)));
    expect(sk.rcvbufDrops).toBe(10);
    expect(drops.filter((r) => r === skbDropReason('SOCKET_RCVBUFF'))).toHaveLength(10);
  });
});

describe('TCP orphans', () => {
  async function pair(p: Proc) {
    const l = await net.socket(p, net.AF_INET, net.SOCK_STREAM);
    await net.bind(p, l, { family: net.AF_INET, addr: '127.0.0.1', port: 8080 });
    await net.listen(p, l, 16);
    const c = await net.socket(p, net.AF_INET, net.SOCK_STREAM);
    await net.connect(p, c, { family: net.AF_INET, addr: '127.0.0.1', port: 8080 });
    return { l, c, a: await net.accept(p, l) };
  }
  const states = (p: Proc) => [...netOf(p.kernel).sockets].map((s) => `${tcpStateOf(s)}${s.closed ? ' orphan' : ''}`).sort();

  it('an orphan in FIN_WAIT2 is gone when the peer closes', async () => {
    const { p } = proc();
    const { l, c, a } = await pair(p);
    await net.close(p, c);
    expect(states(p)).toEqual(['CLOSE_WAIT', 'FIN_WAIT2 orphan', 'LISTEN']);
    await net.close(p, a);
    expect(states(p)).toEqual(['LISTEN']);
    await net.close(p, l);
    expect(netOf(p.kernel).sockets.size).toBe(0);
  });

  it('an orphan whose peer never closes is freed after tcp_fin_timeout, not before', async () => {
    const { k, p } = proc();
    const { c, a } = await pair(p);
    await net.close(p, c);
    const tick = async () => {
      const s = await net.socket(p, net.AF_INET, net.SOCK_STREAM);
      await net.close(p, s); // a close runs due timers, as a segment's arrival does
    };
    await tick();
    expect(states(p)).toContain('FIN_WAIT2 orphan');
    k.clock.advance(TCP_FIN_TIMEOUT_NS);
    await tick();
    expect(states(p)).toEqual(['CLOSE_WAIT', 'LISTEN']);
    // The peer's FIN now finds nobody: the stack answers with a RST and the end is closed.
    await net.close(p, a);
    expect(states(p)).toEqual(['LISTEN']);
  });
});
