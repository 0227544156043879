import { CreateQueueCommand, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MailSendJob, validate } from '@sidestep/contracts';
import { type LocalSqs, startLocalSqs } from '@sidestep/runtime/testing';
import { Producer } from '../src/index.ts';

let local: LocalSqs;
let sqs: SQSClient;

beforeAll(async () => {
  local = await startLocalSqs();
  ({ sqs } = local);
});

afterAll(() => local?.stop());

async function queue(name: string): Promise<string> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name }));
  return QueueUrl as string;
}

const drain = (queueUrl: string) => local.receiveAll(queueUrl);

function mail(n: number) {
  return {
    type: 'mail.send' as const,
    version: 1 as const,
    id: `mail-${n}`,
    payload: {
      template: 'export.failed' as const,
      to: `user${n}@example.com`,
      params: { jobId: `exp_${n}`, reason: 'test' },
    },
  };
}

describe('Producer', () => {
  it('sends valid jobs in batches of ten and reports one result per job in order', async () => {
    const queueUrl = await queue('producer-batches');
    const calls: number[] = [];
    const counting = {
      send: (command: SendMessageBatchCommand) => {
        calls.push(command.input.Entries?.length ?? 0);
        return sqs.send(command);
      },
    } as unknown as SQSClient;
    const producer = new Producer({ queueUrl, sqs: counting, concurrency: 2 });
    const results = await producer.enqueue(Array.from({ length: 25 }, (_, n) => mail(n)));

    expect(results.map((result) => result.status)).toEqual(Array(25).fill('sent'));
    expect(results.map((result) => result.id)).toEqual(Array.from({ length: 25 }, (_, n) => `mail-${n}`));
    expect(calls.sort()).toEqual([10, 10, 5]);
    const bodies = await drain(queueUrl);
    expect(bodies).toHaveLength(25);
    // What a consumer receives is a valid contract with defaults applied.
    const parsed = bodies.map((body) => validate(MailSendJob, JSON.parse(body)));
    expect(parsed.every((job) => job.payload.locale === 'en' && job.createdAt !== undefined)).toBe(true);
  });

  it('does not send an invalid job and names its field, while the others go out', async () => {
    const queueUrl = await queue('producer-invalid');
    const bad = { ...mail(1), payload: { ...mail(1).payload, to: 'not-an-address' } };
    const results = await new Producer({ queueUrl, sqs }).enqueue([mail(0), bad, mail(2)]);

    expect(results[0]?.status).toBe('sent');
    expect(results[2]?.status).toBe('sent');
    const invalid = results[1];
    expect(invalid?.status).toBe('invalid');
    if (invalid?.status === 'invalid') expect(invalid.error.field).toBe('payload.to');
    const bodies = await drain(queueUrl);
    expect(bodies.map((body) => JSON.parse(body).id).sort()).toEqual(['mail-0', 'mail-2']);
  });

  it('assigns an id when the producer gives none', async () => {
    const queueUrl = await queue('producer-ids');
    const { id: _omit, ...withoutId } = mail(0);
    const [result] = await new Producer({ queueUrl, sqs }).enqueue([withoutId]);
    expect(result?.status).toBe('sent');
    expect(result?.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('retries entries SQS failed without the sender being at fault, and gives up on sender faults', async () => {
    const queueUrl = await queue('producer-retries');
    let call = 0;
    const flaky = {
      send: async (command: SendMessageBatchCommand) => {
        call += 1;
        const entries = command.input.Entries ?? [];
        if (call === 1) {
          // First call: entry 0 succeeds for real, entry 1 fails transiently, entry 2 is the sender's fault.
          const first = await sqs.send(
            new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries.slice(0, 1) }),
          );
          return {
            Successful: first.Successful,
            Failed: [
              { Id: '1', Code: 'InternalError', SenderFault: false, Message: 'try again' },
              { Id: '2', Code: 'InvalidParameterValue', SenderFault: true, Message: 'bad' },
            ],
          };
        }
        return sqs.send(command);
      },
    } as unknown as SQSClient;
    const results = await new Producer({ queueUrl, sqs: flaky, baseDelayMs: 1 }).enqueue([
      mail(0),
      mail(1),
      mail(2),
    ]);

    expect(results[0]).toMatchObject({ status: 'sent', attempts: 1 });
    expect(results[1]).toMatchObject({ status: 'sent', attempts: 2 });
    expect(results[2]).toMatchObject({
      status: 'failed',
      code: 'InvalidParameterValue',
      senderFault: true,
      attempts: 1,
    });
    expect((await drain(queueUrl)).length).toBe(2);
  });

  it('stops retrying after maxAttempts', async () => {
    const alwaysFailing = {
      send: async (command: SendMessageBatchCommand) => ({
        Failed: (command.input.Entries ?? []).map((entry) => ({
          Id: entry.Id,
          Code: 'InternalError',
          SenderFault: false,
        })),
      }),
    } as unknown as SQSClient;
    const [result] = await new Producer({
      queueUrl: 'http://unused',
      sqs: alwaysFailing,
      maxAttempts: 3,
      baseDelayMs: 1,
    }).enqueue([mail(0)]);
    expect(result).toMatchObject({ status: 'failed', attempts: 3, code: 'InternalError' });
  });
});
