import type { Migration } from '../migration.ts';

/**
 * An index on when a finished job finished, for the job-sweeper's retention (`deleteFinishedJobs`
 * of @sidestep/ledger: `WHERE state IN ('succeeded', 'failed') AND coalesce(finished_at, updated_at)
 * < $1`), which without it read the jobs table from the start on every scheduled sweep until it found
 * a batch. Partial: only finished jobs are indexed, and the expression is the query's own.
 *
 * Built `CONCURRENTLY`, outside a transaction: a plain `CREATE INDEX` blocks every write to `jobs`
 * (the ledger of every running workflow) while it builds.
 */
export const jobsFinishedIndex: Migration = {
  version: 12,
  name: 'jobs-finished-index',
  transaction: false,
  sql: `CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_finished ON jobs ((coalesce(finished_at, updated_at))) WHERE state IN ('succeeded', 'failed')`,
};
