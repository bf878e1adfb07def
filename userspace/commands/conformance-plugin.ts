/**
 * `bpfkern conformance-plugin [MEM] [--jit 0|1]`: the plugin protocol of the bpf_conformance
 * runner (Alan-Jowett/bpf_conformance). The runner writes the program as hex bytes on
 * stdin (`b4  00  00 ...`), passes the memory in the same form as the first argument
 * (an empty string when the test has none) and its plugin options as one more argument,
 * then reads r0 from stdout as hex (it parses with strtoull base 16), or, on a non-zero
 * exit, compares stdout with the test's expected error text.
 *
 * The run follows the suite's model (kernel/bpf/conformance.ts): r1 = memory, r2 = its
 * length, helper 5 returns r1. Programs run unverified, as the runner expects.
 * `--jit 1` runs the JIT image and fails if the JIT cannot compile the program: a plugin
 * that silently fell back would report the interpreter's results as the JIT's.
 */
import { conformanceProg, conformanceRun } from '../../kernel/bpf/conformance.js';
import { parseHexBytes } from '../../kernel/bpf/isa.js';
import { KernelError } from '../../kernel/errno.js';
import { Kernel } from '../../kernel/kernel.js';
import type { Command } from './index.js';

const USAGE = 'usage: bpfkern conformance-plugin [MEMHEX] [--jit 0|1] < PROGHEX';

export const conformancePluginCommand: Command = {
  name: 'conformance-plugin',
  summary: 'run one bpf_conformance test program (stdin: program hex, arg: memory hex)',
  run: async (argv, io) => {
    const fail = (msg: string, code = 1): number => {
      io.stdout(`${msg}\n`);
      io.stderr(`bpfkern: ${msg}\n`);
      return code;
    };
    let memText = '';
    let rest = argv;
    if (argv.length > 0 && !argv[0]!.trimStart().startsWith('-')) {
      memText = argv[0]!;
      rest = argv.slice(1);
    }
    // the runner passes all options as one argument: split on whitespace and '='
    const opts = rest.flatMap((a) => a.split(/[\s=]+/)).filter((a) => a !== '');
    let jit = false;
    for (let i = 0; i < opts.length; i++) {
      const o = opts[i]!;
      if (o === '--jit') {
        const v = opts[++i];
        if (v !== '0' && v !== '1') return fail(`--jit takes 0 or 1\n${USAGE}`, 2);
        jit = v === '1';
      } else if (o === '-h' || o === '--help') {
        io.stdout(`${USAGE}\n`);
        return 0;
      } else {
        return fail(`unknown option '${o}'\n${USAGE}`, 2);
      }
    }
    const mem = parseHexBytes(memText);
    if (mem === null) return fail('memory argument is not hex bytes', 2);
    const code = parseHexBytes(await io.stdin());
    if (code === null) return fail('program on stdin is not hex bytes', 2);
    const kernel = new Kernel();
    kernel.sysctl.bpfJitEnable = jit ? 1 : 0;
    const engine = jit ? 'jit' : 'interp';
    try {
      const prog = conformanceProg(kernel, code, engine);
      const r0 = conformanceRun(kernel, prog, mem.length > 0 ? mem : null, engine);
      io.stdout(`${r0.toString(16)}\n`);
      return 0;
    } catch (e) {
      if (e instanceof KernelError) return fail(e.message);
      throw e;
    }
  },
};
