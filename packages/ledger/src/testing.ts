import type { Queryable } from '@sidestep/db/postgres';
import type { ImportStaging, JobDetail } from './ledger.ts';

/**
 * A job as `describeJob` returns it, for tests of what shows one (the console's job page, the CLI's
 * `jobs show`): a running import of users.csv with nothing recorded yet, unless `overrides` say more.
 */
export function sampleJobDetail(overrides: Partial<JobDetail> = {}): JobDetail {
  return {
    id: 'imp_sample',
    kind: 'import',
    state: 'running',
    attempt: 1,
    fileName: 'users.csv',
    rowsTotal: null,
    rowsImported: null,
    rowsRejected: null,
    error: null,
    executionId: null,
    createdAt: new Date('2026-12-04T00:00:00Z'),
    updatedAt: new Date('2026-12-04T00:01:00Z'),
    requestedBy: null,
    resultKey: null,
    downloadUrl: null,
    deadlineAt: null,
    rowErrors: [],
    workerError: null,
    transitions: [],
    executions: [],
    mails: [],
    staging: null,
    exportProgress: null,
    usersWritten: null,
    sweepMail: null,
    ...overrides,
  };
}

/**
 * An import's staging mid-way, as `describeJob` returns the rows {@link insertStagedImport} writes:
 * 4,200,000 records and 412.0 of 553.4 MiB (74%) staged in 53 segments, 52 of them validated,
 * rejecting 3 rows so far.
 */
export function sampleImportStaging(overrides: Partial<ImportStaging> = {}): ImportStaging {
  return {
    bytesStaged: 432_013_312,
    bytesTotal: 580_280_729,
    recordsStaged: 4_200_000,
    segmentsStaged: 53,
    segmentsValidated: 52,
    rowsRejectedSoFar: 3,
    updatedAt: new Date('2026-12-04T10:21:03Z'),
    ...overrides,
  };
}

/**
 * Registers a running import `jobId` with the staging of {@link sampleImportStaging}, as the
 * batch-worker leaves one mid-way, without running anything: its `import_stagings` row and 53
 * committed segments (80,000 records each, the last 40,000), the first three rejecting a row each,
 * the last not validated yet. No execution and no deadline, so the job-sweeper leaves it alone.
 * Resolves with what removes the job and its staging again.
 */
export async function insertStagedImport(db: Queryable, jobId: string): Promise<() => Promise<void>> {
  const table = `import_staging_${jobId}`;
  await db.query(
    `INSERT INTO jobs (id, kind, state, source_bucket, source_key, source_version, file_name)
     VALUES ($1, 'import', 'running', 'sidestep-local-imports', $2, 'v1', 'users.csv')`,
    [jobId, `imports/${jobId}/users.csv`],
  );
  await db.query(
    `INSERT INTO import_stagings (job_id, table_name, columns, source_bytes, byte_offset, lines, records, updated_at)
     VALUES ($1, $2, '["external_id","email","name"]', 580280729, 432013312, 4200001, 4200000, '2026-12-04T10:21:03Z')`,
    [jobId, table],
  );
  await db.query(
    `INSERT INTO import_staging_segments (job_id, segment, table_name, records, rejected)
     SELECT $1, n, $2 || '_' || n, CASE WHEN n = 52 THEN 40000 ELSE 80000 END,
            CASE WHEN n = 52 THEN NULL WHEN n < 3 THEN 1 ELSE 0 END
     FROM generate_series(0, 52) AS n`,
    [jobId, table],
  );
  return async () => {
    await db.query('SELECT drop_import_staging($1)', [jobId]);
    await db.query('DELETE FROM jobs WHERE id = $1', [jobId]);
  };
}
