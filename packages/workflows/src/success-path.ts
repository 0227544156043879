import type { PayloadTemplate, State } from './asl.ts';
import { catchAll } from './catch-all.ts';
import { sendMail } from './mail-envelope.ts';

/** What a workflow's success path needs. */
export interface SuccessPathProps {
  readonly mailQueueUrl: string;
  /** The mail's word in the state names: `Completed` gives ComposeCompletedMail, NotifyCompleted, CompletedMailNotSent. */
  readonly mail: string;
  /** The envelope (`mailEnvelope`) of the success mail. */
  readonly envelope: PayloadTemplate;
  /** The name of the final Succeed state (`Imported`, `Exported`). */
  readonly succeedState: string;
  /** What the Fail state says when the mail could not be queued. */
  readonly notSentComment: string;
}

/**
 * The end of a job workflow whose job succeeded, shared so every workflow ends the same way:
 *
 * ```
 * Compose<mail>Mail -> Notify<mail> -> <succeedState> (Succeed)
 * Notify<mail> --States.ALL--> <mail>MailNotSent (Fail)
 * ```
 *
 * The job is already `succeeded`: a mail that cannot be sent must not turn it `failed`, so a send
 * error ends the execution FAILED without touching the job.
 */
export function successPath(props: SuccessPathProps): Record<string, State> {
  const { mail, succeedState } = props;
  return {
    [`Compose${mail}Mail`]: {
      Type: 'Pass',
      Parameters: props.envelope,
      ResultPath: '$.mail',
      Next: `Notify${mail}`,
    },
    [`Notify${mail}`]: sendMail(props.mailQueueUrl, succeedState, catchAll(`${mail}MailNotSent`)),
    [succeedState]: { Type: 'Succeed' },
    [`${mail}MailNotSent`]: {
      Type: 'Fail',
      Comment: props.notSentComment,
      ErrorPath: '$.error.Error',
      CausePath: '$.error.Cause',
    },
  };
}
