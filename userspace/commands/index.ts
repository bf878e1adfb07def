/**
 * The subcommands of `bpfkern`, one line each. A command gets its argv (after the
 * subcommand name) and the process's stdio, and returns the exit status. Commands report
 * kernel errors as `bpfkern: <message>` and exit non-zero, except where an issue asks for
 * JSON output that carries the errno instead.
 */
import { conformancePluginCommand } from './conformance-plugin.js';
import { tcpdumpCommand } from './tcpdump.js';
import { mountCommand } from './mount.js';
import { ebpfCommand } from './ebpf.js';
import { bpftoolCommand } from './bpftool.js';
import { cbpfCommand } from './cbpf.js';
import { seccompCommand } from './seccomp.js';
import { traceCommand } from './trace.js';

export interface CommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** All of standard input (read on demand). */
  stdin: () => Promise<string>;
}

export interface Command {
  name: string;
  summary: string;
  run: (argv: string[], io: CommandIo) => Promise<number>;
}

export const commands: Command[] = [
  conformancePluginCommand,
  tcpdumpCommand,
  mountCommand,
  ebpfCommand,
  bpftoolCommand,
  cbpfCommand,
  seccompCommand,
  // one line per command module, e.g. ebpfCommand,
  traceCommand,
];
