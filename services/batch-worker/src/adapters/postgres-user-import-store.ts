import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { type Queryable, stagingTableName } from '@sidestep/db/postgres';
import { fireJobEvent, JOB_COLUMNS, type JobRow } from '@sidestep/jobs';
import { isDatabaseError } from '@sidestep/runtime';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { DEFAULT_MERGE_WORK_MEM } from '../config.ts';
import type { ScanPosition } from '../domain/csv-record-scanner.ts';
import { type HeaderMapping, mapHeader } from '../domain/map-header.ts';
import type {
  CompletedImport,
  ImportFailure,
  ImportJobState,
  ImportResult,
  Rejections,
  RowError,
  StagedSource,
  Staging,
  StagingSegment,
  UserImportStore,
  ValidationLimits,
} from '../domain/user-import-store.ts';
import { DatabaseConflictError, RowTooBigError, TooManyRejectedRowsError } from '../errors.ts';
import { assertRunnable, clearEarlierFailure } from './check-running-job.ts';
import {
  createRejectsSql,
  IMPORT_MERGE_LOCK,
  type MergeOptions,
  mergeSql,
  rejectedRowsSql,
  rejectSql,
  rejectsTableName,
  type StagedRows,
  stagingColumns,
  upsertSql,
  validationSql,
} from './staged-user-rules.ts';
import { connectWorkerClient, WORKER_APPLICATION_NAME, type WorkerConnection } from './worker-client.ts';

/** The validator's session in pg_stat_activity. */
export const VALIDATOR_APPLICATION_NAME = `${WORKER_APPLICATION_NAME} validator`;

/** SQLSTATE undefined_table. */
const UNDEFINED_TABLE = '42P01';
/** SQLSTATE unique_violation. */
const UNIQUE_VIOLATION = '23505';
/** SQLSTATE program_limit_exceeded: a staged row that does not fit in a page ("row is too big"). */
const ROW_TOO_BIG = '54000';
/**
 * The key on `users.external_id` (db migration 2's primary key, as PostgreSQL names it): the one
 * unique violation the upsert's `ON CONFLICT (external_id)` resolves.
 */
const USERS_EXTERNAL_ID_KEY = 'users_pkey';

/** Options of {@link PostgresUserImportStore.connect}. */
export interface PostgresUserImportStoreOptions extends WorkerConnection {
  /**
   * Times the completing transaction is tried when PostgreSQL aborts it for a deadlock (40P01) or a
   * serialization failure (40001), with exponential backoff from `retryDelayMs`. @default 5
   */
  readonly maxCompleteAttempts?: number;
  /** @default 200 */
  readonly retryDelayMs?: number;
  /**
   * PostgreSQL's `work_mem` for the completing transaction, whose merge sorts every staged row by id.
   * Imports merge one at a time ({@link IMPORT_MERGE_LOCK}), so a database runs one such merge at once.
   * @default '256MB'
   */
  readonly mergeWorkMem?: string;
  /** Told of each abort the completing transaction is tried again after (for the task's log). */
  readonly onCompleteRetry?: (retry: CompleteRetry) => void;
  /**
   * Told when the merge met a user another writer inserted meanwhile and ran again as an upsert (for
   * the task's log: the import is slower, not failed).
   */
  readonly onMergeFallback?: () => void;
  /**
   * Told when validating a segment on the validator's connection failed (for the task's log): the
   * validator stops, and the completion validates the segments left itself.
   */
  readonly onValidatorFailure?: (error: unknown) => void;
}

/** An abort of the completing transaction that the store answers by trying it again. */
export interface CompleteRetry {
  /** `40P01` (deadlock) or `40001` (serialization failure). */
  readonly sqlstate: string;
  /** The attempt that was aborted, from 1. */
  readonly attempt: number;
  /** How long the store waits before the next attempt. */
  readonly delayMs: number;
}

/** Who fires the job's `finish` when the import completes it, as the audit trail records it. */
export const IMPORT_COMPLETED_BY = 'batch-worker';

/**
 * How the staging's transactions begin (creating it, each segment, each segment's validation, the
 * early check of rejected rows): READ COMMITTED whatever the database's default. They are ordered by
 * the row locks they take (the staging's row, a segment's row), which is all they need; in a
 * database whose default is SERIALIZABLE, its predicate locks would make a segment and the
 * validation of the one before it, which read and write neighbouring rows of
 * import_staging_segments, fail each other with 40001. The completion keeps the default: it is
 * retried on 40001.
 */
