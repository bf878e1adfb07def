/**
 * Attaching BPF programs to events the way perf does: perf_event_open(2) with
 * attr.type = PERF_TYPE_TRACEPOINT and attr.config = the event id (from the event's `id`
 * file), then ioctl(PERF_EVENT_IOC_SET_BPF, prog_fd). Closing the perf fd detaches the
 * program. PERF_EVENT_IOC_ENABLE/DISABLE switch the attachment on and off.
 */
import { KernelError } from '../../kernel/errno.js';
import type { Kernel } from '../../kernel/kernel.js';
import { BPF_PROG_TYPE } from '../../kernel/bpf/isa.js';
import type { PerfLinkTarget } from '../../kernel/bpf/link.js';
import { bpfProgGetFromFd, bpfProgPut } from '../../kernel/bpf/objects.js';
import type { BpfProg } from '../../kernel/bpf/types.js';
import { defineSyscall } from '../../kernel/syscall.js';
import type { FileObject, Task } from '../../kernel/task.js';
import { capable, CAP } from '../../kernel/task.js';
import { tracingOf, type TraceEventFile } from './trace.js';

export const PERF_TYPE_TRACEPOINT = 2;
export const PERF_EVENT_IOC_ENABLE = 0x2400;
export const PERF_EVENT_IOC_DISABLE = 0x2401;
export const PERF_EVENT_IOC_SET_BPF = 0x40042408;

/** The part of struct perf_event_attr we read. */
export interface PerfEventAttr {
  type: number;
  config: number | bigint;
}

export class PerfEventFile implements FileObject, PerfLinkTarget {
  readonly kind = 'perf_event';
  prog: BpfProg | null = null;
  enabled = true;
  private refs = 1;
  constructor(
    private readonly kernel: Kernel,
    readonly event: TraceEventFile,
  ) {}
  retain(): void {
    this.refs++;
  }
  release(): void {
    if (--this.refs > 0) return;
    if (this.prog && this.enabled) tracingOf(this.kernel).detachProg(this.event, this.prog);
    else if (this.prog) bpfProgPut(this.kernel, this.prog);
    this.prog = null;
  }
  /** perf_event_attach_bpf_prog: takes the reference passed in, or leaves it with the caller on error. */
  private setProg(prog: BpfProg): void {
    if (this.prog) throw new KernelError('EEXIST', 'a program is already attached');
    if (prog.type.id !== BPF_PROG_TYPE.BPF_PROG_TYPE_TRACEPOINT) {
      throw new KernelError('EINVAL', `a tracepoint event takes tracepoint programs, not ${prog.type.name}`);
    }
    // attachProg refuses (EEXIST) a program already on the event through another perf fd.
    if (this.enabled) tracingOf(this.kernel).attachProg(this.event, prog);
    this.prog = prog;
  }

  /** BPF_LINK_CREATE (bpf_perf_link_attach): see PerfLinkTarget. */
  attachBpfLink(prog: BpfProg, _cookie: bigint): () => void {
    this.setProg(prog);
    this.retain(); // the link's perf_file reference
    let done = false;
    return () => {
      if (done) return;
      done = true;
      // perf_event_free_bpf_prog, then fput(perf_file).
      if (this.prog === prog) {
        if (this.enabled) tracingOf(this.kernel).detachProg(this.event, prog);
        else bpfProgPut(this.kernel, prog);
        this.prog = null;
      }
      this.release();
    };
  }

  ioctl(task: Task, request: number, arg: unknown): number {
    const state = tracingOf(this.kernel);
    switch (request) {
      case PERF_EVENT_IOC_SET_BPF: {
        if (this.prog) throw new KernelError('EEXIST', 'a program is already attached');
        if (this.prog) throw new KernelError('EEXIST', 'a program is already attached');
        const prog = bpfProgGetFromFd(task, Number(arg), BPF_PROG_TYPE.BPF_PROG_TYPE_TRACEPOINT);
        try {
          this.setProg(prog);
        } catch (e) {
          bpfProgPut(this.kernel, prog);
          throw e;
        }
        return 0;
      }
      case PERF_EVENT_IOC_ENABLE:
        if (!this.enabled && this.prog) state.attachProg(this.event, this.prog);
        this.enabled = true;
        return 0;
      case PERF_EVENT_IOC_DISABLE:
        if (this.enabled && this.prog) {
          this.prog.refcnt++; // detachProg drops the attachment's reference; the fd keeps one
          state.detachProg(this.event, this.prog);
        }
        this.enabled = false;
        return 0;
      default:
        throw new KernelError('ENOTTY', `perf ioctl 0x${request.toString(16)}`);
    }
  }
}

/** perf_event_open for tracepoint events; returns the fd. */
export function perfEventOpen(kernel: Kernel, task: Task, attr: PerfEventAttr): number {
  if (!capable(task.cred, CAP.CAP_PERFMON) && !capable(task.cred, CAP.CAP_SYS_ADMIN)) {
    throw new KernelError('EACCES', 'perf_event_open needs CAP_PERFMON');
  }
  if (attr.type !== PERF_TYPE_TRACEPOINT) throw new KernelError('ENOENT', `perf event type ${attr.type} not supported`);
  const id = Number(attr.config);
  const event = tracingOf(kernel).allFiles().find((f) => f.id === id);
  if (!event) throw new KernelError('ENOENT', `no tracepoint with id ${id}`);
  return task.fds.install(new PerfEventFile(kernel, event));
}

export function registerPerfEventOpen(kernel: Kernel): void {
  defineSyscall(kernel, 'perf_event_open', ({ task, args }) => {
    const attr = args[0];
    if (!attr || typeof attr !== 'object' || !('type' in attr) || !('config' in attr)) {
      throw new KernelError('EFAULT', 'perf_event_open needs an attr');
    }
    return perfEventOpen(kernel, task, attr as PerfEventAttr);
  });
}
