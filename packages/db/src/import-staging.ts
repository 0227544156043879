import { createHash } from 'node:crypto';

/**
 * The most segments an import's staging has by default (the batch-worker sizes its segments so that a
 * file has at most this many). Each segment is a table, and the completing transaction locks every
 * one (the merge reads them, the drop drops them): PostgreSQL's shared lock table holds
 * `max_locks_per_transaction` (64 by default, on RDS too) times `max_connections` locks for all
 * sessions (https://www.postgresql.org/docs/15/runtime-config-locks.html), so a file of a few GB in
 * 8 MiB segments could take a large share of it. Here, with the staging tables' name, for the
 * batch-worker that makes stagings and the tests that make ones like them.
 */
export const MAX_STAGING_SEGMENTS = 256;

/** The staging table of import `jobId`: a valid identifier whatever the id, at most 63 bytes. */
export function stagingTableName(jobId: string): string {
  return `import_staging_${createHash('sha256').update(jobId).digest('hex').slice(0, 40)}`;
}
