// The memory a restarted local cloud holds for its kept executions, and what reading a history back
// costs: `pnpm --filter @sidestep/local-cloud bench [-- --executions N] [-- --write]`.
//
// A file of N closed executions (each history ~50 KB: an import workflow's ~40 events with their
// inputs and outputs, as a soak's were) is written through the store, then each measurement runs in a
// fresh node (--expose-gc), interleaved, 3 rounds:
// - sidestep: openExecutionStore + createLocalStepFunctions, as `npm start` opens them;
// - baseline: the same file read line by line with every history parsed and held, then written again
//   (its compaction), which is what the store did until 2026-12-07 (the floor any design that keeps
//   histories in memory pays).
// Reported: the open's wall time, the heap in use after a full GC, the RSS; then the time to read one
// execution's history back (GetExecutionHistory of a closed execution), over 1,000 random ones.
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  mkdtempSync,
  openSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { HistoryEvent } from '../src/execution-history.ts';
import { openExecutionStore } from '../src/execution-store.ts';
import { fileLines } from '../src/file-lines.ts';
import { createLocalStepFunctions } from '../src/step-functions.ts';

const MACHINE = 'bench';
const ARN = (i: number) => `arn:aws:states:us-east-1:000000000000:execution:${MACHINE}:run-${i}`;
const gc = (globalThis as { gc?: () => void }).gc;

/** One execution's ~40 events, each carrying a ~1.2 KB JSON document as a workflow's state data is. */
function historyOf(i: number, start: Date): HistoryEvent[] {
  const data = JSON.stringify({ jobId: `job-${i}`, rows: i, detail: 'x'.repeat(1_200) });
  return Array.from({ length: 40 }, (_, n) => ({
    id: n + 1,
    previousEventId: n,
    timestamp: new Date(start.getTime() + n),
    type: n === 39 ? 'ExecutionSucceeded' : 'TaskStateEntered',
    stateEnteredEventDetails: { name: `State${n}`, input: data },
  }));
}

function write(file: string, executions: number): void {
  const store = openExecutionStore(file);
  store.saveDefinition('h', '{}');
  for (let i = 0; i < executions; i += 1) {
    const startDate = new Date(Date.now() - 60_000);
    const fields = {
      executionArn: ARN(i),
      stateMachineArn: `arn:aws:states:us-east-1:000000000000:stateMachine:${MACHINE}`,
      name: `run-${i}`,
      input: '{}',
      startDate,
      redriveCount: 0,
      definitionHash: 'h',
    };
    store.saveExecution({ ...fields, status: 'RUNNING' });
    const history = historyOf(i, startDate);
    // Appended as a run appends them: a few events at a time.
    for (let n = 0; n < history.length; n += 4) store.appendHistory(ARN(i), history.slice(n, n + 4));
    store.saveExecution({ ...fields, status: 'SUCCEEDED', stopDate: new Date(), output: '{}' });
  }
  store.close();
}

interface Measured {
  readonly openMs: number;
  readonly heapMiB: number;
  readonly rssMiB: number;
  readonly readBackMs?: number;
}

