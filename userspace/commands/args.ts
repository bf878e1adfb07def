/** The option parsing the `bpfkern <command> <sub> --option...` commands share. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { CommandIo } from './index.js';

type Options = NonNullable<ParseArgsConfig['options']>;
type Values<O extends Options> = ReturnType<typeof parseArgs<{ options: O; strict: true; allowPositionals: false }>>['values'];

/**
 * Parses argv strictly (no positionals) against `options`. With `sub`, argv[0] must be
 * that subcommand (the options follow it); otherwise argv is all options. On a wrong
 * subcommand it writes `usage` to stderr, on a bad option `bpfkern: <why>` and `usage`,
 * and returns null: the command then exits 2.
 */
export function parseCommandArgs<const O extends Options>(
  argv: readonly string[],
  sub: string | null,
  options: O,
  usage: string,
  io: CommandIo,
): Values<O> | null {
  if (sub !== null && argv[0] !== sub) {
    io.stderr(usage);
    return null;
  }
  try {
    return parseArgs({ args: sub === null ? [...argv] : argv.slice(1), options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    io.stderr(`bpfkern: ${e instanceof Error ? e.message : String(e)}\n${usage}`);
    return null;
  }
}
