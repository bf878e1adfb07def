/**
 * `bpfkern mount DIR [--workload demo|idle|pcap:FILE] [--seed N] [--interval MS]`:
 * boots a kernel, serves its files on DIR through FUSE, starts a workload, and stays up
 * until SIGINT/SIGTERM, when it stops the workload and unmounts. A stale mount left on
 * DIR by a killed run is cleaned (fusermount -uz) first. Without FUSE it says exactly
 * what to install and exits 1.
 */
import { bootKernel } from '../../index.js';
import { parseArgs } from 'node:util';
import type { Kernel } from '../../kernel/kernel.js';
import { isFuseProblem, loadFuse, mountKernel } from '../../fs/fuse/index.js';
import { startWorkload, workloads } from '../workloads/index.js';
import type { Command, CommandIo } from './index.js';

const USAGE = `usage: bpfkern mount DIR [--workload ${workloads.filter((w) => w.name !== 'pcap').map((w) => w.name).join('|')}|pcap:FILE] [--seed N] [--interval MS]\n`;

/** The booted kernel with every subsystem (bootKernel is the composition root). */
async function boot(seed: number): Promise<Kernel> {
  return bootKernel({ seed });
}

function tryLines(dir: string): string {
  const t = `${dir}/sys/kernel/tracing`;
  return [
    'Try:',
    `  cat ${dir}/proc/sys/net/core/bpf_jit_enable`,
    `  echo 2 > ${dir}/proc/sys/net/core/bpf_jit_enable`,
    `  cat ${dir}/proc/self/status 2>/dev/null || ls ${dir}/proc`,
    `  echo 1 > ${t}/events/signal/enable; cat ${t}/trace_pipe`,
    `  echo 'sig == 17' > ${t}/events/signal/signal_generate/filter`,
    `  ls ${dir}/sys/fs/bpf ${dir}/sys/kernel/debug/bpfkern/programs`,
    `  cat ${dir}/sys/kernel/debug/bpfkern/sockets/*/info`,
    `  echo 'ret #0' > ${dir}/sys/kernel/debug/bpfkern/sockets/ID/filter`,
    'Ctrl-C unmounts.',
    '',
  ].join('\n');
}

export async function runMount(argv: string[], io: CommandIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        workload: { type: 'string', default: 'demo' },
        seed: { type: 'string', default: '1' },
        interval: { type: 'string' },
        debug: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    io.stderr(`bpfkern: ${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(USAGE);
    return 0;
  }
  const dir = positionals[0];
  if (!dir || positionals.length > 1) {
    io.stderr(`bpfkern: mount needs one directory\n${USAGE}`);
    return 2;
  }
  const seed = Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) {
    io.stderr(`bpfkern: --seed must be a non-negative integer, not '${values.seed}'\n`);
    return 2;
  }
  const interval = values.interval === undefined ? undefined : Number(values.interval);
  if (interval !== undefined && !(interval > 0)) {
    io.stderr(`bpfkern: --interval must be a positive number of milliseconds\n`);
    return 2;
  }

  const fuse = loadFuse();
  if (isFuseProblem(fuse)) {
    io.stderr(`bpfkern: cannot mount: ${fuse.reason}\nbpfkern: to fix: ${fuse.fix}\n`);
    return 1;
  }

  const kernel = await boot(seed);
  let mount;
  try {
    mount = await mountKernel(kernel, dir, { debug: values.debug });
  } catch (e) {
    io.stderr(`bpfkern: cannot mount ${dir}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  let workload;
  try {
    workload = startWorkload(kernel, values.workload, seed, interval);
  } catch (e) {
    await mount.unmount();
    io.stderr(`bpfkern: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
  io.stdout(`bpfkern: mounted on ${mount.mnt} (workload ${values.workload}, seed ${seed})\n${tryLines(dir)}`);

  const sig = await new Promise<NodeJS.Signals>((res) => {
    process.once('SIGINT', () => res('SIGINT'));
    process.once('SIGTERM', () => res('SIGTERM'));
    process.once('SIGHUP', () => res('SIGHUP'));
  });
  io.stderr(`bpfkern: ${sig}: unmounting ${mount.mnt}\n`);
  // Unmount first: a new `bpfkern mount` on the same directory may start as soon as the
  // mount point is free, and a late unmount from this process would remove its mount.
  await mount.unmount();
  await workload.stop();
  io.stderr(`bpfkern: unmounted\n`);
  // fuse-native's thread handle can keep the event loop alive after unmount; leave
  // shortly after the bin has set the exit status.
  setTimeout(() => process.exit(), 300).unref();
  return 0;
}

export const mountCommand: Command = {
  name: 'mount',
  summary: 'boot a kernel and serve its files on DIR (FUSE) with a workload',
  run: runMount,
};
