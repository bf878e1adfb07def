// sched:sched_switch fires when a CPU starts running a different task (the syscall entry
// is where a mini-OS task runs kernel code), with the outgoing task's state as Linux
// prints it and the idle task swapper/N before the first task.
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../index.js';
import { syscall } from '../../kernel/syscall.js';

const T = '/sys/kernel/tracing';

function switches(trace: string): string[] {
  return trace
    .split('\n')
    .filter((l) => l.includes('sched_switch: '))
    .map((l) => l.slice(l.indexOf('sched_switch: ') + 'sched_switch: '.length));
}

describe('sched_switch', () => {
  it('fires when the CPU changes task, not on every syscall', () => {
    const k = bootKernel({ seed: 1, ncpus: 1 });
    k.fs.writeFileSync(`${T}/events/sched/sched_switch/enable`, '1');
    const a = k.tasks.spawn({ comm: 'bash' });
    const b = k.tasks.spawn({ comm: 'sleep' });
    syscall(k, a, 'getpid');
    syscall(k, a, 'getpid');
    syscall(k, b, 'getpid');
    b.state = 'sleeping'; // b blocks: the CPU goes back to bash
    syscall(k, a, 'getpid');
    expect(switches(k.fs.readFileSync(`${T}/trace`, 'utf8'))).toEqual([
      `prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=bash next_pid=${a.pid} next_prio=120`,
      `prev_comm=bash prev_pid=${a.pid} prev_prio=120 prev_state=R ==> next_comm=sleep next_pid=${b.pid} next_prio=120`,
      `prev_comm=sleep prev_pid=${b.pid} prev_prio=120 prev_state=S ==> next_comm=bash next_pid=${a.pid} next_prio=120`,
    ]);
  });

  it('keeps one current task per CPU', () => {
    const k = bootKernel({ seed: 1, ncpus: 2 });
    k.fs.writeFileSync(`${T}/events/sched/sched_switch/enable`, '1');
    const a = k.tasks.spawn({ comm: 'nginx' });
    const b = k.tasks.spawn({ comm: 'sshd' });
    a.cpu = 0;
    b.cpu = 1;
    for (let i = 0; i < 3; i++) {
      syscall(k, a, 'getpid');
      syscall(k, b, 'getpid');
    }
    expect(switches(k.fs.readFileSync(`${T}/trace`, 'utf8'))).toEqual([
      `prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=nginx next_pid=${a.pid} next_prio=120`,
      `prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=sshd next_pid=${b.pid} next_prio=120`,
    ]);
  });
});
