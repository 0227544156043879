import type { SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from '@jest/globals';
import { failureMail } from '@sidestep/jobs';
import { Producer } from '@sidestep/producer';
import { ProducerMailQueue } from '../src/adapters/mail-queue.ts';

/** A mail queue whose SQS answers every SendMessageBatch with `answer`. */
function queueAnswering(answer: () => Promise<unknown>): ProducerMailQueue {
  const sqs = { send: answer } as unknown as SQSClient;
  return new ProducerMailQueue(
    new Producer({ queueUrl: 'https://sqs.us-east-1.amazonaws.com/000000000000/mail', sqs, maxAttempts: 1 }),
  );
}

const mail = failureMail(
  {
    jobId: 'exp_q1',
    kind: 'export',
    attempt: 1,
    fileName: null,
    requestedBy: 'a@example.com',
    reason: 'r',
    locale: null,
  },
  'ops@example.com',
);

describe('ProducerMailQueue', () => {
  // SQS refuses a message body with characters outside its set (InvalidMessageContents,
  // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html):
  // JSON leaves U+FFFE and U+FFFF as they are, so a reason holding one is refused at every try.
  it('reports a mail SQS refuses for its contents as refused, naming the body, not as a failure to try again', async () => {
    const message = "Invalid binary character '#xFFFF' was found in the message body";
    const queue = queueAnswering(async () => ({
      Failed: [{ Id: '0', Code: 'InvalidMessageContents', SenderFault: true, Message: message }],
    }));
    expect(await queue.send([mail])).toEqual([
      { status: 'invalid', id: mail.id, field: 'body', message: `body: InvalidMessageContents: ${message}` },
    ]);
  });

  it("reports SQS's other client errors (a queue that does not exist, KMS access denied) as failures tried again", async () => {
    for (const name of ['QueueDoesNotExist', 'KmsAccessDenied']) {
      const queue = queueAnswering(async () => {
        throw Object.assign(new Error(`${name} says no`), { name, $fault: 'client', $metadata: {} });
      });
      expect(await queue.send([mail])).toEqual([
        { status: 'failed', id: mail.id, message: `${name}: ${name} says no` },
      ]);
    }
  });
});
