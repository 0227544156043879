import type { Migration } from '../migration.ts';

/**
 * `jobs.worker_error_permanent`: true when the batch-worker's `worker_error` is a permanent failure
 * of the data (a bad header, too many rejected rows, malformed CSV, a changed object), which no task
 * of the same attempt can cure. ECS and Step Functions start a task at least once (a retried RunTask
 * can start a second task of the job while the first runs): the second task's start cleared the
 * first's reason and rows, and its own outcome (a transient failure, or even a completion) replaced
 * them, so the job could be run again or succeed after its data was failed. A task refuses a job
 * whose failure is permanent and records nothing over it; a retry's hand-over (a new attempt) clears
 * it with the reason.
 *
 * Null (every existing row) is not permanent: nullable, so a take-back of a hand-over kept before
 * this column restores its row as it was. Added columns with no default rewrite no rows.
 */
export const jobsWorkerErrorPermanent: Migration = {
  version: 22,
  name: 'jobs-worker-error-permanent',
  sql: `
    ALTER TABLE jobs ADD COLUMN worker_error_permanent boolean;
  `,
};
