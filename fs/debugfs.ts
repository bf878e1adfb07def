/**
 * debugfs at /sys/kernel/debug (mode 0700, root only, as Linux mounts it). It holds
 * `tracing` (the tracefs mounted at /sys/kernel/tracing, resolved at lookup so boot order
 * does not matter) and bpfkern's own control files under bpfkern/ — no ABI rules apply
 * there, as for any debugfs file:
 *
 *   bpfkern/programs/<id>/{info,xlated,jited}   every loaded program (bpftool's text)
 *   bpfkern/maps/<id>/{info,dump}               every map
 *   bpfkern/dmesg                               the kernel log
 *   bpfkern/tasks/<pid>/seccomp                 read: the task's filter chain (newest first,
 *                                               tcpdump -ddd); write a classic program in
 *                                               any text form to install it on that task
 *   bpfkern/sockets/<id>/filter                 the same for a socket's filter, once the
 *                                               net subsystem exposes a socket control
 *
 * Installing goes through seccomp's own setModeFilter, so the target task needs
 * no_new_privs or CAP_SYS_ADMIN exactly as if it had called seccomp(2) itself.
 */
import type { Kernel } from '../kernel/kernel.js';
import type { Task } from '../kernel/task.js';
import { perKernel } from '../kernel/kernel.js';
import { allMaps, allProgs, mapById, progById } from '../kernel/bpf/objects.js';
import { KernelError } from '../kernel/errno.js';
import { parseClassic, formatDdd } from '../kernel/bpf/classic/text.js';
import { seccompOf, setModeFilter } from '../subsystems/seccomp/index.js';
import { mapDump, mapShow, progJited, progShow, progXlated } from './bpfshow.js';
import { attrFile, dynamicDir, hostContext, lookup, mountAt, seqFile, staticDir, type Inode } from './vfs.js';

export const DEBUGFS_ROOT = '/sys/kernel/debug';

/**
 * A writable control file per object: read shows what is attached, write attaches the
 * program text (classic as `tcpdump -ddd` text, or eBPF in hex/asm — the owner parses).
 * An empty write (or "detach") detaches.
 */
export interface DebugfsControl {
  /** Directory names (socket ids, pids). */
  list: () => string[];
  show: (name: string) => string;
  store: (name: string, text: string) => void;
}

export interface DebugfsState {
  /** bpfkern/sockets/<id>/filter: set when the net subsystem offers a socket control. */
  sockets: DebugfsControl | null;
  tasks: DebugfsControl | null;
}

/** tasks/<pid>/seccomp through the seccomp subsystem's public API. */
function seccompControl(kernel: Kernel): DebugfsControl {
  const task = (name: string): Task => kernel.tasks.get(Number(name));
  return {
    list: () => [...kernel.tasks.byPid.values()].filter((t) => t.state !== 'dead').map((t) => String(t.pid)),
    show: (name) => {
      const st = seccompOf(task(name));
      const out: string[] = [];
      let i = 0;
      for (let f = st.filter; f; f = f.prev) out.push(`# filter ${i++}${f.log ? ' (log)' : ''}\n${formatDdd(f.classic)}`);
      return out.length > 0 ? out.join('') : `# no filter (seccomp mode ${st.mode})\n`;
    },
    store: (name, text) => {
      const filter = parseClassic(text);
      setModeFilter(kernel, task(name), 0, { len: filter.length, filter }, () => {
        throw new KernelError('EINVAL', 'no listener from debugfs');
      });
    },
  };
}

export const debugfsOf = perKernel((kernel: Kernel): DebugfsState => ({ sockets: null, tasks: seccompControl(kernel) }));

function idDir(list: () => string[], make: (name: string) => Inode | undefined): Inode {
  return dynamicDir({ list, make: (name) => make(name) }, 0o700);
}

function controlDir(kernel: Kernel, which: 'sockets' | 'tasks', file: string): Inode {
  const ctl = (): DebugfsControl | null => debugfsOf(kernel)[which];
  return idDir(
    () => ctl()?.list() ?? [],
    (name) => {
      const d = staticDir(0o700);
      d.add(
        file,
        attrFile({
          mode: 0o600,
          show: () => {
            const c = ctl();
            if (!c) throw new KernelError('ENODEV', `${which} control is not available`);
            return c.show(name);
          },
          store: (text) => {
            const c = ctl();
            if (!c) throw new KernelError('ENODEV', `${which} control is not available`);
            c.store(name, text);
          },
          buffered: false,
        }),
      );
      return d;
    },
  );
}

export function registerDebugfs(kernel: Kernel): void {
  const root = staticDir(0o700);
  // tracefs lives at /sys/kernel/tracing; debugfs shows it again as tracing/.
  const baseLookup = root.dir.lookup;
  const baseList = root.dir.list;
  const tracefs = (): Inode | undefined => {
    try {
      return lookup(hostContext(kernel), '/sys/kernel/tracing').inode;
    } catch {
      return undefined;
    }
  };
  root.dir.lookup = (name, ctx) => (name === 'tracing' ? tracefs() : baseLookup(name, ctx));
  root.dir.list = (ctx) => [...baseList(ctx), ...(tracefs() ? ['tracing'] : [])];

  const b = root.add('bpfkern', staticDir(0o700));
  b.add(
    'programs',
    idDir(
      () => allProgs(kernel).map((p) => String(p.id)),
      (name) => {
        const prog = (): NonNullable<ReturnType<typeof progById>> => {
          const p = progById(kernel, Number(name));
          if (!p) throw new KernelError('ENOENT', `program ${name} is gone`);
          return p;
        };
        const d = staticDir(0o700);
        d.add('info', seqFile(() => progShow(kernel, prog()), { mode: 0o400 }));
        d.add('xlated', seqFile(() => progXlated(kernel, prog()), { mode: 0o400 }));
        d.add('jited', seqFile(() => progJited(prog()), { mode: 0o400 }));
        return d;
      },
    ),
  );
  b.add(
    'maps',
    idDir(
      () => allMaps(kernel).map((m) => String(m.id)),
      (name) => {
        const map = (): NonNullable<ReturnType<typeof mapById>> => {
          const m = mapById(kernel, Number(name));
          if (!m) throw new KernelError('ENOENT', `map ${name} is gone`);
          return m;
        };
        const d = staticDir(0o700);
        d.add('info', seqFile(() => mapShow(kernel, map()), { mode: 0o400 }));
        d.add('dump', seqFile(() => mapDump(kernel, map()), { mode: 0o400 }));
        return d;
      },
    ),
  );
  b.add('dmesg', seqFile(() => kernel.log.lines.map((l) => l + '\n').join(''), { mode: 0o400 }));
  b.add('sockets', controlDir(kernel, 'sockets', 'filter'));
  b.add('tasks', controlDir(kernel, 'tasks', 'seccomp'));
  mountAt(kernel, DEBUGFS_ROOT, root);
}
