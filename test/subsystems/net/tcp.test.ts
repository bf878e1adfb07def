// TCP over lo as programs use it, the frames it puts on the wire, socket filters on TCP
// sockets (they see the TCP header at LD_ABS 0), and debugfs's socket control files.
import { describe, expect, it } from 'vitest';
import { bootKernel, type BootedKernel } from '../../../index.js';
import { errnoNumber } from '../../../kernel/errno.js';
import { parseClassic } from '../../../kernel/bpf/classic/text.js';
import { netOf, socketControl } from '../../../subsystems/net/index.js';
import * as net from '../../../userspace/libc/net.js';
import { SyscallError, type Proc } from '../../../userspace/libc/process.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

function boot(): { k: BootedKernel; p: Proc } {
  const k = bootKernel({ seed: 7 });
  return { k, p: { kernel: k, task: k.tasks.spawn({ comm: 'app' }) } };
}

async function errnoOf(f: () => Promise<unknown>): Promise<string> {
  try {
    await f();
    return 'ok';
  } catch (e) {
    if (!(e instanceof SyscallError)) throw e;
    return String(e.errno);
  }
}

/** A listener on lo, a connected client and the accepted server end. */
async function pair(p: Proc, family = net.AF_INET, addr = '127.0.0.1', port = 8080) {
  const l = await net.socket(p, family, net.SOCK_STREAM);
  await net.bind(p, l, { family, addr, port });
  await net.listen(p, l, 16);
  const c = await net.socket(p, family, net.SOCK_STREAM);
  await net.connect(p, c, { family, addr, port });
  const peer: Partial<net.SockAddr> = {};
  const a = await net.accept(p, l, peer);
  return { l, c, a, peer };
}

/** (flags, payload length) of every TCP frame an AF_PACKET tap on lo saw (incoming copies only). */
async function tcpFrames(p: Proc, tap: number): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const from: Partial<net.SockAddr> = {};
    let got;
    try {
      got = await net.recvfrom(p, tap, 70000, net.MSG_DONTWAIT, from);
    } catch {
      return out;
    }
    if (from.pkttype === 4) continue; // PACKET_OUTGOING: the same frame once more
    const f = got.data;
    const v6 = f[12] === 0x86;
    const l4 = v6 ? 54 : 14 + (f[14]! & 0xf) * 4;
    if (f[v6 ? 20 : 23] !== 6) continue;
    const doff = (f[l4 + 12]! >> 4) * 4;
    const flags = f[l4 + 13]!;
    const names = [[0x02, 'S'], [0x01, 'F'], [0x04, 'R'], [0x08, 'P'], [0x10, '.']] as const;
    out.push(`${names.filter(([b]) => flags & b).map(([, n]) => n).join('')}${f.length - l4 - doff ? ` ${f.length - l4 - doff}` : ''}`);
  }
}

