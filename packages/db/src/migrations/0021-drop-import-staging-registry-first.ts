import type { Migration } from '../migration.ts';

/**
 * `drop_import_staging(job_id)` deletes the staging's registry row (`import_stagings`) before its
 * segments' rows, and deletes the segment rows a drop before this one left behind.
 *
 * The import task holds the registry row `FOR UPDATE` while it streams a segment and inserts the
 * segment's row as it commits. Migration 7's function deleted the segment rows first and then waited
 * for the task's lock on the registry row: a segment the task committed meanwhile kept its row, naming
 * a table the drop then removed, and the job's next run under the same id (`sidestep job retry`)
 * failed on it (23505 on the segment's number, or 42P01 validating it). Deleting the registry row
 * first waits for the task before the segments are read: in READ COMMITTED each statement of a
 * (volatile) PL/pgSQL function takes a new snapshot, so the second `DELETE` sees the segment committed
 * while the first waited, and the task's next segment, which locks the registry row first, finds the
 * staging gone. A segment row whose registry row is gone is such a leftover (a task inserts a segment
 * row only while it holds its registry row), so the cleanup cannot touch a live staging.
 */
export const dropImportStagingRegistryFirst: Migration = {
  version: 21,
  name: 'drop-import-staging-registry-first',
  sql: `
    CREATE OR REPLACE FUNCTION drop_import_staging(staged_job_id text) RETURNS boolean
    LANGUAGE plpgsql AS $$
    DECLARE
      staging_table text;
    BEGIN
      DELETE FROM import_stagings WHERE job_id = staged_job_id RETURNING table_name INTO staging_table;
      DELETE FROM import_staging_segments WHERE job_id = staged_job_id;
      IF staging_table IS NULL THEN
        RETURN false;
      END IF;
      EXECUTE format('DROP TABLE IF EXISTS %I, %I CASCADE', staging_table, staging_table || '_rejects');
      RETURN true;
    END
    $$;

    DELETE FROM import_staging_segments AS segment
     WHERE NOT EXISTS (SELECT FROM import_stagings AS staging WHERE staging.job_id = segment.job_id);
  `,
};
