/**
 * The socket syscalls (net/socket.c): socket, socketpair, bind, listen, accept, accept4,
 * connect, sendto, recvfrom, shutdown, getsockname, getpeername, setsockopt, getsockopt.
 * Blocking ones (accept, connect, recvfrom) return a Promise. Pointer arguments are objects standing for user memory: a
 * SockAddr for struct sockaddr_*, a Uint8Array for a buffer, `{ value }` for an in/out
 * socklen_t, `{ len, filter }` for struct sock_fprog.
 */
import { KernelError, errnoNumber } from '../../kernel/errno.js';
import type { Kernel } from '../../kernel/kernel.js';
import { defineSyscall, type SyscallArg, type SyscallCall } from '../../kernel/syscall.js';
import { CAP, capable, type Task } from '../../kernel/task.js';
import { attachClassic, attachEbpf, detach, getFilter, lock, optvalU32 } from './filter.js';
import {
  AF_INET, AF_INET6, AF_PACKET, AF_UNIX, MSG_DONTWAIT, MSG_PEEK, MSG_TRUNC, RCV_SHUTDOWN, RMEM_MAX, SEND_SHUTDOWN, SOCK_CLOEXEC,
  SOCK_DGRAM, SOCK_MIN_RCVBUF, SOCK_NONBLOCK, SOCK_RAW, SOCK_STREAM, Socket, isWildcard, netOf, newSocket, packetSend, udpSend,
  unixSend, type SockAddr,
} from './socket.js';
import { canonicalAddr, isIpv6 } from './frames.js';
import { streamTake, tcpAccept, tcpConnect, tcpListen, tcpOf, tcpRecv, tcpRemote, tcpSend, tcpShutdown, tcpStateOf } from './tcp.js';

export const SOL_SOCKET = 1;
export const SO = {
  SO_TYPE: 3,
  SO_ERROR: 4,
  SO_RCVBUF: 8,
  SO_ATTACH_FILTER: 26,
  SO_GET_FILTER: 26,
  SO_DETACH_FILTER: 27,
  SO_DETACH_BPF: 27,
  SO_LOCK_FILTER: 44,
  SO_ATTACH_BPF: 50,
} as const;

const int = (a: SyscallArg): number => (typeof a === 'number' ? a : typeof a === 'bigint' ? Number(BigInt.asIntN(32, a)) : 0);

function sockOf(task: Task, fd: SyscallArg): Socket {
  const f = task.fds.get(int(fd));
  if (!(f instanceof Socket)) throw new KernelError('ENOTSOCK', `fd ${int(fd)} is not a socket`);
  return f;
}

function addrArg(a: SyscallArg): SockAddr {
  if (typeof a !== 'object' || a === null || a instanceof Uint8Array || typeof (a as SockAddr).family !== 'number') {
    throw new KernelError('EFAULT', 'bad sockaddr');
  }
  return a as SockAddr;
}

function bytesArg(a: SyscallArg, len: number): Uint8Array {
  if (!(a instanceof Uint8Array)) throw new KernelError('EFAULT', 'bad buffer');
  if (len < 0 || len > a.length) throw new KernelError('EFAULT', 'length beyond the buffer');
  return a.subarray(0, len);
}

function sysSocket({ kernel, task, args }: SyscallCall): number {
  const family = int(args[0]);
  const rawType = int(args[1]);
  const type = rawType & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  const protocol = int(args[2]);
  const net = netOf(kernel);
  let sk: Socket;
  switch (family) {
    case AF_PACKET:
      if (!capable(task.cred, CAP.CAP_NET_RAW)) throw new KernelError('EPERM', 'AF_PACKET needs CAP_NET_RAW');
      if (type !== SOCK_RAW && type !== SOCK_DGRAM) throw new KernelError('ESOCKTNOSUPPORT', `packet socket type ${type}`);
      // protocol comes in network order, as htons(ETH_P_ALL).
      sk = newSocket(net, family, type, ((protocol & 0xff) << 8) | ((protocol >> 8) & 0xff));
      break;
    case AF_INET:
    case AF_INET6:
      if (type === SOCK_DGRAM && (protocol === 0 || protocol === 17)) sk = newSocket(net, family, type, 17);
      else if (type === SOCK_STREAM && (protocol === 0 || protocol === 6)) {
        sk = newSocket(net, family, type, 6);
        tcpOf(sk);
      }
      else if (type === SOCK_RAW) throw new KernelError('EPROTONOSUPPORT', 'raw IP sockets are not modelled');
      else throw new KernelError(type === SOCK_DGRAM || type === SOCK_STREAM ? 'EPROTONOSUPPORT' : 'ESOCKTNOSUPPORT', `type ${type} protocol ${protocol}`);
      break;
    case AF_UNIX:
      if (type !== SOCK_DGRAM && type !== SOCK_STREAM) throw new KernelError('ESOCKTNOSUPPORT', `unix socket type ${type}`);
      sk = newSocket(net, family, type, 0);
      break;
    default:
      throw new KernelError('EAFNOSUPPORT', `address family ${family}`);
  }
  sk.nonblock = (rawType & SOCK_NONBLOCK) !== 0;
  sk.owner = { pid: task.tgid, comm: task.comm };
  try {
    return task.fds.install(sk, (rawType & SOCK_CLOEXEC) !== 0);
  } catch (e) {
    sk.release();
    throw e;
  }
}

