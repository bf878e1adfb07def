// The VFS and its Node-fs-shaped API: memfs directories, permissions, errors, per-open
// state, buffered and per-write commits, blocking stream files.
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../index.js';
import { userCred } from '../../kernel/task.js';
import { KernelError } from '../../kernel/errno.js';
import { attrFile, mountAt, staticDir, streamFile } from '../../fs/vfs.js';

function errOf(fn: () => unknown): { code?: string; message: string } {
  try {
    fn();
  } catch (e) {
    return e as { code?: string; message: string };
  }
  throw new Error('expected an error');
}

describe('memfs directories', () => {
  it('write, read, append, stat, rename, unlink in /tmp', () => {
    const k = bootKernel();
    const fs = k.fs;
    fs.writeFileSync('/tmp/a.txt', 'hello');
    fs.appendFileSync('/tmp/a.txt', ' world');
    expect(fs.readFileSync('/tmp/a.txt', 'utf8')).toBe('hello world');
    expect(fs.statSync('/tmp/a.txt').size).toBe(11);
    expect(fs.statSync('/tmp/a.txt').isFile()).toBe(true);
    fs.mkdirSync('/tmp/d/e', { recursive: true });
    expect(fs.statSync('/tmp/d/e').isDirectory()).toBe(true);
    fs.renameSync('/tmp/a.txt', '/tmp/d/b.txt');
    expect(fs.existsSync('/tmp/a.txt')).toBe(false);
    expect(fs.readdirSync('/tmp/d')).toEqual(['b.txt', 'e']);
    fs.unlinkSync('/tmp/d/b.txt');
    expect(errOf(() => fs.readFileSync('/tmp/d/b.txt')).code).toBe('ENOENT');
    fs.writeFileSync('/etc/profile.json', '{}');
    expect(fs.readdirSync('/')).toEqual(expect.arrayContaining(['etc', 'home', 'proc', 'sys', 'tmp']));
  });

  it('binary data round-trips; fd calls work', () => {
    const k = bootKernel();
    const bytes = new Uint8Array(70000).map((_, i) => i & 0xff);
    k.fs.writeFileSync('/home/x.bin', bytes);
    expect(new Uint8Array(k.fs.readFileSync('/home/x.bin'))).toEqual(bytes);
    const fd = k.fs.openSync('/home/x.bin', 'r');
    const buf = new Uint8Array(4);
    expect(k.fs.readSync(fd, buf, 0, 4, 256)).toBe(4);
    expect([...buf]).toEqual([0, 1, 2, 3]);
    k.fs.closeSync(fd);
    expect(errOf(() => k.fs.closeSync(fd)).code).toBe('EBADF');
  });

  it('a user task owns what it creates and cannot write /etc or read /root', () => {
    const k = bootKernel();
    const t = k.tasks.spawn({ comm: 'user', cred: userCred(1000) });
    const fs = k.fs.as(t);
    fs.writeFileSync('/tmp/mine', 'x');
    expect(k.fs.statSync('/tmp/mine').uid).toBe(1000);
    expect(errOf(() => fs.writeFileSync('/etc/passwd', 'x')).code).toBe('EACCES');
    expect(errOf(() => fs.readdirSync('/root')).code).toBe('EACCES');
    k.fs.writeFileSync('/tmp/roots', 'r');
    expect(errOf(() => fs.unlinkSync('/tmp/roots')).code).toBe('EPERM'); // sticky /tmp
  });
});

describe('pseudo files', () => {
  it('tracefs and debugfs are root-only; errors carry the kernel message', () => {
    const k = bootKernel();
    const t = k.tasks.spawn({ comm: 'user', cred: userCred(1000) });
    expect(errOf(() => k.fs.as(t).readdirSync('/sys/kernel/debug')).code).toBe('EACCES');
    expect(k.fs.readdirSync('/sys/kernel/debug/bpfkern')).toEqual(['dmesg', 'map_create', 'maps', 'prog_load', 'programs', 'sockets', 'tasks', 'trace_filters']);
    const e = errOf(() => k.fs.writeFileSync('/proc/sys/net/core/bpf_jit_enable', '9'));
    expect(e.message).toMatch(/^EINVAL: .*out of range.*, write '\/proc\/sys\/net\/core\/bpf_jit_enable'$/);
  });

  it('store gets the whole text of one write; a failed store leaves the state', () => {
    const k = bootKernel();
    let state = 'old';
    const seen: string[] = [];
    const d = staticDir(0o755);
    d.add(
      'ctl',
      attrFile({
        show: () => state + '\n',
        store: (text) => {
          seen.push(text);
          if (text.startsWith('bad')) throw new KernelError('EINVAL', 'bad input');
          state = text.trim();
        },
      }),
    );
    d.add('big', attrFile({ buffered: true, show: () => state, store: (text) => void (state = text) }));
    mountAt(k, '/sys/test', d);
    k.fs.writeFileSync('/sys/test/ctl', 'new\n');
    expect(k.fs.readFileSync('/sys/test/ctl', 'utf8')).toBe('new\n');
    expect(errOf(() => k.fs.writeFileSync('/sys/test/ctl', 'bad\n')).code).toBe('EINVAL');
    expect(k.fs.readFileSync('/sys/test/ctl', 'utf8')).toBe('new\n');
    expect(seen).toEqual(['new\n', 'bad\n']);
    const fd = k.fs.openSync('/sys/test/big', 'w');
    k.fs.writeSync(fd, 'a');
    k.fs.writeSync(fd, 'b');
    expect(state).toBe('new'); // buffered until close
    k.fs.closeSync(fd);
    expect(state).toBe('ab');
    expect(errOf(() => k.fs.mkdirSync('/sys/test/x')).code).toBe('EPERM');
    expect(errOf(() => k.fs.writeFileSync('/sys/test/nofile', 'x')).code).toBe('EACCES');
  });

  it('a stream file blocks on the promise API and not on the sync one', async () => {
    const k = bootKernel();
    const queue: string[] = [];
    let wake: () => void = () => undefined;
    mountAt(
      k,
      '/sys/test/pipe',
      streamFile({
        take: (_f, max) => (queue.length && max > 0 ? queue.shift()! : ''),
        wait: () => new Promise<void>((r) => (wake = r)),
      }),
    );
    expect(k.fs.readFileSync('/sys/test/pipe', 'utf8')).toBe('');
    const h = await k.fs.promises.open('/sys/test/pipe');
    const pending = h.read();
    let done = false;
    void pending.then(() => (done = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(done).toBe(false);
    queue.push('event 1\n');
    wake();
    const { bytesRead, buffer } = await pending;
    expect(new TextDecoder().decode(buffer.subarray(0, bytesRead))).toBe('event 1\n');
    await h.close();
  });
});
