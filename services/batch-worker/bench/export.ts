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
 * Flags (bench/start-bench.ts): `--rows 100000,1000000` (sizes, default), `--memory-run` (adds
 * 10,000,000 rows), `--repeat N` (runs per size and tool, median reported; default 1),
 * `--worker-only`. Needs `BENCH_DATABASE_URL` or `TEST_DATABASE_URL` (a real PostgreSQL server) and
 * psql, gzip and GNU time on PATH.
 * `BENCH_VERBOSE=1` prints the worker's logs; `BENCH_WORKER_NODE_ARGS` passes node flags to it
 * (`--cpu-prof --cpu-prof-dir=/tmp/p`, `--trace-gc`); `BENCH_PROGRESS_SECONDS` its progress log
 * interval (default 5; with `BENCH_VERBOSE`, `0.05` follows its memory as the export runs).
 */
import { spawnSync } from 'node:child_process';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { EXPORT_COLUMNS, exportCopySql } from '../src/domain/export-query.ts';
import {
  median,
  readBenchFlags,
  type Sample,
  startBench,
  type ToolResult,
  toolResult,
} from './start-bench.ts';

const GOAL = { rowsPerSecondVsPsqlGzip: 0.8, workerPeakRssMiB: 128 };
/** The machine is shared: its load is part of the result. */
const loadAtStart = loadavg().map((load) => Number(load.toFixed(2)));

const { sizes, repeat, memoryRun, workerOnly } = readBenchFlags();
const bench = await startBench({
  bucket: 'sidestep-bench-exports',
  schemaPrefix: 'bench_export',
  baseline: 'psql',
});
const { workDir, bucket, db, schemaUrl, machine } = bench;

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

/** A sample with the gzip bytes the tool wrote (and, for the worker, its own CPU seconds). */
interface ExportSample extends Sample {
  readonly bytes: number;
  readonly cpuSeconds?: number;
}

