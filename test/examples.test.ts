/**
 * README.md's library examples are the files in examples/: each code block marked
 * `<!-- example: examples/NAME.ts -->` must be that file (with `'bpfkern'` where the file
 * imports `'../index.js'`), and each block marked `<!-- output: examples/NAME.ts -->` must be
 * exactly what running it prints: its console.log lines, then `main() returned VALUE` as
 * examples/run.ts prints it.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { format } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const readme = readFileSync(resolve(root, 'README.md'), 'utf8');

/** The fenced block that follows each `<!-- KIND: PATH -->` marker, by path. */
function blocks(kind: 'example' | 'output'): Map<string, string> {
  const out = new Map<string, string>();
  const re = new RegExp(`<!-- ${kind}: (\\S+) -->\\n\`\`\`[a-z]*\\n([\\s\\S]*?)\`\`\`\\n`, 'g');
  for (const m of readme.matchAll(re)) out.set(m[1]!, m[2]!);
  return out;
}

type Example = { main: () => Promise<unknown> };
const LOAD: Record<string, () => Promise<Example>> = {
  ebpf: () => import('../examples/ebpf.js'),
  net: () => import('../examples/net.js'),
  seccomp: () => import('../examples/seccomp.js'),
  tracing: () => import('../examples/tracing.js'),
};
const EXAMPLES = Object.keys(LOAD);
const code = blocks('example');
const output = blocks('output');

describe('README examples', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('every example has a code block and an output block, and nothing else is marked', () => {
    const want = EXAMPLES.map((n) => `examples/${n}.ts`).sort();
    expect([...code.keys()].sort()).toEqual(want);
    expect([...output.keys()].sort()).toEqual(want);
  });

  for (const name of EXAMPLES) {
    const path = `examples/${name}.ts`;

    it(`${path}: the README shows the file as a user imports it`, () => {
      const file = readFileSync(resolve(root, path), 'utf8');
      expect(file).toContain("from '../index.js'");
      expect(code.get(path)).toBe(file.replaceAll("'../index.js'", "'bpfkern'"));
    });

    it(`${path}: runs and prints what the README says`, async () => {
      const printed: string[] = [];
      vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
        printed.push(format(...args));
      });
      const ret = await (await LOAD[name]!()).main();
      printed.push(`main() returned ${String(ret)}`);
      expect(`${printed.join('\n')}\n`).toBe(output.get(path));
    });
  }

  it('the package entry exports what the examples use', async () => {
    const lib = await import('../index.js');
    for (const name of ['bootKernel', 'spawn', 'bpfProgLoad', 'bpfProgTestRun', 'bpfMapLookup', 'socket', 'setsockopt',
      'recvfrom', 'prctl', 'seccomp', 'kill', 'fork', 'exec', 'waitpid', 'sigaction', 'SyscallError', 'errnoName',
      'assemble', 'parseClassic', 'compileFilter', 'netifRx', 'udp4Frame', 'close'] as const) {
      expect(typeof (lib as Record<string, unknown>)[name], name).toBe('function');
    }
  });
});
