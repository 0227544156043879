import type { CloudwatchMetricAlarm } from '@cdktn/provider-aws/lib/cloudwatch-metric-alarm/index.js';
import type { SqsQueue } from '@cdktn/provider-aws/lib/sqs-queue/index.js';
import type { Construct } from 'constructs';
import { createNonZeroAlarm } from './non-zero-alarm.ts';

/**
 * The alarm every sidestep dead-letter queue gets: it fires as soon as one message is visible.
 * Created in `scope` under the id `dead-letter-alarm` (a function, not a construct, so the
 * Terraform addresses of the queues that always had this alarm do not move).
 */
export function createDeadLetterAlarm(
  scope: Construct,
  props: {
    readonly deadLetterQueue: SqsQueue;
    readonly alarmName: string;
    /** What a message there means and what to do about it. */
    readonly description: string;
    /** SNS topic notified on alarm and on recovery. @default none */
    readonly topicArn?: string | undefined;
  },
): CloudwatchMetricAlarm {
  // SQS stops publishing metrics for a queue idle for hours; an idle DLQ is a healthy DLQ (missing
  // data is not breaching).
  return createNonZeroAlarm(scope, 'dead-letter-alarm', {
    alarmName: props.alarmName,
    description: props.description,
    namespace: 'AWS/SQS',
    metricName: 'ApproximateNumberOfMessagesVisible',
    dimensions: { QueueName: props.deadLetterQueue.name },
    statistic: 'Maximum',
    period: 60,
    topicArn: props.topicArn,
  });
}
