import type { Migration } from '../migration.ts';

/**
 * An index on `jobs.execution_id`: when a workflow execution ends without reaching its own failure
 * path (stopped, timed out, `States.Runtime`), the job-sweeper finds its job by the execution's ARN
 * (`WHERE execution_id = $1`), which without it read the whole jobs table once per ended execution.
 * Partial: only jobs that have an execution are indexed.
 */
export const jobsExecutionIndex: Migration = {
  version: 6,
  name: 'jobs-execution-index',
  sql: `
    CREATE INDEX jobs_execution_id ON jobs (execution_id) WHERE execution_id IS NOT NULL;
  `,
};
