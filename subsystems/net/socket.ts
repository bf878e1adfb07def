/**
 * Sockets of mini-OS tasks and the little network they talk over: `lo` and `eth0`,
 * AF_PACKET taps, UDP over IPv4/IPv6, AF_UNIX socketpairs. A Socket is the FileObject an fd
 * refers to. Every packet a socket receives first passes its filter (filter.ts), which
 * keeps, truncates or drops it exactly where Linux runs sk_filter / run_filter:
 *
 *   AF_PACKET SOCK_RAW    whole frame from the MAC header (outer VLAN tag already moved
 *                         to metadata); kept = min(ret, len)
 *   AF_PACKET SOCK_DGRAM  from the network header
 *   UDP                   from the UDP header; kept = min(len, max(8, ret)) (trim cap 8)
 *   TCP                   from the TCP header (tcp_filter: trim cap th->doff * 4); see tcp.ts
 *   AF_UNIX dgram         the payload; no device, protocol 0
 *
 * Addresses: lo has 127.0.0.1/8 and ::1; eth0 has 10.0.2.15/24 and fe80::5054:ff:fe12:3456
 * (QEMU user networking's guest, matching eth0's MAC). A packet to a local address loops
 * through lo, as Linux routes it; anything else leaves through eth0 towards the gateway MAC.
 */
import { KernelError, type ErrnoName } from '../../kernel/errno.js';
import { perKernel, type Kernel } from '../../kernel/kernel.js';
import { tracepointOf } from '../../kernel/trace/tracepoint.js';
import { skbDropReason } from '../../kernel/trace/events/skb.js';
import type { FileObject, PollTable, Task } from '../../kernel/task.js';
import { POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDHUP, POLLRDNORM, POLLWRBAND, POLLWRNORM } from '../../kernel/poll.js';
import { bpfProgPut } from '../../kernel/bpf/objects.js';
import { runSkbProg, type SkBuff, type SocketFilterState } from './filter.js';
// syscalls.ts imports this module too; only method bodies use these (no cycle at load time).
import { sockRecv, sockSend } from './syscalls.js';
import { TcpSock } from './tcp.js';
import { defaultDevices, ethPktType, PACKET_HOST, PACKET_OUTGOING, type NetDevice } from './netdev.js';
import {
  ETH_HLEN, ETH_P_ALL, ETH_P_IP, ETH_P_IPV6, IPPROTO_UDP, NO_VLAN, UDP_HLEN, canonicalAddr, ethertype, ipv4String, ipv6String, udp4Frame,
  udp6Frame, vlanUntag,
} from './frames.js';

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_PACKET = 17;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const MSG_DONTWAIT = 0x40;
export const MSG_TRUNC = 0x20;
export const MSG_PEEK = 0x2;
export const MSG_NOSIGNAL = 0x4000;
/** sk->sk_shutdown bits (include/net/sock.h): shutdown(how) sets how + 1. */
export const RCV_SHUTDOWN = 1;
export const SEND_SHUTDOWN = 2;
export const SHUTDOWN_MASK = 3;

/** Local addresses: lo's and eth0's (see the header comment). */
export const LOCAL_ADDRS = {
  lo: ['127.0.0.1', '::1'],
  eth0: ['10.0.2.15', 'fe80::5054:ff:fe12:3456'],
} as const;
/** The next hop's MAC for frames leaving eth0 (QEMU's gateway 10.0.2.2). */
export const GATEWAY_MAC = Uint8Array.from([0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]);

/** A destination delivered locally (through lo): 127/8, ::1, or one of eth0's addresses. */
export function isLocalAddr(family: number, addr: string): boolean {
  if (family === AF_INET) return addr.startsWith('127.') || addr === LOCAL_ADDRS.eth0[0];
  const a = canonicalAddr('ip6', addr);
  return a === '::1' || a === LOCAL_ADDRS.eth0[1];
}

/** The source address Linux would pick for dst (the loopback one, or eth0's). */
export function sourceAddrFor(family: number, dst: string): string {
  if (family === AF_INET) return dst.startsWith('127.') ? '127.0.0.1' : LOCAL_ADDRS.eth0[0];
  return canonicalAddr('ip6', dst) === '::1' ? '::1' : LOCAL_ADDRS.eth0[1];
}

export function isWildcard(addr: string | undefined): boolean {
  return addr === undefined || addr === '0.0.0.0' || addr === '::';
}

