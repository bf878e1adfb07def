/**
 * Network devices: `lo` (ifindex 1, ARPHRD_LOOPBACK, MAC 00:00:00:00:00:00) and a simulated
 * Ethernet `eth0` (ifindex 2, ARPHRD_ETHER). A frame enters the stack through
 * netifReceive() (a wire delivering to eth0, or lo looping back what was sent) and leaves
 * through devXmit(); both fire the net: tracepoints.
 */
export const ARPHRD_ETHER = 1;
export const ARPHRD_LOOPBACK = 772;

export interface NetDevice {
  readonly name: string;
  readonly ifindex: number;
  /** dev->type (ARPHRD_*), what the hatype ancillary load reads. */
  readonly type: number;
  readonly mac: Uint8Array;
  readonly mtu: number;
}

export function defaultDevices(): NetDevice[] {
  return [
    { name: 'lo', ifindex: 1, type: ARPHRD_LOOPBACK, mac: new Uint8Array(6), mtu: 65536 },
    { name: 'eth0', ifindex: 2, type: ARPHRD_ETHER, mac: Uint8Array.from([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]), mtu: 1500 },
  ];
}

/** PACKET_* values of skb->pkt_type (include/uapi/linux/if_packet.h). */
export const PACKET_HOST = 0;
export const PACKET_BROADCAST = 1;
export const PACKET_MULTICAST = 2;
export const PACKET_OTHERHOST = 3;
export const PACKET_OUTGOING = 4;

/** eth_type_trans()'s pkt_type: by destination MAC against the device's own. */
export function ethPktType(dev: Pick<NetDevice, 'mac'>, frame: Uint8Array): number {
  if (frame.length < 6) return PACKET_OTHERHOST;
  if (frame[0]! & 1) return frame.subarray(0, 6).every((b) => b === 0xff) ? PACKET_BROADCAST : PACKET_MULTICAST;
  for (let i = 0; i < 6; i++) if (frame[i] !== dev.mac[i]) return PACKET_OTHERHOST;
  return PACKET_HOST;
}
