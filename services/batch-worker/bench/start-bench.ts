/**
 * What the import and export benchmarks share: their flags, the local S3 (fauxqs) with one bucket,
 * a migrated schema of their own on the benchmark's PostgreSQL, the task bundle run as ECS runs it,
 * and the medians and machine line of the results.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { migrate, PostgresDatabase } from '@sidestep/db';
import { startFauxqs } from 'fauxqs';
import pg from 'pg';
import { task } from '../task.ts';

const packageDir = join(import.meta.dirname, '..');
const bundle = join(packageDir, 'dist', 'index.mjs');

/**
 * The flags both benchmarks take: `--rows 100000,1000000` (sizes), `--memory-run` (adds 10,000,000
 * rows), `--repeat N` (runs per size and tool, median reported), and for diagnostics `--worker-only`
 * (skips the psql baselines and never writes results). `pnpm run bench -- --memory-run` passes the
 * `--` through; it is dropped.
 */
export function readBenchFlags() {
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((arg) => arg !== '--'),
    options: {
      rows: { type: 'string', default: '100000,1000000' },
      'memory-run': { type: 'boolean', default: false },
      repeat: { type: 'string', default: '1' },
      'worker-only': { type: 'boolean', default: false },
    },
  });
  const sizes = values.rows.split(',').map(Number);
  if (values['memory-run']) sizes.push(10_000_000);
  return {
    sizes,
    repeat: Number(values.repeat),
    memoryRun: values['memory-run'],
    workerOnly: values['worker-only'],
  };
}

/** A started benchmark: S3, the database schema, and how to run the task against them. */
export interface Bench {
  readonly workDir: string;
  readonly s3: S3Client;
  readonly bucket: string;
  readonly db: PostgresDatabase;
  /** The database URL with `search_path` set to the benchmark's schema (for the task and psql). */
  readonly schemaUrl: string;
  /** The machine the results are measured on. */
  readonly machine: ReturnType<typeof machineOf>;
  /** Runs the task bundle with `environment` and returns what it logged as `finishedMessage`. */
  runWorker(run: WorkerRun): Promise<WorkerResult>;
  stop(): Promise<void>;
}

/** One run of the task bundle. */
export interface WorkerRun {
  /** The mode's container overrides (MODE, JOB_ID, ...), over the local S3 and database settings. */
  readonly environment: Readonly<Record<string, string>>;
  /** The log message of a successful run (`import finished`). */
  readonly finishedMessage: string;
  /** Called with the child's pid once it has started (for sampling its memory). */
  readonly onStart?: (pid: number | undefined) => void;
}

/** A worker run: its wall time from spawn to exit and its finished log line (`undefined` if none). */
export interface WorkerResult {
  readonly code: number | null;
  readonly seconds: number;
  readonly finished: Record<string, unknown> | undefined;
  readonly output: string;
}

/**
 * Starts a benchmark: exits with a message when there is no PostgreSQL server or no bundle; else
 * starts fauxqs with `bucket`, and a schema `<schemaPrefix>_<pid>` migrated like any database the
 * worker meets (dropped by `stop`).
 */
export async function startBench(options: {
  readonly bucket: string;
  readonly schemaPrefix: string;
  /** What the missing-database message says the baseline is. */
  readonly baseline: string;
}): Promise<Bench> {
  const databaseUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  if (!databaseUrl) {
    console.error(
      `bench: set BENCH_DATABASE_URL or TEST_DATABASE_URL to a PostgreSQL server (${options.baseline} is the baseline)`,
    );
    process.exit(1);
  }
  try {
    statSync(bundle);
  } catch {
    console.error(`bench: ${bundle} is missing; run pnpm --filter @sidestep/batch-worker build`);
    process.exit(1);
  }

  const workDir = mkdtempSync(join(tmpdir(), `batch-worker-${options.schemaPrefix}-`));
  const s3Server = await startFauxqs({
    port: 0,
    host: '127.0.0.1',
    logger: false,
    s3StorageDir: join(workDir, 's3'),
  });
  const endpoint = `http://127.0.0.1:${s3Server.port}`;
  const { bucket } = options;
  const s3 = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));

  const schema = `${options.schemaPrefix}_${process.pid}`;
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}`);
  const searchPath = `-c search_path=${schema}`;
  const db = new PostgresDatabase(
    new pg.Pool({ connectionString: databaseUrl, max: 1, options: searchPath }),
  );
  await migrate(db);
  // encodeURIComponent, not URLSearchParams: libpq (psql) does not read '+' as a space.
  const schemaUrl = `${databaseUrl}${databaseUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(searchPath)}`;
  const serverVersion =
    (await db.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]?.v ?? 'unknown';

  return {
    workDir,
    s3,
    bucket,
    db,
    schemaUrl,
    machine: machineOf(serverVersion),
    async runWorker(run) {
      const started = performance.now();
      // Diagnostics: `BENCH_WORKER_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/p'` (or `--trace-gc`)
      // passes node flags to the task, before the bundle.
      const nodeArgs = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
      const child = spawn(process.execPath, [...nodeArgs, bundle], {
        cwd: join(packageDir, 'dist'),
        env: {
          PATH: process.env.PATH ?? '',
          DATABASE_URL: schemaUrl,
          AWS_ENDPOINT_URL: endpoint,
          AWS_S3_FORCE_PATH_STYLE: 'true',
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'bench',
          AWS_SECRET_ACCESS_KEY: 'bench',
          // The task definition's own environment, as ECS sets it.
          ...task.environment,
          ...run.environment,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      run.onStart?.(child.pid);
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
        .find((log) => log.message === run.finishedMessage);
      return { code, seconds, finished, output };
    },
    async stop() {
      await db.close();
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
      s3.destroy();
      await s3Server.stop();
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}

/** One timed run of a tool. */
export interface Sample {
  readonly seconds: number;
  readonly maxRssMiB: number;
}

/** A tool's result for one size: median time and rate, highest peak RSS. */
export interface ToolResult {
  seconds: number;
  rowsPerSecond: number;
  maxRssMiB: number;
}

/** The median of `numbers` (the mean of the middle two for an even count). */
export function median(numbers: readonly number[]): number {
  const sorted = [...numbers].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** The median seconds and rows/s and the highest peak RSS of `samples` (all 0 when there are none). */
export function toolResult(samples: readonly Sample[], rows: number): ToolResult {
  if (samples.length === 0) return { seconds: 0, rowsPerSecond: 0, maxRssMiB: 0 };
  const seconds = median(samples.map((s) => s.seconds));
  return {
    seconds: Number(seconds.toFixed(2)),
    rowsPerSecond: Math.round(rows / seconds),
    maxRssMiB: Number(Math.max(...samples.map((s) => s.maxRssMiB)).toFixed(1)),
  };
}

/** The machine the results were measured on. */
function machineOf(serverVersion: string) {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
    postgres: serverVersion,
    platform: `${process.platform}-${process.arch}`,
  };
}