describe('TCP over lo', () => {
  it('connect, accept, send and recv as a byte stream; close ends the stream', async () => {
    const { p } = boot();
    const { c, a, peer } = await pair(p);
    expect(peer).toMatchObject({ family: net.AF_INET, addr: '127.0.0.1' });
    expect(await net.getpeername(p, c)).toMatchObject({ addr: '127.0.0.1', port: 8080 });
    await net.send(p, c, enc('GET / HTTP/1.0\r\n'));
    await net.send(p, c, enc('\r\n'));
    expect(dec(await net.recv(p, a, 4))).toBe('GET ');
    expect(dec(await net.recv(p, a, 100))).toBe('/ HTTP/1.0\r\n\r\n');
    // A blocking recv is a Promise that the peer's send resolves.
    const pending = net.recv(p, c, 100);
    await net.send(p, a, enc('HTTP/1.0 200 OK\r\n\r\nhi'));
    expect(dec(await pending)).toBe('HTTP/1.0 200 OK\r\n\r\nhi');
    await net.close(p, a);
    expect((await net.recv(p, c, 100)).length).toBe(0);
    await net.close(p, c);
  });

  it('a blocking accept waits for the connection', async () => {
    const { p } = boot();
    const l = await net.socket(p, net.AF_INET, net.SOCK_STREAM);
    await net.bind(p, l, { family: net.AF_INET, addr: '0.0.0.0', port: 9000 });
    await net.listen(p, l, 1);
    const accepted = net.accept(p, l);
    const c = await net.socket(p, net.AF_INET, net.SOCK_STREAM);
    await net.connect(p, c, { family: net.AF_INET, addr: '127.0.0.1', port: 9000 });
    const a = await accepted;
    await net.send(p, a, enc('x'));
    expect(dec(await net.recv(p, c, 10))).toBe('x');
  });

  it('moves real TCP frames through lo: handshake, data + ACK, FIN both ways', async () => {
    // (Closing with unread data would send RST instead of the second FIN, as Linux does.)
    const { p } = boot();
    const tap = await net.socket(p, net.AF_PACKET, net.SOCK_RAW, net.htons(net.ETH_P_ALL));
    await net.bind(p, tap, { family: net.AF_PACKET, ifindex: 1 });
    const { c, a } = await pair(p);
    await net.send(p, c, enc('hello'));
    await net.close(p, c);
    expect(dec(await net.recv(p, a, 10))).toBe('hello');
    await net.close(p, a);
    expect(await tcpFrames(p, tap)).toEqual(['S', 'S.', '.', 'P. 5', '.', 'F.', '.', 'F.', '.']);
    // Every socket is gone: TIME_WAIT is not kept.
    expect([...netOf(p.kernel).sockets].filter((s) => s.type === net.SOCK_STREAM).length).toBe(1); // the listener
  });

  it('connecting to a port nobody listens on: the stack answers RST, connect gets ECONNREFUSED', async () => {
    const { p } = boot();
    const tap = await net.socket(p, net.AF_PACKET, net.SOCK_RAW, net.htons(net.ETH_P_ALL));
    await net.bind(p, tap, { family: net.AF_PACKET, ifindex: 1 });
    const c = await net.socket(p, net.AF_INET, net.SOCK_STREAM);
    expect(await errnoOf(() => net.connect(p, c, { family: net.AF_INET, addr: '127.0.0.1', port: 1 }))).toBe(String(errnoNumber('ECONNREFUSED')));
    expect(await tcpFrames(p, tap)).toEqual(['S', 'R.']);
  });

  it('IPv6 beyond ::1: eth0 has fe80::5054:ff:fe12:3456, reached through lo', async () => {
    const { p } = boot();
    const { c, a, peer } = await pair(p, net.AF_INET6, 'fe80:0:0:0:5054:ff:fe12:3456', 443);
    expect(peer.addr).toBe('fe80::5054:ff:fe12:3456');
    await net.send(p, c, enc('v6'));
    expect(dec(await net.recv(p, a, 10))).toBe('v6');
  });

  it('EADDRINUSE across a wildcard and a specific address; EACCES below 1024 without CAP_NET_BIND_SERVICE', async () => {
    const { k, p } = boot();
    const s1 = await net.socket(p, net.AF_INET, net.SOCK_STREAM);
    await net.bind(p, s1, { family: net.AF_INET, addr: '0.0.0.0', port: 7000 });
    const s2 = await net.socket(p, net.AF_INET, net.SOCK_STREAM);
    expect(await errnoOf(() => net.bind(p, s2, { family: net.AF_INET, addr: '127.0.0.1', port: 7000 }))).toBe(String(errnoNumber('EADDRINUSE')));
    const { userCred } = await import('../../../kernel/task.js');
    const u: Proc = { kernel: k, task: k.tasks.spawn({ comm: 'user', cred: userCred(1000) }) };
    const s3 = await net.socket(u, net.AF_INET, net.SOCK_STREAM);
    expect(await errnoOf(() => net.bind(u, s3, { family: net.AF_INET, port: 80 }))).toBe(String(errnoNumber('EACCES')));
  });

  it('EPIPE raises SIGPIPE unless MSG_NOSIGNAL', async () => {
    const { p } = boot();
    const { sigaction } = await import('../../../userspace/libc/proc.js');
    const got: number[] = [];
    await sigaction(p, 13, (sig) => void got.push(sig));
    const c = await net.socket(p, net.AF_INET, net.SOCK_STREAM);
    expect(await errnoOf(() => net.send(p, c, enc('x'), net.MSG_NOSIGNAL))).toBe(String(errnoNumber('EPIPE')));
    expect(got).toEqual([]);
    expect(await errnoOf(() => net.send(p, c, enc('x')))).toBe(String(errnoNumber('EPIPE')));
    expect(got).toEqual([13]);
  });
});

