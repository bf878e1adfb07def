import { describe, expect, it } from 'vitest';
import { checkClassic } from '../../../../kernel/bpf/classic/checker.js';
import { parseClassic } from '../../../../kernel/bpf/classic/text.js';
import { KernelError } from '../../../../kernel/errno.js';

// Linux's bpf_check_classic verdicts: every refusal is EINVAL.
const cases: { name: string; prog: string; ok: boolean }[] = [
  { name: 'ret k', prog: '1,6 0 0 0', ok: true },
  { name: 'tcpdump ip', prog: '4,40 0 0 12,21 0 1 2048,6 0 0 262144,6 0 0 0', ok: true },
  { name: 'empty', prog: '0', ok: false },
  { name: 'last is not ret', prog: '1,0 0 0 1', ok: false },
  { name: 'ret x is not a classic code', prog: '1,14 0 0 0', ok: false },
  { name: 'unknown opcode', prog: '2,255 0 0 0,6 0 0 0', ok: false },
  { name: 'stray size bits on ld #k', prog: '2,8 0 0 0,6 0 0 0', ok: false },
  { name: 'div by constant 0', prog: '2,52 0 0 0,6 0 0 0', ok: false },
  { name: 'mod by constant 0', prog: '2,148 0 0 0,6 0 0 0', ok: false },
  { name: 'div by X is checked at run time', prog: '2,60 0 0 0,6 0 0 0', ok: true },
  { name: 'lsh by 32', prog: '2,100 0 0 32,6 0 0 0', ok: false },
  { name: 'rsh by 31', prog: '2,116 0 0 31,6 0 0 0', ok: true },
  { name: 'M[16]', prog: '2,2 0 0 16,6 0 0 0', ok: false },
  { name: 'M[0] read before write', prog: '2,96 0 0 0,22 0 0 0', ok: false },
  { name: 'M[0] written then read', prog: '3,2 0 0 0,96 0 0 0,22 0 0 0', ok: true },
  { name: 'M written on one path only', prog: '5,21 1 0 0,2 0 0 3,97 0 0 3,6 0 0 0,6 0 0 1', ok: false },
  { name: 'M written on both paths', prog: '6,21 1 0 0,2 0 0 3,3 0 0 3,97 0 0 3,6 0 0 0,6 0 0 1', ok: true },
  { name: 'ja past the end', prog: '2,5 0 0 1,6 0 0 0', ok: false },
  { name: 'ja in range', prog: '3,5 0 0 1,6 0 0 1,6 0 0 2', ok: true },
  { name: 'ja backwards (huge k)', prog: '2,5 0 0 4294967295,6 0 0 0', ok: false },
  { name: 'jt out of range', prog: '2,21 1 0 0,6 0 0 0', ok: false },
  { name: 'jf out of range', prog: '3,21 0 2 0,6 0 0 0,6 0 0 0', ok: false },
  { name: 'known ancillary (proto)', prog: '2,32 0 0 4294963200,22 0 0 0', ok: true },
  { name: 'ancillary xor_x', prog: '2,32 0 0 4294963240,22 0 0 0', ok: true },
  { name: 'unknown ancillary', prog: '2,32 0 0 4294963264,22 0 0 0', ok: false },
  { name: 'unaligned ancillary', prog: '2,32 0 0 4294963201,22 0 0 0', ok: false },
  { name: 'SKF_NET_OFF load passes', prog: '2,48 0 0 4293918729,22 0 0 0', ok: true },
  { name: 'ancillary window via ld [x+k] is not checked', prog: '2,64 0 0 4294963264,22 0 0 0', ok: true },
];

describe('checkClassic (bpf_check_classic)', () => {
  it.each(cases)('$name', ({ prog, ok }) => {
    const p = prog === '0' ? [] : parseClassic(prog);
    if (ok) expect(() => checkClassic(p)).not.toThrow();
    else {
      try {
        checkClassic(p);
        expect.unreachable('accepted');
      } catch (e) {
        expect(e).toBeInstanceOf(KernelError);
        expect((e as KernelError).errno).toBe('EINVAL');
      }
    }
  });

  it('limits programs to BPF_MAXINSNS (4096) instructions', () => {
    const ret = { code: 6, jt: 0, jf: 0, k: 0 };
    expect(() => checkClassic(new Array(4096).fill(ret))).not.toThrow();
    expect(() => checkClassic(new Array(4097).fill(ret))).toThrow(/EINVAL/);
  });
});

import { cbpfOracle, oracleBatch } from '../../../helpers/cbpf-oracle.js';

const oracle = cbpfOracle();
describe.skipIf(!oracle.bin)(`checker table against the host's SO_ATTACH_FILTER ${oracle.reason}`, () => {
  it('the host accepts exactly the programs the table accepts', () => {
    const withProg = cases.filter((c) => c.prog !== '0');
    const res = oracleBatch(oracle.bin!, 'unix', withProg.map((c) => `${c.prog}|`));
    expect(res.map((r, i) => `${withProg[i]!.name}: ${r.attached}`)).toEqual(withProg.map((c) => `${c.name}: ${c.ok}`));
  });
});
