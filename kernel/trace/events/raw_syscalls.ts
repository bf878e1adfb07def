/**
 * raw_syscalls: events (include/trace/events/syscalls.h), fired by the syscall entry for
 * every syscall: sys_enter with the number and six argument registers, sys_exit with the
 * return value. Copied from Linux 6.18's format files.
 */
import { declareFromFormat } from '../event-def.js';

export const rawSysEnter = declareFromFormat(
  'raw_syscalls',
  'sys_enter',
  `
	field:long id;	offset:8;	size:8;	signed:1;
	field:unsigned long args[6];	offset:16;	size:48;	signed:0;
`,
  '"NR %ld (%lx, %lx, %lx, %lx, %lx, %lx)", REC->id, REC->args[0], REC->args[1], REC->args[2], REC->args[3], REC->args[4], REC->args[5]',
);

export const rawSysExit = declareFromFormat(
  'raw_syscalls',
  'sys_exit',
  `
	field:long id;	offset:8;	size:8;	signed:1;
	field:long ret;	offset:16;	size:8;	signed:1;
`,
  '"NR %ld = %ld", REC->id, REC->ret',
);
