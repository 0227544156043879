import type { JobEvent, JobState } from '@sidestep/contracts';
import { isTransientDatabaseError } from '@sidestep/db/postgres';
import { SidestepError } from '@sidestep/runtime';

// Step Functions' Retry and Catch match the `Error` of a failed lambda:invoke, which is the
// `errorType` the runtime interface client posts: the thrown error's `name`. Every class therefore
// sets `name` as a literal class field (a minifier may rename classes; the bundle also keeps names).
// The workflow retries none of the permanent ones; `JobLedgerUnavailableError` is worth a retry.

/** Base of every status-updater error. `permanent` errors fail the step at once. */
export class StatusUpdaterError extends SidestepError {
  override readonly name: string = 'StatusUpdaterError';
}

/** The task input does not match `StatusUpdateInput`; `field` names the first bad field. Permanent. */
export class InvalidInputError extends StatusUpdaterError {
  override readonly name: string = 'InvalidInputError';
  override readonly field: string;
  constructor(field: string, message: string, options: { cause?: unknown } = {}) {
    super(`invalid status update input: ${message}`, { ...options, field, permanent: true });
    this.field = field;
  }
}

/** No job has this id. Permanent: a workflow cannot update a job it did not register. */
export class JobNotFoundError extends StatusUpdaterError {
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
export class InvalidTransitionError extends StatusUpdaterError {
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
 * `finish` on an import whose batch-worker recorded no row counts: the worker reported success
 * without committing its import, so the job cannot honestly succeed (its completion mail reports
 * the counts). Permanent; the workflow's Catch marks the job failed instead.
 */
export class RowCountsMissingError extends StatusUpdaterError {
  override readonly name: string = 'RowCountsMissingError';
  readonly jobId: string;
  constructor(jobId: string) {
    super(`rows_total: job ${jobId} cannot succeed, its batch-worker recorded no row counts`, {
      field: 'rows_total',
      permanent: true,
    });
    this.jobId = jobId;
  }
}

/**
 * `finish` on an export without `result`, the export-finalizer's output: the job cannot honestly
 * succeed without the file its `export.ready` mail links to. Permanent.
 */
export class ExportResultMissingError extends StatusUpdaterError {
  override readonly name: string = 'ExportResultMissingError';
  readonly jobId: string;
  constructor(jobId: string) {
    super(
      `result: export ${jobId} cannot succeed without the finalizer's result (rows, bytes, key, downloadUrl)`,
      {
        field: 'result',
        permanent: true,
      },
    );
    this.jobId = jobId;
  }
}

/**
 * The job's state after the event is not the `expectedState` the step named: the workflow and the
 * state machine disagree. Permanent; nothing was changed (the transaction is rolled back).
 */
export class UnexpectedStateError extends StatusUpdaterError {
  override readonly name: string = 'UnexpectedStateError';
  readonly jobId: string;
  readonly expected: JobState;
  readonly actual: JobState;
  constructor(jobId: string, expected: JobState, actual: JobState) {
    super(`expectedState: job ${jobId} would be ${actual}, the step expected ${expected}`, {
      field: 'expectedState',
      permanent: true,
    });
    this.jobId = jobId;
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * An execution other than the one that registered the job tried to move it. A duplicate S3 event
 * starts a second execution, which must end at its duplicate register; if it went on, it would race
 * the first one over the same job. Permanent.
 */
export class ExecutionMismatchError extends StatusUpdaterError {
  override readonly name: string = 'ExecutionMismatchError';
  readonly jobId: string;
  /** The execution that registered (owns) the job. */
  readonly ownerExecutionId: string;
  readonly executionId: string;
  constructor(jobId: string, ownerExecutionId: string, executionId: string) {
    super(`executionId: job ${jobId} belongs to execution ${ownerExecutionId}, not ${executionId}`, {
      field: 'executionId',
      permanent: true,
    });
    this.jobId = jobId;
    this.ownerExecutionId = ownerExecutionId;
    this.executionId = executionId;
  }
}

/**
 * The ledger could not be read or written (connection refused or lost, a failover, a timeout).
 * Transient: nothing was committed, and the same step retried is safe.
 */
export class JobLedgerUnavailableError extends StatusUpdaterError {
  override readonly name: string = 'JobLedgerUnavailableError';
  constructor(cause: unknown) {
    const { name, message } = (cause ?? {}) as { name?: unknown; message?: unknown };
    const reason =
      typeof message === 'string'
        ? `${typeof name === 'string' ? name : 'Error'}: ${message}`
        : String(cause);
    super(`the job ledger is unavailable: ${reason}`, { cause, permanent: false });
  }

  /**
   * True for failures a retry may cure: a transient database error ({@link isTransientDatabaseError}:
   * connection, serialization, resources, shutdown, socket, pg's pool timeout) or sidestep's own
   * non-permanent errors (the database secret could not be fetched). Anything else (a constraint or
   * syntax error, a TypeError) is a bug that retrying cannot fix.
   */
  static isTransient(error: unknown): boolean {
    if (typeof error === 'object' && error !== null && (error as { permanent?: unknown }).permanent === false)
      return true;
    return isTransientDatabaseError(error);
  }
}
