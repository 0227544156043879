import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { startAwsEndpoint } from '../src/aws-endpoint.ts';
import { clientsOf, createResources, fillEndpoint, STATE_BUCKET } from './fixtures/state-process/fill.ts';

let dataDir: string;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'local-cloud-state-'));
});

afterEach(async () => {
  jest.restoreAllMocks();
  await rm(dataDir, { recursive: true, force: true });
});

/** The messages received from `queueUrl` until `count` came or `waitSeconds` passed. */
async function receiveAll(
  sqs: SQSClient,
  queueUrl: string,
  count: number,
  waitSeconds: number,
): Promise<Message[]> {
  const messages: Message[] = [];
  const deadline = Date.now() + waitSeconds * 1000;
  while (messages.length < count && Date.now() < deadline) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    messages.push(...Messages);
  }
  return messages;
}

/** Restarts on `dataDir` and checks what {@link fillEndpoint} left is all there. */
async function expectResumed(): Promise<void> {
  const endpoint = await startAwsEndpoint({ port: 0, dataDir });
  const { sqs, s3 } = clientsOf(endpoint);
  try {
    // The start-up creates the same queue and bucket again: accepted, nothing lost.
    const queue = await createResources(endpoint, sqs);
    const ready = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queue.url, MaxNumberOfMessages: 10, VisibilityTimeout: 3600 }),
    );
    expect(ready.Messages?.map((m) => m.Body).sort()).toEqual(['m3', 'm4', 'm5']);
    // The two in flight come back once their 60 s visibility timeout has passed, received once more.
    clockAhead(61_000);
    const reappeared = await receiveAll(sqs, queue.url, 2, 5);
    expect(reappeared.map((m) => m.Body).sort()).toEqual(['m1', 'm2']);
    const dead = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.deadLetter.url }));
    expect(dead.Messages?.map((m) => m.Body)).toEqual(['poison']);
    const object = await s3.send(new GetObjectCommand({ Bucket: STATE_BUCKET, Key: 'imports/a.csv' }));
    expect(await object.Body?.transformToString()).toBe('email\na@x.io\n');
  } finally {
    sqs.destroy();
    s3.destroy();
    await endpoint.stop();
  }
}

describe('startAwsEndpoint with a dataDir', () => {
  it('resumes queued, in-flight and dead-lettered messages and objects after a stop', async () => {
    const endpoint = await startAwsEndpoint({ port: 0, dataDir });
    await fillEndpoint(endpoint);
    await endpoint.stop();
    await expectResumed();
  }, 20_000);

  it('resumes them after the process was killed with SIGKILL', async () => {
    const child = spawn(
      process.execPath,
      [new URL('./fixtures/state-process/fill-endpoint.ts', import.meta.url).pathname, dataDir],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let output = '';
    child.stdout.setEncoding('utf8');
    for await (const chunk of child.stdout) {
      output += chunk;
      if (output.includes('ready')) break;
    }
    expect(output).toContain('ready');
    child.kill('SIGKILL');
    await once(child, 'exit');
    await expectResumed();
  }, 30_000);

  // SQS makes a message visible again at once, keeping its receive count: what `dlq show` relies on
  // to read dead letters without losing them.
  it('makes a received message visible again with visibility 0, keeping its receive count', async () => {
    const endpoint = await startAwsEndpoint({ port: 0, dataDir });
    const { sqs } = clientsOf(endpoint);
    try {
      const queue = await createResources(endpoint, sqs);
      await sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: 'a' }));
      await sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: 'b' }));
      const receiveNow = async () =>
        (
          await sqs.send(
            new ReceiveMessageCommand({
              QueueUrl: queue.url,
              MaxNumberOfMessages: 10,
              MessageSystemAttributeNames: ['ApproximateReceiveCount'],
              VisibilityTimeout: 30,
            }),
          )
        ).Messages ?? [];
      const first = await receiveNow();
      expect(first).toHaveLength(2);
      const [a, b] = first;
      const batch = await sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queue.url,
          Entries: [{ Id: 'a', ReceiptHandle: a?.ReceiptHandle, VisibilityTimeout: 0 }],
        }),
      );
      expect(batch.Failed ?? []).toEqual([]);
      await sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queue.url,
          ReceiptHandle: b?.ReceiptHandle,
          VisibilityTimeout: 0,
        }),
      );
      const again = await receiveNow();
      expect(again.map((message) => message.Body).sort()).toEqual(['a', 'b']);
      expect(again.map((message) => message.Attributes?.ApproximateReceiveCount)).toEqual(['2', '2']);
    } finally {
      sqs.destroy();
      await endpoint.stop();
    }
  });

  it('creates its database with 64 KiB pages, the size objects are written fastest in (fauxqs-stores.ts)', async () => {
    const endpoint = await startAwsEndpoint({ port: 0, dataDir });
    await endpoint.stop();
    const db = new DatabaseSync(join(dataDir, 'fauxqs.db'), { readOnly: true });
    try {
      expect(db.prepare('PRAGMA page_size').get()).toEqual({ page_size: 65536 });
      expect(db.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
    } finally {
      db.close();
    }
  });

  it('refuses a fauxqs.db whose pages are damaged with CorruptStateError naming it, not SQLite\'s "database disk image is malformed"', async () => {
    const endpoint = await startAwsEndpoint({ port: 0, dataDir });
    await endpoint.createBucket(STATE_BUCKET);
    await endpoint.stop();
    // SQLite's 100-byte header kept, every page after it overwritten.
    const file = join(dataDir, 'fauxqs.db');
    const size = (await stat(file)).size;
    const handle = await open(file, 'r+');
    await handle.write(Buffer.alloc(size - 100, 0x5a), 0, size - 100, 100);
    await handle.close();
    await expect(startAwsEndpoint({ port: 0, dataDir })).rejects.toMatchObject({
      name: 'CorruptStateError',
      path: file,
      problem: 'a damaged SQLite database',
    });
  });

  it('keeps nothing without a dataDir', async () => {
    const first = await startAwsEndpoint({ port: 0 });
    await fillEndpoint(first);
    await first.stop();
    const second = await startAwsEndpoint({ port: 0 });
    const { sqs } = clientsOf(second);
    try {
      const queue = await createResources(second, sqs);
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.url }));
      expect(Messages).toEqual([]);
    } finally {
      sqs.destroy();
      await second.stop();
    }
  });
});