function sysSocketpair({ kernel, task, args }: SyscallCall): number {
  const family = int(args[0]);
  const rawType = int(args[1]);
  const type = rawType & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (family !== AF_UNIX) throw new KernelError('EOPNOTSUPP', 'socketpair needs AF_UNIX');
  if (type !== SOCK_DGRAM && type !== SOCK_STREAM) throw new KernelError('ESOCKTNOSUPPORT', `type ${type}`);
  const sv = args[3];
  if (!(sv instanceof Int32Array) && !Array.isArray(sv)) throw new KernelError('EFAULT', 'bad sv');
  const net = netOf(kernel);
  const a = newSocket(net, AF_UNIX, type, 0);
  const b = newSocket(net, AF_UNIX, type, 0);
  a.peer = b;
  b.peer = a;
  a.nonblock = b.nonblock = (rawType & SOCK_NONBLOCK) !== 0;
  a.owner = b.owner = { pid: task.tgid, comm: task.comm };
  const cloexec = (rawType & SOCK_CLOEXEC) !== 0;
  const fa = task.fds.install(a, cloexec);
  let fb: number;
  try {
    fb = task.fds.install(b, cloexec);
  } catch (e) {
    task.fds.close(fa);
    b.release();
    throw e;
  }
  (sv as number[])[0] = fa;
  (sv as number[])[1] = fb;
  return 0;
}

function sysBind({ kernel, task, args }: SyscallCall): number {
  const sk = sockOf(task, args[0]);
  const addr = addrArg(args[1]);
  if (addr.family !== sk.family) throw new KernelError('EINVAL', 'address family mismatch');
  if (sk.family === AF_PACKET) {
    const ifindex = addr.ifindex ?? 0;
    if (ifindex !== 0 && !netOf(kernel).device(ifindex)) throw new KernelError('ENODEV', `no device ${ifindex}`);
    sk.bound = { family: AF_PACKET, ifindex };
    return 0;
  }
  if (sk.family === AF_INET || sk.family === AF_INET6) {
    if (sk.bound) throw new KernelError('EINVAL', 'socket already bound');
    const text = addr.addr ?? (sk.family === AF_INET ? '0.0.0.0' : '::');
    if (sk.family === AF_INET6 && !isIpv6(text)) throw new KernelError('EINVAL', `bad IPv6 address '${text}'`);
    const local = canonicalAddr(sk.family === AF_INET ? 'ip' : 'ip6', text);
    let port = addr.port ?? 0;
    if (port !== 0 && port < 1024 && !capable(task.cred, CAP.CAP_NET_BIND_SERVICE)) {
      throw new KernelError('EACCES', `port ${port} needs CAP_NET_BIND_SERVICE`);
    }
    const net = netOf(kernel);
    if (port === 0) port = net.ephemeralPort();
    for (const o of net.sockets) {
      if (o !== sk && o.type === sk.type && o.bound?.port === port && bindConflict(sk.family, local, o)) {
        throw new KernelError('EADDRINUSE', `port ${port} in use`);
      }
    }
    sk.bound = { family: sk.family, addr: local, port };
    return 0;
  }
  throw new KernelError('EOPNOTSUPP', 'bind on this socket');
}

/**
 * inet_bind_conflict, without SO_REUSEADDR: the same port on overlapping addresses (either
 * a wildcard, or equal). An IPv6 wildcard also takes the port for IPv4 (bindv6only=0).
 */
function bindConflict(family: number, addr: string, o: Socket): boolean {
  const oaddr = o.bound?.addr;
  if (o.family === family) return isWildcard(addr) || isWildcard(oaddr) || addr === oaddr;
  if (o.family !== AF_INET && o.family !== AF_INET6) return false;
  const v6 = family === AF_INET6 ? addr : oaddr;
  return v6 === '::';
}

