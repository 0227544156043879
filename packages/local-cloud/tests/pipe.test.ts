import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from '@jest/globals';
import { createCollectingReporter } from '../src/collecting-reporter.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from '../src/local-names.ts';
import { createPipeSourceQueue, startPipe } from '../src/pipe.ts';
import { useSqsEndpoint } from './fixtures/sqs-endpoint.ts';

// The pipe alone against the SQS endpoint: what happens to a message whose target does not start.

const local = useSqsEndpoint();

describe('startPipe', () => {
  it('keeps a message whose execution did not start; SQS redrives it to the DLQ after maxReceiveCount', async () => {
    const scope = { environment: 'local', region: LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID };
    const queue = await createPipeSourceQueue(
      local.sqs,
      { name: 'flaky-requests', visibilityTimeoutSeconds: 1, maxReceiveCount: 2 },
      scope,
    );
    const report = createCollectingReporter();
    const attempts: string[] = [];
    const pipe = startPipe({
      name: 'flaky-pipe',
      sqs: local.sqs,
      queue: { url: queue.url, arn: queue.arn, region: LOCAL_REGION },
      start: async (input) => {
        attempts.push(input);
        throw new Error('StateMachineDoesNotExist');
      },
      reporter: report.reporter,
      waitTimeSeconds: 1,
    });
    const { MessageId } = await local.sqs.send(
      new SendMessageCommand({ QueueUrl: queue.url, MessageBody: '{"id":"r-1"}' }),
    );

    const deadline = Date.now() + 15_000;
    let dead = await local.endpoint.peek(queue.deadLetter.name);
    while ((dead?.length ?? 0) === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      dead = await local.endpoint.peek(queue.deadLetter.name);
    }
    await pipe.stop();

    expect(dead?.map((message) => message.messageId)).toEqual([MessageId]);
    expect(attempts).toHaveLength(2);
    const [first, second] = attempts.map(
      (input) => JSON.parse(input) as { attributes: Record<string, string> }[],
    );
    expect([
      first?.[0]?.attributes.ApproximateReceiveCount,
      second?.[0]?.attributes.ApproximateReceiveCount,
    ]).toEqual(['1', '2']);
    expect(report.events.filter((event) => event.type === 'pipe-delivered')).toEqual([]);
    expect(report.events).toContainEqual(
      expect.objectContaining({
        type: 'error',
        source: 'pipe flaky-pipe',
        message: 'StateMachineDoesNotExist',
      }),
    );
  }, 20_000);
});
