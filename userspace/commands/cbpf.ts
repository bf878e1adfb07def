/**
 * `bpfkern cbpf run --prog "N,code jt jf k,..." --packet HEX [--packet HEX ...]`
 * `bpfkern cbpf run --batch`            stdin lines: `PROG|HEX HEX ...`
 *
 * Boots a kernel, opens an AF_PACKET SOCK_RAW (ETH_P_ALL) socket on eth0 as a task, attaches
 * the program with SO_ATTACH_FILTER and delivers each packet as a frame arriving on eth0
 * (whole frames, as tcpdump's filter sees them). One JSON line per program:
 *   {"attached":true,"errno":null,"results":[{"len":50,"received":50},{"len":2,"received":0}]}
 *   {"attached":false,"errno":"EINVAL"}
 * Exit 0 unless the usage is wrong (2). The form matches the host oracle's cbpf-run.
 */
import { Kernel } from '../../kernel/kernel.js';
import { errnoName, isKernelError } from '../../kernel/errno.js';
import { parseClassic } from '../../kernel/bpf/classic/text.js';
import { parseHexBytes } from '../../kernel/bpf/isa.js';
import { registerTasks } from '../../kernel/process.js';
import { registerNetProgTypes } from '../../subsystems/net/progtypes.js';
import { registerNet, netifRx } from '../../subsystems/net/index.js';
import { SyscallError, type Proc } from '../libc/process.js';
import { AF_PACKET, ETH_P_ALL, MSG_DONTWAIT, SOCK_RAW, attachFilter, bind, close, htons, recvfrom, socket } from '../libc/net.js';
import { parseCommandArgs } from './args.js';
import type { Command, CommandIo } from './index.js';

export interface CbpfResult {
  attached: boolean;
  errno: string | null;
  results?: { len: number; received: number }[];
}

/** Runs one program over packets on a fresh socket of an already booted kernel. */
export async function cbpfRun(p: Proc, progText: string, packets: readonly Uint8Array[]): Promise<CbpfResult> {
  let filter;
  try {
    filter = parseClassic(progText);
  } catch (e) {
    if (isKernelError(e)) return { attached: false, errno: e.errno };
    throw e;
  }
  const fd = await socket(p, AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  try {
    await bind(p, fd, { family: AF_PACKET, protocol: ETH_P_ALL, ifindex: 2 });
    try {
      await attachFilter(p, fd, filter);
    } catch (e) {
      if (e instanceof SyscallError) return { attached: false, errno: errnoName(e.errno) ?? String(e.errno) };
      throw e;
    }
    const results: { len: number; received: number }[] = [];
    for (const pkt of packets) {
      netifRx(p.kernel, 'eth0', pkt);
      let received = 0;
      try {
        received = (await recvfrom(p, fd, 65536, MSG_DONTWAIT)).n;
      } catch (e) {
        if (!(e instanceof SyscallError)) throw e; // EAGAIN: dropped
      }
      results.push({ len: pkt.length, received });
    }
    return { attached: true, errno: null, results };
  } finally {
    await close(p, fd);
  }
}

function bootForCbpf(): Proc {
  const kernel = new Kernel();
  registerTasks(kernel);
  registerNetProgTypes(kernel);
  registerNet(kernel);
  return { kernel, task: kernel.tasks.spawn({ comm: 'cbpf' }) };
}

function packetsOf(list: readonly string[]): Uint8Array[] | null {
  const out: Uint8Array[] = [];
  for (const h of list) {
    const b = h === '-' ? new Uint8Array(0) : parseHexBytes(h);
    if (!b) return null;
    out.push(b);
  }
  return out;
}

const USAGE = 'usage: bpfkern cbpf run --prog "N,code jt jf k,..." [--packet HEX]... | bpfkern cbpf run --batch\n';

async function run(argv: string[], io: CommandIo): Promise<number> {
  const values = parseCommandArgs(
    argv,
    'run',
    { prog: { type: 'string' }, packet: { type: 'string', multiple: true }, batch: { type: 'boolean' } },
    USAGE,
    io,
  );
  if (values === null) return 2;
  const p = bootForCbpf();
  if (values.batch) {
    for (const line of (await io.stdin()).split('\n')) {
      if (line.trim() === '') continue;
      const bar = line.indexOf('|');
      const progText = bar < 0 ? line : line.slice(0, bar);
      const pkts = packetsOf(bar < 0 ? [] : line.slice(bar + 1).trim().split(/\s+/).filter((s) => s !== ''));
      if (!pkts) {
        io.stderr(`bpfkern: bad packet hex in line: ${line}\n`);
        return 2;
      }
      io.stdout(`${JSON.stringify(await cbpfRun(p, progText, pkts))}\n`);
    }
    return 0;
  }
  if (values.prog === undefined) {
    io.stderr(USAGE);
    return 2;
  }
  const pkts = packetsOf(values.packet ?? []);
  if (!pkts) {
    io.stderr('bpfkern: --packet takes hex bytes (or - for an empty packet)\n');
    return 2;
  }
  io.stdout(`${JSON.stringify(await cbpfRun(p, values.prog, pkts))}\n`);
  return 0;
}

export const cbpfCommand: Command = { name: 'cbpf', summary: 'run classic BPF socket filters (cbpf run --prog ... --packet ...)', run };
