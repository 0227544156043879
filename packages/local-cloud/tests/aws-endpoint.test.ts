import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, ListStateMachinesCommand, SFNClient } from '@aws-sdk/client-sfn';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ListQueuesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type AwsEndpoint, startAwsEndpoint } from '../src/aws-endpoint.ts';
import type { ObjectCreatedEvent } from '../src/object-created-event.ts';
import { localClientConfig } from './fixtures/sqs-endpoint.ts';

let endpoint: AwsEndpoint;
let s3: S3Client;
const events: ObjectCreatedEvent[] = [];

beforeAll(async () => {
  endpoint = await startAwsEndpoint({ port: 0 });
  await endpoint.createBucket('sidestep-local-imports', { eventBridge: true });
  await endpoint.createBucket('sidestep-local-quiet');
  endpoint.onObjectCreated((event) => events.push(event));
  s3 = new S3Client({ ...localClientConfig(endpoint.url), forcePathStyle: true });
});

afterAll(async () => {
  s3?.destroy();
  await endpoint?.stop();
});

/** The event for `key`, once the write's response hook ran (it runs after the response is sent). */
async function eventFor(key: string): Promise<ObjectCreatedEvent> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const found = events.find((event) => event.detail.object.key === key);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no Object Created event for ${key}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('startAwsEndpoint', () => {
  it('raises Object Created for PutObject with the size and the ETag S3 returned', async () => {
    const put = await s3.send(
      new PutObjectCommand({ Bucket: 'sidestep-local-imports', Key: 'imports/a b/ü.csv', Body: 'hello' }),
    );
    const event = await eventFor('imports/a b/ü.csv');
    expect(event.detail).toMatchObject({
      bucket: { name: 'sidestep-local-imports' },
      object: { key: 'imports/a b/ü.csv', size: 5, etag: put.ETag?.replaceAll('"', '') },
      reason: 'PutObject',
      'source-ip-address': '127.0.0.1',
    });
    expect(event.detail['request-id']).not.toBe('');
    expect(event.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  });

  it('takes a PutObject larger than the 11 MiB request limit of fauxqs, as S3 takes up to 5 GiB', async () => {
    const body = Buffer.alloc(12 * 1024 * 1024, 'a');
    await s3.send(
      new PutObjectCommand({ Bucket: 'sidestep-local-imports', Key: 'imports/big.csv', Body: body }),
    );
    expect((await eventFor('imports/big.csv')).detail.object.size).toBe(body.length);
  });

  it('raises Object Created for a key with dot segments, which S3 keeps literally', async () => {
    for (const key of ['imports/../x.csv', 'imports/./y.csv', 'imports//z.csv']) {
      await s3.send(new PutObjectCommand({ Bucket: 'sidestep-local-imports', Key: key, Body: 'hello' }));
      expect((await eventFor(key)).detail.object).toMatchObject({ key, size: 5 });
    }
  });

  it('gives later writes greater sequencers', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'sidestep-local-imports', Key: 'seq', Body: '1' }));
    const first = await eventFor('seq');
    events.length = 0;
    await s3.send(new PutObjectCommand({ Bucket: 'sidestep-local-imports', Key: 'seq', Body: '2' }));
    const second = await eventFor('seq');
    expect(second.detail.object.sequencer > first.detail.object.sequencer).toBe(true);
  });

  it('raises Object Created for CopyObject and CompleteMultipartUpload with their reasons', async () => {
    await s3.send(
      new CopyObjectCommand({
        Bucket: 'sidestep-local-imports',
        Key: 'copied.csv',
        CopySource: 'sidestep-local-imports/seq',
      }),
    );
    expect((await eventFor('copied.csv')).detail.reason).toBe('CopyObject');

    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: 'sidestep-local-imports', Key: 'multi.csv' }),
    );
    const part = await s3.send(
      new UploadPartCommand({
        Bucket: 'sidestep-local-imports',
        Key: 'multi.csv',
        UploadId,
        PartNumber: 1,
        Body: 'a,b\n1,2\n',
      }),
    );
    // No event for the parts: only the completed object exists.
    expect(events.some((event) => event.detail.object.key === 'multi.csv')).toBe(false);
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'sidestep-local-imports',
        Key: 'multi.csv',
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
      }),
    );
    const completed = await eventFor('multi.csv');
    expect(completed.detail.reason).toBe('CompleteMultipartUpload');
    expect(completed.detail.object.size).toBe(8);
  });

  it('raises nothing for a bucket without EventBridge notifications or a failed write', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'sidestep-local-quiet', Key: 'quiet.csv', Body: 'x' }));
    await expect(
      s3.send(new PutObjectCommand({ Bucket: 'sidestep-local-missing', Key: 'lost.csv', Body: 'x' })),
    ).rejects.toThrow();
    // A later write's event arrives after any event these two would have raised.
    await s3.send(new PutObjectCommand({ Bucket: 'sidestep-local-imports', Key: 'marker', Body: 'x' }));
    await eventFor('marker');
    expect(events.map((event) => event.detail.object.key)).not.toContain('quiet.csv');
    expect(events.map((event) => event.detail.object.key)).not.toContain('lost.csv');
  });

  it('answers a JSON API by X-Amz-Target prefix while SQS keeps working', async () => {
    const sfn = new SFNClient({ ...localClientConfig(endpoint.url), maxAttempts: 1 });
    const sqs = new SQSClient(localClientConfig(endpoint.url));
    try {
      endpoint.serveJsonApi('AWSStepFunctions', async (operation) => {
        if (operation !== 'ListStateMachines') {
          throw Object.assign(new Error(`no ${operation}`), { name: 'UnknownOperationException' });
        }
        return {
          stateMachines: [{ name: 'x', stateMachineArn: 'arn:x', type: 'STANDARD', creationDate: 1 }],
        };
      });
      const listed = await sfn.send(new ListStateMachinesCommand({}));
      expect(listed.stateMachines?.[0]?.creationDate).toEqual(new Date(1_000));
      // An error's name travels as the AWS error code.
      await expect(sfn.send(new DescribeExecutionCommand({ executionArn: 'arn:y' }))).rejects.toMatchObject({
        name: 'UnknownOperationException',
        message: 'no DescribeExecution',
        $metadata: { httpStatusCode: 400 },
      });
      expect((await sqs.send(new ListQueuesCommand({}))).$metadata.httpStatusCode).toBe(200);
    } finally {
      sfn.destroy();
      sqs.destroy();
    }
  });

  // GetQueueAttributes counts a message whose visibility timeout passed as available again, and a
  // delayed one whose delay passed as available (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_GetQueueAttributes.html):
  // the counts are the queue's now, not as of its last ReceiveMessage (a DLQ nobody receives from).
  it('answers queue counts as of now, without a ReceiveMessage to bring them up to date', async () => {
    const sqs = new SQSClient(localClientConfig(endpoint.url));
    try {
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'counts-now' }));
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'received' }));
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'delayed', DelaySeconds: 1 }));
      const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl, VisibilityTimeout: 1 }));
      expect(received.Messages?.[0]?.Body).toBe('received');
      const counts = async () =>
        (
          await sqs.send(
            new GetQueueAttributesCommand({
              QueueUrl,
              AttributeNames: [
                'ApproximateNumberOfMessages',
                'ApproximateNumberOfMessagesNotVisible',
                'ApproximateNumberOfMessagesDelayed',
              ],
            }),
          )
        ).Attributes;
      expect(await counts()).toEqual({
        ApproximateNumberOfMessages: '0',
        ApproximateNumberOfMessagesNotVisible: '1',
        ApproximateNumberOfMessagesDelayed: '1',
      });
      await new Promise((resolve) => setTimeout(resolve, 1_300));
      expect(await counts()).toEqual({
        ApproximateNumberOfMessages: '2',
        ApproximateNumberOfMessagesNotVisible: '0',
        ApproximateNumberOfMessagesDelayed: '0',
      });
    } finally {
      sqs.destroy();
    }
  });

  // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_DeleteMessage.html: "you
  // must provide the most recently received ReceiptHandle for the message (otherwise, the request
  // succeeds, but the message will not be deleted)". A consumer that overran its visibility timeout
  // still holds the most recent handle until someone receives the message again: its delete deletes it.
  it('deletes a message with its latest receipt handle after the visibility timeout passed, and not with one another receive replaced', async () => {
    const sqs = new SQSClient(localClientConfig(endpoint.url));
    try {
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'late-delete' }));
      const available = async () =>
        (
          await sqs.send(
            new GetQueueAttributesCommand({
              QueueUrl,
              AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
            }),
          )
        ).Attributes;
      const receive = async (VisibilityTimeout: number) =>
        (await sqs.send(new ReceiveMessageCommand({ QueueUrl, VisibilityTimeout }))).Messages?.[0]
          ?.ReceiptHandle as string;
      const passed = () => new Promise((resolve) => setTimeout(resolve, 1_300));

      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'overran' }));
      const overran = await receive(1);
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'next' }));
      await passed();
      // Another consumer's receive, after the timeout: it gets the next message, not the overran one.
      const next = await sqs.send(new ReceiveMessageCommand({ QueueUrl, VisibilityTimeout: 30 }));
      expect(next.Messages?.map((message) => message.Body)).toEqual(['next']);
      await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: overran }));
      expect(await available()).toEqual({
        ApproximateNumberOfMessages: '0',
        ApproximateNumberOfMessagesNotVisible: '1',
      });
      await sqs.send(
        new DeleteMessageCommand({ QueueUrl, ReceiptHandle: next.Messages?.[0]?.ReceiptHandle as string }),
      );

      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'received again' }));
      const first = await receive(1);
      await passed();
      const second = await receive(30);
      await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: first }));
      expect(await available()).toEqual({
        ApproximateNumberOfMessages: '0',
        ApproximateNumberOfMessagesNotVisible: '1',
      });
      await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: second }));
      expect(await available()).toEqual({
        ApproximateNumberOfMessages: '0',
        ApproximateNumberOfMessagesNotVisible: '0',
      });
    } finally {
      sqs.destroy();
    }
  });
});
