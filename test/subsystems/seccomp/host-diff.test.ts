// bpfkern's seccomp against the host kernel's, filter by filter: the same classic programs
// are installed (oldest first) by a worker thread that then makes one harmless raw syscall,
// in bpfkern through userspace/seccomp/run.ts and on the host through
// test/oracle/seccomp_oracle.c (compiled with gcc at test time). What the calling thread
// observed is compared: the return value (ERRNO's data, clamping, ENOSYS for TRACE and
// USER_NOTIF without tracer or listener), the SIGSYS siginfo of TRAP (si_errno = data),
// which thread or process died, and whether/how an install failed.
//
// Not comparable this way, so not compared: LOG against ALLOW (both run the call; only the
// audit log differs), TRACE's data (needs a tracer), instruction_pointer loads (the host's
// is the address of the oracle's syscall instruction). Calls that run return the same
// thing on both kernels (uname(NULL) EFAULT, close(-1) EBADF, kill(self, 0) 0), except
// pids, which compare as "ID" when positive.
//
// Skips with the reason when gcc is missing or the host refuses seccomp. SECCOMP_DIFF_SEED
// and SECCOMP_DIFF_COUNT change the random set.
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../../index.js';
import { errnoNumber, type ErrnoName } from '../../../kernel/errno.js';
import { parseDdd, parseSyscallSpec, runOne, type RunOutcome } from '../../../userspace/seccomp/run.js';
import { seccompOracle, type HostCase, type HostOutcome } from '../../helpers/seccomp-oracle.js';

const oracle = seccompOracle();
const skipReason = oracle.ok ? '' : oracle.reason;
const hostI386 = oracle.ok && oracle.i386;
if (skipReason) console.warn(`seccomp host differential test skipped: ${skipReason}`);

// ---- building programs --------------------------------------------------------------------

type Insn = [code: number, jt: number, jf: number, k: number];
const ddd = (insns: readonly Insn[]): string => `${insns.length},${insns.map(([c, t, f, k]) => `${c} ${t} ${f} ${k >>> 0}`).join(',')}`;

const LD = 0x20; // ld [k]
const ret = (k: number): Insn => [0x06, 0, 0, k >>> 0];
const retA: Insn = [0x16, 0, 0, 0];
const ld = (off: number): Insn => [LD, 0, 0, off];
const ldNr = ld(0);
const ldArch = ld(4);
const argLo = (i: number): Insn => ld(16 + 8 * i);
const argHi = (i: number): Insn => ld(20 + 8 * i);
const jeq = (k: number, jt: number, jf: number): Insn => [0x15, jt, jf, k >>> 0];
const jgt = (k: number, jt: number, jf: number): Insn => [0x25, jt, jf, k >>> 0];
const jge = (k: number, jt: number, jf: number): Insn => [0x35, jt, jf, k >>> 0];
const jset = (k: number, jt: number, jf: number): Insn => [0x45, jt, jf, k >>> 0];
const alu = (op: number, k: number): Insn => [0x04 | op, 0, 0, k >>> 0];

const A = {
  KILL_PROCESS: 0x80000000, KILL_THREAD: 0, TRAP: 0x30000, ERRNO: 0x50000, USER_NOTIF: 0x7fc00000,
  TRACE: 0x7ff00000, LOG: 0x7ffc0000, ALLOW: 0x7fff0000,
} as const;

/** One filter returning `k` for every call. */
const all = (k: number): string => ddd([ret(k)]);
/** `k` for getpid (39), ALLOW for the rest (later installs and other calls go through). */
const on39 = (k: number): string => ddd([ldNr, jeq(39, 0, 1), ret(k), ret(A.ALLOW)]);
/** x86_64 only: `k` for the x86_64 call nr (i386 calls are killed), else ALLOW. */
const onNr = (nr: number, body: readonly Insn[]): string =>
  ddd([ldArch, jeq(0xc000003e, 1, 0), ret(A.KILL_PROCESS), ldNr, jeq(nr, 0, body.length), ...body, ret(A.ALLOW)]);

const README_PROG =
  '9,32 0 0 4,21 0 6 3221225534,32 0 0 0,21 0 1 39,6 0 0 2147418112,21 0 1 1,6 0 0 327693,6 0 0 196611,6 0 0 2147483648';

interface Case extends HostCase {
  name: string;
}

const c = (name: string, progs: string[], syscall: string): Case => ({ name, progs, syscall });

