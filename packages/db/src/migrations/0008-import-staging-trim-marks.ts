import type { Migration } from '../migration.ts';

/**
 * `import_stagings.trim_marked`: whether the batch-worker's record scanner marked the staging's
 * records that have an id, email or name to trim (`t` in the staging's `reject` column), so that
 * validating and merging trim only those rows. True for every staging the batch-worker creates from
 * now on; false for one an earlier version created (and a task of this version resumes), whose rows
 * are then all trimmed, as before. A constant default: PostgreSQL 11+ adds the column without
 * rewriting the table (https://www.postgresql.org/docs/15/sql-altertable.html, Notes): its lock on
 * `import_stagings` lasts a moment, after the segment transactions under way.
 */
export const importStagingTrimMarks: Migration = {
  version: 8,
  name: 'import-staging-trim-marks',
  sql: `
    ALTER TABLE import_stagings ADD COLUMN trim_marked boolean NOT NULL DEFAULT false;
  `,
};
