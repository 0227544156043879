import type { MailSendJob } from '@sidestep/contracts';
import { composeMail, type OutgoingMail } from './compose-mail.ts';

/** Anything that delivers an {@link OutgoingMail}: SES v2 on AWS, SMTP locally, a fake in tests. */
export interface MailSender {
  send(mail: OutgoingMail): Promise<{ readonly messageId: string }>;
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
): Promise<DispatchResult> {
  const mail = composeMail(job, from);
  const { messageId } = await sender.send(mail);
  return {
    idempotencyKey: mail.idempotencyKey,
    messageId,
    template: job.payload.template,
    recipients: mail.to.length,
  };
}
