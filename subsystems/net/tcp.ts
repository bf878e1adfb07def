/**
 * TCP (SOCK_STREAM over AF_INET/AF_INET6): a simplified RFC 793 state machine whose
 * segments are real Ethernet+IP+TCP frames moving through lo (or out of eth0), so packet
 * taps, tracepoints and socket filters see them where Linux's would.
 *
 * Where Linux runs the socket filter: tcp_v4_rcv / tcp_v6_rcv look the socket up, then
 * tcp_filter() → sk_filter_trim_cap(sk, skb, th->doff * 4) with skb->data at the TCP header.
 * So LD_ABS 0 is the source port; a 0 result drops the segment (skb:kfree_skb
 * SOCKET_FILTER); a smaller result trims the payload, never the header. A SYN (and the
 * handshake's last ACK) meets the listener's filter; an accepted socket inherits the
 * listener's filter and its lock (sk_clone_lock).
 *
 * Errno follows the host (test/oracle/sock_oracle.c checks it): connect to a port nobody
 * listens on gets the stack's RST → ECONNREFUSED; send on an unconnected or shut-down socket
 * EPIPE (+ SIGPIPE unless MSG_NOSIGNAL); recv on a never-connected one ENOTCONN; a RST in
 * CLOSE_WAIT leaves EPIPE, elsewhere ECONNRESET (tcp_reset); close with unread data sends
 * RST. A nonblocking connect returns EINPROGRESS even over lo (Linux holds the socket lock
 * while the loopback answer waits in the backlog); the next connect returns 0, then EISCONN.
 *
 * Simplified (README "Differences from Linux"): loopback delivery is synchronous (a send
 * has been ACKed when it returns); no retransmission, so a segment a filter drops or trims
 * is lost for good and later segments are out of order, dropped with a duplicate ACK;
 * no congestion or flow control (a receive queue is not bounded by SO_RCVBUF, the window is
 * a constant 65535); options are MSS only; TIME_WAIT is not kept, so a port is free again
 * as soon as both sides closed; an orphan (closed by its owner) waits in FIN_WAIT2 for the
 * peer's FIN at most tcp_fin_timeout (60 s) on the kernel clock, which is looked at
 * whenever a segment arrives or a socket closes (no timer interrupts: with the
 * deterministic clock, 60 s pass only when the clock is advanced); a full accept queue
 * drops the SYN and the connecting side waits (no SYN retries, no ETIMEDOUT); the child
 * socket exists from the SYN on (Linux keeps a request_sock until the ACK).
 */
import { KernelError, type ErrnoName } from '../../kernel/errno.js';
import { perKernel } from '../../kernel/kernel.js';
import { SIG, SI_KERNEL, sendSignal } from '../../kernel/signal.js';
import type { Task } from '../../kernel/task.js';
import { bpfProgGet } from '../../kernel/bpf/objects.js';
import type { SkBuff } from './filter.js';
import { IPPROTO_TCP, TCP_FLAG, canonicalAddr, parseTcp, tcpFrame, type TcpSegment } from './frames.js';
import {
  AF_INET, MSG_NOSIGNAL, RCV_SHUTDOWN, SEND_SHUTDOWN, SHUTDOWN_MASK, SOCK_STREAM, Socket, ipXmit, isWildcard, kfreeSkb,
  newSocket, skFilter, sourceAddrFor, type IpPacket, type NetState, type ProtoSock, type SockAddr,
} from './socket.js';
import { ETH_HLEN } from './frames.js';
import { PACKET_HOST } from './netdev.js';

export type TcpStateName =
  | 'ESTABLISHED' | 'SYN_SENT' | 'SYN_RECV' | 'FIN_WAIT1' | 'FIN_WAIT2' | 'TIME_WAIT' | 'CLOSE' | 'CLOSE_WAIT'
  | 'LAST_ACK' | 'LISTEN' | 'CLOSING';

/** sock->state (SS_*), which connect(2) consults besides sk_state. */
type SocketState = 'unconnected' | 'connecting' | 'connected';

const WINDOW = 65535;
/** net.core.somaxconn */
const SOMAXCONN = 4096;
/** net.ipv4.tcp_fin_timeout: how long an orphan waits in FIN_WAIT2 for the peer's FIN. */
export const TCP_FIN_TIMEOUT_NS = 60_000_000_000n;