/** A transport protocol's per-socket part (TCP: tcp.ts) — what close() must run. */
export interface ProtoSock {
  /** The last reference to the file went away; the protocol decides when to destroy. */
  close(sk: Socket): void;
}

/** One IP packet as the transport demux sees it (ip_local_deliver's view). */
export interface IpPacket {
  readonly family: number;
  readonly dev: NetDevice;
  /** From the MAC header to the end of the IP payload (link padding cut off). */
  readonly frame: Uint8Array;
  readonly l4: number;
  readonly src: string;
  readonly dst: string;
  readonly protocol: number;
  readonly vlan: SkBuff['vlan'];
}

/** A socket address as userspace passes it (the object stands for struct sockaddr_*). */
export interface SockAddr {
  family: number;
  /** AF_INET/AF_INET6: dotted quad or '::1'. */
  addr?: string;
  port?: number;
  /** AF_PACKET: sll_ifindex and sll_protocol (host order). */
  ifindex?: number;
  protocol?: number;
  /** AF_PACKET on receive: sll_pkttype and sll_hatype. */
  pkttype?: number;
  hatype?: number;
}

export interface Datagram {
  bytes: Uint8Array;
  /** Bytes the packet had before the filter cut it (MSG_TRUNC reports this). */
  origLen: number;
  from: SockAddr;
  /** What it is charged to the receive buffer (skbTruesize of origLen), until fully read. */
  readonly truesize: number;
}

/** net.core.rmem_default: sk_rcvbuf until SO_RCVBUF sets it. */
export const RMEM_DEFAULT = 212992;
/** net.core.rmem_max: the most SO_RCVBUF takes (before doubling). */
export const RMEM_MAX = 212992;
/** SOCK_MIN_RCVBUF: 2 * (2048 + SKB_DATA_ALIGN(sizeof(struct sk_buff))). */
export const SOCK_MIN_RCVBUF = 4608;
const SKB_TRUESIZE_OVERHEAD = 256 + 320;

/**
 * What a queued packet costs its receive buffer. Linux charges each skb's truesize (its
 * data allocation plus struct sk_buff and skb_shared_info) to sk_rmem_alloc and drops what
 * arrives while that is at or above sk_rcvbuf; bpfkern charges SKB_TRUESIZE of the
 * packet's length: the length plus the two structs as x86_64 sizes them, without the
 * allocator's rounding.
 */
export function skbTruesize(len: number): number {
  return len + SKB_TRUESIZE_OVERHEAD;
}

export class Socket implements FileObject {
  readonly kind = 'socket';
  /** Stable id (debugfs bpfkern/sockets/<id>), never reused within a kernel. */
  readonly id: number;
  /** The task that created it (or, for an accepted socket, accepted it). */
  owner: { pid: number; comm: string } | null = null;
  /** sk->sk_shutdown (RCV_SHUTDOWN | SEND_SHUTDOWN). */
  shutdown = 0;
  /** sk->sk_err: reported once by the next call that checks it (sock_error). */
  err: ErrnoName | null = null;
  /** TCP sockets: the connection state (tcp.ts). */
  proto: ProtoSock | null = null;
  readonly filter: SocketFilterState = { prog: null, locked: false };
  readonly rx: Datagram[] = [];
  nonblock = false;
  bound: SockAddr | null = null;
  peerAddr: SockAddr | null = null;
  /** AF_UNIX socketpair: the other end. */
  peer: Socket | null = null;
  /** Packets accepted (after the filter) and dropped by it. */
  rxPackets = 0;
  filterDrops = 0;
  /** sk_rcvbuf (SO_RCVBUF), and sk_drops: packets refused because the buffer was full. */
  rcvbuf = RMEM_DEFAULT;
  rcvbufDrops = 0;
  closed = false;
  private refs = 1;
  private waiters: (() => void)[] = [];

  constructor(
    readonly net: NetState,
    readonly family: number,
    readonly type: number,
    /** AF_PACKET: the ethertype in host order (ETH_P_ALL = 3); IP: the IPPROTO. */
    readonly protocol: number,
  ) {
    this.id = ++net.lastSocketId;
  }

  /** read(2) on the fd: recv(fd, buf, count, 0), as sock_read_iter (O_NONBLOCK: EAGAIN). */
  read(_task: Task, buf: Uint8Array): number | Promise<number> {
    return sockRecv(this, buf, 0, null);
  }

  /** write(2) on the fd: send(fd, buf, count, 0), as sock_write_iter. */
  write(task: Task, buf: Uint8Array): number {
    return sockSend(task, this, buf, 0, null);
  }

