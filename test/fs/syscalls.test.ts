/**
 * The path-level file syscalls (fs/syscalls.ts) as mini-OS tasks use them through the
 * libc wrappers (userspace/libc/file.ts): open's flags and errno, the task's credentials,
 * pseudo files (a tracefs filter written with open/write/close, `trace` read back,
 * trace_pipe's blocking and O_NONBLOCK reads), seccomp seeing openat, stat, getdents64.
 */
import { describe, expect, it } from 'vitest';
import {
  AT_FDCWD, DT_DIR, DT_REG, O_APPEND, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NONBLOCK, O_RDONLY, O_RDWR, O_TRUNC,
  O_WRONLY, PR_SET_NO_NEW_PRIVS, SECCOMP_SET_MODE_FILTER, SEEK_END, SEEK_SET, SIG, SyscallError, access, bootKernel, close,
  errnoName, fstat, kill, lseek, mkdir, open, openat, parseClassic, prctl, read, readFile, readdir, rename, rmdir,
  seccomp, sigaction, spawn, stat, umask, unlink, userCred, write, writeFile, type Proc,
} from '../../index.js';
import { syscall } from '../../kernel/syscall.js';
import { S_IFDIR, S_IFREG } from '../../fs/vfs.js';

const TRACING = '/sys/kernel/tracing';
const EVENT = `${TRACING}/events/signal/signal_generate`;
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Runs `main` as a process and returns what it returned; a task crash fails the test. */
async function run<T>(main: (p: Proc) => Promise<T>, opts: { uid?: number; kernel?: ReturnType<typeof bootKernel> } = {}): Promise<T> {
  const kernel = opts.kernel ?? bootKernel({ seed: 7 });
  let out!: T;
  const h = spawn(kernel, { comm: 'prog', ...(opts.uid !== undefined ? { cred: userCred(opts.uid) } : {}) }, async (p) => {
    out = await main(p);
  });
  const status = await h.exited;
  if (h.error) throw h.error;
  expect(status).toBe(0);
  return out;
}

/** The errno name a wrapper failed with. */
async function errnoOf(pr: Promise<unknown>): Promise<string> {
  try {
    await pr;
  } catch (e) {
    if (e instanceof SyscallError) return errnoName(e.errno) ?? String(e.errno);
    throw e;
  }
  return 'no error';
}