/** `psql -c '\copy (<select>) TO STDOUT ...' | gzip -1 > file`, timed from spawn to exit. */
function psqlGzip(copyCommand: string): ExportSample {
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
async function workerExport(rows: number): Promise<ExportSample> {
  const jobId = `exp_bench_${rows}_${Date.now()}`;
  await db.query(`INSERT INTO jobs (id, kind, state) VALUES ($1, 'export', 'running')`, [jobId]);
  const { code, seconds, finished, output } = await bench.runWorker({
    environment: {
      MODE: 'export',
      JOB_ID: jobId,
      EXPORTS_BUCKET: bucket,
      EXPORT_FILE_NAME: 'bench',
      PROGRESS_INTERVAL_SECONDS: process.env.BENCH_PROGRESS_SECONDS ?? '5',
    },
    finishedMessage: 'export finished',
  });
  if (code !== 0 || !finished || finished.rows !== rows) {
    throw new Error(`worker export of ${rows} rows failed (exit ${code}):\n${output}`);
  }
  return {
    seconds,
    maxRssMiB: (finished.maxRssBytes as number) / 1024 ** 2,
    bytes: finished.bytes as number,
    cpuSeconds: finished.cpuSeconds as number,
  };
}

interface ExportToolResult extends ToolResult {
  gzipMiB: number;
  /** The worker's median CPU seconds (user + system, all its threads); absent for the baselines. */
  cpuSeconds?: number;
}

interface BenchResult {
  rows: number;
  psqlGzip: ExportToolResult;
  psqlSameSqlGzip: ExportToolResult;
  worker: ExportToolResult;
  /** worker rows/s over `psql | gzip -1` rows/s (the goal: >= 0.8) */
  ratio: number;
  /** worker rows/s over `psql (the worker's SQL) | gzip -1` rows/s */
  ratioVsSameSql: number;
}

const results: BenchResult[] = [];
try {
  for (const rows of sizes) {
    await seed(rows);
    const plain: ExportSample[] = [];
    const same: ExportSample[] = [];
    const worker: ExportSample[] = [];
    // Warm the cache once so the first tool does not pay for reading the table from disk.
    if (!workerOnly) psqlGzip(plainCopy);
    for (let run = 0; run < repeat; run++) {
      if (!workerOnly) {
        plain.push(psqlGzip(plainCopy));
        same.push(psqlGzip(workerCopy));
      }
      worker.push(await workerExport(rows));
    }
    const tool = (samples: ExportSample[]): ExportToolResult => {
      const cpu = samples.flatMap((sample) => (sample.cpuSeconds === undefined ? [] : [sample.cpuSeconds]));
      return {
        ...toolResult(samples, rows),
        gzipMiB: Number(((samples[0]?.bytes ?? 0) / 1024 ** 2).toFixed(1)),
        ...(cpu.length > 0 ? { cpuSeconds: Number(median(cpu).toFixed(2)) } : {}),
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
    const rate = (t: ExportToolResult) => `${t.rowsPerSecond.toLocaleString('en')} rows/s`;
    console.log(
      `${rows.toLocaleString('en')} rows: psql | gzip -1 ${rate(result.psqlGzip)}, psql (worker SQL) | gzip -1 ${rate(result.psqlSameSqlGzip)}, worker ${rate(result.worker)} (${result.ratio}x / ${result.ratioVsSameSql}x), worker peak RSS ${result.worker.maxRssMiB} MiB, gzip ${result.psqlGzip.gzipMiB} / ${result.psqlSameSqlGzip.gzipMiB} / ${result.worker.gzipMiB} MiB`,
    );
  }
} finally {
  await bench.stop();
}

const date = new Date().toISOString();
const loadAtEnd = loadavg().map((load) => Number(load.toFixed(2)));
// Only a run that includes 1M rows replaces the committed results (a quick --rows 1000 run does not).
if (sizes.includes(1_000_000) && !workerOnly) {
  writeFileSync(
    join(import.meta.dirname, 'export-results.json'),
    `${JSON.stringify({ date, machine: { ...machine, loadAtStart, loadAtEnd }, repeat, goal: GOAL, results }, null, 2)}\n`,
  );
  writeFileSync(join(import.meta.dirname, 'EXPORT-RESULTS.md'), markdown());
  console.log('wrote bench/export-results.json and bench/EXPORT-RESULTS.md');
}

function markdown(): string {
  const rowsOf = (n: number) => n.toLocaleString('en');
  const rate = (t: ExportToolResult) => `${rowsOf(t.rowsPerSecond)} rows/s (${t.seconds} s)`;
  return [
    '# batch-worker export benchmark',
    '',
    `Measured ${date} by \`pnpm --filter @sidestep/batch-worker bench:export --${memoryRun ? ' --memory-run' : ''} --repeat ${repeat}\` on ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, PostgreSQL ${machine.postgres} (${machine.platform}); median of ${repeat} run(s) per size and tool, interleaved. Load average (1 / 5 / 15 min) ${loadAtStart.join(' / ')} at the start, ${loadAtEnd.join(' / ')} at the end: the 2 cores are shared with other work (and the S3 emulator runs on them too), so the numbers are noisy (+-20% and more between runs); the ratios compare tools measured in the same minutes. Generated file; see ../README.md (Export) for how to read it.`,
    '',
    '- **psql | gzip -1**: `psql -c "\\copy (SELECT external_id, email, name, attributes, created_at, updated_at FROM users ORDER BY external_id) TO STDOUT (FORMAT csv, HEADER)" | gzip -1 > file`. The issue\'s baseline.',
    "- **psql (worker SQL) | gzip -1**: the same pipe running the worker's own statement (`exportCopySql`: the same SELECT with `FORCE_QUOTE *`; the formula escape happens in the worker).",
    "- **worker**: the exact task bundle (`dist/index.mjs`, `MODE=export`) as a child process: COPY TO STDOUT, its messages decoded in place in each socket read -> one byte pass for record ends and formula cells (OWASP escape) -> copied into reused 256 KiB stages -> gzip level 1 on zlib's thread, one member per 8 MiB part, into one of two reused part buffers -> CRC-64/NVME -> UploadPart with ChecksumCRC64NVME into the file's multipart upload in the local S3 (plain fauxqs, on the same machine) and the progress record after each part, then the manifest and the job counts.",
    '',
    "Wall time from process spawn to exit for all three. Peak RSS is each client process's own (the worker's `VmHWM`, psql's from GNU time; gzip's is not counted); PostgreSQL's memory is not counted for any. Worker CPU is the task's own user + system seconds (all threads, zlib's included; `cpuSeconds` of its finished line), steadier than wall time on a loaded machine.",
    '',
    '| rows | psql \\| gzip -1 | psql (worker SQL) \\| gzip -1 | worker | worker / psql \\| gzip | worker / same SQL | worker CPU | worker peak RSS | psql peak RSS | gzip size (plain / worker SQL / worker) |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...results.map(
      (r) =>
        `| ${rowsOf(r.rows)} | ${rate(r.psqlGzip)} | ${rate(r.psqlSameSqlGzip)} | ${rate(r.worker)} | ${r.ratio}x | ${r.ratioVsSameSql}x | ${r.worker.cpuSeconds ?? '-'} s | ${r.worker.maxRssMiB} MiB | ${r.psqlGzip.maxRssMiB} MiB | ${r.psqlGzip.gzipMiB} / ${r.psqlSameSqlGzip.gzipMiB} / ${r.worker.gzipMiB} MiB |`,
    ),
    '',
    `Goal (issue 13): worker >= ${GOAL.rowsPerSecondVsPsqlGzip}x \`psql | gzip -1\`'s rows/s at every size; worker peak RSS flat as rows grow and <= ${GOAL.workerPeakRssMiB} MiB.`,
    '',
  ].join('\n');
}