/** The FIN_WAIT2 timers: each orphan waiting for its peer's FIN, with its deadline. */
const finWait2Timers = perKernel((): Map<Socket, bigint> => new Map());

/** An orphan reached FIN_WAIT2 (tcp_close, or the ACK of its FIN): the timer starts. */
function armFinWait2Timer(sk: Socket): void {
  const kernel = sk.net.kernel;
  finWait2Timers(kernel).set(sk, kernel.clock.now() + TCP_FIN_TIMEOUT_NS);
}

/** Runs the timers that are due: an expired orphan is closed and freed, silently as Linux's. */
function runFinWait2Timers(net: NetState): void {
  const timers = finWait2Timers(net.kernel);
  if (timers.size === 0) return;
  const now = net.kernel.clock.now();
  for (const [sk, deadline] of [...timers]) if (now >= deadline) tcpDone(sk);
}

export class TcpSock implements ProtoSock {
  state: TcpStateName = 'CLOSE';
  ss: SocketState = 'unconnected';
  remote: { addr: string; port: number } | null = null;
  sndNxt = 0;
  rcvNxt = 0;
  /** Our FIN is sent (its sequence number is sndNxt - 1). */
  finSent = false;
  /** SOCK_DONE: the peer's FIN arrived (recv returns 0 rather than ENOTCONN). */
  done = false;
  /** Listener: max accept queue, the queue, and children still in SYN_RECV. */
  backlog = 0;
  readonly acceptq: Socket[] = [];
  readonly pending = new Set<Socket>();
  /** A child: its listener until accept() takes it. */
  parent: Socket | null = null;
  mss = 536;

  close(sk: Socket): void {
    tcpClose(sk);
  }
}

export function tcpOf(sk: Socket): TcpSock {
  if (!(sk.proto instanceof TcpSock)) {
    const t = new TcpSock();
    sk.proto = t;
    return t;
  }
  return sk.proto;
}

const fam = (sk: Socket): 'ip' | 'ip6' => (sk.family === AF_INET ? 'ip' : 'ip6');

function mssFor(sk: Socket, remote: string): number {
  const dev = sk.net.deviceByName(sourceAddrFor(sk.family, remote) === remote || remote.startsWith('127.') || remote === '::1' ? 'lo' : 'eth0');
  return (dev?.mtu ?? 1500) - (sk.family === AF_INET ? 40 : 60);
}

/** Builds and transmits one segment from sk to its peer. */
function sendSegment(sk: Socket, flags: number, payload: Uint8Array = new Uint8Array(0), seq?: number): void {
  const t = tcpOf(sk);
  if (!t.remote || !sk.bound) return;
  const seg: TcpSegment = {
    sport: sk.bound.port ?? 0, dport: t.remote.port, seq: seq ?? t.sndNxt, ack: flags & TCP_FLAG.ACK ? t.rcvNxt : 0,
    flags, window: WINDOW, mss: flags & TCP_FLAG.SYN ? mssFor(sk, t.remote.addr) : 0, payload,
  };
  ipXmit(sk.net, sk.family, t.remote.addr, tcpFrame(fam(sk), sk.bound.addr ?? '', t.remote.addr, seg), null);
}

/** tcp_v4_send_reset for a segment no socket wants (or that a socket refuses). */
function sendReset(net: NetState, pkt: IpPacket, seg: TcpSegment & { doff: number }): void {
  if (seg.flags & TCP_FLAG.RST) return;
  const reply: TcpSegment = seg.flags & TCP_FLAG.ACK
    ? { sport: seg.dport, dport: seg.sport, seq: seg.ack, ack: 0, flags: TCP_FLAG.RST, window: 0, mss: 0, payload: new Uint8Array(0) }
    : {
        sport: seg.dport, dport: seg.sport, seq: 0, flags: TCP_FLAG.RST | TCP_FLAG.ACK, window: 0, mss: 0, payload: new Uint8Array(0),
        ack: (seg.seq + seg.payload.length + (seg.flags & TCP_FLAG.SYN ? 1 : 0) + (seg.flags & TCP_FLAG.FIN ? 1 : 0)) >>> 0,
      };
  const f = pkt.family === AF_INET ? 'ip' : 'ip6';
  ipXmit(net, pkt.family, pkt.src, tcpFrame(f, pkt.dst, pkt.src, reply), null);
}

