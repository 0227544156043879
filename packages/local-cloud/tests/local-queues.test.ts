import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetQueueAttributesCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { startAwsEndpoint } from '../src/aws-endpoint.ts';
import { createCollectingReporter } from '../src/collecting-reporter.ts';
import type { LocalPipe, LocalService } from '../src/local-definitions.ts';
import { createLocalQueues } from '../src/local-queues.ts';
import { echoService, fixtureDir } from './fixtures/manifests.ts';
import { localClientConfig, messagesIn } from './fixtures/sqs-endpoint.ts';

let dataDir: string;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'local-queues-state-'));
});

afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

const service = (queue: Parameters<typeof echoService>[0]): LocalService => ({
  manifest: echoService(queue),
  bundleDir: fixtureDir('echo-service'),
});
const pipe = (source: LocalPipe['source']): LocalPipe => ({ source, workflow: 'export' });

/** One start of the local cloud's queues on `dataDir`, as `npm start` makes them, with `run` on them. */
async function start<T>(
  services: readonly LocalService[],
  pipes: readonly LocalPipe[],
  run: (
    sqs: SQSClient,
    queues: Awaited<ReturnType<typeof createLocalQueues>>,
    report: ReturnType<typeof createCollectingReporter>,
  ) => Promise<T>,
): Promise<T> {
  const endpoint = await startAwsEndpoint({ port: 0, dataDir });
  const sqs = new SQSClient(localClientConfig(endpoint.url));
  try {
    const report = createCollectingReporter();
    const queues = await createLocalQueues(sqs, services, pipes, report.reporter);
    return await run(sqs, queues, report);
  } finally {
    sqs.destroy();
    await endpoint.stop();
  }
}

async function attributesOf(sqs: SQSClient, url: string): Promise<Record<string, string>> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }),
  );
  return Attributes;
}

// On AWS a release's `terraform apply` changes a queue's VisibilityTimeout, RedrivePolicy or
// MessageRetentionPeriod in place (SetQueueAttributes), keeping its messages; CreateQueue of the
// existing name with other attributes is refused with QueueNameExists
// (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html).
describe('createLocalQueues on a kept state directory', () => {
  it('applies a release’s changed queue attributes in place with SetQueueAttributes (API_SetQueueAttributes), keeping the messages, and reports what changed', async () => {
    await start(
      [service({ maxReceiveCount: 5, visibilityTimeoutSeconds: 30 })],
      [pipe({ name: 'echo-requests', visibilityTimeoutSeconds: 30, maxReceiveCount: 5 })],
      async (sqs, queues) => {
        const queue = queues.byService.get('echo-service');
        if (!queue) throw new Error('no echo queue');
        await sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: 'kept' }));
        await sqs.send(
          new SendMessageCommand({ QueueUrl: queues.queueUrl('echo-requests'), MessageBody: 'kept too' }),
        );
      },
    );

    await start(
      [service({ maxReceiveCount: 3, visibilityTimeoutSeconds: 60, messageRetentionSeconds: 7 * 86_400 })],
      [
        pipe({
          name: 'echo-requests',
          visibilityTimeoutSeconds: 45,
          maxReceiveCount: 2,
          messageRetentionSeconds: 86_400,
        }),
      ],
      async (sqs, queues, report) => {
        const queue = queues.byService.get('echo-service');
        const source = queues.pipes[0]?.queue;
        if (!queue || !source) throw new Error('no echo queues');
        const attributes = await attributesOf(sqs, queue.url);
        expect(attributes).toMatchObject({ VisibilityTimeout: '60', MessageRetentionPeriod: '604800' });
        expect(JSON.parse(attributes.RedrivePolicy ?? '{}')).toEqual({
          deadLetterTargetArn: queue.deadLetter.arn,
          maxReceiveCount: 3,
        });
        const sourceAttributes = await attributesOf(sqs, source.url);
        expect(sourceAttributes).toMatchObject({ VisibilityTimeout: '45', MessageRetentionPeriod: '86400' });
        expect(JSON.parse(sourceAttributes.RedrivePolicy ?? '{}')).toMatchObject({ maxReceiveCount: 2 });
        expect(await messagesIn(sqs, queue.url)).toBe(1);
        expect(await messagesIn(sqs, source.url)).toBe(1);

        const reported = report.ofType('queue-created');
        expect(reported.find((event) => event.queue === 'sidestep-local-echo')?.updated).toEqual([
          { attribute: 'VisibilityTimeout', from: '30', to: '60' },
          {
            attribute: 'RedrivePolicy',
            from: JSON.stringify({ deadLetterTargetArn: queue.deadLetter.arn, maxReceiveCount: 5 }),
            to: JSON.stringify({ deadLetterTargetArn: queue.deadLetter.arn, maxReceiveCount: 3 }),
          },
          { attribute: 'MessageRetentionPeriod', from: '345600', to: '604800' },
        ]);
        expect(
          reported
            .find((event) => event.queue === 'sidestep-local-echo-requests')
            ?.updated?.map((change) => change.attribute),
        ).toEqual(['VisibilityTimeout', 'RedrivePolicy', 'MessageRetentionPeriod']);
        // The DLQs did not change: nothing to report for them.
        expect(reported.filter((event) => event.queue.endsWith('-dlq') && event.updated)).toEqual([]);
      },
    );
  }, 30_000);

  it('reports no update when a restart finds the queues as the manifests declare them', async () => {
    const services = [service({})];
    await start(services, [], async () => undefined);
    const updated = await start(services, [], async (_sqs, _queues, report) =>
      report.ofType('queue-created').filter((event) => event.updated),
    );
    expect(updated).toEqual([]);
  }, 30_000);
});
