/**
 * skb: events (include/trace/events/skb.h), copied from Linux 6.18's format file.
 * kfree_skb carries the drop reason (enum skb_drop_reason); the print fmt's
 * __print_symbolic table is built from SKB_DROP_REASONS below, which starts at 2
 * (SKB_DROP_REASON_NOT_SPECIFIED) and ends with MAX.
 */
import { declareFromFormat } from '../event-def.js';

/** enum skb_drop_reason names from value 2 on (index 0 is value 2), as Linux 6.18 prints them. */
export const SKB_DROP_REASONS: readonly string[] = [
  'NOT_SPECIFIED', 'NO_SOCKET', 'SOCKET_CLOSE', 'SOCKET_FILTER', 'SOCKET_RCVBUFF',
  'UNIX_DISCONNECT', 'UNIX_SKIP_OOB', 'PKT_TOO_SMALL', 'TCP_CSUM', 'UDP_CSUM', 'NETFILTER_DROP',
  'OTHERHOST', 'IP_CSUM', 'IP_INHDR', 'IP_RPFILTER', 'UNICAST_IN_L2_MULTICAST', 'XFRM_POLICY',
  'IP_NOPROTO', 'PROTO_MEM', 'TCP_AUTH_HDR', 'TCP_MD5NOTFOUND', 'TCP_MD5UNEXPECTED',
  'TCP_MD5FAILURE', 'TCP_AONOTFOUND', 'TCP_AOUNEXPECTED', 'TCP_AOKEYNOTFOUND', 'TCP_AOFAILURE',
  'SOCKET_BACKLOG', 'TCP_FLAGS', 'TCP_ABORT_ON_DATA', 'TCP_ZEROWINDOW', 'TCP_OLD_DATA',
  'TCP_OVERWINDOW', 'TCP_OFOMERGE', 'TCP_RFC7323_PAWS', 'TCP_RFC7323_PAWS_ACK',
  'TCP_RFC7323_TW_PAWS', 'TCP_RFC7323_TSECR', 'TCP_LISTEN_OVERFLOW', 'TCP_OLD_SEQUENCE',
  'TCP_INVALID_SEQUENCE', 'TCP_INVALID_END_SEQUENCE', 'TCP_INVALID_ACK_SEQUENCE', 'TCP_RESET',
  'TCP_INVALID_SYN', 'TCP_CLOSE', 'TCP_FASTOPEN', 'TCP_OLD_ACK', 'TCP_TOO_OLD_ACK',
  'TCP_ACK_UNSENT_DATA', 'TCP_OFO_QUEUE_PRUNE', 'TCP_OFO_DROP', 'IP_OUTNOROUTES',
  'BPF_CGROUP_EGRESS', 'IPV6DISABLED', 'NEIGH_CREATEFAIL', 'NEIGH_FAILED', 'NEIGH_QUEUEFULL',
  'NEIGH_DEAD', 'NEIGH_HH_FILLFAIL', 'TC_EGRESS', 'SECURITY_HOOK', 'QDISC_DROP', 'QDISC_OVERLIMIT',
  'QDISC_CONGESTED', 'CAKE_FLOOD', 'FQ_BAND_LIMIT', 'FQ_HORIZON_LIMIT', 'FQ_FLOW_LIMIT',
  'CPU_BACKLOG', 'XDP', 'TC_INGRESS', 'UNHANDLED_PROTO', 'SKB_CSUM', 'SKB_GSO_SEG',
  'SKB_UCOPY_FAULT', 'DEV_HDR', 'DEV_READY', 'FULL_RING', 'NOMEM', 'HDR_TRUNC', 'TAP_FILTER',
  'TAP_TXFILTER', 'ICMP_CSUM', 'INVALID_PROTO', 'IP_INADDRERRORS', 'IP_INNOROUTES',
  'IP_LOCAL_SOURCE', 'IP_INVALID_SOURCE', 'IP_LOCALNET', 'IP_INVALID_DEST', 'PKT_TOO_BIG',
  'DUP_FRAG', 'FRAG_REASM_TIMEOUT', 'FRAG_TOO_FAR', 'TCP_MINTTL', 'IPV6_BAD_EXTHDR',
  'IPV6_NDISC_FRAG', 'IPV6_NDISC_HOP_LIMIT', 'IPV6_NDISC_BAD_CODE', 'IPV6_NDISC_BAD_OPTIONS',
  'IPV6_NDISC_NS_OTHERHOST', 'QUEUE_PURGE', 'TC_COOKIE_ERROR', 'PACKET_SOCK_ERROR',
  'TC_CHAIN_NOTFOUND', 'TC_RECLASSIFY_LOOP', 'VXLAN_INVALID_HDR', 'VXLAN_VNI_NOT_FOUND',
  'MAC_INVALID_SOURCE', 'VXLAN_ENTRY_EXISTS', 'NO_TX_TARGET', 'IP_TUNNEL_ECN', 'TUNNEL_TXINFO',
  'LOCAL_MAC', 'ARP_PVLAN_DISABLE', 'MAC_IEEE_MAC_CONTROL', 'BRIDGE_INGRESS_STP_STATE',
  'CAN_RX_INVALID_FRAME', 'CANFD_RX_INVALID_FRAME', 'CANXL_RX_INVALID_FRAME', 'PFMEMALLOC',
  'DUALPI2_STEP_DROP', 'PSP_INPUT', 'PSP_OUTPUT', 'RECURSION_LIMIT', 'MAX',
];

/** The enum value of a drop reason name (`NOT_SPECIFIED` -> 2); -1 if unknown. */
export function skbDropReason(name: string): number {
  const i = SKB_DROP_REASONS.indexOf(name);
  return i < 0 ? -1 : i + 2;
}

const symbolic = SKB_DROP_REASONS.map((n, i) => `{ ${i + 2}, "${n}" }`).join(', ');

export const kfreeSkb = declareFromFormat(
  'skb',
  'kfree_skb',
  `
	field:void * skbaddr;	offset:8;	size:8;	signed:0;
	field:void * location;	offset:16;	size:8;	signed:0;
	field:void * rx_sk;	offset:24;	size:8;	signed:0;
	field:unsigned short protocol;	offset:32;	size:2;	signed:0;
	field:enum skb_drop_reason reason;	offset:36;	size:4;	signed:0;
`,
  `"skbaddr=%p rx_sk=%p protocol=%u location=%pS reason: %s", REC->skbaddr, REC->rx_sk, REC->protocol, REC->location, __print_symbolic(REC->reason, ${symbolic})`,
);
