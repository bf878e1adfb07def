/**
 * The filter file's language and its errors, through tracefs as a user sees them: the
 * write's errno, what the filter file reads back, and the error_log entry. Expected texts
 * were observed on Linux 6.18 (tracefs-filter oracle); the one deliberate difference is
 * the bare word compared with a string field (`comm != bash`), accepted here.
 */
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../../index.js';
import { FsError } from '../../../fs/api.js';

const EV = '/sys/kernel/tracing/events/signal/signal_generate';

interface Case {
  filter: string;
  errno: string | null;
  readback: string;
  /** error_log after the write, without the timestamp. */
  log?: string;
}

const CASES: Case[] = [
  { filter: 'sig == 1', errno: null, readback: 'sig == 1\n' },
  { filter: '((sig >= 10 && sig < 15) || sig == 17) && comm != "bash"', errno: null, readback: '((sig >= 10 && sig < 15) || sig == 17) && comm != "bash"\n' },
  // Deliberate difference: Linux 6.x answers "Invalid value (did you forget quotes)?".
  { filter: '((sig >= 10 && sig < 15) || sig == 17) && comm != bash', errno: null, readback: '((sig >= 10 && sig < 15) || sig == 17) && comm != bash\n' },
  { filter: '(sig == 1', errno: 'ENOENT', readback: "(sig == 1\n^\nparse_error: Too many '('\n\n", log: "event filter parse error: error: Too many '('\n  Command: (sig == 1\n           ^\n" },
  { filter: 'sig == 1)', errno: 'EPERM', readback: "sig == 1)\n        ^\nparse_error: Too few '('\n\n", log: "event filter parse error: error: Too few '('\n  Command: sig == 1)\n                   ^\n" },
  { filter: 'sig == 1 &&', errno: null, readback: 'sig == 1 &&\n' },
  { filter: 'sig == 1 ||', errno: null, readback: 'sig == 1 ||\n' },
  { filter: '&& sig == 1', errno: 'EPERM', readback: '&& sig == 1\nError: (0)\n\n', log: 'event filter parse error: error: Error\n  Command: && sig == 1\n           ^\n' },
  { filter: '== 1', errno: 'EPERM', readback: '== 1\nError: (0)\n\n' },
  { filter: '', errno: 'EINVAL', readback: '\nError: (0)\n\n' },
  { filter: '()', errno: 'EINVAL', readback: '()\nError: (0)\n\n' },
  { filter: 'sig =< 3', errno: 'EINVAL', readback: 'sig =< 3\n     ^\nparse_error: Invalid operator\n\n', log: 'event filter parse error: error: Invalid operator\n  Command: sig =< 3\n                ^\n' },
  { filter: '!sig', errno: 'EINVAL', readback: '!sig\n    ^\nparse_error: Invalid operator\n\n', log: 'event filter parse error: error: Invalid operator\n  Command: !sig\n                ^\n' },
  { filter: 'comm > "a"', errno: 'EINVAL', readback: 'comm > "a"\n        ^\nparse_error: Illegal operation for field type\n\n' },
  { filter: 'sig ~ "1*"', errno: 'EINVAL', readback: 'sig ~ "1*"\n       ^\nparse_error: Expecting numeric field\n\n' },
  { filter: 'sig == "abc"', errno: 'EINVAL', readback: 'sig == "abc"\n        ^\nparse_error: Expecting numeric field\n\n' },
  { filter: 'sig == 123456789012345678901234', errno: 'EINVAL', readback: 'sig == 123456789012345678901234\n                               ^\nparse_error: Operand too long\n\n', log: 'event filter parse error: error: Operand too long\n  Command: sig == 123456789012345678901234\n                                           ^\n' },
  { filter: 'sig == -1', errno: null, readback: 'sig == -1\n' },
  { filter: 'sig == 0x10', errno: null, readback: 'sig == 0x10\n' },
  { filter: 'sig == 010', errno: null, readback: 'sig == 010\n' },
  { filter: 'sig == 1a', errno: 'EINVAL', readback: 'sig == 1a\n        ^\nparse_error: Illegal integer value\n\n' },
  { filter: 'sig == 09', errno: 'EINVAL', readback: 'sig == 09\n        ^\nparse_error: Illegal integer value\n\n' },
  { filter: 'sig == -', errno: 'EINVAL', readback: 'sig == -\n        ^\nparse_error: Illegal integer value\n\n' },
  { filter: 'sig == 18446744073709551615', errno: 'EINVAL', readback: 'sig == 18446744073709551615\n        ^\nparse_error: Illegal integer value\n\n' },
  { filter: 'sig == 4294967296', errno: null, readback: 'sig == 4294967296\n' },
  { filter: 'comm == "ba', errno: 'ESRCH', readback: 'comm == "ba\n        ^\nparse_error: Missing matching quote\n\n' },
  { filter: "comm == 'bash'", errno: null, readback: "comm == 'bash'\n" },
  { filter: 'CPU == 1', errno: null, readback: 'CPU == 1\n' },
  { filter: 'CPU ~ "1"', errno: 'EINVAL', readback: 'CPU ~ "1"\n       ^\nparse_error: Expecting numeric field\n\n' },
  { filter: 'common_comm == "x"', errno: 'EINVAL', readback: 'common_comm == "x"\n            ^\nparse_error: Field not found\n\n' },
  { filter: 'nosuch == 1', errno: 'EINVAL', readback: 'nosuch == 1\n       ^\nparse_error: Field not found\n\n', log: 'event filter parse error: error: Field not found\n  Command: nosuch == 1\n                  ^\n' },
  { filter: 'sig &1', errno: null, readback: 'sig &1\n' },
  { filter: 'sig == 1 & sig == 2', errno: 'EPERM', readback: 'sig == 1 & sig == 2\n         ^\nparse_error: Too many terms in predicate expression\n\n' },
  { filter: 'sig == 1 sig == 2', errno: 'EPERM', readback: 'sig == 1 sig == 2\n         ^\nparse_error: Too many terms in predicate expression\n\n' },
  { filter: 'sig == 1.5', errno: 'EPERM', readback: 'sig == 1.5\n        ^\nparse_error: Too many terms in predicate expression\n\n' },
  { filter: 'sig == 1 && (sig == 2 || )', errno: 'EPERM', readback: 'sig == 1 && (sig == 2 || )\nError: (0)\n\n' },
  { filter: 'sig ==', errno: 'EINVAL', readback: 'sig ==\n      ^\nparse_error: Invalid value (did you forget quotes)?\n\n', log: 'event filter parse error: error: Invalid value (did you forget quotes)?\n  Command: sig ==\n                  ^\n' },
  { filter: 'sig == abc', errno: 'EINVAL', readback: 'sig == abc\n        ^\nparse_error: Invalid value (did you forget quotes)?\n\n' },
  { filter: 'sig == +1', errno: 'EINVAL', readback: 'sig == +1\n        ^\nparse_error: Invalid value (did you forget quotes)?\n\n' },
  { filter: 'sig', errno: 'EINVAL', readback: 'sig\n   ^\nparse_error: Invalid operator\n\n' },
  { filter: 'sig 1', errno: 'EINVAL', readback: 'sig 1\n     ^\nparse_error: Invalid operator\n\n' },
  { filter: '    sig == 1   ', errno: null, readback: '    sig == 1\n' },
  { filter: ')sig == 1(', errno: 'EPERM', readback: ")sig == 1(\n^\nparse_error: Too few '('\n\n" },
  { filter: 'sig == 1 && ((pid == 2)', errno: 'ENOENT', readback: "sig == 1 && ((pid == 2)\n            ^\nparse_error: Too many '('\n\n", log: "event filter parse error: error: Too many '('\n  Command: sig == 1 && ((pid == 2)\n                       ^\n" },
  { filter: 'sig == 0b1', errno: 'EINVAL', readback: 'sig == 0b1\n        ^\nparse_error: Illegal integer value\n\n' },
  { filter: '!!sig == 1', errno: null, readback: '!!sig == 1\n' },
  { filter: 'sig < 1 && sig > 2 || sig == 3 && !sig == 4', errno: null, readback: 'sig < 1 && sig > 2 || sig == 3 && !sig == 4\n' },
];

