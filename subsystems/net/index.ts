/**
 * The net subsystem's public surface: registerNet (a boot step), the devices, the socket
 * constants, and netifRx for code that plays the wire (tests, `bpfkern cbpf run`).
 */
import type { Kernel } from '../../kernel/kernel.js';
import { KernelError } from '../../kernel/errno.js';
import { netOf, netifReceive } from './socket.js';
import { registerNetSyscalls } from './syscalls.js';

export function registerNet(kernel: Kernel): void {
  netOf(kernel);
  registerNetSyscalls(kernel);
}

/** A frame arriving from the wire on the named device; false if the stack dropped it early. */
export function netifRx(kernel: Kernel, devName: string, frame: Uint8Array): boolean {
  const dev = netOf(kernel).deviceByName(devName);
  if (!dev) throw new KernelError('ENODEV', `no device ${devName}`);
  return netifReceive(kernel, dev, frame);
}

export { netOf, Socket, AF_UNIX, AF_INET, AF_INET6, AF_PACKET, SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_NONBLOCK, MSG_DONTWAIT, MSG_TRUNC, type SockAddr } from './socket.js';
export { SOL_SOCKET, SO } from './syscalls.js';
export { ETH_P_ALL, ETH_P_IP, ETH_P_IPV6, ETH_P_8021Q, ETH_P_8021AD } from './frames.js';
export { ARPHRD_ETHER, ARPHRD_LOOPBACK, PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST, PACKET_OUTGOING } from './netdev.js';
