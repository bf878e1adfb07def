// Any module can be the first one a program imports. ES modules that import each other
// (kernel/syscall.ts <-> signal.ts <-> process.ts) work only while no module body uses a
// binding of a module still being evaluated; when one does, the import that enters the
// cycle at the wrong place throws "Cannot access 'X' before initialization". vitest's own
// loader does not reproduce that, so each compiled module in dist/ (built by
// test/global-setup.ts) is imported first in a fresh worker thread, i.e. a fresh module
// graph, with Node's native ESM loader.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const dist = join(root, 'dist');

/** Modules that run a program when imported (the CLI, the bench runner). */
const SKIP = new Set(['userspace/bin/bpfkern.ts', 'userspace/bench/run.ts']);

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const modules = ['kernel', 'subsystems', 'fs', 'userspace']
  .flatMap((top) => sources(join(root, top)))
  .concat([join(root, 'index.ts')])
  .map((p) => relative(root, p))
  .filter((p) => !SKIP.has(p))
  .sort();

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData).then(
  () => parentPort.postMessage(''),
  (e) => parentPort.postMessage(String((e && e.message) || e) || 'import failed'),
);
`;

/** Imports `url` first thing in a fresh worker; resolves with '' or the error message. */
function importFresh(url: string): Promise<string> {
  return new Promise((done) => {
    const w = new Worker(WORKER, { eval: true, workerData: url, stdout: true, stderr: true });
    let answered = false;
    w.once('message', (m: string) => {
      answered = true;
      done(m);
      void w.terminate();
    });
    w.once('error', (e) => {
      if (!answered) done(e.message);
    });
    w.once('exit', (code) => {
      if (!answered) done(`worker exited with ${code} before answering`);
    });
  });
}

describe('import order', () => {
  it('every module can be imported first (no use-before-init across an import cycle)', async () => {
    const built = modules.filter((m) => existsSync(join(dist, m.replace(/\.ts$/, '.js'))));
    // dist/ is built by the global setup; a missing file means the build failed for it.
    expect(built.length).toBeGreaterThan(modules.length * 0.9);
    const failures: string[] = [];
    const queue = [...built];
    const lanes = Array.from({ length: 2 }, async () => {
      for (let m = queue.shift(); m !== undefined; m = queue.shift()) {
        const err = await importFresh(pathToFileURL(join(dist, m.replace(/\.ts$/, '.js'))).href);
        if (err !== '') failures.push(`${m}: ${err}`);
      }
    });
    await Promise.all(lanes);
    expect(failures).toEqual([]);
  }, 180_000);
});
