// Compiles test/oracle/cbpf_oracle.c with gcc and runs it; skip reasons when the host refuses.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export interface OracleResult {
  attached: boolean;
  errno: string | null;
  results?: { len: number; received: number; dropped: boolean }[];
}

let built: { bin: string | null; reason: string } | null = null;

/** The oracle binary, or null with the reason it is unavailable. */
export function cbpfOracle(): { bin: string | null; reason: string } {
  if (built) return built;
  const src = resolve(__dirname, '../oracle/cbpf_oracle.c');
  const bin = join(mkdtempSync(join(tmpdir(), 'cbpf-oracle-')), 'cbpf_oracle');
  try {
    execFileSync('gcc', ['-O1', '-o', bin, src], { stdio: 'pipe' });
  } catch (e) {
    return (built = { bin: null, reason: `gcc failed or missing: ${(e as Error).message.split('\n')[0]}` });
  }
  const probe = spawnSync(bin, ['--mode', 'packet', '--prog', '1,6 0 0 1', '--packet', '000000000000000000000000'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    return (built = { bin: null, reason: `host refuses packet sockets/namespaces (exit ${probe.status}: ${probe.stderr.trim()})` });
  }
  return (built = { bin, reason: '' });
}

/** Runs `PROG|HEX HEX` lines through the host kernel in one process. */
export function oracleBatch(bin: string, mode: 'unix' | 'packet' | 'udp', lines: readonly string[]): OracleResult[] {
  const out = execFileSync(bin, ['--mode', mode, '--batch'], { input: lines.join('\n') + '\n', encoding: 'utf8', maxBuffer: 64 << 20 });
  return out.trim().split('\n').map((l) => JSON.parse(l) as OracleResult);
}
