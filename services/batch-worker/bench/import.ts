/**
 * `pnpm --filter @sidestep/batch-worker bench`: the import of N-row CSVs from the local S3 (fauxqs)
 * into Debian PostgreSQL by the exact task bundle (dist/index.mjs, as ECS runs it), against
 * `psql \copy` of the same file into a table of the same shape (text columns, primary key on
 * external_id) on the same server, in the same run. Reports rows/s of both and the worker's peak RSS
 * per size, to show memory flat as rows grow. Results: bench/results.json and bench/RESULTS.md.
 *
 * A second baseline, `psql \copy + merge`, has psql do the worker's database work without the
 * worker: `\copy` into a temporary staging table, then the same `INSERT ... ON CONFLICT` upsert into
 * `users`, one transaction. The gap between it and plain `\copy` is the price of upsert semantics;
 * the gap between it and the worker is the worker's own (parse, validate, stream).
 *
 * Flags: `--rows 100000,1000000` (sizes, default), `--memory-run` (adds 10,000,000 rows),
 * `--repeat N` (runs per size and tool, median reported; default 1). Needs `BENCH_DATABASE_URL` or
 * `TEST_DATABASE_URL` (a real PostgreSQL server, not PGlite) and psql on PATH. Diagnostics:
 * `BENCH_VERBOSE=1` prints the worker's logs, `BENCH_PROGRESS_SECONDS` sets its progress interval,
 * `BENCH_NODE_OPTIONS` adds Node flags (e.g. `--max-old-space-size=128`).
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, createWriteStream, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { task } from '../task.ts';
import { readBenchFlags, type Sample, startBench, type ToolResult, toolResult } from './start-bench.ts';

const GOAL = { rowsPerSecondVsPsql: 0.8 };

const { sizes, repeat, memoryRun, workerOnly } = readBenchFlags();
const bench = await startBench({
  bucket: 'sidestep-bench-imports',
  schemaPrefix: 'bench',
  baseline: 'psql \\copy',
});
const { workDir, s3, bucket, db, schemaUrl, machine } = bench;
// The baseline's table has the file's shape: psql \copy cannot map extra columns into a jsonb.
await db.query(
  `CREATE TABLE baseline_users (external_id text PRIMARY KEY, email text NOT NULL, name text, plan text, country text)`,
);

/** Writes an N-row users CSV (5 columns, some names quoted with a comma) and returns its path and size. */
async function writeCsv(rows: number): Promise<{ path: string; bytes: number }> {
  const path = join(workDir, `users-${rows}.csv`);
  const out = createWriteStream(path);
  let chunk = 'external_id,email,name,plan,country\n';
  for (let n = 1; n <= rows; n++) {
    chunk += `user-${n},user${n}@example.com,${n % 10 === 0 ? `"Doe, User ${n}"` : `User ${n}`},${n % 3 === 0 ? 'pro' : 'free'},JP\n`;
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');
  return { path, bytes: statSync(path).size };
}

/** Uploads a file in 16 MiB parts, reading it part by part. */
async function upload(path: string, key: string): Promise<void> {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const parts: { ETag: string | undefined; PartNumber: number }[] = [];
  let part = 1;
  let buffer: Buffer[] = [];
  let size = 0;
  const flush = async () => {
    const { ETag } = await s3.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        PartNumber: part,
        Body: Buffer.concat(buffer),
      }),
    );
    parts.push({ ETag, PartNumber: part++ });
    buffer = [];
    size = 0;
  };
  for await (const data of createReadStream(path, { highWaterMark: 1 << 20 })) {
    buffer.push(data as Buffer);
    size += (data as Buffer).length;
    // fauxqs accepts request bodies up to 11 MiB; S3 parts must be at least 5 MiB.
    if (size >= 8 << 20) await flush();
  }
  if (size > 0) await flush();
  await s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      UploadId,
      MultipartUpload: { Parts: parts },
    }),
  );
}

/** `psql \copy` of the file into the baseline table, timed from spawn to exit; peak RSS from GNU time. */
function psqlCopy(path: string): Sample {
  spawnSync('psql', [schemaUrl, '-qc', 'TRUNCATE baseline_users']);
  const started = performance.now();
  const result = spawnSync(
    '/usr/bin/time',
    [
      '-f',
      '%M',
      'psql',
      schemaUrl,
      '-v',
      'ON_ERROR_STOP=1',
      '-qc',
      `\\copy baseline_users FROM '${path}' WITH (FORMAT csv, HEADER true)`,
    ],
    { encoding: 'utf8' },
  );
  const seconds = (performance.now() - started) / 1000;
  if (result.status !== 0) throw new Error(`psql \\copy failed: ${result.stderr}`);
  return { seconds, maxRssMiB: Number(result.stderr.trim().split('\n').at(-1)) / 1024 };
}

