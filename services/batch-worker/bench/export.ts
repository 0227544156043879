/**
 * `pnpm --filter @sidestep/batch-worker bench:export`: the export of N users from Debian PostgreSQL
 * by the exact task bundle (dist/index.mjs with MODE=export, as ECS runs it) into the local S3
 * (fauxqs), against `psql \copy (SELECT ...) TO STDOUT | gzip -1` on the same server, in the same
 * run. Reports rows/s of each and the worker's peak RSS per size, to show memory flat as rows grow.
 * Results: bench/export-results.json and bench/EXPORT-RESULTS.md (the import's stay in RESULTS.md).
 *
 * Two baselines: `psql | gzip -1` runs the plain SELECT (the issue's baseline); `psql (same SQL) |
 * gzip -1` runs the worker's own statement (every cell quoted), so the gap between the second and the
 * worker is the worker's own work (record ends and formula escapes in one byte pass, gzip members,
 * checksums, S3 uploads, manifest).
 * A node floor (bench/node-floor-export.ts, no goal's baseline) is Node doing the least an export
 * needs, pg's COPY through gzip -1 into a local file: at the smallest size its gap to
 * `psql | gzip -1` is mostly what starting Node and pg costs.
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
import { bundleService } from '@sidestep/bundle';
import { EXPORT_COLUMNS, exportCopySql } from '../src/domain/export-query.ts';
import { task } from '../task.ts';
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
/**
 * bench/node-floor-export.ts, bundled as the worker is (bench/.node-floor/index.mjs), before anything
 * is started.
 */
const nodeFloorBundle = workerOnly
  ? undefined
  : (
      await bundleService({
        packageDir: join(import.meta.dirname, '..'),
        entry: 'bench/node-floor-export.ts',
        outdir: 'bench/.node-floor',
      })
    ).outfile;

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

/** How to run one export that writes the gzip file `out` and its own peak RSS (GNU time's `%M`, KiB) to `rss`. */
type ExportCommand = (files: { out: string; rss: string }) => {
  command: string;
  args: string[];
  env: Record<string, string>;
};

/** One export by a tool, timed from spawn to exit; its file's size, then the file removed. */
function timedExport(tool: string, run: ExportCommand): ExportSample {
  const out = join(workDir, `${tool}.csv.gz`);
  const rssFile = join(workDir, `${tool}-rss`);
  const { command, args, env } = run({ out, rss: rssFile });
  const started = performance.now();
  const result = spawnSync(command, args, { encoding: 'utf8', env });
  const seconds = (performance.now() - started) / 1000;
  if (result.status !== 0) throw new Error(`${tool} failed: ${result.stderr}`);
  const rss = Number(spawnSync('tail', ['-n1', rssFile], { encoding: 'utf8' }).stdout.trim());
  const bytes = statSync(out).size;
  rmSync(out);
  return { seconds, maxRssMiB: rss / 1024, bytes };
}

/** `psql -c '\copy (<select>) TO STDOUT ...' | gzip -1 > file`, timed from spawn to exit. */
function psqlGzip(tool: string, copyCommand: string): ExportSample {
  return timedExport(tool, ({ out, rss }) => ({
    command: 'bash',
    args: [
      '-c',
      'set -o pipefail; /usr/bin/time -o "$RSS" -f %M psql "$URL" -v ON_ERROR_STOP=1 -qc "$COPY" | gzip -1 > "$OUT"',
    ],
    // PGTZ: the worker writes timestamps in UTC; the baseline does the same work.
    env: {
      ...(process.env as Record<string, string>),
      URL: schemaUrl,
      COPY: copyCommand,
      OUT: out,
      RSS: rss,
      PGTZ: 'UTC',
    },
  }));
}

/** The baseline's statement: the plain SELECT of the exported columns, as CSV with a header. */
const plainCopySql = `COPY (SELECT ${EXPORT_COLUMNS.join(', ')} FROM users ORDER BY external_id) TO STDOUT (FORMAT csv, HEADER)`;
const plainCopy = plainCopySql.replace(/^COPY /, '\\copy ');