function isn(net: NetState): number {
  return net.kernel.random.u32();
}

/** tcp_set_state(CLOSE) + inet_put_port: a closed, released socket leaves every table. */
function tcpDone(sk: Socket): void {
  const t = tcpOf(sk);
  finWait2Timers(sk.net.kernel).delete(sk);
  t.state = 'CLOSE';
  sk.shutdown = SHUTDOWN_MASK;
  if (t.parent) {
    const p = tcpOf(t.parent);
    p.pending.delete(sk);
    const i = p.acceptq.indexOf(sk);
    if (i >= 0) p.acceptq.splice(i, 1);
    t.parent = null;
    sk.destroy();
  }
  if (sk.closed) sk.destroy();
  sk.wake();
}

/** tcp_reset: the error a RST leaves, by state. */
function tcpReset(sk: Socket): void {
  const t = tcpOf(sk);
  let reason: ErrnoName;
  switch (t.state) {
    case 'SYN_SENT':
      reason = 'ECONNREFUSED';
      break;
    case 'CLOSE_WAIT':
      reason = 'EPIPE';
      break;
    case 'CLOSE':
      return;
    default:
      reason = 'ECONNRESET';
  }
  sk.err = reason;
  tcpDone(sk);
}

// ---------------------------------------------------------------------------------------
// Receive

/** tcp_v4_rcv / tcp_v6_rcv: socket lookup, the socket filter, then the state machine. */
export function tcpRcv(pkt: IpPacket, net: NetState): void {
  runFinWait2Timers(net);
  const seg = parseTcp(pkt.frame, pkt.l4, pkt.frame.length);
  if (!seg) return;
  const sk = lookup(net, pkt, seg);
  if (!sk) {
    kfreeSkb(net.kernel, pkt.protocol, 'NO_SOCKET');
    sendReset(net, pkt, seg);
    return;
  }
  const skb: SkBuff = {
    frame: pkt.frame, netOff: ETH_HLEN, dataOff: pkt.l4, protocol: pkt.protocol, pktType: PACKET_HOST, dev: pkt.dev, vlan: pkt.vlan,
  };
  const keep = skFilter(sk, skb, seg.doff);
  if (keep === 0) return;
  const payload = seg.payload.subarray(0, Math.max(0, keep - seg.doff));
  sk.rxPackets++;
  segmentArrives(sk, pkt, { ...seg, payload });
}

/** __inet_lookup: an established (4-tuple) socket first, then a listener. */
function lookup(net: NetState, pkt: IpPacket, seg: TcpSegment): Socket | null {
  let listener: Socket | null = null;
  for (const sk of net.sockets) {
    if (sk.family !== pkt.family || sk.type !== SOCK_STREAM || !(sk.proto instanceof TcpSock)) continue;
    const t = sk.proto;
    if (sk.bound?.port !== seg.dport || t.state === 'CLOSE') continue;
    if (t.state === 'LISTEN') {
      if ((isWildcard(sk.bound.addr) || sk.bound.addr === pkt.dst) && (!listener || isWildcard(listener.bound?.addr))) listener = sk;
      continue;
    }
    if (t.remote?.port === seg.sport && t.remote.addr === pkt.src && sk.bound.addr === pkt.dst) return sk;
  }
  return listener;
}

