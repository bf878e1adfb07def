/**
 * BPF links (kernel/bpf/syscall.c bpf_link_*): an attachment of a program that lives as
 * long as its fd (and the fd's dups and fork copies). Closing the last one detaches the
 * program and drops the link's reference on it.
 *
 * kernel/bpf knows no subsystem, so the attach points are hooks on the target's file:
 * a perf event file (subsystems/tracing/perf.ts) implements PerfLinkTarget, and
 * BPF_LINK_CREATE with attach_type BPF_PERF_EVENT calls it (bpf_perf_link_attach).
 */
import { KernelError } from '../errno.js';
import { perKernel, type Kernel } from '../kernel.js';
import type { FileObject, Task } from '../task.js';
import { bpfProgPut } from './objects.js';
import type { BpfProg } from './types.js';

/** enum bpf_attach_type values link_create knows. */
export const BPF_PERF_EVENT = 41;

/** enum bpf_link_type. */
export const BPF_LINK_TYPE = {
  BPF_LINK_TYPE_UNSPEC: 0,
  BPF_LINK_TYPE_RAW_TRACEPOINT: 1,
  BPF_LINK_TYPE_TRACING: 2,
  BPF_LINK_TYPE_CGROUP: 3,
  BPF_LINK_TYPE_ITER: 4,
  BPF_LINK_TYPE_NETNS: 5,
  BPF_LINK_TYPE_XDP: 6,
  BPF_LINK_TYPE_PERF_EVENT: 7,
} as const;

/**
 * What a perf event file offers BPF_LINK_CREATE: perf_event_set_bpf_prog for a link.
 * `attachBpfLink` takes one program reference from the caller (the event's own, put on
 * detach), keeps its file alive while the link lives (the link's perf_file reference), and
 * returns the detach (perf_event_free_bpf_prog + fput). It throws EINVAL/EEXIST as Linux,
 * and then the reference stays the caller's.
 */
export interface PerfLinkTarget {
  readonly kind: 'perf_event';
  attachBpfLink(prog: BpfProg, cookie: bigint): () => void;
}

/** perf_event_get's test: the fd's file is a perf event that can take a link. */
export function isPerfLinkTarget(f: FileObject): f is FileObject & PerfLinkTarget {
  return f.kind === 'perf_event' && typeof (f as Partial<PerfLinkTarget>).attachBpfLink === 'function';
}

export interface BpfLink {
  readonly id: number;
  readonly type: number;
  readonly attachType: number;
  prog: BpfProg;
  /** Detaches the program from its target; null once released. */
  detach: (() => void) | null;
  refcnt: number;
}

interface Links {
  links: Map<number, BpfLink>;
  nextId: number;
}

const linksOf = perKernel((): Links => ({ links: new Map(), nextId: 1 }));

const INT_MAX = 0x7fffffff;

/** bpf_link_prime + settle: publishes the link with an id (link_idr); refcnt 1, owned by the caller. */
export function registerLink(kernel: Kernel, init: { type: number; attachType: number; prog: BpfProg; detach: () => void }): BpfLink {
  const o = linksOf(kernel);
  let id = o.nextId;
  while (o.links.has(id)) id = id >= INT_MAX ? 1 : id + 1;
  o.nextId = id >= INT_MAX ? 1 : id + 1;
  const link: BpfLink = { id, type: init.type, attachType: init.attachType, prog: init.prog, detach: init.detach, refcnt: 1 };
  o.links.set(id, link);
  return link;
}

/** bpf_link_put: the last reference detaches (release) and drops the program (dealloc). */
export function bpfLinkPut(kernel: Kernel, link: BpfLink): void {
  if (link.refcnt <= 0) throw new Error(`link ${link.id} put with refcnt ${link.refcnt}`);
  if (--link.refcnt > 0) return;
  linksOf(kernel).links.delete(link.id);
  const detach = link.detach;
  link.detach = null;
  detach?.();
  bpfProgPut(kernel, link.prog);
}

export function linkById(kernel: Kernel, id: number): BpfLink | undefined {
  return linksOf(kernel).links.get(id);
}

export function allLinks(kernel: Kernel): BpfLink[] {
  return [...linksOf(kernel).links.values()].sort((a, b) => a.id - b.id);
}

/** What a link fd refers to; closing the last fd detaches. */
export class BpfLinkFile implements FileObject {
  readonly kind = 'bpf-link';
  constructor(
    readonly kernel: Kernel,
    readonly link: BpfLink,
  ) {}
  release(): void {
    bpfLinkPut(this.kernel, this.link);
  }
  retain(): void {
    this.link.refcnt++;
  }
}

/** Installs an fd for the link, taking the caller's reference (put again if no fd is free). */
export function installLinkFd(kernel: Kernel, task: Task, link: BpfLink): number {
  try {
    return task.fds.install(new BpfLinkFile(kernel, link));
  } catch (e) {
    bpfLinkPut(kernel, link);
    throw e;
  }
}

/** The link behind an fd: EBADF for a closed fd, EINVAL for another kind of file. */
export function linkFromFd(task: Task, fd: number): BpfLink {
  const f = task.fds.get(fd);
  if (!(f instanceof BpfLinkFile)) throw new KernelError('EINVAL', `fd ${fd} is not a BPF link`);
  return f.link;
}
