/**
 * The socket syscalls (net/socket.c): socket, socketpair, bind, connect, sendto, recvfrom,
 * setsockopt, getsockopt. Pointer arguments are objects standing for user memory: a
 * SockAddr for struct sockaddr_*, a Uint8Array for a buffer, `{ value }` for an in/out
 * socklen_t, `{ len, filter }` for struct sock_fprog.
 */
import { KernelError } from '../../kernel/errno.js';
import type { Kernel } from '../../kernel/kernel.js';
import { defineSyscall, type SyscallArg, type SyscallCall } from '../../kernel/syscall.js';
import { CAP, capable, type Task } from '../../kernel/task.js';
import { attachClassic, attachEbpf, detach, getFilter, lock } from './filter.js';
import {
  AF_INET, AF_INET6, AF_PACKET, AF_UNIX, MSG_DONTWAIT, MSG_TRUNC, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_RAW,
  SOCK_STREAM, Socket, netOf, newSocket, packetSend, udpSend, unixSend, type SockAddr,
} from './socket.js';

export const SOL_SOCKET = 1;
/** include/uapi/linux/capability.h (not in kernel/task.ts CAP yet). */
const CAP_NET_BIND_SERVICE = 10;
export const SO = {
  SO_TYPE: 3,
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
      else if (type === SOCK_STREAM && (protocol === 0 || protocol === 6)) sk = newSocket(net, family, type, 6);
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
  try {
    return task.fds.install(sk);
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
  const fa = task.fds.install(a);
  let fb: number;
  try {
    fb = task.fds.install(b);
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
    let port = addr.port ?? 0;
    if (port !== 0 && port < 1024 && !capable(task.cred, CAP_NET_BIND_SERVICE)) {
      throw new KernelError('EACCES', `port ${port} needs CAP_NET_BIND_SERVICE`);
    }
    const net = netOf(kernel);
    if (port === 0) port = net.ephemeralPort();
    for (const o of net.sockets) {
      if (o !== sk && o.family === sk.family && o.type === sk.type && o.bound?.port === port) {
        throw new KernelError('EADDRINUSE', `port ${port} in use`);
      }
    }
    sk.bound = { family: sk.family, addr: addr.addr ?? (sk.family === AF_INET ? '0.0.0.0' : '::'), port };
    return 0;
  }
  throw new KernelError('EOPNOTSUPP', 'bind on this socket');
}

function sysConnect({ task, args }: SyscallCall): number {
  const sk = sockOf(task, args[0]);
  const addr = addrArg(args[1]);
  if (sk.family === AF_INET || sk.family === AF_INET6) {
    if (sk.type === SOCK_STREAM) throw new KernelError('ECONNREFUSED', 'no listening TCP socket (TCP is not modelled)');
    if (addr.family !== sk.family) throw new KernelError('EAFNOSUPPORT', 'address family mismatch');
    sk.peerAddr = addr;
    return 0;
  }
  throw new KernelError('EOPNOTSUPP', 'connect on this socket');
}

function sysSendto({ task, args }: SyscallCall): number {
  const sk = sockOf(task, args[0]);
  const buf = bytesArg(args[1], int(args[2]));
  const to = args[4] === null || args[4] === undefined ? null : addrArg(args[4]);
  switch (sk.family) {
    case AF_UNIX:
      return unixSend(sk, buf);
    case AF_PACKET:
      return packetSend(sk, buf, to);
    default: {
      if (sk.type === SOCK_STREAM) throw new KernelError('ENOTCONN', 'not connected');
      const dest = to ?? sk.peerAddr;
      if (!dest) throw new KernelError('EDESTADDRREQ', 'no destination');
      return udpSend(sk, buf, dest);
    }
  }
}

function sysRecvfrom({ task, args }: SyscallCall): number | Promise<number> {
  const sk = sockOf(task, args[0]);
  const len = int(args[2]);
  const buf = bytesArg(args[1], len);
  const flags = int(args[3]);
  const fromOut = args[4];
  const take = (): number => {
    const d = sk.rx.shift()!;
    const n = Math.min(d.bytes.length, buf.length);
    buf.set(d.bytes.subarray(0, n));
    if (typeof fromOut === 'object' && fromOut !== null && !(fromOut instanceof Uint8Array)) Object.assign(fromOut, d.from);
    return flags & MSG_TRUNC ? d.bytes.length : n;
  };
  if (sk.rx.length > 0) return take();
  if (sk.nonblock || flags & MSG_DONTWAIT) throw new KernelError('EAGAIN', 'no data');
  const wait = async (): Promise<number> => {
    while (sk.rx.length === 0) {
      if (sk.closed || (sk.family === AF_UNIX && sk.peer === null)) return 0;
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
    default:
      throw new KernelError('ENOPROTOOPT', `socket option ${name}`);
  }
}

export function registerNetSyscalls(kernel: Kernel): void {
  defineSyscall(kernel, 'socket', sysSocket);
  defineSyscall(kernel, 'socketpair', sysSocketpair);
  defineSyscall(kernel, 'bind', sysBind);
  defineSyscall(kernel, 'connect', sysConnect);
  defineSyscall(kernel, 'sendto', sysSendto);
  defineSyscall(kernel, 'recvfrom', sysRecvfrom);
  defineSyscall(kernel, 'setsockopt', sysSetsockopt);
  defineSyscall(kernel, 'getsockopt', sysGetsockopt);
  // close(2) is the fd layer's (kernel/process.ts): a socket is released through FdTable.
}
