/**
 * `pnpm --filter @sidestep/batch-worker bench:export`: the export of N users from Debian PostgreSQL
 * by the exact task bundle (dist/index.mjs with MODE=export, as ECS runs it) into the local S3
 * (fauxqs), against `psql \copy (SELECT ...) TO STDOUT | gzip -1` on the same server, in the same
 * run. Reports rows/s of each and the worker's peak RSS per size, to show memory flat as rows grow.
 * Results: bench/export-results.json and bench/EXPORT-RESULTS.md (the import's stay in RESULTS.md).
 *
 * Two baselines: `psql | gzip -1` runs the plain SELECT (the baseline); `psql (same SQL) |
 * gzip -1` runs the worker's own statement (every cell quoted), so the gap between the second and the
 * worker is the worker's own work (record ends and formula escapes in one byte pass, gzip members,
 * checksums, S3 uploads, manifest).
 *
 * Flags: `--rows 100000,1000000` (sizes, default), `--memory-run` (adds 10,000,000 rows), `--repeat N`
 * (runs per size and tool, median reported; default 1). Needs `BENCH_DATABASE_URL` or
 * `TEST_DATABASE_URL` (a real PostgreSQL server) and psql, gzip and GNU time on PATH.
 * `BENCH_VERBOSE=1` prints the worker's logs.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { migrate, PostgresDatabase } from '@sidestep/db';
import { startFauxqs } from 'fauxqs';
import pg from 'pg';
import { EXPORT_COLUMNS, exportCopySql } from '../src/domain/export-query.ts';
import { task } from '../task.ts';

const packageDir = join(import.meta.dirname, '..');
const bundle = join(packageDir, 'dist', 'index.mjs');
const GOAL = { rowsPerSecondVsPsqlGzip: 0.8 };

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    rows: { type: 'string', default: '100000,1000000' },
    'memory-run': { type: 'boolean', default: false },
    repeat: { type: 'string', default: '1' },
  },
});
const sizes = values.rows.split(',').map(Number);
if (values['memory-run']) sizes.push(10_000_000);
const repeat = Number(values.repeat);
const databaseUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
if (!databaseUrl) {
  console.error(
    'bench: set BENCH_DATABASE_URL or TEST_DATABASE_URL to a PostgreSQL server (psql is the baseline)',
  );
  process.exit(1);
}
try {
  statSync(bundle);
} catch {
  console.error(`bench: ${bundle} is missing; run pnpm --filter @sidestep/batch-worker build`);
  process.exit(1);
}

const workDir = mkdtempSync(join(tmpdir(), 'batch-worker-export-bench-'));
const s3Server = await startFauxqs({
  port: 0,
  host: '127.0.0.1',
  logger: false,
  s3StorageDir: join(workDir, 's3'),
});
const endpoint = `http://127.0.0.1:${s3Server.port}`;
const bucket = 'sidestep-bench-exports';
const s3 = new S3Client({
  endpoint,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
});
await s3.send(new CreateBucketCommand({ Bucket: bucket }));

const schema = `bench_export_${process.pid}`;
const admin = new pg.Client({ connectionString: databaseUrl });
await admin.connect();
await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}`);
const searchPath = `-c search_path=${schema}`;
const db = new PostgresDatabase(new pg.Pool({ connectionString: databaseUrl, max: 1, options: searchPath }));
await migrate(db);
const schemaUrl = `${databaseUrl}${databaseUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(searchPath)}`;
const serverVersion =
  (await db.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]?.v ?? 'unknown';

/**
 * `rows` users as an import leaves them: every 10th name has a comma and quotes, every 50th starts
 * with `=` (escaped on export), attributes of two keys; then VACUUM ANALYZE so every tool reads the
 * same settled table.
 */
async function seed(rows: number): Promise<void> {
  await db.query('TRUNCATE users');
  await db.query(
    `INSERT INTO users (external_id, email, name, attributes, created_at, updated_at)
     SELECT 'user-' || lpad(g::text, 9, '0'), 'user' || g || '@example.com',
            CASE WHEN g % 50 = 0 THEN '=HYPERLINK("x")' WHEN g % 10 = 0 THEN 'Doe, "User" ' || g ELSE 'User ' || g END,
            jsonb_build_object('plan', CASE WHEN g % 3 = 0 THEN 'pro' ELSE 'free' END, 'country', 'JP'),
            now() - (g || ' seconds')::interval, now()
     FROM generate_series(1, $1::int) g`,
    [rows],
  );
  await db.query('VACUUM ANALYZE users');
}

interface Sample {
  seconds: number;
  maxRssMiB: number;
  bytes: number;
}

