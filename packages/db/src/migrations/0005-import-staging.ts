import type { Migration } from '../migration.ts';

/**
 * What an import keeps between attempts of its task (the batch-worker's resumable import).
 *
 * - `import_stagings`: one row per import job that has staged records: the job's staging table (an
 *   UNLOGGED table of text columns, named here, created and dropped by the batch-worker), the file's
 *   header, the S3 identity of the object read (ETag, version, size), and how far staging got: the byte
 *   offset just past the last staged record, the line count up to it, and the records staged. A
 *   retried task resumes reading the object at `byte_offset` (a ranged GET of the same version).
 *   The row and the staged records are committed together, segment by segment, so they agree.
 * - `drop_import_staging(job_id)`: drops the job's staging table and its row; true when there was
 *   one. The batch-worker calls it when the job ends in its hands (inside the transaction that
 *   completes it, or after a permanent failure); whatever fails or sweeps a job without the worker
 *   (the status-updater's failure path, the job-sweeper) calls it too, so no staging outlives its job.
 *   `DELETE` of the job cascades to the row only: call the function first.
 */
export const importStaging: Migration = {
  version: 5,
  name: 'import-staging',
  sql: `
    CREATE TABLE import_stagings (
      job_id text PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
      table_name text NOT NULL UNIQUE,
      columns jsonb NOT NULL,
      source_etag text,
      source_version text,
      source_bytes bigint,
      byte_offset bigint NOT NULL,
      lines bigint NOT NULL,
      records bigint NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE FUNCTION drop_import_staging(staged_job_id text) RETURNS boolean
    LANGUAGE plpgsql AS $$
    DECLARE
      staging_table text;
    BEGIN
      DELETE FROM import_stagings WHERE job_id = staged_job_id RETURNING table_name INTO staging_table;
      IF staging_table IS NULL THEN
        RETURN false;
      END IF;
      EXECUTE format('DROP TABLE IF EXISTS %I', staging_table);
      RETURN true;
    END
    $$;
  `,
};