const BEGIN_LOCKED = 'BEGIN ISOLATION LEVEL READ COMMITTED';

/** SQLSTATEs after which the same transaction, run again, may pass. */
const RETRYABLE_SQLSTATES = new Set(['40P01', '40001']);

/** `jobs.worker_error_permanent` (db migration 22): another task failed the data for good. */
interface PermanentFlag {
  worker_error_permanent: boolean | null;
}

interface StagingRow {
  table_name: string;
  columns: string[];
  source_etag: string | null;
  source_version: string | null;
  source_bytes: string | null;
  byte_offset: string;
  lines: string;
  records: string;
  trim_marked: boolean;
}

/**
 * {@link UserImportStore} on PostgreSQL through one `pg` connection (COPY needs the raw connection
 * that `@sidestep/db`'s Database hides). Staging is an UNLOGGED table per job (no WAL for rows that
 * are only a way station; a server crash empties it, which {@link findStaging} notices), registered
 * in `import_stagings` with the position reached.
 */
export class PostgresUserImportStore implements UserImportStore {
  readonly #client: pg.Client;
  readonly #connection: WorkerConnection;
  readonly #maxCompleteAttempts: number;
  readonly #retryDelayMs: number;
  readonly #mergeWorkMem: string;
  readonly #onCompleteRetry: ((retry: CompleteRetry) => void) | undefined;
  readonly #onMergeFallback: (() => void) | undefined;
  readonly #onValidatorFailure: ((error: unknown) => void) | undefined;
  readonly #validator: SegmentValidator;
  #closed: Promise<void> | undefined;

  private constructor(client: pg.Client, options: PostgresUserImportStoreOptions) {
    this.#client = client;
    this.#connection = options;
    this.#maxCompleteAttempts = options.maxCompleteAttempts ?? 5;
    this.#retryDelayMs = options.retryDelayMs ?? 200;
    this.#mergeWorkMem = options.mergeWorkMem ?? DEFAULT_MERGE_WORK_MEM;
    this.#onCompleteRetry = options.onCompleteRetry;
    this.#onMergeFallback = options.onMergeFallback;
    this.#onValidatorFailure = options.onValidatorFailure;
    this.#validator = new SegmentValidator(options);
  }

  /** Opens the import's connection. */
  static async connect(options: PostgresUserImportStoreOptions): Promise<PostgresUserImportStore> {
    const client = await connectWorkerClient(options);
    return new PostgresUserImportStore(client, options);
  }

  /** How rows reach the staging table (the log's `staging` field). */
  get stagingMethod(): 'copy' {
    return 'copy';
  }

  async checkJob(jobId: string): Promise<ImportJobState> {
    const { rows } = await this.#client.query<JobRow & PermanentFlag & { completed_by_worker: boolean }>(
      `SELECT ${JOB_COLUMNS}, worker_error_permanent, EXISTS (
         SELECT 1 FROM job_transitions t
         WHERE t.job_id = jobs.id AND t.event = 'finish' AND t.data->>'by' = $2
       ) AS completed_by_worker
       FROM jobs WHERE id = $1`,
      [jobId, IMPORT_COMPLETED_BY],
    );
    const job = rows[0];
    if (job?.kind === 'import' && job.state === 'succeeded' && job.completed_by_worker) {
      return { state: 'completed', result: resultOf(job) };
    }
    assertRunnable(jobId, job, 'import');
    if (job.worker_error != null) await clearEarlierFailure(this.#client, jobId);
    return { state: 'running' };
  }