const HAND: Case[] = [
  // no filter: the calls themselves agree
  c('no filter: getpid', [], '39'),
  c('no filter: uname(NULL) is EFAULT', [], '63 0'),
  c('no filter: close(-1) is EBADF', [], '3 -1'),
  c('no filter: kill(self, 0)', [], '62 self 0'),
  c('no filter: getppid', [], '110'),
  // every action, one filter
  ...([
    ['ALLOW', A.ALLOW], ['ALLOW data ignored', A.ALLOW | 0x1234], ['LOG', A.LOG], ['ERRNO 1', A.ERRNO | 1],
    ['ERRNO 0 returns 0', A.ERRNO], ['ERRNO 4095', A.ERRNO | 4095], ['ERRNO 4096 clamps', A.ERRNO | 4096],
    ['ERRNO 0xffff clamps', A.ERRNO | 0xffff], ['TRAP 0', A.TRAP], ['TRAP 0x1234', A.TRAP | 0x1234],
    ['TRACE without tracer', A.TRACE | 5], ['USER_NOTIF without listener', A.USER_NOTIF],
    ['KILL_THREAD', A.KILL_THREAD], ['KILL_PROCESS', A.KILL_PROCESS],
  ] as const).map(([n, k]) => c(`action ${n}`, [on39(k)], '39')),
  // unknown actions take their place by value and kill
  ...[0x00060000, 0x00010000, 0x40000000, 0x7fe00000, 0x7ff80000, 0x7ffd0000, 0xffff0000, 0x80010000].map((k) =>
    c(`unknown action 0x${k.toString(16)}`, [on39(k)], '39'),
  ),
  // two filters: precedence and ties (the newer filter's data wins a tie)
  c('tie ERRNO 1 then ERRNO 2', [on39(A.ERRNO | 1), on39(A.ERRNO | 2)], '39'),
  c('tie ERRNO 2 then ERRNO 1', [on39(A.ERRNO | 2), on39(A.ERRNO | 1)], '39'),
  c('tie TRAP 1 then TRAP 2', [on39(A.TRAP | 1), on39(A.TRAP | 2)], '39'),
  c('tie TRACE 1 then TRACE 2', [on39(A.TRACE | 1), on39(A.TRACE | 2)], '39'),
  c('LOG then ALLOW', [on39(A.LOG), on39(A.ALLOW)], '39'),
  c('ALLOW then LOG', [on39(A.ALLOW), on39(A.LOG)], '39'),
  c('unknown 0x7ffd0000 with ALLOW kills', [on39(0x7ffd0000), on39(A.ALLOW)], '39'),
  c('unknown 0x7ffd0000 with LOG gives LOG', [on39(0x7ffd0000), on39(A.LOG)], '39'),
  c('unknown 0x7ff80000 with LOG kills', [on39(0x7ff80000), on39(A.LOG)], '39'),
  c('KILL_PROCESS beats TRAP', [on39(A.TRAP | 1), on39(A.KILL_PROCESS)], '39'),
  c('KILL_PROCESS beats KILL_THREAD', [on39(A.KILL_THREAD), on39(A.KILL_PROCESS)], '39'),
  c('TRAP beats ERRNO', [on39(A.ERRNO | 3), on39(A.TRAP | 4)], '39'),
  c('ERRNO beats USER_NOTIF', [on39(A.USER_NOTIF), on39(A.ERRNO | 5)], '39'),
  c('ERRNO beats TRACE', [on39(A.ERRNO | 6), on39(A.TRACE | 7)], '39'),
  c('three filters, middle wins', [on39(A.LOG), on39(A.ERRNO | 8), on39(A.TRACE)], '39'),
  // the README program: arch check, per-syscall actions
  c('README prog: getpid allowed', [README_PROG], '39'),
  c('README prog: write ERRNO 13', [README_PROG], '1 5 0 0'),
  c('README prog: open TRAP 3', [README_PROG], '2'),
  c('README prog: i386 killed', [README_PROG], 'i386:20'),
  // argument comparisons
  ...['5', '6', '0x100000005', '-1'].map((a) =>
    c(`arg0 lo == 5 (arg ${a})`, [onNr(39, [argLo(0), jeq(5, 0, 1), ret(A.ERRNO | 11)])], `39 ${a}`),
  ),
  ...['0x100000005', '5', '0x200000005'].map((a) =>
    c(`arg0 == 0x100000005 as 64 bits (arg ${a})`, [onNr(39, [argHi(0), jeq(1, 0, 3), argLo(0), jeq(5, 0, 1), ret(A.ERRNO | 12)])], `39 ${a}`),
  ),
  ...['0xffffffff', '0x80000000', '0x80000001', '-1', '0'].map((a) =>
    c(`arg1 lo > 0x80000000 unsigned (arg ${a})`, [onNr(39, [argLo(1), jgt(0x80000000, 0, 1), ret(A.TRAP | 9)])], `39 0 ${a}`),
  ),
  ...['7', '6'].map((a) => c(`arg2 >= 7 (arg ${a})`, [onNr(39, [argLo(2), jge(7, 0, 1), ret(A.ERRNO | 14)])], `39 0 0 ${a}`)),
  ...['0x10', '0xef', '0x30'].map((a) => c(`arg3 & 0x10 (arg ${a})`, [onNr(39, [argLo(3), jset(0x10, 0, 1), ret(A.ERRNO | 15)])], `39 0 0 0 ${a}`)),
  ...['0xff', '0xfe', '0x1ff'].map((a) =>
    c(`(arg0 & 0xff) + 1 == 0x100 (arg ${a})`, [onNr(39, [argLo(0), alu(0x50, 0xff), alu(0x00, 1), jeq(0x100, 0, 1), ret(A.ERRNO | 20)])], `39 ${a}`),
  ),
  ...['0x123456789', '0'].map((a) => c(`arg5 hi is the last word (arg ${a})`, [onNr(39, [argHi(5), jeq(1, 0, 1), ret(A.ERRNO | 21)])], `39 0 0 0 0 0 ${a}`)),
  ...['0x50007', '0x7fff0000', '0x30003', '0x7ffc0000', '0x00060000'].map((a) =>
    c(`RET A of arg0 (arg ${a})`, [onNr(39, [argLo(0), retA])], `39 ${a}`),
  ),
  c('X register, scratch memory and ld len', [ddd([
    ld(16), [0x07, 0, 0, 0], [0x02, 0, 0, 3], [0x80, 0, 0, 0], [0x0c, 0, 0, 0], [0x61, 0, 0, 3], [0x1c, 0, 0, 0],
    [0x84, 0, 0, 0], alu(0x30, 2), alu(0x60, 3), alu(0x70, 1), alu(0x40, 0x50000), alu(0xa0, 1), [0x87, 0, 0, 0], alu(0x50, 0xffff),
    jeq(0, 0, 1), ret(A.ALLOW), [0x00, 0, 0, A.ERRNO | 30], retA,
  ])], '39 9'),
  c('jump over with ja', [ddd([ldNr, jeq(39, 0, 2), [0x05, 0, 0, 1], ret(A.ALLOW), ret(A.ERRNO | 31), ret(A.ALLOW)])], '39'),
  // other harmless calls seen by nr
  c('uname(NULL) ERRNO 2', [onNr(63, [ret(A.ERRNO | 2)])], '63 0'),
  c('close(-1) TRAP', [onNr(3, [ret(A.TRAP | 44)])], '3 -1'),
  c('kill(self, 0) filtered on sig == 0', [onNr(62, [argLo(1), jeq(0, 0, 1), ret(A.ERRNO | 1)])], '62 self 0'),
  c('kill(self, 0) allowed', [onNr(62, [argLo(1), jeq(9, 0, 1), ret(A.KILL_PROCESS)])], '62 self 0'),
  // i386 through int $0x80
  c('i386 getpid TRAP reports AUDIT_ARCH_I386', [all(A.TRAP | 7)], 'i386:20'),
  c('i386 getpid arg truncated to 32 bits', [ddd([ldArch, jeq(0x40000003, 0, 4), argHi(0), jeq(0, 0, 2), argLo(0), jeq(5, 0, 1), ret(A.ERRNO | 40)]) + '', ], 'i386:20 5'),
  c('i386 getpid allowed', [ddd([ldArch, jeq(0x40000003, 0, 1), ret(A.ALLOW), ret(A.KILL_PROCESS)])], 'i386:20'),
  // installs: a filter judges the seccomp() call that installs the next one
  c('bad filter: unaligned load is EINVAL', [ddd([ld(6), ret(A.ALLOW)])], '39'),
  c('bad filter: packet load is EINVAL', [ddd([[0x28, 0, 0, 0], ret(A.ALLOW)])], '39'),
  c('bad filter: no RET at the end', [ddd([ldNr])], '39'),
  c('ERRNO everything: the next install fails EPERM', [all(A.ERRNO | 1), all(A.ALLOW)], '39'),
  c('ERRNO 0 everything: the next install "succeeds" without installing', [all(A.ERRNO), all(A.ERRNO | 9)], '39'),
  c('KILL_THREAD everything: the next install dies', [all(A.KILL_THREAD), all(A.ALLOW)], '39'),
  c('KILL_PROCESS everything: the next install dies', [all(A.KILL_PROCESS), all(A.ALLOW)], '39'),
  c('TRAP everything: the next install traps', [all(A.TRAP | 2), all(A.ALLOW)], '39'),
];

