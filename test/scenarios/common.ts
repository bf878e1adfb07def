/** What the scenario tests share: the seed's filter and a parser for its trace lines. */

export const SEED_FILTER = '((sig >= 10 && sig < 15) || sig == 17) && comm != bash';

/** A signal_generate line: sender task, sig and the target's comm (the event's own comm field). */
export interface SigLine {
  task: string;
  sig: number;
  comm: string;
}

const LINE = /^\s*(.+)-(\d+)\s+\[(\d{3})\] \S{5}\s+\d+\.\d{6}: signal_generate: sig=(\d+) errno=-?\d+ code=-?\d+ comm=(\S*) pid=(\d+) grp=\d+ res=\d+$/;

/** Parses trace/trace_pipe text; every non-comment line must be a signal_generate line. */
export function parseSignalLines(text: string): SigLine[] {
  return text
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const m = LINE.exec(l);
      if (!m) throw new Error(`not a signal_generate line: ${JSON.stringify(l)}`);
      return { task: m[1]!, sig: Number(m[4]), comm: m[5]! };
    });
}

export const matchesSeed = (l: SigLine): boolean => ((l.sig >= 10 && l.sig < 15) || l.sig === 17) && l.comm !== 'bash';
