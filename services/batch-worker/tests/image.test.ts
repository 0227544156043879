import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, globSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ExportWorkerManifest } from '@sidestep/contracts';
import { migrations } from '@sidestep/db';
import { BUNDLE_IMAGE_FILES, expectThirdPartyNotices } from '@sidestep/lambda-runtime/testing';
import * as z from 'zod/mini';
import { task } from '../task.ts';
import { completedFile } from './export-fixture.ts';
import {
  type DatabaseBackend,
  databaseBackends,
  jobRow,
  KILL_POINTS,
  runningJob,
  startS3,
  type TestS3,
  usersCsv,
  type WorkerDatabase,
} from './import-fixture.ts';

// The image contract: the files the Dockerfile copies (and nothing else) run as the task's command
// with only the environment ECS gives a container (the task definition's variables plus the
// workflow's overrides), in a working directory that cannot be written, as on a read-only root.
const packageDir = join(import.meta.dirname, '..');
const dockerfile = readFileSync(join(packageDir, 'Dockerfile'), 'utf8');

/** The sources of the Dockerfile's COPY into /app. */
/** The COPY into /app/'s sources, as written (globs). */
function copyPatterns(): string[] {
  const copy = dockerfile.split('\n').find((line) => /^COPY\s.*\s\/app\/$/.test(line));
  if (!copy) throw new Error('Dockerfile has no COPY into /app/');
  return copy.trim().split(/\s+/).slice(1, -1);
}

/** The files that COPY puts in the image, its globs expanded as Docker expands them. */
function copiedFiles(): string[] {
  return copyPatterns()
    .flatMap((pattern) => globSync(pattern, { cwd: packageDir }))
    .sort();
}

let taskDir: string;
let tmpDir: string;
let s3: TestS3;

beforeAll(async () => {
  taskDir = mkdtempSync(join(tmpdir(), 'batch-worker-task-'));
  tmpDir = mkdtempSync(join(tmpdir(), 'batch-worker-tmp-'));
  for (const file of copiedFiles())
    copyFileSync(join(packageDir, file), join(taskDir, file.split('/').at(-1) as string));
  s3 = await startS3();
}, 30_000);

/**
 * The import and export suites of a backend share one migrated database (their rows and jobs have
 * prefixes and ids of their own, and the export's filter picks only its own users): a PGlite start
 * is 2-3 s. The migrate suite needs an empty schema and starts its own.
 */
const sharedDatabases = new Map<DatabaseBackend['name'], Promise<WorkerDatabase>>();

function sharedDatabase(backend: DatabaseBackend): Promise<WorkerDatabase> {
  let database = sharedDatabases.get(backend.name);
  if (!database) {
    database = backend.start();
    sharedDatabases.set(backend.name, database);
  }
  return database;
}

afterAll(async () => {
  await Promise.allSettled([...sharedDatabases.values()].map(async (database) => (await database).close()));
  await s3?.stop();
  rmSync(taskDir, { recursive: true, force: true });
  rmSync(tmpDir, { recursive: true, force: true });
});

/** Every task process started, latest last. */
const spawnedTasks: ChildProcess[] = [];

/** A finished task: its exit code and its JSON log lines. */
interface TaskRun {
  readonly code: number | null;
  readonly logs: Record<string, unknown>[];
}

/**
 * Starts the task's command in the copied bundle's directory. Node's permission model stands in for
 * the read-only root file system (the tests run as root, for whom file modes mean nothing): only the
 * task's /tmp stand-in is writable.
 */
