import type { Migration } from '../migration.ts';

/**
 * The import/export ledger and the users it imports.
 *
 * - `users`: the imported records, upserted on `external_id` by the batch-worker.
 * - `jobs`: one row per import or export. `state` belongs to the status-updater alone (it fires the
 *   state events); the batch-worker writes only the row counts, `row_errors`, `worker_error` and
 *   `updated_at`. An import's source object is `(source_bucket, source_key, source_version)` where
 *   the version is the S3 versionId, else the ETag: the unique constraint makes registering the same
 *   object twice (S3 events arrive at least once) find the existing job instead of making a second.
 *   Exports have no source, and NULLs never conflict in a unique constraint, so it binds imports only.
 * - `job_transitions`: the audit trail, one row per state event applied, with the execution that
 *   fired it. The status-updater also finds a step's earlier result here when the step is re-run.
 */
export const jobs: Migration = {
  version: 2,
  name: 'jobs',
  sql: `
    CREATE TABLE users (
      external_id text PRIMARY KEY,
      email text NOT NULL,
      name text,
      attributes jsonb NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE jobs (
      id text PRIMARY KEY,
      kind text NOT NULL CONSTRAINT jobs_kind_check CHECK (kind IN ('import', 'export')),
      state text NOT NULL
        CONSTRAINT jobs_state_check CHECK (state IN ('registered', 'running', 'succeeded', 'failed')),
      source_bucket text,
      source_key text,
      source_version text,
      file_name text,
      execution_id text,
      rows_total bigint,
      rows_imported bigint,
      rows_rejected bigint,
      row_errors jsonb,
      worker_error text,
      error text,
      bytes bigint,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      started_at timestamptz,
      finished_at timestamptz,
      CONSTRAINT jobs_source_unique UNIQUE (kind, source_bucket, source_key, source_version),
      CONSTRAINT jobs_import_source_check CHECK (
        kind <> 'import'
        OR (source_bucket IS NOT NULL AND source_key IS NOT NULL AND source_version IS NOT NULL)
      )
    );

    CREATE TABLE job_transitions (
      id bigserial PRIMARY KEY,
      job_id text NOT NULL REFERENCES jobs (id),
      event text NOT NULL,
      from_state text,
      to_state text NOT NULL,
      execution_id text,
      data jsonb,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX job_transitions_job_id_event_idx ON job_transitions (job_id, event);
  `,
};
