import type { MailSendJobInput } from '@sidestep/contracts';
import { Producer } from '@sidestep/producer';
import type { MailQueue, MailQueueResult } from '../sweep-stale-jobs.ts';

/**
 * The mail job queue through `@sidestep/producer`: each mail is validated against `MailSendJob`
 * before it is sent (an invalid one is reported with its field, never sent), sent in batches of 10,
 * and entries SQS failed through no fault of ours are retried.
 */
export class ProducerMailQueue implements MailQueue {
  readonly #producer: Producer;

  constructor(producer: Producer) {
    this.#producer = producer;
  }

  /** A mail queue on `queueUrl`, with a client from the environment (AWS_ENDPOINT_URL locally). */
  static forQueue(queueUrl: string): ProducerMailQueue {
    return new ProducerMailQueue(new Producer({ queueUrl, jobTypes: ['mail.send'] }));
  }

  async send(mails: readonly MailSendJobInput[]): Promise<readonly MailQueueResult[]> {
    const results = await this.#producer.enqueue([...mails]);
    return results.map((result, index): MailQueueResult => {
      const id = result.id ?? mails[index]?.id ?? `mail-${index}`;
      if (result.status === 'sent') return { status: 'sent', id };
      if (result.status === 'invalid') {
        return { status: 'invalid', id, field: result.error.field, message: result.error.message };
      }
      // SQS refuses the body itself (InvalidMessageContents, a character outside its set; the
      // producer escapes the U+FFFE and U+FFFF that JSON leaves as they are, so this should not
      // happen) at every try: the mail is refused, like one the contract refuses. SendMessageBatch's other client errors (`senderFault`: KmsAccessDenied, KmsDisabled,
      // KmsNotFound, QueueDoesNotExist, AccessDenied; see
      // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html)
      // stay failures, tried again by the next sweeps while the job is within the retention: they
      // are about the sweeper's access, the key or the queue, not the mail, and the same mail passes
      // once those are mended or a grant has propagated (IAM is eventually consistent:
      // https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency).
      // Refusing those would lose every mail of such an incident.
      if (result.senderFault && result.code.endsWith('InvalidMessageContents')) {
        return { status: 'invalid', id, field: 'body', message: `body: ${result.code}: ${result.message}` };
      }
      return { status: 'failed', id, message: `${result.code}: ${result.message}` };
    });
  }
}
