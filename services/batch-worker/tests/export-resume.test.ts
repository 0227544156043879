import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { ExportWorkerManifest } from '@sidestep/contracts';
import * as z from 'zod/mini';
import { exportProgressKey, exportWorkerManifestKey } from '../src/export/export-users.ts';
import { expectUploadHolds } from './export-fixture.ts';
import {
  databaseBackends,
  KILL_POINTS,
  startS3,
  type TestS3,
  type WorkerDatabase,
} from './import-fixture.ts';

// Issue 13 item 3 (export half): the export task killed at random points (SIGKILL: no chance to clean
// up; SIGTERM: ECS's stop, which the task answers by stopping) and run again, as the workflow's
// retry does, finishes with exactly the right rows, and does less than the whole work when the killed
// attempt had stored parts.

const BUCKET = 'sidestep-test-exports';
const USERS = 20_000;
const PART_BYTES = 16_000;
const MAIN = join(import.meta.dirname, '..', 'src', 'main.ts');

let s3: TestS3;
beforeAll(async () => {
  s3 = await startS3(BUCKET);
});
afterAll(() => s3.stop());

/** mulberry32: the kill points are random but the same on every run (seed below). */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface TaskRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly logs: Record<string, unknown>[];
}

/**
 * Where to kill a run: once its progress record lists `afterParts` parts (0: as soon as the task
 * logged `export started`), `afterMs` later. The parts come in a burst on PGlite (its COPY output
 * arrives late), so a point in time alone would rarely fall between two parts.
 */
interface KillPoint {
  readonly signal: NodeJS.Signals;
  readonly afterParts: number;
  readonly afterMs: number;
}

/** Runs the task's entry (`MODE=export`) as its own process; with `kill`, kills it at that point. */
async function runTask(database: WorkerDatabase, jobId: string, kill?: KillPoint): Promise<TaskRun> {
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const child: ChildProcess = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH ?? '',
      MODE: 'export',
      JOB_ID: jobId,
      EXPORTS_BUCKET: BUCKET,
      EXPORT_FILE_NAME: 'users-kill',
      EXPORT_FILTER: '',
      EXPORT_PART_BYTES: String(PART_BYTES),
      DATABASE_URL: database.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_ENDPOINT_URL: s3.endpoint,
      AWS_S3_FORCE_PATH_STYLE: 'true',
      // Progress recorded for operators all along, so kills land in its writes too.
      PROGRESS_INTERVAL_SECONDS: '0.001',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    let pending = '';
    stream?.setEncoding('utf8').on('data', (data: string) => {
      pending += data;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        const log = JSON.parse(line) as Record<string, unknown>;
        logs.push(log);
        if (log.message === 'export started' && kill) void killAt(kill);
      }
    });
  }
  async function killAt(point: KillPoint): Promise<void> {
    while (!closed && (await storedParts(jobId)) < point.afterParts) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    if (!closed) timer = setTimeout(() => child.kill(point.signal), point.afterMs);
  }
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  closed = true;
  clearTimeout(timer);
  return { code, signal, logs };
}

async function text(key: string): Promise<string | undefined> {
  try {
    const output = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return await output.Body?.transformToString('utf-8');
  } catch {
    return undefined;
  }
}

/** The data parts the progress record of `jobId` lists. */
async function storedParts(jobId: string): Promise<number> {
  return (await progressParts(jobId)).filter((part) => part.lastKey !== undefined).length;
}

/**
 * The parts a resumed export keeps: the recorded data parts but a short last one (it ended the data
 * as the killed attempt saw it, and S3 takes a part under 5 MiB only last), exported again.
 */
async function keptParts(jobId: string): Promise<number> {
  const parts = (await progressParts(jobId)).filter((part) => part.lastKey !== undefined);
  return (parts.at(-1)?.bytes ?? PART_BYTES) < PART_BYTES ? parts.length - 1 : parts.length;
}

async function progressParts(jobId: string): Promise<{ lastKey?: string; bytes: number }[]> {
  const progress = JSON.parse((await text(exportProgressKey(jobId))) ?? '{"parts":[]}') as {
    parts: { lastKey?: string; bytes: number }[];
  };
  return progress.parts;
}

// `npm test`: one backend, PostgreSQL when there is one (each point is two task processes).
// `pnpm test:kill` (SIDESTEP_KILL_POINTS set): every backend.
const backends = databaseBackends();
const chosen = process.env.SIDESTEP_KILL_POINTS
  ? backends
  : [process.env.TEST_DATABASE_URL ? backends[1] : backends[0]];