/**
 * psql doing the worker's database work: `\copy` into a temporary staging table, then the worker's
 * upsert (DISTINCT ON, ON CONFLICT DO UPDATE) into an empty `users`, in one transaction.
 */
function psqlCopyMerge(path: string): Sample {
  spawnSync('psql', [schemaUrl, '-qc', 'TRUNCATE users']);
  const script = [
    'BEGIN;',
    'CREATE TEMPORARY TABLE staging (external_id text, email text, name text, plan text, country text) ON COMMIT DROP;',
    `\\copy staging FROM '${path}' WITH (FORMAT csv, HEADER true)`,
    `INSERT INTO users (external_id, email, name, attributes)
       SELECT DISTINCT ON (external_id) external_id, email, name, jsonb_build_object('plan', plan, 'country', country)
       FROM staging ORDER BY external_id
       ON CONFLICT (external_id) DO UPDATE SET email = excluded.email, name = excluded.name,
         attributes = users.attributes || excluded.attributes, updated_at = now()
       WHERE (users.email, users.name, users.attributes)
         IS DISTINCT FROM (excluded.email, excluded.name, users.attributes || excluded.attributes);`,
    'COMMIT;',
  ].join('\n');
  const scriptPath = join(workDir, 'copy-merge.sql');
  writeFileSync(scriptPath, script);
  const started = performance.now();
  const result = spawnSync(
    '/usr/bin/time',
    ['-f', '%M', 'psql', schemaUrl, '-v', 'ON_ERROR_STOP=1', '-qf', scriptPath],
    {
      encoding: 'utf8',
    },
  );
  const seconds = (performance.now() - started) / 1000;
  if (result.status !== 0) throw new Error(`psql \\copy + merge failed: ${result.stderr}`);
  return { seconds, maxRssMiB: Number(result.stderr.trim().split('\n').at(-1)) / 1024 };
}

/** One worker import of `key` into an empty users table, timed from spawn to exit. */
async function workerImport(key: string, rows: number): Promise<Sample> {
  await db.query('TRUNCATE users');
  const jobId = `imp_bench_${rows}_${Date.now()}`;
  await db.query(
    `INSERT INTO jobs (id, kind, state, source_bucket, source_key, source_version) VALUES ($1, 'import', 'running', $2, $3, $1)`,
    [jobId, bucket, key],
  );
  // Diagnostics: BENCH_SAMPLE_RSS=1 prints the worker's VmRSS every 100 ms (MiB), to see when it peaks.
  const samples: number[] = [];
  let hwm = 0;
  let sampler: NodeJS.Timeout | undefined;
  const { code, seconds, finished, output } = await bench.runWorker({
    environment: {
      MODE: 'import',
      JOB_ID: jobId,
      SOURCE_BUCKET: bucket,
      SOURCE_KEY: key,
      NODE_OPTIONS: `${task.environment.NODE_OPTIONS} ${process.env.BENCH_NODE_OPTIONS ?? ''}`.trim(),
      PROGRESS_INTERVAL_SECONDS: process.env.BENCH_PROGRESS_SECONDS ?? '5',
    },
    finishedMessage: 'import finished',
    onStart: (pid) => {
      if (!process.env.BENCH_SAMPLE_RSS) return;
      sampler = setInterval(() => {
        try {
          const status = readFileSync(`/proc/${pid}/status`, 'utf8');
          samples.push(Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024));
          const peak = Math.round(Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]) / 1024);
          if (peak > hwm + 20) samples.push(-peak); // a negative sample marks where the peak jumped
          hwm = peak;
        } catch {
          // the process has exited
        }
      }, 100);
    },
  });
  if (sampler) {
    clearInterval(sampler);
    process.stderr.write(
      `worker VmRSS MiB every 100 ms: ${samples.join(' ')} (VmHWM ${hwm}; -N: the peak jumped to N)\n`,
    );
  }
  if (code !== 0 || !finished || finished.rowsImported !== rows) {
    throw new Error(`worker import of ${rows} rows failed (exit ${code}):\n${output}`);
  }
  return { seconds, maxRssMiB: (finished.maxRssBytes as number) / 1024 ** 2 };
}

interface BenchResult {
  rows: number;
  fileMiB: number;
  psql: ToolResult;
  psqlMerge: ToolResult;
  worker: ToolResult;
  /** worker rows/s over psql \copy rows/s (the issue's goal: >= 0.8) */
  ratio: number;
  /** worker rows/s over psql \copy + merge rows/s */
  ratioVsMerge: number;
}