function startTask(
  environment: Record<string, string>,
  onLog?: (log: Record<string, unknown>, child: ChildProcess) => void,
): Promise<TaskRun> {
  const [command, ...args] = task.command;
  expect(command).toBe('node');
  const child = spawn(
    process.execPath,
    [
      '--permission',
      '--allow-fs-read=*',
      `--allow-fs-write=${tmpDir}`,
      '--disable-warning=SecurityWarning',
      ...args,
    ],
    {
      cwd: taskDir,
      // Nothing inherited from the test process, as nothing is in a container.
      env: {
        PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
        TMPDIR: tmpDir,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        AWS_ENDPOINT_URL: s3.endpoint,
        AWS_S3_FORCE_PATH_STYLE: 'true',
        ...task.environment,
        ...environment,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  spawnedTasks.push(child);
  // Powertools writes ERROR lines to stderr and the rest to stdout; both are JSON lines (awslogs
  // ships both). Anything else on either stream fails the test.
  const logs: Record<string, unknown>[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    let pending = '';
    stream.setEncoding('utf8').on('data', (data: string) => {
      pending += data;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const log = JSON.parse(line) as Record<string, unknown>;
        logs.push(log);
        onLog?.(log, child);
      }
    });
  }
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, logs }));
  });
}

/** Runs the task with S3 reached through an {@link s3Outage} that cuts it off after `afterBytes`. */
async function startTaskThroughOutage(
  environment: Record<string, string>,
  afterBytes: number,
): Promise<TaskRun> {
  const outage = await s3Outage(s3.endpoint, afterBytes);
  try {
    return await startTask({ ...environment, AWS_ENDPOINT_URL: outage.endpoint });
  } finally {
    await outage.close();
  }
}

/**
 * Runs the task, sends it SIGTERM once its `<mode> progress` log has rows under way (`rowsField` > 0),
 * as ECS StopTask would mid-run, and asserts what the worker's SIGTERM handler promises: exit 143
 * with the interruption as its last log line.
 */
async function interruptMidRun(
  environment: Record<string, string>,
  mode: 'import' | 'export',
  rowsField: string,
): Promise<TaskRun> {
  let signalled = false;
  const run = await startTask(environment, (log, child) => {
    if (!signalled && log.message === `${mode} progress` && (log[rowsField] as number) > 0) {
      signalled = true;
      child.kill('SIGTERM');
    }
  });
  expect(signalled).toBe(true);
  expect(run.code).toBe(143);
  expect(run.logs.at(-1)).toMatchObject({
    message: `${mode} failed`,
    errorName: mode === 'import' ? 'ImportInterruptedError' : 'ExportInterruptedError',
  });
  return run;
}

/**
 * An S3 outage in front of `upstream`: a loopback TCP proxy that passes connections through until
 * `afterBytes` have gone through it (requests and responses), then cuts every connection mid-stream
 * and stops listening, so every later connection is refused (ECONNREFUSED): an endpoint that went away.
 */