/** One measurement, in this process (run by a fresh node per measurement). */
function measure(mode: string, file: string, executions: number): Measured {
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  if (mode === 'sidestep') {
    const store = openExecutionStore(file);
    const stepFunctions = createLocalStepFunctions({
      stateMachines: [
        { name: MACHINE, definition: { StartAt: 'Done', States: { Done: { Type: 'Succeed' } } } },
      ],
      integrations: {},
      region: 'us-east-1',
      accountId: '000000000000',
      reporter: () => undefined,
      store,
    });
    const openMs = performance.now() - started;
    gc?.();
    const heapMiB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
    const rssMiB = process.memoryUsage().rss / 2 ** 20;
    const readStarted = performance.now();
    for (let n = 0; n < 1_000; n += 1) {
      const events = stepFunctions.executionHistory(ARN(Math.floor(Math.random() * executions)));
      if (events.length !== 40) throw new Error(`read back ${events.length} events, not 40`);
    }
    const readBackMs = (performance.now() - readStarted) / 1_000;
    store.close();
    return { openMs, heapMiB, rssMiB, readBackMs };
  }
  const histories = new Map<string, HistoryEvent[]>();
  for (const { text } of fileLines(file)) {
    if (!text.startsWith('{"kind":"history"')) continue;
    const line = JSON.parse(text, (key, value) =>
      key === 'timestamp' && typeof value === 'string' ? new Date(value) : value,
    ) as { executionArn: string; events: HistoryEvent[] };
    const kept = histories.get(line.executionArn) ?? [];
    kept.push(...line.events);
    histories.set(line.executionArn, kept);
  }
  // Its compaction: the file written again, a line per history, then renamed over the old one.
  const compacted = openSync(`${file}.baseline`, 'w');
  for (const [executionArn, events] of histories) {
    writeSync(compacted, `${JSON.stringify({ kind: 'history', executionArn, events })}\n`);
  }
  closeSync(compacted);
  unlinkSync(`${file}.baseline`);
  const openMs = performance.now() - started;
  gc?.();
  const heapMiB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
  if (histories.size !== executions) throw new Error(`held ${histories.size} histories, not ${executions}`);
  return { openMs, heapMiB, rssMiB: process.memoryUsage().rss / 2 ** 20 };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

function main(): void {
  const { values } = parseArgs({
    // `pnpm bench -- --write` passes the `--` on.
    args: process.argv.slice(2).filter((arg) => arg !== '--'),
    options: {
      executions: { type: 'string', default: '4000' },
      write: { type: 'boolean', default: false },
      measure: { type: 'string' },
      file: { type: 'string' },
    },
  });
  const executions = Number(values.executions);
  if (values.measure) {
    process.stdout.write(JSON.stringify(measure(values.measure, values.file as string, executions)));
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'sidestep-executions-bench-'));
  try {
    const file = join(dir, 'executions.jsonl');
    const loadBefore = loadavg()[0] ?? 0;
    write(file, executions);
    const fileMiB = statSync(file).size / 2 ** 20;
    const results: Record<string, Measured[]> = { sidestep: [], baseline: [] };
    for (let round = 0; round < 3; round += 1) {
      for (const mode of ['baseline', 'sidestep']) {
        const out = execFileSync(
          process.execPath,
          [
            '--expose-gc',
            process.argv[1] as string,
            '--measure',
            mode,
            '--file',
            file,
            '--executions',
            `${executions}`,
          ],
          { encoding: 'utf8', maxBuffer: 1 << 20 },
        );
        results[mode]?.push(JSON.parse(out) as Measured);
      }
    }
    const row = (mode: string) => {
      const runs = results[mode] ?? [];
      const readBack =
        runs[0]?.readBackMs === undefined
          ? ''
          : `${median(runs.map((r) => r.readBackMs ?? 0)).toFixed(2)} ms`;
      return `| ${mode} | ${median(runs.map((r) => r.openMs)).toFixed(0)} ms | ${median(runs.map((r) => r.heapMiB)).toFixed(1)} MiB | ${median(runs.map((r) => r.rssMiB)).toFixed(0)} MiB | ${readBack || 'n/a (in memory)'} |`;
    };
    const report = [
      '# Local Step Functions: what a restart holds for its kept executions',
      '',
      `Measured by \`packages/local-cloud/bench/execution-store.ts\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}, load average ${loadBefore.toFixed(2)} before and ${(loadavg()[0] ?? 0).toFixed(2)} after.`,
      `A file of ${executions} closed executions, ${fileMiB.toFixed(0)} MiB (40 history events of ~1.3 KB each per execution); each measurement in a fresh \`node --expose-gc\`, medians of 3 interleaved rounds.`,
      '',
      '| what | open | heap held after a full GC | RSS | one history read back (GetExecutionHistory) |',
      '| --- | --- | --- | --- | --- |',
      row('sidestep'),
      row('baseline'),
      '',
      '`sidestep`: `openExecutionStore` + `createLocalStepFunctions`, as `npm start` opens them; the histories stay in the file and are read back by offset. `baseline`: the file read line by line with every history parsed and held, then written again as the compaction did, which is what the store did until 2026-12-07. Both compact the file at open; sidestep copies the history lines as they are, without parsing them twice.',
      '',
    ].join('\n');
    process.stdout.write(`${report}\n`);
    if (values.write) writeFileSync(new URL('./RESULTS.md', import.meta.url), report);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
