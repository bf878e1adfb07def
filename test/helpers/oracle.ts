// The host kernel as an oracle: compiles test/oracle/ebpf_oracle.c with gcc once per test
// process and runs programs through BPF_PROG_LOAD + BPF_PROG_TEST_RUN. Everything returns
// a reason instead of throwing when the host cannot answer, so tests can skip with it.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface OracleResult {
  loaded: boolean;
  errno: number;
  /** Low 32 bits of r0, or null when the program did not load or run. */
  retval: number | null;
  log?: string;
}

export type Oracle = { ok: true; run: (progs: { hex: string; data?: string }[]) => OracleResult[] } | { ok: false; reason: string };

let cached: Oracle | null = null;

const SOURCE = join(import.meta.dirname, '../oracle/ebpf_oracle.c');

/** The oracle, or why it is unavailable (no gcc, bpf() refused). */
export function hostOracle(): Oracle {
  if (cached === null) cached = build();
  return cached;
}

function build(): Oracle {
  if (process.platform !== 'linux') return { ok: false, reason: `host is ${process.platform}, not Linux` };
  const dir = mkdtempSync(join(tmpdir(), 'bpfkern-oracle-'));
  const bin = join(dir, 'ebpf_oracle');
  try {
    execFileSync('gcc', ['-O2', '-o', bin, SOURCE], { stdio: 'pipe' });
  } catch (e) {
    return { ok: false, reason: `cannot compile test/oracle/ebpf_oracle.c with gcc: ${(e as Error).message.split('\n')[0]}` };
  }
  const run = (progs: { hex: string; data?: string }[]): OracleResult[] => {
    const input = progs.map((p) => (p.data ? `${p.hex} ${p.data}` : p.hex)).join('\n') + '\n';
    const r = spawnSync(bin, [], { input, encoding: 'utf8', maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`ebpf_oracle failed: ${r.stderr || `status ${r.status}`}`);
    const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as OracleResult);
    if (out.length !== progs.length) throw new Error(`ebpf_oracle answered ${out.length} of ${progs.length} programs`);
    return out;
  };
  // r0 = 42; exit — if even this does not load, the host refuses bpf()
  let probe: OracleResult;
  try {
    probe = run([{ hex: 'b70000002a0000009500000000000000' }])[0]!;
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  if (!probe.loaded || probe.retval !== 42) {
    return { ok: false, reason: `host kernel refuses bpf(BPF_PROG_LOAD) (errno ${probe.errno}); run as root with bpf enabled` };
  }
  return { ok: true, run };
}