function sysConnect({ task, args }: SyscallCall): number | Promise<number> {
  const sk = sockOf(task, args[0]);
  const addr = addrArg(args[1]);
  if (sk.family === AF_INET || sk.family === AF_INET6) {
    if (sk.type === SOCK_STREAM) return tcpConnect(sk, addr, sk.nonblock);
    if (addr.family !== sk.family) throw new KernelError('EAFNOSUPPORT', 'address family mismatch');
    const fam = sk.family === AF_INET ? 'ip' : 'ip6';
    sk.peerAddr = { ...addr, addr: canonicalAddr(fam, addr.addr ?? (sk.family === AF_INET ? '127.0.0.1' : '::1')) };
    return 0;
  }
  throw new KernelError('EOPNOTSUPP', 'connect on this socket');
}

/** listen(2): TCP (inet_listen); datagram and packet sockets have sock_no_listen. */
function sysListen({ task, args }: SyscallCall): number {
  const sk = sockOf(task, args[0]);
  if ((sk.family === AF_INET || sk.family === AF_INET6) && sk.type === SOCK_STREAM) {
    tcpListen(sk, int(args[1]));
    return 0;
  }
  if (sk.family === AF_UNIX && sk.type === SOCK_STREAM) throw new KernelError('EINVAL', 'unix socket is not bound');
  throw new KernelError('EOPNOTSUPP', 'listen on this socket type');
}

/** accept(2) / accept4(2): the new fd; `addr`, if given, receives the peer's address. */
function sysAccept4({ task, args }: SyscallCall): number | Promise<number> {
  const sk = sockOf(task, args[0]);
  const addrOut = args[1];
  const flags = args.length > 3 ? int(args[3]) : 0;
  if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) throw new KernelError('EINVAL', `accept4 flags ${flags}`);
  if (!((sk.family === AF_INET || sk.family === AF_INET6) && sk.type === SOCK_STREAM)) {
    throw new KernelError(sk.family === AF_UNIX && sk.type === SOCK_STREAM ? 'EINVAL' : 'EOPNOTSUPP', 'accept on this socket');
  }
  const install = (child: Socket): number => {
    child.nonblock = (flags & SOCK_NONBLOCK) !== 0;
    child.owner = { pid: task.tgid, comm: task.comm };
    const fd = task.fds.install(child, (flags & SOCK_CLOEXEC) !== 0);
    const r = tcpRemote(child);
    if (typeof addrOut === 'object' && addrOut !== null && !(addrOut instanceof Uint8Array) && r) {
      Object.assign(addrOut, { family: child.family, addr: r.addr, port: r.port });
    }
    return fd;
  };
  const got = tcpAccept(sk, sk.nonblock);
  return got instanceof Promise ? got.then(install) : install(got);
}

/** shutdown(2): how is SHUT_RD (0), SHUT_WR (1) or SHUT_RDWR (2). */
function sysShutdown({ task, args }: SyscallCall): number {
  const sk = sockOf(task, args[0]);
  const how = int(args[1]);
  const mask = how + 1;
  if (mask & ~3 || mask === 0) throw new KernelError('EINVAL', `shutdown how ${how}`);
  if (sk.family === AF_PACKET) throw new KernelError('EOPNOTSUPP', 'shutdown on a packet socket');
  if (sk.type === SOCK_STREAM && sk.family !== AF_UNIX) {
    tcpShutdown(sk, how);
    return 0;
  }
  sk.shutdown |= mask;
  sk.wake();
  if (sk.family === AF_UNIX) {
    // unix_shutdown: the peer sees the mirror image.
    const peer = sk.peer;
    if (peer) {
      if (mask & SEND_SHUTDOWN) peer.shutdown |= RCV_SHUTDOWN;
      if (mask & RCV_SHUTDOWN) peer.shutdown |= SEND_SHUTDOWN;
      peer.wake();
    }
    return 0;
  }
  // UDP: sk_state is TCP_ESTABLISHED only once connected.
  if (!sk.peerAddr) throw new KernelError('ENOTCONN', 'socket is not connected');
  return 0;
}

function sockName(out: SyscallArg, name: SockAddr | null, family: number): number {
  if (typeof out !== 'object' || out === null || out instanceof Uint8Array) throw new KernelError('EFAULT', 'bad sockaddr');
  const fallback: SockAddr = family === AF_INET ? { family, addr: '0.0.0.0', port: 0 } : family === AF_INET6 ? { family, addr: '::', port: 0 } : { family };
  Object.assign(out, name ?? fallback);
  return 0;
}

