/**
 * `bpfkern ebpf run --prog HEX [--type socket_filter] [--data HEX] [--repeat N] [--jit 0|1]
 *  [--log-level N]` and `bpfkern ebpf run --batch [options]` (stdin: `PROGHEX [DATAHEX]`
 * per line): load a program with BPF_PROG_LOAD and test-run it with BPF_PROG_TEST_RUN on
 * a fresh kernel, printing one JSON line per program in the host oracle's shape:
 *
 *   {"loaded":true,"retval":7,"duration_ns":40,"errno":null,"log":"...","jited":false}
 *   {"loaded":false,"retval":null,"duration_ns":null,"errno":"EACCES","log":"...","jited":false}
 *
 * A failed test run (e.g. data shorter than 14 bytes) keeps "loaded":true, gives
 * retval null and names the errno in "run_errno". The exit status is 0 whatever the
 * kernel said; only bad usage exits 2. Outside scripts rely on this syntax and output.
 */
import { BPF_PROG_TYPE, parseHexBytes } from '../../kernel/bpf/isa.js';
import { errnoName } from '../../kernel/errno.js';
import type { BootOptions, Kernel } from '../../kernel/kernel.js';
import { bootKernel } from '../../index.js';
import { bpfObjGetInfoByFd, bpfProgLoad, bpfProgTestRun } from '../libc/bpf.js';
import { SyscallError, sys, type Proc } from '../libc/process.js';
import { parseCommandArgs } from './args.js';
import type { Command, CommandIo } from './index.js';

const USAGE =
  'usage: bpfkern ebpf run --prog HEX [--type socket_filter|sched_cls|N] [--data HEX] [--repeat N] [--jit 0|1] [--log-level N]\n' +
  '       bpfkern ebpf run --batch [same options]    (stdin: "PROGHEX [DATAHEX]" per line)\n';

/** The oracle's default packet: Ethernet + IPv4 + UDP 12345 -> 53 with "data----" (50 bytes). */
export const DEFAULT_FRAME_HEX =
  '00112233445566778899aabb08004500002412344000401100000a0000010a0000023039003500100000646174612d2d2d2d';

/** A kernel for a CLI process: every CLI invocation boots its own (seeded) kernel. */
export function bootCliKernel(opts: BootOptions = {}): Kernel {
  return bootKernel(opts);
}

export function cliProc(kernel: Kernel, comm: string): Proc {
  return { kernel, task: kernel.tasks.spawn({ comm }) };
}

const PROG_TYPE_NAMES: Readonly<Record<string, number>> = {
  socket_filter: BPF_PROG_TYPE.BPF_PROG_TYPE_SOCKET_FILTER,
  kprobe: BPF_PROG_TYPE.BPF_PROG_TYPE_KPROBE,
  sched_cls: BPF_PROG_TYPE.BPF_PROG_TYPE_SCHED_CLS,
  sched_act: BPF_PROG_TYPE.BPF_PROG_TYPE_SCHED_ACT,
  tracepoint: BPF_PROG_TYPE.BPF_PROG_TYPE_TRACEPOINT,
  xdp: BPF_PROG_TYPE.BPF_PROG_TYPE_XDP,
  raw_tracepoint: BPF_PROG_TYPE.BPF_PROG_TYPE_RAW_TRACEPOINT,
  cgroup_skb: BPF_PROG_TYPE.BPF_PROG_TYPE_CGROUP_SKB,
};

export function parseProgType(text: string): number | null {
  if (text in PROG_TYPE_NAMES) return PROG_TYPE_NAMES[text]!;
  return /^\d+$/.test(text) ? Number(text) : null;
}

export interface RunResult {
  loaded: boolean;
  retval: number | null;
  duration_ns: number | null;
  errno: string | null;
  log: string;
  jited: boolean;
  run_errno?: string;
}

const nameOf = (no: number): string => errnoName(no) ?? String(no);