/**
 * The node floor's export of everyone (the baseline's SELECT), timed from spawn to exit. Spawned
 * without a shell, as the worker is: a `bash -c` with this small environment ran the machine's shell
 * start-up (pyenv's, here: +70 ms).
 */
function nodeFloor(bundle: string): ExportSample {
  return timedExport('node-floor', ({ out, rss }) => ({
    command: '/usr/bin/time',
    args: ['-o', rss, '-f', '%M', process.execPath, bundle],
    env: {
      PATH: process.env.PATH ?? '',
      // The task definition's own environment (its NODE_OPTIONS), as the worker runs with it.
      ...task.environment,
      DATABASE_URL: schemaUrl,
      COPY: plainCopySql,
      OUT: out,
    },
  }));
}
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
  /** bench/node-floor-export.ts: Node, pg and gzip -1 into a file, nothing else (absent before 2026-12-06) */
  nodeFloor?: ExportToolResult;
  /** worker rows/s over `psql | gzip -1` rows/s (the issue's goal: >= 0.8) */
  ratio: number;
  /** worker rows/s over `psql (the worker's SQL) | gzip -1` rows/s */
  ratioVsSameSql: number;
  /** the node floor's rows/s over `psql | gzip -1` rows/s: what starting Node and pg costs */
  nodeFloorRatio?: number;
}