function segmentArrives(sk: Socket, pkt: IpPacket, seg: TcpSegment & { doff: number }): void {
  const t = tcpOf(sk);
  const { flags } = seg;
  const has = (f: number): boolean => (flags & f) !== 0;
  if (t.state === 'LISTEN') {
    if (has(TCP_FLAG.RST)) return;
    if (has(TCP_FLAG.ACK) || !has(TCP_FLAG.SYN)) {
      sendReset(sk.net, pkt, seg);
      return;
    }
    listenSyn(sk, pkt, seg);
    return;
  }
  if (t.state === 'SYN_SENT') {
    if (has(TCP_FLAG.ACK) && seg.ack !== t.sndNxt) {
      sendReset(sk.net, pkt, seg);
      return;
    }
    if (has(TCP_FLAG.RST)) {
      if (has(TCP_FLAG.ACK)) tcpReset(sk);
      return;
    }
    if (has(TCP_FLAG.SYN) && has(TCP_FLAG.ACK)) {
      t.rcvNxt = (seg.seq + 1) >>> 0;
      t.mss = Math.min(t.mss, seg.mss || 536);
      t.state = 'ESTABLISHED';
      sendSegment(sk, TCP_FLAG.ACK);
      sk.wake();
    }
    return;
  }
  if (has(TCP_FLAG.RST)) {
    if (seg.seq === t.rcvNxt) {
      kfreeSkb(sk.net.kernel, pkt.protocol, 'TCP_RESET');
      tcpReset(sk);
    }
    return;
  }
  if (has(TCP_FLAG.SYN)) return; // a retransmitted SYN or SYN-ACK: nothing to redo here
  if (!has(TCP_FLAG.ACK)) return;
  // The ACK: our SYN (SYN_RECV), our FIN (FIN_WAIT1, CLOSING, LAST_ACK).
  if (t.state === 'SYN_RECV' && seg.ack === t.sndNxt) {
    t.state = 'ESTABLISHED';
    const parent = t.parent;
    if (parent) {
      const p = tcpOf(parent);
      p.pending.delete(sk);
      p.acceptq.push(sk);
      parent.wake();
    }
  }
  if (t.finSent && seg.ack === t.sndNxt) {
    if (t.state === 'FIN_WAIT1') {
      t.state = 'FIN_WAIT2';
      if (sk.closed) armFinWait2Timer(sk);
    } else if (t.state === 'CLOSING' || t.state === 'LAST_ACK') {
      tcpDone(sk);
      return;
    }
  }
  // Data, in order only.
  if (seg.payload.length > 0) {
    if (seg.seq !== t.rcvNxt) {
      kfreeSkb(sk.net.kernel, pkt.protocol, seg.seq < t.rcvNxt ? 'TCP_OLD_SEQUENCE' : 'TCP_INVALID_SEQUENCE');
      sendSegment(sk, TCP_FLAG.ACK); // duplicate ACK
      return;
    }
    if (sk.shutdown & RCV_SHUTDOWN && sk.closed) {
      // Data for a socket its owner closed: tcp_rcv_state_process resets it.
      sendSegment(sk, TCP_FLAG.RST, new Uint8Array(0), seg.ack);
      tcpReset(sk);
      return;
    }
    t.rcvNxt = (t.rcvNxt + seg.payload.length) >>> 0;
    sk.enqueue({ bytes: seg.payload.slice(), origLen: seg.payload.length, from: { family: sk.family, addr: pkt.src, port: seg.sport } });
    sk.rxPackets--; // enqueue counts it; tcpRcv already did
  }
  if (has(TCP_FLAG.FIN) && (seg.seq + seg.payload.length) >>> 0 === t.rcvNxt) {
    t.rcvNxt = (t.rcvNxt + 1) >>> 0;
    t.done = true;
    sk.shutdown |= RCV_SHUTDOWN;
    sendSegment(sk, TCP_FLAG.ACK);
    switch (t.state) {
      case 'ESTABLISHED':
      case 'SYN_RECV':
        t.state = 'CLOSE_WAIT';
        break;
      case 'FIN_WAIT1':
        t.state = 'CLOSING';
        break;
      case 'FIN_WAIT2':
        tcpDone(sk); // TIME_WAIT is not kept (no timers)
        return;
      default:
        break;
    }
    sk.wake();
    return;
  }
  if (seg.payload.length > 0) sendSegment(sk, TCP_FLAG.ACK);
}

