import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import {
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { CollectingReporter, LocalCloud } from '@sidestep/local-cloud';
import { createOpsContext, listDeadLetters } from '@sidestep/ops';
import { LOCAL_SERVICES } from '../src/services.ts';
import { type PathCloud, queueDrained, settle as settleWithin, startPathCloud } from './start-path-cloud.ts';

// The "done when", as a test: the real mail-dispatcher bundle (built by turbo before this
// test) in the local cloud, driven only through the raw AWS SDK with the documented JSON.
let path: PathCloud;
let cloud: LocalCloud;
let collecting: CollectingReporter;
let sqs: SQSClient;
let s3: PathCloud['s3'];

// The mail path runs as on AWS, at a send rate: the sink refuses what SES would throttle, and the
// mail-dispatcher is given the rate as MAIL_MAX_SEND_RATE (SIDESTEP_<ENV>_MAIL_MAX_SEND_RATE on AWS).
// And in the SES sandbox, as a new account's SES is: mail only to the verified domain example.com, and
// 200 recipients in 24 hours, which bound what this file's tests may send in all (under 100 now).
const MAIL_MAX_SEND_RATE = 40;

beforeAll(async () => {
  path = await startPathCloud('mail-path', {
    services: LOCAL_SERVICES,
    mail: { maxSendRate: MAIL_MAX_SEND_RATE, sandboxRecipients: ['example.com'] },
  });
  ({ cloud, collecting, sqs, s3: s3 } = path);
}, 60_000);

afterAll(async () => {
  await path?.stop();
});

function mailJob(id: string, to: string, overrides: Record<string, unknown> = {}) {
  return {
    type: 'mail.send',
    version: 1,
    id,
    payload: {
      template: 'import.completed',
      to,
      params: { jobId: `imp_${id}`, fileName: 'users.csv', rows: 1000 },
      ...overrides,
    },
  };
}

/** The .eml files addressed to `to`. */
function outbox(to: string): string[] {
  return readdirSync(cloud.outboxDir)
    .filter((file) => file.endsWith('.eml'))
    .map((file) => readFileSync(join(cloud.outboxDir, file), 'utf8'))
    .filter((mail) => mail.includes(`To: ${to}`));
}

/** What mail-path waits on is in memory (events, the outbox): checked every 100 ms, for 20 s. */
function settle(predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
  return settleWithin(predicate, timeoutMs, 100);
}

describe('the mail path in the local cloud', () => {
  it('names the queues from the manifest', () => {
    expect(cloud.queueUrl('sidestep-local-mail')).toMatch(/sidestep-local-mail$/);
    expect(cloud.queueUrl('sidestep-local-mail-dlq')).toMatch(/sidestep-local-mail-dlq$/);
  });

  it('turns a mail job sent with the raw SDK into an .eml in the outbox', async () => {
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: cloud.queueUrl('mail'),
        MessageBody: JSON.stringify(mailJob('first', 'first@example.com')),
      }),
    );
    await collecting.waitFor('mail-delivered', (event) => event.to.includes('first@example.com'), 20_000);
    const [mail] = outbox('first@example.com');
    expect(mail).toContain('Subject: Import finished: users.csv');
    expect(mail).toMatch(/1,000 rows were imported/);
  }, 30_000);

  it('sends one mail for the same message delivered twice', async () => {
    const body = JSON.stringify(mailJob('twice', 'twice@example.com'));
    await sqs.send(new SendMessageCommand({ QueueUrl: cloud.queueUrl('mail'), MessageBody: body }));
    // The copy comes once the first is done, as a redelivery does: sent, its record completed and the
    // message deleted (the sink has the mail a moment before the dispatcher completes its record). A
    // copy that came while the key was still in progress would, as on AWS, come back only after the
    // queue's visibility timeout (minutes): the next test's batch covers copies handled together.
    await collecting.waitFor('mail-delivered', (event) => event.to.includes('twice@example.com'), 20_000);
    await queueDrained(sqs, cloud.queueUrl('mail'));
    await sqs.send(new SendMessageCommand({ QueueUrl: cloud.queueUrl('mail'), MessageBody: body }));
    // Both deliveries are processed (deleted from the queue) before we count.
    await settle(
      () =>
        collecting.ofType('message-received').filter((event) => event.jobId === 'twice').length >= 2 &&
        collecting.ofType('invocation').length > 0 &&
        outbox('twice@example.com').length >= 1,
    );
    // Nothing left to deliver (a second copy still queued would be counted once it lands).
    await queueDrained(sqs, cloud.queueUrl('mail'));
    expect(outbox('twice@example.com')).toHaveLength(1);
  }, 30_000);

  it('sends each key once for a batch with a duplicate key inside, delivered twice', async () => {
    // Ten jobs in one batch, the last with the first one's key and mail; then the same batch again.
    const jobs = Array.from({ length: 9 }, (_, index) =>
      mailJob(`batch-${index}`, `batch-${index}@example.com`, { idempotencyKey: `batch-key-${index}` }),
    );
    const duplicate = { ...jobs[0], id: 'batch-dup' } as (typeof jobs)[number];
    const entries = [...jobs, duplicate].map((job, index) => ({
      Id: String(index),
      MessageBody: JSON.stringify(job),
    }));
    for (let round = 0; round < 2; round++) {
      const { Failed = [] } = await sqs.send(
        new SendMessageBatchCommand({ QueueUrl: cloud.queueUrl('mail'), Entries: entries }),
      );
      expect(Failed).toEqual([]);
    }
    const ids = new Set([...jobs.map((job) => job.id), 'batch-dup']);
    await settle(
      () =>
        collecting.ofType('message-received').filter((event) => ids.has(event.jobId ?? '')).length >= 20 &&
        jobs.every((job) => outbox(job.payload.to).length >= 1),
      30_000,
    );
    // The in-batch duplicate is retried after its visibility timeout ("already in progress"), so the
    // queue does not drain soon: give a wrong second mail the time to arrive instead.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    for (const job of jobs) expect(outbox(job.payload.to)).toHaveLength(1);
    // Nothing was refused as a reused key or an unknown outcome (both name the key).
    const refused = collecting
      .ofType('dead-lettered')
      .filter((event) => event.errorMessage?.includes('batch-key'));
    expect(refused).toEqual([]);
  }, 45_000);

  // SES throttles a sender above the account's maximum send rate
  // (https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-errors.html). Unpaced, the
  // dispatcher's sandboxes send a batch's ten mails at once each, and a burst this size is refused
  // by the sink in dozens.
  it('sends a burst within the send rate it is given: none throttled, each mail once', async () => {
    const throttledBefore = cloud.mail.throttled;
    const burst = Array.from({ length: 2 * MAIL_MAX_SEND_RATE }, (_, index) =>
      mailJob(`burst-${index}`, `burst-${index}@example.com`),
    );
    const started = Date.now();
    for (let from = 0; from < burst.length; from += 10) {
      const { Failed = [] } = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: cloud.queueUrl('mail'),
          Entries: burst
            .slice(from, from + 10)
            .map((job, index) => ({ Id: String(index), MessageBody: JSON.stringify(job) })),
        }),
      );
      expect(Failed).toEqual([]);
    }
    await settle(() => burst.every((job) => outbox(job.payload.to).length >= 1), 60_000);
    const elapsedMs = Date.now() - started;
    expect(cloud.mail.throttled - throttledBefore).toBe(0);
    for (const job of burst) expect(outbox(job.payload.to)).toHaveLength(1);
    // Paced: the burst took at least its count over the rate, less the sink's second of burst.
    expect(elapsedMs).toBeGreaterThanOrEqual(
      ((burst.length - MAIL_MAX_SEND_RATE) / MAIL_MAX_SEND_RATE) * 1_000 * 0.9,
    );
  }, 75_000);

  it('dead-letters invalid messages with their reason while their batch-mates are delivered', async () => {
    const invalidTemplate = mailJob('bad-template', 'bad@example.com', { template: 'welcome' });
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: cloud.queueUrl('mail'),
        Entries: [
          { Id: 'a', MessageBody: JSON.stringify(mailJob('mate-a', 'mate-a@example.com')) },
          { Id: 'b', MessageBody: '{not json' },
          { Id: 'c', MessageBody: JSON.stringify(invalidTemplate) },
          { Id: 'd', MessageBody: JSON.stringify(mailJob('mate-d', 'mate-d@example.com')) },
        ],
      }),
    );
    await settle(
      () => outbox('mate-a@example.com').length === 1 && outbox('mate-d@example.com').length === 1,
    );
    await settle(() => collecting.ofType('dead-lettered').length >= 2);

    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: cloud.queueUrl('sidestep-local-mail-dlq'),
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ['All'],
      }),
    );
    const byBody = new Map(Messages.map((message) => [message.Body, message.MessageAttributes ?? {}]));
    const notJson = byBody.get('{not json');
    expect(notJson?.['sidestep.error.type']?.StringValue).toBe('InvalidJsonError');
    const badTemplate = byBody.get(JSON.stringify(invalidTemplate));
    expect(badTemplate?.['sidestep.error.type']?.StringValue).toBe('SchemaViolationError');
    expect(badTemplate?.['sidestep.error.message']?.StringValue).toContain('payload.template');
    expect(outbox('bad@example.com')).toHaveLength(0);
  }, 40_000);

  // A new account's SES refuses a recipient it has not verified: "554 Message rejected: Email address
  // is not verified" (https://repost.aws/knowledge-center/ses-554-400-message-rejected-error). The
  // mail-dispatcher dead-letters the mail at once, with the reason and without the address.
  it('dead-letters a mail the SES sandbox refuses, with why, and sends the others', async () => {
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: cloud.queueUrl('mail'),
        Entries: [
          { Id: 'v', MessageBody: JSON.stringify(mailJob('sandbox-verified', 'verified@example.com')) },
          { Id: 'u', MessageBody: JSON.stringify(mailJob('sandbox-unverified', 'jane@unverified.test')) },
        ],
      }),
    );
    await settle(() => outbox('verified@example.com').length === 1);
    const rejected = await collecting.waitFor('mail-rejected', undefined, 20_000);
    expect(rejected.unverified).toEqual(['jane@unverified.test']);
    const dead = await collecting.waitFor(
      'dead-lettered',
      (event) => event.errorMessage?.includes('Email address is not verified') === true,
      20_000,
    );
    expect(dead).toMatchObject({ cause: 'runtime', errorType: expect.any(String) });
    expect(dead.errorMessage).not.toContain('jane@unverified.test');
    expect(outbox('jane@unverified.test')).toHaveLength(0);
  }, 40_000);

  it('dead-letters a ~1 MiB poison body as a claim-check pointer with its reason, which dlq show lists', async () => {
    // Fits SQS alone (1 MiB), but not with the reason attributes beside it.
    const job = mailJob('poison-huge', 'not-an-address', { pad: '' });
    const bare = JSON.stringify(job);
    const body = bare.replace('"pad":""', `"pad":"${'x'.repeat(1_048_576 - bare.length - 16)}"`);
    await sqs.send(new SendMessageCommand({ QueueUrl: cloud.queueUrl('mail'), MessageBody: body }));
    const dead = await collecting.waitFor(
      'dead-lettered',
      (event) =>
        event.errorType === 'SchemaViolationError' &&
        event.cause === 'runtime' &&
        !!event.errorMessage?.includes('payload.to'),
      30_000,
    );
    expect(dead.queue).toBe('sidestep-local-mail-dlq');

    const context = createOpsContext({
      environment: 'local',
      endpoint: cloud.endpoint,
      env: { AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_REGION: 'us-east-1' },
    });
    const listed = (await listDeadLetters(context, 'mail')).find((letter) =>
      letter.body.includes('PayloadS3Pointer'),
    );
    expect(listed?.errorType).toBe('SchemaViolationError');
    expect(listed?.errorMessage).toContain('payload.to');
    const [, pointer] = JSON.parse(listed?.body ?? '[]') as [string, { s3BucketName: string; s3Key: string }];
    expect(pointer.s3BucketName).toBe('sidestep-local-claims');
    expect(pointer.s3Key).toMatch(/^dead-letters\/sidestep-local-mail\//);
    const stored = await s3.send(new GetObjectCommand({ Bucket: pointer.s3BucketName, Key: pointer.s3Key }));
    expect(await stored.Body?.transformToString()).toBe(body);
  }, 45_000);
});
