/**
 * Offsets of the struct __sk_buff fields (include/uapi/linux/bpf.h) that converted classic
 * programs read through their context register. The context of a classic socket filter
 * is the __sk_buff the net subsystem builds; __be16 fields (protocol, vlan_proto) hold the
 * network-order value in their low two bytes, as Linux exposes them.
 */
export const SKB_OFF = {
  len: 0,
  pkt_type: 4,
  mark: 8,
  queue_mapping: 12,
  protocol: 16,
  vlan_present: 20,
  vlan_tci: 24,
  vlan_proto: 28,
  ifindex: 40,
  hash: 68,
  /** sizeof(struct __sk_buff). */
  size: 192,
} as const;