describe('socket filters on TCP sockets', () => {
  it('LD_ABS 0 is the TCP header: a filter on the source port keeps the peer, drops the rest', async () => {
    const { p } = boot();
    const { c, a } = await pair(p);
    // On the client: keep segments whose source port is 8080 (the server), else drop.
    await net.attachFilter(p, c, parseClassic('ldh [0]\njeq #8080, keep, drop\nkeep: ret #-1\ndrop: ret #0', 'bpf_asm'));
    await net.send(p, a, enc('kept'));
    expect(dec(await net.recv(p, c, 10))).toBe('kept');
    // On the server: drop segments whose source port is the client's: data is lost for good.
    await net.attachFilter(p, a, parseClassic('ldh [2]\njeq #8080, drop, keep\nkeep: ret #-1\ndrop: ret #0', 'bpf_asm'));
    await net.send(p, c, enc('lost'));
    expect(await errnoOf(() => net.recv(p, a, 10, net.MSG_DONTWAIT))).toBe(String(errnoNumber('EAGAIN')));
    const sk = [...netOf(p.kernel).sockets].find((s) => s.filterDrops > 0)!;
    expect(sk.filterDrops).toBe(1);
  });

  it('a short result trims the payload, never the header (cap th->doff * 4)', async () => {
    const { p } = boot();
    const { c, a } = await pair(p);
    await net.attachFilter(p, a, parseClassic('1,6 0 0 22')); // header (20) + 2 bytes
    await net.send(p, c, enc('abcdef'));
    expect(dec(await net.recv(p, a, 10))).toBe('ab');
    await net.attachFilter(p, a, parseClassic('1,6 0 0 1')); // below the header: the header stays
    await net.send(p, c, enc('xyz'));
    // The first segment lost 4 bytes: this one is out of order and dropped (no retransmission).
    expect(await errnoOf(() => net.recv(p, a, 10, net.MSG_DONTWAIT))).toBe(String(errnoNumber('EAGAIN')));
  });

  it("an accepted socket inherits the listener's filter", async () => {
    const { p } = boot();
    const l = await net.socket(p, net.AF_INET, net.SOCK_STREAM);
    await net.bind(p, l, { family: net.AF_INET, port: 8081 });
    await net.listen(p, l, 4);
    await net.attachFilter(p, l, parseClassic('1,6 0 0 -1'));
    const c = await net.socket(p, net.AF_INET, net.SOCK_STREAM);
    await net.connect(p, c, { family: net.AF_INET, addr: '127.0.0.1', port: 8081 });
    const a = await net.accept(p, l);
    const buf = new Uint8Array(64);
    const box = { value: 0 };
    expect(await net.rawGetsockopt(p, a, 1, 26, buf, box)).toBe(0);
    expect(box.value).toBe(1);
  });
});

