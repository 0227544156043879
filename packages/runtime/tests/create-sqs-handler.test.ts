import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type Message, ReceiveMessageCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { ContractValidationError, MailSendJob } from '@sidestep/contracts';
import type { SQSRecord } from 'aws-lambda';
import type { FauxqsServer } from 'fauxqs';
import { z } from 'zod';
import {
  ConfigError,
  createSqsHandler,
  defaultMetrics,
  invocationState,
  type RecordContext,
  SidestepError,
  TransientError,
} from '../src/index.ts';
import { captureOutput, type OutputCapture } from '../src/output-capture.ts';
import { type LocalSqs, startLocalSqs } from '../src/testing.ts';
import { lambdaContext, sqsEvent } from './sqs-event.ts';

const Job = z.object({
  type: z.literal('mail.send'),
  id: z.string(),
  payload: z.object({ to: z.email(), executionId: z.string().optional() }),
});
type Job = z.infer<typeof Job>;

/** A record put off by design: its turn at a send rate would come after the invocation's deadline. */
class TurnError extends SidestepError {
  override readonly name: string = 'TurnError';
  constructor() {
    super('its turn comes after the deadline', { permanent: false, deferred: true });
  }
}

const DLQ_NAME = 'sidestep-local-jobs-dlq';
const CLAIMS_BUCKET = 'sidestep-local-claims-000000000000';

let local: LocalSqs;
let server: FauxqsServer;
let sqs: SQSClient;
let s3: S3Client;
let deadLetterQueueUrl: string;
let output: OutputCapture;

beforeAll(async () => {
  local = await startLocalSqs();
  ({ server, sqs, s3 } = local);
  deadLetterQueueUrl = server.createQueue(DLQ_NAME).queueUrl;
});

afterAll(() => local.stop());

beforeEach(() => {
  server.reset();
  server.createBucket(CLAIMS_BUCKET);
  output = captureOutput();
});

afterEach(() => output.restore());

async function deadLetters(): Promise<Message[]> {
  const { Messages } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: deadLetterQueueUrl,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 0,
      MessageAttributeNames: ['All'],
    }),
  );
  return Messages ?? [];
}

function job(id: string, to = 'ada@example.com', executionId?: string): string {
  return JSON.stringify({ type: 'mail.send', id, payload: { to, ...(executionId ? { executionId } : {}) } });
}

function handlerWith(
  process: (job: Job, record: SQSRecord, context: RecordContext) => Promise<void>,
  extra = {},
) {
  return createSqsHandler<Job>({
    schema: Job,
    process,
    sqs,
    deadLetterQueueUrl,
    logger: new Logger({ serviceName: 'test-service' }),
    metrics: new Metrics({ namespace: 'sidestep', serviceName: 'test-service' }),
    ...extra,
  });
}

function logsOf(outcome: string) {
  return output.lines().filter((line) => line.outcome === outcome);
}

function emf() {
  return output.lines().filter((line) => typeof line._aws === 'object');
}

