/**
 * Cost of one syscall (getpid) through the entry with: no filter, a 1-rule filter and
 * Docker's default profile, on the interpreter and the JIT (bpf_jit_enable 0 / 1).
 */
import { readFileSync } from 'node:fs';
import { bootKernel } from '../../index.js';
import { syscall } from '../../kernel/syscall.js';
import { compileProfile, type Profile } from '../../subsystems/seccomp/profile.js';
import { SECCOMP_SET_MODE_FILTER } from '../../subsystems/seccomp/uapi.js';
import type { Bench } from './run.js';

const N = 20000;

function measure(jit: 0 | 1, prog: { code: number; jt: number; jf: number; k: number }[] | null): number {
  const k = bootKernel();
  k.sysctl.bpfJitEnable = jit;
  const t = k.tasks.spawn({ comm: 'bench' });
  if (prog) syscall(k, t, 'seccomp', [SECCOMP_SET_MODE_FILTER, 0, { len: prog.length, filter: prog }]);
  for (let i = 0; i < 1000; i++) syscall(k, t, 'getpid');
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) syscall(k, t, 'getpid');
  return Number(process.hrtime.bigint() - t0) / N;
}

export const seccompBench: Bench = {
  name: 'seccomp',
  run: async (out) => {
    const docker = JSON.parse(readFileSync(new URL('../../../test/fixtures/profiles/docker-default.json', import.meta.url), 'utf8')) as Profile;
    const oneRule = [
      { code: 0x20, jt: 0, jf: 0, k: 0 }, { code: 0x15, jt: 0, jf: 1, k: 2 },
      { code: 0x06, jt: 0, jf: 0, k: 0x50001 }, { code: 0x06, jt: 0, jf: 0, k: 0x7fff0000 },
    ];
    const dockerProg = compileProfile(docker).program;
    out('filter            interp ns/call   jit ns/call');
    for (const [name, prog] of [['none', null], ['1 rule', oneRule], ['docker-default', dockerProg]] as const) {
      out(`${name.padEnd(18)}${measure(0, prog as never).toFixed(0).padStart(14)}${measure(1, prog as never).toFixed(0).padStart(14)}`);
    }
    out('goal: a filter costs less than the syscall entry itself for short programs');
  },
};
