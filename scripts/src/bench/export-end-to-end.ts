/**
 * The export's end to end time, from the request to the `export.ready` mail, through the local cloud
 * `pnpm start` runs (the built service bundles: status-updater, batch-worker as a Fargate task,
 * export-finalizer, mail-dispatcher; the export workflow; the export-requests pipe) on PostgreSQL,
 * against `psql \copy (SELECT ...) TO STDOUT | gzip -1 > file` on the same server, interleaved in the
 * same run (baseline, then the export, per round; medians reported).
 *
 * Run: `TEST_DATABASE_URL=postgres://... node scripts/src/bench/export-end-to-end.ts --rows 100000,1000000 [--repeat 3] [--write]`
 * after `turbo run build --filter='./services/*'`. The local cloud works in a schema of its own on that
 * server (dropped at the end), where the users table is seeded; each export must have written every
 * row. `--write` replaces
 * bench/export-end-to-end.json at the root.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { GetExecutionHistoryCommand } from '@aws-sdk/client-sfn';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { decodedMails, endedExecutions, rootDir, startWholePathCloud } from '../../tests/start-path-cloud.ts';

const EXPORT_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-export';
const GOALS: Readonly<Record<number, number>> = { 1000000: 0.7, 10000000: 0.8 };

function flag(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index < 0 ? undefined : process.argv[index + 1];
}
const sizes = (flag('rows') ?? '100000,1000000').split(',').map(Number);
const repeat = Number(flag('repeat') ?? '1');
if (!process.env.TEST_DATABASE_URL)
  throw new Error('TEST_DATABASE_URL: a PostgreSQL server the bench may use');

const loadAtStart = loadavg()[0] ?? 0;
const path = await startWholePathCloud('bench-export');
// The services work in a schema of the cloud's own on that server (its URL sets the search_path): the
// users the export reads are seeded there, and psql's baseline reads the same table.
const databaseUrl = path.cloud.databaseUrl;
if (!databaseUrl) throw new Error('the path cloud runs on the embedded database, not on TEST_DATABASE_URL');

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const SELECT =
  'SELECT external_id, email, name, attributes, created_at, updated_at FROM users ORDER BY external_id';

function psqlGzip(): number {
  const file = join(path.stateDir, 'baseline.csv.gz');
  const started = performance.now();
  const run = spawnSync(
    'bash',
    [
      '-c',
      `psql "$DB" -v ON_ERROR_STOP=1 -c "\\copy (${SELECT}) TO STDOUT (FORMAT csv, HEADER)" | gzip -1 > ${file}`,
    ],
    { env: { ...process.env, DB: databaseUrl }, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  if (run.status !== 0) throw new Error(`psql | gzip failed (${run.status})`);
  return (performance.now() - started) / 1000;
}

function psql(sql: string): string {
  const run = spawnSync(
    'psql',
    [databaseUrl as string, '-v', 'ON_ERROR_STOP=1', '-q', '-A', '-t', '-c', sql],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  if (run.status !== 0) throw new Error(`psql failed (${run.status})`);
  return run.stdout.trim();
}

let sequence = 0;
/** One export request, sent as a producer sends it; seconds until its export.ready mail is in the outbox. */
async function exportToMail(rows: number): Promise<{ seconds: number; states: Record<string, number> }> {
  const id = `bench-${process.pid}-${++sequence}`;
  const requestedBy = `${id}@bench.example`;
  const started = performance.now();
  await path.sqs.send(
    new SendMessageCommand({
      QueueUrl: `${path.cloud.endpoint}/000000000000/sidestep-local-export-requests`,
      MessageBody: JSON.stringify({ type: 'export.requested', version: 1, id, payload: { requestedBy } }),
    }),
  );
  for (;;) {
    if (decodedMails(path.cloud.outboxDir, requestedBy, '').length > 0) break;
    if (performance.now() - started > 600_000) throw new Error(`no mail for ${id}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const seconds = (performance.now() - started) / 1000;
  const [execution] = await endedExecutions(path.sfn, EXPORT_MACHINE, (input) => input.includes(id));
  if (execution?.status !== 'SUCCEEDED') throw new Error(`export ${id} ended ${execution?.status}`);
  // The export of every seeded row, not of a table that is empty where the services read it.
  const exported = psql(`SELECT rows_total FROM jobs WHERE request_id = '${id}'`);
  if (exported !== String(rows)) throw new Error(`export ${id} wrote ${exported || 'no'} rows, not ${rows}`);
  // Each task state's time, from the execution history.
  const { events = [] } = await path.sfn.send(
    new GetExecutionHistoryCommand({ executionArn: execution.executionArn, maxResults: 1000 }),
  );
  const states: Record<string, number> = {};
  const entered = new Map<string, number>();
  for (const event of events) {
    const name = event.stateEnteredEventDetails?.name;
    if (name) entered.set(name, event.timestamp?.getTime() ?? 0);
    const exited = event.stateExitedEventDetails?.name;
    if (exited && entered.has(exited)) {
      states[exited] = ((event.timestamp?.getTime() ?? 0) - (entered.get(exited) ?? 0)) / 1000;
    }
  }
  return { seconds, states };
}

const results = [];
try {
  for (const rows of sizes) {
    // psql, not the pool: the pool's statement timeout is shorter than seeding 1M rows.
    psql(`TRUNCATE users; INSERT INTO users (external_id, email, name, attributes, created_at, updated_at)
       SELECT 'user-' || lpad(g::text, 9, '0'), 'user' || g || '@example.com',
              CASE WHEN g % 50 = 0 THEN '=HYPERLINK("x")' WHEN g % 10 = 0 THEN 'Doe, "User" ' || g ELSE '山田 ' || g END,
              jsonb_build_object('plan', CASE WHEN g % 3 = 0 THEN 'pro' ELSE 'free' END, 'country', 'JP'),
              now() - (g || ' seconds')::interval, now()
       FROM generate_series(1, ${rows}) g`);
    psql('VACUUM ANALYZE users');
    const baseline: number[] = [];
    const endToEnd: number[] = [];
    const tasks: Record<string, number>[] = [];
    for (let round = 0; round < repeat; round += 1) {
      baseline.push(psqlGzip());
      const run = await exportToMail(rows);
      endToEnd.push(run.seconds);
      tasks.push(run.states);
      // Every state's seconds, for finding where the time outside the two tasks goes.
      process.stderr.write(`${JSON.stringify({ rows, seconds: run.seconds, states: run.states })}\n`);
    }
    const result = {
      rows,
      psqlGzipSeconds: median(baseline),
      requestToMailSeconds: median(endToEnd),
      exportRowsSeconds: median(tasks.map((t) => t.ExportRows ?? 0)),
      finalizeExportSeconds: median(tasks.map((t) => t.FinalizeExport ?? 0)),
      ratio: median(baseline) / median(endToEnd),
      goal: GOALS[rows],
    };
    results.push(result);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
} finally {
  await path.stop();
}

const machine = {
  cpu: cpus()[0]?.model,
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 1024 ** 3),
  node: process.version,
  loadAtStart,
  loadAtEnd: loadavg()[0],
};
process.stdout.write(
  '| rows | psql \\| gzip -1 | request -> export.ready mail | ExportRows | FinalizeExport | ratio (goal) |\n| ---: | ---: | ---: | ---: | ---: | ---: |\n',
);
for (const r of results) {
  process.stdout.write(
    `| ${r.rows.toLocaleString('en')} | ${r.psqlGzipSeconds.toFixed(2)} s | ${r.requestToMailSeconds.toFixed(2)} s | ${r.exportRowsSeconds.toFixed(2)} s | ${r.finalizeExportSeconds.toFixed(2)} s | ${r.ratio.toFixed(2)}x (${r.goal ? `>= ${r.goal}x` : 'no goal'}) |\n`,
  );
}
process.stdout.write(`${JSON.stringify(machine)}\n`);
if (process.argv.includes('--write')) {
  writeFileSync(
    join(rootDir, 'bench', 'export-end-to-end.json'),
    `${JSON.stringify({ date: new Date().toISOString(), machine, repeat, results }, null, 2)}\n`,
  );
}
