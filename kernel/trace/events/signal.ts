/**
 * signal: events (include/trace/events/signal.h). Fields, offsets and print fmt copied
 * from Linux 6.18's /sys/kernel/tracing/events/signal/<event>/format.
 * Fired by the signal code: signal_generate when a signal is sent (result: 0 delivered,
 * 1 ignored, 2 already pending, 3 overflow, 4 lose info), signal_deliver when a handler runs.
 */
import { declareFromFormat } from '../event-def.js';

export const signalGenerate = declareFromFormat(
  'signal',
  'signal_generate',
  `
	field:int sig;	offset:8;	size:4;	signed:1;
	field:int errno;	offset:12;	size:4;	signed:1;
	field:int code;	offset:16;	size:4;	signed:1;
	field:char comm[16];	offset:20;	size:16;	signed:0;
	field:pid_t pid;	offset:36;	size:4;	signed:1;
	field:int group;	offset:40;	size:4;	signed:1;
	field:int result;	offset:44;	size:4;	signed:1;
`,
  '"sig=%d errno=%d code=%d comm=%s pid=%d grp=%d res=%d", REC->sig, REC->errno, REC->code, REC->comm, REC->pid, REC->group, REC->result',
);

export const signalDeliver = declareFromFormat(
  'signal',
  'signal_deliver',
  `
	field:int sig;	offset:8;	size:4;	signed:1;
	field:int errno;	offset:12;	size:4;	signed:1;
	field:int code;	offset:16;	size:4;	signed:1;
	field:unsigned long sa_handler;	offset:24;	size:8;	signed:0;
	field:unsigned long sa_flags;	offset:32;	size:8;	signed:0;
`,
  '"sig=%d errno=%d code=%d sa_handler=%lx sa_flags=%lx", REC->sig, REC->errno, REC->code, REC->sa_handler, REC->sa_flags',
);
