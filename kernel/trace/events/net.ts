/**
 * net: events (include/trace/events/net.h), copied from Linux 6.18's format files. `name`
 * is the device name as a __data_loc string.
 */
import { declareFromFormat } from '../event-def.js';

export const netDevXmit = declareFromFormat(
  'net',
  'net_dev_xmit',
  `
	field:void * skbaddr;	offset:8;	size:8;	signed:0;
	field:unsigned int len;	offset:16;	size:4;	signed:0;
	field:int rc;	offset:20;	size:4;	signed:1;
	field:__data_loc char[] name;	offset:24;	size:4;	signed:0;
`,
  '"dev=%s skbaddr=%p len=%u rc=%d", __get_str(name), REC->skbaddr, REC->len, REC->rc',
);

export const netifReceiveSkb = declareFromFormat(
  'net',
  'netif_receive_skb',
  `
	field:void * skbaddr;	offset:8;	size:8;	signed:0;
	field:unsigned int len;	offset:16;	size:4;	signed:0;
	field:__data_loc char[] name;	offset:20;	size:4;	signed:0;
`,
  '"dev=%s skbaddr=%p len=%u", __get_str(name), REC->skbaddr, REC->len',
);