describe('createSqsHandler', () => {
  it('processes valid jobs, dead-letters permanent failures and reports only transient ones', async () => {
    const processed: string[] = [];
    const handler = handlerWith(async (job) => {
      if (job.id === 'transient') throw new TransientError('mail server busy');
      processed.push(job.id);
    });
    const event = sqsEvent(
      { body: job('valid', 'ada@example.com', 'exec-1') },
      { body: '{"type": "mail.send", "id": ' },
      { body: job('bad-email', 'not-an-email') },
      { body: job('transient') },
    );
    const [valid, invalidJson, schemaInvalid, transient] = event.Records as [
      SQSRecord,
      SQSRecord,
      SQSRecord,
      SQSRecord,
    ];

    const response = await handler(event, lambdaContext());

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: transient.messageId }] });
    expect(processed).toEqual(['valid']);

    const messages = await deadLetters();
    expect(messages).toHaveLength(2);
    const bySource = new Map(
      messages.map((m) => [m.MessageAttributes?.['sidestep.source.messageId']?.StringValue, m] as const),
    );
    const json = bySource.get(invalidJson.messageId);
    const schema = bySource.get(schemaInvalid.messageId);
    expect(json?.Body).toBe(invalidJson.body);
    expect(json?.MessageAttributes?.['sidestep.error.type']?.StringValue).toBe('InvalidJsonError');
    expect(json?.MessageAttributes?.['sidestep.error.message']?.StringValue).toMatch(/not valid JSON/);
    expect(schema?.Body).toBe(schemaInvalid.body);
    expect(schema?.MessageAttributes?.['sidestep.error.type']?.StringValue).toBe('SchemaViolationError');
    expect(schema?.MessageAttributes?.['sidestep.error.message']?.StringValue).toMatch(/payload\.to: /);
    // The original attribute from the documented sample event travels along.
    expect(schema?.MessageAttributes?.myAttribute?.StringValue).toBe('myValue');
    expect(schema?.MessageAttributes?.['sidestep.source.queueArn']?.StringValue).toBe(valid.eventSourceARN);

    const processedLog = logsOf('processed');
    expect(processedLog).toEqual([
      expect.objectContaining({
        level: 'INFO',
        service: 'test-service',
        messageId: valid.messageId,
        jobId: 'valid',
        jobType: 'mail.send',
        executionId: 'exec-1',
        function_request_id: expect.any(String),
      }),
    ]);
    const deadLettered = logsOf('deadLettered');
    expect(deadLettered.map((line) => line.messageId).sort()).toEqual(
      [invalidJson.messageId, schemaInvalid.messageId].sort(),
    );
    const schemaLog = deadLettered.find((line) => line.messageId === schemaInvalid.messageId);
    expect(schemaLog).toMatchObject({
      field: 'payload.to',
      reason: expect.stringMatching(/^SchemaViolationError: .*payload\.to/),
    });
    // The job never validated, so it has no job id to correlate by.
    expect(schemaLog).not.toHaveProperty('jobId');
    expect(logsOf('failed')).toEqual([
      expect.objectContaining({
        messageId: transient.messageId,
        jobId: 'transient',
        error: expect.objectContaining({ name: 'TransientError', message: 'mail server busy' }),
      }),
    ]);

    const metrics = emf();
    expect(metrics).toHaveLength(1);
    const [flushed] = metrics as [Record<string, unknown> & { _aws: { CloudWatchMetrics: unknown[] } }];
    expect(flushed._aws.CloudWatchMetrics).toEqual([
      expect.objectContaining({
        Namespace: 'sidestep',
        Dimensions: [['service']],
        Metrics: expect.arrayContaining([
          { Name: 'processed', Unit: 'Count' },
          { Name: 'failed', Unit: 'Count' },
          { Name: 'deadLettered', Unit: 'Count' },
          { Name: 'duration', Unit: 'Milliseconds' },
        ]),
      }),
    ]);
    expect(flushed.service).toBe('test-service');
    // Each outcome is one count per invocation (CloudWatch's Sum is the same as for a 1 per record,
    // written as an array); the duration is one value per record.
    expect([flushed.processed, flushed.failed, flushed.deadLettered]).toEqual([1, 1, 2]);
    expect(flushed.duration).toHaveLength(4);
  });

  it('dead-letters a transient failure on the last receive with its reason, and leaves an earlier one to SQS', async () => {
    const handler = handlerWith(
      async () => {
        throw new TransientError('mail server busy');
      },
      { maxReceiveCount: 5 },
    );
    // A redriven message carries the reason of its earlier life: the new one replaces it.
    const stale = {
      'sidestep.error.type': { stringValue: 'DeliveryOutcomeUnknownError', dataType: 'String' },
      'sidestep.error.message': { stringValue: 'an earlier failure', dataType: 'String' },
    } as unknown as SQSRecord['messageAttributes'];
    const event = sqsEvent(
      { body: job('fourth'), receiveCount: 4 },
      { body: job('fifth'), receiveCount: 5, messageAttributes: stale },
    );
    const [fourth, fifth] = event.Records as [SQSRecord, SQSRecord];

    const response = await handler(event, lambdaContext());

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: fourth.messageId }] });
    const [letter, ...more] = await deadLetters();
    expect(more).toEqual([]);
    expect(letter?.MessageAttributes?.['sidestep.source.messageId']?.StringValue).toBe(fifth.messageId);
    expect(letter?.MessageAttributes?.['sidestep.error.type']?.StringValue).toBe('TransientError');
    expect(letter?.MessageAttributes?.['sidestep.error.message']?.StringValue).toBe(
      'mail server busy (the last of 5 attempts: none is left)',
    );
    expect(logsOf('deadLettered')).toEqual([
      expect.objectContaining({ message: 'job dead-lettered: its last attempt failed', receiveCount: 5 }),
    ]);
  });

  it('leaves every transient failure to SQS without MAX_RECEIVE_COUNT, and refuses one that is not a count', async () => {
    const unbounded = handlerWith(async (job) => {
      if (job.id === 'late') throw new TransientError('mail server busy');
    });
    const event = sqsEvent({ body: job('late'), receiveCount: 99 }, { body: job('fine') });
    expect(await unbounded(event, lambdaContext())).toEqual({
      batchItemFailures: [{ itemIdentifier: (event.Records[0] as SQSRecord).messageId }],
    });
    expect(await deadLetters()).toEqual([]);
    const saved = process.env.MAX_RECEIVE_COUNT;
    process.env.MAX_RECEIVE_COUNT = 'five';
    try {
      expect(() => handlerWith(async () => {})).toThrow(
        expect.objectContaining({ name: 'ConfigError', field: 'MAX_RECEIVE_COUNT' }),
      );
    } finally {
      if (saved === undefined) delete process.env.MAX_RECEIVE_COUNT;
      else process.env.MAX_RECEIVE_COUNT = saved;
    }
  });

  // A failure a retry within minutes would meet again (SES's 24-hour quota used up) asks for a later
  // one: the record is made visible again only after its first delay, four times as long on each
  // later receive (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html).
  it('puts a failure asking for a later retry off on its queue, longer on each receive, and says when it cannot', async () => {
    // A queue that would deliver a failed record again at once.
    const source = server.createQueue('sidestep-local-jobs', { attributes: { VisibilityTimeout: '0' } });
    const queueUrl = `${local.endpoint}/000000000000/${source.queueName}`;
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: job('later') }));
    const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 0 }));
    const [message] = received.Messages ?? [];
    const quotaUsedUp = async () => {
      throw new TransientError('Daily message quota exceeded.', { retryAfterSeconds: 5 });
    };
    const event = sqsEvent({ body: job('later'), receiveCount: 2 });
    const record = { ...(event.Records[0] as SQSRecord), receiptHandle: message?.ReceiptHandle ?? '' };
    // Its batch of one failed whole: the invocation fails (Powertools' FullBatchFailureError).
    await expect(
      handlerWith(quotaUsedUp, { queueUrl })({ Records: [record] }, lambdaContext()),
    ).rejects.toThrow('All records failed');
    // Put off 5 s x 4 on its second receive: not delivered again now, as it would be without.
    const again = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 0 }));
    expect(again.Messages ?? []).toEqual([]);
    expect(logsOf('failed')).toEqual([expect.objectContaining({ retryAfterSeconds: 20, receiveCount: 2 })]);

    // Without the queue's URL the queue's own timeout applies, and the log says so.
    const saved = process.env.QUEUE_URL;
    delete process.env.QUEUE_URL;
    try {
      await expect(
        handlerWith(quotaUsedUp)(sqsEvent({ body: job('unknown-queue') }), lambdaContext()),
      ).rejects.toThrow('All records failed');
    } finally {
      if (saved !== undefined) process.env.QUEUE_URL = saved;
    }
    expect(logsOf('failed').at(-1)).toMatchObject({ notPutOff: expect.stringContaining('no QUEUE_URL') });
  });

  // Staging and production may share an account and region: their counts stay apart by environment.
  it('counts by service and environment (SIDESTEP_ENV) by default', async () => {
    const handler = handlerWith(async () => {}, { metrics: defaultMetrics({ SIDESTEP_ENV: 'staging' }) });
    await handler(sqsEvent({ body: job('counted') }), lambdaContext());
    const [flushed] = emf() as [
      Record<string, unknown> & { _aws: { CloudWatchMetrics: { Dimensions: unknown }[] } },
    ];
    expect(flushed._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service', 'environment']]);
    expect(flushed.environment).toBe('staging');
    expect(flushed._aws.CloudWatchMetrics).toEqual([expect.objectContaining({ Namespace: 'sidestep' })]);
  });

  it("dead-letters the contracts package's permanent errors under their own name", async () => {
    const handler = handlerWith(async () => {
      throw new ContractValidationError([{ field: 'payload.template', message: 'unknown template' }]);
    });
    const event = sqsEvent({ body: job('contract') });

    expect(await handler(event, lambdaContext())).toEqual({ batchItemFailures: [] });
    const [message] = await deadLetters();
    expect(message?.MessageAttributes?.['sidestep.error.type']?.StringValue).toBe('ContractValidationError');
    expect(message?.MessageAttributes?.['sidestep.error.message']?.StringValue).toBe(
      'payload.template: unknown template',
    );
    expect(logsOf('deadLettered')).toEqual([
      expect.objectContaining({ field: 'payload.template', jobId: 'contract' }),
    ]);
  });

  it('dead-letters a payload with an unknown key naming that key', async () => {
    const handler = createSqsHandler({
      schema: MailSendJob,
      process: async () => undefined,
      sqs,
      deadLetterQueueUrl,
      logger: new Logger({ serviceName: 'test-service' }),
      metrics: new Metrics({ namespace: 'sidestep', serviceName: 'test-service' }),
    });
    const body = JSON.stringify({
      type: 'mail.send',
      version: 1,
      id: 'with-cc',
      payload: {
        template: 'import.completed',
        to: 'ops@example.com',
        cc: 'boss@example.com',
        params: { jobId: 'imp_01', fileName: 'users.csv', rows: 1 },
      },
    });

    expect(await handler(sqsEvent({ body }), lambdaContext())).toEqual({ batchItemFailures: [] });
    const [message] = await deadLetters();
    expect(message?.MessageAttributes?.['sidestep.error.message']?.StringValue).toBe(
      'job payload violates its schema: payload.cc: unrecognized key',
    );
    expect(logsOf('deadLettered')).toEqual([expect.objectContaining({ field: 'payload.cc' })]);
  });

  it('reports a permanent failure as an item failure when the dead-letter queue cannot be reached', async () => {
    const handler = handlerWith(async () => undefined, {
      deadLetterQueueUrl: `http://127.0.0.1:${server.port}/000000000000/no-such-queue`,
    });
    const event = sqsEvent({ body: 'not json' }, { body: job('fine') });
    const [broken] = event.Records as [SQSRecord];

    expect(await handler(event, lambdaContext())).toEqual({
      batchItemFailures: [{ itemIdentifier: broken.messageId }],
    });
    expect(logsOf('deadLettered')).toEqual([]);
    expect(logsOf('failed')).toEqual([
      expect.objectContaining({
        messageId: broken.messageId,
        reason: expect.stringMatching(/^InvalidJsonError/),
        error: expect.objectContaining({ name: 'DeadLetterSendError' }),
      }),
    ]);
    const [flushed] = emf();
    expect([flushed?.failed, flushed?.processed, flushed?.deadLettered]).toEqual([1, 1, undefined]);
  });

  it('flushes metrics even when every record fails and the batch throws', async () => {
    const handler = handlerWith(async () => {
      throw new Error('database down');
    });
    const event = sqsEvent({ body: job('a') }, { body: job('b') });

    await expect(handler(event, lambdaContext())).rejects.toMatchObject({ name: 'FullBatchFailureError' });
    const flushed = emf();
    expect(flushed).toHaveLength(1);
    expect(flushed[0]?.failed).toBe(2);
  });

  it('reports deferred records back to SQS without failing the invocation, even a whole batch of them, counting them as deferred, not failed', async () => {
    const handler = handlerWith(async () => {
      throw new TurnError();
    });
    const event = sqsEvent({ body: job('a') }, { body: job('b') });
    const [a, b] = event.Records as [SQSRecord, SQSRecord];

    expect(await handler(event, lambdaContext())).toEqual({
      batchItemFailures: [{ itemIdentifier: a.messageId }, { itemIdentifier: b.messageId }],
    });
    const [flushed] = emf();
    expect([flushed?.deferred, flushed?.failed]).toEqual([2, undefined]);
    expect(logsOf('deferred')).toEqual([
      expect.objectContaining({
        level: 'INFO',
        message: 'job deferred, SQS will deliver it again',
        reason: 'TurnError: its turn comes after the deadline',
      }),
      expect.objectContaining({ level: 'INFO', messageId: b.messageId }),
    ]);
    expect(logsOf('failed')).toEqual([]);
    expect(await deadLetters()).toEqual([]);
  });

  it('fails the invocation when every record failed and one of them more than deferred', async () => {
    const handler = handlerWith(async (job) => {
      if (job.id === 'a') throw new TurnError();
      throw new TransientError('mail server busy');
    });
    const event = sqsEvent({ body: job('a') }, { body: job('b') });

    await expect(handler(event, lambdaContext())).rejects.toMatchObject({ name: 'FullBatchFailureError' });
    const [flushed] = emf();
    expect([flushed?.deferred, flushed?.failed]).toEqual([1, 1]);
  });

  it('dead-letters a record deferred on its last receive, saying it was put off, not that it failed', async () => {
    const handler = handlerWith(
      async () => {
        throw new TurnError();
      },
      { maxReceiveCount: 5 },
    );
    expect(await handler(sqsEvent({ body: job('late'), receiveCount: 5 }), lambdaContext())).toEqual({
      batchItemFailures: [],
    });
    const [letter] = await deadLetters();
    expect(letter?.MessageAttributes?.['sidestep.error.message']?.StringValue).toBe(
      'its turn comes after the deadline (put off on the last of 5 receives: none is left)',
    );
    expect(logsOf('deadLettered')).toEqual([
      expect.objectContaining({ message: 'job dead-lettered: put off on its last receive', receiveCount: 5 }),
    ]);
  });

  it('takes `deferred` only from an error that is not permanent', () => {
    expect(new SidestepError('x', { permanent: true, deferred: true }).deferred).toBeUndefined();
    expect(new SidestepError('x', { permanent: false }).deferred).toBeUndefined();
    expect(new TurnError().deferred).toBe(true);
  });

  it('scopes correlation ids to their record and adds the ones correlation() returns', async () => {
    const handler = handlerWith(
      async (_job: Job, _record: SQSRecord, { logger }: RecordContext) => {
        logger.info('inside the job');
      },
      { correlation: (j: Job) => ({ recipient: j.payload.to, jobType: undefined }) },
    );
    const event = sqsEvent({ body: job('first', 'one@example.com') }, { body: 'oops' });
    const [first, second] = event.Records as [SQSRecord, SQSRecord];

    await handler(event, lambdaContext());
    const inside = output.lines().filter((line) => line.message === 'inside the job');
    expect(inside).toEqual([
      expect.objectContaining({ messageId: first.messageId, jobId: 'first', recipient: 'one@example.com' }),
    ]);
    expect(inside[0]).not.toHaveProperty('jobType');
    const secondLines = output.lines().filter((line) => line.messageId === second.messageId);
    expect(secondLines).toHaveLength(1);
    expect(secondLines[0]).not.toHaveProperty('jobId');
    expect(secondLines[0]).not.toHaveProperty('recipient');
  });

  it('runs up to recordConcurrency records at once, each logging with its own correlation ids', async () => {
    let inFlight = 0;
    let most = 0;
    const handler = handlerWith(
      async (j: Job, _record: SQSRecord, { logger }: RecordContext) => {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 20));
        logger.info('inside the job', { to: j.payload.to });
        inFlight--;
        if (j.id === 'fails') throw new TransientError('try again');
      },
      { recordConcurrency: 3 },
    );
    const bodies = ['a', 'b', 'c', 'd', 'e', 'fails', 'g'].map((id) => ({
      body: job(id, `${id}@example.com`),
    }));
    const event = sqsEvent(...bodies);

    const response = await handler(event, lambdaContext('request-p'));
    expect(most).toBe(3);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: event.Records[5]?.messageId }]);
    const inside = output.lines().filter((line) => line.message === 'inside the job');
    expect(inside).toHaveLength(7);
    for (const line of inside) {
      expect(line.to).toBe(`${line.jobId}@example.com`);
      expect(line.function_request_id).toBe('request-p');
    }
    // Nothing is left on the shared logger for the next invocation.
    const next = sqsEvent({ body: 'oops' });
    await handler(next, lambdaContext());
    const last = output.lines().at(-1);
    expect(last).not.toHaveProperty('jobId');
  });

  it('refuses a recordConcurrency that is not a whole number >= 1, naming it', () => {
    expect(() => handlerWith(async () => {}, { recordConcurrency: 0 })).toThrow(
      expect.objectContaining({ name: 'ConfigError', field: 'recordConcurrency' }),
    );
  });

  describe('claim checks', () => {
    /** A job whose body is about 1 MiB: it fits SQS alone, not with the reason attributes beside it. */
    function poison(): string {
      const body = JSON.stringify({
        type: 'mail.send',
        id: 'huge',
        payload: { to: 'not-an-address', pad: '' },
      });
      return body.replace('"pad":""', `"pad":"${'x'.repeat(1_048_576 - body.length - 40)}"`);
    }

    it('dead-letters a poison body too large to carry its reason as a pointer plus the reason', async () => {
      const body = poison();
      const handler = handlerWith(async () => {}, { s3, claimCheckBucket: CLAIMS_BUCKET });
      const event = sqsEvent({ body });

      const response = await handler(event, lambdaContext());
      expect(response.batchItemFailures).toEqual([]);
      const [dead] = await deadLetters();
      const attributes = dead?.MessageAttributes ?? {};
      expect(attributes['sidestep.error.type']?.StringValue).toBe('SchemaViolationError');
      expect(attributes['sidestep.error.message']?.StringValue).toContain('payload.to');
      expect(attributes.ExtendedPayloadSize?.StringValue).toBe(String(Buffer.byteLength(body)));
      const [kind, pointer] = JSON.parse(dead?.Body ?? '[]') as [
        string,
        { s3BucketName: string; s3Key: string },
      ];
      expect(kind).toBe('software.amazon.payloadoffloading.PayloadS3Pointer');
      expect(pointer.s3BucketName).toBe(CLAIMS_BUCKET);
      expect(pointer.s3Key).toMatch(/^dead-letters\//);
      const stored = await s3.send(new GetObjectCommand({ Bucket: CLAIMS_BUCKET, Key: pointer.s3Key }));
      expect(await stored.Body?.transformToString()).toBe(body);
    });

    it('without a claim-check bucket, reports such a record for a retry instead of losing it', async () => {
      const handler = handlerWith(async () => {});
      // With a good record beside it: a batch whose every record fails is thrown as a whole.
      const event = sqsEvent({ body: poison() }, { body: job('fine') });
      const response = await handler(event, lambdaContext());
      expect(response.batchItemFailures).toEqual([{ itemIdentifier: event.Records[0]?.messageId }]);
      expect(await deadLetters()).toEqual([]);
    });

    /**
     * Stores job `id` (to `to`) in the claims bucket, hands the handler a pointer to it of `pointerClass`
     * marked with `marker`, and answers the handler's response and the jobs it processed.
     */
    async function throughPointer(id: string, to: string, pointerClass: string, marker: string) {
      const seen: Job[] = [];
      const handler = handlerWith(
        async (j: Job) => {
          seen.push(j);
        },
        { s3 },
      );
      const key = `payloads/mail/${id}`;
      await s3.send(new PutObjectCommand({ Bucket: CLAIMS_BUCKET, Key: key, Body: job(id, to) }));
      const event = sqsEvent({
        body: JSON.stringify([pointerClass, { s3BucketName: CLAIMS_BUCKET, s3Key: key }]),
        messageAttributes: { [marker]: { dataType: 'Number', stringValue: '100' } },
      });
      return { response: await handler(event, lambdaContext()), seen };
    }

    it('resolves a pointer transparently and processes the stored body', async () => {
      const { response, seen } = await throughPointer(
        'stored',
        'big@example.com',
        'software.amazon.payloadoffloading.PayloadS3Pointer',
        'ExtendedPayloadSize',
      );
      expect(response.batchItemFailures).toEqual([]);
      expect(seen).toEqual([expect.objectContaining({ id: 'stored', payload: { to: 'big@example.com' } })]);
    });

    // The Java extended client's defaults: the marker's former name and, in its legacy mode, the
    // former pointer class (awslabs/amazon-sqs-java-extended-client-lib); such a job was taken for an
    // ordinary body and dead-lettered as a schema violation on its first receive.
    it('resolves a pointer as the Java extended client sends it by default (SQSLargePayloadSize)', async () => {
      const { response, seen } = await throughPointer(
        'java',
        'java@example.com',
        'com.amazon.sqs.javamessaging.MessageS3Pointer',
        'SQSLargePayloadSize',
      );
      expect(response.batchItemFailures).toEqual([]);
      expect(await deadLetters()).toEqual([]);
      expect(seen).toEqual([expect.objectContaining({ id: 'java', payload: { to: 'java@example.com' } })]);
    });

    // S3 says to retry InternalError and to back off on SlowDown (a 503), both passing with time:
    // https://docs.aws.amazon.com/AmazonS3/latest/userguide/ErrorBestPractices.html
    it.each([
      ['SlowDown', 503],
      ['InternalError', 500],
      ['ServiceUnavailable', 503],
    ])(
      'leaves a pointer whose object S3 answered %s (%i) for a retry, not to the dead-letter queue',
      async (name, status) => {
        const unavailable = {
          send: async () => {
            throw Object.assign(new Error(`S3 answered ${name}`), {
              name,
              $fault: 'server',
              $metadata: { httpStatusCode: status },
            });
          },
        } as unknown as S3Client;
        const handler = handlerWith(async () => {}, { s3: unavailable });
        const pointer = JSON.stringify([
          'software.amazon.payloadoffloading.PayloadS3Pointer',
          { s3BucketName: CLAIMS_BUCKET, s3Key: 'payloads/mail/large-1' },
        ]);
        // With a good record beside it: a batch whose every record fails is thrown as a whole.
        const event = sqsEvent(
          {
            body: pointer,
            messageAttributes: { ExtendedPayloadSize: { dataType: 'Number', stringValue: '100' } },
          },
          { body: job('fine') },
        );
        const response = await handler(event, lambdaContext());
        expect(response.batchItemFailures).toEqual([{ itemIdentifier: event.Records[0]?.messageId }]);
        expect(await deadLetters()).toEqual([]);
      },
    );

    it('dead-letters a pointer to an object that is gone, naming it, with the pointer as the body', async () => {
      const handler = handlerWith(async () => {}, { s3 });
      const body = JSON.stringify([
        'software.amazon.payloadoffloading.PayloadS3Pointer',
        { s3BucketName: CLAIMS_BUCKET, s3Key: 'payloads/mail/expired' },
      ]);
      const event = sqsEvent({
        body,
        messageAttributes: { ExtendedPayloadSize: { dataType: 'Number', stringValue: '100' } },
      });
      const response = await handler(event, lambdaContext());
      expect(response.batchItemFailures).toEqual([]);
      const [dead] = await deadLetters();
      expect(dead?.Body).toBe(body);
      expect(dead?.MessageAttributes?.['sidestep.error.type']?.StringValue).toBe('ClaimCheckMissingError');
      expect(dead?.MessageAttributes?.['sidestep.error.message']?.StringValue).toContain(
        'payloads/mail/expired',
      );
    });
  });

  it('passes the record, its receive count and the Lambda context to process', async () => {
    const seen: RecordContext[] = [];
    const handler = handlerWith(async (_job: Job, _record: SQSRecord, context: RecordContext) => {
      seen.push(context);
    });
    const context = lambdaContext('request-1');
    const event = sqsEvent({ body: job('ctx'), receiveCount: 3 });

    await handler(event, context);
    expect(seen).toEqual([
      expect.objectContaining({
        messageId: event.Records[0]?.messageId,
        receiveCount: 3,
        lambdaContext: context,
      }),
    ]);
  });

  it('isolates invocations: env and declared state do not leak into the next one', async () => {
    const counter = invocationState(() => 0);
    const observed: { count: number; env: string | undefined }[] = [];
    const handler = handlerWith(
      async () => {
        observed.push({ count: counter.get(), env: process.env.SIDESTEP_TEST_LEAK });
        counter.set(counter.get() + 1);
        process.env.SIDESTEP_TEST_LEAK = 'leaked';
      },
      { state: [counter] },
    );

    await handler(sqsEvent({ body: job('a') }, { body: job('b') }), lambdaContext());
    await handler(sqsEvent({ body: job('c') }), lambdaContext());

    // Within one invocation state carries over between records; across invocations it does not.
    expect(observed).toEqual([
      { count: 0, env: undefined },
      { count: 1, env: 'leaked' },
      { count: 0, env: undefined },
    ]);
    expect(process.env.SIDESTEP_TEST_LEAK).toBeUndefined();
  });

  it('fails at creation, naming DEAD_LETTER_QUEUE_URL, when there is no dead-letter queue', () => {
    const saved = process.env.DEAD_LETTER_QUEUE_URL;
    delete process.env.DEAD_LETTER_QUEUE_URL;
    try {
      expect(() => createSqsHandler({ schema: Job, process: async () => undefined })).toThrow(
        expect.objectContaining({ name: 'ConfigError', field: 'DEAD_LETTER_QUEUE_URL' }),
      );
      expect(() => createSqsHandler({ schema: Job, process: async () => undefined })).toThrow(ConfigError);
    } finally {
      if (saved !== undefined) process.env.DEAD_LETTER_QUEUE_URL = saved;
    }
  });

  it('reads DEAD_LETTER_QUEUE_URL and builds its own logger and metrics by default', async () => {
    // The SQS client sends to the queue URL's host, so the URL names the emulator by address.
    process.env.DEAD_LETTER_QUEUE_URL = `http://127.0.0.1:${server.port}/000000000000/${DLQ_NAME}`;
    // As the local cloud configures a function: the SDK's standard endpoint variable.
    process.env.AWS_ENDPOINT_URL_SQS = `http://127.0.0.1:${server.port}`;
    process.env.AWS_REGION = 'us-east-1';
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    process.env.POWERTOOLS_SERVICE_NAME = 'default-service';
    try {
      const handler = createSqsHandler({ schema: Job, process: async () => undefined });
      await handler(sqsEvent({ body: '[]' }), lambdaContext());
      expect(await deadLetters()).toEqual([expect.objectContaining({ Body: '[]' })]);
      expect(logsOf('deadLettered')).toEqual([expect.objectContaining({ service: 'default-service' })]);
      expect(emf()).toEqual([expect.objectContaining({ service: 'default-service', deadLettered: 1 })]);
      expect(JSON.stringify(emf()[0])).toContain('"Namespace":"sidestep"');
    } finally {
      for (const key of [
        'DEAD_LETTER_QUEUE_URL',
        'AWS_ENDPOINT_URL_SQS',
        'AWS_REGION',
        'AWS_ACCESS_KEY_ID',
        'AWS_SECRET_ACCESS_KEY',
        'POWERTOOLS_SERVICE_NAME',
      ]) {
        delete process.env[key];
      }
    }
  });
});
