import type { Migration } from '../migration.ts';

/**
 * Export jobs and job deadlines on the `jobs` ledger.
 *
 * - `request_id`: an export's identity, the `export.requested` envelope id. A queue delivers a
 *   message at least once and an EventBridge Pipe cannot name the execution it starts, so two
 *   executions may register one request: the partial unique index makes the second find the job of
 *   the first (as `jobs_source_unique` does for an import's S3 object). Partial: imports have none,
 *   and their rows stay out of the index.
 * - `requested_by`, `export_filter`: who asked (the `export.ready` / `export.failed` mails go there)
 *   and which users, as requested. The export's file name reuses `file_name`.
 * - `result_key`, `download_url`: where the finalizer put the one `.csv.gz` and the link the mail
 *   carries; the exported row count and bytes reuse `rows_total` and `bytes`.
 * - `deadline_at`: set when the job starts (now + its kind's deadline). A job still `running` past it
 *   is stuck (a lost task, a killed execution): the job-sweeper fails it. The partial index serves
 *   that query and holds running jobs only.
 * - `swept_at`, `sweep_mail_queued_at`: when the sweeper failed the job and when its failure mail
 *   was queued. The mail is queued after the failure commits; a sweep that dies in between leaves
 *   `sweep_mail_queued_at` null, and the next sweep queues the mail again (same idempotency key, so
 *   the mail-dispatcher still sends it once).
 *
 * No CHECK ties `request_id` to exports: the ledger accepts export rows written by the batch-worker's
 * own tests and fixtures, and the status-updater, the only writer of registrations, always sets it.
 */
export const exportJobs: Migration = {
  version: 3,
  name: 'export-jobs',
  sql: `
    ALTER TABLE jobs
      ADD COLUMN request_id text,
      ADD COLUMN requested_by text,
      ADD COLUMN export_filter jsonb,
      ADD COLUMN result_key text,
      ADD COLUMN download_url text,
      ADD COLUMN deadline_at timestamptz,
      ADD COLUMN swept_at timestamptz,
      ADD COLUMN sweep_mail_queued_at timestamptz;

    CREATE UNIQUE INDEX jobs_request_unique ON jobs (kind, request_id) WHERE request_id IS NOT NULL;
    CREATE INDEX jobs_running_deadline_idx ON jobs (deadline_at) WHERE state = 'running';
    CREATE INDEX jobs_sweep_mail_pending_idx ON jobs (swept_at)
      WHERE swept_at IS NOT NULL AND sweep_mail_queued_at IS NULL;
  `,
};
