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
    return new ProducerMailQueue(new Producer({ queueUrl }));
  }

  async send(mails: readonly MailSendJobInput[]): Promise<readonly MailQueueResult[]> {
    const results = await this.#producer.enqueue([...mails]);
    return results.map((result, index): MailQueueResult => {
      const id = result.id ?? mails[index]?.id ?? `mail-${index}`;
      if (result.status === 'sent') return { status: 'sent', id };
      if (result.status === 'invalid') {
        return { status: 'invalid', id, field: result.error.field, message: result.error.message };
      }
      return { status: 'failed', id, message: `${result.code}: ${result.message}` };
    });
  }
}
