import type { JobKind } from '@sidestep/contracts';
import type { PayloadTemplate, State } from './asl.ts';
import { catchAll } from './catch-all.ts';
import { MARK_FAILED } from './failure-path.ts';
import { statusUpdate } from './status-update.ts';

/** What registering and starting a job needs. */
export interface RegisterJobProps {
  readonly statusUpdaterFunctionArn: string;
  readonly kind: JobKind;
  /** The register event's fields that say where the job comes from (`source.$`, `request`). */
  readonly origin: PayloadTemplate;
  readonly registerComment: string;
  /** What to keep from the register result at `$.job` (at least `jobId` and `duplicate`). */
  readonly job: PayloadTemplate;
  /** Why a duplicate ends successfully. */
  readonly duplicateComment: string;
  /**
   * How to retry a job that failed, told to a duplicate that finds it failed (no `'`, `{`, `}` or
   * `\\`: it goes into a `States.Format` template), e.g. `upload the file again`.
   */
  readonly retryHint: string;
  /** The state after StartJob. */
  readonly next: string;
  /** How long the job may stay running: `jobDeadlineSeconds` of the workflow's batch task. */
  readonly deadlineSeconds: number;
  /**
   * Errors of RegisterJob that refuse the request itself (with the error at `$.error`) and the state
   * that tells its sender; any other error still ends at RegistrationFailed. @default none
   */
  readonly rejected?: { readonly errors: readonly string[]; readonly next: string };
}

/**
 * The start of a job workflow, shared so every workflow registers and starts a job the same way:
 *
 * ```
 * RegisterJob -> CheckDuplicate -(duplicate)-> AlreadyRegistered (Succeed)
 *                       ├-(duplicate of a failed job)-> DescribeFailedDuplicate -> AlreadyFailed (Fail)
 *                       └-> StartJob -> <next>
 * RegisterJob --States.ALL--> RegistrationFailed ({@link REGISTRATION_FAILED})
 * StartJob    --States.ALL--> MarkFailed
 * ```
 *
 * Deliveries are at least once, so two executions can start for one upload or request: the
 * status-updater registers the job idempotently and answers `duplicate: true` to every execution but
 * the first, which then ends early and successfully. A duplicate that finds the job `failed` (a
 * re-run of the same input, a redelivery after the job failed) does nothing either, but ends FAILED
 * with `DuplicateOfFailedJobError` naming the job, its reason and how to retry it: a retry that does
 * nothing must not look like one that worked.
 */
export function registerJob(props: RegisterJobProps): Record<string, State> {
  const fn = props.statusUpdaterFunctionArn;
  return {
    RegisterJob: statusUpdate(
      fn,
      { event: 'register', kind: props.kind, expectedState: 'registered', ...props.origin },
      {
        Comment: props.registerComment,
        // `registered`: the job as the register found it, which a duplicate reports.
        ResultSelector: {
          ...props.job,
          registered: { 'state.$': '$.Payload.state', 'reason.$': '$.Payload.reason' },
        },
        ResultPath: '$.job',
        // No job exists to mark failed or to name in a mail: end FAILED with the error as it came.
        Catch: [
          ...(props.rejected
            ? [{ ErrorEquals: [...props.rejected.errors], Next: props.rejected.next, ResultPath: '$.error' }]
            : []),
          ...catchAll('RegistrationFailed'),
        ],
        Next: 'CheckDuplicate',
      },
    ),
    CheckDuplicate: {
      Type: 'Choice',
      Choices: [
        {
          And: [
            { Variable: '$.job.duplicate', BooleanEquals: true },
            { Variable: '$.job.registered.state', StringEquals: 'failed' },
          ],
          Next: 'DescribeFailedDuplicate',
        },
        { Variable: '$.job.duplicate', BooleanEquals: true, Next: 'AlreadyRegistered' },
      ],
      Default: 'StartJob',
    },
    AlreadyRegistered: { Type: 'Succeed', Comment: props.duplicateComment },
    DescribeFailedDuplicate: {
      Type: 'Pass',
      Parameters: {
        'cause.$': `States.Format('job {} is ${props.kind === 'import' ? 'an import' : 'an export'} that already failed: {}. This execution changed nothing; to retry, ${props.retryHint}.', $.job.jobId, $.job.registered.reason)`,
      },
      ResultPath: '$.duplicateOf',
      Next: 'AlreadyFailed',
    },
    AlreadyFailed: {
      Type: 'Fail',
      Comment: 'A duplicate of a job that failed: nothing was done, and the cause says how to retry',
      Error: 'DuplicateOfFailedJobError',
      CausePath: '$.duplicateOf.cause',
    },
    StartJob: statusUpdate(
      fn,
      {
        event: 'start',
        'jobId.$': '$.job.jobId',
        expectedState: 'running',
        // Past it the job-sweeper fails the job: the longest this workflow may wait for its task.
        deadlineSeconds: props.deadlineSeconds,
      },
      { ResultPath: null, Catch: catchAll(MARK_FAILED), Next: props.next },
    ),
  };
}

/** The Fail state a job workflow ends in when its job could not be registered (the error as it came). */
export const REGISTRATION_FAILED: Record<string, State> = {
  RegistrationFailed: { Type: 'Fail', ErrorPath: '$.error.Error', CausePath: '$.error.Cause' },
};
