/**
 * debugfs at /sys/kernel/debug (mode 0700, root only, as Linux mounts it). It holds
 * `tracing` (the tracefs mounted at /sys/kernel/tracing, resolved at lookup so boot order
 * does not matter) and bpfkern's own control files under bpfkern/ — no ABI rules apply
 * there, as for any debugfs file:
 *
 *   bpfkern/programs/<id>/{info,xlated,jited}   every loaded program (bpftool's text)
 *   bpfkern/programs/<id>/info.json             bpf_prog_info as OBJ_GET_INFO_BY_FD fills it
 *   bpfkern/programs/<id>/pin                   write a bpffs path: BPF_OBJ_PIN
 *   bpfkern/maps/<id>/{info,dump}               every map
 *   bpfkern/maps/<id>/info.json                 bpf_map_info (+ ncpus, pins)
 *   bpfkern/maps/<id>/pin                       write a bpffs path: BPF_OBJ_PIN
 *   bpfkern/maps/<id>/ctl                       write one of
 *                                                 lookup KEYHEX
 *                                                 update KEYHEX VALUEHEX [any|noexist|exist|N]
 *                                                 delete KEYHEX
 *                                                 next [KEYHEX]        (BPF_MAP_GET_NEXT_KEY)
 *                                                 freeze
 *                                               and read the answer back (`value HEX`,
 *                                               `key HEX`, `ok`) on the same open file, or
 *                                               the last answer after a fresh open. The
 *                                               write fails with the bpf() errno.
 *   bpfkern/map_create                          write PATH TYPE KEY VALUE MAX [NAME [FLAGS]]:
 *                                               BPF_MAP_CREATE + pin at PATH; read `id N`
 *   bpfkern/prog_load                           write PATH TYPE INSNHEX [NAME|-] [license=LIC]
 *                                               [maps=ID,ID,...]: BPF_PROG_LOAD + pin at
 *                                               PATH; read `id N`. license is URI-encoded
 *                                               (default GPL). With maps=, an LD_IMM64 with
 *                                               src BPF_PSEUDO_MAP_FD/MAP_VALUE carries an
 *                                               index into that list in imm (the map ids);
 *                                               each is opened (MAP_GET_FD_BY_ID) for the
 *                                               load. This is how `bpftool prog load` loads
 *                                               an ELF object over a mount.
 *   bpfkern/dmesg                               the kernel log
 *   bpfkern/trace_filters/<sys>/<event>/        one per event with a compiled filter now:
 *       xlated                                  its eBPF as bpftool dump xlated prints it
 *       jited                                   the JIT's WebAssembly text, or `not jited
 *                                               (why)`: JITed or not as bpf_jit_enable was
 *                                               when the filter was written
 *       info                                    filter text, predicates, tag, sizes,
 *                                               helpers, the evaluator that runs it now
 *                                               (walker / interpreter / jit), run count
 *   bpfkern/tasks/<pid>/seccomp                 read: the task's filter chain, newest first,
 *                                               each as the user wrote it (Linux's saved
 *                                               original: `ld [0]` is 32, not the checker's
 *                                               33) in tcpdump -ddd form under a header
 *                                               `# filter N: LEN insns, flags 0xF (names)
 *                                               [, listener]`; write a classic program in
 *                                               any text form to install it on that task,
 *                                               or a whole readback to install that chain
 *                                               (oldest first, LOG flags kept)
 *   bpfkern/sockets/<id>/info                   owner, family/type, addresses, TCP state,
 *                                               filter, locked, rx/drop counters
 *   bpfkern/sockets/<id>/filter                 read: the filter (tcpdump -d listing, or
 *                                               the eBPF prog id); write: a classic program
 *                                               in any text form (SO_ATTACH_FILTER), or
 *                                               `prog ID` (SO_ATTACH_BPF), or `0`/`detach`/
 *                                               an empty write (SO_DETACH_FILTER); errno
 *                                               (EPERM when locked...) comes back to write(2)
 *
 * The map and pin operations run bpf() commands (GET_FD_BY_ID, the element commands,
 * OBJ_PIN) through the bpf() syscall layer with the writer's credentials, from a
 * transient file table, so every check and errno is the syscall's; this is how
 * `bpfkern bpftool --mount DIR` works over a mounted kernel.
 *
 * Installing goes through seccomp's own setModeFilter, so the target task needs
 * no_new_privs or CAP_SYS_ADMIN exactly as if it had called seccomp(2) itself.
 */
