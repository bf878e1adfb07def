/**
 * struct __sk_buff as BPF programs see it (include/uapi/linux/bpf.h, Linux 6.x, 192 bytes),
 * plus bpfkern's hidden 64-bit pointers right after it (what __sk_buff.data, data_end and
 * data_meta load; see CtxField.ptrAt). One layout for everyone who builds or reads an skb
 * context: the classic converter, the net subsystem, test_run and pcap filtering.
 * __be16 fields (protocol, vlan_proto) hold network-order bytes in their low half.
 */
import type { CtxField } from './types.js';

/** Offsets of struct __sk_buff's fields (Linux 6.x UAPI). */
export const SKB = {
  len: 0,
  pkt_type: 4,
  mark: 8,
  queue_mapping: 12,
  protocol: 16,
  vlan_present: 20,
  vlan_tci: 24,
  vlan_proto: 28,
  priority: 32,
  ingress_ifindex: 36,
  ifindex: 40,
  tc_index: 44,
  cb: 48, // u32 cb[5]
  hash: 68,
  tc_classid: 72,
  data: 76,
  data_end: 80,
  napi_id: 84,
  family: 88,
  remote_ip4: 92,
  local_ip4: 96,
  remote_ip6: 100, // u32[4]
  local_ip6: 116, // u32[4]
  remote_port: 132,
  local_port: 136,
  data_meta: 140,
  flow_keys: 144, // pointer, 8 bytes
  tstamp: 152, // u64
  wire_len: 160,
  gso_segs: 164,
  sk: 168, // pointer, 8 bytes
  gso_size: 176,
  tstamp_type: 180, // u8 + 3 bytes padding
  hwtstamp: 184, // u64
} as const;

export const SK_BUFF_SIZE = 192;
/** Hidden 64-bit pointers after the UAPI struct. */
export const SKB_PTR = { data: 192, data_end: 200, data_meta: 208 } as const;

/** Every __sk_buff field with its size, for program types' ctxFields. */
export const SKB_FIELDS: readonly CtxField[] = [
  { name: 'len', offset: SKB.len, size: 4 },
  { name: 'pkt_type', offset: SKB.pkt_type, size: 4 },
  { name: 'mark', offset: SKB.mark, size: 4 },
  { name: 'queue_mapping', offset: SKB.queue_mapping, size: 4 },
  { name: 'protocol', offset: SKB.protocol, size: 4 },
  { name: 'vlan_present', offset: SKB.vlan_present, size: 4 },
  { name: 'vlan_tci', offset: SKB.vlan_tci, size: 4 },
  { name: 'vlan_proto', offset: SKB.vlan_proto, size: 4 },
  { name: 'priority', offset: SKB.priority, size: 4 },
  { name: 'ingress_ifindex', offset: SKB.ingress_ifindex, size: 4 },
  { name: 'ifindex', offset: SKB.ifindex, size: 4 },
  { name: 'tc_index', offset: SKB.tc_index, size: 4 },
  ...[0, 1, 2, 3, 4].map((i) => ({ name: `cb[${i}]`, offset: SKB.cb + 4 * i, size: 4 })),
  { name: 'hash', offset: SKB.hash, size: 4 },
  { name: 'tc_classid', offset: SKB.tc_classid, size: 4 },
  { name: 'data', offset: SKB.data, size: 4, ptrAt: SKB_PTR.data },
  { name: 'data_end', offset: SKB.data_end, size: 4, ptrAt: SKB_PTR.data_end },
  { name: 'napi_id', offset: SKB.napi_id, size: 4 },
  { name: 'family', offset: SKB.family, size: 4 },
  { name: 'remote_ip4', offset: SKB.remote_ip4, size: 4 },
  { name: 'local_ip4', offset: SKB.local_ip4, size: 4 },
  ...[0, 1, 2, 3].map((i) => ({ name: `remote_ip6[${i}]`, offset: SKB.remote_ip6 + 4 * i, size: 4 })),
  ...[0, 1, 2, 3].map((i) => ({ name: `local_ip6[${i}]`, offset: SKB.local_ip6 + 4 * i, size: 4 })),
  { name: 'remote_port', offset: SKB.remote_port, size: 4 },
  { name: 'local_port', offset: SKB.local_port, size: 4 },
  { name: 'data_meta', offset: SKB.data_meta, size: 4, ptrAt: SKB_PTR.data_meta },
  { name: 'tstamp', offset: SKB.tstamp, size: 8 },
  { name: 'wire_len', offset: SKB.wire_len, size: 4 },
  { name: 'gso_segs', offset: SKB.gso_segs, size: 4 },
  { name: 'gso_size', offset: SKB.gso_size, size: 4 },
  { name: 'tstamp_type', offset: SKB.tstamp_type, size: 1 },
  { name: 'hwtstamp', offset: SKB.hwtstamp, size: 8 },
];

/** Bytes of the context region: the UAPI struct and the hidden pointers. */
export const SKB_CTX_SIZE = 216;
