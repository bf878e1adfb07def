/**
 * procfs: /proc/<pid>/{status,comm} for every task, /proc/self, and the BPF and seccomp
 * sysctls under /proc/sys. Formats, modes and errno follow Linux 6.x
 * (fs/proc/array.c, kernel/sysctl.c, net/core/sysctl_net_core.c, kernel/bpf/syscall.c).
 *
 * Sysctl writes parse like proc_dointvec_minmax(): one integer, optional surrounding
 * whitespace; anything else or a value out of range is EINVAL and the old value stays.
 * Writing needs CAP_SYS_ADMIN (EPERM), after the mode bits (0644 root: EACCES for others).
 */
import { KernelError } from '../kernel/errno.js';
import type { Kernel, Sysctl } from '../kernel/kernel.js';
import { CAP, capable, type Task } from '../kernel/task.js';
import { actionsAvailText, actionsLoggedText, seccompStatusLines, writeActionsLogged } from '../subsystems/seccomp/index.js';
import { attrFile, dynamicDir, mountAt, seqFile, staticDir, type FsContext, type Inode, type OpenFile } from './vfs.js';

/** proc_dointvec's parse: an optional sign, digits, then only whitespace. */
export function parseProcInt(text: string): number {
  const m = /^\s*([-+]?\d+)(\s*)$/.exec(text);
  if (!m) throw new KernelError('EINVAL', `invalid integer: ${JSON.stringify(text.slice(0, 32))}`);
  const v = Number(m[1]);
  if (!Number.isSafeInteger(v)) throw new KernelError('EINVAL', `integer out of range: ${m[1]}`);
  return v;
}

function requireSysAdmin(f: OpenFile): void {
  if (!capable(f.ctx.cred, CAP.CAP_SYS_ADMIN)) throw new KernelError('EPERM', 'writing this sysctl needs CAP_SYS_ADMIN');
}

/** An integer sysctl in [min, max] backed by kernel.sysctl[key]. */
function intSysctl<K extends keyof Sysctl>(
  kernel: Kernel,
  name: string,
  key: K,
  min: number,
  max: number,
  check?: (old: Sysctl[K], value: Sysctl[K]) => void,
): Inode {
  return attrFile({
    mode: 0o644,
    show: () => `${kernel.sysctl[key]}\n`,
    store: (text, f) => {
      requireSysAdmin(f);
      const v = parseProcInt(text);
      if (v < min || v > max) throw new KernelError('EINVAL', `${name}: ${v} out of range [${min}, ${max}]`);
      const value = v as Sysctl[K];
      check?.(kernel.sysctl[key], value);
      kernel.sysctl[key] = value;
    },
  });
}

/* ------------------------------------------------------------------ /proc/<pid> */

const STATE_TEXT: Record<Task['state'], string> = {
  running: 'R (running)',
  sleeping: 'S (sleeping)',
  stopped: 'T (stopped)',
  zombie: 'Z (zombie)',
  dead: 'X (dead)',
};

function capHex(v: bigint): string {
  return v.toString(16).padStart(16, '0');
}

/** fs/proc/array.c proc_pid_status(), the lines bpfkern can fill truthfully. */
export function procStatus(kernel: Kernel, t: Task): string {
  const c = t.cred;
  const threads = t.group ? t.group.threads.size : 1;
  const ppid = t.parent ? t.parent.tgid : 0;
  const lines = [
    `Name:\t${t.comm}`,
    `Umask:\t0022`,
    `State:\t${STATE_TEXT[t.state]}`,
    `Tgid:\t${t.tgid}`,
    `Ngid:\t0`,
    `Pid:\t${t.pid}`,
    `PPid:\t${ppid}`,
    `TracerPid:\t0`,
    `Uid:\t${c.uid}\t${c.euid}\t${c.euid}\t${c.euid}`,
    `Gid:\t${c.gid}\t${c.egid}\t${c.egid}\t${c.egid}`,
    `FDSize:\t${Math.max(64, [...t.fds.entries()].length)}`,
    `Groups:\t`,
    `Threads:\t${threads}`,
    `CapInh:\t${capHex(0n)}`,
    `CapPrm:\t${capHex(c.caps)}`,
    `CapEff:\t${capHex(c.caps)}`,
    `CapBnd:\t${capHex((1n << 41n) - 1n)}`,
    `CapAmb:\t${capHex(0n)}`,
    // NoNewPrivs, Seccomp, Seccomp_filters: the seccomp subsystem owns their values.
    ...seccompStatusLines(t),
    `Cpus_allowed_list:\t0-${kernel.ncpus - 1}`,
  ];
  return lines.join('\n') + '\n';
}