async function s3Outage(upstream: string, afterBytes: number) {
  const { hostname, port } = new URL(upstream);
  const sockets = new Set<Socket>();
  let sent = 0;
  const server = createServer((client) => {
    const upstreamSocket = createConnection({ host: hostname, port: Number(port) });
    sockets.add(client).add(upstreamSocket);
    for (const [from, to] of [
      [client, upstreamSocket],
      [upstreamSocket, client],
    ] as const) {
      from.on('data', (data: Buffer) => {
        sent += data.length;
        if (sent < afterBytes) {
          to.write(data);
          return;
        }
        server.close();
        for (const socket of sockets) socket.destroy();
      });
      from.on('error', () => {});
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: proxyPort } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${proxyPort}`,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('batch-worker image', () => {
  it('copies only the bundle and its third-party notices, runs the manifest command as a non-root user', () => {
    expect(copyPatterns()).toEqual(BUNDLE_IMAGE_FILES);
    // The bundle and its chunks with their maps, and the notices: no metafile, nothing else.
    const files = copiedFiles();
    expect(files).toContain('dist/index.mjs');
    expect(files).toContain('dist/THIRD-PARTY-NOTICES.txt');
    expect(
      files.filter(
        (file) => !/^dist\/((index|chunk-[A-Z0-9]+)\.mjs(\.map)?|THIRD-PARTY-NOTICES\.txt)$/.test(file),
      ),
    ).toEqual([]);
    expect(files.filter((file) => file.endsWith('.mjs')).length).toBeGreaterThan(1);
    expect(dockerfile).toMatch(/^FROM public\.ecr\.aws\/docker\/library\/node:24-slim$/m);
    expect(dockerfile).toMatch(/^USER node$/m);
    // The image's defaults are the task definition's, so a task run without them behaves the same.
    expect(/^ENV .*NODE_OPTIONS="([^"]+)"/m.exec(dockerfile)?.[1]).toBe(task.environment.NODE_OPTIONS);
    // Node trusts the Amazon CAs (RDS's among them) copied from the Lambda Node.js base image.
    const caFile = /^ENV NODE_EXTRA_CA_CERTS=(\S+)$/m.exec(dockerfile)?.[1];
    const caStage = /^FROM public\.ecr\.aws\/lambda\/nodejs:24 AS (\S+)$/m.exec(dockerfile)?.[1];
    expect(caFile).toBeDefined();
    expect(dockerfile).toContain(`COPY --from=${caStage} /var/runtime/ca-cert.pem ${caFile}\n`);
    const cmd = /^CMD (\[.*\])$/m.exec(dockerfile)?.[1];
    expect(JSON.parse(cmd ?? 'null')).toEqual(task.command);
  });

  it('carries the notices of every third-party package whose code is in its .mjs files', () => {
    expectThirdPartyNotices(taskDir, packageDir);
  });

  it('exits 1 naming the variable when an input is missing', async () => {
    const run = await startTask({ MODE: 'import', SOURCE_BUCKET: s3.bucket, SOURCE_KEY: 'imports/x.csv' });
    expect(run.code).toBe(1);
    expect(run.logs.at(-1)).toMatchObject({ level: 'ERROR', message: 'invalid configuration' });
    expect(JSON.stringify(run.logs.at(-1))).toContain('JOB_ID is missing');
  });

  it('exits 75 (run it again later) when the database refuses the connection, before any work', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as { port: number };
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const run = await startTask({
      MODE: 'export',
      JOB_ID: 'exp_unreachable',
      EXPORTS_BUCKET: s3.bucket,
      EXPORT_FILE_NAME: 'users-unreachable',
      EXPORT_FILTER: '{}',
      DATABASE_URL: `postgres://sidestep:sidestep@127.0.0.1:${port}/sidestep`,
    });
    expect(run.code).toBe(75);
    expect(run.logs.at(-1)).toMatchObject({
      level: 'ERROR',
      message: 'export could not start',
      exitCode: 75,
    });
    expect(JSON.stringify(run.logs.at(-1))).toContain('ECONNREFUSED');
  });
});