  async findStaging(jobId: string): Promise<Staging | undefined> {
    const { rows } = await this.#client.query<StagingRow>('SELECT * FROM import_stagings WHERE job_id = $1', [
      jobId,
    ]);
    const row = rows[0];
    if (!row) return undefined;
    const staging = stagingOf(jobId, row);
    // A server crash empties UNLOGGED tables but not the registry: start over rather than resume
    // after records that are gone.
    // A staging without a rejects table was staged whole, before segments were validated one by one
    // (db migration 7): start over rather than mix the two.
    const { rows: present } = await this.#client.query<{ ok: boolean }>(
      `SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL AS ok`,
      [staging.table, rejectsTableName(staging.table)],
    );
    const intact =
      present[0]?.ok === true && (staging.records === 0 || (await this.#holdsRows(staging.table)));
    if (intact) return staging;
    await this.dropStaging(jobId);
    return undefined;
  }

  /**
   * Whether `table` holds a row; false when it is gone, also when another task of the job (a
   * duplicated task completing it) dropped it after the registry was read: PostgreSQL then answers
   * the probe with undefined_table (42P01).
   */
  async #holdsRows(table: string): Promise<boolean> {
    try {
      return (await this.#client.query(`SELECT 1 FROM ${table} LIMIT 1`)).rows.length === 1;
    } catch (error) {
      if ((error as { code?: unknown }).code === UNDEFINED_TABLE) return false;
      throw error;
    }
  }

  async createStaging(
    jobId: string,
    columns: readonly string[],
    header: HeaderMapping,
    position: ScanPosition,
    source: StagedSource,
  ): Promise<Staging | undefined> {
    const table = stagingTableName(jobId);
    const client = this.#client;
    await client.query(BEGIN_LOCKED);
    try {
      // The job's row lock orders this after a completion of the job by another task (which drops
      // the staging): a staging is never created again for a job that is no longer running.
      const { rows: jobs } = await client.query<{ state: string }>(
        'SELECT state FROM jobs WHERE id = $1 FOR SHARE',
        [jobId],
      );
      if (jobs[0]?.state !== 'running') {
        await client.query('ROLLBACK');
        return undefined;
      }
      // Two tasks of the job may get here at once: the second's row conflicts on the job id and on the
      // table name (derived from the job id, and unique too), and only a conflict target naming every
      // unique index lets it lose quietly; with `(job_id)` alone it could fail with 23505 on the name.
      const inserted = await client.query(
        `INSERT INTO import_stagings
           (job_id, table_name, columns, source_etag, source_version, source_bytes, byte_offset, lines, trim_marked)
         VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, true)
         ON CONFLICT DO NOTHING`,
        [
          jobId,
          table,
          JSON.stringify(columns),
          source.etag ?? null,
          source.versionId ?? null,
          source.bytes ?? null,
          position.offset,
          position.lines,
        ],
      );
      if (inserted.rowCount !== 1) {
        await client.query('ROLLBACK');
        return undefined;
      }
      const fields = stagingColumns(header.columnCount)
        .slice(2)
        .map((column) => `${column} text`);
      const rejects = rejectsTableName(table);
      await client.query(`DROP TABLE IF EXISTS ${table}, ${rejects} CASCADE`);
      // The staging table holds no row itself: each segment is a table of its own that inherits from
      // it (stage), which the merge reads through it.
      await client.query(
        `CREATE UNLOGGED TABLE ${table} (line bigint NOT NULL, reject text${fields.map((f) => `, ${f}`).join('')})`,
      );
      await client.query(createRejectsSql(rejects));
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    }
    return { jobId, table, columns, header, trimMarked: true, position, records: 0, source };
  }

  async stage(staging: Staging, from: ScanPosition): Promise<StagingSegment | undefined> {
    const client = this.#client;
    await client.query(BEGIN_LOCKED);
    let copy: Writable;
    let segment: number;
    let segmentTable: string;
    try {
      // The staging's row first, then its table: the order the completion takes them in too (it
      // drops the table), so a segment and a completion of two tasks of the job cannot deadlock.
      const { rows } = await client.query<{ byte_offset: string }>(
        'SELECT byte_offset FROM import_stagings WHERE job_id = $1 FOR UPDATE',
        [staging.jobId],
      );
      if (rows[0] === undefined || Number(rows[0].byte_offset) !== from.offset) {
        await client.query('ROLLBACK');
        return undefined;
      }
      // The segment's own table, so that it can be validated on its own, without reading the others.
      // Numbered by the staging table's children (the staging's row lock orders the segments): not
      // by reading import_staging_segments, which the validator writes meanwhile; in a SERIALIZABLE
      // database that read and the validator's would make the two transactions conflict (40001).
      const { rows: last } = await client.query<{ next: string }>(
        'SELECT count(*) AS next FROM pg_inherits WHERE inhparent = $1::regclass',
        [staging.table],
      );
      segment = Number(last[0]?.next ?? 0);
      segmentTable = `${staging.table}_${segment}`;
      await client.query(`CREATE UNLOGGED TABLE ${segmentTable} () INHERITS (${staging.table})`);
      // FREEZE: the table is created in this transaction, so PostgreSQL may write the rows frozen and
      // their pages all-visible (https://www.postgresql.org/docs/15/sql-copy.html). Otherwise the
      // first read of each row (the validation's) sets its hint bits, dirtying every page, which then
      // goes to disk again: measured at 1M rows (PostgreSQL 15, 2026-12-04), the COPY 1.17 s against
      // 1.53 s and the first scan 0.25 s against 0.33 s; at 10M the MERGE's scan wrote 940 MB back.
      copy = client.query(
        copyFrom(
          `COPY ${segmentTable} (${stagingColumns(staging.header.columnCount).join(', ')}) FROM STDIN (FORMAT csv, FREEZE)`,
        ),
      );
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    }
    let lastLine = from.lines + 1;
    const input = segmentCopy(copy, (error) =>
      stagingFailure(error, { from: from.lines + 1, to: lastLine }, staging.header.columnCount),
    );
    return {
      write: async (bytes, last) => {
        lastLine = last;
        await input.write(bytes);
        // Nothing waits in the socket: what it was given is in the kernel's buffer (or TLS's), so
        // the caller may write over `bytes`.
        return client.connection.stream.writableLength === 0;
      },
      commit: async (end, records) => {
        try {
          await input.end();
          await client.query(
            `UPDATE import_stagings SET byte_offset = $2, lines = $3, records = records + $4, updated_at = now()
             WHERE job_id = $1`,
            [staging.jobId, end.offset, end.lines, records],
          );
          await client.query(
            `INSERT INTO import_staging_segments (job_id, segment, table_name, records) VALUES ($1, $2, $3, $4)`,
            [staging.jobId, segment, segmentTable, records],
          );
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {});
          throw error;
        }
        // Validated on the validator's connection while the next segment streams in.
        this.#validator.validate(staging, segment);
      },
      abort: async (reason) => {
        await input.abort(reason);
        await client.query('ROLLBACK').catch(() => {});
      },
    };
  }

  /**
   * Runs the completing transaction; tries it again, up to `maxCompleteAttempts` times in all, when
   * PostgreSQL aborts it for a deadlock or a serialization failure (each abort rolled everything
   * back, so the next attempt starts clean).
   *
   * @throws {DatabaseConflictError} when every attempt was aborted so: the staging is left as it was,
   * for the task's rerun.
   */
  async complete(
    staging: Staging,
    end: ScanPosition,
    limits: ValidationLimits,
  ): Promise<CompletedImport | 'conflict'> {
    await this.#validateBehind(staging);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#completeOnce(staging, end, limits);
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (typeof code !== 'string' || !RETRYABLE_SQLSTATES.has(code)) throw error;
        if (attempt >= this.#maxCompleteAttempts) throw new DatabaseConflictError(code, attempt, error);
        // Full jitter: two imports that collided do not collide again in lockstep.
        const delayMs = Math.round(Math.random() * this.#retryDelayMs * 2 ** (attempt - 1));
        this.#onCompleteRetry?.({ sqlstate: code, attempt, delayMs });
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  }

  async #completeOnce(
    staging: Staging,
    end: ScanPosition,
    limits: ValidationLimits,
  ): Promise<CompletedImport | 'conflict'> {
    const client = this.#client;
    const { jobId, table } = staging;
    await client.query('BEGIN');
    try {
      // Sorting millions of staged rows by id for the merge: enough memory keeps the sort off disk.
      await client.query(`SELECT set_config('work_mem', $1, true)`, [this.#mergeWorkMem]);
      // Locks in the order every step of the import takes them: the job, the staging's row, its table.
      const { rows: jobs } = await client.query<JobRow & PermanentFlag>(
        `SELECT ${JOB_COLUMNS}, worker_error_permanent FROM jobs WHERE id = $1 FOR UPDATE`,
        [jobId],
      );
      const { rows: staged } = await client.query<{ byte_offset: string; records: string }>(
        'SELECT byte_offset, records FROM import_stagings WHERE job_id = $1 FOR UPDATE',
        [jobId],
      );
      const registered = staged[0];
      if (!registered || Number(registered.byte_offset) !== end.offset) {
        // Another task of the job moved the staging on, or completed the job (and dropped it).
        await client.query('ROLLBACK');
        return 'conflict';
      }
      // Also refused: another task failed the data while this one staged it (its failure stands).
      assertRunnable(jobId, jobs[0], 'import');
      const { rowsRejected, rowErrors, overLine } = await this.#validateStaged(client, staging, limits);
      const rowsTotal = Number(registered.records);
      if (overLine !== undefined) {
        throw new TooManyRejectedRowsError(rowsRejected, limits.maxRejectedRows, overLine, rowErrors);
      }
      const merged = await this.#merge(table, staging, {
        rejects: rowsRejected > 0 ? rejectsTableName(table) : undefined,
      });
      if (rowsRejected > 0) {
        // Every row left out, kept past the staging's drop below: `row_errors` holds the first ones.
        await client.query(rejectedRowsSql(rejectsTableName(table)), [jobId]);
      }
      const result: ImportResult = {
        rowsTotal,
        rowsImported: rowsTotal - rowsRejected,
        rowsRejected,
        rowErrors,
      };
      const usersWritten = merged.rowCount ?? 0;
      const { rows: updated } = await client.query<JobRow>(
        `UPDATE jobs SET rows_total = $2, rows_imported = $3, rows_rejected = $4, row_errors = $5::jsonb,
           users_written = $6, worker_error = NULL, updated_at = now()
         WHERE id = $1
         RETURNING ${JOB_COLUMNS}`,
        [
          jobId,
          result.rowsTotal,
          result.rowsImported,
          result.rowsRejected,
          JSON.stringify(rowErrors),
          usersWritten,
        ],
      );
      // The rows and the job's outcome are one fact: the job is completed in the transaction that
      // merged its rows, through the ledger's own state machine and audit trail. Fired as the job's
      // execution, so that execution's FinishJob step finds it done and replays this output.
      await fireJobEvent(this.#queryable(), updated[0] as JobRow, 'finish', {
        firedBy: (updated[0] as JobRow).execution_id ?? IMPORT_COMPLETED_BY,
        data: { by: IMPORT_COMPLETED_BY, usersWritten },
      });
      await client.query('SELECT drop_import_staging($1)', [jobId]);
      await client.query('COMMIT');
      return { ...result, usersWritten };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    }
  }

  async rejectedSoFar(jobId: string): Promise<number> {
    const client = this.#client;
    await client.query(`${BEGIN_LOCKED} READ ONLY`);
    try {
      const { rows } = await client.query<{ rejected: string }>(
        'SELECT coalesce(sum(rejected), 0) AS rejected FROM import_staging_segments WHERE job_id = $1',
        [jobId],
      );
      await client.query('COMMIT');
      return Number(rows[0]?.rejected ?? 0);
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    }
  }

  async rejections(staging: Staging, limits: ValidationLimits): Promise<Rejections> {
    await this.#validateBehind(staging);
    const client = this.#client;
    await client.query(BEGIN_LOCKED);
    try {
      const rejections = await this.#validateStaged(client, staging, limits);
      await client.query('COMMIT');
      return rejections;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    }
  }

  /**
   * Catches up with the validator: validates, on the import's own connection, the staging's segments
   * no one validated yet, newest first, while the validator goes on with its queue, oldest first, and
   * waits until the validator's last transaction has ended (telling `onValidatorFailure` why it
   * stopped, if it did). Staging and validating share the machine's cores, so the validator falls
   * behind while segments stream in (at 10M rows, PostgreSQL 15 on 2 cores, 2026-12-06: 20 of 70
   * segments were still queued when the last one committed, 2.6 s of validation before the merge
   * could start); once the last segment is in, the import's connection and its backend are free to
   * take half of what is left. Each segment is validated once: whoever locks its row first validates
   * it in that transaction, and the other finds it validated (the import's connection skips rows the
   * validator holds; the validator waits for a row the import's connection holds, which commits it).
   * Segments left unvalidated all the same (the validator stopped) are validated by the caller's
   * transaction ({@link #validateStaged}).
   */
  async #validateBehind(staging: Staging): Promise<void> {
    const [behind, drained] = await Promise.allSettled([
      this.#validateNewestFirst(staging),
      this.#validator.drain(),
    ]);
    if (drained.status === 'fulfilled' && drained.value !== undefined)
      this.#onValidatorFailure?.(drained.value);
    if (behind.status === 'rejected') throw behind.reason;
  }

  /** Validates the staging's unvalidated segments that no one holds, newest first, until none is left. */
  async #validateNewestFirst(staging: Staging): Promise<void> {
    while (await validateSegment(this.#client, staging, NEWEST_UNVALIDATED_SEGMENT, [staging.jobId])) {
      // each pass validated a segment, or found it validated meanwhile
    }
  }

  /**
   * Inside a transaction: validates the staging's segments no validator got to (staged by an earlier
   * task, or the validator was stopped), then reads its rejected rows.
   */
  async #validateStaged(client: pg.Client, staging: Staging, limits: ValidationLimits): Promise<Rejections> {
    const { jobId, table } = staging;
    const { rows: unvalidated } = await client.query<{ segment: number; table_name: string }>(
      `SELECT segment, table_name FROM import_staging_segments
       WHERE job_id = $1 AND rejected IS NULL ORDER BY segment FOR UPDATE`,
      [jobId],
    );
    for (const { segment, table_name } of unvalidated) {
      await client.query(segmentValidationSql(staging, table_name), [jobId, segment]);
    }
    const { rows: checked } = await client.query<{
      rejected: string;
      row_errors: RowError[];
      over_line: string | null;
    }>(validationSql(rejectsTableName(table)), [limits.maxRowErrors, limits.maxRejectedRows]);
    const overLine = checked[0]?.over_line;
    return {
      rowsRejected: Number(checked[0]?.rejected ?? 0),
      rowErrors: checked[0]?.row_errors ?? [],
      overLine: overLine === null || overLine === undefined ? undefined : Number(overLine),
    };
  }

  /**
   * Merges the staged rows into `users`, inside the completing transaction: one import at a time
   * ({@link IMPORT_MERGE_LOCK}, held to the commit), by MERGE; when the MERGE meets a user another
   * writer inserted meanwhile (23505 on {@link USERS_EXTERNAL_ID_KEY}, which MERGE does not resolve),
   * again by the slower `INSERT ... ON CONFLICT`, which does. A violation of another unique index (one
   * the product added, on the email) fails the import: the upsert would fail on it the same way.
   */
  async #merge(table: string, staged: StagedRows, options: MergeOptions): Promise<pg.QueryResult> {
    const client = this.#client;
    await client.query('SELECT pg_advisory_xact_lock($1)', [IMPORT_MERGE_LOCK]);
    await client.query('SAVEPOINT merge');
    try {
      const merged = await client.query(mergeSql(table, staged, options));
      await client.query('RELEASE SAVEPOINT merge');
      return merged;
    } catch (error) {
      const onKey =
        isDatabaseError(error) &&
        error.code === UNIQUE_VIOLATION &&
        error.constraint === USERS_EXTERNAL_ID_KEY;
      if (!onKey) throw error;
      await client.query('ROLLBACK TO SAVEPOINT merge');
      this.#onMergeFallback?.();
      return client.query(upsertSql(table, staged, options));
    }
  }

  async recordFailure(jobId: string, failure: ImportFailure): Promise<void> {
    // The failed task's own validation ends first: none of its transactions may still be writing the
    // staging's rejects once the failure is recorded and a retry can resume it (the running one
    // finishes; the queued ones are skipped and left to the completion, as any unvalidated segment).
    await this.#validator.settle();
    // A permanent failure another task of the job recorded stands: this one's (a duplicate's
    // transient one, say) would have the workflow run the task again, or fail with another reason.
    await this.#withOwnConnection((client) =>
      client.query(
        `UPDATE jobs SET worker_error = $2, rows_rejected = $3, row_errors = $4::jsonb,
           worker_error_permanent = $5, updated_at = now()
         WHERE id = $1 AND state = 'running' AND worker_error_permanent IS NOT TRUE`,
        [
          jobId,
          failure.reason,
          failure.rowsRejected,
          JSON.stringify(failure.rowErrors),
          failure.permanent || null,
        ],
      ),
    );
  }

  async dropStaging(jobId: string): Promise<void> {
    await this.#withOwnConnection((client) => client.query('SELECT drop_import_staging($1)', [jobId]));
  }

  close(): Promise<void> {
    this.#closed ??= Promise.all([this.#client.end().catch(() => {}), this.#validator.close()]).then(
      () => {},
    );
    return this.#closed;
  }

  /** Runs `fn` on a connection of its own: the import's connection may be the very thing that failed. */
  async #withOwnConnection(fn: (client: pg.Client) => Promise<unknown>): Promise<void> {
    const client = await connectWorkerClient(this.#connection);
    try {
      await fn(client);
    } finally {
      await client.end().catch(() => {});
    }
  }

  #queryable(): Queryable {
    const client = this.#client;
    return {
      query: async <R>(sql: string, params?: unknown[]) => {
        const result = await client.query(sql, params);
        return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
      },
    } as Queryable;
  }
}