  /**
   * poll(2) on the fd (sock_poll): tcp_poll for TCP, unix_poll for AF_UNIX streams,
   * datagram_poll for the rest. With `pt`, the poller waits on this socket's queue and,
   * for an AF_UNIX socketpair, on the peer's too (the peer's close wakes its own queue).
   */
  poll(_task: Task, pt?: PollTable | null): number {
    if (pt) {
      const w = pt.wake;
      for (const sk of this.peer ? [this, this.peer] : [this]) {
        sk.waiters.push(w);
        pt.onCleanup(() => {
          const i = sk.waiters.indexOf(w);
          if (i >= 0) sk.waiters.splice(i, 1);
        });
      }
    }
    const IN = POLLIN | POLLRDNORM;
    const OUT = POLLOUT | POLLWRNORM;
    let mask = this.err ? POLLERR : 0;
    if ((this.family === AF_INET || this.family === AF_INET6) && this.type === SOCK_STREAM) {
      // A TCP socket gets its TcpSock on first use: until then it is in CLOSE.
      const t = this.proto instanceof TcpSock ? this.proto : null;
      const state = t?.state ?? 'CLOSE';
      if (state === 'LISTEN') return mask | (t!.acceptq.length > 0 ? IN : 0);
      if (this.shutdown === SHUTDOWN_MASK || state === 'CLOSE') mask |= POLLHUP;
      if (this.shutdown & RCV_SHUTDOWN) mask |= IN | POLLRDHUP;
      if (state !== 'SYN_SENT' && state !== 'SYN_RECV') {
        if (this.rx.length > 0) mask |= IN;
        mask |= OUT;
      }
      return mask;
    }
    // An AF_UNIX stream whose peer closed is shut down both ways (unix_release_sock).
    const shutdown = this.family === AF_UNIX && this.type === SOCK_STREAM && this.peer === null ? SHUTDOWN_MASK : this.shutdown;
    if (shutdown & RCV_SHUTDOWN) mask |= IN | POLLRDHUP;
    if (shutdown === SHUTDOWN_MASK) mask |= POLLHUP;
    if (this.rx.length > 0) mask |= IN;
    return mask | OUT | POLLWRBAND;
  }

  /** fcntl(F_GETFL): O_RDWR, plus O_NONBLOCK (SOCK_NONBLOCK has the same value). */
  statusFlags(): number {
    return 0o2 | (this.nonblock ? SOCK_NONBLOCK : 0);
  }

  /** fcntl(F_SETFL): O_NONBLOCK turns non-blocking mode on or off. */
  setStatusFlags(flags: number): void {
    this.nonblock = (flags & SOCK_NONBLOCK) !== 0;
  }

  retain(): void {
    this.refs++;
  }

  release(): void {
    if (--this.refs > 0) return;
    this.closed = true;
    if (this.proto) this.proto.close(this);
    else this.destroy();
    const peer = this.peer;
    if (peer) {
      // The other end of a socketpair sees EOF: wake a reader blocked on it.
      peer.peer = null;
      peer.wake();
    }
    this.wake();
  }

  /** sk_destruct: gone from every table; the filter's reference is dropped. */
  destroy(): void {
    this.net.sockets.delete(this);
    if (this.filter.prog) bpfProgPut(this.net.kernel, this.filter.prog);
    this.filter.prog = null;
  }

  enqueue(d: Omit<Datagram, 'truesize'>): void {
    this.rxPackets++;
    this.rx.push({ ...d, truesize: skbTruesize(d.origLen) });
    this.wake();
  }

  /** sk_rmem_alloc: the truesize of everything queued. */
  rmemAlloc(): number {
    return this.rx.reduce((n, d) => n + d.truesize, 0);
  }

  /**
   * The receive-buffer check before queueing (packet_rcv, __udp_enqueue_schedule_skb):
   * when the buffer is full the packet is dropped, counted in sk_drops and freed with
   * `reason`, and this returns true.
   */
  rcvbufFull(protocol: number, reason: 'SOCKET_RCVBUFF' | 'PACKET_SOCK_ERROR'): boolean {
    if (this.rmemAlloc() < this.rcvbuf) return false;
    this.rcvbufDrops++;
    kfreeSkb(this.net.kernel, protocol, reason);
    return true;
  }

