import type { Migration } from '../migration.ts';

/**
 * An index on when a job was created, the order of the operators' job list (`listJobs` of
 * @sidestep/ledger: `sidestep jobs`, the console's jobs page, the ops-ledger): a page of the newest
 * jobs, or of those before a cursor `(created_at, id)`, reads its own rows backwards through it.
 * Without it every page read and sorted the whole table: 0.75-2.4 s per page or console refresh at
 * 3M jobs, growing with the table.
 *
 * Built `CONCURRENTLY`, outside a transaction: a plain `CREATE INDEX` blocks every write to `jobs`
 * while it builds.
 */
export const jobsCreatedIndex: Migration = {
  version: 17,
  name: 'jobs-created-index',
  transaction: false,
  sql: 'CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_created ON jobs (created_at, id)',
};