// ---- the random set -------------------------------------------------------------------------

function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

const ARG_POOL = [0n, 1n, 5n, 7n, 0xffn, 0x80000000n, 0xffffffffn, 0x100000000n, 0x100000005n, (1n << 64n) - 1n, 0x7fff0000n, 0x50003n];

function randomCases(seed: number, count: number, i386: boolean): Case[] {
  const r = prng(seed);
  const pick = <T,>(xs: readonly T[]): T => xs[r() % xs.length]!;
  const calls = [
    { arch: 'x86_64', nr: 39 }, { arch: 'x86_64', nr: 110 }, { arch: 'x86_64', nr: 186 },
    ...(i386 ? [{ arch: 'i386', nr: 20 }, { arch: 'i386', nr: 64 }, { arch: 'i386', nr: 224 }] : []),
  ];
  const nrPool = [39, 110, 186, 20, 64, 224, 317];
  const action = (): number => {
    switch (r() % 12) {
      case 0: return A.ALLOW;
      case 1: return A.LOG;
      case 2: return A.ERRNO | (r() % 5000);
      case 3: return A.ERRNO | (r() % 40);
      case 4: return A.TRAP | (r() % 0x10000);
      case 5: return A.KILL_PROCESS;
      case 6: return A.KILL_THREAD;
      case 7: return A.TRACE | (r() % 0x10000);
      case 8: return A.USER_NOTIF;
      case 9: return pick([0x00060000, 0x7ffd0000, 0x7ff80000, 0x12340000, 0xfff00000]);
      default: return A.ALLOW | (r() % 0x10000);
    }
  };
  const u32s = (v: bigint): number[] => [Number(v & 0xffffffffn), Number((v >> 32n) & 0xffffffffn)];
  const program = (guardInstall: boolean): string => {
    const insns: Insn[] = [];
    // An older filter lets the seccomp() of the next install through (the hand table
    // covers filters that stop installs).
    if (guardInstall) insns.push(ldNr, jeq(317, 0, 1), ret(A.ALLOW));
    const blocks = 1 + (r() % 4);
    for (let b = 0; b < blocks; b++) {
      let k: number;
      switch (r() % 4) {
        case 0:
          insns.push(ldNr);
          k = pick(nrPool);
          break;
        case 1:
          insns.push(ldArch);
          k = pick([0xc000003e, 0x40000003]);
          break;
        default: {
          const i = r() % 6;
          const hi = r() % 3 === 0;
          insns.push(hi ? argHi(i) : argLo(i));
          k = pick(u32s(pick(ARG_POOL)));
        }
      }
      if (r() % 4 === 0) {
        const op = pick([0x00, 0x10, 0x20, 0x40, 0x50, 0x60, 0x70, 0xa0]); // add sub mul or and lsh rsh xor
        const opk = op === 0x60 || op === 0x70 ? r() % 32 : r() % 3 === 0 ? r() : r() % 256;
        insns.push(alu(op, opk));
      }
      const j = pick([jeq, jeq, jgt, jge, jset]);
      const onTrue = r() % 2 === 0;
      insns.push(onTrue ? j(k, 0, 1) : j(k, 1, 0), ret(action()));
    }
    if (r() % 8 === 0) insns.push(argLo(r() % 6), retA);
    else insns.push(ret(action()));
    return ddd(insns);
  };
  const out: Case[] = [];
  for (let n = 0; n < count; n++) {
    const nf = 1 + (r() % 3);
    const progs = Array.from({ length: nf }, (_, i) => program(i < nf - 1));
    const call = pick(calls);
    const nargs = r() % 7;
    const args = Array.from({ length: nargs }, () => `0x${pick(ARG_POOL).toString(16)}`);
    out.push({ name: `random #${n}`, progs, syscall: [`${call.arch === 'i386' ? 'i386:' : ''}${call.nr}`, ...args].join(' ') });
  }
  return out;
}