describe('debugfs bpfkern/sockets/<id>', () => {
  const D = '/sys/kernel/debug/bpfkern/sockets';

  it('attaching a classic filter through debugfs drops packets; info shows the counters', async () => {
    const { k, p } = boot();
    const rx = await net.socket(p, net.AF_INET, net.SOCK_DGRAM);
    await net.bind(p, rx, { family: net.AF_INET, addr: '127.0.0.1', port: 5353 });
    const tx = await net.socket(p, net.AF_INET, net.SOCK_DGRAM);
    const id = socketControl(k).list().find((i) => socketControl(k).show(i).includes('local: 127.0.0.1:5353'))!;
    expect(k.fs.readdirSync(D)).toContain(String(id));
    expect(k.fs.readFileSync(`${D}/${id}/filter`, 'utf8')).toBe('# no filter\n');
    // tcpdump -ddd's one-line form: drop everything.
    k.fs.writeFileSync(`${D}/${id}/filter`, '1,6 0 0 0\n');
    expect(k.fs.readFileSync(`${D}/${id}/filter`, 'utf8')).toBe('(000) ret      #0\n');
    const to = { family: net.AF_INET, addr: '127.0.0.1', port: 5353 };
    await net.sendto(p, tx, enc('a'), 0, to);
    await net.sendto(p, tx, enc('b'), 0, to);
    expect(await errnoOf(() => net.recvfrom(p, rx, 10, net.MSG_DONTWAIT))).toBe(String(errnoNumber('EAGAIN')));
    const info = k.fs.readFileSync(`${D}/${id}/info`, 'utf8');
    expect(info).toContain(`owner: ${p.task.tgid} (app)\n`);
    expect(info).toContain('family: AF_INET\ntype: SOCK_DGRAM\nprotocol: 17 (udp)\n');
    expect(info).toContain('filter: classic (1 insns)\nlocked: no\nrx_packets: 0\nrx_dropped: 2\n');
    // Multi-line -ddd also parses; `0` detaches.
    k.fs.writeFileSync(`${D}/${id}/filter`, '1\n6 0 0 262144\n');
    await net.sendto(p, tx, enc('c'), 0, to);
    expect(dec((await net.recvfrom(p, rx, 10, net.MSG_DONTWAIT)).data)).toBe('c');
    k.fs.writeFileSync(`${D}/${id}/filter`, '0');
    expect(k.fs.readFileSync(`${D}/${id}/info`, 'utf8')).toContain('filter: none\n');
  });

  it('errno passes through: ENOENT detaching nothing, EINVAL for a bad program, EPERM when locked', async () => {
    const { k, p } = boot();
    const fd = await net.socket(p, net.AF_INET, net.SOCK_DGRAM);
    const id = Math.max(...socketControl(k).list());
    const code = (text: string): string => {
      try {
        k.fs.writeFileSync(`${D}/${id}/filter`, text);
        return 'ok';
      } catch (e) {
        return (e as { code: string }).code;
      }
    };
    expect(code('')).toBe('ENOENT');
    expect(code('1,0 0 0 0')).toBe('EINVAL'); // no return at the end
    expect(code('ret #1')).toBe('ok');
    await net.setsockopt(p, fd, 1, 44, Uint8Array.of(1, 0, 0, 0), 4);
    expect(k.fs.readFileSync(`${D}/${id}/info`, 'utf8')).toContain('locked: yes\n');
    expect(code('ret #0')).toBe('EPERM');
    expect(code('detach')).toBe('EPERM');
    expect(code('prog 999')).toBe('ENOENT');
    expect(k.fs.existsSync(`${D}/9999`)).toBe(false);
  });

  it('a TCP socket shows its state and both addresses', async () => {
    const { k, p } = boot();
    const { c } = await pair(p);
    void c;
    const infos = socketControl(k).list().map((i) => socketControl(k).show(i));
    expect(infos.some((t) => t.includes('state: LISTEN\nlocal: 127.0.0.1:8080\nremote: -\n'))).toBe(true);
    expect(infos.some((t) => t.includes('state: ESTABLISHED\nlocal: 127.0.0.1:8080\nremote: 127.0.0.1:32768\n'))).toBe(true);
  });
});
