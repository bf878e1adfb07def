// Compiles a C helper from test/oracle/ with gcc, once per test process, into a temporary
// directory. Returns the binary's path, or why it could not be built, so tests can skip
// with the reason instead of failing on hosts without gcc.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type CHelper = { ok: true; bin: string } | { ok: false; reason: string };

const built = new Map<string, CHelper>();

/** test/oracle/NAME.c -> a binary (gcc -O2, plus `flags`, e.g. ['-pthread']). */
export function compileCHelper(name: string, flags: readonly string[] = []): CHelper {
  const key = `${name} ${flags.join(' ')}`;
  let h = built.get(key);
  if (h === undefined) {
    h = compile(name, flags);
    built.set(key, h);
  }
  return h;
}

function compile(name: string, flags: readonly string[]): CHelper {
  if (process.platform !== 'linux') return { ok: false, reason: `host is ${process.platform}, not Linux` };
  const src = join(import.meta.dirname, '../oracle', `${name}.c`);
  const bin = join(mkdtempSync(join(tmpdir(), `bpfkern-${name}-`)), name);
  try {
    execFileSync('gcc', ['-O2', ...flags, '-o', bin, src], { stdio: 'pipe' });
  } catch (e) {
    const err = e as Error & { stderr?: Buffer };
    const detail = err.stderr?.toString().split('\n')[0] || err.message.split('\n')[0];
    return { ok: false, reason: `cannot compile test/oracle/${name}.c with gcc: ${detail}` };
  }
  return { ok: true, bin };
}
