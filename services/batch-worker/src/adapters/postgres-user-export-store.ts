import type pg from 'pg';
import { EXPORT_SESSION_SETTINGS } from '../domain/export-query.ts';
import type {
  CopyOutStream,
  ExportProgressRecord,
  ExportResult,
  UserExportStore,
} from '../domain/user-export-store.ts';
import { assertRunnable, checkRunningJob, type RunnableCheck } from './check-running-job.ts';
import { CopyOutQuery } from './copy-out-query.ts';
import { connectWorkerClient, WORKER_APPLICATION_NAME, type WorkerConnection } from './worker-client.ts';

/** Options of {@link PostgresUserExportStore.connect}. */
export interface PostgresUserExportStoreOptions extends WorkerConnection {
  /** Told once why recording the export's progress failed (it is not recorded again). */
  readonly onProgressFailure?: (error: unknown) => void;
}

/** The `application_name` of an export's progress connection (pg_stat_activity). */
export const PROGRESS_APPLICATION_NAME = `${WORKER_APPLICATION_NAME} progress`;

/**
 * The first key of every export's job lock (`pg_try_advisory_lock(EXPORT_JOB_LOCK, hashtext(jobId))`),
 * "SSEX" in ASCII: the two-key space of advisory locks does not overlap the one-key space the
 * import's merge lock is in. Two jobs whose ids hash alike only wait for each other.
 */
export const EXPORT_JOB_LOCK = 0x53534558;

/**
 * {@link UserExportStore} on PostgreSQL through one `pg` connection (COPY TO STDOUT needs the raw
 * connection, as the import's COPY FROM does). The session is set to
 * {@link EXPORT_SESSION_SETTINGS} once, at connect, so timestamps are written in UTC whatever the
 * role's defaults. COPY TO works over PGlite's socket server too (only COPY FROM STDIN loses protocol
 * sync there), so every backend takes the same path. The COPY's messages are decoded by
 * {@link CopyOutQuery}.
 */
export class PostgresUserExportStore implements UserExportStore {
  readonly #client: pg.Client;
  readonly #connection: PostgresUserExportStoreOptions;
  /** The progress connection, opened by the first progress record; `null` once it failed. */
  #progress: Promise<pg.Client> | null | undefined;
  /** The progress write under way: a tick that finds one skips its own; the result waits for it. */
  #recording: Promise<void> | undefined;
  /** Set by {@link recordResult}: no progress is recorded after the counts. */
  #finished = false;
  #closed: Promise<void> | undefined;

  private constructor(client: pg.Client, connection: PostgresUserExportStoreOptions) {
    this.#client = client;
    this.#connection = connection;
  }

  /** Opens the export's connection. */
  static async connect(options: PostgresUserExportStoreOptions): Promise<PostgresUserExportStore> {
    const client = await connectWorkerClient(options);
    try {
      for (const [name, value] of Object.entries(EXPORT_SESSION_SETTINGS)) {
        // set_config takes bound parameters; SET does not.
        await client.query('SELECT set_config($1, $2, false)', [name, value]);
      }
      return new PostgresUserExportStore(client, options);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
  }

  async checkJob(jobId: string): Promise<void> {
    await checkRunningJob(this.#client, jobId, 'export');
  }

  /**
   * A session advisory lock on the export's own connection: no transaction holds it open, so it
   * costs the other sessions nothing, and it ends with the connection however the task ends (a
   * crashed task's lock is gone with its session). The embedded database serves every connection
   * from one session, where the lock is everyone's: there the local cloud runs one batch task at a
   * time anyway.
   */
  async tryLockJob(jobId: string): Promise<boolean> {
    const { rows } = await this.#client.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_lock($1, hashtext($2)) AS locked',
      [EXPORT_JOB_LOCK, jobId],
    );
    return rows[0]?.locked === true;
  }

  /**
   * Streams the COPY. A COPY cut off before its end (the pipeline aborted or failed downstream)
   * leaves the connection in the middle of COPY OUT with nobody reading, so it ends the connection:
   * `pg` destroys the socket of a client with a query in flight, and PostgreSQL stops the COPY when
   * its next write fails. Nothing is lost, the export only reads; the store is not used again.
   */
  copyOut(sql: string): CopyOutStream {
    const stream = this.#client.query(new CopyOutQuery(sql));
    stream.once('close', () => {
      if (!stream.readableEnded) void this.close();
    });
    return stream;
  }

  /**
   * A `REPEATABLE READ, READ ONLY` transaction around `read`: its statements all see the snapshot
   * the first takes (https://www.postgresql.org/docs/15/transaction-iso.html#XACT-REPEATABLE-READ),
   * as one COPY sees one. Committed when `read` resolves, rolled back when it rejects; a COPY cut off
   * inside it ends the connection (see {@link copyOut}), and the transaction with it.
   */
  async inSnapshot<T>(read: () => Promise<T>): Promise<T> {
    await this.#client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    // The transaction stays open after COPY's last row while the writer stores the last parts, idle
    // on the server: past the session's idle-in-transaction limit (5 minutes) a slow last upload had
    // the server end the session, and COMMIT failed after every part was stored. A read-only
    // transaction's idling holds no lock; its snapshot was held as long as the COPY ran anyway.
    await this.#client.query('SET LOCAL idle_in_transaction_session_timeout = 0');
    let result: T;
    try {
      result = await read();
    } catch (error) {
      await this.#client.query('ROLLBACK').catch(() => {});
      throw error;
    }
    await this.#client.query('COMMIT');
    return result;
  }

  /**
   * Upserts the job's `export_progress` row on a connection of its own, opened on first use (the
   * export's own is streaming the COPY). An export shorter than the progress interval never opens
   * it. A failure (the second connection refused, the table missing on a database not migrated yet)
   * is reported once and ends the recording: progress is for operators, never worth failing an
   * export for.
   */
  recordProgress(jobId: string, progress: ExportProgressRecord): Promise<void> {
    if (this.#progress === null || this.#recording || this.#finished || this.#closed)
      return Promise.resolve();
    this.#recording = this.#upsertProgress(jobId, progress).finally(() => {
      this.#recording = undefined;
    });
    return this.#recording;
  }

