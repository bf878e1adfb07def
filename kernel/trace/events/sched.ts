/**
 * sched: events (include/trace/events/sched.h), copied from Linux 6.18's format files.
 * String fields of fork/exec/free are `__data_loc char[]`: a u32 (length << 16 | offset)
 * in the record pointing at the NUL-terminated string stored after the fixed part.
 */
import { declareFromFormat } from '../event-def.js';

export const schedProcessFork = declareFromFormat(
  'sched',
  'sched_process_fork',
  `
	field:__data_loc char[] parent_comm;	offset:8;	size:4;	signed:0;
	field:pid_t parent_pid;	offset:12;	size:4;	signed:1;
	field:__data_loc char[] child_comm;	offset:16;	size:4;	signed:0;
	field:pid_t child_pid;	offset:20;	size:4;	signed:1;
`,
  '"comm=%s pid=%d child_comm=%s child_pid=%d", __get_str(parent_comm), REC->parent_pid, __get_str(child_comm), REC->child_pid',
);

export const schedProcessExec = declareFromFormat(
  'sched',
  'sched_process_exec',
  `
	field:__data_loc char[] filename;	offset:8;	size:4;	signed:0;
	field:pid_t pid;	offset:12;	size:4;	signed:1;
	field:pid_t old_pid;	offset:16;	size:4;	signed:1;
`,
  '"filename=%s pid=%d old_pid=%d", __get_str(filename), REC->pid, REC->old_pid',
);

export const schedProcessExit = declareFromFormat(
  'sched',
  'sched_process_exit',
  `
	field:char comm[16];	offset:8;	size:16;	signed:0;
	field:pid_t pid;	offset:24;	size:4;	signed:1;
	field:int prio;	offset:28;	size:4;	signed:1;
	field:bool group_dead;	offset:32;	size:1;	signed:0;
`,
  '"comm=%s pid=%d prio=%d group_dead=%s", REC->comm, REC->pid, REC->prio, REC->group_dead ? "true" : "false"',
);

export const schedProcessFree = declareFromFormat(
  'sched',
  'sched_process_free',
  `
	field:__data_loc char[] comm;	offset:8;	size:4;	signed:0;
	field:pid_t pid;	offset:12;	size:4;	signed:1;
	field:int prio;	offset:16;	size:4;	signed:1;
`,
  '"comm=%s pid=%d prio=%d", __get_str(comm), REC->pid, REC->prio',
);

const TASK_STATES = '(0x00000000 | 0x00000001 | 0x00000002 | 0x00000004 | 0x00000008 | 0x00000010 | 0x00000020 | 0x00000040)';

export const schedSwitch = declareFromFormat(
  'sched',
  'sched_switch',
  `
	field:char prev_comm[16];	offset:8;	size:16;	signed:0;
	field:pid_t prev_pid;	offset:24;	size:4;	signed:1;
	field:int prev_prio;	offset:28;	size:4;	signed:1;
	field:long prev_state;	offset:32;	size:8;	signed:1;
	field:char next_comm[16];	offset:40;	size:16;	signed:0;
	field:pid_t next_pid;	offset:56;	size:4;	signed:1;
	field:int next_prio;	offset:60;	size:4;	signed:1;
`,
  `"prev_comm=%s prev_pid=%d prev_prio=%d prev_state=%s%s ==> next_comm=%s next_pid=%d next_prio=%d", REC->prev_comm, REC->prev_pid, REC->prev_prio, (REC->prev_state & ((((${TASK_STATES}) + 1) << 1) - 1)) ? __print_flags(REC->prev_state & ((((${TASK_STATES}) + 1) << 1) - 1), "|", { 0x00000001, "S" }, { 0x00000002, "D" }, { 0x00000004, "T" }, { 0x00000008, "t" }, { 0x00000010, "X" }, { 0x00000020, "Z" }, { 0x00000040, "P" }, { 0x00000080, "I" }) : "R", REC->prev_state & (((${TASK_STATES}) + 1) << 1) ? "+" : "", REC->next_comm, REC->next_pid, REC->next_prio`,
);

export const schedWakeup = declareFromFormat(
  'sched',
  'sched_wakeup',
  `
	field:char comm[16];	offset:8;	size:16;	signed:0;
	field:pid_t pid;	offset:24;	size:4;	signed:1;
	field:int prio;	offset:28;	size:4;	signed:1;
	field:int target_cpu;	offset:32;	size:4;	signed:1;
`,
  '"comm=%s pid=%d prio=%d target_cpu=%03d", REC->comm, REC->pid, REC->prio, REC->target_cpu',
);
