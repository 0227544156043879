import type { OpsContext } from '@sidestep/ops';
import { mockClient } from 'aws-sdk-client-mock';

/**
 * Stubs `context`'s SQS client (the console has no SQS dependency of its own), each call told by its
 * input: GetQueueUrl, GetQueueAttributes (one message visible), ReceiveMessage (one message of
 * `body`, receipt handle `r-1`, then none: each listing receives it once and finds the queue empty),
 * DeleteMessage, ChangeMessageVisibilityBatch; and its CloudWatch client, whose GetMetricData has no
 * data (the queues' oldest ages unknown). Answers how many ReceiveMessage calls the console has
 * made so far, and the receipt handles it deleted.
 */
export function stubQueues(
  context: OpsContext,
  message: { readonly body: string; readonly attributes?: Readonly<Record<string, string>> },
): { readonly receives: () => number; readonly deleted: readonly string[] } {
  let receives = 0;
  const deleted: string[] = [];
  mockClient(context.clients.sqs)
    .onAnyCommand()
    .callsFake((input: Record<string, unknown>) => {
      if (typeof input.QueueName === 'string')
        return { QueueUrl: `http://127.0.0.1:4566/000000000000/${input.QueueName}` };
      if (input.AttributeNames) return { Attributes: { ApproximateNumberOfMessages: '1' } };
      if (input.MaxNumberOfMessages) {
        receives += 1;
        if (receives % 2 === 0) return { Messages: [] };
        return {
          Messages: [
            {
              MessageId: 'm-1',
              ReceiptHandle: 'r-1',
              Body: message.body,
              Attributes: message.attributes ?? {},
            },
          ],
        };
      }
      if (typeof input.ReceiptHandle === 'string') {
        deleted.push(input.ReceiptHandle);
        return {};
      }
      return { Successful: [], Failed: [] };
    });
  mockClient(context.clients.cloudWatch).onAnyCommand().resolves({ MetricDataResults: [] });
  return { receives: () => receives, deleted };
}
