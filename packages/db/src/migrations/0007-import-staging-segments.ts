import type { Migration } from '../migration.ts';

/**
 * An import's staging in segments (the batch-worker validates each committed segment while the next
 * one streams in).
 *
 * - `import_staging_segments`: one row per committed segment of a job's staging: its table (an
 *   UNLOGGED child of the job's staging table, which the merge reads through inheritance), the
 *   records it holds, and `rejected`: how many of them break a rule, NULL until the segment is
 *   validated. The rows a validation rejects go to the job's rejects table (`<staging table>_rejects`,
 *   line, field and message), in the statement that sets `rejected`. No foreign key to
 *   `import_stagings`: the segment's task holds that row `FOR UPDATE` while it streams the next
 *   segment, and a foreign key's check would wait for it.
 * - `drop_import_staging(job_id)` now drops the staging table with its segments (CASCADE), the rejects
 *   table and the segments' rows.
 */
export const importStagingSegments: Migration = {
  version: 7,
  name: 'import-staging-segments',
  sql: `
    CREATE TABLE import_staging_segments (
      job_id text NOT NULL,
      segment integer NOT NULL,
      table_name text NOT NULL,
      records bigint NOT NULL,
      rejected bigint,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (job_id, segment)
    );

    CREATE OR REPLACE FUNCTION drop_import_staging(staged_job_id text) RETURNS boolean
    LANGUAGE plpgsql AS $$
    DECLARE
      staging_table text;
    BEGIN
      DELETE FROM import_staging_segments WHERE job_id = staged_job_id;
      DELETE FROM import_stagings WHERE job_id = staged_job_id RETURNING table_name INTO staging_table;
      IF staging_table IS NULL THEN
        RETURN false;
      END IF;
      EXECUTE format('DROP TABLE IF EXISTS %I, %I CASCADE', staging_table, staging_table || '_rejects');
      RETURN true;
    END
    $$;
  `,
};
