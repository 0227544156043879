/**
 * What the batch-worker tests share: the local cloud's S3 (fauxqs behind `startAwsEndpoint`, with
 * S3's multipart rules, ListParts and CRC-64/NVME checksums) with a bucket, and the database backends the
 * worker runs on, each reachable by URL as the task reaches it: PGlite served over the wire (the
 * local cloud's default, which takes the `insert` staging path) and, when `TEST_DATABASE_URL` is set,
 * a real PostgreSQL in a schema of its own (the `copy` path).
 */
import { randomBytes } from 'node:crypto';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { describe } from '@jest/globals';
import {
  createPostgresSchema,
  type Database,
  migrate,
  PostgresDatabase,
  startEmbeddedPostgres,
} from '@sidestep/db';
import { describeIfAvailable } from '@sidestep/db/testing';
import { startAwsEndpoint } from '@sidestep/local-cloud';
import pg from 'pg';

/** A database the worker connects to by `url`; `db` is for the test's own queries. */
export interface WorkerDatabase {
  readonly url: string;
  readonly db: Database;
  close(): Promise<void>;
}

export interface DatabaseBackend {
  readonly name: 'pglite' | 'postgres';
  /** `describe`, or `describe.skip` for PostgreSQL without TEST_DATABASE_URL (counted as skipped). */
  readonly describe: typeof describe.skip;
  start(): Promise<WorkerDatabase>;
}

/** PGlite always; PostgreSQL when TEST_DATABASE_URL is set, its suites declared skipped otherwise. */
export function databaseBackends(): DatabaseBackend[] {
  const url = process.env.TEST_DATABASE_URL;
  if (!url)
    process.stderr.write('batch-worker tests: TEST_DATABASE_URL is unset, PostgreSQL suites skipped\n');
  return [
    { name: 'pglite', describe, start: startPglite },
    {
      name: 'postgres',
      describe: describeIfAvailable(Boolean(url)),
      start: () => (url ? startPostgresSchema(url) : Promise.reject(new Error('TEST_DATABASE_URL is unset'))),
    },
  ];
}

async function startPglite(): Promise<WorkerDatabase> {
  const embedded = await startEmbeddedPostgres({});
  return { url: embedded.url, db: embedded.db, close: () => embedded.close() };
}

async function startPostgresSchema(url: string): Promise<WorkerDatabase> {
  const schema = await createPostgresSchema(url);
  const db = new PostgresDatabase(new pg.Pool({ connectionString: schema.url, max: 2 }));
  await migrate(db);
  return {
    url: schema.url,
    db,
    close: async () => {
      await db.close();
      await schema.drop();
    },
  };
}

/** An S3 emulator with one bucket. */
export interface TestS3 {
  readonly endpoint: string;
  readonly bucket: string;
  readonly client: S3Client;
  /** Uploads `body` under `key`; returns the key. */
  put(key: string, body: string | Buffer): Promise<string>;
  stop(): Promise<void>;
}

/** S3's minimum part size (except the last). */
const MULTIPART_PART_BYTES = 5 * 1024 * 1024;

export async function startS3(bucket = 'sidestep-test-imports'): Promise<TestS3> {
  const server = await startAwsEndpoint({ port: 0 });
  const endpoint = server.url;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    endpoint,
    bucket,
    client,
    put: async (key, body) => {
      const bytes = Buffer.from(body);
      if (bytes.length <= MULTIPART_PART_BYTES) {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes }));
        return key;
      }
      // Larger files go up in parts, as they do to S3 from the AWS CLI and SDKs.
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
      const parts = [];
      for (let offset = 0, part = 1; offset < bytes.length; offset += MULTIPART_PART_BYTES, part++) {
        const { ETag } = await client.send(
          new UploadPartCommand({
            Bucket: bucket,
            Key: key,
            UploadId,
            PartNumber: part,
            Body: bytes.subarray(offset, offset + MULTIPART_PART_BYTES),
          }),
        );
        parts.push({ ETag, PartNumber: part });
      }
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
      return key;
    },
    stop: async () => {
      client.destroy();
      await server.stop();
    },
  };
}

let jobCounter = 0;

/** Inserts an import job in `running` state (what the status-updater's start leaves) and returns its id. */
export async function runningJob(db: Database, key = 'imports/users.csv'): Promise<string> {
  const id = `imp_test_${process.pid}_${++jobCounter}_${randomBytes(3).toString('hex')}`;
  await db.query(
    `INSERT INTO jobs (id, kind, state, source_bucket, source_key, source_version, file_name)
     VALUES ($1, 'import', 'running', 'sidestep-test-imports', $2, $1, $3)`,
    [id, key, key.split('/').at(-1)],
  );
  return id;
}

/** The job's row as the worker leaves it. */
export interface JobRow {
  state: string;
  rows_total: string | null;
  rows_imported: string | null;
  rows_rejected: string | null;
  users_written: string | null;
  row_errors: { line: number; field: string; message: string }[] | null;
  worker_error: string | null;
}

export async function jobRow(db: Database, id: string): Promise<JobRow> {
  const { rows } = await db.query<JobRow>(
    'SELECT state, rows_total, rows_imported, rows_rejected, users_written, row_errors, worker_error FROM jobs WHERE id = $1',
    [id],
  );
  if (!rows[0]) throw new Error(`no job ${id}`);
  return rows[0];
}

/** A users CSV of `count` rows, ids `<prefix><n>`, with a `plan` attribute column. */
export function usersCsv(count: number, prefix = 'u'): string {
  let csv = 'external_id,email,name,plan\n';
  for (let n = 1; n <= count; n++) csv += `${prefix}${n},${prefix}${n}@example.com,User ${n},pro\n`;
  return csv;
}

/**
 * How many random points the kill tests stop the task at, per signal. Issue 13 asks for at least 10
 * for import and for export: `pnpm test:kill` (here and at the root) runs that many. `npm test` runs
 * the first 3 of the same seeded points, so the everyday suite keeps its speed and still kills the
 * task both while it stages and after it stored work.
 */
export const KILL_POINTS = killPoints(process.env.SIDESTEP_KILL_POINTS);

export function killPoints(value: string | undefined): number {
  if (value === undefined || value === '') return 3;
  const points = Number(value);
  if (!Number.isInteger(points) || points < 1) {
    throw new Error(
      `SIDESTEP_KILL_POINTS must be a whole number of at least 1, got ${JSON.stringify(value)}`,
    );
  }
  return points;
}

export { rejectionOf } from '@sidestep/contracts/testing';
