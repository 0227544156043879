import type { Migration } from '../migration.ts';

/**
 * An index on a job's state, then when it was created: the operators' job list filtered by state
 * (`sidestep jobs --status running`, the console's state filters) reads the page of that state from
 * its cursor on, however few of the jobs are in it, instead of reading the newest jobs of every state
 * (`jobs_created`) until it has found a page (seconds for a rare state at 3M jobs).
 *
 * Built `CONCURRENTLY`, outside a transaction: a plain `CREATE INDEX` blocks every write to `jobs`
 * while it builds.
 */
export const jobsStateCreatedIndex: Migration = {
  version: 18,
  name: 'jobs-state-created-index',
  transaction: false,
  sql: 'CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_state_created ON jobs (state, created_at, id)',
};
