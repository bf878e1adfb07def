// The bpfkern entry point itself: usage, unknown commands, and a reader that goes away
// early (`bpfkern ... | head`) — the command stops quietly instead of dumping EPIPE.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const CLI = 'dist/userspace/bin/bpfkern.js';

describe('bpfkern', () => {
  it('prints usage with every command and exits 2 without one', () => {
    const r = spawnSync(process.execPath, [CLI], { cwd: root, encoding: 'utf8' });
    expect(r.status).toBe(2);
    for (const name of ['ebpf', 'conformance-plugin', 'bpftool', 'cbpf', 'tcpdump', 'seccomp', 'trace', 'mount']) {
      expect(r.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    }
  });

  it('rejects an unknown command with exit 2', () => {
    const r = spawnSync(process.execPath, [CLI, 'frobnicate'], { cwd: root, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("bpfkern: unknown command 'frobnicate'");
  });

  it('stops quietly when its reader closes the pipe early', () => {
    const r = spawnSync('bash', ['-c', `set -o pipefail; node ${CLI} seccomp compile test/fixtures/profiles/docker-default.json -d | head -n 1`], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(r.stdout).toBe('(000) ld       [4]\n');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
