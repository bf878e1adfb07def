/**
 * socketControl(kernel): every socket by a stable id, for debugfs's
 * bpfkern/sockets/<id>/{info,filter} (fs/debugfs.ts) and for tools and tests. Attaching
 * and detaching here has SO_ATTACH_FILTER / SO_ATTACH_BPF / SO_DETACH_FILTER semantics on
 * the socket's own filter state: the same checks, the same errno (EPERM when locked, EINVAL
 * for a program the classic checker refuses, ENOENT when there is nothing to detach).
 * The program is charged to root (uid 0), as a debugfs writer is.
 */
import { KernelError } from '../../kernel/errno.js';
import type { Kernel } from '../../kernel/kernel.js';
import { progById } from '../../kernel/bpf/objects.js';
import { formatTcpdump, parseClassic } from '../../kernel/bpf/classic/text.js';
import { attachClassicInsns, attachProg, detach } from './filter.js';
import { canonicalAddr } from './frames.js';
import { AF_INET, AF_INET6, AF_PACKET, AF_UNIX, SOCK_DGRAM, SOCK_RAW, SOCK_STREAM, netOf, type Socket } from './socket.js';
import { tcpRemote, tcpStateOf } from './tcp.js';

export interface SocketControl {
  /** Socket ids, ascending. */
  list(): number[];
  /** The info text (see socketInfo). ENOENT for an unknown id. */
  show(id: number): string;
  /** The filter as `tcpdump -d` prints it, a line naming the eBPF program, or `# no filter`. */
  filterText(id: number): string;
  /** SO_ATTACH_FILTER with a program in any classic text form (tcpdump -d/-dd/-ddd, one-line, bpf_asm). */
  attachClassicText(id: number, text: string): void;
  /** SO_ATTACH_BPF with a loaded program, by id. */
  attachProgId(id: number, progId: number): void;
  /** SO_DETACH_FILTER. */
  detach(id: number): void;
}

const FAMILY: Readonly<Record<number, string>> = { [AF_UNIX]: 'AF_UNIX', [AF_INET]: 'AF_INET', [AF_INET6]: 'AF_INET6', [AF_PACKET]: 'AF_PACKET' };
const TYPE: Readonly<Record<number, string>> = { [SOCK_STREAM]: 'SOCK_STREAM', [SOCK_DGRAM]: 'SOCK_DGRAM', [SOCK_RAW]: 'SOCK_RAW' };

function hostPort(family: number, addr: string | undefined, port: number | undefined): string {
  const a = addr ?? (family === AF_INET ? '0.0.0.0' : '::');
  return family === AF_INET6 ? `[${canonicalAddr('ip6', a)}]:${port ?? 0}` : `${a}:${port ?? 0}`;
}

function protoName(sk: Socket): string {
  if (sk.family === AF_PACKET) return `0x${sk.protocol.toString(16).padStart(4, '0')}`;
  if (sk.family === AF_UNIX) return '0';
  return sk.protocol === 6 ? '6 (tcp)' : '17 (udp)';
}

/**
 * One `key: value` per line:
 *   id owner family type protocol state local remote filter locked rx_packets rx_dropped rx_queue
 *   rcvbuf rcvbuf_drops
 * rx_dropped counts the filter's drops; rx_queue is the queued bytes; rcvbuf_drops the
 * packets refused because the queue's truesize had reached rcvbuf (Linux's sk_drops).
 */
export function socketInfo(kernel: Kernel, sk: Socket): string {
  let local = '-';
  let remote = '-';
  if (sk.family === AF_INET || sk.family === AF_INET6) {
    if (sk.bound) local = hostPort(sk.family, sk.bound.addr, sk.bound.port);
    const r = sk.type === SOCK_STREAM ? tcpRemote(sk) : sk.peerAddr ? { addr: sk.peerAddr.addr ?? '', port: sk.peerAddr.port ?? 0 } : null;
    if (r) remote = hostPort(sk.family, r.addr, r.port);
  } else if (sk.family === AF_PACKET) {
    const dev = sk.bound?.ifindex ? sk.net.device(sk.bound.ifindex)?.name : undefined;
    local = dev ?? '*';
  } else if (sk.family === AF_UNIX) {
    remote = sk.peer ? `socket ${sk.peer.id}` : '-';
  }
  const prog = sk.filter.prog;
  const filter = !prog ? 'none' : prog.classic ? `classic (${prog.classic.length} insns)` : `ebpf prog ${prog.id}${prog.name ? ` (${prog.name})` : ''}`;
  const state = tcpStateOf(sk) ?? (sk.family === AF_UNIX ? (sk.peer ? 'CONNECTED' : 'UNCONNECTED') : sk.peerAddr ? 'ESTABLISHED' : 'CLOSE');
  const lines: [string, string | number][] = [
    ['id', sk.id],
    ['owner', sk.owner ? `${sk.owner.pid} (${sk.owner.comm})` : '-'],
    ['family', FAMILY[sk.family] ?? String(sk.family)],
    ['type', TYPE[sk.type] ?? String(sk.type)],
    ['protocol', protoName(sk)],
    ['state', sk.closed && tcpStateOf(sk) ? `${state} (orphan)` : state],
    ['local', local],
    ['remote', remote],
    ['filter', filter],
    ['locked', sk.filter.locked ? 'yes' : 'no'],
    ['rx_packets', sk.rxPackets],
    ['rx_dropped', sk.filterDrops],
    ['rx_queue', sk.rx.reduce((n, d) => n + d.bytes.length, 0)],
    ['rcvbuf', sk.rcvbuf],
    ['rcvbuf_drops', sk.rcvbufDrops],
  ];
  void kernel;
  return lines.map(([k, v]) => `${k}: ${v}\n`).join('');
}

export function socketControl(kernel: Kernel): SocketControl {
  const net = netOf(kernel);
  const find = (id: number): Socket => {
    for (const sk of net.sockets) if (sk.id === id) return sk;
    throw new KernelError('ENOENT', `no socket ${id}`);
  };
  return {
    list: () => [...net.sockets].map((s) => s.id).sort((a, b) => a - b),
    show: (id) => socketInfo(kernel, find(id)),
    filterText: (id) => {
      const prog = find(id).filter.prog;
      if (!prog) return '# no filter\n';
      if (prog.classic) return formatTcpdump(prog.classic);
      return `# ebpf prog ${prog.id}${prog.name ? ` ${prog.name}` : ''} (bpfkern/programs/${prog.id})\n`;
    },
    attachClassicText: (id, text) => {
      const sk = find(id);
      // Parse first: a refused program leaves the old filter in place, as setsockopt does.
      const insns = parseClassic(text);
      attachClassicInsns(kernel, 0, sk.filter, insns);
    },
    attachProgId: (id, progId) => {
      const sk = find(id);
      const prog = progById(kernel, progId);
      if (!prog) throw new KernelError('ENOENT', `no program ${progId}`);
      attachProg(kernel, sk.filter, prog);
    },
    detach: (id) => detach(kernel, find(id).filter),
  };
}
