/**
 * Socket wrappers, as a C program would call them; each enters the kernel through sys().
 * Like the raw syscalls they return the value or -errno; the check* forms throw
 * SyscallError instead (libc's -1 + errno).
 */
import type { SockFilter } from '../../kernel/bpf/classic/isa.js';
import type { SockAddr } from '../../subsystems/net/index.js';
import { check, sys, type Proc } from './process.js';

export {
  AF_UNIX, AF_INET, AF_INET6, AF_PACKET, SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_NONBLOCK, SOCK_CLOEXEC, MSG_DONTWAIT, MSG_TRUNC,
  MSG_PEEK, MSG_NOSIGNAL, SOL_SOCKET, SO, ETH_P_ALL, ETH_P_IP, ETH_P_IPV6,
} from '../../subsystems/net/index.js';

/** shutdown(2)'s how. */
export const SHUT_RD = 0;
export const SHUT_WR = 1;
export const SHUT_RDWR = 2;
export type { SockAddr };

/** htons, for socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)). */
export const htons = (v: number): number => ((v & 0xff) << 8) | ((v >> 8) & 0xff);

export const socket = (p: Proc, domain: number, type: number, protocol = 0): Promise<number> => check(p, 'socket', domain, type, protocol);

export async function socketpair(p: Proc, domain: number, type: number, protocol = 0): Promise<[number, number]> {
  const sv = [-1, -1];
  await check(p, 'socketpair', domain, type, protocol, sv);
  return [sv[0]!, sv[1]!];
}

export const bind = (p: Proc, fd: number, addr: SockAddr): Promise<number> => check(p, 'bind', fd, addr, 16);
export const connect = (p: Proc, fd: number, addr: SockAddr): Promise<number> => check(p, 'connect', fd, addr, 16);

export const sendto = (p: Proc, fd: number, buf: Uint8Array, flags = 0, to: SockAddr | null = null): Promise<number> =>
  check(p, 'sendto', fd, buf, buf.length, flags, to, to ? 16 : 0);

export const send = (p: Proc, fd: number, buf: Uint8Array, flags = 0): Promise<number> => sendto(p, fd, buf, flags, null);

/** Reads one datagram into a new buffer of `len` bytes; `from` receives the sender's address. */
export async function recvfrom(
  p: Proc, fd: number, len: number, flags = 0, from: Partial<SockAddr> | null = null,
): Promise<{ n: number; data: Uint8Array }> {
  const buf = new Uint8Array(len);
  const n = await check(p, 'recvfrom', fd, buf, len, flags, from, from ? { value: 16 } : null);
  return { n, data: buf.subarray(0, Math.min(n, len)) };
}

/** setsockopt(2) with the option value as the kernel expects it (see subsystems/net/syscalls.ts). */
export const setsockopt = (p: Proc, fd: number, level: number, name: number, optval: unknown, optlen: number): Promise<number> =>
  check(p, 'setsockopt', fd, level, name, optval as object, optlen);

/** SO_ATTACH_FILTER with a struct sock_fprog built from the instructions. */
export const attachFilter = (p: Proc, fd: number, filter: readonly SockFilter[]): Promise<number> =>
  setsockopt(p, fd, 1, 26, { len: filter.length, filter: [...filter] }, 16);

/** getsockopt(2): optlen is in/out. */
export async function getsockopt(p: Proc, fd: number, level: number, name: number, optval: Uint8Array | null, optlen: number): Promise<{ ret: number; optlen: number }> {
  const box = { value: optlen };
  const ret = await check(p, 'getsockopt', fd, level, name, optval, box);
  return { ret, optlen: box.value };
}

export { close } from './proc.js';

export const listen = (p: Proc, fd: number, backlog: number): Promise<number> => check(p, 'listen', fd, backlog);

/** accept4(2): the new fd; `peer`, if given, receives the peer's address. Blocks until a connection is queued. */
export const accept4 = (p: Proc, fd: number, peer: Partial<SockAddr> | null = null, flags = 0): Promise<number> =>
  check(p, 'accept4', fd, peer, peer ? { value: 28 } : null, flags);
export const accept = (p: Proc, fd: number, peer: Partial<SockAddr> | null = null): Promise<number> =>
  check(p, 'accept', fd, peer, peer ? { value: 28 } : null);

export const shutdown = (p: Proc, fd: number, how: number): Promise<number> => check(p, 'shutdown', fd, how);

/** recv(2) on a stream: up to len bytes (0 at end of stream). */
export async function recv(p: Proc, fd: number, len: number, flags = 0): Promise<Uint8Array> {
  return (await recvfrom(p, fd, len, flags)).data;
}

export async function getsockname(p: Proc, fd: number): Promise<SockAddr> {
  const out: SockAddr = { family: 0 };
  await check(p, 'getsockname', fd, out, { value: 28 });
  return out;
}

export async function getpeername(p: Proc, fd: number): Promise<SockAddr> {
  const out: SockAddr = { family: 0 };
  await check(p, 'getpeername', fd, out, { value: 28 });
  return out;
}

/** The raw forms (value or -errno), for tests of error paths. */
export const rawSetsockopt = (p: Proc, fd: number, level: number, name: number, optval: unknown, optlen: number) =>
  sys(p, 'setsockopt', fd, level, name, optval as object, optlen);
export const rawGetsockopt = (p: Proc, fd: number, level: number, name: number, optval: Uint8Array | null, box: { value: number }) =>
  sys(p, 'getsockopt', fd, level, name, optval, box);