function write(k: ReturnType<typeof bootKernel>, path: string, text: string): string | null {
  try {
    k.fs.writeFileSync(path, text);
    return null;
  } catch (e) {
    if (e instanceof FsError) return e.code;
    throw e;
  }
}

describe('event filter parse errors (Linux 6.18 texts)', () => {
  it.each(CASES)('$filter', ({ filter, errno, readback, log }) => {
    const k = bootKernel();
    expect(write(k, `${EV}/filter`, `${filter}\n`)).toBe(errno);
    expect(k.fs.readFileSync(`${EV}/filter`, 'utf8')).toBe(readback);
    const elog = (k.fs.readFileSync('/sys/kernel/tracing/error_log', 'utf8') as string).replace(/^\[[ \d]+\.\d{6}\] /gm, '');
    if (errno === null) expect(elog).toBe('');
    else expect(elog).not.toBe('');
    if (log !== undefined) expect(elog).toBe(log);
  });

  it('reads none without a filter and after writing 0', () => {
    const k = bootKernel();
    expect(k.fs.readFileSync(`${EV}/filter`, 'utf8')).toBe('none\n');
    k.fs.writeFileSync(`${EV}/filter`, 'sig == 9\n');
    k.fs.writeFileSync(`${EV}/filter`, '0\n');
    expect(k.fs.readFileSync(`${EV}/filter`, 'utf8')).toBe('none\n');
  });

  it('keeps the last 8 error_log entries', () => {
    const k = bootKernel();
    for (let i = 0; i < 11; i++) write(k, `${EV}/filter`, `nosuch${i} == 1\n`);
    const elog = k.fs.readFileSync('/sys/kernel/tracing/error_log', 'utf8') as string;
    const commands = [...elog.matchAll(/Command: (\S+)/g)].map((m) => m[1]);
    expect(commands).toEqual(['nosuch3', 'nosuch4', 'nosuch5', 'nosuch6', 'nosuch7', 'nosuch8', 'nosuch9', 'nosuch10']);
    k.fs.writeFileSync('/sys/kernel/tracing/error_log', '\n');
    expect(k.fs.readFileSync('/sys/kernel/tracing/error_log', 'utf8')).toBe('');
  });

  it('applies a subsystem filter to the events that have the fields', () => {
    const k = bootKernel();
    k.fs.writeFileSync('/sys/kernel/tracing/events/signal/filter', 'sig == 1\n');
    expect(k.fs.readFileSync(`${EV}/filter`, 'utf8')).toBe('sig == 1\n');
    expect(k.fs.readFileSync('/sys/kernel/tracing/events/signal/signal_deliver/filter', 'utf8')).toBe('sig == 1\n');
    k.fs.writeFileSync('/sys/kernel/tracing/events/sched/filter', 'sig == 1\n');
    expect(k.fs.readFileSync('/sys/kernel/tracing/events/sched/sched_switch/filter', 'utf8')).toBe(
      "sig == 1\n^\nparse_error: Couldn't find or set field in one of a subsystem's events\n\n",
    );
    expect(k.fs.readFileSync('/sys/kernel/tracing/events/sched/filter', 'utf8')).toMatch(/^### global filter ###/);
  });
});