const results: BenchResult[] = [];
try {
  for (const rows of sizes) {
    await seed(rows);
    const plain: ExportSample[] = [];
    const same: ExportSample[] = [];
    const worker: ExportSample[] = [];
    const floor: ExportSample[] = [];
    // Warm the cache once so the first tool does not pay for reading the table from disk.
    if (!workerOnly) psqlGzip('psql-gzip', plainCopy);
    for (let run = 0; run < repeat; run++) {
      if (!workerOnly) {
        plain.push(psqlGzip('psql-gzip', plainCopy));
        same.push(psqlGzip('psql-worker-sql-gzip', workerCopy));
        if (nodeFloorBundle) floor.push(nodeFloor(nodeFloorBundle));
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
      ...(floor.length > 0 ? { nodeFloor: tool(floor) } : {}),
      ratio: 0,
      ratioVsSameSql: 0,
    };
    result.ratio = Number((result.worker.rowsPerSecond / result.psqlGzip.rowsPerSecond).toFixed(2));
    result.ratioVsSameSql = Number(
      (result.worker.rowsPerSecond / result.psqlSameSqlGzip.rowsPerSecond).toFixed(2),
    );
    if (result.nodeFloor) {
      result.nodeFloorRatio = Number(
        (result.nodeFloor.rowsPerSecond / result.psqlGzip.rowsPerSecond).toFixed(2),
      );
    }
    results.push(result);
    const rate = (t: ExportToolResult) => `${t.rowsPerSecond.toLocaleString('en')} rows/s`;
    console.log(
      `${rows.toLocaleString('en')} rows: psql | gzip -1 ${rate(result.psqlGzip)}, psql (worker SQL) | gzip -1 ${rate(result.psqlSameSqlGzip)}, worker ${rate(result.worker)} (${result.ratio}x / ${result.ratioVsSameSql}x), worker peak RSS ${result.worker.maxRssMiB} MiB, gzip ${result.psqlGzip.gzipMiB} / ${result.psqlSameSqlGzip.gzipMiB} / ${result.worker.gzipMiB} MiB${result.nodeFloor ? `, node floor ${rate(result.nodeFloor)} (${result.nodeFloorRatio}x)` : ''}`,
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
    "- **node floor**: bench/node-floor-export.ts, bundled by the worker's bundler and run as a child process with the task definition's environment: pg connects, `COPY (<the plain SELECT>) TO STDOUT (FORMAT csv, HEADER)` through pg-copy-streams and zlib's gzip level 1 into a local file, and nothing else (no S3, no checksums, no formula escapes, no progress record, manifest or job counts). Not a goal's baseline: at the smallest size it shows what starting Node and pg costs, which no worker can take off; at the larger ones it is faster than `psql | gzip -1` (gzip in the same process, on zlib's thread). Absent from runs before 2026-12-06.",
    "- **worker**: the exact task bundle (`dist/index.mjs`, `MODE=export`) as a child process: COPY TO STDOUT, its messages decoded in place in each socket read -> one byte pass for record ends and formula cells (OWASP escape) -> copied into reused 256 KiB stages -> gzip level 1 on zlib's thread, one member per 8 MiB part, into one of two reused part buffers -> CRC-64/NVME -> UploadPart with ChecksumCRC64NVME into the file's multipart upload in the local S3 (plain fauxqs, on the same machine) and the progress record after each part, then the manifest and the job counts.",
    '',
    "Wall time from process spawn to exit for all four. Peak RSS is each client process's own (the worker's `VmHWM`, psql's from GNU time; gzip's is not counted); PostgreSQL's memory is not counted for any. Worker CPU is the task's own user + system seconds (all threads, zlib's included; `cpuSeconds` of its finished line), steadier than wall time on a loaded machine.",
    '',
    '| rows | psql \\| gzip -1 | psql (worker SQL) \\| gzip -1 | node floor | worker | worker / psql \\| gzip | worker / same SQL | node floor / psql \\| gzip | worker CPU | worker peak RSS | psql peak RSS | gzip size (plain / worker SQL / worker) |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...results.map(
      (r) =>
        `| ${rowsOf(r.rows)} | ${rate(r.psqlGzip)} | ${rate(r.psqlSameSqlGzip)} | ${r.nodeFloor ? rate(r.nodeFloor) : '-'} | ${rate(r.worker)} | ${r.ratio}x | ${r.ratioVsSameSql}x | ${r.nodeFloorRatio === undefined ? '-' : `${r.nodeFloorRatio}x`} | ${r.worker.cpuSeconds ?? '-'} s | ${r.worker.maxRssMiB} MiB | ${r.psqlGzip.maxRssMiB} MiB | ${r.psqlGzip.gzipMiB} / ${r.psqlSameSqlGzip.gzipMiB} / ${r.worker.gzipMiB} MiB |`,
    ),
    '',
    ...floorSentence(),
    `Goal (issue 13): worker >= ${GOAL.rowsPerSecondVsPsqlGzip}x \`psql | gzip -1\`'s rows/s at every size; worker peak RSS flat as rows grow and <= ${GOAL.workerPeakRssMiB} MiB.`,
    '',
  ].join('\n');
}

/**
 * Where the export at the smallest size stands against the node floor: what Node's and pg's start
 * leaves of the goal's margin (empty when the floor was not measured).
 */
function floorSentence(): string[] {
  const first = results.reduce<BenchResult | undefined>(
    (smallest, result) => (smallest === undefined || result.rows < smallest.rows ? result : smallest),
    undefined,
  );
  if (!first?.nodeFloor || first.nodeFloorRatio === undefined) return [];
  const goalSeconds = first.psqlGzip.seconds / GOAL.rowsPerSecondVsPsqlGzip;
  return [
    `At ${first.rows.toLocaleString('en')} rows the goal (${GOAL.rowsPerSecondVsPsqlGzip}x) allows the worker ${goalSeconds.toFixed(2)} s from spawn to exit, and the node floor alone takes ${first.nodeFloor.seconds} s (${first.nodeFloorRatio}x of \`psql | gzip -1\`, the worker ${first.worker.seconds} s): what is left for the worker's own work (the AWS SDK's S3 client and the upload, the checksums, the formula escapes, the progress record, the manifest, the job's ledger) is ${Math.max(0, goalSeconds - first.nodeFloor.seconds).toFixed(2)} s.`,
    '',
  ];
}
