import { CloudwatchMetricAlarm } from '@cdktn/provider-aws/lib/cloudwatch-metric-alarm/index.js';
import { SqsQueue, type SqsQueueConfig } from '@cdktn/provider-aws/lib/sqs-queue/index.js';
import { SqsQueueRedriveAllowPolicy } from '@cdktn/provider-aws/lib/sqs-queue-redrive-allow-policy/index.js';
import { DEAD_LETTER_RETENTION_SECONDS, DEFAULT_MESSAGE_RETENTION_SECONDS } from '@sidestep/manifest';
import type { Construct } from 'constructs';

/** SQS's maximum message size since 2025 (1 MiB); stated so producers and the queue agree. */
export const MAX_MESSAGE_SIZE_BYTES = 1_048_576;

/**
 * A queue and its dead-letter queue as every sidestep queue has them: the same encryption on both,
 * 1 MiB messages, the queue's retention stated, the DLQ kept 14 days, a redrive policy, and a redrive-allow policy so only this queue
 * may dead-letter into the DLQ. Created in `scope` under the ids `dead-letter-queue`, `queue` and
 * `redrive-allow-policy` (functions, not a construct, so the Terraform addresses of the existing
 * queues do not move).
 */
export function createDeadLetteredQueue(
  scope: Construct,
  props: {
    readonly name: string;
    readonly deadLetterQueueName: string;
    readonly visibilityTimeoutSeconds: number;
    /**
     * @default SQS's default (4 days), stated: the claim-check bucket's lifetime is derived from it
     */
    readonly messageRetentionSeconds?: number | undefined;
    readonly maxReceiveCount: number;
    /** SqsQueue encryption arguments, set on both queues. */
    readonly encryption: Pick<
      SqsQueueConfig,
      'sqsManagedSseEnabled' | 'kmsMasterKeyId' | 'kmsDataKeyReusePeriodSeconds'
    >;
  },
): { readonly queue: SqsQueue; readonly deadLetterQueue: SqsQueue } {
  const deadLetterQueue = new SqsQueue(scope, 'dead-letter-queue', {
    name: props.deadLetterQueueName,
    messageRetentionSeconds: DEAD_LETTER_RETENTION_SECONDS,
    maxMessageSize: MAX_MESSAGE_SIZE_BYTES,
    ...props.encryption,
  });
  const queue = new SqsQueue(scope, 'queue', {
    name: props.name,
    visibilityTimeoutSeconds: props.visibilityTimeoutSeconds,
    messageRetentionSeconds: props.messageRetentionSeconds ?? DEFAULT_MESSAGE_RETENTION_SECONDS,
    maxMessageSize: MAX_MESSAGE_SIZE_BYTES,
    redrivePolicy: JSON.stringify({
      deadLetterTargetArn: deadLetterQueue.arn,
      maxReceiveCount: props.maxReceiveCount,
    }),
    ...props.encryption,
  });
  // A separate resource, not the DLQ's `redrive_allow_policy` argument: the DLQ would then reference
  // the queue that references it, a cycle.
  new SqsQueueRedriveAllowPolicy(scope, 'redrive-allow-policy', {
    queueUrl: deadLetterQueue.url,
    redriveAllowPolicy: JSON.stringify({ redrivePermission: 'byQueue', sourceQueueArns: [queue.arn] }),
  });
  return { queue, deadLetterQueue };
}

/**
 * The backlog alarm of a sidestep queue: it fires when the oldest message is `thresholdSeconds` old.
 * Created in `scope` under the id `backlog-alarm`.
 */
export function createBacklogAlarm(
  scope: Construct,
  props: {
    readonly queue: SqsQueue;
    readonly alarmName: string;
    /** What the backlog means. */
    readonly description: string;
    readonly thresholdSeconds: number;
    /** SNS topic notified on alarm and on recovery. @default none */
    readonly topicArn?: string | undefined;
  },
): CloudwatchMetricAlarm {
  const actions = props.topicArn ? [props.topicArn] : undefined;
  return new CloudwatchMetricAlarm(scope, 'backlog-alarm', {
    alarmName: props.alarmName,
    alarmDescription: props.description,
    namespace: 'AWS/SQS',
    metricName: 'ApproximateAgeOfOldestMessage',
    dimensions: { QueueName: props.queue.name },
    statistic: 'Maximum',
    period: 300,
    evaluationPeriods: 1,
    threshold: props.thresholdSeconds,
    comparisonOperator: 'GreaterThanOrEqualToThreshold',
    treatMissingData: 'notBreaching',
    alarmActions: actions,
    okActions: actions,
  });
}
