import type { CloudwatchMetricAlarm } from '@cdktn/provider-aws/lib/cloudwatch-metric-alarm/index.js';
import { SchedulerScheduleGroup } from '@cdktn/provider-aws/lib/scheduler-schedule-group/index.js';
import { SqsQueue } from '@cdktn/provider-aws/lib/sqs-queue/index.js';
import { DEAD_LETTER_RETENTION_SECONDS } from '@sidestep/manifest';
import { Construct } from 'constructs';
import { createDeadLetterAlarm } from './dead-letter-alarm.ts';
import { MAX_MESSAGE_SIZE_BYTES } from './dead-lettered-queue.ts';
import { type PolicyGrantee, statementId } from './grantable-role.ts';
import { RuleSenderPolicy } from './rule-sender-policy.ts';

/** Props of {@link ScheduleGroup}. */
export interface ScheduleGroupProps {
  /** Environment name (`staging`); the group is `sidestep-<env>`, its DLQ `sidestep-<env>-schedules-dlq`. */
  readonly environment: string;
  /** SNS topic notified when a firing lands in the dead-letter queue. @default none (console only) */
  readonly alarmTopicArn?: string;
}

/**
 * The EventBridge Scheduler group every sidestep schedule of an environment lives in, and the one
 * dead-letter queue (SSE, alarmed) for firings that could not be delivered after their retries: by the
 * schedules themselves (Scheduler sends with each schedule's role) and by the operator rules that fire
 * them by hand (EventBridge sends with its service principal, allowed per rule in the queue's policy).
 */
export class ScheduleGroup extends Construct {
  /** The schedule group. */
  readonly group: SchedulerScheduleGroup;
  /** `sidestep-<env>` (a literal: schedule ARNs and role conditions name it). */
  readonly groupName: string;
  /** Group ARN. */
  readonly groupArn: string;
  /** Firings not delivered after their retries. */
  readonly deadLetterQueue: SqsQueue;
  /** Dead-letter queue ARN. */
  readonly deadLetterQueueArn: string;
  /** `sidestep-<env>-schedules-dlq` (a literal: the operator policy names it). */
  readonly deadLetterQueueName: string;
  /** Alarm on any firing in the dead-letter queue. */
  readonly deadLetterAlarm: CloudwatchMetricAlarm;
  /** The queue's policy: EventBridge rules that may dead-letter into it. */
  readonly #deadLetterPolicy: RuleSenderPolicy;

  constructor(scope: Construct, id: string, props: ScheduleGroupProps) {
    super(scope, id);
    this.groupName = `sidestep-${props.environment}`;
    this.group = new SchedulerScheduleGroup(this, 'group', { name: this.groupName });
    this.groupArn = this.group.arn;
    const deadLetterName = `${this.groupName}-schedules-dlq`;
    this.deadLetterQueueName = deadLetterName;
    this.deadLetterQueue = new SqsQueue(this, 'dead-letter-queue', {
      name: deadLetterName,
      messageRetentionSeconds: DEAD_LETTER_RETENTION_SECONDS,
      maxMessageSize: MAX_MESSAGE_SIZE_BYTES,
      sqsManagedSseEnabled: true,
    });
    this.deadLetterQueueArn = this.deadLetterQueue.arn;
    this.#deadLetterPolicy = new RuleSenderPolicy(this, 'dead-letter-queue-policy', {
      queue: this.deadLetterQueue,
      queueArn: this.deadLetterQueueArn,
      sid: 'OperatorRuleDeadLetters',
    });
    this.deadLetterAlarm = createDeadLetterAlarm(this, {
      deadLetterQueue: this.deadLetterQueue,
      alarmName: `${deadLetterName}-not-empty`,
      description: `A schedule of ${this.groupName} (or its operator rule) could not reach its target: inspect ${deadLetterName}`,
      topicArn: props.alarmTopicArn,
    });
  }

  /**
   * Lets a schedule's role dead-letter into the queue: Scheduler sends dead-letter events with the
   * schedule's execution role. https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html
   */
  grantDeadLetter(grantee: PolicyGrantee): void {
    grantee.addToPolicy({
      sid: statementId('dead-letter', 'schedules'),
      actions: ['sqs:SendMessage'],
      resources: [this.deadLetterQueueArn],
    });
  }

  /**
   * Lets EventBridge rule `ruleArn` dead-letter into the queue (EventBridge sends to a target's DLQ with
   * its service principal). https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html
   */
  allowDeadLetterFromRule(ruleArn: string): void {
    this.#deadLetterPolicy.allow(ruleArn);
  }
}
