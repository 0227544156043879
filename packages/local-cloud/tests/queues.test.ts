import {
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { describe, expect, it } from '@jest/globals';
import { sampleService } from '@sidestep/manifest/testing';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from '../src/local-names.ts';
import { createJobQueue, MissingQueueError } from '../src/queues.ts';
import { useSqsEndpoint } from './fixtures/sqs-endpoint.ts';

const manifest = sampleService;
const scope = { environment: 'local', region: LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID };

const local = useSqsEndpoint();

async function attributes(url: string): Promise<Record<string, string>> {
  const output = await local.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }),
  );
  return output.Attributes ?? {};
}

describe('createJobQueue', () => {
  it('creates sidestep-<env>-<queue> and its DLQ with the attributes infra sets', async () => {
    const queue = await createJobQueue(local.sqs, manifest, scope);
    expect(queue).toEqual({
      name: 'sidestep-local-mail',
      url: `${local.endpoint.url}/000000000000/sidestep-local-mail`,
      arn: 'arn:aws:sqs:us-east-1:000000000000:sidestep-local-mail',
      deadLetter: {
        name: 'sidestep-local-mail-dlq',
        url: `${local.endpoint.url}/000000000000/sidestep-local-mail-dlq`,
        arn: 'arn:aws:sqs:us-east-1:000000000000:sidestep-local-mail-dlq',
      },
    });
    const source = await attributes(queue.url);
    // SQS's default retention, stated as infra states it.
    expect(source).toMatchObject({
      VisibilityTimeout: '180',
      MaximumMessageSize: '1048576',
      MessageRetentionPeriod: '345600',
    });
    expect(JSON.parse(source.RedrivePolicy ?? '{}')).toEqual({
      deadLetterTargetArn: queue.deadLetter.arn,
      maxReceiveCount: 5,
    });
    const dlq = await attributes(queue.deadLetter.url);
    expect(dlq).toMatchObject({ MessageRetentionPeriod: '1209600', MaximumMessageSize: '1048576' });
    expect(JSON.parse(dlq.RedriveAllowPolicy ?? '{}')).toEqual({
      redrivePermission: 'byQueue',
      sourceQueueArns: [queue.arn],
    });
  });

  it('is idempotent', async () => {
    const first = await createJobQueue(local.sqs, manifest, scope);
    const second = await createJobQueue(local.sqs, manifest, scope);
    expect(second).toEqual(first);
  });

  it('refuses a manifest without a queue, naming the field', async () => {
    const { queue: _queue, ...withoutQueue } = manifest;
    await expect(createJobQueue(local.sqs, withoutQueue, scope)).rejects.toThrow(MissingQueueError);
    await expect(createJobQueue(local.sqs, withoutQueue, scope)).rejects.toMatchObject({ field: 'queue' });
  });
});

describe('startAwsEndpoint', () => {
  it('hands out queue URLs on its own host and port, which an SDK client without endpoint can use', async () => {
    await createJobQueue(local.sqs, manifest, scope);
    const { QueueUrl } = await local.sqs.send(new GetQueueUrlCommand({ QueueName: 'sidestep-local-mail' }));
    expect(QueueUrl).toBe(local.endpoint.queueUrl('sidestep-local-mail'));
    // No endpoint configured: the SDK sends to the queue URL's host, which must resolve.
    const quiet = {
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: () => undefined,
    };
    const plain = new SQSClient({
      region: LOCAL_REGION,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      logger: quiet, // it warns that the queue URL's host differs from the AWS endpoint: that is the point
    });
    try {
      const sent = await plain.send(new SendMessageCommand({ QueueUrl, MessageBody: 'via queue url' }));
      expect(sent.MessageId).toBeDefined();
    } finally {
      plain.destroy();
    }
    const queued = await local.endpoint.peek('sidestep-local-mail');
    expect(queued?.map((message) => message.body)).toContain('via queue url');
  });

  it('listens on loopback only', () => {
    expect(local.endpoint.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('peeks undefined for an unknown queue', async () => {
    expect(await local.endpoint.peek('no-such-queue')).toBeUndefined();
  });
});
