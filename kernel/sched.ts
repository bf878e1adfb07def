/**
 * The scheduler's visible part: which task each CPU runs. Mini-OS tasks only run kernel
 * code when they enter a syscall, so the syscall entry tells the scheduler "task T runs
 * now on its CPU"; when that is not the task the CPU ran last, the CPU switched, and
 * sched:sched_switch fires with the outgoing task (or the idle task swapper/N, pid 0) and
 * its state, as __schedule() reports them.
 */
import { perKernel, type Kernel } from './kernel.js';
import type { Task } from './task.js';
import { tracepointOf } from './trace/tracepoint.js';

/** Linux's default nice-0 priority as the sched events print it. */
export const PRIO_DEFAULT = 120;

/** TASK_* state bits of prev_state (include/linux/sched.h); 0 is TASK_RUNNING ("R"). */
const TASK_INTERRUPTIBLE = 0x1;
const TASK_STOPPED = 0x4;
const EXIT_DEAD = 0x10;
const EXIT_ZOMBIE = 0x20;

function stateBits(task: Task): number {
  switch (task.state) {
    case 'running':
      return 0;
    case 'sleeping':
      return TASK_INTERRUPTIBLE;
    case 'stopped':
      return TASK_STOPPED;
    case 'zombie':
      return EXIT_ZOMBIE;
    case 'dead':
      return EXIT_DEAD;
  }
}

/** The task each CPU ran last (absent: the idle task). */
const onCpuOf = perKernel((kernel: Kernel): (Task | null)[] => new Array<Task | null>(kernel.ncpus).fill(null));

/** Called by the syscall entry: `task` runs now on its CPU. */
export function schedRun(kernel: Kernel, task: Task): void {
  const onCpu = onCpuOf(kernel);
  const cpu = task.cpu % kernel.ncpus;
  const prev = onCpu[cpu] ?? null;
  if (prev === task) return;
  onCpu[cpu] = task;
  kernel.currentCpu = cpu;
  const tp = tracepointOf(kernel, 'sched', 'sched_switch');
  if (tp.probes.length === 0) return;
  tp.fire(prev, {
    prev_comm: prev ? prev.comm : `swapper/${cpu}`,
    prev_pid: prev ? prev.pid : 0,
    prev_prio: PRIO_DEFAULT,
    prev_state: prev ? stateBits(prev) : 0,
    next_comm: task.comm,
    next_pid: task.pid,
    next_prio: PRIO_DEFAULT,
  });
}