for (const backend of databaseBackends()) {
  backend.describe(`batch-worker bundle [${backend.name}]`, () => {
    let database: WorkerDatabase;
    beforeAll(async () => {
      database = await sharedDatabase(backend);
    }, 60_000);

    const inputs = (jobId: string, key: string) => ({
      MODE: 'import',
      JOB_ID: jobId,
      SOURCE_BUCKET: s3.bucket,
      SOURCE_KEY: key,
      SOURCE_VERSION_ID: '',
      DATABASE_URL: database.url,
    });

    const countUsers = async (prefix: string) =>
      Number(
        (
          await database.db.query<{ n: string }>(
            'SELECT count(*) AS n FROM users WHERE external_id LIKE $1',
            [`${prefix}%`],
          )
        ).rows[0]?.n,
      );

    /** Uploads `body` as `imports/<backend>-<name>.csv`, starts a running job on it and runs the task. */
    const importObject = async (name: string, body: string) => {
      const key = await s3.put(`imports/${backend.name}-${name}.csv`, body);
      const jobId = await runningJob(database.db, key);
      return { jobId, run: await startTask(inputs(jobId, key)) };
    };

    it('imports the object, logs the result and exits 0', async () => {
      const { jobId, run } = await importObject('ok', usersCsv(1000, `img-${backend.name}-`));
      expect(run.code).toBe(0);
      expect(run.logs.at(-1)).toMatchObject({
        level: 'INFO',
        message: 'import finished',
        jobId,
        rowsTotal: 1000,
        rowsImported: 1000,
        rowsRejected: 0,
      });
      expect(await countUsers(`img-${backend.name}-`)).toBe(1000);
      expect(await jobRow(database.db, jobId)).toMatchObject({ rows_total: '1000', rows_imported: '1000' });
    }, 30_000);

    it('exits 1 on a bad header with the reason on the job', async () => {
      const { jobId, run } = await importObject('bad', 'id,mail\n1,a@example.com\n');
      expect(run.code).toBe(1);
      expect(run.logs.at(-1)).toMatchObject({
        level: 'ERROR',
        message: 'import failed',
        errorName: 'InvalidHeaderError',
      });
      expect((await jobRow(database.db, jobId)).worker_error).toBe(
        'header: the first line is not a header row: it names neither "external_id" nor "email" (the file must start with its header row)',
      );
    }, 30_000);

    /**
     * Asserts a task that failed for a reason another run can pass: exit 75 (the workflow reruns it),
     * the cause logged, the job still running with the reason recorded.
     */
    const expectRerunLater = async (run: TaskRun, jobId: string, errorName: string, reason: RegExp) => {
      expect(run.code).toBe(75);
      expect(run.logs.at(-1)).toMatchObject({
        level: 'ERROR',
        message: 'import failed',
        errorName,
        exitCode: 75,
      });
      const job = await jobRow(database.db, jobId);
      expect(job.state).toBe('running');
      expect(job.worker_error).toMatch(reason);
    };

    /** The job's staging position, if it has one. */
    const stagedOffset = async (jobId: string): Promise<number | undefined> => {
      const { rows } = await database.db.query<{ byte_offset: string }>(
        'SELECT byte_offset FROM import_stagings WHERE job_id = $1',
        [jobId],
      );
      return rows[0] === undefined ? undefined : Number(rows[0].byte_offset);
    };

    /** Asserts the users of `prefix` are exactly the `count` rows of `usersCsv(count, prefix)`. */
    const expectExactly = async (prefix: string, count: number) => {
      const { rows } = await database.db.query<{ n: string; wrong: string }>(
        `SELECT count(*) AS n,
           count(*) FILTER (WHERE email <> external_id || '@example.com' OR attributes <> '{"plan": "pro"}') AS wrong
         FROM users WHERE external_id LIKE $1`,
        [`${prefix}%`],
      );
      expect(rows[0]).toEqual({ n: String(count), wrong: '0' });
    };

    // Issue 13: a conflict that outlasts the worker's own retries exits 75, which the workflow reruns.
    // A trigger raising SQLSTATE 40P01 stands for a deadlock on every attempt (the real deadlock and
    // serialization failure are forced in import-conflict.test.ts, on PostgreSQL).
    it('exits 75 when PostgreSQL aborts the completing transaction on every attempt, keeping the staging; the rerun completes it', async () => {
      const prefix = `always-conflict-${backend.name}-`;
      const trigger = `always_conflict_${backend.name}`;
      await database.db.query(`
        CREATE FUNCTION ${trigger}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'deadlock detected' USING ERRCODE = 'deadlock_detected';
        END $$;
        CREATE TRIGGER ${trigger} BEFORE INSERT OR UPDATE ON users
          FOR EACH ROW WHEN (NEW.external_id LIKE '${prefix}%') EXECUTE FUNCTION ${trigger}();
      `);
      const body = usersCsv(300, prefix);
      const key = await s3.put(`imports/${prefix}.csv`, body);
      const jobId = await runningJob(database.db, key);
      let run: TaskRun;
      try {
        run = await startTask(inputs(jobId, key));
      } finally {
        await database.db.query(`DROP TRIGGER ${trigger} ON users; DROP FUNCTION ${trigger}()`);
      }
      expect(run.code).toBe(75);
      const retries = run.logs.filter((log) =>
        String(log.message).startsWith('completing transaction aborted'),
      );
      expect(retries.map((log) => [log.sqlstate, log.attempt])).toEqual([
        ['40P01', 1],
        ['40P01', 2],
        ['40P01', 3],
        ['40P01', 4],
      ]);
      await expectRerunLater(
        run,
        jobId,
        'DatabaseConflictError',
        /^PostgreSQL aborted the completing transaction on 5 attempts in a row \(40P01/,
      );
      expect(await stagedOffset(jobId)).toBe(body.length);
      expect(await countUsers(prefix)).toBe(0);

      const rerun = await startTask(inputs(jobId, key));
      expect(rerun.code).toBe(0);
      expect(rerun.logs.at(-1)).toMatchObject({
        message: 'import finished',
        rowsImported: 300,
        bytesRead: 0,
      });
      expect(await jobRow(database.db, jobId)).toMatchObject({ state: 'succeeded', worker_error: null });
      expect(await countUsers(prefix)).toBe(300);
    }, 60_000);

    // Issue 11: a task killed right after its COMMIT must not leave an import that committed its rows
    // looking failed: the job's completion is in the same transaction as the rows.
    it('leaves the job completed with its counts when SIGKILLed right after the COMMIT; the retry exits 0 reading nothing', async () => {
      const prefix = `commit-kill-${backend.name}-`;
      const key = await s3.put(`imports/${prefix}.csv`, usersCsv(3000, prefix));
      const jobId = await runningJob(database.db, key);
      const done = startTask(inputs(jobId, key));
      let state = 'running';
      while (state === 'running') {
        state = (await jobRow(database.db, jobId)).state;
      }
      const killed = spawnedTasks.at(-1);
      killed?.kill('SIGKILL');
      await done;
      expect(await jobRow(database.db, jobId)).toMatchObject({
        state: 'succeeded',
        rows_total: '3000',
        rows_imported: '3000',
        worker_error: null,
      });
      await expectExactly(prefix, 3000);
      const retry = await startTask(inputs(jobId, key));
      expect(retry.code).toBe(0);
      expect(retry.logs.at(-1)).toMatchObject({ message: 'import finished', rowsTotal: 3000, bytesRead: 0 });
    }, 60_000);

    // Issue 13: interrupted tasks resume. Kill points are drawn (seeded, so a failure reproduces)
    // over the file's rows; the retry must finish with exactly the file's rows and, when the killed
    // task had staged part of the file, read only the rest of it. `npm test`: one backend,
    // PostgreSQL when there is one (each point is two task processes), as the export's kill test;
    // `pnpm test:kill` (SIDESTEP_KILL_POINTS set): every backend, 10 points each.
    const killedHere = process.env.SIDESTEP_KILL_POINTS
      ? true
      : backend.name === (process.env.TEST_DATABASE_URL ? 'postgres' : 'pglite');
    for (const signal of killedHere ? (['SIGKILL', 'SIGTERM'] as const) : []) {
      it(`finishes with exactly the right rows after a ${signal} at ${KILL_POINTS} random points, resuming what was staged`, async () => {
        const rows = 20_000;
        let seed = signal === 'SIGKILL' ? 7 : 11;
        const random = () => {
          seed = (seed * 48_271) % 2_147_483_647;
          return seed / 2_147_483_647;
        };
        let resumed = 0;
        for (let point = 0; point < KILL_POINTS; point++) {
          const prefix = `kill-${backend.name}-${signal}-${point}-`;
          const body = usersCsv(rows, prefix);
          const key = await s3.put(`imports/${prefix}.csv`, body);
          const jobId = await runningJob(database.db, key);
          const environment = {
            ...inputs(jobId, key),
            PROGRESS_INTERVAL_SECONDS: '0.02',
            IMPORT_SEGMENT_BYTES: String(32 * 1024),
          };
          const killAt = Math.floor(random() * rows);
          let signalled = false;
          const first = await startTask(environment, (log, child) => {
            if (!signalled && log.message === 'import progress' && (log.rowsTotal as number) >= killAt) {
              signalled = true;
              child.kill(signal);
            }
          });
          // A signal that lands after the completing transaction's COMMIT finds the work done: exit 0
          // (or killed after it), with the job already succeeded.
          const stopped = signal === 'SIGKILL' ? null : 143;
          expect(signalled ? [stopped, 0] : [0]).toContain(first.code);
          if (first.code === 0) expect((await jobRow(database.db, jobId)).state).toBe('succeeded');
          const offset = await stagedOffset(jobId);
          const retry = await startTask(environment);
          expect(retry.code).toBe(0);
          const finished = retry.logs.at(-1) ?? {};
          expect(finished).toMatchObject({ message: 'import finished', rowsTotal: rows, rowsImported: rows });
          // A segment's COMMIT already on the wire when the process died can land after this read:
          // the offset read here is where the retry resumes at the earliest.
          if (offset !== undefined && offset > 0) {
            resumed++;
            const resumedAt = Number(finished.resumedAt);
            expect(resumedAt).toBeGreaterThanOrEqual(offset);
            expect(finished).toMatchObject({ bytesRead: body.length - resumedAt });
          }
          await expectExactly(prefix, rows);
          expect(await jobRow(database.db, jobId)).toMatchObject({
            state: 'succeeded',
            rows_total: String(rows),
          });
          expect(await stagedOffset(jobId)).toBeUndefined();
        }
        // Most points fall while the file is being staged: those retries read less than the file.
        expect(resumed).toBeGreaterThanOrEqual(Math.ceil(KILL_POINTS / 2));
      }, 300_000);
    }

    // A transient failure is rerun by the workflow (exit 75) and the rerun resumes: S3 breaks off
    // mid-object and stays unreachable past the body's own resumes and the SDK's retries.
    it('exits 75 when S3 breaks off mid-object and stays unreachable, keeping what was staged; the rerun resumes there', async () => {
      const prefix = `s3-outage-${backend.name}-`;
      const rows = 20_000;
      const body = usersCsv(rows, prefix);
      const key = await s3.put(`imports/${prefix}.csv`, body);
      const jobId = await runningJob(database.db, key);
      const environment = { ...inputs(jobId, key), IMPORT_SEGMENT_BYTES: String(32 * 1024) };
      const run = await startTaskThroughOutage(environment, Math.floor(body.length / 2));
      await expectRerunLater(
        run,
        jobId,
        'SourceUnavailableError',
        /^cannot read s3:\/\/[^ ]+: .*ECONNREFUSED/,
      );
      const offset = (await stagedOffset(jobId)) ?? 0;
      expect(offset).toBeGreaterThan(0);
      expect(offset).toBeLessThan(body.length);
      expect(await countUsers(prefix)).toBe(0);

      const rerun = await startTask(environment);
      expect(rerun.code).toBe(0);
      expect(rerun.logs.at(-1)).toMatchObject({
        message: 'import finished',
        rowsImported: rows,
        resumedAt: offset,
        bytesRead: body.length - offset,
      });
      await expectExactly(prefix, rows);
      expect(await jobRow(database.db, jobId)).toMatchObject({ state: 'succeeded', worker_error: null });
    }, 60_000);

    it('on SIGTERM mid-import imports nothing, records why and exits 143', async () => {
      const prefix = `term-${backend.name}-`;
      const key = await s3.put(`imports/${backend.name}-term.csv`, usersCsv(200_000, prefix));
      const jobId = await runningJob(database.db, key);
      await interruptMidRun(
        { ...inputs(jobId, key), PROGRESS_INTERVAL_SECONDS: '0.05' },
        'import',
        'rowsTotal',
      );
      expect(await countUsers(prefix)).toBe(0);
      expect(await jobRow(database.db, jobId)).toMatchObject({
        worker_error:
          'interrupted by SIGTERM; nothing was imported; the staged records are kept for the retry',
        rows_imported: null,
      });
    }, 60_000);
  });
}

for (const backend of databaseBackends()) {
  backend.describe(`batch-worker bundle, MODE=export [${backend.name}]`, () => {
    let database: WorkerDatabase;
    const prefix = `exp-img-${backend.name}-`;
    beforeAll(async () => {
      database = await sharedDatabase(backend);
      await database.db.query(
        `INSERT INTO users (external_id, email, name)
         SELECT $1 || lpad(g::text, 6, '0'), 'u' || g || '@export.example', CASE WHEN g = 1 THEN '=1+1' ELSE 'User ' || g END
         FROM generate_series(1, 200000) g`,
        [prefix],
      );
    }, 60_000);

    const exportJob = async () => {
      const id = `exp_img_${backend.name}_${Math.random().toString(36).slice(2)}`;
      await database.db.query(`INSERT INTO jobs (id, kind, state) VALUES ($1, 'export', 'running')`, [id]);
      return id;
    };
    const inputs = (jobId: string, filter: unknown) => ({
      MODE: 'export',
      JOB_ID: jobId,
      EXPORTS_BUCKET: s3.bucket,
      EXPORT_FILE_NAME: 'users-image',
      EXPORT_FILTER: JSON.stringify(filter),
      DATABASE_URL: database.url,
    });
    const keys = async (jobId: string) =>
      (
        await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `exports/${jobId}/` }))
      ).Contents?.map((object) => object.Key) ?? [];

    it('exports the filtered users as parts plus a manifest, logs the result and exits 0', async () => {
      const jobId = await exportJob();
      const run = await startTask(inputs(jobId, { emailDomain: 'EXPORT.example' }));
      expect(run.code).toBe(0);
      expect(run.logs.at(-1)).toMatchObject({
        level: 'INFO',
        message: 'export finished',
        jobId,
        rows: 200_000,
        manifestKey: `exports/${jobId}/parts/manifest.json`,
      });
      const manifestObject = await s3.client.send(
        new GetObjectCommand({ Bucket: s3.bucket, Key: `exports/${jobId}/parts/manifest.json` }),
      );
      const manifest = z.parse(
        ExportWorkerManifest,
        JSON.parse((await manifestObject.Body?.transformToString()) ?? ''),
      );
      expect(manifest.rows).toBe(200_000);
      expect(manifest.key).toBe(`exports/${jobId}/users-image.csv.gz`);
      // The parts are in the file's upload; the bucket holds only the worker's two records.
      expect((await keys(jobId)).sort()).toEqual(
        [
          `exports/${jobId}/parts/manifest.json`,
          // Where a retried task would resume (the parts uploaded so far).
          `exports/${jobId}/parts/progress.json`,
        ].sort(),
      );
      // Completed as the export-finalizer completes it: the manifest's parts are the file.
      const lines = gunzipSync(await completedFile(s3.client, s3.bucket, manifest))
        .toString()
        .split('\n');
      // EXPORT_BYTE_ORDER_MARK unset: the UTF-8 byte order mark (U+FEFF) before the header.
      expect(lines[0]).toBe('\uFEFFexternal_id,email,name,attributes,created_at,updated_at');
      expect(lines[1]).toMatch(new RegExp(`^"${prefix}000001","u1@export.example","'=1\\+1","\\{\\}",`));
      expect(
        await database.db.query('SELECT rows_total, worker_error FROM jobs WHERE id = $1', [jobId]),
      ).toMatchObject({
        rows: [{ rows_total: '200000', worker_error: null }],
      });
    }, 60_000);

    it('exits 75 when S3 goes away mid-export, keeping the stored parts; the rerun resumes after them', async () => {
      const jobId = await exportJob();
      const environment = {
        ...inputs(jobId, { emailDomain: 'EXPORT.example' }),
        EXPORT_PART_BYTES: String(64 * 1024),
      };
      // About four parts' worth of requests get through.
      const run = await startTaskThroughOutage(environment, 4 * 64 * 1024);
      expect(run.code).toBe(75);
      expect(run.logs.at(-1)).toMatchObject({
        message: 'export failed',
        errorName: 'ExportTargetError',
        exitCode: 75,
      });
      expect((await jobRow(database.db, jobId)).worker_error).toMatch(/^cannot write s3:\/\/[^ ]+: /);
      expect(await keys(jobId)).not.toContain(`exports/${jobId}/parts/manifest.json`);

      const rerun = await startTask(environment);
      expect(rerun.code).toBe(0);
      const finished = rerun.logs.at(-1) ?? {};
      expect(finished).toMatchObject({ message: 'export finished', rows: 200_000 });
      expect(finished.resumedParts).toBeGreaterThan(0);
      expect(finished.resumedParts).toBeLessThan(Number(finished.parts));
      expect(await jobRow(database.db, jobId)).toMatchObject({ rows_total: '200000', worker_error: null });
    }, 60_000);

    it('exits 1 naming EXPORT_FILTER when the filter is not one', async () => {
      const run = await startTask(inputs(await exportJob(), { emailDomain: "x' OR '1'='1" }));
      expect(run.code).toBe(1);
      expect(run.logs.at(-1)).toMatchObject({ level: 'ERROR', message: 'invalid configuration' });
      expect(JSON.stringify(run.logs.at(-1))).toContain('EXPORT_FILTER.emailDomain is invalid');
    }, 30_000);

    it('exits 1 with the reason on the job when the job is not a running export', async () => {
      const jobId = await runningJob(database.db);
      const run = await startTask(inputs(jobId, {}));
      expect(run.code).toBe(1);
      expect(run.logs.at(-1)).toMatchObject({ message: 'export failed', errorName: 'JobNotRunnableError' });
      expect((await jobRow(database.db, jobId)).worker_error).toBe(
        `job ${jobId}: is an import job, not an export`,
      );
    }, 30_000);

    it('on SIGTERM mid-export records why, writes no manifest and exits 143', async () => {
      const jobId = await exportJob();
      await interruptMidRun({ ...inputs(jobId, {}), PROGRESS_INTERVAL_SECONDS: '0.02' }, 'export', 'rows');
      expect(await keys(jobId)).not.toContain(`exports/${jobId}/parts/manifest.json`);
      expect((await jobRow(database.db, jobId)).worker_error).toBe(
        'interrupted by SIGTERM; the export stopped before its manifest was written',
      );
    }, 60_000);
  });
}

