// `bpfkern conformance-plugin` spoken to exactly as the bpf_conformance runner does: the
// program as "xx  " hex on stdin, the memory as the first argument (empty when none), the
// plugin options as one more argument; r0 back as hex on stdout.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { conformanceCases } from '../helpers/conformance.js';

const BIN = join(import.meta.dirname, '../../dist/userspace/bin/bpfkern.js');

function plugin(code: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, 'conformance-plugin', ...args], { input: code, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const runnerHex = (bytes: Uint8Array): string => [...bytes].map((b) => `${b.toString(16).padStart(2, '0')}  `).join('');

const all = new Map(conformanceCases().map((c) => [c.name, c]));
const NAMES = ['add', 'mem-len', 'ldxb-all', 'call_local', 'lock_cmpxchg', 'lddw2', 'sdiv64-intmin-by-negone-reg'];

describe('bpfkern conformance-plugin', () => {
  it.each(NAMES)('%s gives the expected r0 in hex', (name) => {
    const c = all.get(name)!;
    const r = plugin(`${runnerHex(c.code)}\n`, [c.mem ? runnerHex(c.mem) : '', '--jit 0']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${c.result.toString(16)}\n`);
  });

  it('accepts any whitespace and no options at all', () => {
    const c = all.get('mem-len')!;
    const r = plugin(runnerHex(c.code).replace(/ {2}/g, '\n'), [runnerHex(c.mem!).replace(/ {2}/g, ' ')]);
    expect(r.stdout).toBe(`${c.result.toString(16)}\n`);
  });

  it('--jit 1 never falls back to the interpreter: a program the JIT cannot compile fails', () => {
    const r = plugin('ff  00  00  00  00  00  00  00  \n', ['', '--jit 1']);
    expect(r.status).not.toBe(0);
    expect(r.stdout).toMatch(/JIT cannot compile the program/);
  });

  const bad: { name: string; code: string; args: string[]; out: RegExp; status: number }[] = [
    { name: 'program not hex', code: 'zz', args: [''], out: /not hex/, status: 2 },
    { name: 'memory not hex', code: '95  00', args: ['qq'], out: /memory argument is not hex/, status: 2 },
    { name: 'bad --jit value', code: '', args: ['', '--jit 7'], out: /--jit takes 0 or 1/, status: 2 },
    { name: 'length not a multiple of 8', code: '95  00  00', args: [''], out: /^EINVAL: program length 3/, status: 1 },
    { name: 'memory fault', code: '61  10  00  00  00  00  00  00  95  00  00  00  00  00  00  00', args: [''], out: /^EFAULT: invalid memory access/, status: 1 },
  ];
  it.each(bad)('$name exits non-zero with the error on stdout', ({ code, args, out, status }) => {
    const r = plugin(code, args);
    expect(r.status).toBe(status);
    expect(r.stdout).toMatch(out);
    expect(r.stderr).toMatch(/^bpfkern: /);
  });
});
