import { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  KmsThrottled,
  OverLimit,
  ReceiveMessageCommand,
  RequestThrottled,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
  SQSServiceException,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { ContractValidationError, MailSendJob, messageSize, parseJob, validate } from '@sidestep/contracts';
import { createSqsHandler, type SqsBatchHandler } from '@sidestep/runtime';
import { type LocalSqs, startLocalSqs } from '@sidestep/runtime/testing';
import * as z from 'zod/mini';
import { claimCheckIfLarge } from '../src/claim-check.ts';
import { Producer } from '../src/index.ts';
import { splitIntoBatches } from '../src/producer.ts';

let local: LocalSqs;
let sqs: SQSClient;

beforeAll(async () => {
  local = await startLocalSqs();
  ({ sqs } = local);
  local.server.createBucket(CLAIMS_BUCKET);
});

const CLAIMS_BUCKET = 'sidestep-local-claims-000000000000';
type SQSEvent = Parameters<SqsBatchHandler>[0];
type Context = Parameters<SqsBatchHandler>[1];

/** Receives every message of a queue with its attributes and turns them into the event Lambda builds. */
async function eventOf(queueUrl: string): Promise<SQSEvent> {
  const { Messages = [] } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: 10,
      MessageAttributeNames: ['All'],
    }),
  );
  return {
    Records: Messages.map((message) => ({
      messageId: message.MessageId ?? '',
      receiptHandle: message.ReceiptHandle ?? '',
      body: message.Body ?? '',
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: '0',
        SenderId: 'test',
        ApproximateFirstReceiveTimestamp: '0',
      },
      messageAttributes: Object.fromEntries(
        Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [
          name,
          { dataType: value.DataType ?? 'String', stringValue: value.StringValue },
        ]),
      ),
      md5OfBody: message.MD5OfBody ?? '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:producer-claims',
      awsRegion: 'us-east-1',
    })),
  };
}

const lambdaContext = { awsRequestId: 'r', getRemainingTimeInMillis: () => 30_000 } as unknown as Context;

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