/** Loads and test-runs one program on `p`'s kernel; closes the fd after. */
export async function loadAndRun(
  p: Proc,
  opts: { prog: Uint8Array; type: number; data: Uint8Array; repeat: number; logLevel: number },
): Promise<RunResult> {
  const { fd, log } = await bpfProgLoad(p, { type: opts.type, insns: opts.prog, logLevel: opts.logLevel });
  if (fd < 0) return { loaded: false, retval: null, duration_ns: null, errno: nameOf(-fd), log, jited: false };
  try {
    const info = await bpfObjGetInfoByFd(p, fd);
    const jited = info.kind === 'prog' && info.jited_prog_len > 0 && p.kernel.sysctl.bpfJitEnable !== 0;
    try {
      const r = await bpfProgTestRun(p, fd, { data: opts.data, repeat: opts.repeat });
      return { loaded: true, retval: r.retval, duration_ns: r.duration, errno: null, log, jited };
    } catch (e) {
      if (!(e instanceof SyscallError)) throw e;
      return { loaded: true, retval: null, duration_ns: null, errno: null, log, jited, run_errno: nameOf(e.errno) };
    }
  } finally {
    await sys(p, 'close', fd);
  }
}

async function run(argv: string[], io: CommandIo): Promise<number> {
  const bad = (msg: string): number => {
    io.stderr(`bpfkern: ${msg}\n${USAGE}`);
    return 2;
  };
  if (argv[0] !== 'run') return bad(argv[0] ? `unknown ebpf subcommand '${argv[0]}'` : 'missing subcommand');
  const values = parseCommandArgs(
    argv.slice(1),
    null,
    {
      prog: { type: 'string' },
      type: { type: 'string', default: 'socket_filter' },
      data: { type: 'string' },
      repeat: { type: 'string', default: '1' },
      jit: { type: 'string' },
      'log-level': { type: 'string', default: '1' },
      batch: { type: 'boolean', default: false },
    },
    USAGE,
    io,
  );
  if (values === null) return 2;
  const type = parseProgType(values.type);
  if (type === null) return bad(`unknown program type '${values.type}'`);
  const repeat = Number(values.repeat);
  if (!Number.isInteger(repeat) || repeat < 0) return bad(`bad --repeat '${values.repeat}'`);
  const logLevel = Number(values['log-level']);
  if (!Number.isInteger(logLevel) || logLevel < 0) return bad(`bad --log-level '${values['log-level']}'`);
  let jit: 0 | 1 | null = null;
  if (values.jit !== undefined) {
    if (values.jit !== '0' && values.jit !== '1') return bad(`bad --jit '${values.jit}' (0 or 1)`);
    jit = values.jit === '1' ? 1 : 0;
  }
  const defaultData = parseHexBytes(values.data ?? DEFAULT_FRAME_HEX);
  if (!defaultData) return bad('--data is not hex');

  const kernel = bootCliKernel();
  if (jit !== null) kernel.sysctl.bpfJitEnable = jit;
  const p = cliProc(kernel, 'ebpf');
  const one = async (progHex: string, data: Uint8Array): Promise<string> => {
    const prog = parseHexBytes(progHex);
    if (!prog || prog.length % 8 !== 0) {
      return JSON.stringify({ loaded: false, retval: null, duration_ns: null, errno: 'EINVAL', log: 'bad program hex\n', jited: false });
    }
    return JSON.stringify(await loadAndRun(p, { prog, type, data, repeat, logLevel }));
  };

  if (values.batch) {
    if (values.prog !== undefined) return bad('--batch reads programs from stdin; drop --prog');
    const input = await io.stdin();
    for (const line of input.split('\n')) {
      const [progHex, dataHex] = line.trim().split(/\s+/);
      if (!progHex) continue;
      const data = dataHex !== undefined ? parseHexBytes(dataHex) : defaultData;
      if (!data) {
        io.stdout(`${JSON.stringify({ loaded: false, retval: null, duration_ns: null, errno: 'EINVAL', log: 'bad data hex\n', jited: false })}\n`);
        continue;
      }
      io.stdout(`${await one(progHex, data)}\n`);
    }
    return 0;
  }
  if (values.prog === undefined) return bad('--prog is required');
  if (!parseHexBytes(values.prog)) return bad('--prog is not hex');
  io.stdout(`${await one(values.prog, defaultData)}\n`);
  return 0;
}

export const ebpfCommand: Command = {
  name: 'ebpf',
  summary: 'load and test-run an eBPF program (ebpf run --prog HEX ...)',
  run,
};