function resultOf(job: JobRow): ImportResult {
  return {
    rowsTotal: Number(job.rows_total ?? 0),
    rowsImported: Number(job.rows_imported ?? 0),
    rowsRejected: Number(job.rows_rejected ?? 0),
    rowErrors: Array.isArray(job.row_errors) ? (job.row_errors as RowError[]) : [],
  };
}

function stagingOf(jobId: string, row: StagingRow): Staging {
  return {
    jobId,
    table: row.table_name,
    columns: row.columns,
    header: mapHeader(row.columns),
    trimMarked: row.trim_marked,
    position: { offset: Number(row.byte_offset), lines: Number(row.lines) },
    records: Number(row.records),
    source: {
      etag: row.source_etag ?? undefined,
      versionId: row.source_version ?? undefined,
      bytes: row.source_bytes === null ? undefined : Number(row.source_bytes),
    },
  };
}

/**
 * Validates one segment of a staging: its rejected rows into the staging's rejects table and their
 * count on the segment's row, in one statement (`$1` the job, `$2` the segment), so a segment is
 * validated once or not at all.
 */
function segmentValidationSql(staging: Staging, segmentTable: string): string {
  return `
    WITH rejected AS (${rejectSql(segmentTable, rejectsTableName(staging.table), staging)} RETURNING 1)
    UPDATE import_staging_segments SET rejected = (SELECT count(*) FROM rejected)
    WHERE job_id = $1 AND segment = $2`;
}