// ---- observations ---------------------------------------------------------------------------

const ID_CALLS = new Set(['x86_64:39', 'x86_64:110', 'x86_64:186', 'i386:20', 'i386:64', 'i386:224']);

function retObs(call: string, ret: number): string {
  const spec = parseSyscallSpec(call.split(' '));
  return ID_CALLS.has(`${spec.arch}:${spec.nr}`) && ret > 0 ? 'ret ID' : `ret ${ret}`;
}

function hostObs(k: Case, o: HostOutcome): string {
  switch (o.kind) {
    case 'ret': return retObs(k.syscall, o.ret);
    case 'trap': return `trap code=${o.si_code} errno=${o.si_errno} syscall=${o.si_syscall} arch=0x${o.si_arch.toString(16)}`;
    case 'kill_thread': return 'kill_thread';
    case 'kill_process': return `kill_process sig=${o.signal}`;
    case 'install_failed': return o.errno !== undefined ? `install_failed ${o.filter} errno=${o.errno}` : `install_failed ${o.filter} ${o.how}`;
    case 'error': return `error ${o.message}`;
  }
}

function kernelObs(k: Case, o: RunOutcome): string {
  switch (o.action) {
    case 'INSTALL_FAILED': {
      if (o.errno === null || o.errno === undefined) return `install_failed ${o.filter} ${o.how}`;
      const n = /^\d+$/.test(o.errno) ? Number(o.errno) : errnoNumber(o.errno as ErrnoName);
      return `install_failed ${o.filter} errno=${n}`;
    }
    case 'KILL_PROCESS': return `kill_process sig=${o.signal}`;
    case 'KILL_THREAD': return 'kill_thread';
    case 'TRAP': return `trap code=${o.si_code} errno=${o.si_errno} syscall=${o.si_syscall} arch=${o.si_arch}`;
    default: return retObs(k.syscall, o.ret ?? NaN);
  }
}

