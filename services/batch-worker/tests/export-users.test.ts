import { randomBytes } from 'node:crypto';
import { Transform } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { Logger } from '@aws-lambda-powertools/logger';
import {
  AbortMultipartUploadCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { type ExportFilter, ExportWorkerManifest, exportObjectKey } from '@sidestep/contracts';
import { crc64Nvme } from '@sidestep/contracts/crc64-nvme-hash';
import type { Database } from '@sidestep/db';
import { parse } from 'csv-parse/sync';
import pg from 'pg';
import * as z from 'zod/mini';
import { PostgresUserExportStore } from '../src/adapters/postgres-user-export-store.ts';
import { S3ExportTarget } from '../src/adapters/s3-export-target.ts';
import { EXPORT_COLUMNS } from '../src/domain/export-query.ts';
import type { ExportTarget } from '../src/domain/user-export-store.ts';
import {
  ExportFailedError,
  ExportInterruptedError,
  ExportRowCountMismatchError,
  ExportTargetError,
  JobFailedPermanentlyError,
  JobNotRunnableError,
} from '../src/errors.ts';
import { exportMode } from '../src/export/export-mode.ts';
import {
  type ExportSummary,
  type ExportUsersOptions,
  exportProgressKey,
  exportUsers,
  exportWorkerManifestKey,
  UTF8_BYTE_ORDER_MARK,
} from '../src/export/export-users.ts';
import { recording, uploadedParts } from './export-fixture.ts';
import {
  databaseBackends,
  rejectionOf,
  runningJob,
  startS3,
  type TestS3,
  type WorkerDatabase,
} from './import-fixture.ts';

const BUCKET = 'sidestep-test-exports';

let s3: TestS3;
beforeAll(async () => {
  s3 = await startS3(BUCKET);
});
afterAll(() => s3.stop());

let jobCounter = 0;

/** Inserts an export job in `running` state (what the status-updater's start leaves). */
async function runningExportJob(db: Database): Promise<string> {
  const id = `exp_test_${process.pid}_${++jobCounter}_${randomBytes(3).toString('hex')}`;
  await db.query(`INSERT INTO jobs (id, kind, state) VALUES ($1, 'export', 'running')`, [id]);
  return id;
}

/** A mail domain of its own per test: the users table is shared, the domain filter isolates. */
const uniqueDomain = () => `t${++jobCounter}-${randomBytes(3).toString('hex')}.example`;

/** Inserts `count` users at `domain`: ids `<domain>-00001`..., one query. */
async function seedUsers(db: Database, domain: string, count: number): Promise<void> {
  await db.query(
    `INSERT INTO users (external_id, email, name, attributes, created_at, updated_at)
     SELECT $1 || '-' || lpad(g::text, 5, '0'), 'user' || g || '@' || $1, 'User ' || g,
            jsonb_build_object('plan', 'pro', 'n', g), '2026-01-02T03:04:05.678Z', '2026-01-02T03:04:05.678Z'
     FROM generate_series(1, $2::int) g`,
    [domain, count],
  );
}

async function getObject(key: string): Promise<Buffer> {
  const output = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(
    await (output.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
  );
}

async function manifestOf(jobId: string): Promise<ExportWorkerManifest> {
  return z.parse(
    ExportWorkerManifest,
    JSON.parse((await getObject(exportWorkerManifestKey(jobId))).toString()),
  );
}

/** The parts of a manifest, as uploaded (checked against the upload's ListParts). */
async function partsOf(manifest: ExportWorkerManifest): Promise<Buffer[]> {
  return uploadedParts(s3.client, BUCKET, manifest);
}

/** The CSV records of the export (header first), from all parts gunzipped as one file. */
async function exportedRecords(jobId: string): Promise<string[][]> {
  const parts = await partsOf(await manifestOf(jobId));
  return parse(gunzipSync(Buffer.concat(parts))) as string[][];
}

interface JobCounts {
  rows_total: string | null;
  bytes: string | null;
  worker_error: string | null;
}

async function jobCounts(db: Database, id: string): Promise<JobCounts> {
  const { rows } = await db.query<JobCounts>(
    'SELECT rows_total, bytes, worker_error FROM jobs WHERE id = $1',
    [id],
  );
  if (!rows[0]) throw new Error(`no job ${id}`);
  return rows[0];
}

for (const backend of databaseBackends()) {
  backend.describe(`exportUsers [${backend.name}]`, () => {
    /**
     * Another session with an uncommitted progress row of the job: a progress write of the job waits
     * for it (its key check) until the session rolls back.
     */
    async function holdingProgressRow(jobId: string): Promise<pg.Client> {
      const holder = new pg.Client({ connectionString: database.url });
      await holder.connect();
      await holder.query('BEGIN');
      await holder.query('INSERT INTO export_progress (job_id, rows, parts, bytes) VALUES ($1, 0, 0, 0)', [
        jobId,
      ]);
      return holder;
    }

    let database: WorkerDatabase;

    beforeAll(async () => {
      database = await backend.start();
    }, 60_000);
    afterAll(() => database?.close());

    /** One export on a connection of its own, as the task runs it. */
    // Without the byte order mark unless a test asks for it: the tests read the CSV's first line.
    const run = async (
      jobId: string,
      filter: ExportFilter | undefined,
      options: Partial<ExportUsersOptions> = {},
    ) => {
      const store = await PostgresUserExportStore.connect({ url: database.url });
      try {
        return await exportUsers({
          jobId,
          fileName: 'users-test',
          filter,
          byteOrderMark: false,
          store,
          ...options,
          target: recording(options.target ?? new S3ExportTarget(s3.client, BUCKET)),
        });
      } finally {
        await store.close();
      }
    };

    const failure = (promise: Promise<unknown>) => rejectionOf(promise, ExportFailedError);

    it('exports the selected users as a header and quoted rows, counts on the job', async () => {
      const domain = uniqueDomain();
      await seedUsers(database.db, domain, 3);
      const jobId = await runningExportJob(database.db);
      const summary = await run(jobId, { emailDomain: domain });
      expect(summary.manifestKey).toBe(`exports/${jobId}/parts/manifest.json`);
      const records = await exportedRecords(jobId);
      expect(records[0]).toEqual([...EXPORT_COLUMNS]);
      expect(records.slice(1)).toEqual(
        [1, 2, 3].map((n) => [
          `${domain}-0000${n}`,
          `user${n}@${domain}`,
          `User ${n}`,
          `{"n": ${n}, "plan": "pro"}`,
          '2026-01-02 03:04:05.678+00',
          '2026-01-02 03:04:05.678+00',
        ]),
      );
      // Every non-empty cell quoted (OWASP's advice and COPY's FORCE_QUOTE *), the header not.
      const text = gunzipSync(Buffer.concat(await partsOf(summary.manifest))).toString();
      expect(text.split('\n')[0]).toBe(EXPORT_COLUMNS.join(','));
      expect(text.split('\n')[1]).toBe(
        `"${domain}-00001","user1@${domain}","User 1","{""n"": 1, ""plan"": ""pro""}","2026-01-02 03:04:05.678+00","2026-01-02 03:04:05.678+00"`,
      );
      expect(await jobCounts(database.db, jobId)).toEqual({
        rows_total: '3',
        bytes: String(summary.manifest.bytes),
        worker_error: null,
      });
    });

    it('escapes every cell a spreadsheet would run as a formula (OWASP)', async () => {
      const domain = uniqueDomain();
      const table: [stored: string, exported: string][] = [
        ['=1+1', "'=1+1"],
        ['+1', "'+1"],
        ['-1', "'-1"],
        ['@SUM(A1)', "'@SUM(A1)"],
        ['\tTAB', "'\tTAB"],
        ['\rCR', "'\rCR"],
        ['=HYPERLINK("http://x","y")', `'=HYPERLINK("http://x","y")`],
        ['plain', 'plain'],
        // The escape itself, escaped: "=1+1" and "'=1+1" must not export alike.
        ["'quoted", "''quoted"],
        ["'=1+1", "''=1+1"],
        ['a=b', 'a=b'],
        [' =1', ' =1'],
        ['\n=1', '\n=1'],
        ['', ''],
      ];
      for (const [index, [name]] of table.entries()) {
        await database.db.query(`INSERT INTO users (external_id, email, name) VALUES ($1, $2, $3)`, [
          `${domain}-${String(index).padStart(2, '0')}`,
          `u${index}@${domain}`,
          name,
        ]);
      }
      // Ids and emails are cells too; the timestamps (`-infinity`) and attributes as well.
      await database.db.query(
        `INSERT INTO users (external_id, email, name, attributes, created_at, updated_at)
         VALUES ($1, $2, NULL, '"=cmd"', '-infinity', 'infinity')`,
        [`=${domain}`, `@x@${domain}`],
      );
      const jobId = await runningExportJob(database.db);
      await run(jobId, { emailDomain: domain });
      const records = (await exportedRecords(jobId)).slice(1);
      // `=<domain>` sorts first; the table's rows follow in id order.
      expect(records.slice(1).map((record) => record[2])).toEqual(table.map(([, exported]) => exported));
      expect(records[0]).toEqual([`'=${domain}`, `'@x@${domain}`, '', '"=cmd"', "'-infinity", 'infinity']);
    });

    it('selects by updatedSince and emailDomain (case-insensitive), both together', async () => {
      const domain = uniqueDomain();
      const other = uniqueDomain();
      await database.db.query(
        `INSERT INTO users (external_id, email, updated_at) VALUES
           ($1 || '-old', 'old@' || $1, '2026-01-01T00:00:00Z'),
           ($1 || '-new', 'new@' || upper($1), '2026-06-01T00:00:00Z'),
           ($2 || '-new', 'new@' || $2, '2026-06-01T00:00:00Z')`,
        [domain, other],
      );
      const ids = async (filter: ExportFilter) => {
        const jobId = await runningExportJob(database.db);
        await run(jobId, filter);
        return (await exportedRecords(jobId)).slice(1).map((record) => record[0]);
      };
      expect(await ids({ emailDomain: domain.toUpperCase() })).toEqual([`${domain}-new`, `${domain}-old`]);
      expect(await ids({ emailDomain: domain, updatedSince: '2026-03-01T09:00:00+09:00' })).toEqual([
        `${domain}-new`,
      ]);
      // The instant, not the wall clock: 2026-06-01T08:59:59+09:00 is before 00:00 UTC on June 1st.
      expect(await ids({ emailDomain: domain, updatedSince: '2026-06-01T09:00:01+09:00' })).toEqual([]);
    });

    it('exports everyone without a filter', async () => {
      const jobId = await runningExportJob(database.db);
      const summary = await run(jobId, undefined);
      const { rows } = await database.db.query<{ count: string }>('SELECT count(*) FROM users');
      expect(summary.manifest.rows).toBe(Number(rows[0]?.count));
      expect(summary.manifest.rows).toBeGreaterThan(0);
    });

    it('treats hostile filter values as data, never as SQL', async () => {
      const domain = uniqueDomain();
      await seedUsers(database.db, domain, 2);
      // Values the contract refuses, passed straight to the worker: the quoting alone must hold.
      for (const emailDomain of [
        `x' OR '1'='1`,
        `x'); DROP TABLE users; --`,
        `%`,
        `_${domain.slice(1)}`,
        `\\' OR true --`,
        `${domain}\\`,
      ]) {
        const jobId = await runningExportJob(database.db);
        const summary = await run(jobId, { emailDomain });
        expect({ emailDomain, rows: summary.manifest.rows }).toEqual({ emailDomain, rows: 0 });
      }
      const jobId = await runningExportJob(database.db);
      await expect(run(jobId, { updatedSince: `2026-01-01' OR '1'='1` })).rejects.toThrow(
        /timestamp|time zone/,
      );
      const { rows } = await database.db.query<{ count: string }>(
        'SELECT count(*) FROM users WHERE email LIKE $1',
        [`%@${domain}`],
      );
      expect(rows[0]?.count).toBe('2');
    });

    it('writes parts of at least partBytes (but the last), header in part 1 only, each a gzip member of whole rows', async () => {
      const domain = uniqueDomain();
      await seedUsers(database.db, domain, 20_000);
      // Names with quotes and line breaks, so records span network reads and parts.
      await database.db.query(
        `UPDATE users SET name = 'two' || chr(10) || 'lines "' || external_id || '"'
         WHERE email LIKE $1 AND right(external_id, 1) = '7'`,
        [`%@${domain}`],
      );
      const jobId = await runningExportJob(database.db);
      const partBytes = 20_000;
      const putTagging = new Map<string, string | undefined>();
      const partChecksums = new Map<number, string | undefined>();
      s3.client.middlewareStack.add(
        (next, context) => async (args) => {
          const request = args.request as {
            path?: string;
            headers?: Record<string, string>;
            query?: Record<string, string>;
          };
          if (context.commandName === 'PutObjectCommand') {
            const key = decodeURIComponent(request.path?.replace(`/${BUCKET}/`, '') ?? '');
            putTagging.set(key, request.headers?.['x-amz-tagging']);
          }
          if (context.commandName === 'UploadPartCommand') {
            partChecksums.set(
              Number(request.query?.partNumber),
              request.headers?.['x-amz-checksum-crc64nvme'],
            );
          }
          return next(args);
        },
        { step: 'finalizeRequest', name: 'recordRequests' },
      );
      const summary = await run(jobId, { emailDomain: domain }, { partBytes }).finally(() =>
        s3.client.middlewareStack.remove('recordRequests'),
      );
      const { manifest } = summary;
      expect(manifest.parts.length).toBeGreaterThan(3);
      expect(manifest.key).toBe(exportObjectKey(jobId, 'users-test'));
      expect(manifest.parts.map((part) => part.partNumber)).toEqual(
        manifest.parts.map((_, index) => index + 1),
      );
      // partsOf checks that the upload holds exactly the manifest's parts (ListParts).
      const bodies = await partsOf(manifest);
      for (const [index, part] of manifest.parts.entries()) {
        const body = bodies[index] as Buffer;
        if (index < manifest.parts.length - 1) expect(part.bytes).toBeGreaterThanOrEqual(partBytes);
        expect(part.bytes).toBe(body.length);
        // Each part alone: a valid gzip of whole CSV records.
        const records = parse(gunzipSync(body)) as string[][];
        const rows = index === 0 ? records.slice(1) : records;
        expect(index === 0 ? records[0] : rows[0]?.[0]).toEqual(
          index === 0 ? [...EXPORT_COLUMNS] : expect.stringMatching(domain),
        );
        expect(rows).toHaveLength(part.rows);
        for (const record of rows) expect(record).toHaveLength(EXPORT_COLUMNS.length);
      }
      // Each part went with its CRC-64/NVME, for S3 to verify and keep (the local cloud's S3 does:
      // packages/local-cloud tests/s3-checksums.test.ts).
      for (const [index, part] of manifest.parts.entries()) {
        expect(part.crc64nvme).toBe(crc64Nvme(bodies[index] as Buffer));
        expect(partChecksums.get(part.partNumber)).toBe(part.crc64nvme);
      }
      expect(manifest.crc64nvme).toBe(crc64Nvme(Buffer.concat(bodies)));
      // The records are tagged for the bucket's lifecycle rule that expires them early (fauxqs keeps
      // no tags: the request is checked); the file itself is never a PutObject.
      expect(new Set(putTagging.values())).toEqual(new Set(['sidestep-export=part']));
      expect([...putTagging.keys()].sort()).toEqual(
        [exportWorkerManifestKey(jobId), exportProgressKey(jobId)].sort(),
      );
      const all = parse(gunzipSync(Buffer.concat(bodies))) as string[][];
      expect(all).toHaveLength(20_001);
      expect(all.filter((record) => record[0] === 'external_id')).toHaveLength(1);
      expect(all[7]?.[2]).toBe(`two\nlines "${domain}-00007"`);
      expect(manifest.rows).toBe(20_000);
      expect(manifest).toMatchObject({ version: 2, jobId, header: true, columns: [...EXPORT_COLUMNS] });
      expect(await jobCounts(database.db, jobId)).toMatchObject({
        rows_total: '20000',
        bytes: String(manifest.bytes),
      });
    });

    it('takes a finished export as its result on a re-run (a duplicated task started after the first ended), writing nothing again even with users changed since', async () => {
      const domain = uniqueDomain();
      await seedUsers(database.db, domain, 5000);
      const jobId = await runningExportJob(database.db);
      const first = await run(jobId, { emailDomain: domain }, { partBytes: 5000 });
      const firstManifest = await getObject(exportWorkerManifestKey(jobId));
      const progress = await getObject(exportProgressKey(jobId));
      // Exported again, the changed rows would make it start over and abort the upload the finalizer
      // of a workflow waiting for the first task is completing.
      await database.db.query(`UPDATE users SET name = 'Renamed' WHERE external_id = $1`, [
        `${domain}-00001`,
      ]);
      const startOvers: string[] = [];
      const second = await run(
        jobId,
        { emailDomain: domain },
        { partBytes: 5000, onStartOver: (reason) => startOvers.push(reason) },
      );
      expect(first.manifest.parts.length).toBeGreaterThan(1);
      expect(second).toEqual({
        manifestKey: first.manifestKey,
        manifest: first.manifest,
        csvBytes: first.csvBytes,
        resumedParts: first.manifest.parts.length,
        rowsWritten: 0,
      });
      expect(startOvers).toEqual([]);
      expect(await getObject(exportWorkerManifestKey(jobId))).toEqual(firstManifest);
      expect(await getObject(exportProgressKey(jobId))).toEqual(progress);
      expect(parse(gunzipSync(Buffer.concat(await partsOf(first.manifest))))).toHaveLength(5001);
      expect(await jobCounts(database.db, jobId)).toMatchObject({ rows_total: '5000', worker_error: null });
      const listed = await s3.client.send(
        new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `exports/${jobId}/` }),
      );
      // The parts are in the file's upload, not objects of their own; the upload is still open for
      // the finalizer.
      expect(listed.Contents?.map((object) => object.Key).sort()).toEqual(
        [exportWorkerManifestKey(jobId), exportProgressKey(jobId)].sort(),
      );
    });

    // Two tasks of one job at once: a RunTask retried after its answer was lost (ECS started the task,
    // Step Functions never heard) leaves that task running beside the one Step Functions waits for,
    // which may be either. The embedded database multiplexes every connection onto one session (its
    // advisory locks are everyone's) and the local cloud runs batch tasks one at a time on it: a
    // PostgreSQL test.
    if (backend.name === 'postgres')
      it('runs the same export twice at once (a duplicated task), a user changing between them: both end with one manifest of the parts the upload holds', async () => {
        const domain = uniqueDomain();
        await seedUsers(database.db, domain, 5000);
        const jobId = await runningExportJob(database.db);
        const filter = { emailDomain: domain };
        const options = { partBytes: 5000, lockPollMs: 20 };
        const waits: string[] = [];
        let second: Promise<ExportSummary> | undefined;
        let secondWaits = () => {};
        const waiting = new Promise<void>((resolve) => {
          secondWaits = resolve;
        });
        const recorded = recording(new S3ExportTarget(s3.client, BUCKET));
        // The second task starts as the first is about to upload part 2, after a user of part 1
        // changed; the first goes on once the second waits for it (or, unguarded, has ended).
        const target: ExportTarget = {
          ...recorded,
          uploadPart: async (key, uploadId, part) => {
            if (part.partNumber === 2 && !second) {
              second = database.db
                .query(`UPDATE users SET name = 'Renamed' WHERE external_id = $1`, [`${domain}-00001`])
                .then(() =>
                  run(jobId, filter, {
                    ...options,
                    onWait: (reason) => {
                      waits.push(reason);
                      secondWaits();
                    },
                  }),
                );
              await Promise.race([waiting, second.catch(() => {})]);
            }
            return recorded.uploadPart(key, uploadId, part);
          },
        };
        const first = run(jobId, filter, { ...options, target });
        await first.catch(() => {});
        const outcomes = await Promise.allSettled([first, second]);
        // Whichever task Step Functions waits for must succeed, and with the file the finalizer gets.
        expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled']);
        const [a, b] = outcomes.map((outcome) => (outcome as PromiseFulfilledResult<ExportSummary>).value);
        const manifest = await manifestOf(jobId);
        expect(a?.manifest).toEqual(manifest);
        expect(b?.manifest).toEqual(manifest);
        expect(waits).toEqual(['another task of the job holds its lock']);
        // The upload holds exactly the manifest's parts, and they are one table's users, header once.
        const records = parse(gunzipSync(Buffer.concat(await partsOf(manifest)))) as string[][];
        expect(records).toHaveLength(5001);
        expect(records[0]).toEqual([...EXPORT_COLUMNS]);
        expect(await jobCounts(database.db, jobId)).toEqual({
          rows_total: '5000',
          bytes: String(manifest.bytes),
          worker_error: null,
        });
      });

    /** An export interrupted after its third part: its progress record names its upload. */
    const interruptedAfterPart3 = async (domain: string, options: Partial<ExportUsersOptions>) => {
      const jobId = await runningExportJob(database.db);
      const controller = new AbortController();
      const target = recording(new S3ExportTarget(s3.client, BUCKET), (partNumber) => {
        if (partNumber === 3) controller.abort(new ExportInterruptedError('SIGTERM'));
      });
      await failure(run(jobId, { emailDomain: domain }, { ...options, target, signal: controller.signal }));
      const progress = JSON.parse((await getObject(exportProgressKey(jobId))).toString()) as {
        uploadId: string;
        key: string;
        parts: unknown[];
      };
      expect(progress.parts.length).toBeGreaterThanOrEqual(2);
      return { jobId, uploadId: progress.uploadId, key: progress.key };
    };

    it('starts over in a new upload when the recorded one is gone or holds other parts (other bytes, or a part under another ETag), aborting it', async () => {
      const domain = uniqueDomain();
      await seedUsers(database.db, domain, 6000);
      const options = { partBytes: 5000 };
      const listParts = (key: string, uploadId: string) =>
        s3.client.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId }));

      // The upload was aborted (the bucket's lifecycle rule, or an operator): nothing to resume into.
      const gone = await interruptedAfterPart3(domain, options);
      await s3.client.send(
        new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: gone.key, UploadId: gone.uploadId }),
      );
      const fresh = await run(gone.jobId, { emailDomain: domain }, options);
      expect(fresh.resumedParts).toBe(0);
      expect(fresh.rowsWritten).toBe(6000);
      expect(fresh.manifest.uploadId).not.toBe(gone.uploadId);
      expect(parse(gunzipSync(Buffer.concat(await partsOf(fresh.manifest))))).toHaveLength(6001);

      // Part 1 of the upload is not the part the record lists (uploaded again by someone else): the
      // record cannot be trusted, the export starts over and the old upload is aborted.
      const changed = await interruptedAfterPart3(domain, options);
      await s3.client.send(
        new UploadPartCommand({
          Bucket: BUCKET,
          Key: changed.key,
          UploadId: changed.uploadId,
          PartNumber: 1,
          Body: Buffer.from('not the export'),
        }),
      );
      const restarted = await run(changed.jobId, { emailDomain: domain }, options);
      expect(restarted.resumedParts).toBe(0);
      expect(restarted.manifest.uploadId).not.toBe(changed.uploadId);
      expect(restarted.manifest.crc64nvme).toBe(fresh.manifest.crc64nvme);
      await expect(listParts(changed.key, changed.uploadId)).rejects.toMatchObject({
        name: 'NoSuchUpload',
      });

      // Part 1 has the record's size and CRC-64/NVME but another ETag (uploaded again: under SSE-KMS a
      // part's ETag is no MD5 of its bytes): CompleteMultipartUpload names each part by its ETag and
      // refuses another one with InvalidPart
      // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html), so the
      // record's parts cannot be kept.
      const retagged = await interruptedAfterPart3(domain, options);
      const record = JSON.parse((await getObject(exportProgressKey(retagged.jobId))).toString()) as {
        parts: { etag: string }[];
      };
      const [first] = record.parts;
      if (first) first.etag = '"00000000000000000000000000000000"';
      await s3.client.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: exportProgressKey(retagged.jobId),
          Body: JSON.stringify(record),
        }),
      );
      const startOvers: string[] = [];
      const anew = await run(
        retagged.jobId,
        { emailDomain: domain },
        {
          ...options,
          onStartOver: (reason) => startOvers.push(reason),
        },
      );
      expect(startOvers).toEqual(['the upload does not hold the parts the progress record lists']);
      expect(anew.resumedParts).toBe(0);
      expect(anew.manifest.uploadId).not.toBe(retagged.uploadId);
      expect(anew.manifest.crc64nvme).toBe(fresh.manifest.crc64nvme);
    });

    it('records how far it has got as it logs its progress, for operators, and clears it with the counts', async () => {
      const domain = uniqueDomain();
      await seedUsers(database.db, domain, 3000);
      const jobId = await runningExportJob(database.db);
      const store = await PostgresUserExportStore.connect({ url: database.url });
      // What the progress row held after each write the export made (read right after it).
      const seen: { rows: string; parts: number; bytes: string }[] = [];
      const record = store.recordProgress.bind(store);
      store.recordProgress = async (id, progress) => {
        await record(id, progress);
        const { rows } = await database.db.query<{ rows: string; parts: number; bytes: string }>(
          'SELECT rows, parts, bytes FROM export_progress WHERE job_id = $1',
          [id],
        );
        if (rows[0]) seen.push(rows[0]);
      };
      const logged: unknown[] = [];
      // The second part waits (10 s at most) until a progress write has seen rows read: on a busy
      // machine the export could otherwise end between two ticks, and only the first (nothing read
      // yet) be seen. Ticks run on their own timer, so they go on while the part waits.
      const rowsSeen = () => seen.some((row) => Number(row.rows) > 0);
      const client = new Proxy(s3.client, {
        get(target, property, receiver) {
          if (property !== 'send') return Reflect.get(target, property, receiver);
          return async (command: unknown, ...rest: unknown[]) => {
            if (command instanceof UploadPartCommand && (command.input.PartNumber ?? 0) >= 2)
              for (let waited = 0; !rowsSeen() && waited < 10_000; waited += 10) await sleep(10);
            return (target.send as (...args: unknown[]) => Promise<unknown>).call(target, command, ...rest);
          };
        },
      });
      try {
        const summary = await exportMode.run({
          config: {
            mode: 'export',
            jobId,
            exportsBucket: BUCKET,
            fileName: 'progress-test',
            filter: { emailDomain: domain },
            byteOrderMark: false,
            // Parts of a few rows and a progress tick every millisecond: many of both.
            partBytes: 2048,
            progressIntervalMs: 1,
            s3ForcePathStyle: true,
          },
          store,
          s3: client,
          signal: new AbortController().signal,
          logger: new Logger({ logLevel: 'SILENT' }),
          onProgress: (progress) => logged.push(progress),
        });
        expect(seen.length).toBeGreaterThan(0);
        // From the first tick (no row read yet) to rows read and parts uploaded. (The reads here run
        // on a pool beside the writes: their order says nothing.)
        expect(Math.max(...seen.map((row) => Number(row.rows)))).toBeGreaterThan(0);
        for (const row of seen) {
          expect(Number(row.rows)).toBeLessThanOrEqual(3000);
          expect(row.parts).toBeLessThanOrEqual(summary.manifest.parts.length);
          expect(Number(row.bytes) > 0).toBe(row.parts > 0);
        }
        // The log line carries the same figures.
        expect(logged[0]).toEqual({
          rows: expect.any(Number),
          parts: expect.any(Number),
          bytes: expect.any(Number),
        });
        const left = await database.db.query('SELECT 1 FROM export_progress WHERE job_id = $1', [jobId]);
        expect(left.rows).toEqual([]);
        expect(await jobCounts(database.db, jobId)).toMatchObject({
          rows_total: '3000',
          worker_error: null,
        });
      } finally {
        await store.close();
      }
    });

    // The embedded database runs one transaction at a time: the held transaction below is a real
    // server's case, so the test is a PostgreSQL one.
    if (backend.name === 'postgres')
      it('records no progress after the counts, even one already on its way', async () => {
        const jobId = await runningExportJob(database.db);
        const store = await PostgresUserExportStore.connect({ url: database.url });
        // Another session's uncommitted row of the job holds the progress write back (its key check
        // waits for that session) until that session rolls back, after the counts were asked for.
        const holder = await holdingProgressRow(jobId);
        try {
          const progress = store.recordProgress(jobId, { rows: 10, parts: 1, bytes: 100 });
          const result = store.recordResult(jobId, { rowsTotal: 10, bytes: 100 });
          await new Promise((resolve) => setTimeout(resolve, 200));
          await holder.query('ROLLBACK');
          await Promise.all([progress, result]);
          const left = await database.db.query('SELECT rows FROM export_progress WHERE job_id = $1', [jobId]);
          expect(left.rows).toEqual([]);
          expect(await jobCounts(database.db, jobId)).toMatchObject({ rows_total: '10' });
        } finally {
          await holder.end();
          await store.close();
        }
      });

    // A failed export's last log line is its failure: a progress write in flight when it failed ends
    // before the failure is recorded, and one cut off by the store's close is not reported.
    if (backend.name === 'postgres')
      it('records no progress after a failure, and reports none cut off by the close', async () => {
        const jobId = await runningExportJob(database.db);
        const failures: unknown[] = [];
        const store = await PostgresUserExportStore.connect({
          url: database.url,
          onProgressFailure: (error) => failures.push(error),
        });
        const holder = await holdingProgressRow(jobId);
        try {
          const events: string[] = [];
          const progress = store.recordProgress(jobId, { rows: 10, parts: 1, bytes: 100 }).then(() => {
            events.push('progress');
          });
          const failure = store.recordFailure(jobId, 'interrupted').then(() => {
            events.push('failure');
          });
          await new Promise((resolve) => setTimeout(resolve, 200));
          expect(events).toEqual([]);
          await holder.query('ROLLBACK');
          await Promise.all([progress, failure]);
          expect(events).toEqual(['progress', 'failure']);
          // Later ticks record nothing.
          await store.recordProgress(jobId, { rows: 20, parts: 2, bytes: 200 });
          const left = await database.db.query('SELECT rows FROM export_progress WHERE job_id = $1', [jobId]);
          expect(left.rows).toEqual([{ rows: '10' }]);
          // A write the close cuts off is no failure.
          const second = await PostgresUserExportStore.connect({
            url: database.url,
            onProgressFailure: (error) => failures.push(error),
          });
          await holder.query('BEGIN');
          await holder.query('SELECT 1 FROM export_progress WHERE job_id = $1 FOR UPDATE', [jobId]);
          const cut = second.recordProgress(jobId, { rows: 30, parts: 3, bytes: 300 });
          await new Promise((resolve) => setTimeout(resolve, 100));
          await second.close();
          await holder.query('ROLLBACK');
          await cut;
          expect(failures).toEqual([]);
        } finally {
          await holder.end();
          await store.close();
        }
      });

    it('goes on without progress once recording it failed, saying so once', async () => {
      const failures: unknown[] = [];
      const store = await PostgresUserExportStore.connect({
        url: database.url,
        onProgressFailure: (error) => failures.push(error),
      });
      try {
        // No such job: the row's foreign key refuses it.
        await store.recordProgress('exp_no_such_job', { rows: 1, parts: 0, bytes: 0 });
        await store.recordProgress('exp_no_such_job', { rows: 2, parts: 0, bytes: 0 });
        expect(failures).toHaveLength(1);
        expect(String(failures[0])).toMatch(/foreign key/);
        // The export's own connection is untouched.
        const domain = uniqueDomain();
        await seedUsers(database.db, domain, 2);
        const jobId = await runningExportJob(database.db);
        await exportUsers({
          jobId,
          fileName: 'f',
          filter: { emailDomain: domain },
          store,
          target: recording(new S3ExportTarget(s3.client, BUCKET)),
        });
        expect(await jobCounts(database.db, jobId)).toMatchObject({ rows_total: '2' });
      } finally {
        await store.close();
      }
    });

    it('writes one part holding the header when nobody matches', async () => {
      const jobId = await runningExportJob(database.db);
      const summary = await run(jobId, { emailDomain: uniqueDomain() });
      expect(summary.manifest.parts).toHaveLength(1);
      expect(summary.manifest.rows).toBe(0);
      expect(gunzipSync((await partsOf(summary.manifest))[0] as Buffer).toString()).toBe(
        `${EXPORT_COLUMNS.join(',')}\n`,
      );
      expect(await jobCounts(database.db, jobId)).toMatchObject({ rows_total: '0', worker_error: null });
    });

    it('fails, permanently, when COPY reports another row count than the records the parts hold, and writes no manifest', async () => {
      const domain = uniqueDomain();
      await seedUsers(database.db, domain, 10);
      const jobId = await runningExportJob(database.db);
      const store = await PostgresUserExportStore.connect({ url: database.url });
      // PostgreSQL's `COPY n` one more than the records sent: as if the writer had cut a record in two
      // places, or missed one.
      const copyOut = store.copyOut.bind(store);
      store.copyOut = (sql) => {
        const stream = copyOut(sql);
        Object.defineProperty(stream, 'rowCount', { get: () => 11 });
        return stream;
      };
      try {
        const error = await failure(
          exportUsers({
            jobId,
            fileName: 'users-test',
            filter: { emailDomain: domain },
            byteOrderMark: false,
            store,
            target: new S3ExportTarget(s3.client, BUCKET),
          }),
        );
        expect(error.cause).toBeInstanceOf(ExportRowCountMismatchError);
        expect(error.permanent).toBe(true);
        expect(error.reason).toBe('COPY sent 11 rows but the parts hold 10');
        expect((await jobCounts(database.db, jobId)).worker_error).toBe(error.reason);
        const listed = await s3.client.send(
          new ListObjectsV2Command({ Bucket: BUCKET, Prefix: exportWorkerManifestKey(jobId) }),
        );
        expect(listed.Contents ?? []).toEqual([]);

        // Another task of the job (ECS and Step Functions start a task at least once) starting after
        // it ended (its store closed, its export lock released): the permanent failure stands. It neither clears the reason nor exports over it, so the
        // job cannot succeed, or fail with another reason, after its data was failed.
        await store.close();
        const duplicate = await failure(run(jobId, { emailDomain: domain }));
        expect(duplicate.cause).toBeInstanceOf(JobFailedPermanentlyError);
        expect(duplicate.permanent).toBe(true);
        expect(await jobCounts(database.db, jobId)).toMatchObject({
          rows_total: null,
          worker_error: 'COPY sent 11 rows but the parts hold 10',
        });
        const after = await s3.client.send(
          new ListObjectsV2Command({ Bucket: BUCKET, Prefix: exportWorkerManifestKey(jobId) }),
        );
        expect(after.Contents ?? []).toEqual([]);
      } finally {
        await store.close();
      }
    });

    it('refuses a job that is not a running export, recording why', async () => {
      const importJob = await runningJob(database.db);
      const error = await failure(run(importJob, undefined));
      expect(error.cause).toBeInstanceOf(JobNotRunnableError);
      expect(error.permanent).toBe(true);
      expect((await jobCounts(database.db, importJob)).worker_error).toMatch(
        /is an import job, not an export/,
      );

      const finished = await runningExportJob(database.db);
      await database.db.query(`UPDATE jobs SET state = 'succeeded' WHERE id = $1`, [finished]);
      expect((await failure(run(finished, undefined))).reason).toMatch(/is succeeded/);

      const missing = await failure(run('exp_missing', undefined));
      expect(missing.reason).toMatch(/no such job/);
      const listed = await s3.client.send(
        new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `exports/${finished}/` }),
      );
      expect(listed.Contents ?? []).toEqual([]);
    });

    // The sweeper (past the deadline) or an operator (`job fail`) may fail the job while its task still
    // exports: the task must not end as if it had succeeded, or the workflow's finalizer completes the
    // file of a job the ledger says failed (the ledger's failure, and its mail, would then be untrue).
    it('fails, permanently, when its job was failed while it exported: no counts on it, its reason kept', async () => {
      const domain = uniqueDomain();
      await seedUsers(database.db, domain, 3);
      const jobId = await runningExportJob(database.db);
      const s3Target = new S3ExportTarget(s3.client, BUCKET);
      const target = {
        ...recording(s3Target),
        uploadPart: async (...args: Parameters<typeof s3Target.uploadPart>) => {
          const etag = await s3Target.uploadPart(...args);
          await database.db.query(
            `UPDATE jobs SET state = 'failed', worker_error = 'no progress before the deadline' WHERE id = $1`,
            [jobId],
          );
          return etag;
        },
      };
      const error = await failure(run(jobId, { emailDomain: domain }, { target }));
      expect(error.cause).toBeInstanceOf(JobNotRunnableError);
      expect(error.permanent).toBe(true);
      expect(error.reason).toMatch(/is failed/);
      expect(await jobCounts(database.db, jobId)).toMatchObject({
        rows_total: null,
        worker_error: 'no progress before the deadline',
      });
    });

    // An earlier task's transient failure is cleared by a later one: "clears an earlier task's failure
    // from the job as a rerun starts", below. A missing bucket is not transient: it stands for the
    // attempt (a retry after the bucket is fixed is a new attempt, whose hand-over clears it).
    it('fails with the bucket named when S3 refuses the parts, permanently: a later task of the job keeps the reason', async () => {
      const domain = uniqueDomain();
      await seedUsers(database.db, domain, 10);
      const jobId = await runningExportJob(database.db);
      const target = new S3ExportTarget(s3.client, 'sidestep-test-missing-bucket');
      const error = await failure(run(jobId, { emailDomain: domain }, { target }));
      expect(error.cause).toBeInstanceOf(ExportTargetError);
      expect((error.cause as ExportTargetError).field).toBe('EXPORTS_BUCKET');
      expect(error.permanent).toBe(true);
      expect((await jobCounts(database.db, jobId)).worker_error).toMatch(
        /cannot write s3:\/\/sidestep-test-missing-bucket\/exports\/.*: NoSuchBucket/,
      );
      const later = await failure(run(jobId, { emailDomain: domain }));
      expect(later.cause).toBeInstanceOf(JobFailedPermanentlyError);
      expect(await jobCounts(database.db, jobId)).toMatchObject({
        rows_total: null,
        worker_error: expect.stringMatching(/NoSuchBucket/),
      });
    });

    it("clears an earlier task's failure from the job as a rerun starts, and keeps the reason of a job no longer running", async () => {
      const domain = uniqueDomain();
      await seedUsers(database.db, domain, 3);
      const jobId = await runningExportJob(database.db);
      await database.db.query(
        `UPDATE jobs SET worker_error = 'interrupted by SIGTERM; the parts stored are kept for the retry' WHERE id = $1`,
        [jobId],
      );
      // The rerun, seen as it stores its first part: were it killed now, the job's failure step would
      // find no reason of the worker's and take the one it caught.
      const whileRunning: Promise<unknown>[] = [];
      const target = recording(new S3ExportTarget(s3.client, BUCKET), () => {
        whileRunning.push(jobCounts(database.db, jobId));
      });
      await run(jobId, { emailDomain: domain }, { target });
      expect(await whileRunning[0]).toMatchObject({ worker_error: null });

      const failed = await runningExportJob(database.db);
      await database.db.query(
        `UPDATE jobs SET state = 'failed', worker_error = 'out of memory' WHERE id = $1`,
        [failed],
      );
      expect((await failure(run(failed, undefined))).cause).toBeInstanceOf(JobNotRunnableError);
      expect((await jobCounts(database.db, failed)).worker_error).toBe('out of memory');
    });

    it('stops when aborted mid-stream and writes no manifest', async () => {
      const domain = uniqueDomain();
      await seedUsers(database.db, domain, 20_000);
      const jobId = await runningExportJob(database.db);
      const controller = new AbortController();
      const target = new S3ExportTarget(s3.client, BUCKET);
      let parts = 0;
      const abortingTarget = recording(target, () => {
        if (++parts === 2) controller.abort(new ExportInterruptedError('SIGTERM'));
      });
      const error = await failure(
        run(
          jobId,
          { emailDomain: domain },
          { partBytes: 10_000, target: abortingTarget, signal: controller.signal },
        ),
      );
      expect(error.cause).toBeInstanceOf(ExportInterruptedError);
      expect(parts).toBe(2);
      const listed = await s3.client.send(
        new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `exports/${jobId}/` }),
      );
      expect(listed.Contents?.map((object) => object.Key)).not.toContain(exportWorkerManifestKey(jobId));
      expect((await jobCounts(database.db, jobId)).worker_error).toMatch(/interrupted by SIGTERM/);
      // The server ended the cut-off COPY: the next export runs.
      const next = await runningExportJob(database.db);
      expect((await run(next, { emailDomain: domain })).manifest.rows).toBe(20_000);
    });

    it('starts the file with the UTF-8 byte order mark by default, once, and keeps it one valid gzip', async () => {
      const domain = uniqueDomain();
      await seedUsers(database.db, domain, 12_000);
      await database.db.query(`UPDATE users SET name = '山田 太郎' WHERE email LIKE $1`, [`%@${domain}`]);
      const jobId = await runningExportJob(database.db);
      const { manifest } = await run(
        jobId,
        { emailDomain: domain },
        { byteOrderMark: undefined, partBytes: 5000 },
      );
      expect(manifest.parts.length).toBeGreaterThan(2);
      expect(manifest.byteOrderMark).toBe(true);
      const bodies = await partsOf(manifest);
      // The parts concatenated, as the finalizer combines them: one gzip file, read whole.
      const csv = gunzipSync(Buffer.concat(bodies));
      expect([...csv.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
      expect(csv.indexOf(UTF8_BYTE_ORDER_MARK, 1)).toBe(-1);
      const text = csv.subarray(3).toString('utf8');
      expect(text.split('\n')[0]).toBe(EXPORT_COLUMNS.join(','));
      expect(text.split('\n')[1]).toContain('"山田 太郎"');
      // Only the first part has it.
      for (const body of bodies.slice(1)) expect(gunzipSync(body).indexOf(UTF8_BYTE_ORDER_MARK)).toBe(-1);
    });

    it('resumes after the last part an interrupted attempt stored, with exactly the rows, header and mark once', async () => {
      const domain = uniqueDomain();
      await seedUsers(database.db, domain, 8000);
      // Keys a keyset must quote right: quotes, commas, line breaks, a formula trigger.
      await database.db.query(
        `UPDATE users SET external_id = external_id || CASE right(external_id, 1)
           WHEN '1' THEN '"q",x' WHEN '2' THEN E'\nline' WHEN '3' THEN '=1+1' ELSE '' END
         WHERE email LIKE $1`,
        [`%@${domain}`],
      );
      const expected = (
        await database.db.query<{ external_id: string }>(
          'SELECT external_id FROM users WHERE email LIKE $1 ORDER BY external_id',
          [`%@${domain}`],
        )
      ).rows.map((row) => row.external_id);
      const jobId = await runningExportJob(database.db);
      const target = new S3ExportTarget(s3.client, BUCKET);
      const controller = new AbortController();
      const interrupted = recording(target, (partNumber) => {
        if (partNumber === 3) controller.abort(new ExportInterruptedError('SIGTERM'));
      });
      const options = { byteOrderMark: true, partBytes: 5000 };
      await failure(
        run(jobId, { emailDomain: domain }, { ...options, target: interrupted, signal: controller.signal }),
      );
      const retried = await run(jobId, { emailDomain: domain }, options);
      expect(retried.resumedParts).toBeGreaterThanOrEqual(2);
      expect(retried.rowsWritten).toBeLessThan(expected.length);
      expect(retried.manifest.rows).toBe(expected.length);
      const csv = gunzipSync(Buffer.concat(await partsOf(retried.manifest)));
      expect(csv.indexOf(UTF8_BYTE_ORDER_MARK)).toBe(0);
      expect(csv.indexOf(UTF8_BYTE_ORDER_MARK, 1)).toBe(-1);
      const records = parse(csv.subarray(3)) as string[][];
      expect(records[0]).toEqual([...EXPORT_COLUMNS]);
      // Formula cells come back escaped with a leading quote.
      expect(records.slice(1).map((record) => record[0]?.replace(/^'=/, '='))).toEqual(expected);
      // The same file as an export that was never interrupted.
      const uninterrupted = await runningExportJob(database.db);
      const whole = await run(uninterrupted, { emailDomain: domain }, options);
      expect(whole.manifest.parts.map((part) => part.crc64nvme)).toEqual(
        retried.manifest.parts.map((part) => part.crc64nvme),
      );
      expect(retried.manifest.resumedParts).toBe(retried.resumedParts);
      expect(whole.manifest.resumedParts).toBe(0);
    });

    /** The users at `domain` as the table holds them now, `external_id|name` in the file's order. */
    const tableNow = async (domain: string): Promise<string[]> =>
      (
        await database.db.query<{ external_id: string; name: string }>(
          'SELECT external_id, name FROM users WHERE email LIKE $1 ORDER BY external_id',
          [`%@${domain}`],
        )
      ).rows.map((row) => `${row.external_id}|${row.name}`);
    const fileOf = async (manifest: ExportWorkerManifest): Promise<string[]> =>
      (parse(gunzipSync(Buffer.concat(await partsOf(manifest)))) as string[][])
        .slice(1)
        .map((record) => `${record[0]}|${record[2]}`);

    /** The export of `jobId` run again, with the reasons it gave for starting over. */
    const retry = async (jobId: string, domain: string, options: Partial<ExportUsersOptions>) => {
      const reasons: string[] = [];
      const retried = await run(
        jobId,
        { emailDomain: domain },
        {
          ...options,
          onStartOver: (reason) => reasons.push(reason),
        },
      );
      return { retried, reasons };
    };

    // The audit's case (issue 13's resume): a retry kept the parts read at the first attempt's COPY
    // and read the rest at its own, so a user deleted between the attempts (an erasure) stayed in the
    // file and one inserted before the resume point was missing: a file of neither point in time. A
    // snapshot cannot outlive its transaction
    // (https://www.postgresql.org/docs/15/functions-admin.html#FUNCTIONS-SNAPSHOT-SYNCHRONIZATION), so
    // the retry checks that its own read of the kept rows gives their bytes, and starts over if not.
    const before = (domain: string, n: number) => `${domain}-${String(n).padStart(5, '0')}`;
    it.each([
      [
        'an insert',
        (d: string) => [
          `INSERT INTO users (external_id, email, name) VALUES ('${before(d, 2)}x', 'x@${d}', 'new')`,
        ],
      ],
      // No updated_at: the table is the product's, and its other writers need not touch it.
      [
        'an update that leaves updated_at alone',
        (d: string) => [`UPDATE users SET name = 'v2' WHERE external_id = '${before(d, 4)}'`],
      ],
      // The same number of bytes: only the kept parts' checksums can tell.
      [
        'an update of one letter that leaves updated_at alone',
        (d: string) => [
          `UPDATE users SET name = translate(name, 'aeiou', 'eioua') WHERE external_id = '${before(d, 4)}'`,
        ],
      ],
      ['a delete', (d: string) => [`DELETE FROM users WHERE external_id = '${before(d, 5)}'`]],
      [
        'an insert, an update and a delete (the count unchanged)',
        (d: string) => [
          `INSERT INTO users (external_id, email, name) VALUES ('${before(d, 2)}x', 'x@${d}', 'new')`,
          `UPDATE users SET name = 'v2' WHERE external_id = '${before(d, 4)}'`,
          `DELETE FROM users WHERE external_id = '${before(d, 5)}'`,
        ],
      ],
    ])(
      'starts over in a new upload when %s changed rows before the resume point between the attempts',
      async (_, writes) => {
        const domain = uniqueDomain();
        await seedUsers(database.db, domain, 6000);
        const options = { partBytes: 5000 };
        const first = await interruptedAfterPart3(domain, options);
        for (const sql of writes(domain)) await database.db.query(sql);
        const { retried, reasons } = await retry(first.jobId, domain, options);
        // The file is the table at the retry, all of it read again, in a new upload; the old one aborted.
        expect(await fileOf(retried.manifest)).toEqual(await tableNow(domain));
        expect(retried.resumedParts).toBe(0);
        expect(retried.manifest.resumedParts).toBe(0);
        expect(retried.rowsWritten).toBe(retried.manifest.rows);
        expect(retried.manifest.uploadId).not.toBe(first.uploadId);
        await expect(
          s3.client.send(new ListPartsCommand({ Bucket: BUCKET, Key: first.key, UploadId: first.uploadId })),
        ).rejects.toMatchObject({ name: 'NoSuchUpload' });
        expect(reasons).toEqual([expect.stringMatching(/changed since/)]);
      },
    );

    it('resumes when only rows after the resume point changed, the file being the table at the retry', async () => {
      const domain = uniqueDomain();
      // Parts of ~2,500 rows here: part 3 ends well before the last rows.
      await seedUsers(database.db, domain, 20_000);
      const options = { partBytes: 5000 };
      const first = await interruptedAfterPart3(domain, options);
      await database.db.query(`UPDATE users SET name = 'v2' WHERE external_id = $1`, [
        before(domain, 19_999),
      ]);
      await database.db.query(`DELETE FROM users WHERE external_id = $1`, [before(domain, 19_998)]);
      const { retried, reasons } = await retry(first.jobId, domain, options);
      expect(reasons).toEqual([]);
      expect(retried.resumedParts).toBeGreaterThanOrEqual(2);
      expect(retried.manifest.resumedParts).toBe(retried.resumedParts);
      expect(retried.manifest.uploadId).toBe(first.uploadId);
      expect(retried.rowsWritten).toBeLessThan(retried.manifest.rows);
      expect(await fileOf(retried.manifest)).toEqual(await tableNow(domain));
    });

    // The snapshot stays open after COPY's last row while the writer stores the last parts (idle in
    // transaction on the server): past the session's idle-in-transaction limit the server ended the
    // session, and COMMIT failed after every part was stored.
    if (backend.name === 'postgres')
      it("keeps a resume's snapshot open past the session's idle-in-transaction limit while the last parts store", async () => {
        const store = await PostgresUserExportStore.connect({
          url: database.url,
          env: { DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: '200' },
        });
        try {
          const stored = await store.inSnapshot(async () => {
            await new Promise((resolve) => setTimeout(resolve, 600));
            return 'stored';
          });
          expect(stored).toBe('stored');
        } finally {
          await store.close();
        }
      });

    // On PGlite every session shares one backend, and a transaction holds it: no write can come
    // between the retry's two reads there.
    if (backend.name === 'postgres')
      it('reads the kept rows it checks and the rows after them in one snapshot', async () => {
        const domain = uniqueDomain();
        await seedUsers(database.db, domain, 20_000);
        const options = { partBytes: 5000 };
        const first = await interruptedAfterPart3(domain, options);
        const atRetry = await tableNow(domain);
        const store = await PostgresUserExportStore.connect({ url: database.url });
        // Once the retry's first read (its check of the kept rows) has ended and before its next,
        // another writer deletes a kept row and a later one.
        const copyOut = store.copyOut.bind(store);
        let reads = 0;
        store.copyOut = (sql) => {
          const stream = copyOut(sql);
          if (++reads !== 1) return stream;
          const delayed = new Transform({
            transform: (chunk, _encoding, callback) => callback(null, chunk),
            flush: (callback) => {
              database.db
                .query('DELETE FROM users WHERE external_id IN ($1, $2)', [
                  before(domain, 3),
                  before(domain, 19_990),
                ])
                .then(() => callback(), callback);
            },
          });
          Object.defineProperty(delayed, 'rowCount', { get: () => stream.rowCount });
          stream.pipe(delayed);
          return delayed as unknown as typeof stream;
        };
        try {
          const retried = await exportUsers({
            jobId: first.jobId,
            fileName: 'users-test',
            filter: { emailDomain: domain },
            byteOrderMark: false,
            store,
            ...options,
            target: recording(new S3ExportTarget(s3.client, BUCKET)),
          });
          expect(reads).toBe(2);
          expect(retried.resumedParts).toBeGreaterThanOrEqual(2);
          expect(await fileOf(retried.manifest)).toEqual(atRetry);
        } finally {
          await store.close();
        }
      });
  });
}