/** Enqueues one job through an SQS that never takes it, with 3 attempts: its result. */
async function sendNeverTaken(failing: SQSClient, baseDelayMs = 1) {
  const [result] = await new Producer({
    queueUrl: 'http://unused',
    sqs: failing,
    maxAttempts: 3,
    baseDelayMs,
  }).enqueue([mail(0)]);
  return result;
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

  describe('claim check', () => {
    it('round-trips a 2 MiB payload to a handler through S3 and a pointer on the queue', async () => {
      const queueUrl = await queue('producer-large');
      const Large = z.object({ id: z.string(), blob: z.string() });
      const job = { id: 'large-1', blob: 'é'.repeat(1024 * 1024) }; // 2 MiB of UTF-8
      const body = JSON.stringify(job);
      const message = await claimCheckIfLarge({ body, attributes: {} }, queueUrl, {
        bucket: CLAIMS_BUCKET,
        s3: async () => local.s3,
      });
      expect(Buffer.byteLength(message.body)).toBeLessThan(1024);
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: message.body,
          MessageAttributes: message.attributes as never,
        }),
      );

      const seen: { id: string; blob: string }[] = [];
      const handler = createSqsHandler({
        schema: Large,
        process: async (received) => {
          seen.push(received);
        },
        sqs,
        s3: local.s3,
        deadLetterQueueUrl: await queue('producer-large-dlq'),
      });
      const response = await handler(await eventOf(queueUrl), lambdaContext);
      expect(response.batchItemFailures).toEqual([]);
      expect(seen).toHaveLength(1);
      expect(seen[0]?.blob).toBe(job.blob);
    });

    it('offloads only the jobs over the threshold, keeping their type attributes, and leaves the others inline', async () => {
      const queueUrl = await queue('producer-claims');
      const producer = new Producer({
        queueUrl,
        sqs,
        claimCheck: { bucket: CLAIMS_BUCKET, s3: local.s3, thresholdBytes: 400 },
      });
      const small = mail(1);
      const large = {
        ...mail(2),
        payload: { ...mail(2).payload, params: { jobId: 'exp_2', reason: 'r'.repeat(500) } },
      };
      const results = await producer.enqueue([small, large]);
      expect(results.map((result) => result.status)).toEqual(['sent', 'sent']);

      const event = await eventOf(queueUrl);
      const byPointer = new Map(
        event.Records.map((record) => [!!record.messageAttributes.ExtendedPayloadSize, record]),
      );
      const inline = byPointer.get(false);
      const pointer = byPointer.get(true);
      expect(JSON.parse(inline?.body ?? '{}').id).toBe('mail-1');
      expect(pointer?.messageAttributes['sidestep.type']?.stringValue).toBe('mail.send');
      const [, target] = JSON.parse(pointer?.body ?? '[]') as [
        string,
        { s3BucketName: string; s3Key: string },
      ];
      expect(target.s3Key).toMatch(/^payloads\/producer-claims\//);
      const stored = await local.s3.send(
        new GetObjectCommand({ Bucket: target.s3BucketName, Key: target.s3Key }),
      );
      const storedJob = validate(MailSendJob, JSON.parse((await stored.Body?.transformToString()) ?? '{}'));
      expect(storedJob.id).toBe('mail-2');
      expect(pointer?.messageAttributes.ExtendedPayloadSize?.stringValue).toBe(
        String(Buffer.byteLength(JSON.stringify(storedJob))),
      );
    });

    it('offloads a body under the threshold whose attributes take the message over it', async () => {
      // Every part of an attribute (name, type, value) counts in the message size limit,
      // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_MessageAttributeValue.html
      // A valid job is far under the SQS limit (an address is at most 254 characters), so the threshold
      // is set between its body's size and its message's.
      const queueUrl = await queue('producer-claim-attributes');
      const job = { ...mail(5), createdAt: '2026-01-01T00:00:00.000Z' };
      const body = JSON.stringify(parseJob(job));
      const producer = new Producer({
        queueUrl,
        sqs,
        claimCheck: { bucket: CLAIMS_BUCKET, s3: local.s3, thresholdBytes: Buffer.byteLength(body) + 10 },
      });

      const [result] = await producer.enqueue([job]);
      expect(result).toMatchObject({ status: 'sent', id: 'mail-5' });
      const [received, ...others] = (await eventOf(queueUrl)).Records;
      expect(others).toEqual([]);
      expect(received?.messageAttributes.ExtendedPayloadSize?.stringValue).toBe(
        String(Buffer.byteLength(body)),
      );
      const [, target] = JSON.parse(received?.body ?? '[]') as [
        string,
        { s3BucketName: string; s3Key: string },
      ];
      const stored = await local.s3.send(
        new GetObjectCommand({ Bucket: target.s3BucketName, Key: target.s3Key }),
      );
      expect(await stored.Body?.transformToString()).toBe(body);
    });

    it('reports a job whose upload failed as failed and still sends the others', async () => {
      const queueUrl = await queue('producer-claim-upload-fails');
      const large = (n: number) => ({
        ...mail(n),
        payload: { ...mail(n).payload, params: { jobId: `exp_${n}`, reason: 'r'.repeat(500) } },
      });
      // The bucket refuses the producer (a 403, the sender's fault), or S3 asks it to slow down (a
      // 503: retrying later can pass).
      const failing = {
        send: async (command: { input: { Key?: string } }) => {
          const slowDown = stored.length > 0;
          stored.push(command.input.Key ?? '');
          throw Object.assign(new Error(slowDown ? 'Please reduce your request rate.' : 'Access Denied'), {
            name: slowDown ? 'SlowDown' : 'AccessDenied',
            $fault: slowDown ? 'server' : 'client',
            $metadata: { httpStatusCode: slowDown ? 503 : 403 },
          });
        },
      } as unknown as S3Client;
      const stored: string[] = [];
      const producer = new Producer({
        queueUrl,
        sqs,
        concurrency: 1,
        claimCheck: { bucket: CLAIMS_BUCKET, s3: failing, thresholdBytes: 400 },
      });
      const results = await producer.enqueue([mail(1), large(2), mail(3), large(4)]);

      expect(results).toEqual([
        expect.objectContaining({ status: 'sent', id: 'mail-1' }),
        {
          status: 'failed',
          id: 'mail-2',
          job: expect.objectContaining({ id: 'mail-2', createdAt: expect.any(String) }),
          attempts: 0,
          code: 'AccessDenied',
          message: `storing its body in the claim-check bucket ${CLAIMS_BUCKET} failed: Access Denied`,
          senderFault: true,
        },
        expect.objectContaining({ status: 'sent', id: 'mail-3' }),
        expect.objectContaining({ status: 'failed', id: 'mail-4', code: 'SlowDown', senderFault: false }),
      ]);
      expect((await drain(queueUrl)).map((body) => JSON.parse(body).id).sort()).toEqual(['mail-1', 'mail-3']);
    });
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

  // A consumer dead-letters a job its queue's contract does not list (SchemaViolationError, naming
  // `type`): the producer told the queue's job types refuses it before it is sent.
  it('refuses a job of a type the queue does not take, naming the field type, and sends the others', async () => {
    const queueUrl = await queue('producer-job-types');
    const exportRequest = {
      type: 'export.requested' as const,
      version: 1 as const,
      id: 'export-1',
      payload: { requestedBy: 'ops@example.com' },
    };
    const producer = new Producer({ queueUrl, sqs, jobTypes: ['mail.send'] });
    const results = await producer.enqueue([mail(0), exportRequest, mail(2)]);
    expect(results.map((result) => result.status)).toEqual(['sent', 'invalid', 'sent']);
    const refused = results[1];
    if (refused?.status === 'invalid') {
      expect(refused.error.field).toBe('type');
      expect(refused.error.message).toContain(
        '"export.requested" is not a job type this queue takes (mail.send)',
      );
    }
    expect((await drain(queueUrl)).map((body) => JSON.parse(body).id).sort()).toEqual(['mail-0', 'mail-2']);
    // Without jobTypes, any type of the contracts goes (the queue's consumer then decides).
    expect((await new Producer({ queueUrl, sqs }).enqueue([exportRequest]))[0]?.status).toBe('sent');
  });

  it('throws for jobTypes naming no type or a type the contracts do not have, naming the field', () => {
    for (const jobTypes of [[], ['mail.sent']]) {
      expect(() => new Producer({ queueUrl: 'http://unused', jobTypes: jobTypes as never })).toThrow(
        expect.objectContaining({ field: 'jobTypes' }),
      );
    }
  });

  // SQS refuses U+FFFE and U+FFFF in a body (InvalidMessageContents, API_SendMessage): a reason
  // quoting one was refused for good, though JSON can carry it escaped.
  it('sends a job whose text holds U+FFFE or U+FFFF, escaped, and it reads back the same', async () => {
    const queueUrl = await queue('producer-noncharacters');
    const odd = {
      ...mail(1),
      payload: { ...mail(1).payload, params: { jobId: 'exp_1', reason: 'bad \uFFFF \uFFFE' } },
    };
    const results = await new Producer({ queueUrl, sqs }).enqueue([odd]);
    expect(results[0]?.status).toBe('sent');
    const [body] = await drain(queueUrl);
    expect(JSON.parse(body ?? '{}').payload.params.reason).toBe('bad \uFFFF \uFFFE');
  });

  it('refuses a job whose id an earlier job of the same call has, naming the field id', async () => {
    const queueUrl = await queue('producer-duplicate-ids');
    const again = { ...mail(1), payload: { ...mail(1).payload, to: 'someone-else@example.com' } };
    const invalidFirst = { ...mail(3), payload: { ...mail(3).payload, to: 'not-an-address' } };
    const results = await new Producer({ queueUrl, sqs }).enqueue([
      mail(1),
      mail(2),
      again,
      invalidFirst,
      mail(3),
      mail(1),
    ]);

    expect(results.map((result) => result.status)).toEqual([
      'sent',
      'sent',
      'invalid',
      'invalid',
      'sent',
      'invalid',
    ]);
    for (const index of [2, 5]) {
      const duplicate = results[index];
      if (duplicate?.status !== 'invalid') throw new Error(`result ${index} is ${duplicate?.status}`);
      expect(duplicate.id).toBe('mail-1');
      expect(duplicate.error).toBeInstanceOf(ContractValidationError);
      expect(duplicate.error.field).toBe('id');
      expect(duplicate.error.message).toBe(
        'id: "mail-1" is also the id of job 0 of this call; each job needs an id of its own',
      );
    }
    // mail-3's first job was invalid and never sent: the one after it with its id is not a duplicate.
    const bodies = await drain(queueUrl);
    expect(bodies.map((body) => JSON.parse(body).id).sort()).toEqual(['mail-1', 'mail-2', 'mail-3']);
    expect(bodies.map((body) => JSON.parse(body).payload.to)).not.toContain('someone-else@example.com');
  });

  it('assigns an id when the producer gives none', async () => {
    const queueUrl = await queue('producer-ids');
    const { id: _omit, ...withoutId } = mail(0);
    const [result] = await new Producer({ queueUrl, sqs }).enqueue([withoutId]);
    expect(result?.status).toBe('sent');
    expect(result?.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('assigns an id when the producer gives id: undefined', async () => {
    const queueUrl = await queue('producer-undefined-id');
    const [result] = await new Producer({ queueUrl, sqs }).enqueue([{ ...mail(0), id: undefined }]);
    expect(result).toMatchObject({ status: 'sent', id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
  });

  // The signature allows only objects, but a caller in JavaScript (or reading JSON) can pass anything.
  it('reports an entry that is not an object as invalid, naming the entry, and sends the others', async () => {
    const queueUrl = await queue('producer-non-object');
    const entries = [mail(0), null, 'mail-1', [mail(2)], mail(3)] as unknown as Parameters<
      Producer['enqueue']
    >[0];
    const results = await new Producer({ queueUrl, sqs }).enqueue(entries);

    expect(results.map((result) => result.status)).toEqual(['sent', 'invalid', 'invalid', 'invalid', 'sent']);
    for (const index of [1, 2, 3]) {
      const invalid = results[index];
      if (invalid?.status !== 'invalid') throw new Error(`result ${index} is ${invalid?.status}`);
      expect(invalid.id).toBeUndefined();
      expect(invalid.error).toBeInstanceOf(ContractValidationError);
      expect(invalid.error.field).toBe('(root)');
    }
    expect(results[1]).toMatchObject({ error: { message: '(root): expected a job object, got null' } });
    const bodies = await drain(queueUrl);
    expect(bodies.map((body) => JSON.parse(body).id).sort()).toEqual(['mail-0', 'mail-3']);
  });

  // A send reported failed may still have delivered (here SQS stored the batch, then the answer timed
  // out): the documented resend must carry the same id, or the consumer's idempotency (keyed on it)
  // takes the copy for a new job and the mail goes out twice.
  it('resends a failed job, as the README does, with the id of the first send', async () => {
    const queueUrl = await queue('producer-resend');
    let timingOut = true;
    const storedThenTimedOut = {
      send: async (command: SendMessageBatchCommand) => {
        const response = await sqs.send(command);
        if (!timingOut) return response;
        throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
      },
    } as unknown as SQSClient;
    const producer = new Producer({ queueUrl, sqs: storedThenTimedOut, maxAttempts: 1 });
    const { id: _omit, ...withoutId } = mail(0);
    const results = await producer.enqueue([withoutId]);
    const [first] = results;
    expect(first).toMatchObject({ status: 'failed', code: 'TimeoutError', senderFault: false });

    timingOut = false;
    const failed = results.filter((result) => result.status === 'failed');
    const [resent] = await producer.enqueue(
      failed.filter((result) => !result.senderFault).map((result) => result.job),
    );

    expect(resent).toMatchObject({ status: 'sent', id: first?.id });
    const bodies = (await drain(queueUrl)).map((body) => JSON.parse(body));
    expect(bodies.map((body) => body.id)).toEqual([first?.id, first?.id]);
    expect(bodies[1]).toEqual(bodies[0]);
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
    const result = await sendNeverTaken(alwaysFailing);
    expect(result).toMatchObject({ status: 'failed', attempts: 3, code: 'InternalError' });
  });

  it('retries an entry SQS answered neither Successful nor Failed, then reports it failed MissingFromResponse', async () => {
    const queueUrl = await queue('producer-missing-entry');
    const carried: string[][] = [];
    // SQS sent everything but mail-1, and said nothing of it.
    const forgetful = {
      send: async (command: SendMessageBatchCommand) => {
        const entries = command.input.Entries ?? [];
        carried.push(entries.map((entry) => JSON.parse(entry.MessageBody ?? '{}').id));
        const answered = entries.filter((entry) => JSON.parse(entry.MessageBody ?? '{}').id !== 'mail-1');
        if (answered.length === 0) return { Successful: [], Failed: [] };
        return sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: answered }));
      },
    } as unknown as SQSClient;
    const results = await new Producer({ queueUrl, sqs: forgetful, maxAttempts: 3, baseDelayMs: 1 }).enqueue([
      mail(0),
      mail(1),
    ]);

    expect(results).toEqual([
      expect.objectContaining({ status: 'sent', id: 'mail-0', attempts: 1 }),
      {
        status: 'failed',
        id: 'mail-1',
        job: expect.objectContaining({ id: 'mail-1', type: 'mail.send' }),
        attempts: 3,
        code: 'MissingFromResponse',
        message: 'SQS returned no result for this entry',
        senderFault: false,
      },
    ]);
    expect(carried).toEqual([['mail-0', 'mail-1'], ['mail-1'], ['mail-1']]);
    expect((await drain(queueUrl)).map((body) => JSON.parse(body).id)).toEqual(['mail-0']);
  });

  it('waits the backoff between SendMessageBatch calls of a retried job', async () => {
    const at: number[] = [];
    const throttled = {
      send: async () => {
        at.push(performance.now());
        throw new RequestThrottled({ message: 'Rate exceeded', $metadata: {} });
      },
    } as unknown as SQSClient;
    // Full jitter draws each delay from [0, baseDelayMs * 2^(attempt - 1)): the draw is pinned to its top.
    const random = jest.spyOn(Math, 'random').mockReturnValue(0.99);
    try {
      const result = await sendNeverTaken(throttled, 50);
      expect(result).toMatchObject({ status: 'failed', attempts: 3, code: 'RequestThrottled' });
    } finally {
      random.mockRestore();
    }
    const gaps = at.slice(1).map((time, index) => time - (at[index] ?? 0));
    expect(gaps).toHaveLength(2);
    // 49.5 ms then 99 ms; a timer may fire a millisecond early.
    expect(gaps[0]).toBeGreaterThanOrEqual(48);
    expect(gaps[1]).toBeGreaterThanOrEqual(97);
  });

  describe('throttling', () => {
    // SendMessageBatch answers RequestThrottled and KmsThrottled (HTTP 400, so the SDK marks them
    // $fault 'client'), https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html;
    // they pass when sent again later, so they are not the sender's fault.
    const throttles = {
      RequestThrottled: () => new RequestThrottled({ message: 'Rate exceeded', $metadata: {} }),
      KmsThrottled: () => new KmsThrottled({ message: 'KMS rate exceeded', $metadata: {} }),
      OverLimit: () => new OverLimit({ message: 'limit', $metadata: {} }),
      '$retryable.throttling': () =>
        Object.assign(new SQSServiceException({ name: 'SomeNewThrottle', $fault: 'client', $metadata: {} }), {
          $retryable: { throttling: true },
        }),
    };
    it.each(Object.entries(throttles))(
      'retries a SendMessageBatch refused with %s with its own backoff, as not the sender fault',
      async (_name, throttle) => {
        const queueUrl = await queue('producer-throttled');
        let calls = 0;
        const throttling = {
          send: async (command: SendMessageBatchCommand) => {
            calls += 1;
            if (calls <= 2) throw throttle();
            return sqs.send(command);
          },
        } as unknown as SQSClient;
        const [result] = await new Producer({ queueUrl, sqs: throttling, baseDelayMs: 1 }).enqueue([mail(0)]);
        expect(result).toMatchObject({ status: 'sent', attempts: 3 });
        expect(await drain(queueUrl)).toHaveLength(1);
      },
    );

    it('reports a batch throttled on every attempt as failed, not the sender fault, after maxAttempts calls', async () => {
      const throttled = {
        send: async () => Promise.reject(throttles.KmsThrottled()),
      } as unknown as SQSClient;
      const result = await sendNeverTaken(throttled);
      expect(result).toEqual({
        status: 'failed',
        id: 'mail-0',
        job: expect.objectContaining({ id: 'mail-0' }),
        attempts: 3,
        code: 'KmsThrottled',
        message: 'KMS rate exceeded',
        senderFault: false,
      });
    });

    it('counts its own SendMessageBatch calls in attempts, not the SDK retries of each', async () => {
      // What SQS answers a throttled request on the wire (AWS JSON 1.0), every time.
      let httpRequests = 0;
      const requestHandler = {
        handle: async () => {
          httpRequests += 1;
          const body = JSON.stringify({
            __type: 'com.amazonaws.sqs#RequestThrottled',
            message: 'Rate exceeded',
          });
          return {
            response: {
              statusCode: 400,
              reason: 'Bad Request',
              headers: {
                'content-type': 'application/x-amz-json-1.0',
                'x-amzn-query-error': 'RequestThrottled;Sender',
              },
              body: Readable.from([Buffer.from(body)]),
            },
          };
        },
      };
      const throttled = new SQSClient({
        region: 'us-east-1',
        endpoint: 'http://127.0.0.1:1',
        credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
        requestHandler,
        maxAttempts: 2,
      });
      const [result] = await new Producer({
        queueUrl: 'http://127.0.0.1:1/000000000000/q',
        sqs: throttled,
        maxAttempts: 2,
        baseDelayMs: 1,
      }).enqueue([mail(0)]);
      expect(result).toMatchObject({
        status: 'failed',
        attempts: 2,
        code: 'RequestThrottled',
        senderFault: false,
      });
      expect(httpRequests).toBe(4);
    });

    // Each failed entry says whether it was the sender's fault,
    // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_BatchResultErrorEntry.html;
    // a throttled entry is retried whatever its SenderFault says.
    it('retries an entry failed with a throttling code even when SQS marks it SenderFault', async () => {
      const queueUrl = await queue('producer-entry-throttled');
      let calls = 0;
      const throttling = {
        send: async (command: SendMessageBatchCommand) => {
          calls += 1;
          if (calls > 1) return sqs.send(command);
          const [first, ...rest] = command.input.Entries ?? [];
          const sent = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [first!] }));
          return {
            Successful: sent.Successful,
            Failed: rest.map((entry) => ({
              Id: entry.Id,
              Code: entry.Id === '1' ? 'RequestThrottled' : 'KmsThrottled',
              SenderFault: true,
              Message: 'slow down',
            })),
          };
        },
      } as unknown as SQSClient;
      const results = await new Producer({ queueUrl, sqs: throttling, baseDelayMs: 1 }).enqueue([
        mail(0),
        mail(1),
        mail(2),
      ]);
      expect(results.map((result) => [result.status, (result as { attempts?: number }).attempts])).toEqual([
        ['sent', 1],
        ['sent', 2],
        ['sent', 2],
      ]);
      expect(await drain(queueUrl)).toHaveLength(3);
    });
  });
});

