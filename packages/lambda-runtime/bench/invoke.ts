/**
 * What a local Lambda invocation costs through the Runtime API, with the freeze between invocations
 * (the default, as Lambda freezes an environment) and without it (`freeze: false`), interleaved round
 * by round so that both see the same moments of a shared machine: the cold start (spawn, init and the
 * first invocation's response, `prewarm: false`) and the warm invocation of a handler that returns its
 * event at once. Run: `pnpm run bench` in packages/lambda-runtime; `--write` records the results in
 * bench/RESULTS.md (without it, a run on another machine prints its numbers and changes nothing).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { startFunction } from '../src/index.ts';

const ROUNDS = 9;
const WARM_UP = 200;
const WARM = 1_000;

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};
const percentile = (values: readonly number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;
};

const bundleDir = await mkdtemp(join(tmpdir(), 'lambda-runtime-bench-'));
await writeFile(join(bundleDir, 'index.mjs'), 'export const handler = async (event) => event;');

type Sample = { coldMs: number; warmMs: number[] };
const modes = { frozen: true, 'not frozen': false } as const;
const samples: Record<keyof typeof modes, Sample[]> = { frozen: [], 'not frozen': [] };
const loadBefore = loadavg()[0] ?? 0;
try {
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const [mode, freeze] of Object.entries(modes) as [keyof typeof modes, boolean][]) {
      const started = performance.now();
      const fn = await startFunction({
        name: 'bench',
        bundleDir,
        handler: 'index.handler',
        environment: {},
        prewarm: false,
        freeze,
        onLog: () => {},
      });
      const first = await fn.invoke({ n: 0 });
      const coldMs = performance.now() - started;
      if (!first.ok) throw new Error(`cold invocation failed: ${first.error.errorMessage}`);
      for (let i = 0; i < WARM_UP; i += 1) await fn.invoke({ n: i });
      const warmMs: number[] = [];
      for (let i = 0; i < WARM; i += 1) {
        const invoked = performance.now();
        await fn.invoke({ n: i });
        warmMs.push(performance.now() - invoked);
      }
      await fn.close();
      samples[mode].push({ coldMs, warmMs });
    }
  }
} finally {
  await rm(bundleDir, { recursive: true, force: true });
}

const row = (mode: keyof typeof modes) => {
  const all = samples[mode].flatMap((sample) => sample.warmMs);
  return {
    cold: median(samples[mode].map((sample) => sample.coldMs)),
    warm: median(samples[mode].map((sample) => median(sample.warmMs))),
    p95: percentile(all, 0.95),
  };
};
const frozen = row('frozen');
const notFrozen = row('not frozen');
const ms = (value: number, digits = 3) => `${value.toFixed(digits)} ms`;
const machine = `${cpus()[0]?.model.trim() ?? 'unknown cpu'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const report = `# Local Lambda invocations: the freeze's cost

Measured ${new Date().toISOString()} by \`pnpm run bench\` in packages/lambda-runtime (bench/invoke.ts)
on ${machine}; load average ${loadBefore.toFixed(2)} at the start, ${(loadavg()[0] ?? 0).toFixed(2)} at the end.
A handler that returns its event, through the Runtime API of @sidestep/lambda-runtime, read-only
(Node's permission model), ${ROUNDS} rounds, each starting a function per mode in turn (the baseline,
\`freeze: false\`, measured in the same round): the cold start is spawn, init and the first response
(\`prewarm: false\`); the warm invocation is ${WARM} invocations after ${WARM_UP} to warm up, median of
the rounds' medians, and p95 over all of them.

| mode | cold start (median) | warm invocation (median) | warm invocation (p95) |
| --- | --- | --- | --- |
| frozen between invocations (the default, as on Lambda) | ${ms(frozen.cold, 1)} | ${ms(frozen.warm)} | ${ms(frozen.p95)} |
| not frozen (\`freeze: false\`, the baseline) | ${ms(notFrozen.cold, 1)} | ${ms(notFrozen.warm)} | ${ms(notFrozen.p95)} |
| the freeze's cost | ${ms(frozen.cold - notFrozen.cold, 1)} | ${ms(frozen.warm - notFrozen.warm)} | |

The freeze: once its request for the next event is on the wire, the runtime interface client reads
a byte the host writes to its descriptor 3 (a socket pair) for each event it delivers, a read that blocks its thread until
then (src/runtime-interface-client.ts, \`freezeUntilWoken\`): a write in the host and a read in
the sandbox per invocation. On AWS the base image's runtime interface client runs the function, and
Lambda freezes the environment itself: what this costs is the local cloud's, in every local
invocation and in the image path of the root's \`pnpm bench\` (the bare handler's as well as the
services').
`;
console.log(report);
if (process.argv.includes('--write')) {
  await writeFile(new URL('./RESULTS.md', import.meta.url), report);
}