import type { Kernel } from '../kernel/kernel.js';
import { FdTable, Task, ThreadGroup } from '../kernel/task.js';
import {
  BPF_CMD, BPF_ANY, BPF_EXIST, BPF_MAP_TYPE, BPF_NOEXIST, BPF_PROG_TYPE, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE, decodeInsns,
  isLdImm64,
} from '../kernel/bpf/isa.js';
import { bpfCommand, type BpfAttr } from '../kernel/bpf/syscall.js';
import { perKernel } from '../kernel/kernel.js';
import { allMaps, allProgs, mapById, progById } from '../kernel/bpf/objects.js';
import { KernelError } from '../kernel/errno.js';
import { installFiltersText, seccompFiltersText } from '../subsystems/seccomp/index.js';
import { socketControl } from '../subsystems/net/index.js';
import {
  listFilteredEvents, readFilterInfo, readFilterJited, readFilterXlated,
} from '../subsystems/tracing/index.js';
import { mapDump, mapInfoJson, mapShow, progInfoJson, progJited, progShow, progXlated } from './bpfshow.js';
import { attrFile, dynamicDir, hostContext, lookup, mountAt, seqFile, staticDir, type FsContext, type Inode, type OpenFile } from './vfs.js';

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
  /** A read-only `info` file next to the control file, when the owner has one. */
  info?: (name: string) => string;
}

export interface DebugfsState {
  /** bpfkern/sockets/<id>/filter: set when the net subsystem offers a socket control. */
  sockets: DebugfsControl | null;
  tasks: DebugfsControl | null;
}

/** tasks/<pid>/seccomp through the seccomp subsystem's public API (its text form, both ways). */
function seccompControl(kernel: Kernel): DebugfsControl {
  const task = (name: string): Task => kernel.tasks.get(Number(name));
  return {
    list: () => [...kernel.tasks.byPid.values()].filter((t) => t.state !== 'dead').map((t) => String(t.pid)),
    show: (name) => seccompFiltersText(task(name)),
    store: (name, text) => installFiltersText(kernel, task(name), text),
  };
}

/** sockets/<id>/{info,filter} through the net subsystem's socketControl. */
function socketsControl(kernel: Kernel): DebugfsControl {
  const ctl = socketControl(kernel);
  const id = (name: string): number => {
    const n = Number(name);
    if (!Number.isInteger(n)) throw new KernelError('ENOENT', `no socket ${name}`);
    return n;
  };
  return {
    list: () => ctl.list().map(String),
    show: (name) => ctl.filterText(id(name)),
    info: (name) => ctl.show(id(name)),
    store: (name, text) => {
      const t = text.trim();
      if (t === '' || t === '0' || t === 'detach') return ctl.detach(id(name));
      const m = /^prog\s+(\d+)$/.exec(t);
      if (m) return ctl.attachProgId(id(name), Number(m[1]));
      ctl.attachClassicText(id(name), text);
    },
  };
}

export const debugfsOf = perKernel((kernel: Kernel): DebugfsState => ({ sockets: socketsControl(kernel), tasks: seccompControl(kernel) }));

function idDir(list: () => string[], make: (name: string) => Inode | undefined): Inode {
  return dynamicDir({ list, make: (name) => make(name) }, 0o700);
}