function pidDir(kernel: Kernel, pid: number): Inode {
  const task = (): Task => {
    const t = kernel.tasks.byPid.get(pid);
    if (!t || t.state === 'dead') throw new KernelError('ESRCH', `no such process ${pid}`);
    return t;
  };
  const t0 = task();
  const d = staticDir(0o555, { uid: t0.cred.euid, gid: t0.cred.egid });
  d.add('status', seqFile(() => procStatus(kernel, task()), { uid: t0.cred.euid, gid: t0.cred.egid }));
  d.add(
    'comm',
    attrFile({
      mode: 0o644,
      uid: t0.cred.euid,
      gid: t0.cred.egid,
      show: () => `${task().comm}\n`,
      store: (text, f) => {
        const t = task();
        // comm_write(): only the thread group itself may rename (the host acts as root).
        if (f.ctx.task && f.ctx.task.tgid !== t.tgid) throw new KernelError('EINVAL', 'comm of another process');
        t.comm = text.replace(/\n$/, '').slice(0, 15);
      },
    }),
  );
  return d;
}

function pidList(kernel: Kernel): string[] {
  const out: string[] = [];
  for (const t of kernel.tasks.byPid.values()) {
    if (t.state !== 'dead' && t.pid === t.tgid) out.push(String(t.pid));
  }
  return out;
}

/* ------------------------------------------------------------------ seccomp sysctls */

function seccompSysctlFiles(kernel: Kernel, d: ReturnType<typeof staticDir>): void {
  d.add('actions_avail', seqFile(() => actionsAvailText()));
  d.add(
    'actions_logged',
    attrFile({
      mode: 0o644,
      show: () => actionsLoggedText(kernel),
      store: (text, f) => {
        requireSysAdmin(f);
        writeActionsLogged(kernel, text);
      },
    }),
  );
}

/* ------------------------------------------------------------------ the tree */

export function registerProcfs(kernel: Kernel): void {
  const sys = staticDir(0o555);
  const net = sys.add('net', staticDir(0o555));
  const core = net.add('core', staticDir(0o555));
  // net/core/sysctl_net_core.c: bpf_jit_enable 0..2 (1 only with BPF_JIT_ALWAYS_ON), harden 0..2.
  core.add('bpf_jit_enable', intSysctl(kernel, 'bpf_jit_enable', 'bpfJitEnable', 0, 2));
  core.add('bpf_jit_harden', intSysctl(kernel, 'bpf_jit_harden', 'bpfJitHarden', 0, 2));
  const k = sys.add('kernel', staticDir(0o555));
  // kernel/bpf/syscall.c bpf_unpriv_handler(): 1 is a one-way lock.
  k.add(
    'unprivileged_bpf_disabled',
    intSysctl(kernel, 'unprivileged_bpf_disabled', 'unprivilegedBpfDisabled', 0, 2, (old, v) => {
      if (old === 1 && v !== 1) throw new KernelError('EPERM', 'unprivileged_bpf_disabled is locked at 1 until reboot');
    }),
  );
  seccompSysctlFiles(kernel, k.add('seccomp', staticDir(0o555)));

  const pidOf = (name: string, ctx: FsContext): number | undefined => {
    if (name === 'self') return ctx.task ? ctx.task.tgid : undefined;
    if (name === 'thread-self') return ctx.task ? ctx.task.pid : undefined;
    return /^[1-9]\d*$/.test(name) ? Number(name) : undefined;
  };
  const fixed = new Map<string, Inode>([
    ['sys', sys],
    ['version', seqFile(() => `Linux version 6.8.0-bpfkern (bpfkern@node) (node ${process.version}) #1 SMP PREEMPT_DYNAMIC\n`)],
  ]);
  const proc = dynamicDir({
    list: (ctx) => [...fixed.keys(), ...(ctx.task ? ['self', 'thread-self'] : []), ...pidList(kernel)],
    make: (name, ctx) => {
      const f = fixed.get(name);
      if (f) return f;
      const pid = pidOf(name, ctx);
      if (pid === undefined) return undefined;
      const t = kernel.tasks.byPid.get(pid);
      return t && t.state !== 'dead' ? pidDir(kernel, pid) : undefined;
    },
  });
  // Threads are reachable by pid though /proc lists only thread group leaders, as Linux.
  const list = proc.dir.list;
  const baseLookup = proc.dir.lookup;
  proc.dir.lookup = (name, ctx) => {
    if (name === 'self' || name === 'thread-self') {
      const pid = pidOf(name, ctx);
      return pid === undefined ? undefined : pidDir(kernel, pid);
    }
    const pid = pidOf(name, ctx);
    if (pid !== undefined && !list(ctx).includes(name)) {
      const t = kernel.tasks.byPid.get(pid);
      return t && t.state !== 'dead' ? pidDir(kernel, pid) : undefined;
    }
    return baseLookup(name, ctx);
  };
  mountAt(kernel, '/proc', proc);
}
