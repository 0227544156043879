import type { JobEvent, JobState } from '@sidestep/contracts';
import { isTransientDatabaseError } from '@sidestep/db/postgres';
import { describeCause, isTransientError, SidestepError } from '@sidestep/runtime/errors';

// Step Functions' Retry and Catch match the `Error` of a failed lambda:invoke, which is the
// `errorType` the runtime interface client posts: the thrown error's `name`. Every class therefore
// sets `name` as a literal class field (a minifier may rename classes; the bundle also keeps names).
// The workflows retry none of the permanent ones; `JobLedgerUnavailableError` is worth a retry.

/** Base of every error the jobs ledger raises. `permanent` errors fail the step at once. */
export class JobLedgerError extends SidestepError {
  override readonly name: string = 'JobLedgerError';
}

/** No job has this id. Permanent: a workflow cannot update a job it did not register. */
export class JobNotFoundError extends JobLedgerError {
  override readonly name: string = 'JobNotFoundError';
  readonly jobId: string;
  constructor(jobId: string) {
    super(`jobId: no job ${jobId}`, { field: 'jobId', permanent: true });
    this.jobId = jobId;
  }
}

/**
 * The event cannot be fired in the job's current state (finish a job that never started, fail a
 * succeeded one). Permanent: the same event on the same state is refused every time.
 */
export class InvalidTransitionError extends JobLedgerError {
  override readonly name: string = 'InvalidTransitionError';
  readonly jobId: string;
  readonly event: JobEvent;
  /** The job's state when the event was refused. */
  readonly from: JobState;
  constructor(jobId: string, event: JobEvent, from: JobState, allowedFrom: readonly JobState[]) {
    const allowed = allowedFrom.length > 0 ? allowedFrom.join(' or ') : 'no existing job';
    super(`event: cannot ${event} job ${jobId} in state ${from} (allowed from ${allowed})`, {
      field: 'event',
      permanent: true,
    });
    this.jobId = jobId;
    this.event = event;
    this.from = from;
  }
}

/**
 * A job cannot honestly succeed without something its kind needs: an import without the row counts
 * its batch-worker records with its rows (`rows_total`, what its completion mail reports), an export
 * without the finalizer's result (`result`, the file its `export.ready` mail links to). Permanent;
 * the workflow's Catch marks the job failed instead.
 */
abstract class JobNotFinishableError extends JobLedgerError {
  readonly jobId: string;
  constructor(jobId: string, field: string, message: string) {
    super(`${field}: ${message}`, { field, permanent: true });
    this.jobId = jobId;
  }
}

/** `finish` on an import whose batch-worker recorded no row counts (see {@link JobNotFinishableError}). */
export class RowCountsMissingError extends JobNotFinishableError {
  override readonly name: string = 'RowCountsMissingError';
  constructor(jobId: string) {
    super(jobId, 'rows_total', `job ${jobId} cannot succeed, its batch-worker recorded no row counts`);
  }
}

/** `finish` on an export without `result`, the export-finalizer's output. */
export class ExportResultMissingError extends JobNotFinishableError {
  override readonly name: string = 'ExportResultMissingError';
  constructor(jobId: string) {
    super(
      jobId,
      'result',
      `export ${jobId} cannot succeed without the finalizer's result (rows, bytes, key, downloadUrl)`,
    );
  }
}

/**
 * The ledger could not be read or written (connection refused or lost, a failover, a timeout).
 * Transient: nothing was committed, and the same step retried is safe.
 */
export class JobLedgerUnavailableError extends JobLedgerError {
  override readonly name: string = 'JobLedgerUnavailableError';
  constructor(cause: unknown) {
    super(`the job ledger is unavailable: ${describeCause(cause)}`, { cause, permanent: false });
  }

  /**
   * True for failures a retry may cure: a transient database error ({@link isTransientDatabaseError}:
   * connection, serialization, resources, shutdown, socket, pg's pool timeout) or sidestep's own
   * transient errors (the database secret could not be fetched). Anything else (a constraint or
   * syntax error, a TypeError) is a bug that retrying cannot fix.
   */
  static isTransient(error: unknown): boolean {
    return isTransientError(error) || isTransientDatabaseError(error);
  }
}

/**
 * What a task that works on the ledger throws for `error`: the ledger's own errors as they are, a
 * failure a retry may cure ({@link JobLedgerUnavailableError.isTransient}) as
 * `JobLedgerUnavailableError` (the one name the workflows retry), anything else unchanged. For
 * `createTaskHandler`'s `mapError`, after the task's own errors.
 */
export function ledgerError(error: unknown): unknown {
  if (error instanceof JobLedgerError) return error;
  return JobLedgerUnavailableError.isTransient(error) ? new JobLedgerUnavailableError(error) : error;
}
