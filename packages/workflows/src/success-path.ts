import type { PayloadTemplate, State } from './asl.ts';
import { mailNotQueued, sendMail } from './mail-envelope.ts';

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
 * Notify<mail> --States.ALL--> Unsent<mail>Mail -> <mail>MailNotSent (Fail: MailNotQueuedError, the envelope)
 * ```
 *
 * The job is already `succeeded`: a mail that cannot be queued must not turn it `failed`, so a send
 * error ends the execution FAILED without touching the job, with the mail for the job-sweeper to
 * queue again ({@link mailNotQueued}).
 */
export function successPath(props: SuccessPathProps): Record<string, State> {
  const { mail, succeedState } = props;
  const notQueued = mailNotQueued(mail, props.notSentComment);
  return {
    [`Compose${mail}Mail`]: {
      Type: 'Pass',
      Parameters: props.envelope,
      ResultPath: '$.mail',
      Next: `Notify${mail}`,
    },
    [`Notify${mail}`]: sendMail(props.mailQueueUrl, succeedState, notQueued.catch),
    [succeedState]: { Type: 'Succeed' },
    ...notQueued.states,
  };
}