/**
 * Validates committed segments on a connection of its own, one after another in the order they were
 * committed, while the import's connection streams the next segment in: PostgreSQL checks one
 * segment's rules in one backend while another copies the next (on the embedded database, whose one
 * session takes one transaction at a time, they take turns). Each validation is a transaction that
 * locks the segment's row first: a segment another task of the job validated, or whose staging was
 * dropped, is skipped. The first failure stops the validator (and is given by {@link drain}): it is
 * only ahead of the completion, which validates whatever segments are left.
 */
class SegmentValidator {
  readonly #connection: WorkerConnection;
  #client: Promise<pg.Client> | undefined;
  #queue: Promise<void> = Promise.resolve();
  #failure: unknown;
  #closed = false;
  /** Counted up by {@link settle}: validations queued before it are skipped. */
  #generation = 0;

  constructor(connection: WorkerConnection) {
    this.#connection = connection;
  }

  /** Queues segment `segment` of `staging` for validation. */
  validate(staging: Staging, segment: number): void {
    const generation = this.#generation;
    this.#queue = this.#queue.then(async () => {
      if (this.#failure !== undefined || this.#closed || generation !== this.#generation) return;
      try {
        await this.#validateOnce(staging, segment);
      } catch (error) {
        this.#failure = error;
      }
    });
  }

  /** Waits for the queued validations; gives the failure that stopped the validator, once. */
  async drain(): Promise<unknown> {
    await this.#queue;
    const failure = this.#failure;
    this.#failure = undefined;
    if (failure !== undefined) await this.close();
    return failure;
  }

  /**
   * Skips the validations queued so far and waits for the one running, if any, to commit or roll
   * back: after it, nothing this validator was asked to do touches the staging. Later validations
   * still run.
   */
  async settle(): Promise<void> {
    this.#generation += 1;
    await this.#queue;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    await client?.then((opened) => opened.end()).catch(() => {});
  }

  async #validateOnce(staging: Staging, segment: number): Promise<void> {
    this.#client ??= connectWorkerClient(this.#connection, VALIDATOR_APPLICATION_NAME);
    await validateSegment(await this.#client, staging, SEGMENT_BY_NUMBER, [staging.jobId, segment]);
  }
}

