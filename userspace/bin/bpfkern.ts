#!/usr/bin/env node
/** The one command: `bpfkern <subcommand> ...` (DESIGN.md). */
import { commands, type CommandIo } from '../commands/index.js';

function usage(): string {
  const lines = commands.map((c) => `  ${c.name.padEnd(20)} ${c.summary}`);
  return `usage: bpfkern <command> [args...]\n\ncommands:\n${lines.join('\n')}\n`;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const io: CommandIo = {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    stdin: readStdin,
  };
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    io.stdout(usage());
    return name ? 0 : 2;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    io.stderr(`bpfkern: unknown command '${name}'\n${usage()}`);
    return 2;
  }
  return cmd.run(rest, io);
}

// `bpfkern ... | head` closes our stdout early: stop quietly, as the real tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`bpfkern: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 70;
  },
);