/** A SYN on a listener: tcp_conn_request, with the child created at once. */
function listenSyn(listener: Socket, pkt: IpPacket, seg: TcpSegment): void {
  const l = tcpOf(listener);
  if (l.acceptq.length + l.pending.size > l.backlog) {
    kfreeSkb(listener.net.kernel, pkt.protocol, 'TCP_LISTEN_OVERFLOW');
    return;
  }
  const child = newSocket(listener.net, listener.family, SOCK_STREAM, IPPROTO_TCP);
  child.owner = listener.owner;
  child.bound = { family: listener.family, addr: pkt.dst, port: seg.dport };
  if (listener.filter.prog) child.filter.prog = bpfProgGet(listener.filter.prog);
  child.filter.locked = listener.filter.locked;
  const t = tcpOf(child);
  t.parent = listener;
  t.remote = { addr: pkt.src, port: seg.sport };
  t.rcvNxt = (seg.seq + 1) >>> 0;
  t.sndNxt = isn(listener.net);
  t.mss = Math.min(mssFor(child, pkt.src), seg.mss || 536);
  t.state = 'SYN_RECV';
  l.pending.add(child);
  const seq = t.sndNxt;
  t.sndNxt = (seq + 1) >>> 0;
  sendSegment(child, TCP_FLAG.SYN | TCP_FLAG.ACK, new Uint8Array(0), seq);
}

// ---------------------------------------------------------------------------------------
// The socket calls

/** inet_listen. */
export function tcpListen(sk: Socket, backlog: number): void {
  const t = tcpOf(sk);
  if (t.ss !== 'unconnected' || (t.state !== 'CLOSE' && t.state !== 'LISTEN')) throw new KernelError('EINVAL', 'socket is connected');
  t.backlog = (backlog >>> 0) > SOMAXCONN ? SOMAXCONN : backlog;
  if (t.state === 'LISTEN') return;
  if (!sk.bound) sk.bound = { family: sk.family, addr: sk.family === AF_INET ? '0.0.0.0' : '::', port: sk.net.ephemeralPort() };
  t.state = 'LISTEN';
}

/** inet_accept: a connected child from the queue, or a Promise while it is empty. */
export function tcpAccept(sk: Socket, nonblock: boolean): Socket | Promise<Socket> {
  const t = tcpOf(sk);
  if (t.state !== 'LISTEN') throw new KernelError('EINVAL', 'socket is not listening');
  const take = (): Socket => {
    const child = t.acceptq.shift()!;
    const c = tcpOf(child);
    c.parent = null;
    c.ss = 'connected';
    return child;
  };
  return sk.waitFor(() => {
    if (t.acceptq.length > 0) return take();
    if (sk.closed || t.state !== 'LISTEN') throw new KernelError('EINVAL', 'socket is not listening');
    return null;
  }, nonblock, 'no pending connection');
}

/** __inet_stream_connect. */
export function tcpConnect(sk: Socket, addr: SockAddr, nonblock: boolean): number | Promise<number> {
  const t = tcpOf(sk);
  if (addr.family !== sk.family) throw new KernelError('EAFNOSUPPORT', 'address family mismatch');
  let err: ErrnoName | null = null;
  switch (t.ss) {
    case 'connected':
      throw new KernelError('EISCONN', 'already connected');
    case 'connecting':
      err = 'EALREADY';
      break;
    case 'unconnected': {
      if (t.state !== 'CLOSE') throw new KernelError('EISCONN', `socket is in ${t.state}`);
      const raddr = canonicalAddr(fam(sk), addr.addr ?? (sk.family === AF_INET ? '127.0.0.1' : '::1'));
      // Connecting to INADDR_ANY / in6addr_any means the local host.
      const remote = isWildcard(raddr) ? (sk.family === AF_INET ? '127.0.0.1' : '::1') : raddr;
      if (!sk.bound) sk.bound = { family: sk.family, addr: sourceAddrFor(sk.family, remote), port: sk.net.ephemeralPort() };
      else if (isWildcard(sk.bound.addr)) sk.bound = { ...sk.bound, addr: sourceAddrFor(sk.family, remote) };
      t.remote = { addr: remote, port: addr.port ?? 0 };
      t.sndNxt = isn(sk.net);
      t.mss = mssFor(sk, remote);
      t.state = 'SYN_SENT';
      t.ss = 'connecting';
      // sndNxt moves before the send: over lo the SYN-ACK comes back inside sendSegment.
      const seq = t.sndNxt;
      t.sndNxt = (seq + 1) >>> 0;
      sendSegment(sk, TCP_FLAG.SYN, new Uint8Array(0), seq);
      err = 'EINPROGRESS';
      // The loopback's answer is processed when the socket lock is released: even when it
      // is already here, a nonblocking connect reports EINPROGRESS.
      if (nonblock) throw new KernelError('EINPROGRESS', 'connection in progress');
      break;
    }
  }
  const finish = (): number => {
    if (t.state === 'CLOSE') {
      const e = sk.err ?? 'ECONNABORTED';
      sk.err = null;
      t.ss = 'unconnected';
      tcpDisconnect(sk);
      throw new KernelError(e, e === 'ECONNREFUSED' ? 'connection refused' : 'connection failed');
    }
    t.ss = 'connected';
    return 0;
  };
  if (t.state === 'SYN_SENT' || t.state === 'SYN_RECV') {
    if (nonblock) throw new KernelError(err ?? 'EALREADY', 'connection in progress');
    return (async () => {
      while (t.state === 'SYN_SENT' || t.state === 'SYN_RECV') {
        if (sk.closed) throw new KernelError('ECONNABORTED', 'socket closed');
        await sk.waitReadable();
      }
      return finish();
    })();
  }
  return finish();
}

