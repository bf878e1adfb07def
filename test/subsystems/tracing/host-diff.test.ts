/**
 * Differential test against the host's tracefs (Linux 6.x): each filter is written to
 * signal_generate in a private tracing instance and to bpfkern's; acceptance, errno, the
 * filter file's text and the error_log entry (timestamp aside) must be the same. Skipped
 * where tracefs is not mounted or not writable. The bare-word filter is left out: it is
 * the one deliberate difference (README.md).
 */
import * as nodefs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { bootKernel } from '../../../index.js';
import { FsError } from '../../../fs/api.js';

const HOST = '/sys/kernel/tracing';
const INSTANCE = `${HOST}/instances/bpfkern-test-${process.pid}`;

function hostAvailable(): string | null {
  try {
    nodefs.mkdirSync(INSTANCE);
    return null;
  } catch (e) {
    return `host tracefs unavailable: ${(e as Error).message}`;
  }
}

const skipReason = hostAvailable();

const FILTERS = [
  'sig == 1', '(sig == 1', 'sig == 1)', 'sig == 1 &&', '&& sig == 1', '', '()', 'sig =< 3', '!sig', 'comm > "a"',
  'sig ~ "1*"', 'sig == "abc"', 'sig == -1', 'sig == 0x10', 'sig == 1a', 'comm == "ba', 'CPU == 1', 'nosuch == 1',
  'sig == 1 & sig == 2', 'sig ==', 'sig == abc', '    sig == 1   ', 'sig == 1 && ((pid == 2)', 'common_flags == 1',
  '((sig >= 10 && sig < 15) || sig == 17) && comm != "bash"', 'comm ~ "b?sh" || !(pid < 100)',
];

function host(filter: string): { errno: string | null; readback: string; log: string } {
  const ev = `${INSTANCE}/events/signal/signal_generate/filter`;
  nodefs.writeFileSync(`${INSTANCE}/error_log`, '');
  let errno: string | null = null;
  try {
    nodefs.writeFileSync(ev, `${filter}\n`);
  } catch (e) {
    errno = (e as NodeJS.ErrnoException).code ?? 'E?';
  }
  const readback = nodefs.readFileSync(ev, 'utf8');
  const log = nodefs.readFileSync(`${INSTANCE}/error_log`, 'utf8').replace(/^\[[ \d]+\.\d{6}\] /gm, '');
  nodefs.writeFileSync(ev, '0\n');
  return { errno, readback, log };
}

function ours(filter: string): { errno: string | null; readback: string; log: string } {
  const k = bootKernel();
  const ev = '/sys/kernel/tracing/events/signal/signal_generate/filter';
  let errno: string | null = null;
  try {
    k.fs.writeFileSync(ev, `${filter}\n`);
  } catch (e) {
    if (!(e instanceof FsError)) throw e;
    errno = e.code;
  }
  const readback = k.fs.readFileSync(ev, 'utf8') as string;
  const log = (k.fs.readFileSync('/sys/kernel/tracing/error_log', 'utf8') as string).replace(/^\[[ \d]+\.\d{6}\] /gm, '');
  return { errno, readback, log };
}

describe.skipIf(skipReason !== null)(`filters vs the host tracefs${skipReason ? ` (${skipReason})` : ''}`, () => {
  afterAll(() => {
    try {
      nodefs.rmdirSync(INSTANCE);
    } catch {
      /* already gone */
    }
  });
  it.each(FILTERS)('%s', (filter) => {
    expect(ours(filter)).toEqual(host(filter));
  });
});