describe('open(2) and ordinary files', () => {
  it('creates, writes, seeks, reads and stats a file in /tmp', async () => {
    await run(async (p) => {
      const fd = await open(p, '/tmp/a.txt', O_RDWR | O_CREAT | O_EXCL, 0o644);
      expect(fd).toBe(0); // the lowest free fd: the process has none open
      expect(await write(p, fd, 'hello, world\n')).toBe(13);
      expect(await lseek(p, fd, 7, SEEK_SET)).toBe(7);
      const buf = new Uint8Array(64);
      const n = await read(p, fd, buf);
      expect(text(buf.subarray(0, n))).toBe('world\n');
      expect(await read(p, fd, buf)).toBe(0); // end of file
      expect(await lseek(p, fd, 0, SEEK_END)).toBe(13);
      const st = await fstat(p, fd);
      expect(st.st_size).toBe(13);
      expect(st.st_mode).toBe(S_IFREG | 0o644);
      expect(st.st_uid).toBe(0);
      await close(p, fd);
      expect(await readFile(p, '/tmp/a.txt', 'utf8')).toBe('hello, world\n');
      expect((await stat(p, '/tmp')).st_mode & S_IFDIR).toBe(S_IFDIR);
    });
  });

  it('O_CREAT|O_EXCL on an existing file is EEXIST; O_CREAT alone opens it', async () => {
    await run(async (p) => {
      await writeFile(p, '/tmp/x', 'data');
      expect(await errnoOf(open(p, '/tmp/x', O_WRONLY | O_CREAT | O_EXCL, 0o600))).toBe('EEXIST');
      const fd = await open(p, '/tmp/x', O_RDONLY | O_CREAT);
      await close(p, fd);
    });
  });

  it('gives Linux errno for the usual mistakes', async () => {
    await run(async (p) => {
      expect(await errnoOf(open(p, '/tmp/missing'))).toBe('ENOENT');
      expect(await errnoOf(open(p, '/tmp/no/such/dir', O_WRONLY | O_CREAT))).toBe('ENOENT');
      expect(await errnoOf(open(p, '/tmp', O_WRONLY))).toBe('EISDIR');
      await writeFile(p, '/tmp/f', 'x');
      expect(await errnoOf(open(p, '/tmp/f', O_RDONLY | O_DIRECTORY))).toBe('ENOTDIR');
      expect(await errnoOf(open(p, '/tmp/f/inside'))).toBe('ENOTDIR');
      expect(await errnoOf(open(p, '/tmp/d', O_RDONLY | O_DIRECTORY | O_CREAT))).toBe('EINVAL');
      expect(await errnoOf(open(p, ''))).toBe('ENOENT');
      // A file created in a pseudo filesystem's directory: no ->create.
      expect(await errnoOf(open(p, `${TRACING}/new_file`, O_WRONLY | O_CREAT))).toBe('EACCES');
      // Reading a write-only fd, writing a read-only one: EBADF.
      const w = await open(p, '/tmp/f', O_WRONLY);
      expect(await errnoOf(read(p, w, new Uint8Array(4)))).toBe('EBADF');
      const r = await open(p, '/tmp/f', O_RDONLY);
      expect(await errnoOf(write(p, r, 'y'))).toBe('EBADF');
      // read(2) on a directory fd is EISDIR.
      const d = await open(p, '/tmp', O_RDONLY | O_DIRECTORY);
      expect(await errnoOf(read(p, d, new Uint8Array(4)))).toBe('EISDIR');
      for (const fd of [w, r, d]) await close(p, fd);
      expect(await errnoOf(close(p, d))).toBe('EBADF');
    });
  });

  it('O_TRUNC empties the file; O_APPEND writes at the end', async () => {
    await run(async (p) => {
      await writeFile(p, '/tmp/log', 'one\n');
      const a = await open(p, '/tmp/log', O_WRONLY | O_APPEND);
      expect(await write(p, a, 'two\n')).toBe(4);
      expect(await lseek(p, a, 0, 1)).toBe(8); // SEEK_CUR: the position followed the append
      await close(p, a);
      expect(await readFile(p, '/tmp/log', 'utf8')).toBe('one\ntwo\n');
      await close(p, await open(p, '/tmp/log', O_WRONLY | O_TRUNC));
      expect(await readFile(p, '/tmp/log', 'utf8')).toBe('');
    });
  });

  it('honours the task credentials and the umask', async () => {
    const kernel = bootKernel({ seed: 7 });
    kernel.fs.writeFileSync('/etc/secret', 'root only', { mode: 0o600 });
    await run(
      async (p) => {
        expect(await errnoOf(open(p, '/etc/secret'))).toBe('EACCES');
        expect(await errnoOf(open(p, '/etc/new', O_WRONLY | O_CREAT))).toBe('EACCES'); // /etc is 0755 root
        expect(await errnoOf(open(p, '/root/x'))).toBe('EACCES'); // no search permission on /root
        expect(await errnoOf(access(p, '/etc/secret', 4))).toBe('EACCES');
        expect(await access(p, '/etc', 5)).toBe(0);
        expect(await umask(p, 0o077)).toBe(0o022);
        const fd = await open(p, '/tmp/mine', O_WRONLY | O_CREAT, 0o666);
        const st = await fstat(p, fd);
        expect(st.st_mode & 0o777).toBe(0o600);
        expect([st.st_uid, st.st_gid]).toEqual([1000, 1000]);
        await close(p, fd);
      },
      { uid: 1000, kernel },
    );
    expect(kernel.fs.statSync('/tmp/mine').uid).toBe(1000);
  });

  it('mkdir, readdir (getdents64), rename, unlink, rmdir', async () => {
    await run(async (p) => {
      await mkdir(p, '/tmp/dir', 0o755);
      expect(await errnoOf(mkdir(p, '/tmp/dir'))).toBe('EEXIST');
      await writeFile(p, '/tmp/dir/a', '1');
      await writeFile(p, '/tmp/dir/b', '2');
      await rename(p, '/tmp/dir/b', '/tmp/dir/c');
      const ents = await readdir(p, '/tmp/dir');
      expect(ents.map((e) => [e.name, e.type])).toEqual([['.', DT_DIR], ['..', DT_DIR], ['a', DT_REG], ['c', DT_REG]]);
      expect(ents[2]!.ino).toBe((await stat(p, '/tmp/dir/a')).st_ino);
      expect(await errnoOf(rmdir(p, '/tmp/dir'))).toBe('ENOTEMPTY');
      expect(await errnoOf(unlink(p, '/tmp/dir'))).toBe('EISDIR');
      await unlink(p, '/tmp/dir/a');
      await unlink(p, '/tmp/dir/c');
      await rmdir(p, '/tmp/dir');
      expect(await errnoOf(stat(p, '/tmp/dir'))).toBe('ENOENT');
    });
  });

  it('openat resolves a relative path against a directory fd, or / with AT_FDCWD', async () => {
    await run(async (p) => {
      await writeFile(p, '/tmp/rel', 'rel');
      const dir = await open(p, '/tmp', O_RDONLY | O_DIRECTORY);
      const fd = await openat(p, dir, 'rel');
      const buf = new Uint8Array(8);
      expect(text(buf.subarray(0, await read(p, fd, buf)))).toBe('rel');
      const fd2 = await openat(p, AT_FDCWD, 'tmp/rel');
      expect(await read(p, fd2, buf)).toBe(3);
      expect(await errnoOf(openat(p, fd, 'x'))).toBe('ENOTDIR');
      for (const f of [dir, fd, fd2]) await close(p, f);
    });
  });

  it('O_CLOEXEC fds are closed by execve, others survive', async () => {
    await run(async (p) => {
      const keep = await open(p, '/proc/self/status');
      const gone = await open(p, '/proc/self/status', O_RDONLY | O_CLOEXEC);
      expect(syscall(p.kernel, p.task, 'execve', ['/bin/true', null, null])).toBe(0);
      expect(p.task.fds.has(keep)).toBe(true);
      expect(p.task.fds.has(gone)).toBe(false);
    });
  });
});

