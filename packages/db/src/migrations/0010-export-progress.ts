import type { Migration } from '../migration.ts';

/**
 * `export_progress`: how far a running export has got, for the operators' `sidestep job` and the
 * console (an import's progress is its staging, `import_stagings`). The batch-worker upserts its
 * job's row as it logs its progress (every `PROGRESS_INTERVAL_SECONDS`, 10 s by default: an export done
 * sooner writes none), on a connection of its own (the export's is busy with the COPY), and deletes
 * it in the statement that records the export's counts on the job. A failed export's row stays: how
 * far it got, which its retry continues from. Deleting the job deletes it.
 */
export const exportProgress: Migration = {
  version: 10,
  name: 'export-progress',
  sql: `
    CREATE TABLE export_progress (
      job_id text PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
      rows bigint NOT NULL,
      parts integer NOT NULL,
      bytes bigint NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    );
  `,
};
