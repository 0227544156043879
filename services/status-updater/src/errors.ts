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
