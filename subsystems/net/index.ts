/**
 * The net subsystem's public surface: registerNet (a boot step), the devices, the socket
 * constants, and netifRx for code that plays the wire (tests, `bpfkern cbpf run`).
 */
import type { Kernel } from '../../kernel/kernel.js';
import { KernelError } from '../../kernel/errno.js';
import { netOf, netifReceive } from './socket.js';
import { registerNetSyscalls } from './syscalls.js';
import { registerTcp } from './tcp.js';

export function registerNet(kernel: Kernel): void {
  registerTcp(netOf(kernel));
  registerNetSyscalls(kernel);
}

/** A frame arriving from the wire on the named device; false if the stack dropped it early. */
export function netifRx(kernel: Kernel, devName: string, frame: Uint8Array): boolean {
  const dev = netOf(kernel).deviceByName(devName);
  if (!dev) throw new KernelError('ENODEV', `no device ${devName}`);
  return netifReceive(kernel, dev, frame);
}

export {
  netOf, Socket, AF_UNIX, AF_INET, AF_INET6, AF_PACKET, SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_NONBLOCK, SOCK_CLOEXEC, MSG_DONTWAIT,
  MSG_TRUNC, MSG_PEEK, MSG_NOSIGNAL, LOCAL_ADDRS, type SockAddr,
} from './socket.js';
export { socketControl, socketInfo, type SocketControl } from './control.js';
export { tcpStateOf, type TcpStateName } from './tcp.js';
export { readCapture, LINKTYPE_ETHERNET, type PcapFile, type PcapPacket } from './pcap.js';
export { SOL_SOCKET, SO } from './syscalls.js';
export { ETH_P_ALL, ETH_P_IP, ETH_P_IPV6, ETH_P_8021Q, ETH_P_8021AD, IPPROTO_TCP, IPPROTO_UDP, TCP_FLAG, tcpFrame, udp4Frame, udp6Frame } from './frames.js';
export { ARPHRD_ETHER, ARPHRD_LOOPBACK, PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST, PACKET_OUTGOING } from './netdev.js';
