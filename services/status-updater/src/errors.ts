import type { JobState } from '@sidestep/contracts';
import { PermanentError } from '@sidestep/runtime';

// Step Functions' Retry and Catch match the thrown error's `name` (see @sidestep/jobs' errors for the
// ledger's own: JobNotFoundError, InvalidTransitionError, JobLedgerUnavailableError, ...). These are
// the two only a workflow's step can run into.

/** Base of every status-updater error. Permanent: the step fails at once, a retry would fail the same way. */
export class StatusUpdaterError extends PermanentError {
  override readonly name: string = 'StatusUpdaterError';
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
    });
    this.jobId = jobId;
    this.ownerExecutionId = ownerExecutionId;
    this.executionId = executionId;
  }
}

/**
 * An export request reused an id already registered for another request (another requester, or
 * other users): the envelope id is the request's identity, so this one cannot run. Permanent; the
 * export workflow catches it and sends the `export.failed` mail with this reason to this request's
 * requester (the job and the first requester are not named: they are someone else's).
 */
export class RequestConflictError extends StatusUpdaterError {
  override readonly name: string = 'RequestConflictError';
  /** The job registered for the id first. */
  readonly jobId: string;
  /** The request's fields that differ from that job's. */
  readonly differing: readonly string[];
  constructor(description: string, jobId: string, differing: readonly string[]) {
    super(
      `request.id: ${description} was already used by another export request (its ${differing.join(' and ')} differ); send this request with a new id`,
      { field: 'request.id' },
    );
    this.jobId = jobId;
    this.differing = differing;
  }
}
