/**
 * debugfs bpfkern/trace_filters/<sys>/<event>/{xlated,jited,info}: an event's compiled
 * filter as bpftool would show it, its JIT image (WebAssembly text) or `not jited`, as
 * bpf_jit_enable was when the filter was written, and the evaluator running it now.
 */
import { describe, expect, it } from 'vitest';
import { bootKernel } from '../../../index.js';
import { setFilterEngine } from '../../../subsystems/tracing/index.js';
import { tracepointOf } from '../../../kernel/trace/tracepoint.js';

const T = '/sys/kernel/tracing/events/signal/signal_generate';
const D = '/sys/kernel/debug/bpfkern/trace_filters';

describe('debugfs trace_filters', () => {
  it('shows xlated, jited (not jited at bpf_jit_enable 0, wasm text at 1) and the evaluator', () => {
    const k = bootKernel({ seed: 5 });
    expect(k.fs.readdirSync(D)).toEqual([]);
    k.fs.writeFileSync('/proc/sys/net/core/bpf_jit_enable', '0');
    k.fs.writeFileSync(`${T}/filter`, 'sig == 17 && common_pid > 0');
    expect(k.fs.readdirSync(D)).toEqual(['signal']);
    expect(k.fs.readdirSync(`${D}/signal`)).toEqual(['signal_generate']);
    expect(k.fs.readdirSync(`${D}/signal/signal_generate`).sort()).toEqual(['info', 'jited', 'xlated']);

    const xlated0 = k.fs.readFileSync(`${D}/signal/signal_generate/xlated`, 'utf8') as string;
    expect(xlated0).toMatch(/^ {3}0: \(/);
    expect(xlated0).toMatch(/exit/);
    expect(xlated0).toMatch(/\b17\b|0x11/);
    expect(k.fs.readFileSync(`${D}/signal/signal_generate/jited`, 'utf8')).toMatch(/^not jited \(bpf_jit_enable was 0/);
    let info = k.fs.readFileSync(`${D}/signal/signal_generate/info`, 'utf8') as string;
    expect(info).toContain('filter: sig == 17 && common_pid > 0\n');
    expect(info).toContain('predicates: 2\n');
    expect(info).toMatch(/^jited: no \(/m);
    expect(info).toContain('evaluator: interpreter\n');

    // Turning the JIT on does not re-JIT the existing filter; writing it again does.
    k.fs.writeFileSync('/proc/sys/net/core/bpf_jit_enable', '1');
    expect(k.fs.readFileSync(`${D}/signal/signal_generate/jited`, 'utf8')).toMatch(/^not jited/);
    k.fs.writeFileSync(`${T}/filter`, 'sig == 17 && common_pid > 0');
    const jited = k.fs.readFileSync(`${D}/signal/signal_generate/jited`, 'utf8') as string;
    expect(jited).toMatch(/\(module/);
    expect(jited).toMatch(/\(func/);
    expect(k.fs.readFileSync(`${D}/signal/signal_generate/xlated`, 'utf8')).toBe(xlated0);
    info = k.fs.readFileSync(`${D}/signal/signal_generate/info`, 'utf8') as string;
    expect(info).toMatch(/^jited: \d+B \(WebAssembly module\)$/m);
    expect(info).toMatch(/^evaluator: jit \(WebAssembly, raw entry/m);

    // The run count follows the events the filter judged.
    k.fs.writeFileSync(`${T}/enable`, '1');
    const tp = tracepointOf(k, 'signal', 'signal_generate');
    for (const sig of [9, 17, 17]) tp.fire(null, { sig, errno: 0, code: 0, comm: 'x', pid: 1, group: 1, result: 0 });
    expect(k.fs.readFileSync(`${D}/signal/signal_generate/info`, 'utf8')).toContain('run_cnt: 3\n');

    // The JIT image stays but bpf_jit_enable 0 sends runs to the interpreter; the walker setting wins over both.
    k.fs.writeFileSync('/proc/sys/net/core/bpf_jit_enable', '0');
    expect(k.fs.readFileSync(`${D}/signal/signal_generate/info`, 'utf8')).toMatch(/^evaluator: interpreter \(JIT image kept/m);
    setFilterEngine(k, 'walker');
    expect(k.fs.readFileSync(`${D}/signal/signal_generate/info`, 'utf8')).toMatch(/^evaluator: walker/m);

    // Clearing the filter removes the directory.
    k.fs.writeFileSync(`${T}/filter`, '0');
    expect(k.fs.readdirSync(D)).toEqual([]);
    expect(k.fs.existsSync(`${D}/signal/signal_generate`)).toBe(false);
  });

  it('a string filter calls a helper: info names it', () => {
    const k = bootKernel({ seed: 5 });
    k.fs.writeFileSync(`${T}/filter`, 'comm ~ "*sh"');
    const info = k.fs.readFileSync(`${D}/signal/signal_generate/info`, 'utf8') as string;
    expect(info).not.toContain('helpers: none');
    expect(k.fs.readFileSync(`${D}/signal/signal_generate/xlated`, 'utf8')).toMatch(/call /);
  });
});
