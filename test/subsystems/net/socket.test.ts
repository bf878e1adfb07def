import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../../index.js';
import { parseClassic } from '../../../kernel/bpf/classic/text.js';
import { errnoNumber, type ErrnoName } from '../../../kernel/errno.js';
import { netifRx } from '../../../subsystems/net/index.js';
import * as net from '../../../userspace/libc/net.js';
import { SyscallError, type Proc } from '../../../userspace/libc/process.js';

function proc(): Proc {
  const k = bootKernel({ seed: 11 });
  return { kernel: k, task: k.tasks.spawn({ comm: 'app' }) };
}

const UDP_ONLY_PORT_53 = parseClassic('ldh [2]\njeq #53, keep, drop\nkeep: ret #-1\ndrop: ret #0', 'bpf_asm');

describe('sockets with filters, as a program uses them', () => {
  it('a UDP socket only reads datagrams its filter keeps (the filter sees the UDP header)', async () => {
    const p = proc();
    const rx = await net.socket(p, net.AF_INET, net.SOCK_DGRAM);
    await net.bind(p, rx, { family: net.AF_INET, addr: '127.0.0.1', port: 53 });
    await net.attachFilter(p, rx, UDP_ONLY_PORT_53);
    const tx = await net.socket(p, net.AF_INET, net.SOCK_DGRAM);
    await net.sendto(p, tx, new TextEncoder().encode('query'), 0, { family: net.AF_INET, addr: '127.0.0.1', port: 53 });
    const got = await net.recvfrom(p, rx, 100, net.MSG_DONTWAIT);
    expect(new TextDecoder().decode(got.data)).toBe('query');
  });

  it('a UDP filter returning less truncates the payload, with the 8-byte header as floor', async () => {
    const p = proc();
    const rx = await net.socket(p, net.AF_INET, net.SOCK_DGRAM);
    await net.bind(p, rx, { family: net.AF_INET, addr: '127.0.0.1', port: 4000 });
    const tx = await net.socket(p, net.AF_INET, net.SOCK_DGRAM);
    const to = { family: net.AF_INET, addr: '127.0.0.1', port: 4000 };
    for (const [ret, want] of [[10, 2], [3, 0]] as const) {
      await net.attachFilter(p, rx, parseClassic(`1,6 0 0 ${ret}`));
      await net.sendto(p, tx, new Uint8Array(12), 0, to);
      expect((await net.recvfrom(p, rx, 100, net.MSG_DONTWAIT)).n).toBe(want);
    }
  });

  it('AF_PACKET raw on eth0 sees whole frames; VLAN tags are moved to metadata', async () => {
    const p = proc();
    const fd = await net.socket(p, net.AF_PACKET, net.SOCK_RAW, net.htons(net.ETH_P_ALL));
    await net.bind(p, fd, { family: net.AF_PACKET, ifindex: 2 });
    // keep IPv4 only, and report the vlan tci in the length
    await net.attachFilter(p, fd, parseClassic('ldh [12]\njneq #0x800, drop\nld #vlan_avail\njeq #0, plain\nld #vlan_tci\nret a\nplain: ret #-1\ndrop: ret #0', 'bpf_asm'));
    const ip = Buffer.from('525400123456001122334455080045000014000000004011000000000000000000000000', 'hex');
    const arp = Buffer.from('ffffffffffff0011223344550806000100000000', 'hex');
    const tagged = Buffer.from('525400123456001122334455810000070800450000140000000040110000000000000000', 'hex');
    const sizes: number[] = [];
    for (const f of [ip, arp, tagged]) {
      netifRx(p.kernel, 'eth0', Uint8Array.from(f));
      try {
        sizes.push((await net.recvfrom(p, fd, 2000, net.MSG_DONTWAIT)).n);
      } catch (e) {
        expect((e as SyscallError).errno).toBe(errnoNumber('EAGAIN'));
        sizes.push(0);
      }
    }
    expect(sizes).toEqual([ip.length, 0, 7]);
  });

  it('counts filter drops per socket', async () => {
    const p = proc();
    const [a, b] = await net.socketpair(p, net.AF_UNIX, net.SOCK_DGRAM);
    await net.attachFilter(p, a, parseClassic('1,6 0 0 0'));
    await net.send(p, b, new Uint8Array(4));
    await net.send(p, b, new Uint8Array(4));
    const { netOf } = await import('../../../subsystems/net/index.js');
    const sk = [...netOf(p.kernel).sockets].find((s) => s.filter.prog !== null)!;
    expect([sk.filterDrops, sk.rxPackets]).toEqual([2, 0]);
  });
});

