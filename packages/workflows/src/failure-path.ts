import type { MailTemplateName } from '@sidestep/contracts';
import type { PayloadTemplate, State } from './asl.ts';
import { catchAll } from './catch-all.ts';
import {
  type MailLocaleSource,
  type MailRecipient,
  mailEnvelope,
  mailNotQueued,
  sendMail,
} from './mail-envelope.ts';
import { statusUpdate } from './status-update.ts';

/** The state every failure of a registered job goes to (with the error at `$.error`). */
export const MARK_FAILED = 'MarkFailed';

/** What a workflow's failure path needs. */
export interface FailurePathProps {
  readonly statusUpdaterFunctionArn: string;
  readonly mailQueueUrl: string;
  /** The failure mail's template (`import.failed`, `export.failed`). */
  readonly template: MailTemplateName;
  readonly to: MailRecipient;
  /** The failure mail's language. */
  readonly locale: MailLocaleSource;
  /** The mail's params; they may read `$.job` and `$.failure` (what `failure` selects). */
  readonly params: PayloadTemplate;
  /** What to keep from the status-updater's `fail` result at `$.failure`. @default `{ reason }` */
  readonly failure?: PayloadTemplate;
  /** The name of the final Fail state (`ImportFailed`, `ExportFailed`). */
  readonly failState: string;
  readonly failComment: string;
  /**
   * Where to go when the job turns out to have succeeded after all (the batch-worker finishes an
   * import in its commit; a FinishJob's answer can be lost after its commit): the status-updater
   * answers `fail` with the succeeded job, kept at `$.failure`, and the workflow takes its success
   * path from this state instead of mailing a failure.
   */
  readonly committed: string;
}

/** The Choice after MarkFailed: a job that succeeded after all goes to its success path. */
export const CHECK_FAILURE = 'CheckFailure';

/**
 * The failure path of a job workflow, shared so every workflow fails the same way:
 *
 * ```
 * MarkFailed (status-updater fail -> $.failure) -> CheckFailure -> ComposeFailedMail -> NotifyFailed -> <failState> (Fail)
 * CheckFailure -($.failure.state = succeeded)-> <committed> (the success path)
 * MarkFailed   --States.ALL--> FailureNotRecorded (Fail: Error/Cause = $.error; MarkFailed's in $.statusError)
 * NotifyFailed --States.ALL--> UnsentFailedMail -> FailedMailNotSent (Fail: MailNotQueuedError, the envelope)
 * ```
 *
 * A failure mail that cannot be queued ends the execution with {@link mailNotQueued}'s error and the
 * mail, for the job-sweeper to queue again: the job is failed already, and ending at `<failState>`
 * like a mailed failure would leave the mail unsent with nothing to send it.
 *
 * The Fail state's `Error` is what failed (`$.error.Error`) and its `Cause` the job's reason, so the
 * console shows the same reason the mail does.
 */
export function failurePath(props: FailurePathProps): Record<string, State> {
  const { statusUpdaterFunctionArn: fn, failState } = props;
  const notQueued = mailNotQueued(
    'Failed',
    'The job failed, but its failure mail could not be queued: the job-sweeper queues it (the Cause) again',
  );
  return {
    [MARK_FAILED]: statusUpdate(
      fn,
      { event: 'fail', 'jobId.$': '$.job.jobId', expectedState: 'failed', 'error.$': '$.error' },
      {
        Comment:
          "Marks the job failed; the reason is the worker's when it recorded one, else the caught error",
        ResultSelector: {
          'state.$': '$.Payload.state',
          ...(props.failure ?? { 'reason.$': '$.Payload.reason' }),
        },
        ResultPath: '$.failure',
        // `$.error` keeps the original failure; this one says why it could not be recorded.
        Catch: catchAll('FailureNotRecorded', '$.statusError'),
        Next: CHECK_FAILURE,
      },
    ),
    [CHECK_FAILURE]: {
      Type: 'Choice',
      Comment: 'The job succeeded after all (its result was committed before the error): report that',
      Choices: [{ Variable: '$.failure.state', StringEquals: 'succeeded', Next: props.committed }],
      Default: 'ComposeFailedMail',
    },
    // The execution's Error and Cause are what the workflow-ended rule hands the job-sweeper, which
    // fails the job with them: the original failure, not the ledger error that kept MarkFailed from
    // recording it (that one stays in this state's input at `$.statusError`, in the history).
    FailureNotRecorded: {
      Type: 'Fail',
      Comment:
        'The job failed and so did marking it failed ($.statusError): the job-sweeper fails and mails it when this execution ends',
      ErrorPath: '$.error.Error',
      CausePath: '$.error.Cause',
    },
    ComposeFailedMail: {
      Type: 'Pass',
      Parameters: mailEnvelope(props.template, props.to, props.locale, props.params),
      ResultPath: '$.mail',
      Next: 'NotifyFailed',
    },
    NotifyFailed: sendMail(props.mailQueueUrl, failState, notQueued.catch),
    [failState]: {
      Type: 'Fail',
      Comment: props.failComment,
      ErrorPath: '$.error.Error',
      CausePath: '$.failure.reason',
    },
    ...notQueued.states,
  };
}
