/**
 * Names the compiler knows without asking the host: IP protocol names (/etc/protocols),
 * EtherType names (libpcap's `ether proto` list) and service names (/etc/services, TCP
 * and UDP share numbers for the ones listed). libpcap asks the C library; bpfkern keeps
 * the common entries so that compiling never depends on the host's files.
 */
export const IP_PROTOS: Readonly<Record<string, number>> = {
  ip: 0, hopopt: 0, icmp: 1, igmp: 2, ggp: 3, ipencap: 4, st: 5, tcp: 6, egp: 8, igp: 9, igrp: 9, pup: 12,
  udp: 17, hmp: 20, 'xns-idp': 22, rdp: 27, 'iso-tp4': 29, dccp: 33, xtp: 36, ddp: 37, 'idpr-cmtp': 38,
  ipv6: 41, 'ipv6-route': 43, 'ipv6-frag': 44, idrp: 45, rsvp: 46, gre: 47, esp: 50, ah: 51, skip: 57,
  'ipv6-icmp': 58, icmp6: 58, 'ipv6-nonxt': 59, 'ipv6-opts': 60, rspf: 73, vmtp: 81, eigrp: 88, ospf: 89,
  'ax.25': 93, ipip: 94, etherip: 97, encap: 98, pim: 103, ipcomp: 108, vrrp: 112, l2tp: 115, isis: 124,
  sctp: 132, fc: 133, 'mobility-header': 135, udplite: 136, 'mpls-in-ip': 137, manet: 138, hip: 139,
  shim6: 140, wesp: 141, rohc: 142, carp: 112,
};

export const ETHER_PROTOS: Readonly<Record<string, number>> = {
  ip: 0x0800, ip6: 0x86dd, arp: 0x0806, rarp: 0x8035, atalk: 0x809b, aarp: 0x80f3, decnet: 0x6003,
  lat: 0x6004, sca: 0x6007, moprc: 0x6002, mopdl: 0x6001, loopback: 0x9000, vlan: 0x8100, mpls: 0x8847,
};

export const SERVICES: Readonly<Record<string, number>> = {
  tcpmux: 1, echo: 7, discard: 9, systat: 11, daytime: 13, netstat: 15, qotd: 17, chargen: 19,
  'ftp-data': 20, ftp: 21, ssh: 22, telnet: 23, smtp: 25, time: 37, whois: 43, tacacs: 49, domain: 53,
  gopher: 70, bootps: 67, bootpc: 68, tftp: 69, finger: 79, http: 80, www: 80, kerberos: 88, pop3: 110,
  sunrpc: 111, auth: 113, nntp: 119, ntp: 123, epmap: 135, 'netbios-ns': 137, 'netbios-dgm': 138,
  'netbios-ssn': 139, imap2: 143, imap: 143, snmp: 161, 'snmp-trap': 162, xdmcp: 177, bgp: 179, irc: 194,
  ldap: 389, https: 443, 'microsoft-ds': 445, kpasswd: 464, submissions: 465, syslog: 514, printer: 515,
  talk: 517, ntalk: 518, route: 520, uucp: 540, 'dhcpv6-client': 546, 'dhcpv6-server': 547, rtsp: 554,
  nntps: 563, submission: 587, ipp: 631, ldaps: 636, rsync: 873, 'ftps-data': 989, ftps: 990,
  telnets: 992, imaps: 993, pop3s: 995, socks: 1080, openvpn: 1194, 'ms-sql-s': 1433, l2tp: 1701,
  pptp: 1723, radius: 1812, 'radius-acct': 1813, nfs: 2049, mysql: 3306, 'ms-wbt-server': 3389,
  sip: 5060, 'sip-tls': 5061, postgresql: 5432, 'x11': 6000, 'http-alt': 8080,
};