function controlDir(kernel: Kernel, which: 'sockets' | 'tasks', file: string): Inode {
  const ctl = (): DebugfsControl | null => debugfsOf(kernel)[which];
  return idDir(
    () => ctl()?.list() ?? [],
    (name) => {
      // A socket that is gone (or never was) has no directory.
      if (which === 'sockets' && !(ctl()?.list().includes(name) ?? false)) return undefined;
      const d = staticDir(0o700);
      const info = ctl()?.info;
      if (info) d.add('info', seqFile(() => info(name), { mode: 0o400 }));
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

// ---------------------------------------------------------------------------------------
// bpf() through files: maps/<id>/ctl, {programs,maps}/<id>/pin

/**
 * Runs `fn` as a caller of bpf() holding an fd for object `id` (BPF_*_GET_FD_BY_ID): the
 * writer's task when a mini-OS task writes, else a transient task with the writer's
 * credentials and a file table of its own, the way a kernel thread would issue the
 * commands. The fd is closed after.
 */
function callerTask(ctx: FsContext): Task {
  if (ctx.task) return ctx.task;
  const task = new Task(0, 0, 'debugfs', { ...ctx.cred }, new FdTable(), null);
  task.group = new ThreadGroup(task);
  return task;
}

function withObjFd<T>(kernel: Kernel, ctx: FsContext, kind: 'prog' | 'map', id: number, fn: (task: Task, fd: number) => T): T {
  const task = callerTask(ctx);
  const fd =
    kind === 'prog'
      ? bpfCommand(kernel, task, BPF_CMD.BPF_PROG_GET_FD_BY_ID, { prog_id: id })
      : bpfCommand(kernel, task, BPF_CMD.BPF_MAP_GET_FD_BY_ID, { map_id: id });
  try {
    return fn(task, fd);
  } finally {
    task.fds.close(fd);
  }
}

function hexArg(text: string | undefined, what: string): Uint8Array {
  const t = (text ?? '').replace(/^0x/i, '');
  if (t.length % 2 !== 0 || /[^0-9a-fA-F]/.test(t)) throw new KernelError('EINVAL', `bad ${what} hex '${text ?? ''}'`);
  return Uint8Array.from(Buffer.from(t, 'hex'));
}

const hexOut = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const UPDATE_FLAGS: Readonly<Record<string, number>> = { any: BPF_ANY, noexist: BPF_NOEXIST, exist: BPF_EXIST };

/** One ctl command against map `id`; returns the answer text. */
function mapCtl(kernel: Kernel, ctx: FsContext, id: number, text: string): string {
  const [cmd = '', ...args] = text.trim().split(/\s+/);
  return withObjFd(kernel, ctx, 'map', id, (task, fd) => {
    const map = mapById(kernel, id);
    if (!map) throw new KernelError('ENOENT', `map ${id} is gone`);
    const ks = map.attr.keySize;
    const vs = map.impl.syscallValueSize;
    const C = BPF_CMD;
    switch (cmd) {
      case 'lookup': {
        const value = new Uint8Array(vs);
        bpfCommand(kernel, task, C.BPF_MAP_LOOKUP_ELEM, { map_fd: fd, key: hexArg(args[0], 'key'), value });
        return `value ${hexOut(value)}\n`;
      }
      case 'update': {
        const f = args[2] ?? 'any';
        const flags = UPDATE_FLAGS[f] ?? (/^\d+$/.test(f) ? Number(f) : NaN);
        if (Number.isNaN(flags)) throw new KernelError('EINVAL', `bad update flags '${f}'`);
        bpfCommand(kernel, task, C.BPF_MAP_UPDATE_ELEM, {
          map_fd: fd, key: hexArg(args[0], 'key'), value: hexArg(args[1], 'value'), flags,
        });
        return 'ok\n';
      }
      case 'delete':
        bpfCommand(kernel, task, C.BPF_MAP_DELETE_ELEM, { map_fd: fd, key: hexArg(args[0], 'key') });
        return 'ok\n';
      case 'next': {
        const next = new Uint8Array(ks);
        bpfCommand(kernel, task, C.BPF_MAP_GET_NEXT_KEY, {
          map_fd: fd, key: args[0] === undefined ? null : hexArg(args[0], 'key'), next_key: next,
        });
        return `key ${hexOut(next)}\n`;
      }
      case 'freeze':
        bpfCommand(kernel, task, C.BPF_MAP_FREEZE, { map_fd: fd });
        return 'ok\n';
      default:
        throw new KernelError('EINVAL', `unknown map command '${cmd}' (lookup, update, delete, next, freeze)`);
    }
  });
}

const CTL_HELP = '# write: lookup KEYHEX | update KEYHEX VALUEHEX [any|noexist|exist] | delete KEYHEX | next [KEYHEX] | freeze\n';

function mapCtlFile(kernel: Kernel, id: number): Inode {
  let last: string | null = null;
  return attrFile({
    mode: 0o600,
    show: (f: OpenFile) => (f.private as { answer?: string } | undefined)?.answer ?? last ?? CTL_HELP,
    store: (text, f) => {
      const answer = mapCtl(kernel, f.ctx, id, text);
      last = answer;
      f.private = { answer };
    },
  });
}

function pinFile(kernel: Kernel, kind: 'prog' | 'map', id: number): Inode {
  return attrFile({
    mode: 0o200,
    store: (text, f) => {
      const path = text.trim();
      withObjFd(kernel, f.ctx, kind, id, (task, fd) => {
        bpfCommand(kernel, task, BPF_CMD.BPF_OBJ_PIN, { bpf_fd: fd, pathname: path });
      });
    },
  });
}

/**
 * map_create / prog_load: make an object with BPF_MAP_CREATE / BPF_PROG_LOAD and pin it
 * (an object nobody holds would be freed at once); the answer is `id N`.
 *   map_create: PATH TYPE KEY_SIZE VALUE_SIZE MAX_ENTRIES [NAME [FLAGS]]
 *   prog_load:  PATH TYPE INSNHEX [NAME|-] [license=LIC] [maps=ID,...]   (see the file comment)
 * TYPE is the libbpf name (hash, array, socket_filter...) or the number.
 */
function createFile(kernel: Kernel, make: (task: Task, args: string[]) => number): Inode {
  let last: string | null = null;
  return attrFile({
    mode: 0o600,
    show: (f: OpenFile) => (f.private as { answer?: string } | undefined)?.answer ?? last ?? '',
    store: (text, f) => {
      const [path, ...args] = text.trim().split(/\s+/);
      if (!path) throw new KernelError('EINVAL', 'expected a bpffs path first');
      const task = callerTask(f.ctx);
      const fd = make(task, args);
      try {
        bpfCommand(kernel, task, BPF_CMD.BPF_OBJ_PIN, { bpf_fd: fd, pathname: path });
        const attr: BpfAttr = { bpf_fd: fd, info: null };
        bpfCommand(kernel, task, BPF_CMD.BPF_OBJ_GET_INFO_BY_FD, attr);
        const answer = `id ${attr.info?.id ?? 0}\n`;
        last = answer;
        f.private = { answer };
      } finally {
        task.fds.close(fd);
      }
    },
  });
}

function typeNumber(table: Record<string, number>, prefix: string, text: string | undefined): number {
  if (text !== undefined && /^\d+$/.test(text)) return Number(text);
  const v = table[`${prefix}${(text ?? '').toUpperCase()}`];
  if (v === undefined) throw new KernelError('EINVAL', `unknown type '${text ?? ''}'`);
  return v;
}

function num(text: string | undefined, what: string): number {
  if (text === undefined || !/^\d+$/.test(text)) throw new KernelError('EINVAL', `bad ${what} '${text ?? ''}'`);
  return Number(text);
}

/**
 * prog_load's arguments: TYPE INSNHEX [NAME|-] then key=value options (license=, maps=).
 * Map references by index into maps= are turned into fds of `task` for the load and the
 * fds closed after (the program holds its own references).
 */
function progLoadCtl(kernel: Kernel, task: Task, [type, hex, ...rest]: string[]): number {
  let name: string | undefined;
  let license = 'GPL';
  let mapIds: number[] | null = null;
  for (const [n, w] of rest.entries()) {
    const eq = w.indexOf('=');
    if (eq < 0) {
      if (n !== 0) throw new KernelError('EINVAL', `unexpected '${w}' (options are license=LIC, maps=ID,...)`);
      if (w !== '-') name = w;
    } else if (w.startsWith('license=')) {
      try {
        license = decodeURIComponent(w.slice(eq + 1));
      } catch {
        throw new KernelError('EINVAL', `bad license '${w.slice(eq + 1)}' (URI-encoded)`);
      }
    } else if (w.startsWith('maps=')) {
      mapIds = w.slice(eq + 1).split(',').filter((x) => x !== '').map((x) => num(x, 'map id'));
    } else {
      throw new KernelError('EINVAL', `unknown option '${w.slice(0, eq)}' (license, maps)`);
    }
  }
  const raw = hexArg(hex, 'instructions');
  if (raw.length % 8 !== 0) throw new KernelError('EINVAL', `instructions are ${raw.length} bytes, not a multiple of 8`);
  const insns = decodeInsns(raw);
  const fds: number[] = [];
  try {
    for (const id of mapIds ?? []) fds.push(bpfCommand(kernel, task, BPF_CMD.BPF_MAP_GET_FD_BY_ID, { map_id: id }));
    if (mapIds !== null) {
      for (let n = 0; n + 1 < insns.length; n++) {
        const i = insns[n]!;
        if (!isLdImm64(i)) continue;
        if (i.src === BPF_PSEUDO_MAP_FD || i.src === BPF_PSEUDO_MAP_VALUE) {
          const fd = fds[i.imm];
          if (fd === undefined) throw new KernelError('EINVAL', `instruction ${n} refers to map index ${i.imm}; maps= has ${fds.length}`);
          i.imm = fd;
        }
        n++;
      }
    }
    return bpfCommand(kernel, task, BPF_CMD.BPF_PROG_LOAD, {
      prog_type: typeNumber(BPF_PROG_TYPE, 'BPF_PROG_TYPE_', type),
      insns,
      license,
      ...(name !== undefined ? { prog_name: name } : {}),
    });
  } finally {
    for (const fd of fds) task.fds.close(fd);
  }
}

// ---------------------------------------------------------------------------------------
// trace_filters/<system>/<event>/{xlated,jited,info}: the compiled event filters

/**
 * One directory per event that has a compiled filter now (an event without one, or whose
 * filter was rejected, has none): the eBPF as bpftool prints it, the JIT's WebAssembly
 * text (or `not jited`), and which evaluator runs it.
 */
function traceFiltersDir(kernel: Kernel): Inode {
  const filtered = (): [string, string][] => listFilteredEvents(kernel);
  return idDir(
    () => [...new Set(filtered().map(([sys]) => sys))],
    (sys) => {
      if (!filtered().some(([s]) => s === sys)) return undefined;
      return idDir(
        () => filtered().filter(([s]) => s === sys).map(([, ev]) => ev),
        (ev) => {
          if (!filtered().some(([s, e]) => s === sys && e === ev)) return undefined;
          const d = staticDir(0o700);
          d.add('xlated', seqFile(() => readFilterXlated(kernel, sys, ev), { mode: 0o400 }));
          d.add('jited', seqFile(() => readFilterJited(kernel, sys, ev), { mode: 0o400 }));
          d.add('info', seqFile(() => readFilterInfo(kernel, sys, ev), { mode: 0o400 }));
          return d;
        },
      );
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
        d.add('info.json', seqFile(() => progInfoJson(kernel, prog()), { mode: 0o400 }));
        d.add('pin', pinFile(kernel, 'prog', Number(name)));
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
        d.add('info.json', seqFile(() => mapInfoJson(kernel, map()), { mode: 0o400 }));
        d.add('ctl', mapCtlFile(kernel, Number(name)));
        d.add('pin', pinFile(kernel, 'map', Number(name)));
        return d;
      },
    ),
  );
  b.add(
    'map_create',
    createFile(kernel, (task, [type, ks, vs, max, name, flags]) =>
      bpfCommand(kernel, task, BPF_CMD.BPF_MAP_CREATE, {
        map_type: typeNumber(BPF_MAP_TYPE, 'BPF_MAP_TYPE_', type),
        key_size: num(ks, 'key size'),
        value_size: num(vs, 'value size'),
        max_entries: num(max, 'max entries'),
        map_flags: flags === undefined ? 0 : num(flags, 'flags'),
        ...(name !== undefined && name !== '-' ? { map_name: name } : {}),
      }),
    ),
  );
  b.add('prog_load', createFile(kernel, (task, args) => progLoadCtl(kernel, task, args)));
  b.add('dmesg', seqFile(() => kernel.log.lines.map((l) => l + '\n').join(''), { mode: 0o400 }));
  b.add('trace_filters', traceFiltersDir(kernel));
  b.add('sockets', controlDir(kernel, 'sockets', 'filter'));
  b.add('tasks', controlDir(kernel, 'tasks', 'seccomp'));
  mountAt(kernel, DEBUGFS_ROOT, root);
}
