import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { startAwsEndpoint } from '../src/aws-endpoint.ts';
import { clientsOf, createResources, fillEndpoint, STATE_BUCKET } from './fixtures/state-process/fill.ts';

let dataDir: string;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'local-cloud-state-'));
});

afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

async function receiveAll(sqs: SQSClient, queueUrl: string, waitSeconds: number): Promise<Message[]> {
  const messages: Message[] = [];
  const deadline = Date.now() + waitSeconds * 1000;
  while (Date.now() < deadline) {
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
      new ReceiveMessageCommand({ QueueUrl: queue.url, MaxNumberOfMessages: 10, VisibilityTimeout: 30 }),
    );
    expect(ready.Messages?.map((m) => m.Body).sort()).toEqual(['m3', 'm4', 'm5']);
    // The two in flight come back once their 2 s visibility timeout has passed, received once more.
    const reappeared = await receiveAll(sqs, queue.url, 4);
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