function sysGetsockname({ task, args }: SyscallCall): number {
  const sk = sockOf(task, args[0]);
  return sockName(args[1], sk.bound, sk.family);
}

function sysGetpeername({ task, args }: SyscallCall): number {
  const sk = sockOf(task, args[0]);
  if (sk.family === AF_INET || sk.family === AF_INET6) {
    if (sk.type === SOCK_STREAM) {
      const st = tcpStateOf(sk);
      const r = tcpRemote(sk);
      if (!r || st === 'CLOSE' || st === 'LISTEN' || st === 'SYN_SENT') throw new KernelError('ENOTCONN', 'socket is not connected');
      return sockName(args[1], { family: sk.family, addr: r.addr, port: r.port }, sk.family);
    }
    if (!sk.peerAddr) throw new KernelError('ENOTCONN', 'socket is not connected');
    return sockName(args[1], sk.peerAddr, sk.family);
  }
  if (sk.family === AF_UNIX && sk.peer) return sockName(args[1], { family: AF_UNIX }, AF_UNIX);
  throw new KernelError('ENOTCONN', 'socket is not connected');
}

function sysSendto({ task, args }: SyscallCall): number {
  return sockSend(task, sockOf(task, args[0]), bytesArg(args[1], int(args[2])), int(args[3]), args[4]);
}

/** sock_sendmsg: sendto(2)'s work on a socket, and write(2) on a socket fd (Socket.write). */
export function sockSend(task: Task, sk: Socket, buf: Uint8Array, flags: number, toArg: SyscallArg): number {
  // TCP ignores the address (without TCP Fast Open), as tcp_sendmsg does.
  if (sk.type === SOCK_STREAM && sk.family !== AF_UNIX) return tcpSend(task, sk, buf, flags);
  const to = toArg === null || toArg === undefined ? null : addrArg(toArg);
  switch (sk.family) {
    case AF_UNIX:
      return unixSend(sk, buf);
    case AF_PACKET:
      return packetSend(sk, buf, to);
    default: {
      const dest = to ?? sk.peerAddr;
      if (!dest) throw new KernelError('EDESTADDRREQ', 'no destination');
      return udpSend(sk, buf, dest);
    }
  }
}

function sysRecvfrom({ task, args }: SyscallCall): number | Promise<number> {
  const sk = sockOf(task, args[0]);
  const len = int(args[2]);
  return sockRecv(sk, bytesArg(args[1], len), int(args[3]), args[4]);
}

/** sock_recvmsg: recvfrom(2)'s work on a socket, and read(2) on a socket fd (Socket.read). */
export function sockRecv(sk: Socket, buf: Uint8Array, flags: number, fromOut: SyscallArg): number | Promise<number> {
  const len = buf.length;
  const nonblock = sk.nonblock || (flags & MSG_DONTWAIT) !== 0;
  if (sk.type === SOCK_STREAM && sk.family !== AF_UNIX) {
    // A stream has no per-read sender: recvfrom leaves the address alone (Linux: addrlen 0).
    return tcpRecv(sk, buf, nonblock, (flags & MSG_PEEK) !== 0);
  }
  if (sk.type === SOCK_STREAM) {
    return sk.waitFor(() => {
      if (sk.rx.length > 0) return streamTake(sk, buf, (flags & MSG_PEEK) !== 0);
      if (sk.peer === null || sk.shutdown & RCV_SHUTDOWN || len === 0) return 0;
      return null;
    }, nonblock);
  }
  const take = (): number => {
    const d = sk.rx.shift()!;
    const n = Math.min(d.bytes.length, buf.length);
    buf.set(d.bytes.subarray(0, n));
    if (typeof fromOut === 'object' && fromOut !== null && !(fromOut instanceof Uint8Array)) Object.assign(fromOut, d.from);
    return flags & MSG_TRUNC ? d.bytes.length : n;
  };
  if (sk.rx.length > 0) return take();
  if (nonblock) throw new KernelError('EAGAIN', 'no data');
  const wait = async (): Promise<number> => {
    while (sk.rx.length === 0) {
      if (sk.closed || sk.shutdown & RCV_SHUTDOWN || (sk.family === AF_UNIX && sk.peer === null)) return 0;
      await sk.waitReadable();
    }
    return take();
  };
  return wait();
}

