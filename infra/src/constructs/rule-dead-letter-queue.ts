import type { CloudwatchMetricAlarm } from '@cdktn/provider-aws/lib/cloudwatch-metric-alarm/index.js';
import { SqsQueue } from '@cdktn/provider-aws/lib/sqs-queue/index.js';
import { DEAD_LETTER_RETENTION_SECONDS } from '@sidestep/manifest';
import type { Construct } from 'constructs';
import { createDeadLetterAlarm } from './dead-letter-alarm.ts';
import { MAX_MESSAGE_SIZE_BYTES } from './dead-lettered-queue.ts';
import { RuleSenderPolicy } from './rule-sender-policy.ts';

/**
 * The dead-letter queue of one EventBridge rule's target, in `scope` (ids `dead-letter-queue`,
 * `dead-letter-queue-policy`, `dead-letter-alarm`): encrypted, kept 14 days, open to that rule only
 * (EventBridge sends to a target's DLQ with its service principal, scoped by `aws:SourceArn`:
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html), alarmed on its first event.
 */
export function createRuleDeadLetterQueue(
  scope: Construct,
  props: {
    /** `<rule>-dlq`. */
    readonly name: string;
    readonly ruleArn: string;
    /** What an event there means and what to do about it. */
    readonly description: string;
    /** SNS topic notified on alarm and on recovery. @default none */
    readonly topicArn?: string | undefined;
  },
): { readonly queue: SqsQueue; readonly alarm: CloudwatchMetricAlarm } {
  const queue = new SqsQueue(scope, 'dead-letter-queue', {
    name: props.name,
    messageRetentionSeconds: DEAD_LETTER_RETENTION_SECONDS,
    maxMessageSize: MAX_MESSAGE_SIZE_BYTES,
    sqsManagedSseEnabled: true,
  });
  new RuleSenderPolicy(scope, 'dead-letter-queue-policy', {
    queue,
    queueArn: queue.arn,
    sid: 'EventBridgeDeadLetters',
  }).allow(props.ruleArn);
  const alarm = createDeadLetterAlarm(scope, {
    deadLetterQueue: queue,
    alarmName: `${props.name}-not-empty`,
    description: props.description,
    topicArn: props.topicArn,
  });
  return { queue, alarm };
}