  async #upsertProgress(jobId: string, progress: ExportProgressRecord): Promise<void> {
    try {
      this.#progress ??= connectWorkerClient(this.#connection, PROGRESS_APPLICATION_NAME);
      const client = await this.#progress;
      await client.query(
        `INSERT INTO export_progress (job_id, rows, parts, bytes) VALUES ($1, $2, $3, $4)
         ON CONFLICT (job_id) DO UPDATE
         SET rows = excluded.rows, parts = excluded.parts, bytes = excluded.bytes, updated_at = now()`,
        [jobId, progress.rows, progress.parts, progress.bytes],
      );
    } catch (error) {
      const failed = this.#progress;
      this.#progress = null;
      void failed?.then((client) => client.end()).catch(() => {});
      // A write cut off by the store's own close (the task ending) is no failure to report.
      if (!this.#closed) this.#connection.onProgressFailure?.(error);
    }
  }

  async recordResult(jobId: string, result: ExportResult): Promise<void> {
    // No progress write may land after the counts (it would bring the row back).
    this.#finished = true;
    await this.#recording;
    // The progress row goes in the same statement: a finished export has counts, not progress.
    const { rows } = await this.#client.query<RunnableCheck & { updated: boolean }>(
      `WITH finished AS (DELETE FROM export_progress WHERE job_id = $1),
       updated AS (
         UPDATE jobs SET rows_total = $2, bytes = $3, worker_error = NULL, updated_at = now()
         WHERE id = $1 AND state = 'running' AND worker_error_permanent IS NOT TRUE RETURNING id
       )
       SELECT kind, state, worker_error, worker_error_permanent, EXISTS (SELECT 1 FROM updated) AS updated
         FROM jobs WHERE id = $1`,
      [jobId, result.rowsTotal, result.bytes],
    );
    // A job failed while it exported (by the sweeper past its deadline, or an operator), or whose data
    // another task of it failed for good: no counts on it, and the task fails, so that the workflow
    // does not finalize the file of a failed job.
    const job = rows[0];
    if (!job?.updated) assertRunnable(jobId, job, 'export');
  }

  async recordFailure(jobId: string, reason: string, permanent = false): Promise<void> {
    // No progress write after the failure either: the one in flight ends first, so its outcome (or
    // its warning) comes before the failure, not after the task's last line.
    this.#finished = true;
    await this.#recording;
    // A connection of its own: the export's connection may be the very thing that failed, or be
    // busy with a COPY that was cut off.
    const client = await connectWorkerClient(this.#connection);
    try {
      // A job no longer running (failed by the sweeper or an operator meanwhile) keeps its reason, and
      // so does one another task of it failed for good (a duplicate's transient failure would have
      // the workflow run the task again, or fail the job with another reason).
      await client.query(
        `UPDATE jobs SET worker_error = $2, worker_error_permanent = $3, updated_at = now()
         WHERE id = $1 AND state = 'running' AND worker_error_permanent IS NOT TRUE`,
        [jobId, reason, permanent || null],
      );
    } finally {
      await client.end().catch(() => {});
    }
  }

  close(): Promise<void> {
    const progress = this.#progress;
    this.#closed ??= Promise.all([
      this.#client.end().catch(() => {}),
      progress?.then((client) => client.end()).catch(() => {}),
    ]).then(() => {});
    return this.#closed;
  }
}