/** tcp_disconnect on a closed socket: ready for another connect. */
function tcpDisconnect(sk: Socket): void {
  const t = tcpOf(sk);
  t.state = 'CLOSE';
  t.remote = null;
  t.finSent = false;
  t.done = false;
  sk.shutdown = 0;
  sk.rx.length = 0;
}

/** tcp_sendmsg: splits into MSS-sized segments. */
export function tcpSend(task: Task, sk: Socket, data: Uint8Array, flags: number): number {
  const t = tcpOf(sk);
  const fail = (): never => {
    // sk_stream_error: a pending error wins; EPIPE raises SIGPIPE unless MSG_NOSIGNAL.
    const e = sk.err ?? 'EPIPE';
    sk.err = null;
    if (e === 'EPIPE' && !(flags & MSG_NOSIGNAL)) {
      sendSignal(sk.net.kernel, task, SIG.SIGPIPE, { si_signo: SIG.SIGPIPE, si_errno: 0, si_code: SI_KERNEL }, false);
    }
    throw new KernelError(e, 'broken pipe');
  };
  if (t.state !== 'ESTABLISHED' && t.state !== 'CLOSE_WAIT') {
    if (sk.err) fail();
    if (t.state === 'SYN_SENT' || t.state === 'SYN_RECV') throw new KernelError('EAGAIN', 'connection not yet established');
    fail();
  }
  if (sk.err || sk.shutdown & SEND_SHUTDOWN) fail();
  for (let off = 0; off < data.length && (t.state === 'ESTABLISHED' || t.state === 'CLOSE_WAIT'); ) {
    const n = Math.min(t.mss, data.length - off);
    const seq = t.sndNxt;
    t.sndNxt = (seq + n) >>> 0;
    sendSegment(sk, TCP_FLAG.ACK | TCP_FLAG.PSH, data.subarray(off, off + n), seq);
    off += n;
  }
  return data.length;
}

/**
 * tcp_recvmsg: up to buf.length bytes across queued segments; 0 at end of stream; a
 * Promise while nothing is there and the socket blocks.
 */
export function tcpRecv(sk: Socket, buf: Uint8Array, nonblock: boolean, peek = false): number | Promise<number> {
  const t = tcpOf(sk);
  if (t.state === 'LISTEN') throw new KernelError('ENOTCONN', 'socket is listening');
  const attempt = (): number | null => {
    if (sk.rx.length > 0) return streamTake(sk, buf, peek);
    if (t.done) return 0;
    if (sk.err) {
      const e = sk.err;
      sk.err = null;
      throw new KernelError(e, 'connection error');
    }
    if (sk.shutdown & RCV_SHUTDOWN) return 0;
    if (t.state === 'CLOSE') throw new KernelError('ENOTCONN', 'socket is not connected');
    if (buf.length === 0) return 0;
    return null;
  };
  return sk.waitFor(attempt, nonblock);
}

/** Byte-stream read over queued chunks, leaving the rest of a chunk queued. */
export function streamTake(sk: Socket, buf: Uint8Array, peek = false): number {
  let n = 0;
  let i = 0;
  while (n < buf.length && i < sk.rx.length) {
    const d = sk.rx[i]!;
    const k = Math.min(d.bytes.length, buf.length - n);
    buf.set(d.bytes.subarray(0, k), n);
    n += k;
    if (peek) {
      i++;
      continue;
    }
    if (k === d.bytes.length) sk.rx.shift();
    else d.bytes = d.bytes.subarray(k);
  }
  return n;
}

