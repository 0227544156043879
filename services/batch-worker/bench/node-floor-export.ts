/**
 * The export benchmark's node floor (bench/export.ts): the least a Node task does to export the
 * users as gzip CSV. pg connects and runs `COPY (<the baseline's SELECT>) TO STDOUT` through
 * pg-copy-streams and zlib's gzip level 1 into a local file, with nothing of what the worker adds (the
 * S3 client and its multipart upload, part checksums, formula escapes, the progress record, the
 * manifest, the job's ledger). Bundled by the bench with the worker's bundler (`bundleService`, as
 * one file) and run as a child process with the task definition's environment, as the worker is.
 * At the smallest size its gap to `psql | gzip -1` is mostly what starting Node and pg costs; at the
 * larger ones it is faster than that pipe (gzip in the same process, on zlib's thread).
 *
 * Environment: `DATABASE_URL`, `COPY` (the statement), `OUT` (the file to write).
 */
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`node-floor-export: ${name} is not set`);
  return value;
}

// Timestamps in UTC, as the worker's session and the psql baseline (PGTZ) write them.
const client = new pg.Client({ connectionString: required('DATABASE_URL'), options: '-c TimeZone=UTC' });
await client.connect();
try {
  await pipeline(
    client.query(copyTo(required('COPY'))),
    createGzip({ level: 1 }),
    createWriteStream(required('OUT')),
  );
} finally {
  await client.end();
}
