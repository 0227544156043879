import type { Migration } from '../migration.ts';

/**
 * Copies `users_written` of the imports completed before migration 11 from their last `finish`
 * transition, as the shipped migration 11 did in one `UPDATE` under its `ALTER TABLE`'s lock (227 s
 * of `jobs` locked at 1.94M imports): the same rows get the same values, the latest finish of a
 * succeeded import whose `usersWritten` is a JSON number.
 *
 * Batched (`Migration.batched`): 10,000 jobs per batch in `id` order from the cursor on, each batch
 * a transaction of its own, so it holds row locks of at most one batch's imports for one batch's
 * time and never the table, and each batch is its own statement under the migrate task's
 * `statement_timeout`. A service writing a job waits at most one batch; a batch waits for a job a
 * service holds as any migration waits for a lock (2 s, then rolled back and tried again). Only rows
 * still null are written, so the code already running (which sets it as it completes an import)
 * keeps its value, an operator's retry (state no longer `succeeded`) is left alone, and a run again
 * after a stop finds the batches done with nothing to write. A database that applied the shipped 11
 * has every such row set: the batches read the jobs and write nothing (no transition is read for a
 * job already set).
 */
export const jobsUsersWrittenBackfill: Migration = {
  version: 20,
  name: 'jobs-users-written-backfill',
  batched: true,
  sql: `
    WITH batch AS (
      SELECT id, users_written IS NULL AND state = 'succeeded' AND kind = 'import' AS to_fill
        FROM jobs WHERE $1::text IS NULL OR id > $1::text ORDER BY id LIMIT 10000
    ), finish AS (
      SELECT DISTINCT ON (t.job_id) t.job_id, t.data
        FROM batch JOIN job_transitions AS t ON t.job_id = batch.id AND t.event = 'finish'
       WHERE batch.to_fill
       ORDER BY t.job_id, t.id DESC
    ), filled AS (
      UPDATE jobs SET users_written = (finish.data ->> 'usersWritten')::bigint
        FROM finish
       WHERE finish.job_id = jobs.id AND jobs.users_written IS NULL
         AND jobs.state = 'succeeded' AND jobs.kind = 'import'
         AND jsonb_typeof(finish.data -> 'usersWritten') = 'number'
    )
    SELECT max(id) AS next FROM batch
  `,
};
