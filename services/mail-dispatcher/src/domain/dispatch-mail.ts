import type { MailSendJob } from '@sidestep/contracts';
import { composeMail, type OutgoingMail } from './compose-mail.ts';

/** How a send may go. */
export interface SendOptions {
  /**
   * The latest time (ms since the epoch) the send may start: a sender that would have to wait past
   * it (the send rate) gives the mail back instead (not sent).
   */
  readonly notAfter?: number;
}

/** Anything that delivers an {@link OutgoingMail}: SES v2 on AWS, SMTP locally, a fake in tests. */
export interface MailSender {
  send(mail: OutgoingMail, options?: SendOptions): Promise<{ readonly messageId: string }>;
}

/** What a sent mail leaves behind: stored as the idempotency record and replayed to duplicates. */
export interface DispatchResult {
  readonly idempotencyKey: string;
  readonly messageId: string;
  readonly template: string;
  readonly recipients: number;
}

/** Renders a mail job and hands it to the sender. */
export async function dispatchMail(
  job: MailSendJob,
  from: string,
  sender: MailSender,
  options: SendOptions = {},
): Promise<DispatchResult> {
  const mail = composeMail(job, from);
  const { messageId } = await sender.send(mail, options);
  return {
    idempotencyKey: mail.idempotencyKey,
    messageId,
    template: job.payload.template,
    recipients: mail.to.length,
  };
}
