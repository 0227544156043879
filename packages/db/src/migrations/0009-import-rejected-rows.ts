import type { Migration } from '../migration.ts';

/**
 * `import_rejected_rows`: every row a completed import left out, with its line, the field and the
 * reason, written by the batch-worker in the transaction that merges the import's valid rows and
 * completes its job (from the staging's rejects table, before the staging is dropped). The job's
 * `row_errors` keeps the first ones (`MAX_ROW_ERRORS`, 100) for the job's summary and the failure
 * reason; this table holds them all, at most `MAX_REJECTED_ROWS` per job (one more fails the import,
 * and a failed import imported nothing). Operators and uploaders read it page by page through the
 * ledger (`sidestep job rejected <jobId>`, the `job.rejected-rows` query of the ops-ledger function).
 * Deleting a job deletes its rows (`ON DELETE CASCADE`); the foreign key's check takes a share lock
 * on the job's row, which the completing transaction holds already.
 */
export const importRejectedRows: Migration = {
  version: 9,
  name: 'import-rejected-rows',
  sql: `
    CREATE TABLE import_rejected_rows (
      job_id text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
      line bigint NOT NULL,
      field text NOT NULL,
      message text NOT NULL,
      PRIMARY KEY (job_id, line)
    );
  `,
};
