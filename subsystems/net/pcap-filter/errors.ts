/**
 * Compile errors of filter expressions. The detail is the text tcpdump prints after
 * `tcpdump: ` (libpcap's pcap_geterr): `can't parse filter expression: syntax error`,
 * `unknown host 'foo'`, `illegal port number 99999 > 65535`... so the command can print
 * it unchanged; `pos` is the byte offset in the expression where it was found, for
 * callers that want to point at it (libpcap does not say).
 */
import { KernelError } from '../../../kernel/errno.js';

export class FilterError extends KernelError {
  constructor(
    message: string,
    readonly pos: number,
  ) {
    super('EINVAL', message);
    this.name = 'FilterError';
  }
}

/** A parse failure: libpcap's yacc reports them all as `syntax error`. */
export class FilterSyntaxError extends FilterError {
  constructor(why: string, pos: number) {
    super(`can't parse filter expression: ${why}`, pos);
    this.name = 'FilterSyntaxError';
  }
}