for (const backend of chosen) {
  if (!backend) continue;
  const { name } = backend;
  backend.describe(`the export task killed and retried [${name}]`, () => {
    let database: WorkerDatabase;
    const ids: string[] = [];

    beforeAll(async () => {
      database = await backend.start();
      const domain = `kill-${randomBytes(3).toString('hex')}.example`;
      // Names that make records span network reads and parts: quotes, commas, line breaks.
      await database.db.query(
        `INSERT INTO users (external_id, email, name, attributes, created_at, updated_at)
         SELECT 'u' || lpad(g::text, 6, '0'), 'user' || g || '@' || $1,
                CASE WHEN g % 5 = 0 THEN 'two' || chr(10) || 'lines, "q"' ELSE '山田 ' || g END,
                jsonb_build_object('n', g), '2026-01-02T03:04:05Z', '2026-01-02T03:04:05Z'
         FROM generate_series(1, $2::int) g`,
        [domain, USERS],
      );
      const { rows } = await database.db.query<{ external_id: string }>(
        'SELECT external_id FROM users ORDER BY external_id',
      );
      ids.push(...rows.map((row) => row.external_id));
    }, 60_000);
    afterAll(() => database?.close());

    let jobs = 0;
    async function runningJob(): Promise<string> {
      // The backends' suites share the bucket: with the same ids, one suite's task found the other's
      // progress record and kept parts read from the other database.
      const id = `exp_kill_${name}_${process.pid}_${++jobs}`;
      await database.db.query(`INSERT INTO jobs (id, kind, state) VALUES ($1, 'export', 'running')`, [id]);
      return id;
    }

    async function manifestOf(jobId: string): Promise<ExportWorkerManifest> {
      return z.parse(ExportWorkerManifest, JSON.parse((await text(exportWorkerManifestKey(jobId))) ?? ''));
    }

    it(`finishes with exactly the rows, resuming after the stored parts, at ${KILL_POINTS} random points for SIGKILL and for SIGTERM`, async () => {
      // One uninterrupted run: the file every retried export must equal, and how long a run takes.
      const reference = await runningJob();
      const whole = await runTask(database, reference);
      expect(whole.code).toBe(0);
      const expected = await manifestOf(reference);
      expect(expected.rows).toBe(ids.length);
      expect(expected.parts.length).toBeGreaterThan(5);
      // What the file holds is the export-users tests' concern (the same code, in process, where the
      // uploaded bytes can be read: S3 serves none of an upload before it is completed, and these
      // parts are below its 5 MiB minimum). Here: the upload holds the manifest's parts, and every
      // retried export equals this one (the whole file's CRC-64/NVME, of bytes S3 checked).
      await expectUploadHolds(s3.client, BUCKET, expected);

      const random = seeded(20261203);
      let resumed = 0;
      for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
        for (let point = 0; point < KILL_POINTS; point += 1) {
          const jobId = await runningJob();
          const afterParts = Math.floor(random() * expected.parts.length);
          const afterMs = Math.floor(random() * 30);
          const killed = await runTask(database, jobId, { signal, afterParts, afterMs });
          const context = `${signal} ${afterMs} ms after part ${afterParts}`;
          // Killed, stopped (143), or already done when the signal came.
          expect({
            context,
            ended: killed.signal === signal || killed.code === 143 || killed.code === 0,
          }).toEqual({
            context,
            ended: true,
          });
          const stored = killed.code === 0 ? 0 : await keptParts(jobId);
          // The signal can come after the task wrote its manifest (the last parts are small and quick):
          // the export was finished, and the retry takes it as it is instead of resuming it.
          const finishedBeforeSignal = (await text(exportWorkerManifestKey(jobId))) !== undefined;
          const retry = await runTask(database, jobId);
          expect({ context, code: retry.code }).toEqual({ context, code: 0 });
          const finished = retry.logs.find((log) => log.message === 'export finished') as
            | { resumedParts: number; rowsWritten: number }
            | undefined;
          const manifest = await manifestOf(jobId);
          await expectUploadHolds(s3.client, BUCKET, manifest);
          // The retry's counts cleared the progress the killed task (and the retry) recorded.
          const progress = await database.db.query('SELECT 1 FROM export_progress WHERE job_id = $1', [
            jobId,
          ]);
          expect({ context, progress: progress.rows }).toEqual({ context, progress: [] });
          // Exactly the right rows: the same file, byte for byte, as the uninterrupted export.
          expect({ context, rows: manifest.rows, crc64nvme: manifest.crc64nvme }).toEqual({
            context,
            rows: ids.length,
            crc64nvme: expected.crc64nvme,
          });
          if (finishedBeforeSignal) {
            expect({
              context,
              resumedParts: finished?.resumedParts,
              rowsWritten: finished?.rowsWritten,
            }).toEqual({
              context,
              resumedParts: expected.parts.length,
              rowsWritten: 0,
            });
          } else if (stored > 0) {
            resumed += 1;
            expect({ context, resumedParts: finished?.resumedParts }).toEqual({
              context,
              resumedParts: stored,
            });
            expect(finished?.rowsWritten).toBeLessThan(ids.length);
          }
        }
      }
      // The kill points did fall while parts were being stored, for both signals together.
      expect(resumed).toBeGreaterThanOrEqual(KILL_POINTS / 2);
    }, 300_000);
  });
}