async function kernelRun(jit: 0 | 1, cases: readonly Case[]): Promise<string[]> {
  const k = bootKernel();
  k.sysctl.bpfJitEnable = jit;
  const out: string[] = [];
  for (const cs of cases) {
    const o = await runOne(k, cs.progs.map(parseDdd), parseSyscallSpec(cs.syscall.split(' ')));
    out.push(kernelObs(cs, o));
  }
  return out;
}

function compare(cases: readonly Case[], host: readonly HostOutcome[], kern: readonly string[], engine: string): string[] {
  const bad: string[] = [];
  cases.forEach((cs, i) => {
    const h = hostObs(cs, host[i]!);
    if (h !== kern[i]) bad.push(`${cs.name} [${engine}] host: ${h} | bpfkern: ${kern[i]}\n    progs: ${cs.progs.join(' | ')}\n    call: ${cs.syscall}`);
  });
  return bad;
}

describe.skipIf(skipReason !== '')('seccomp against the host kernel', () => {
  const hand = HAND.filter((k) => hostI386 || !k.syscall.startsWith('i386:'));

  it('the hand-written table agrees (interpreter and JIT)', async () => {
    if (!oracle.ok) return;
    const host = oracle.run(hand);
    expect(host.filter((h) => h.kind === 'error')).toEqual([]);
    const bad = [
      ...compare(hand, host, await kernelRun(0, hand), 'interp'),
      ...compare(hand, host, await kernelRun(1, hand), 'jit'),
    ];
    expect(bad).toEqual([]);
  });

  it('documents what the host did for a few of them', () => {
    if (!oracle.ok) return;
    const pick = (name: string): string => {
      const k = hand.find((x) => x.name === name)!;
      return hostObs(k, oracle.run([k])[0]!);
    };
    expect(pick('action ERRNO 4096 clamps')).toBe('ret -4095');
    expect(pick('action ERRNO 0 returns 0')).toBe('ret 0');
    expect(pick('action TRACE without tracer')).toBe('ret -38');
    expect(pick('tie ERRNO 1 then ERRNO 2')).toBe('ret -2');
    expect(pick('action KILL_THREAD')).toBe('kill_thread');
    expect(pick('unknown 0x7ffd0000 with LOG gives LOG')).toBe('ret ID');
  });

  const seed = Number(process.env['SECCOMP_DIFF_SEED'] ?? 20240601);
  const count = Number(process.env['SECCOMP_DIFF_COUNT'] ?? 200);
  it(`random small filters agree (seed ${seed}, ${count} cases, interpreter and JIT)`, async () => {
    if (!oracle.ok) return;
    const cases = randomCases(seed, count, hostI386);
    const host = oracle.run(cases);
    expect(host.filter((h) => h.kind === 'error')).toEqual([]);
    const bad = [
      ...compare(cases, host, await kernelRun(0, cases), 'interp'),
      ...compare(cases, host, await kernelRun(1, cases), 'jit'),
    ];
    expect(bad.slice(0, 10)).toEqual([]);
    // the set is varied: several kinds of outcome occur
    const kinds = new Set(host.map((h) => h.kind));
    expect(kinds.size).toBeGreaterThanOrEqual(4);
  }, 120_000);
});
