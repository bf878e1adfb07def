// net: a task opens a packet socket, attaches a classic BPF filter with setsockopt(SO_ATTACH_FILTER),
// frames arrive on eth0, and only the ones the filter accepts can be read.
import {
  AF_PACKET, ETH_P_ALL, MSG_DONTWAIT, SOCK_RAW, SOL_SOCKET, SO, SyscallError, bind, bootKernel, compileFilter,
  errnoName, htons, netifRx, recvfrom, setsockopt, socket, spawn, udp4Frame,
} from '../index.js';

export async function main(): Promise<number> {
  const kernel = bootKernel({ seed: 1 });
  let attached!: () => void;
  const ready = new Promise<void>((r) => (attached = r));

  const sniffer = spawn(kernel, { comm: 'sniffer' }, async (p) => {
    const fd = await socket(p, AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    await bind(p, fd, { family: AF_PACKET, protocol: ETH_P_ALL, ifindex: 2 }); // eth0
    const filter = compileFilter('udp dst port 53'); // what tcpdump would attach
    console.log(`udp dst port 53: ${filter.length} classic instructions`);
    await setsockopt(p, fd, SOL_SOCKET, SO.SO_ATTACH_FILTER, { len: filter.length, filter }, 16);
    attached();

    // Blocking reads: the first two frames the filter let through, then a non-blocking one.
    for (const flags of [0, 0, MSG_DONTWAIT]) {
      try {
        const { n, data } = await recvfrom(p, fd, 2048, flags);
        const port = (data[36]! << 8) | data[37]!; // UDP dst port: Ethernet 14 + IPv4 20 + 2
        console.log(`read ${n} bytes for port ${port}: ${Buffer.from(data.subarray(42)).toString()}`);
      } catch (e) {
        if (!(e instanceof SyscallError)) throw e;
        console.log(`recvfrom: ${errnoName(e.errno)}`); // nothing else was queued
      }
    }
    // The socket as debugfs shows it: what the filter passed and dropped.
    const info = kernel.fs.readFileSync('/sys/kernel/debug/bpfkern/sockets/1/info', 'utf8');
    console.log(info.split('\n').filter((l) => /^(filter|rx_packets|rx_dropped):/.test(l)).join('\n'));
    return 0;
  });

  await ready;
  // The wire: four UDP frames arrive on eth0; two are for port 53.
  const text = (s: string): Uint8Array => new TextEncoder().encode(s);
  const client = { addr: '10.0.0.1', port: 40000 };
  netifRx(kernel, 'eth0', udp4Frame(client, { addr: '10.0.0.2', port: 53 }, text('query 1')));
  netifRx(kernel, 'eth0', udp4Frame(client, { addr: '10.0.0.2', port: 80 }, text('not dns')));
  netifRx(kernel, 'eth0', udp4Frame(client, { addr: '10.0.0.2', port: 53 }, text('query 2')));
  netifRx(kernel, 'eth0', udp4Frame(client, { addr: '10.0.0.2', port: 123 }, text('ntp')));

  return sniffer.exited; // the wait status: 0
}
