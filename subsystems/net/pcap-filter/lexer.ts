/**
 * Tokens of the pcap-filter(7) language, as libpcap's scanner splits them: keywords,
 * numbers (decimal, 0x hex, 0 octal), dotted IPv4 (possibly partial: `10.1`), IPv6, MAC
 * addresses (`1:2:3:4:5:6`, `01-02-..`, `0102.0304.0506`), names (which may contain `-`
 * and `.`, so `tcp-syn` is one token and `a-b` is a name, exactly as in tcpdump),
 * backslash-escaped names (`\tcp` is the name "tcp", not the keyword) and punctuation.
 * Named constants (tcpflags, tcp-syn, icmp-echo...) become numbers here, as libpcap's
 * scanner does.
 */
import { isIPv6 } from 'node:net';
import { FilterSyntaxError } from './errors.js';

export type TokKind = 'num' | 'id' | 'ipv4' | 'ipv6' | 'mac' | 'kw' | 'op' | 'eof';

export interface Token {
  kind: TokKind;
  text: string;
  /** For 'num': the value (u32). */
  value: number;
  /** Byte offset in the expression. */
  pos: number;
  /** Written as `\name`: never a keyword. */
  escaped: boolean;
}

export const KEYWORDS: ReadonlySet<string> = new Set([
  'ether', 'link', 'fddi', 'tr', 'wlan', 'ip', 'ip6', 'arp', 'rarp', 'tcp', 'udp', 'icmp', 'icmp6', 'sctp', 'igmp',
  'src', 'dst', 'host', 'net', 'mask', 'port', 'portrange', 'proto', 'gateway',
  'and', 'or', 'not', 'less', 'greater', 'len', 'broadcast', 'multicast', 'vlan', 'mpls',
  'inbound', 'outbound',
]);

/** Constants the scanner turns into numbers (pcap-filter(7), "expr relop expr"). */
export const NAMED_CONSTANTS: Readonly<Record<string, number>> = {
  icmptype: 0, icmpcode: 1,
  'icmp-echoreply': 0, 'icmp-unreach': 3, 'icmp-sourcequench': 4, 'icmp-redirect': 5, 'icmp-echo': 8,
  'icmp-routeradvert': 9, 'icmp-routersolicit': 10, 'icmp-timxceed': 11, 'icmp-paramprob': 12,
  'icmp-tstamp': 13, 'icmp-tstampreply': 14, 'icmp-ireq': 15, 'icmp-ireqreply': 16,
  'icmp-maskreq': 17, 'icmp-maskreply': 18,
  icmp6type: 0, icmp6code: 1,
  'icmp6-destinationunreach': 1, 'icmp6-packettoobig': 2, 'icmp6-timeexceeded': 3, 'icmp6-parameterproblem': 4,
  'icmp6-echo': 128, 'icmp6-echoreply': 129, 'icmp6-multicastlistenerquery': 130,
  'icmp6-multicastlistenerreportv1': 131, 'icmp6-multicastlistenerdone': 132,
  'icmp6-routersolicit': 133, 'icmp6-routeradvert': 134, 'icmp6-neighborsolicit': 135,
  'icmp6-neighboradvert': 136, 'icmp6-redirect': 137,
  tcpflags: 13, 'tcp-fin': 0x01, 'tcp-syn': 0x02, 'tcp-rst': 0x04, 'tcp-push': 0x08, 'tcp-ack': 0x10,
  'tcp-urg': 0x20, 'tcp-ece': 0x40, 'tcp-cwr': 0x80,
};

const PUNCT = ['&&', '||', '<<', '>>', '>=', '<=', '==', '!=', '(', ')', '[', ']', ':', '!', '&', '|', '^', '+', '-', '*', '/', '%', '<', '>', '='];

const MAC_RES = [
  /^[0-9a-f]{1,2}:[0-9a-f]{1,2}(?::[0-9a-f]{1,2}){4}(?![0-9a-z:.])/i,
  /^[0-9a-f]{1,2}-[0-9a-f]{1,2}(?:-[0-9a-f]{1,2}){4}(?![0-9a-z:.\-])/i,
  /^[0-9a-f]{1,2}\.[0-9a-f]{1,2}(?:\.[0-9a-f]{1,2}){4}(?![0-9a-z:.])/i,
  /^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}(?![0-9a-z:.])/i,
];

/** Parses a number as libpcap's stoulen does: 0x hex, leading-0 octal, decimal; null if bad. */
export function parseNumber(text: string): number | null {
  let v: number;
  if (/^0x[0-9a-f]+$/i.test(text)) v = parseInt(text.slice(2), 16);
  else if (/^0[0-7]*$/.test(text)) v = parseInt(text, 8);
  else if (/^[1-9][0-9]*$/.test(text)) v = parseInt(text, 10);
  else return null;
  return v > 0xffffffff ? null : v;
}

export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const push = (kind: TokKind, text: string, pos: number, value = 0, escaped = false): void => {
    out.push({ kind, text, value, pos, escaped });
  };
  // The loop advances i by at least one character per token, so it ends.
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const rest = src.slice(i);
    // Addresses first: they begin like numbers.
    const mac = MAC_RES.map((re) => re.exec(rest)).find((m) => m !== null);
    if (mac) {
      push('mac', mac[0], i);
      i += mac[0].length;
      continue;
    }
    const v6 = /^[0-9a-f:.]*:[0-9a-f:.]*(?![0-9a-z_])/i.exec(rest);
    if (v6 && (v6[0].includes('::') || (v6[0].match(/:/g) ?? []).length >= 7) && isIPv6(v6[0])) {
      push('ipv6', v6[0], i);
      i += v6[0].length;
      continue;
    }
    const v4 = /^[0-9]+(?:\.[0-9]+){1,3}(?![0-9a-z_.])/i.exec(rest);
    if (v4) {
      push('ipv4', v4[0], i);
      i += v4[0].length;
      continue;
    }
    const num = /^(?:0x[0-9a-f]+|[0-9]+)(?![0-9a-z_.])/i.exec(rest);
    if (num) {
      const v = parseNumber(num[0]);
      if (v === null) throw new FilterSyntaxError(`number ${num[0]} is out of range`, i);
      push('num', num[0], i, v);
      i += num[0].length;
      continue;
    }
    const name = /^\\?[A-Za-z0-9_][A-Za-z0-9_.\-]*/.exec(rest);
    if (name) {
      let text = name[0];
      while (text.endsWith('-')) text = text.slice(0, -1); // a trailing '-' is the operator
      const escaped = text.startsWith('\\');
      const bare = escaped ? text.slice(1) : text;
      if (bare === '') throw new FilterSyntaxError('syntax error', i);
      if (!escaped && KEYWORDS.has(bare)) push('kw', bare, i);
      else if (!escaped && NAMED_CONSTANTS[bare] !== undefined) push('num', bare, i, NAMED_CONSTANTS[bare]);
      else push('id', bare, i, 0, escaped);
      i += text.length;
      continue;
    }
    const p = PUNCT.find((q) => rest.startsWith(q));
    if (!p) throw new FilterSyntaxError('syntax error', i);
    push('op', p, i);
    i += p.length;
  }
  push('eof', '', src.length);
  return out;
}