  /**
   * The shape of a blocking socket call (sk_wait_event): `attempt` answers now, or null for
   * "not yet". Nonblocking, "not yet" is EAGAIN; blocking, the call is a Promise that tries
   * again each time the socket wakes.
   */
  waitFor<T>(attempt: () => T | null, nonblock: boolean, notYet = 'no data'): T | Promise<T> {
    const now = attempt();
    if (now !== null) return now;
    if (nonblock) throw new KernelError('EAGAIN', notYet);
    return (async () => {
      for (;;) {
        await this.waitReadable();
        const again = attempt();
        if (again !== null) return again;
      }
    })();
  }

  /** Resolves when a datagram is queued (or the socket closes). */
  waitReadable(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

export class NetState {
  readonly devices: NetDevice[] = defaultDevices();
  readonly sockets = new Set<Socket>();
  lastSocketId = 0;
  /** inet_add_protocol: transport handlers by IPPROTO (UDP is built in). */
  readonly ipProtocols = new Map<number, (pkt: IpPacket) => void>();
  private nextPort = 32768;
  constructor(readonly kernel: Kernel) {}

  device(ifindex: number): NetDevice | undefined {
    return this.devices.find((d) => d.ifindex === ifindex);
  }

  deviceByName(name: string): NetDevice | undefined {
    return this.devices.find((d) => d.name === name);
  }

  ephemeralPort(): number {
    for (;;) {
      const p = this.nextPort;
      this.nextPort = p >= 60999 ? 32768 : p + 1;
      if (![...this.sockets].some((s) => s.bound?.port === p)) return p;
    }
  }
}

export const netOf = perKernel((kernel): NetState => new NetState(kernel));

// ---------------------------------------------------------------------------------------
// Filters on the receive path

/**
 * Runs the socket's filter (if any) on skb: the number of bytes from skb->data to keep,
 * 0 for a drop. `cap` is sk_filter_trim_cap's floor (UDP: its header).
 */
export function skFilter(sk: Socket, skb: SkBuff, cap: number): number {
  const len = skb.frame.length - skb.dataOff;
  const prog = sk.filter.prog;
  if (!prog) return len;
  const kernel = sk.net.kernel;
  const res = runSkbProg(kernel, prog, skb, kernel.tasks.current, kernel.currentCpu);
  if (res === 0) {
    sk.filterDrops++;
    kfreeSkb(kernel, skb.protocol, 'SOCKET_FILTER');
    return 0;
  }
  return Math.min(len, Math.max(cap, res));
}

/** The drop reasons the stack reports (enum skb_drop_reason names). */
type DropReason =
  | 'SOCKET_FILTER' | 'SOCKET_RCVBUFF' | 'PACKET_SOCK_ERROR' | 'NO_SOCKET' | 'TCP_LISTEN_OVERFLOW' | 'TCP_OLD_SEQUENCE'
  | 'TCP_INVALID_SEQUENCE' | 'TCP_RESET';

/** kfree_skb_reason(): fires skb:kfree_skb. */
export function kfreeSkb(kernel: Kernel, protocol: number, reason: DropReason): void {
  const tp = tracepointOf(kernel, 'skb', 'kfree_skb');
  if (!tp.probes.length) return;
  tp.fire(kernel.tasks.current, { skbaddr: 0n, location: 0n, rx_sk: 0n, protocol, reason: skbDropReason(reason) });
}

function fireDev(kernel: Kernel, event: 'net_dev_xmit' | 'netif_receive_skb', dev: NetDevice, len: number): void {
  const tp = tracepointOf(kernel, 'net', event);
  if (!tp.probes.length) return;
  tp.fire(kernel.tasks.current, event === 'net_dev_xmit' ? { skbaddr: 0n, len, rc: 0, name: dev.name } : { skbaddr: 0n, len, name: dev.name });
}

/** Packet taps (ptype_all / ptype_base): every AF_PACKET socket that wants this frame. */
function deliverToPacketSockets(
  net: NetState, dev: NetDevice, frame: Uint8Array, pktType: number, vlan: SkBuff['vlan'], except: Socket | null,
): void {
  const protocol = ethertype(frame);
  for (const sk of [...net.sockets]) {
    if (sk.family !== AF_PACKET || sk === except || sk.protocol === 0) continue;
    if (sk.protocol !== ETH_P_ALL && sk.protocol !== protocol) continue;
    const bound = sk.bound?.ifindex ?? 0;
    if (bound !== 0 && bound !== dev.ifindex) continue;
    const dataOff = sk.type === SOCK_DGRAM && frame.length >= ETH_HLEN ? ETH_HLEN : 0;
    const skb: SkBuff = { frame, netOff: Math.min(ETH_HLEN, frame.length), dataOff, protocol, pktType, dev, vlan };
    const keep = skFilter(sk, skb, 0);
    if (keep === 0 && frame.length - dataOff > 0) continue;
    // Linux 6.x's packet_rcv: a full buffer is drop_n_acct, freed as PACKET_SOCK_ERROR.
    if (sk.rcvbufFull(protocol, 'PACKET_SOCK_ERROR')) continue;
    sk.enqueue({
      bytes: frame.slice(dataOff, dataOff + keep),
      origLen: frame.length - dataOff,
      from: { family: AF_PACKET, ifindex: dev.ifindex, protocol, pkttype: pktType, hatype: dev.type },
    });
  }
}

/**
 * A frame arriving on dev (the wire, or lo looping back): __netif_receive_skb. Returns
 * false when the stack dropped it before any socket (a short VLAN-tagged frame).
 */
export function netifReceive(kernel: Kernel, dev: NetDevice, raw: Uint8Array): boolean {
  const net = netOf(kernel);
  fireDev(kernel, 'netif_receive_skb', dev, Math.max(0, raw.length - ETH_HLEN));
  const untagged = vlanUntag(raw);
  if (!untagged) return false;
  const { frame, vlan } = untagged;
  const pktType = ethPktType(dev, frame);
  deliverToPacketSockets(net, dev, frame, pktType, vlan, null);
  if (pktType === PACKET_HOST) ipReceive(net, dev, frame, vlan);
  return true;
}

/** dev_queue_xmit: taps see an outgoing copy; lo loops the frame back in. */
export function devXmit(kernel: Kernel, dev: NetDevice, frame: Uint8Array, sender: Socket | null): void {
  const net = netOf(kernel);
  fireDev(kernel, 'net_dev_xmit', dev, frame.length);
  deliverToPacketSockets(net, dev, frame, PACKET_OUTGOING, NO_VLAN, sender);
  if (dev.name === 'lo') netifReceive(kernel, dev, frame);
}

/** ip_rcv / ipv6_rcv → the transport: UDP here, the others through net.ipProtocols. */
function ipReceive(net: NetState, dev: NetDevice, frame: Uint8Array, vlan: SkBuff['vlan']): void {
  const protocol = ethertype(frame);
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  let pkt: IpPacket;
  if (protocol === ETH_P_IP && frame.length >= ETH_HLEN + 20) {
    const ihl = (frame[ETH_HLEN]! & 0xf) * 4;
    const end = Math.min(frame.length, ETH_HLEN + dv.getUint16(ETH_HLEN + 2));
    if (ihl < 20 || ETH_HLEN + ihl > end) return;
    pkt = {
      family: AF_INET, dev, frame: frame.subarray(0, end), l4: ETH_HLEN + ihl, protocol, vlan,
      src: ipv4String(frame.subarray(ETH_HLEN + 12)), dst: ipv4String(frame.subarray(ETH_HLEN + 16)),
    };
  } else if (protocol === ETH_P_IPV6 && frame.length >= ETH_HLEN + 40) {
    const end = Math.min(frame.length, ETH_HLEN + 40 + dv.getUint16(ETH_HLEN + 4));
    pkt = {
      family: AF_INET6, dev, frame: frame.subarray(0, end), l4: ETH_HLEN + 40, protocol, vlan,
      src: ipv6String(frame.subarray(ETH_HLEN + 8, ETH_HLEN + 24)), dst: ipv6String(frame.subarray(ETH_HLEN + 24, ETH_HLEN + 40)),
    };
  } else {
    return;
  }
  const proto = pkt.family === AF_INET ? frame[ETH_HLEN + 9]! : frame[ETH_HLEN + 6]!;
  if (proto === IPPROTO_UDP) udpReceive(net, pkt);
  else net.ipProtocols.get(proto)?.(pkt);
}

/** UDP demultiplexing to bound sockets. */
function udpReceive(net: NetState, pkt: IpPacket): void {
  const { frame, l4, family, dev, protocol, vlan, src, dst } = pkt;
  if (frame.length < l4 + UDP_HLEN) return;
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const sport = dv.getUint16(l4);
  const dport = dv.getUint16(l4 + 2);
  const ulen = Math.min(dv.getUint16(l4 + 4), frame.length - l4);
  const udp = frame.subarray(0, l4 + ulen);
  for (const sk of net.sockets) {
    if (sk.family !== family || sk.type !== SOCK_DGRAM || sk.bound?.port !== dport) continue;
    if (!isWildcard(sk.bound.addr) && sk.bound.addr !== dst) continue;
    const skb: SkBuff = { frame: udp, netOff: ETH_HLEN, dataOff: l4, protocol, pktType: PACKET_HOST, dev, vlan };
    const keep = skFilter(sk, skb, UDP_HLEN);
    if (keep === 0 || sk.rcvbufFull(protocol, 'SOCKET_RCVBUFF')) return;
    sk.enqueue({
      bytes: udp.slice(l4 + UDP_HLEN, l4 + keep),
      origLen: ulen - UDP_HLEN,
      from: { family, addr: src, port: sport },
    });
    return;
  }
  kfreeSkb(net.kernel, protocol, 'NO_SOCKET');
}

/**
 * ip_output for a built frame: a local destination loops through lo; anything else leaves
 * through eth0 with its MAC as source and the gateway's as destination.
 */
export function ipXmit(net: NetState, family: number, dst: string, frame: Uint8Array, sender: Socket | null): void {
  const local = isLocalAddr(family, dst);
  const dev = net.deviceByName(local ? 'lo' : 'eth0')!;
  if (!local) {
    frame.set(GATEWAY_MAC, 0);
    frame.set(dev.mac, 6);
  }
  devXmit(net.kernel, dev, frame, sender);
}

// ---------------------------------------------------------------------------------------
// Sending

export function udpSend(sk: Socket, payload: Uint8Array, to: SockAddr): number {
  const net = sk.net;
  if (sk.shutdown & SEND_SHUTDOWN) throw new KernelError('EPIPE', 'socket shut down for sending');
  if (!sk.bound) sk.bound = { family: sk.family, addr: sk.family === AF_INET ? '0.0.0.0' : '::', port: net.ephemeralPort() };
  const loop = sk.family === AF_INET ? '127.0.0.1' : '::1';
  const dst = { addr: to.addr === undefined ? loop : canonicalAddr(sk.family === AF_INET ? 'ip' : 'ip6', to.addr), port: to.port ?? 0 };
  const srcAddr = isWildcard(sk.bound.addr) ? sourceAddrFor(sk.family, dst.addr) : sk.bound.addr!;
  const src = { addr: srcAddr, port: sk.bound.port ?? 0 };
  const frame = sk.family === AF_INET ? udp4Frame(src, dst, payload) : udp6Frame(src, dst, payload);
  ipXmit(net, sk.family, dst.addr, frame, sk);
  return payload.length;
}

export function packetSend(sk: Socket, frame: Uint8Array, to: SockAddr | null): number {
  const ifindex = to?.ifindex ?? sk.bound?.ifindex ?? 0;
  const dev = sk.net.device(ifindex);
  if (!dev) throw new KernelError(ifindex === 0 ? 'ENXIO' : 'ENODEV', `no device with ifindex ${ifindex}`);
  if (sk.type === SOCK_RAW && frame.length < ETH_HLEN) throw new KernelError('EINVAL', 'frame shorter than its link header');
  devXmit(sk.net.kernel, dev, frame, sk);
  return frame.length;
}

export function unixSend(sk: Socket, payload: Uint8Array): number {
  const peer = sk.peer;
  if (!peer) throw new KernelError(sk.type === SOCK_STREAM ? 'EPIPE' : 'ECONNREFUSED', 'peer closed');
  if (sk.shutdown & SEND_SHUTDOWN || (sk.type === SOCK_STREAM && peer.shutdown & RCV_SHUTDOWN)) {
    throw new KernelError('EPIPE', 'socket shut down for sending');
  }
  if (sk.type === SOCK_STREAM) {
    peer.enqueue({ bytes: payload.slice(), origLen: payload.length, from: { family: AF_UNIX } });
    return payload.length;
  }
  const skb: SkBuff = { frame: payload, netOff: 0, dataOff: 0, protocol: 0, pktType: PACKET_HOST, dev: null, vlan: NO_VLAN };
  const keep = skFilter(peer, skb, 0);
  // A drop is silent: the sender's send succeeds (the host does the same).
  if (keep > 0 || payload.length === 0) {
    peer.enqueue({ bytes: payload.slice(0, keep), origLen: payload.length, from: { family: AF_UNIX } });
  }
  return payload.length;
}

export function newSocket(net: NetState, family: number, type: number, protocol: number): Socket {
  const sk = new Socket(net, family, type, protocol);
  net.sockets.add(sk);
  return sk;
}

