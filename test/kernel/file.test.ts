/**
 * The fd-level file syscalls (kernel/file.ts): read/write dispatch to the fd's object
 * (sockets read and write as recv/send), pread/lseek on pipe-like objects are ESPIPE,
 * EINVAL for objects without ->read, dup/dup2/dup3 and fcntl, FD_CLOEXEC across fork and
 * exec, and the EFAULT/EBADF argument checks.
 */
import { describe, expect, it } from 'vitest';
import {
  AF_UNIX, BPF_MAP_TYPE, FD_CLOEXEC, F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_GETFL, F_SETFD, F_SETFL, O_CLOEXEC, O_NONBLOCK,
  O_RDONLY, O_RDWR, SEEK_SET, SOCK_DGRAM, SOCK_STREAM, SyscallError, bootKernel, bpfMapCreate, close, dup, dup2, dup3,
  errnoName, fcntl, fork, lseek, open, pread, read, recv, send, socketpair, spawn, waitpid, write, type Proc,
} from '../../index.js';
import { syscall } from '../../kernel/syscall.js';

const text = (b: Uint8Array): string => new TextDecoder().decode(b);

async function run(main: (p: Proc) => Promise<void>): Promise<void> {
  const kernel = bootKernel({ seed: 5 });
  const h = spawn(kernel, { comm: 'prog' }, main);
  const status = await h.exited;
  if (h.error) throw h.error;
  expect(status).toBe(0);
}

async function errnoOf(pr: Promise<unknown>): Promise<string> {
  try {
    await pr;
  } catch (e) {
    if (e instanceof SyscallError) return errnoName(e.errno) ?? String(e.errno);
    throw e;
  }
  return 'no error';
}

describe('read/write on sockets', () => {
  it('a stream socketpair: write(2) on one end, read(2) on the other; mixes with send/recv', async () => {
    await run(async (p) => {
      const [a, b] = await socketpair(p, AF_UNIX, SOCK_STREAM);
      expect(await write(p, a, 'ping')).toBe(4);
      const buf = new Uint8Array(16);
      const n = await read(p, b, buf);
      expect(text(buf.subarray(0, n))).toBe('ping');
      await send(p, b, new TextEncoder().encode('pong'));
      expect(text(buf.subarray(0, await read(p, a, buf)))).toBe('pong');
      expect(await write(p, b, 'via write')).toBe(9);
      expect(text(await recv(p, a, 64))).toBe('via write');
      await close(p, a);
      expect(await read(p, b, buf)).toBe(0); // the peer is gone: end of stream
      await close(p, b);
    });
  });

  it('a datagram socketpair: a read blocks until the peer writes; O_NONBLOCK via fcntl gives EAGAIN', async () => {
    await run(async (p) => {
      const [a, b] = await socketpair(p, AF_UNIX, SOCK_DGRAM);
      const buf = new Uint8Array(16);
      const pending = read(p, b, buf);
      await write(p, a, 'late');
      expect(text(buf.subarray(0, await pending))).toBe('late');
      expect(await fcntl(p, b, F_GETFL)).toBe(O_RDWR);
      await fcntl(p, b, F_SETFL, O_NONBLOCK);
      expect(await fcntl(p, b, F_GETFL)).toBe(O_RDWR | O_NONBLOCK);
      expect(await errnoOf(read(p, b, buf))).toBe('EAGAIN');
      // No file position on a socket.
      expect(await errnoOf(lseek(p, b, 0, SEEK_SET))).toBe('ESPIPE');
      expect(await errnoOf(pread(p, b, buf, 4, 0))).toBe('ESPIPE');
    });
  });
});

describe('the generic checks', () => {
  it('EBADF for a closed fd, EINVAL for an object without read/write, EFAULT for a bad buffer', async () => {
    await run(async (p) => {
      expect(await errnoOf(read(p, 42, new Uint8Array(4)))).toBe('EBADF');
      expect(await errnoOf(write(p, -1, 'x'))).toBe('EBADF');
      const map = await bpfMapCreate(p, { type: BPF_MAP_TYPE.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 });
      expect(await errnoOf(read(p, map, new Uint8Array(4)))).toBe('EINVAL');
      expect(await errnoOf(write(p, map, 'x'))).toBe('EINVAL');
      const fd = await open(p, '/proc/self/status');
      const k = p.kernel;
      expect(syscall(k, p.task, 'read', [fd, new Uint8Array(4), 8])).toBe(-14); // count past the buffer
      expect(syscall(k, p.task, 'read', [fd, { not: 'a buffer' }, 4])).toBe(-14);
      expect(syscall(k, p.task, 'read', [fd, new Uint8Array(4), -1])).toBe(-14);
      expect(syscall(k, p.task, 'pread64', [fd, new Uint8Array(4), 4, -1])).toBe(-22);
      expect(syscall(k, p.task, 'lseek', [fd, 0, 9])).toBe(-22);
      expect(syscall(k, p.task, 'read', [fd, new Uint8Array(4), 0])).toBe(0);
    });
  });

  it('pread reads at an offset without moving the position', async () => {
    await run(async (p) => {
      const fd = await open(p, '/proc/self/comm');
      const buf = new Uint8Array(16);
      expect(text(buf.subarray(0, await pread(p, fd, buf, 3, 1)))).toBe('rog');
      expect(text(buf.subarray(0, await read(p, fd, buf)))).toBe('prog\n');
    });
  });
});