// SO_ATTACH_FILTER / SO_DETACH_FILTER / SO_LOCK_FILTER / SO_GET_FILTER, as Linux answers.
describe('socket fds', () => {
  it('SOCK_CLOEXEC marks the new fds close-on-exec (socket, socketpair), and only those', async () => {
    const p = proc();
    const plain = await net.socket(p, net.AF_INET, net.SOCK_DGRAM);
    const cloexec = await net.socket(p, net.AF_INET, net.SOCK_DGRAM | net.SOCK_CLOEXEC);
    const [a, b] = await net.socketpair(p, net.AF_UNIX, net.SOCK_STREAM | net.SOCK_CLOEXEC);
    expect([plain, cloexec, a, b].map((fd) => p.task.fds.isCloexec(fd))).toEqual([false, true, true, true]);
  });

  it('a read blocked on a stream socketpair returns 0 (EOF) when the other end closes', async () => {
    const p = proc();
    const [a, b] = await net.socketpair(p, net.AF_UNIX, net.SOCK_STREAM);
    const reading = net.recv(p, a, 16);
    await net.close(p, b);
    const got = await Promise.race([reading, new Promise<'blocked'>((r) => setTimeout(() => r('blocked'), 500))]);
    expect(got).not.toBe('blocked');
    expect((got as Uint8Array).length).toBe(0);
  });
});

