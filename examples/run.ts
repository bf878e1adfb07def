/**
 * Runs one example: `node dist/examples/run.js ebpf|net|seccomp|tracing` (after `make build`).
 * Each example is a module exporting `main()`; this prints what main returned.
 */
const names = ['ebpf', 'net', 'seccomp', 'tracing'];
const name = process.argv[2] ?? '';
if (!names.includes(name)) {
  process.stderr.write(`usage: node dist/examples/run.js ${names.join('|')}\n`);
  process.exitCode = 2;
} else {
  const example = (await import(`./${name}.js`)) as { main: () => Promise<unknown> };
  console.log(`main() returned ${String(await example.main())}`);
}
