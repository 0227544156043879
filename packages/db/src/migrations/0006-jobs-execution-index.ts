import type { Migration } from '../migration.ts';

/**
 * An index on `jobs.execution_id`: when a workflow execution ends without reaching its own failure
 * path (stopped, timed out, `States.Runtime`), the job-sweeper finds its job by the execution's ARN
 * (`WHERE execution_id = $1`), which without it read the whole jobs table once per ended execution.
 * Partial: only jobs that have an execution are indexed.
 *
 * Built `CONCURRENTLY`, outside a transaction. It shipped as a plain `CREATE INDEX`, which blocks
 * every write to `jobs` while it builds (9-11 s at 3M jobs) and queues them behind its wait for
 * the table's writers; rewritten for the databases that have yet to apply it, with the same index
 * as a result, so a database that applied the shipped SQL keeps it (`formerChecksums`).
 */
export const jobsExecutionIndex: Migration = {
  version: 6,
  name: 'jobs-execution-index',
  transaction: false,
  sql: 'CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_execution_id ON jobs (execution_id) WHERE execution_id IS NOT NULL',
  // The shipped `CREATE INDEX jobs_execution_id ON jobs (execution_id) WHERE execution_id IS NOT NULL;`.
  formerChecksums: ['92d08813b2dcaafffa14a60ec8c42d0cbe30f5d46dbcfafb1e8c524166dda4ff'],
};