const realNow = Date.now;

/**
 * Sets `Date.now`, the clock fauxqs stamps and ages messages by, `ms` ahead of the real one for the
 * rest of the test (restored after each), so a retention of 60 s passes without waiting for it.
 */
function clockAhead(ms: number): void {
  jest.spyOn(Date, 'now').mockImplementation(() => realNow.call(Date) + ms);
}

async function messageCounts(sqs: SQSClient, queueUrl: string): Promise<Record<string, string>> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return Attributes;
}

function persistedBodies(): string[] {
  const db = new DatabaseSync(join(dataDir, 'fauxqs.db'), { readOnly: true });
  try {
    return db
      .prepare('SELECT body FROM sqs_messages ORDER BY body')
      .all()
      .map((row) => String(row.body));
  } finally {
    db.close();
  }
}

/** The queue counts, hands out and stores the message `young` only, none of the expired ones. */
async function expectOnlyYoung(sqs: SQSClient, queueUrl: string): Promise<void> {
  expect(await messageCounts(sqs, queueUrl)).toEqual({
    ApproximateNumberOfMessages: '1',
    ApproximateNumberOfMessagesNotVisible: '0',
  });
  const { Messages = [] } = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }),
  );
  expect(Messages.map((m) => m.Body)).toEqual(['young']);
  expect(persistedBodies()).toEqual(['young']);
}