describe('pseudo files through open/read/write', () => {
  it('a task writes an event filter with open/write/close and reads `trace` back', async () => {
    const trace = await run(async (p) => {
      // A bad filter: the write itself fails with EINVAL, as `echo` would see, and the
      // filter file shows the parse error.
      const bad = await open(p, `${EVENT}/filter`, O_WRONLY);
      expect(await errnoOf(write(p, bad, 'sig ==\n'))).toBe('EINVAL');
      await close(p, bad);
      expect(await readFile(p, `${EVENT}/filter`, 'utf8')).toContain('parse_error');
      const fd = await open(p, `${EVENT}/filter`, O_WRONLY | O_TRUNC);
      expect(await write(p, fd, 'sig == 10\n')).toBe(10);
      await close(p, fd);
      expect(await readFile(p, `${EVENT}/filter`, 'utf8')).toBe('sig == 10\n');
      await writeFile(p, `${EVENT}/enable`, '1\n');
      await sigaction(p, SIG.SIGUSR1, () => undefined);
      await sigaction(p, SIG.SIGUSR2, () => undefined);
      await kill(p, p.task.pid, SIG.SIGUSR1);
      await kill(p, p.task.pid, SIG.SIGUSR2);
      return readFile(p, `${TRACING}/trace`, 'utf8');
    });
    const lines = trace.split('\n').filter((l) => l.includes('signal_generate:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('sig=10 ');
  });

  it('a non-root task gets EACCES on tracefs control files', async () => {
    await run(
      async (p) => {
        expect(await errnoOf(open(p, `${EVENT}/filter`, O_WRONLY))).toBe('EACCES');
        expect(await errnoOf(open(p, `${TRACING}/tracing_on`, O_RDWR))).toBe('EACCES');
        expect(await errnoOf(writeFile(p, `${EVENT}/enable`, '1\n'))).toBe('EACCES');
      },
      { uid: 1000 },
    );
  });

  it('a trace_pipe read blocks until an event arrives', async () => {
    const kernel = bootKernel({ seed: 7 });
    kernel.fs.writeFileSync(`${EVENT}/enable`, '1\n');
    let opened!: () => void;
    const ready = new Promise<void>((r) => (opened = r));
    const got = run(
      async (p) => {
        const fd = await open(p, `${TRACING}/trace_pipe`);
        opened();
        const buf = new Uint8Array(4096);
        const n = await read(p, fd, buf); // blocks: the syscall returned a Promise
        await close(p, fd);
        return text(buf.subarray(0, n));
      },
      { kernel },
    );
    await ready;
    for (let i = 0; i < 5; i++) await Promise.resolve();
    let settled = false;
    void got.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(settled).toBe(false);
    const sender = spawn(kernel, { comm: 'sender' }, async (p) => {
      await sigaction(p, SIG.SIGUSR2, () => undefined);
      await kill(p, p.task.pid, SIG.SIGUSR2);
    });
    await sender.exited;
    const line = await got;
    expect(line).toContain('signal_generate: sig=12 ');
    expect(line).toContain('sender-');
  });

  it('a trace_pipe read with O_NONBLOCK and nothing ready is EAGAIN', async () => {
    await run(async (p) => {
      const fd = await open(p, `${TRACING}/trace_pipe`, O_RDONLY | O_NONBLOCK);
      expect(await errnoOf(read(p, fd, new Uint8Array(64)))).toBe('EAGAIN');
      expect(await errnoOf(lseek(p, fd, 0, SEEK_SET))).toBe('ESPIPE');
      await close(p, fd);
    });
  });

  it('a blocked trace_pipe read returns 0 when the fd is closed by another thread', async () => {
    const kernel = bootKernel({ seed: 7 });
    const h = spawn(kernel, { comm: 'reader' }, async (p) => {
      const fd = await open(p, `${TRACING}/trace_pipe`);
      const pending = read(p, fd, new Uint8Array(64));
      await close(p, fd);
      return (await pending) === 0 ? 0 : 1;
    });
    expect(await h.exited).toBe(0);
  });

  it('procfs through the syscalls: /proc/self is the calling task', async () => {
    const status = await run(async (p) => readFile(p, '/proc/self/status', 'utf8'));
    expect(status).toMatch(/^Name:\tprog$/m);
  });
});

describe('seccomp sees the file syscalls', () => {
  it('a filter returning ERRNO for openat makes open() fail with that errno', async () => {
    // ld [0]; jeq #257 (openat) → ERRNO|ENOSYS(38); else ALLOW
    const filter = parseClassic(`
      ld [0]
      jeq #257, deny
      ret #0x7fff0000
      deny: ret #0x50026
    `);
    await run(
      async (p) => {
        await writeFile(p, '/tmp/before', 'ok'); // allowed before the filter
        await prctl(p, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        await seccomp(p, SECCOMP_SET_MODE_FILTER, 0, { len: filter.length, filter });
        expect(await errnoOf(open(p, '/tmp/before'))).toBe('ENOSYS');
        // The legacy open(2) (x86_64 nr 2) is another number: the filter lets it through.
        const fd = syscall(p.kernel, p.task, 'open', ['/tmp/before', O_RDONLY, 0]);
        expect(fd).toBeGreaterThanOrEqual(0);
        await close(p, fd as number);
      },
      { uid: 1000 },
    );
  });

  it('syscalls:sys_enter_openat records the flags and mode', async () => {
    const kernel = bootKernel({ seed: 7 });
    kernel.fs.writeFileSync(`${TRACING}/events/syscalls/sys_enter_openat/enable`, '1\n');
    await run(async (p) => {
      await close(p, await open(p, '/tmp/t', O_WRONLY | O_CREAT, 0o640));
    }, { kernel });
    const trace = kernel.fs.readFileSync(`${TRACING}/trace`, 'utf8');
    const line = trace.split('\n').find((l) => l.includes('sys_enter_openat:'));
    expect(line).toContain('dfd: 0xffffffffffffff9c'); // AT_FDCWD
    expect(line).toContain(`flags: 0x${(O_WRONLY | O_CREAT).toString(16).padStart(8, '0')}`);
    expect(line).toContain('mode: 0x000001a0');
  });
});