/** `psql -c '\copy (<select>) TO STDOUT ...' | gzip -1 > file`, timed from spawn to exit. */
function psqlGzip(copyCommand: string): Sample {
  const out = join(workDir, 'baseline.csv.gz');
  const rssFile = join(workDir, 'psql-rss');
  const started = performance.now();
  const result = spawnSync(
    'bash',
    [
      '-c',
      'set -o pipefail; /usr/bin/time -o "$RSS" -f %M psql "$URL" -v ON_ERROR_STOP=1 -qc "$COPY" | gzip -1 > "$OUT"',
    ],
    // PGTZ: the worker writes timestamps in UTC; the baseline does the same work.
    {
      encoding: 'utf8',
      env: { ...process.env, URL: schemaUrl, COPY: copyCommand, OUT: out, RSS: rssFile, PGTZ: 'UTC' },
    },
  );
  const seconds = (performance.now() - started) / 1000;
  if (result.status !== 0) throw new Error(`psql | gzip failed: ${result.stderr}`);
  const rss = Number(spawnSync('tail', ['-n1', rssFile], { encoding: 'utf8' }).stdout.trim());
  const bytes = statSync(out).size;
  rmSync(out);
  return { seconds, maxRssMiB: rss / 1024, bytes };
}

const plainCopy = `\\copy (SELECT ${EXPORT_COLUMNS.join(', ')} FROM users ORDER BY external_id) TO STDOUT (FORMAT csv, HEADER)`;
const workerCopy = exportCopySql(undefined).replace(/^COPY /, '\\copy ');