// SQS deletes a message once it is older than its queue's MessageRetentionPeriod
// (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html);
// fauxqs kept every message until deleted (patches/fauxqs@2.4.1.patch).
describe('SQS message retention', () => {
  it('drops, at a start, the messages older than the retention, in flight or not, and keeps younger ones', async () => {
    let endpoint = await startAwsEndpoint({ port: 0, dataDir });
    let { sqs } = clientsOf(endpoint);
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({ QueueName: 'retained', Attributes: { MessageRetentionPeriod: '60' } }),
    );
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'old-in-flight' }));
    await sqs.send(new ReceiveMessageCommand({ QueueUrl, VisibilityTimeout: 3600 }));
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'old' }));
    await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'young' }));
    sqs.destroy();
    await endpoint.stop();
    // The cloud was down a while: two messages were sent 5 days ago, one 30 s ago.
    const db = new DatabaseSync(join(dataDir, 'fauxqs.db'));
    db.prepare("UPDATE sqs_messages SET sent_timestamp = ? WHERE body LIKE 'old%'").run(
      Date.now() - 5 * 86_400_000,
    );
    db.prepare("UPDATE sqs_messages SET sent_timestamp = ? WHERE body = 'young'").run(Date.now() - 30_000);
    db.close();
    endpoint = await startAwsEndpoint({ port: 0, dataDir });
    ({ sqs } = clientsOf(endpoint));
    try {
      expect(persistedBodies()).toEqual(['young']);
      await expectOnlyYoung(sqs, String(QueueUrl));
    } finally {
      sqs.destroy();
      await endpoint.stop();
    }
  });

  it('expires messages while running, by a retention SetQueueAttributes set, deleting them from the store', async () => {
    const endpoint = await startAwsEndpoint({ port: 0, dataDir });
    const { sqs } = clientsOf(endpoint);
    try {
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'retained' }));
      await sqs.send(
        new SetQueueAttributesCommand({ QueueUrl, Attributes: { MessageRetentionPeriod: '60' } }),
      );
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'old' }));
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'old-in-flight' }));
      await sqs.send(new ReceiveMessageCommand({ QueueUrl, VisibilityTimeout: 3600 }));
      clockAhead(31_000);
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'young' }));
      expect(await messageCounts(sqs, String(QueueUrl))).toEqual({
        ApproximateNumberOfMessages: '2',
        ApproximateNumberOfMessagesNotVisible: '1',
      });
      clockAhead(61_000);
      await expectOnlyYoung(sqs, String(QueueUrl));
    } finally {
      sqs.destroy();
      await endpoint.stop();
    }
  });

  // The retention applies to the messages already queued: the queue must not go on waiting for
  // the expiry their send under the old, longer retention set.
  it('expires at once, on a SetQueueAttributes shortening the retention, the messages now past it', async () => {
    const endpoint = await startAwsEndpoint({ port: 0, dataDir });
    const { sqs } = clientsOf(endpoint);
    try {
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'retained' }));
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'old' }));
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'old-in-flight' }));
      await sqs.send(new ReceiveMessageCommand({ QueueUrl, VisibilityTimeout: 3600 }));
      clockAhead(31_000);
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'young' }));
      clockAhead(61_000);
      // Past 60 s but far within the default 4 days: still counted.
      expect(await messageCounts(sqs, String(QueueUrl))).toEqual({
        ApproximateNumberOfMessages: '2',
        ApproximateNumberOfMessagesNotVisible: '1',
      });
      await sqs.send(
        new SetQueueAttributesCommand({ QueueUrl, Attributes: { MessageRetentionPeriod: '60' } }),
      );
      await expectOnlyYoung(sqs, String(QueueUrl));
    } finally {
      sqs.destroy();
      await endpoint.stop();
    }
  });

  // "For standard queues, the expiration of a message is always based on its original enqueue
  // timestamp. When a message is moved to a dead-letter queue, the enqueue timestamp is unchanged."
  // (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/setting-up-dead-letter-queue-retention.html)
  it("keeps a dead letter's original sent timestamp, so it expires by the DLQ's retention counted from the send", async () => {
    const endpoint = await startAwsEndpoint({ port: 0, dataDir });
    const { sqs } = clientsOf(endpoint);
    try {
      const dlq = await sqs.send(
        new CreateQueueCommand({ QueueName: 'retained-dlq', Attributes: { MessageRetentionPeriod: '120' } }),
      );
      const dlqArn = (
        await sqs.send(
          new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }),
        )
      ).Attributes?.QueueArn;
      const { QueueUrl } = await sqs.send(
        new CreateQueueCommand({
          QueueName: 'retained',
          Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 1 }) },
        }),
      );
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'poison' }));
      const first = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl,
          VisibilityTimeout: 0,
          MessageSystemAttributeNames: ['SentTimestamp'],
        }),
      );
      const sent = first.Messages?.[0]?.Attributes?.SentTimestamp;
      expect(sent).toBeDefined();
      // A minute later the second receive moves it to the DLQ.
      clockAhead(61_000);
      expect((await sqs.send(new ReceiveMessageCommand({ QueueUrl }))).Messages ?? []).toEqual([]);
      const dead = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: dlq.QueueUrl,
          VisibilityTimeout: 0,
          MessageSystemAttributeNames: ['SentTimestamp'],
        }),
      );
      expect(dead.Messages?.map((m) => [m.Body, m.Attributes?.SentTimestamp])).toEqual([['poison', sent]]);
      // 121 s after the send, 60 s after the move: past the DLQ's 120 s counted from the send.
      clockAhead(121_000);
      expect(await messageCounts(sqs, String(dlq.QueueUrl))).toEqual({
        ApproximateNumberOfMessages: '0',
        ApproximateNumberOfMessagesNotVisible: '0',
      });
      expect((await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq.QueueUrl }))).Messages ?? []).toEqual(
        [],
      );
      expect(persistedBodies()).toEqual([]);
    } finally {
      sqs.destroy();
      await endpoint.stop();
    }
  });
});
