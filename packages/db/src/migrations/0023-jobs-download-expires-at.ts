import type { Migration } from '../migration.ts';

/**
 * `jobs.download_expires_at`: until when an export's download link works, as the export-finalizer
 * gave it (`FinalizeExportOutput.downloadExpiresAt`), stored by FinishJob beside `download_url`. The
 * `export.ready` mail carries both; the job-sweeper composes that mail for a succeeded export whose
 * execution ended before its NotifyReady (a stop, a failure after FinishJob), and it must be the
 * workflow's very payload under the same key, which the mail-dispatcher otherwise refuses
 * (`IdempotencyKeyReusedError`). Null for an export finished before this column, and for imports.
 * An added column with no default rewrites no rows.
 */
export const jobsDownloadExpiresAt: Migration = {
  version: 23,
  name: 'jobs-download-expires-at',
  sql: `
    ALTER TABLE jobs ADD COLUMN download_expires_at timestamptz;
  `,
};
