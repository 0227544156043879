import { type Database, MAX_STAGING_SEGMENTS, type Queryable, stagingTableName } from '@sidestep/db/postgres';
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

/** The most segments a staging has (@sidestep/db's, which the batch-worker sizes its segments by), each a table. */
export { MAX_STAGING_SEGMENTS } from '@sidestep/db/postgres';

/**
 * Locks one segment table takes when it is dropped (the table, its TOAST table and index, its row
 * type and array type), measured on PostgreSQL 15 in `pg_locks` during a `DROP TABLE ... CASCADE`.
 */
const LOCKS_PER_DROPPED_SEGMENT = 5;

/**
 * PGlite's start settings for the lock-table tests (`pgliteSettings` of @sidestep/db/testing): a lock
 * table of 2,000 (20 x 100 connections) instead of the default 6,400. One staging's drop (~1,300
 * locks) still fits, as it does in the default's, and overflowing it three times takes 5 stagings'
 * ~1,300 tables instead of 15 stagings' ~3,900, which took 10-14 s to make and drop.
 */
export const SMALL_LOCK_TABLE: Readonly<Record<string, string>> = { max_locks_per_transaction: '20' };

/**
 * How many stagings of {@link MAX_STAGING_SEGMENTS} segments, dropped in one transaction, take more
 * locks than `db`'s server has room for: its shared lock table holds about
 * `max_locks_per_transaction` x (`max_connections` + `max_prepared_transactions`) locks for all
 * sessions together (https://www.postgresql.org/docs/15/runtime-config-locks.html), 6,400 by
 * default, past which a statement fails with 53200 "out of shared memory". Three tables' worth: the
 * lock table can grow into shared memory's slop, so its size is a floor (at the defaults, 8 stagings
 * were dropped in one transaction and 12 were not).
 */
export async function stagingsOverflowingLockTable(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ lock_table: number }>(
    `SELECT current_setting('max_locks_per_transaction')::int
            * (current_setting('max_connections')::int + current_setting('max_prepared_transactions')::int)
            AS lock_table`,
  );
  return Math.ceil((3 * (rows[0]?.lock_table ?? 0)) / (MAX_STAGING_SEGMENTS * LOCKS_PER_DROPPED_SEGMENT));
}

/**
 * Gives import `jobId` (its job row written already) the staging the batch-worker leaves after
 * `segments` segments, without running anything: its `import_stagings` row, its table (named as the
 * batch-worker names it) with three fields, its rejects table, and each segment a table inheriting it
 * with its `import_staging_segments` row. One transaction, holding only its own tables' locks (about
 * four a table). Resolves with the staging table's name, which every table of it starts with.
 *
 * @throws {RangeError} `segments` is not a whole number, 0 or more.
 */
export async function createStagingTables(db: Database, jobId: string, segments: number): Promise<string> {
  if (!Number.isInteger(segments) || segments < 0) {
    throw new RangeError(`segments: a whole number of segments, 0 or more, not ${segments}`);
  }
  const table = stagingTableName(jobId);
  await db.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO import_stagings (job_id, table_name, columns, byte_offset, lines, records)
       VALUES ($1, $2, '["external_id","email","name"]', 0, 0, 0)`,
      [jobId, table],
    );
    await tx.query(
      `INSERT INTO import_staging_segments (job_id, segment, table_name, records, rejected)
       SELECT $1, n, $2 || '_' || n, 0, 0 FROM generate_series(0, $3 - 1) AS n`,
      [jobId, table, segments],
    );
    // DO takes no parameters: the job reaches it through a setting local to this transaction.
    await tx.query(`SELECT set_config('sidestep.staging_job', $1, true)`, [jobId]);
    await tx.query(`DO $$
      DECLARE
        job text := current_setting('sidestep.staging_job');
        staging text := (SELECT table_name FROM import_stagings WHERE job_id = job);
        segment record;
      BEGIN
        EXECUTE format('CREATE UNLOGGED TABLE %I (line bigint NOT NULL, reject text, c1 text, c2 text, c3 text)', staging);
        EXECUTE format('CREATE UNLOGGED TABLE %I (line bigint NOT NULL, field text NOT NULL, message text NOT NULL)',
                       staging || '_rejects');
        FOR segment IN SELECT table_name FROM import_staging_segments WHERE job_id = job LOOP
          EXECUTE format('CREATE UNLOGGED TABLE %I () INHERITS (%I)', segment.table_name, staging);
        END LOOP;
      END $$`);
  });
  return table;
}

/**
 * Gives each import of `jobIds` a staging of `segments` segments ({@link createStagingTables}), then
 * runs `test` with what counts the tables of those stagings still there. Whatever `test` does, what
 * is left of them is dropped after, one staging a transaction: closing a PostgreSQL test database
 * drops its schema, every table in one transaction, which past the lock table fails too (53200) and
 * leaves the schema on the server.
 */
export async function withStagings(
  db: Database,
  jobIds: readonly string[],
  segments: number,
  test: (tablesLeft: () => Promise<number>) => Promise<void>,
): Promise<void> {
  const tables: string[] = [];
  try {
    for (const jobId of jobIds) tables.push(await createStagingTables(db, jobId, segments));
    await test(async () => {
      const { rows } = await db.query<{ tables: number }>(
        `SELECT count(*)::int AS tables FROM pg_tables
         WHERE schemaname = current_schema() AND tablename::text ^@ ANY($1::text[])`,
        [tables],
      );
      return rows[0]?.tables ?? 0;
    });
  } finally {
    for (const jobId of jobIds) await db.query('SELECT drop_import_staging($1)', [jobId]);
  }
}