/** One worker export of everyone, timed from spawn to exit. */
async function workerExport(rows: number): Promise<Sample> {
  const jobId = `exp_bench_${rows}_${Date.now()}`;
  await db.query(`INSERT INTO jobs (id, kind, state) VALUES ($1, 'export', 'running')`, [jobId]);
  const started = performance.now();
  const child = spawn(process.execPath, [bundle], {
    cwd: join(packageDir, 'dist'),
    env: {
      PATH: process.env.PATH ?? '',
      MODE: 'export',
      JOB_ID: jobId,
      EXPORTS_BUCKET: bucket,
      DATABASE_URL: schemaUrl,
      AWS_ENDPOINT_URL: endpoint,
      AWS_S3_FORCE_PATH_STYLE: 'true',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench',
      ...task.environment,
      PROGRESS_INTERVAL_SECONDS: '5',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (data: string) => {
    output += data;
  });
  child.stderr.setEncoding('utf8').on('data', (data: string) => {
    output += data;
  });
  const [code] = (await once(child, 'close')) as [number | null];
  const seconds = (performance.now() - started) / 1000;
  if (process.env.BENCH_VERBOSE) process.stderr.write(output);
  const finished = output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .find((log) => log.message === 'export finished');
  if (code !== 0 || !finished || finished.rows !== rows) {
    throw new Error(`worker export of ${rows} rows failed (exit ${code}):\n${output}`);
  }
  return {
    seconds,
    maxRssMiB: (finished.maxRssBytes as number) / 1024 ** 2,
    bytes: finished.bytes as number,
  };
}

interface ToolResult {
  seconds: number;
  rowsPerSecond: number;
  maxRssMiB: number;
  gzipMiB: number;
}

interface BenchResult {
  rows: number;
  psqlGzip: ToolResult;
  psqlSameSqlGzip: ToolResult;
  worker: ToolResult;
  /** worker rows/s over `psql | gzip -1` rows/s (the goal: >= 0.8) */
  ratio: number;
  /** worker rows/s over `psql (the worker's SQL) | gzip -1` rows/s */
  ratioVsSameSql: number;
}

function median(numbers: number[]): number {
  const sorted = [...numbers].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

const results: BenchResult[] = [];
try {
  for (const rows of sizes) {
    await seed(rows);
    const plain: Sample[] = [];
    const same: Sample[] = [];
    const worker: Sample[] = [];
    // Warm the cache once so the first tool does not pay for reading the table from disk.
    psqlGzip(plainCopy);
    for (let run = 0; run < repeat; run++) {
      plain.push(psqlGzip(plainCopy));
      same.push(psqlGzip(workerCopy));
      worker.push(await workerExport(rows));
    }
    const tool = (samples: Sample[]): ToolResult => {
      const seconds = median(samples.map((s) => s.seconds));
      return {
        seconds: Number(seconds.toFixed(2)),
        rowsPerSecond: Math.round(rows / seconds),
        maxRssMiB: Number(Math.max(...samples.map((s) => s.maxRssMiB)).toFixed(1)),
        gzipMiB: Number(((samples[0]?.bytes ?? 0) / 1024 ** 2).toFixed(1)),
      };
    };
    const result: BenchResult = {
      rows,
      psqlGzip: tool(plain),
      psqlSameSqlGzip: tool(same),
      worker: tool(worker),
      ratio: 0,
      ratioVsSameSql: 0,
    };
    result.ratio = Number((result.worker.rowsPerSecond / result.psqlGzip.rowsPerSecond).toFixed(2));
    result.ratioVsSameSql = Number(
      (result.worker.rowsPerSecond / result.psqlSameSqlGzip.rowsPerSecond).toFixed(2),
    );
    results.push(result);
    const rate = (t: ToolResult) => `${t.rowsPerSecond.toLocaleString('en')} rows/s`;
    console.log(
      `${rows.toLocaleString('en')} rows: psql | gzip -1 ${rate(result.psqlGzip)}, psql (worker SQL) | gzip -1 ${rate(result.psqlSameSqlGzip)}, worker ${rate(result.worker)} (${result.ratio}x / ${result.ratioVsSameSql}x), worker peak RSS ${result.worker.maxRssMiB} MiB, gzip ${result.psqlGzip.gzipMiB} / ${result.psqlSameSqlGzip.gzipMiB} / ${result.worker.gzipMiB} MiB`,
    );
  }
} finally {
  await db.close();
  await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  await admin.end();
  s3.destroy();
  await s3Server.stop();
  rmSync(workDir, { recursive: true, force: true });
}

const cpu = cpus();
const machine = {
  cpu: cpu[0]?.model ?? 'unknown',
  cores: cpu.length,
  memoryGiB: Math.round(totalmem() / 1024 ** 3),
  node: process.version,
  postgres: serverVersion,
  platform: `${process.platform}-${process.arch}`,
};
const date = new Date().toISOString();
// Only a run that includes 1M rows replaces the committed results (a quick --rows 1000 run does not).
if (sizes.includes(1_000_000)) {
  writeFileSync(
    join(import.meta.dirname, 'export-results.json'),
    `${JSON.stringify({ date, machine, repeat, goal: GOAL, results }, null, 2)}\n`,
  );
  writeFileSync(join(import.meta.dirname, 'EXPORT-RESULTS.md'), markdown());
  console.log('wrote bench/export-results.json and bench/EXPORT-RESULTS.md');
}

function markdown(): string {
  const rowsOf = (n: number) => n.toLocaleString('en');
  const rate = (t: ToolResult) => `${rowsOf(t.rowsPerSecond)} rows/s (${t.seconds} s)`;
  return [
    '# batch-worker export benchmark',
    '',
    `Measured ${date} by \`pnpm --filter @sidestep/batch-worker bench:export${values['memory-run'] ? ' -- --memory-run' : ''}\` on ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, PostgreSQL ${machine.postgres} (${machine.platform}); median of ${repeat} run(s) per size and tool. The machine is shared with other work (and the S3 emulator runs on it too): expect noise of +-20%. Generated file; see ../README.md (Export) for how to read it.`,
    '',
    '- **psql | gzip -1**: `psql -c "\\copy (SELECT external_id, email, name, attributes, created_at, updated_at FROM users ORDER BY external_id) TO STDOUT (FORMAT csv, HEADER)" | gzip -1 > file`. The issue\'s baseline.',
    "- **psql (worker SQL) | gzip -1**: the same pipe running the worker's own statement (`exportCopySql`: the same SELECT with `FORCE_QUOTE *`; the formula escape happens in the worker).",
    '- **worker**: the exact task bundle (`dist/index.mjs`, `MODE=export`) as a child process: COPY TO STDOUT -> one byte pass for record ends and formula cells (OWASP escape) -> gzip level 1, one member per 8 MiB part -> SHA-256 + MD5 -> PutObject to the local S3 (fauxqs, on the same machine), then the manifest and the job counts.',
    '',
    "Wall time from process spawn to exit for all three. Peak RSS is each client process's own (the worker's `VmHWM`, psql's from GNU time; gzip's is not counted); PostgreSQL's memory is not counted for any.",
    '',
    '| rows | psql \\| gzip -1 | psql (worker SQL) \\| gzip -1 | worker | worker / psql \\| gzip | worker / same SQL | worker peak RSS | psql peak RSS | gzip size (plain / worker SQL / worker) |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...results.map(
      (r) =>
        `| ${rowsOf(r.rows)} | ${rate(r.psqlGzip)} | ${rate(r.psqlSameSqlGzip)} | ${rate(r.worker)} | ${r.ratio}x | ${r.ratioVsSameSql}x | ${r.worker.maxRssMiB} MiB | ${r.psqlGzip.maxRssMiB} MiB | ${r.psqlGzip.gzipMiB} / ${r.psqlSameSqlGzip.gzipMiB} / ${r.worker.gzipMiB} MiB |`,
    ),
    '',
    `Goal (issue 4): worker >= ${GOAL.rowsPerSecondVsPsqlGzip}x \`psql | gzip -1\`'s rows/s; peak RSS flat as rows grow.`,
    '',
  ].join('\n');
}
