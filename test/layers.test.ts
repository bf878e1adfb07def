// DESIGN.md's layers, checked so they cannot rot: imports point downwards only, and a
// subsystem never reaches into another subsystem.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');
const rank: Record<string, number> = { kernel: 0, subsystems: 1, fs: 2, userspace: 3 };

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

function layerOf(path: string): { top: string; sub: string | undefined } {
  const [top, sub] = relative(root, path).split('/');
  return { top: top ?? '', sub };
}

describe('layers', () => {
  const files = Object.keys(rank).flatMap((top) => sources(join(root, top)));
  it('finds the source tree', () => {
    expect(files.length).toBeGreaterThan(3);
  });
  it('imports point downwards only', () => {
    const bad: string[] = [];
    for (const file of files) {
      const from = layerOf(file);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/from\s+'(\.{1,2}\/[^']+)'/g)) {
        const target = layerOf(resolve(dirname(file), m[1]!));
        if (!(target.top in rank)) {
          // The root index.ts is the composition root (it boots a kernel with everything
          // wired in): userspace, the top layer, may use it; nothing below may.
          if (target.top === 'index.js' && from.top !== 'userspace') {
            bad.push(`${relative(root, file)} imports the root index`);
          }
          continue;
        }
        if (rank[target.top]! > rank[from.top]!) bad.push(`${relative(root, file)} -> ${m[1]}`);
        if (
          from.top === 'subsystems' && target.top === 'subsystems' &&
          from.sub !== target.sub && target.sub !== undefined && !target.sub.endsWith('.ts')
        ) {
          bad.push(`${relative(root, file)} reaches into subsystems/${target.sub}`);
        }
        if (from.top === 'kernel' && relative(root, file).startsWith('kernel/bpf') && target.top !== 'kernel') {
          bad.push(`${relative(root, file)} -> ${m[1]}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });
});
