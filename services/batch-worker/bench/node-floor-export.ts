/**
 * The export benchmark's node floor (bench/export.ts): the least a Node task does to export the
 * users as gzip CSV. pg connects and runs `COPY (<the baseline's SELECT>) TO STDOUT` through
 * pg-copy-streams and zlib's gzip level 1 into a local file, with nothing of what the worker adds (the
 * S3 client and its multipart upload, part checksums, formula escapes, the progress record, the
 * manifest, the job's ledger). Bundled by the bench with the worker's own esbuild options
 * (`bundleService`) and run as a child process, as the worker is: the gap between it and
 * `psql | gzip -1` is what starting Node and pg costs, the gap between the worker and it what the
 * worker's own work costs.
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

const client = new pg.Client({ connectionString: required('DATABASE_URL') });
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
