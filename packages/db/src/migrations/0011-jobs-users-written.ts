import type { Migration } from '../migration.ts';

/**
 * `jobs.users_written`: the users a completed import's merge wrote (new, or changed by the file),
 * set by the batch-worker in the transaction that completes the job, beside its row counts; null
 * for exports, for a job not completed, and reset with the counts when an operator retries a job.
 * The status-updater's output carries it (`rows.written`), so the `import.completed` mail can say
 * that a nightly file of 1,000 rows changed 3 users. Imports completed before this migration had
 * it only in their `finish` transition's data: it is copied from there.
 */
export const jobsUsersWritten: Migration = {
  version: 11,
  name: 'jobs-users-written',
  sql: `
    ALTER TABLE jobs ADD COLUMN users_written bigint;
    UPDATE jobs SET users_written = (finish.data ->> 'usersWritten')::bigint
      FROM (
        SELECT DISTINCT ON (job_id) job_id, data FROM job_transitions
        WHERE event = 'finish' ORDER BY job_id, id DESC
      ) AS finish
      WHERE finish.job_id = jobs.id AND jobs.state = 'succeeded' AND jobs.kind = 'import'
        AND jsonb_typeof(finish.data -> 'usersWritten') = 'number';
  `,
};
