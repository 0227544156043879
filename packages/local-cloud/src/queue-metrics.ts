import type { QueuedMessage } from './aws-endpoint.ts';
import type { MetricName, MetricSample } from './local-cloudwatch.ts';

/**
 * The `AWS/SQS` metric `ApproximateAgeOfOldestMessage` of one queue (dimension `QueueName`), as SQS
 * sends it to CloudWatch each minute: the age in seconds of the queue's oldest message, ready, delayed
 * or in flight, by its `SentTimestamp`; none for an empty queue, an unknown one, another metric or
 * other dimensions. Read from the messages when asked, not kept: one sample, at the start of the
 * current minute (the latest minute's datapoint). `peek` lists a queue's messages without receiving
 * them (fauxqs's inspection: no receive counted, nothing hidden).
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html
 */
export async function queueAgeSamples(
  peek: (queueName: string) => Promise<readonly QueuedMessage[] | undefined>,
  metric: MetricName,
  now: number,
): Promise<MetricSample[]> {
  const queueName = metric.dimensions.QueueName;
  if (
    metric.namespace !== 'AWS/SQS' ||
    metric.metricName !== 'ApproximateAgeOfOldestMessage' ||
    Object.keys(metric.dimensions).length !== 1 ||
    !queueName
  ) {
    return [];
  }
  const sent = ((await peek(queueName)) ?? []).map((message) => message.sentTimestamp);
  if (sent.length === 0) return [];
  return [
    {
      at: Math.floor(now / 60_000) * 60_000,
      value: Math.max(0, Math.round((now - Math.min(...sent)) / 1000)),
    },
  ];
}