/** inet_shutdown for TCP sockets; how is SHUT_RD/SHUT_WR/SHUT_RDWR (0..2). */
export function tcpShutdown(sk: Socket, how: number): void {
  const t = tcpOf(sk);
  const mask = how + 1;
  if (t.ss === 'connecting') t.ss = t.state === 'SYN_SENT' || t.state === 'SYN_RECV' || t.state === 'CLOSE' ? 'unconnected' : 'connected';
  switch (t.state) {
    case 'LISTEN':
      if (!(mask & RCV_SHUTDOWN)) break;
      stopListening(sk);
      break;
    case 'SYN_SENT':
      tcpDisconnect(sk);
      t.ss = 'unconnected';
      break;
    case 'CLOSE':
      sk.shutdown |= mask;
      sk.wake();
      throw new KernelError('ENOTCONN', 'socket is not connected');
    default:
      sk.shutdown |= mask;
      if (mask & SEND_SHUTDOWN) sendFin(sk);
      break;
  }
  sk.wake();
}

/** tcp_close_state + tcp_send_fin. */
function sendFin(sk: Socket): void {
  const t = tcpOf(sk);
  if (t.finSent) return;
  let next: TcpStateName;
  switch (t.state) {
    case 'ESTABLISHED':
    case 'SYN_RECV':
      next = 'FIN_WAIT1';
      break;
    case 'CLOSE_WAIT':
      next = 'LAST_ACK';
      break;
    default:
      return;
  }
  t.state = next;
  t.finSent = true;
  const seq = t.sndNxt;
  t.sndNxt = (t.sndNxt + 1) >>> 0;
  sendSegment(sk, TCP_FLAG.FIN | TCP_FLAG.ACK, new Uint8Array(0), seq);
}

/** inet_csk_listen_stop: queued and half-open children are reset and freed. */
function stopListening(sk: Socket): void {
  const t = tcpOf(sk);
  t.state = 'CLOSE';
  for (const child of [...t.acceptq, ...t.pending]) {
    sendSegment(child, TCP_FLAG.RST | TCP_FLAG.ACK);
    child.closed = true;
    tcpDone(child);
  }
  t.acceptq.length = 0;
  t.pending.clear();
}

/** tcp_close: the file is gone; the connection finishes as an orphan. */
function tcpClose(sk: Socket): void {
  const t = tcpOf(sk);
  runFinWait2Timers(sk.net);
  sk.shutdown = SHUTDOWN_MASK;
  switch (t.state) {
    case 'LISTEN':
      stopListening(sk);
      sk.destroy();
      return;
    case 'CLOSE':
    case 'SYN_SENT':
      t.state = 'CLOSE';
      sk.destroy();
      return;
    default:
      break;
  }
  if (sk.rx.length > 0) {
    // Unread data: RST instead of FIN (RFC 2525).
    sk.rx.length = 0;
    sendSegment(sk, TCP_FLAG.RST | TCP_FLAG.ACK);
    tcpDone(sk);
    return;
  }
  // The orphan lives on until the close handshake ends (tcpDone destroys it), in
  // FIN_WAIT2 at most tcp_fin_timeout.
  sendFin(sk);
  if (t.state === 'FIN_WAIT2') armFinWait2Timer(sk);
}

/** The text name Linux prints for the state (/proc/net/tcp uses numbers; ss uses these). */
export function tcpStateOf(sk: Socket): TcpStateName | null {
  return sk.proto instanceof TcpSock ? sk.proto.state : null;
}

export function tcpRemote(sk: Socket): { addr: string; port: number } | null {
  return sk.proto instanceof TcpSock ? sk.proto.remote : null;
}

/** Boot step: TCP's receive handler (inet_add_protocol(&tcp_protocol, IPPROTO_TCP)). */
export function registerTcp(net: NetState): void {
  net.ipProtocols.set(IPPROTO_TCP, (pkt) => tcpRcv(pkt, net));
}