describe('dup, dup2, dup3, fcntl', () => {
  it('dup shares the open file (its position) and the object lives until the last fd closes', async () => {
    await run(async (p) => {
      const fd = await open(p, '/proc/self/status', O_RDONLY);
      const copy = await dup(p, fd);
      expect(copy).toBe(fd + 1);
      const buf = new Uint8Array(5);
      await read(p, fd, buf);
      expect(text(buf)).toBe('Name:');
      await close(p, fd);
      const n = await read(p, copy, buf); // the same struct file: the position moved on
      expect(text(buf.subarray(0, n))).toBe('\tprog');
      expect(await lseek(p, copy, 0, SEEK_SET)).toBe(0);
      await close(p, copy);
    });
  });

  it('dup2 replaces the target, dup3 sets O_CLOEXEC and rejects the same fd', async () => {
    await run(async (p) => {
      const [a, b] = await socketpair(p, AF_UNIX, SOCK_DGRAM);
      expect(await dup2(p, a, 10)).toBe(10);
      expect(await dup2(p, a, a)).toBe(a);
      expect(await errnoOf(dup2(p, 99, 11))).toBe('EBADF');
      expect(await errnoOf(dup2(p, a, 5000))).toBe('EBADF');
      // dup2 over an open fd closes it silently: fd 10 now is b.
      expect(await dup2(p, b, 10)).toBe(10);
      await write(p, a, 'to b');
      const buf = new Uint8Array(8);
      expect(text(buf.subarray(0, await read(p, 10, buf)))).toBe('to b');
      expect(await dup3(p, a, 12, O_CLOEXEC)).toBe(12);
      expect(await fcntl(p, 12, F_GETFD)).toBe(FD_CLOEXEC);
      expect(await errnoOf(dup3(p, a, a, 0))).toBe('EINVAL');
      expect(await errnoOf(dup3(p, a, 13, 1))).toBe('EINVAL');
    });
  });

  it('fcntl: F_DUPFD from a minimum, F_DUPFD_CLOEXEC, F_GETFD/F_SETFD, unknown commands', async () => {
    await run(async (p) => {
      const fd = await open(p, '/proc/self/comm');
      expect(await fcntl(p, fd, F_DUPFD, 20)).toBe(20);
      expect(await fcntl(p, fd, F_DUPFD, 20)).toBe(21);
      expect(await fcntl(p, 21, F_GETFD)).toBe(0);
      const c = await fcntl(p, fd, F_DUPFD_CLOEXEC, 0);
      expect(await fcntl(p, c, F_GETFD)).toBe(FD_CLOEXEC);
      await fcntl(p, c, F_SETFD, 0);
      expect(await fcntl(p, c, F_GETFD)).toBe(0);
      expect(await errnoOf(fcntl(p, fd, F_DUPFD, -1))).toBe('EINVAL');
      expect(await errnoOf(fcntl(p, fd, 9999))).toBe('EINVAL');
      // F_GETFL of a VFS file: the access mode plus O_LARGEFILE, as on x86_64.
      expect(await fcntl(p, fd, F_GETFL)).toBe(O_RDONLY | 0o100000);
    });
  });

  it('a forked child inherits the fds and their FD_CLOEXEC bits; exec closes the marked ones', async () => {
    await run(async (p) => {
      const [a, b] = await socketpair(p, AF_UNIX, SOCK_STREAM);
      await fcntl(p, b, F_SETFD, FD_CLOEXEC);
      const child = await fork(p, async (c) => {
        expect(await fcntl(c, b, F_GETFD)).toBe(FD_CLOEXEC);
        await write(c, a, 'from child');
        expect(syscall(c.kernel, c.task, 'execve', ['/bin/x', null, null])).toBe(0);
        expect(c.task.fds.has(a)).toBe(true);
        expect(c.task.fds.has(b)).toBe(false);
      });
      expect((await waitpid(p, child)).status).toBe(0);
      const buf = new Uint8Array(32);
      expect(text(buf.subarray(0, await read(p, b, buf)))).toBe('from child');
    });
  });
});
