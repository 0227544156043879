import type { Writable } from 'node:stream';
import type { RowError } from './validate-row.ts';

/** The outcome of an import, written to the job inside the import's transaction. */
export interface ImportResult {
  readonly rowsTotal: number;
  readonly rowsImported: number;
  readonly rowsRejected: number;
  /** The first N row errors (the job's `row_errors`). */
  readonly rowErrors: readonly RowError[];
}

/** Why an import failed, written to the job after its transaction was rolled back. */
export interface ImportFailure {
  /** One line for `worker_error` (and the failure mail). */
  readonly reason: string;
  readonly rowsRejected: number;
  readonly rowErrors: readonly RowError[];
}

/**
 * Where imported users go. The import is one transaction: rows are staged, merged into `users` and
 * the job's counts written, then COMMIT; any failure rolls all of it back, so a crash, a SIGTERM or a
 * retry never sees a partial import. The batch-worker writes only a job's counts, `row_errors`,
 * `worker_error` and `updated_at`: its state belongs to the status-updater.
 */
export interface UserImportStore {
  /** Runs `fn` in one transaction with an empty staging table: COMMIT when it resolves, ROLLBACK when it rejects. */
  transaction<T>(fn: (tx: UserImportTransaction) => Promise<T>): Promise<T>;
  /** Records a failed import on its job, outside (after) the rolled-back transaction. */
  recordFailure(jobId: string, failure: ImportFailure): Promise<void>;
  close(): Promise<void>;
}

/** What an import does inside its transaction. */
export interface UserImportTransaction {
  /** @throws {JobNotRunnableError} unless the job exists, is an import and is `running`. */
  checkJob(jobId: string): Promise<void>;
  /**
   * The tail of the import pipeline: a writable stream of `UserRow` objects that stages them and
   * upserts them into `users` on `external_id`; all rows are in `users` once it has finished. The
   * last row of a file wins for an id that appears twice; rows equal to what is stored are not
   * rewritten; attributes merge (the file's columns override); without a `name` column existing
   * names are kept. `hasNameColumn` is asked once rows arrive (the header is read by then).
   */
  userWriter(options: { readonly hasNameColumn: () => boolean }): UserWriter;
  /** Writes the import's counts and row errors to the job and clears an earlier `worker_error`. */
  recordResult(jobId: string, result: ImportResult): Promise<void>;
}

/** A stream of `UserRow` objects into `users`, counting what it changed. */
export interface UserWriter extends Writable {
  /** Users inserted or changed so far (final once the stream has finished). */
  readonly usersWritten: number;
}