/** A segment's row by its number (`$1` the job, `$2` the segment), locked. */
const SEGMENT_BY_NUMBER = `SELECT segment, table_name, rejected FROM import_staging_segments
  WHERE job_id = $1 AND segment = $2 FOR UPDATE`;

/** The newest segment of job `$1` not validated, locked, skipping any that another transaction holds. */
const NEWEST_UNVALIDATED_SEGMENT = `SELECT segment, table_name, rejected FROM import_staging_segments
  WHERE job_id = $1 AND rejected IS NULL ORDER BY segment DESC LIMIT 1 FOR UPDATE SKIP LOCKED`;

/**
 * In a transaction of its own on `client`: locks the segment row `lock` selects and validates the
 * segment unless someone did before (a segment another task of the job validated, or whose staging
 * was dropped, is left as it is). Returns whether `lock` found a segment.
 */
async function validateSegment(
  client: pg.Client,
  staging: Staging,
  lock: string,
  params: unknown[],
): Promise<boolean> {
  await client.query(BEGIN_LOCKED);
  try {
    const { rows } = await client.query<{ segment: number; table_name: string; rejected: string | null }>(
      lock,
      params,
    );
    const found = rows[0];
    if (found !== undefined && found.rejected === null) {
      await client.query(segmentValidationSql(staging, found.table_name), [staging.jobId, found.segment]);
    }
    await client.query('COMMIT');
    return found !== undefined;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

/** One segment's COPY input, written through pg-copy-streams' `from` stream. */
export interface SegmentCopy {
  /** Sends COPY input; resolves once the stream has handed it to the connection. */
  write(bytes: Buffer): Promise<void>;
  /** Ends the COPY; resolves once PostgreSQL took every row. */
  end(): Promise<void>;
  /** Ends the COPY unfinished (CopyFail), unless PostgreSQL already refused it. */
  abort(reason: Error): Promise<void>;
}

/**
 * Writes a segment's COPY input through `copy` (pg-copy-streams 7's `from`), reporting the first
 * error of the COPY, as `describe` makes it, from whichever call meets it. pg-copy-streams needs care
 * once PostgreSQL refused the COPY (an ErrorResponse, e.g. "row is too big"): it emits 'error' and
 * drops its connection without ending the stream, so
 * - a chunk it still held would later be written to the connection that is gone, a TypeError thrown
 *   in the socket's 'drain' listener: an uncaught exception. So one chunk at a time: each write waits
 *   until the stream has handed its chunk over (or failed), and nothing waits inside the stream;
 * - ending or destroying the stream then throws (`_final`) or waits forever for PostgreSQL's answer
 *   to a CopyFail (`_destroy`): PostgreSQL has ended the COPY itself, so neither is done, and the
 *   connection is ready for the ROLLBACK.
 */
export function segmentCopy(copy: Writable, describe: (error: Error) => Error): SegmentCopy {
  let failure: Error | undefined;
  copy.on('error', (error) => {
    failure ??= describe(error);
  });
  /** Runs `start` with a callback; settles with it, or with the COPY's failure when one comes first. */
  const settled = (start: (done: (error?: Error | null) => void) => void) =>
    new Promise<void>((resolve, reject) => {
      if (failure) {
        reject(failure);
        return;
      }
      const onError = () => reject(failure);
      copy.once('error', onError);
      start((error) => {
        copy.off('error', onError);
        if (error) reject(failure ?? error);
        else resolve();
      });
    });
  return {
    write: (bytes) => settled((done) => copy.write(bytes, done)),
    end: () => settled((done) => copy.end(done)),
    abort: async (reason) => {
      if (failure) return;
      if (!copy.destroyed) copy.destroy(reason);
      await finished(copy).catch(() => {});
    },
  };
}

/**
 * A segment's COPY failure as the import reports it: PostgreSQL's "row is too big" (54000) as a
 * {@link RowTooBigError} naming the segment's lines, anything else as it is.
 */
function stagingFailure(error: Error, lines: { from: number; to: number }, columnCount: number): Error {
  return isDatabaseError(error) && error.code === ROW_TOO_BIG
    ? new RowTooBigError(lines, columnCount, error)
    : error;
}
