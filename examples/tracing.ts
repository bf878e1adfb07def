// tracing: enable signal:signal_generate with an event filter written through kernel.fs, let a
// task named bash signal its child named sleep, and read the trace.
import { SIG, bootKernel, exec, fork, kill, sigaction, spawn, userCred, waitpid } from '../index.js';

const EVENT = '/sys/kernel/tracing/events/signal/signal_generate';

export async function main(): Promise<number> {
  const kernel = bootKernel({ seed: 1 });
  // echo '...' > filter; echo 1 > enable
  kernel.fs.writeFileSync(`${EVENT}/filter`, '((sig >= 10 && sig < 15) || sig == 17) && comm != bash\n');
  kernel.fs.writeFileSync(`${EVENT}/enable`, '1\n');

  // bash forks a child that execs sleep and catches signals; bash sends it 1..15, then SIGKILL.
  const bash = spawn(kernel, { comm: 'bash', cred: userCred(1000) }, async (p) => {
    let ready!: () => void;
    const handlersSet = new Promise<void>((r) => (ready = r));
    const child = await fork(p, (c) =>
      exec(c, '/bin/sleep', async (s) => {
        for (let sig = 1; sig <= 15; sig++) if (sig !== SIG.SIGKILL) await sigaction(s, sig, () => undefined);
        ready();
        await new Promise(() => {}); // sleep forever
      }),
    );
    await handlersSet;
    for (let sig = 1; sig <= 15; sig++) if (sig !== SIG.SIGKILL) await kill(p, child, sig);
    await kill(p, child, SIG.SIGKILL);
    await waitpid(p, child); // the child's death sends bash SIGCHLD (17), which the filter drops: comm is bash
  });
  await bash.exited;

  const trace = kernel.fs.readFileSync('/sys/kernel/tracing/trace', 'utf8'); // cat trace
  console.log(trace.trimEnd());
  return trace.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length; // events kept: 5
}
