import type { QueuedMessage } from './aws-endpoint.ts';
import type { MetricName, MetricSample } from './local-cloudwatch.ts';

/**
 * The `AWS/SQS` metric `ApproximateAgeOfOldestMessage` of one queue (dimension `QueueName`), as SQS
 * sends it to CloudWatch each minute: the age in seconds of the queue's oldest message, ready, delayed
 * or in flight, by its `SentTimestamp`; none for an empty queue, an unknown one, another metric or
 * other dimensions. Read from the messages when asked, not kept: one sample, at the start of the
 * current minute (the latest minute's datapoint), or of the last minute before `to` (the request's
 * EndTime, which a caller's clock may put before this one's minute). `peek` lists a queue's messages
 * without receiving them (fauxqs's inspection: no receive counted, nothing hidden).
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html
 */
export async function queueAgeSamples(
  peek: (queueName: string) => Promise<readonly QueuedMessage[] | undefined>,
  metric: MetricName,
  now: number,
  to: number,
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
  // Not Math.min(...sent): a spread of a long queue overflows the stack.
  let oldest = Number.POSITIVE_INFINITY;
  for (const message of (await peek(queueName)) ?? []) {
    if (Number.isFinite(message.sentTimestamp)) oldest = Math.min(oldest, message.sentTimestamp);
  }
  if (oldest === Number.POSITIVE_INFINITY) return [];
  const minute = (at: number) => Math.floor(at / 60_000) * 60_000;
  return [
    { at: Math.min(minute(now), minute(to - 1)), value: Math.max(0, Math.round((now - oldest) / 1000)) },
  ];
}
