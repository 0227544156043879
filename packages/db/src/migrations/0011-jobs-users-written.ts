import type { Migration } from '../migration.ts';

/**
 * `jobs.users_written`: the users a completed import's merge wrote (new, or changed by the file),
 * set by the batch-worker in the transaction that completes the job, beside its row counts; null
 * for exports, for a job not completed, and reset with the counts when an operator retries a job.
 * The status-updater's output carries it (`rows.written`), so the `import.completed` mail can say
 * that a nightly file of 1,000 rows changed 3 users. Imports completed before this migration had
 * it only in their `finish` transition's data: migration 20 copies it from there.
 *
 * It shipped with that copy in its own transaction, an `UPDATE` of every completed import under the
 * `ALTER TABLE`'s ACCESS EXCLUSIVE lock: 227 s of `jobs` unreadable at 1.94M imports, and past the
 * migrate task's `statement_timeout` at ~7M jobs. Rewritten to add the column alone (no rows
 * rewritten, a moment's lock), the copy moved to the batched migration 20; a database that applied
 * the shipped SQL has the same column and rows, and migration 20 finds nothing left to copy there.
 */
export const jobsUsersWritten: Migration = {
  version: 11,
  name: 'jobs-users-written',
  sql: `
    ALTER TABLE jobs ADD COLUMN IF NOT EXISTS users_written bigint;
  `,
  // The shipped ALTER TABLE and UPDATE (tests/fixtures/shipped-migrations.ts).
  formerChecksums: ['0b77b5269d115ab10a67860c85828ad5f66a01a0e32c6d658c7b730addf0449b'],
};