describe('splitIntoBatches', () => {
  // SendMessageBatch limits the sum of its messages' sizes (bodies and attributes) to 1 MiB, as each
  // one (else BatchRequestTooLong), and its entries to 10,
  // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html
  // No batch of valid jobs comes near 1 MiB (a mail job is at most about 64 KB), so the split is
  // tested on messages of the sizes it must tell apart.
  const attributes = { 'sidestep.type': { DataType: 'String', StringValue: 'mail.send' } } as const;
  /** A message of exactly `bytes` bytes, body and attributes, named `name`. */
  const message = (name: string, bytes: number) => {
    const body = name.padEnd(bytes - messageSize('', attributes), '.');
    expect(messageSize(body, attributes)).toBe(bytes);
    return { name, message: { body, attributes } };
  };
  const namesOf = (batches: { name: string }[][]) => batches.map((batch) => batch.map((item) => item.name));

  it('starts a new batch at the message that would take the batch over 1 MiB', () => {
    const batches = splitIntoBatches(['a', 'b', 'c'].map((name) => message(name, 400_000)));
    expect(namesOf(batches)).toEqual([['a', 'b'], ['c']]);
  });

  it('keeps messages of exactly 1 MiB together, and splits at one byte more', () => {
    const half = 512 * 1024;
    expect(namesOf(splitIntoBatches([message('a', half), message('b', half)]))).toEqual([['a', 'b']]);
    expect(namesOf(splitIntoBatches([message('a', half), message('b', half + 1)]))).toEqual([['a'], ['b']]);
  });

  it('puts at most 10 messages in a batch', () => {
    const batches = splitIntoBatches(Array.from({ length: 25 }, (_, n) => message(`m${n}`, 100)));
    expect(batches.map((batch) => batch.length)).toEqual([10, 10, 5]);
    expect(batches.flat().map((item) => item.name)).toEqual(Array.from({ length: 25 }, (_, n) => `m${n}`));
  });

  it('sends a message over 1 MiB in a batch of its own, for SQS to refuse alone', () => {
    const batches = splitIntoBatches([message('a', 100), message('b', 2 * 1024 * 1024), message('c', 100)]);
    expect(namesOf(batches)).toEqual([['a'], ['b'], ['c']]);
  });
});
