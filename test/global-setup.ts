// Builds dist/ once before the tests so that CLI tests can spawn `node dist/...` exactly as
// users run bpfkern. tsc is incremental, so this is quick when nothing changed. Type errors
// do not stop the tests here (tsc still emits); `make test` type-checks first and fails on them.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const r = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (r.status !== 0) process.stderr.write('global-setup: tsc reported errors; dist/ may be stale\n');
}