function optlenArg(a: SyscallArg): number {
  if (typeof a === 'number') return a;
  if (typeof a === 'object' && a !== null && typeof (a as { value?: unknown }).value === 'number') return (a as { value: number }).value;
  throw new KernelError('EFAULT', 'bad optlen');
}

function sysSetsockopt({ kernel, task, args }: SyscallCall): number {
  const sk = sockOf(task, args[0]);
  const level = int(args[1]);
  const name = int(args[2]);
  const optval = args[3];
  const optlen = optlenArg(args[4]);
  if (level !== SOL_SOCKET) throw new KernelError('ENOPROTOOPT', `level ${level}`);
  if (optlen < 0) throw new KernelError('EINVAL', 'negative optlen');
  switch (name) {
    case SO.SO_ATTACH_FILTER:
      attachClassic(kernel, task, sk.filter, optval, optlen);
      return 0;
    case SO.SO_ATTACH_BPF:
      attachEbpf(kernel, task, sk.filter, optval, optlen);
      return 0;
    case SO.SO_DETACH_FILTER:
      detach(kernel, sk.filter);
      return 0;
    case SO.SO_LOCK_FILTER:
      lock(sk.filter, optval, optlen);
      return 0;
    case SO.SO_RCVBUF: {
      // sock_setsockopt: a hint, never an error; capped at rmem_max (an int below 0 is a
      // huge u32), doubled for the skb overhead (__sock_set_rcvbuf), never below the minimum.
      if (optlen < 4) throw new KernelError('EINVAL', 'SO_RCVBUF needs an int');
      sk.rcvbuf = Math.max(Math.min(optvalU32(optval), RMEM_MAX) * 2, SOCK_MIN_RCVBUF);
      return 0;
    }
    default:
      throw new KernelError('ENOPROTOOPT', `socket option ${name}`);
  }
}

function sysGetsockopt({ task, args }: SyscallCall): number {
  const sk = sockOf(task, args[0]);
  const level = int(args[1]);
  const name = int(args[2]);
  const optval = args[3] instanceof Uint8Array ? args[3] : null;
  const lenBox = args[4];
  if (typeof lenBox !== 'object' || lenBox === null || typeof (lenBox as { value?: unknown }).value !== 'number') {
    throw new KernelError('EFAULT', 'optlen must be an in/out { value }');
  }
  const box = lenBox as { value: number };
  if (box.value < 0) throw new KernelError('EINVAL', 'negative optlen');
  if (level !== SOL_SOCKET) throw new KernelError('ENOPROTOOPT', `level ${level}`);
  const putInt = (v: number): number => {
    if (!optval || optval.length < 4) throw new KernelError('EFAULT', 'bad optval');
    const n = Math.min(box.value, 4);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setInt32(0, v, true);
    optval.set(bytes.subarray(0, n));
    box.value = n;
    return 0;
  };
  switch (name) {
    case SO.SO_GET_FILTER:
      box.value = getFilter(sk.filter, optval, box.value);
      return 0;
    case SO.SO_LOCK_FILTER:
      return putInt(sk.filter.locked ? 1 : 0);
    case SO.SO_TYPE:
      return putInt(sk.type);
    case SO.SO_RCVBUF:
      return putInt(sk.rcvbuf);
    case SO.SO_ERROR: {
      const e = sk.err;
      sk.err = null;
      return putInt(e === null ? 0 : errnoNumber(e));
    }
    default:
      throw new KernelError('ENOPROTOOPT', `socket option ${name}`);
  }
}

export function registerNetSyscalls(kernel: Kernel): void {
  defineSyscall(kernel, 'socket', sysSocket);
  defineSyscall(kernel, 'socketpair', sysSocketpair);
  defineSyscall(kernel, 'bind', sysBind);
  defineSyscall(kernel, 'connect', sysConnect);
  defineSyscall(kernel, 'listen', sysListen);
  defineSyscall(kernel, 'accept', (call) => sysAccept4({ ...call, args: [call.args[0], call.args[1], call.args[2], 0] }));
  defineSyscall(kernel, 'accept4', sysAccept4);
  defineSyscall(kernel, 'shutdown', sysShutdown);
  defineSyscall(kernel, 'getsockname', sysGetsockname);
  defineSyscall(kernel, 'getpeername', sysGetpeername);
  defineSyscall(kernel, 'sendto', sysSendto);
  defineSyscall(kernel, 'recvfrom', sysRecvfrom);
  defineSyscall(kernel, 'setsockopt', sysSetsockopt);
  defineSyscall(kernel, 'getsockopt', sysGetsockopt);
  // close(2) is the fd layer's (kernel/process.ts): a socket is released through FdTable.
}
