/**
 * `bpfkern trace bench --event SYS:EVENT --filter EXPR [--events N] [--json]`
 *
 * Builds N records of the event with varied field values and prints the cost per event
 * of the filter check for: no filter, the predicate walker, the compiled filter on the
 * interpreter and on the JIT (when it takes the program), and how many records each let
 * through (they must be equal; the command exits 1 if not). A filter the parser rejects
 * is reported as the event's filter file would show it (caret and parse_error), exit 1.
 */
import { Kernel } from '../../kernel/kernel.js';
import { isKernelError } from '../../kernel/errno.js';
import { benchFilter } from '../../subsystems/tracing/bench.js';
import { FilterError } from '../../subsystems/tracing/filter/index.js';
import { renderFilterError } from '../../subsystems/tracing/trace.js';
import { parseCommandArgs } from './args.js';
import type { Command, CommandIo } from './index.js';

const USAGE = 'usage: bpfkern trace bench --event SYS:EVENT --filter EXPR [--events N] [--json]\n';

async function run(argv: string[], io: CommandIo): Promise<number> {
  const values = parseCommandArgs(
    argv,
    'bench',
    {
      event: { type: 'string', default: 'signal:signal_generate' },
      filter: { type: 'string' },
      events: { type: 'string', default: '100000' },
      json: { type: 'boolean', default: false },
    },
    USAGE,
    io,
  );
  if (values === null) return 2;
  const [system, event] = values.event.split(':');
  const n = Number(values.events);
  if (!system || !event || values.filter === undefined || !Number.isInteger(n) || n <= 0) {
    io.stderr(USAGE);
    return 2;
  }
  const kernel = new Kernel(); // the filter check needs no other subsystem
  try {
    const { rows } = benchFilter(kernel, system, event, values.filter, n);
    const agree = rows.slice(1).every((r) => r.passed === rows[1]!.passed);
    if (values.json) {
      io.stdout(`${JSON.stringify({ event: values.event, filter: values.filter, events: n, agree, rows })}\n`);
    } else {
      io.stdout(`${values.event} filter: ${values.filter}  (${n} events)\n`);
      for (const r of rows) io.stdout(`${r.name.padEnd(24)} ${r.nsPerEvent.toFixed(1).padStart(9)} ns/event  ${String(r.passed).padStart(9)} passed\n`);
      if (!agree) io.stdout('MISMATCH: the evaluators disagree\n');
    }
    return agree ? 0 : 1;
  } catch (e) {
    if (e instanceof FilterError) {
      // What the event's filter file would show after the same write.
      io.stderr(`bpfkern: bad filter (${e.errno})\n${renderFilterError(values.filter, e)}`);
      return 1;
    }
    if (isKernelError(e)) {
      io.stderr(`bpfkern: ${e.detail}\n`);
      return 1;
    }
    throw e;
  }
}

export const traceCommand: Command = { name: 'trace', summary: 'tracing tools (trace bench --event SYS:EVENT --filter EXPR)', run };