describe('socket filter options: errno table', () => {
  const ret1 = parseClassic('1,6 0 0 1');
  type Step = { op: 'attach' | 'attachBad' | 'attachLen' | 'detach' | 'lock' | 'unlock' | 'get0' | 'getShort' | 'get'; want: ErrnoName | number };
  const table: { name: string; steps: Step[] }[] = [
    { name: 'detach without a filter is ENOENT', steps: [{ op: 'detach', want: 'ENOENT' }] },
    { name: 'attach then detach', steps: [{ op: 'attach', want: 0 }, { op: 'detach', want: 0 }, { op: 'detach', want: 'ENOENT' }] },
    { name: 'a bad program is EINVAL', steps: [{ op: 'attachBad', want: 'EINVAL' }] },
    { name: 'a bad optlen is EINVAL', steps: [{ op: 'attachLen', want: 'EINVAL' }] },
    { name: 'locked: attach and detach are EPERM', steps: [{ op: 'attach', want: 0 }, { op: 'lock', want: 0 }, { op: 'attach', want: 'EPERM' }, { op: 'detach', want: 'EPERM' }] },
    { name: 'locked: a bad optlen is still EINVAL (checked first)', steps: [{ op: 'lock', want: 0 }, { op: 'attachLen', want: 'EINVAL' }] },
    { name: 'the lock cannot be undone', steps: [{ op: 'lock', want: 0 }, { op: 'unlock', want: 'EPERM' }, { op: 'lock', want: 0 }] },
    { name: 'get without a filter: 0', steps: [{ op: 'get0', want: 0 }] },
    { name: 'get: len 0 asks the count; short buffer EINVAL; else the program', steps: [{ op: 'attach', want: 0 }, { op: 'get0', want: 1 }, { op: 'get', want: 1 }] },
    { name: 'get with too small a len', steps: [{ op: 'attach', want: 0 }, { op: 'attach', want: 0 }, { op: 'getShort', want: 'EINVAL' }] },
  ];
  it.each(table)('$name', async ({ steps }) => {
    const p = proc();
    const fd = await net.socket(p, net.AF_INET, net.SOCK_DGRAM);
    for (const s of steps) {
      let r: number;
      const two = parseClassic('2,0 0 0 1,6 0 0 1');
      const box = { value: 0 };
      const buf = new Uint8Array(64);
      switch (s.op) {
        case 'attach': r = Number(await net.rawSetsockopt(p, fd, 1, 26, { len: s === steps[1] && steps[0]!.op === 'attach' && steps.length === 3 && steps[2]!.op === 'getShort' ? 2 : 1, filter: s === steps[1] && steps[2]?.op === 'getShort' ? two : ret1 }, 16)); break;
        case 'attachBad': r = Number(await net.rawSetsockopt(p, fd, 1, 26, { len: 1, filter: parseClassic('1,0 0 0 0') }, 16)); break;
        case 'attachLen': r = Number(await net.rawSetsockopt(p, fd, 1, 26, { len: 1, filter: ret1 }, 8)); break;
        case 'detach': r = Number(await net.rawSetsockopt(p, fd, 1, 27, new Uint8Array(4), 4)); break;
        case 'lock': r = Number(await net.rawSetsockopt(p, fd, 1, 44, Uint8Array.of(1, 0, 0, 0), 4)); break;
        case 'unlock': r = Number(await net.rawSetsockopt(p, fd, 1, 44, Uint8Array.of(0, 0, 0, 0), 4)); break;
        case 'get0': box.value = 0; r = Number(await net.rawGetsockopt(p, fd, 1, 26, buf, box)); if (r === 0) r = box.value; break;
        case 'getShort': box.value = 1; r = Number(await net.rawGetsockopt(p, fd, 1, 26, buf, box)); if (r === 0) r = box.value; break;
        case 'get':
          box.value = 8;
          r = Number(await net.rawGetsockopt(p, fd, 1, 26, buf, box));
          if (r === 0) {
            r = box.value;
            expect(Array.from(buf.subarray(0, 8))).toEqual([6, 0, 0, 0, 1, 0, 0, 0]);
          }
          break;
      }
      expect(r, s.op).toBe(typeof s.want === 'number' ? s.want : -errnoNumber(s.want));
    }
  });
});

describe('bpfkern cbpf run (the CLI)', () => {
  const bin = 'dist/userspace/bin/bpfkern.js';
  const P = '00112233445566778899aabb08004500002412344000401100000a0000010a0000023039003500100000646174612d2d2d2d';
  const UDP = '12,40 0 0 12,21 0 5 34525,48 0 0 20,21 6 0 17,21 0 6 44,48 0 0 54,21 3 4 17,21 0 3 2048,48 0 0 23,21 0 1 17,6 0 0 262144,6 0 0 0';
  const run = (args: string[], input?: string) => spawnSync(process.execPath, [bin, 'cbpf', 'run', ...args], { encoding: 'utf8', ...(input !== undefined ? { input } : {}) });

  it('prints one JSON line with the delivered lengths', () => {
    const r = run(['--prog', UDP, '--packet', P, '--packet', '0011']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('{"attached":true,"errno":null,"results":[{"len":50,"received":50},{"len":2,"received":0}]}\n');
  });

  it('reports a refused program and still exits 0', () => {
    const r = run(['--prog', '1,7 0 0 5']);
    expect([r.status, r.stdout]).toEqual([0, '{"attached":false,"errno":"EINVAL"}\n']);
  });

  it('--batch answers one line per stdin line', () => {
    const r = run(['--batch'], `1,6 0 0 5|0102030405060708 -\n${UDP}|${P}\n`);
    expect(r.stdout.trim().split('\n')).toEqual([
      '{"attached":true,"errno":null,"results":[{"len":8,"received":5},{"len":0,"received":0}]}',
      '{"attached":true,"errno":null,"results":[{"len":50,"received":50}]}',
    ]);
  });

  it('bad usage exits 2', () => {
    expect(run([]).status).toBe(2);
    expect(run(['--packet', 'zz', '--prog', '1,6 0 0 1']).status).toBe(2);
  });
});