const results: BenchResult[] = [];
try {
  for (const rows of sizes) {
    const file = await writeCsv(rows);
    const key = `imports/users-${rows}.csv`;
    await upload(file.path, key);
    const psql: Sample[] = [];
    const psqlMerge: Sample[] = [];
    const worker: Sample[] = [];
    for (let run = 0; run < repeat; run++) {
      if (!workerOnly) {
        psql.push(psqlCopy(file.path));
        psqlMerge.push(psqlCopyMerge(file.path));
      }
      worker.push(await workerImport(key, rows));
    }
    rmSync(file.path);
    const tool = (samples: Sample[]) => toolResult(samples, rows);
    const result: BenchResult = {
      rows,
      fileMiB: Number((file.bytes / 1024 ** 2).toFixed(1)),
      psql: tool(psql),
      psqlMerge: tool(psqlMerge),
      worker: tool(worker),
      ratio: 0,
      ratioVsMerge: 0,
    };
    result.ratio = Number((result.worker.rowsPerSecond / result.psql.rowsPerSecond).toFixed(2));
    result.ratioVsMerge = Number((result.worker.rowsPerSecond / result.psqlMerge.rowsPerSecond).toFixed(2));
    results.push(result);
    console.log(
      `${rows.toLocaleString('en')} rows: psql \\copy ${result.psql.rowsPerSecond.toLocaleString('en')} rows/s, psql \\copy + merge ${result.psqlMerge.rowsPerSecond.toLocaleString('en')} rows/s, worker ${result.worker.rowsPerSecond.toLocaleString('en')} rows/s (${result.ratio}x / ${result.ratioVsMerge}x), worker peak RSS ${result.worker.maxRssMiB} MiB`,
    );
  }
} finally {
  await bench.stop();
}

const date = new Date().toISOString();
const resultsFile = { date, machine, repeat, goal: GOAL, results };
// Only a run that includes 1M rows replaces the committed results (a quick --rows 1000 run does not).
if (sizes.includes(1_000_000) && !workerOnly) {
  writeFileSync(join(import.meta.dirname, 'results.json'), `${JSON.stringify(resultsFile, null, 2)}\n`);
  writeFileSync(join(import.meta.dirname, 'RESULTS.md'), markdown());
  console.log('wrote bench/results.json and bench/RESULTS.md');
}

function markdown(): string {
  const rowsOf = (n: number) => n.toLocaleString('en');
  const rate = (t: ToolResult) => `${rowsOf(t.rowsPerSecond)} rows/s (${t.seconds} s)`;
  const lines = [
    '# batch-worker import benchmark',
    '',
    `Measured ${date} by \`pnpm --filter @sidestep/batch-worker bench${memoryRun ? ' -- --memory-run' : ''}\` on ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, PostgreSQL ${machine.postgres} (${machine.platform}); median of ${repeat} run(s) per size and tool. The machine is shared with other work (and the S3 emulator runs on it too): expect noise of +-20%. Generated file: see ../README.md (Performance) for how to read it.`,
    '',
    "- **psql \\copy**: `\\copy baseline_users FROM <file> (FORMAT csv, HEADER)` of the same file from local disk into a table of the file's shape with a primary key on external_id. The issue's baseline.",
    "- **psql \\copy + merge**: psql doing the worker's database work: `\\copy` into a temporary staging table, then the same `INSERT ... ON CONFLICT (external_id) DO UPDATE` into an empty `users`, one transaction.",
    '- **worker**: the exact task bundle (`dist/index.mjs`) as a child process: GetObject stream from the local S3 (fauxqs) -> csv-parse -> row validation -> per 2 MiB chunk `COPY` into a temporary staging table and the upsert into `users` (empty before each run) -> job counts, one transaction.',
    '',
    "Wall time from process spawn to exit for all three. Peak RSS is each client process's own (the worker's `VmHWM`, psql's from GNU time); PostgreSQL's memory is not counted for any.",
    '',
    '| rows | file | psql \\copy | psql \\copy + merge | worker | worker / psql \\copy | worker / psql \\copy + merge | worker peak RSS | psql peak RSS |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...results.map(
      (r) =>
        `| ${rowsOf(r.rows)} | ${r.fileMiB} MiB | ${rate(r.psql)} | ${rate(r.psqlMerge)} | ${rate(r.worker)} | ${r.ratio}x | ${r.ratioVsMerge}x | ${r.worker.maxRssMiB} MiB | ${r.psql.maxRssMiB} MiB |`,
    ),
    '',
    `Goal (issue 3): worker >= ${GOAL.rowsPerSecondVsPsql}x psql \\copy's rows/s; peak RSS flat as rows grow.`,
    '',
  ];
  return lines.join('\n');
}