for (const backend of databaseBackends()) {
  backend.describe(`batch-worker bundle, MODE=migrate [${backend.name}]`, () => {
    let database: WorkerDatabase;
    beforeAll(async () => {
      database = await backend.start();
      // An empty schema, as on a new RDS instance: the fixture's database comes migrated.
      await database.db.query(
        `DO $$ DECLARE s text := current_schema(); BEGIN
           EXECUTE format('DROP SCHEMA %I CASCADE', s); EXECUTE format('CREATE SCHEMA %I', s);
         END $$`,
      );
    }, 60_000);
    afterAll(() => database?.close());

    // Only what the deploy's override and the task definition give: no JOB_ID, no S3 inputs.
    const inputs = () => ({ MODE: 'migrate', DATABASE_URL: database.url });

    it('applies every migration, logs them and exits 0; a second run applies none', async () => {
      const first = await startTask(inputs());
      expect(first.code).toBe(0);
      const labels = migrations.map(
        (migration) => `${String(migration.version).padStart(4, '0')}-${migration.name}`,
      );
      expect(first.logs.at(-1)).toMatchObject({
        level: 'INFO',
        message: 'migrate finished',
        applied: labels,
      });
      expect(
        (await database.db.query('SELECT version FROM schema_migrations ORDER BY version')).rows,
      ).toEqual(migrations.map((migration) => ({ version: migration.version })));

      const second = await startTask(inputs());
      expect(second.code).toBe(0);
      expect(second.logs.at(-1)).toMatchObject({
        message: 'migrate finished',
        applied: [],
        result: 'up to date',
      });
    }, 60_000);

    it('exits 1 with the reason when an applied migration differs from the code', async () => {
      await database.db.query(`UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1`);
      const run = await startTask(inputs());
      expect(run.code).toBe(1);
      expect(run.logs.at(-1)).toMatchObject({
        level: 'ERROR',
        message: 'migrate failed',
        errorName: 'MigrationMismatchError',
      });
      expect(String(run.logs.at(-1)?.reason)).toMatch(/^migration 1: checksum in the database \(edited\)/);
    }, 60_000);
  });
}
