import { CloudwatchEventRule } from '@cdktn/provider-aws/lib/cloudwatch-event-rule/index.js';
import { CloudwatchEventTarget } from '@cdktn/provider-aws/lib/cloudwatch-event-target/index.js';
import { CloudwatchLogGroup } from '@cdktn/provider-aws/lib/cloudwatch-log-group/index.js';
import { CloudwatchLogResourcePolicy } from '@cdktn/provider-aws/lib/cloudwatch-log-resource-policy/index.js';
import type { CloudwatchMetricAlarm } from '@cdktn/provider-aws/lib/cloudwatch-metric-alarm/index.js';
import { Sesv2ConfigurationSetEventDestination } from '@cdktn/provider-aws/lib/sesv2-configuration-set-event-destination/index.js';
import type { SqsQueue } from '@cdktn/provider-aws/lib/sqs-queue/index.js';
import { mailEventLogGroupName, resourceName } from '@sidestep/manifest';
import { Construct } from 'constructs';
import { InfraConfigError } from '../errors.ts';
import { policyDocument } from './grantable-role.ts';
import { createRuleDeadLetterQueue } from './rule-dead-letter-queue.ts';

/** Props of {@link MailEventLog}. */
export interface MailEventLogProps {
  /** Environment name (`staging`): the rule is `sidestep-<env>-mail-events`. */
  readonly environment: string;
  readonly region: string;
  readonly accountId: string;
  /** The configuration set (`sidestep-<env>-mail`) whose events are kept, as a literal. */
  readonly configurationSetName: string;
  /** Its name as a reference, so the destination is created after the set. @default configurationSetName */
  readonly configurationSetReference?: string;
  /**
   * The least time the records must be kept: a mail's idempotency record lifetime
   * (`idempotencyRecordSeconds` of the mail queue, 19 days with SQS's default retention). The log
   * group keeps them the smallest retention CloudWatch Logs accepts that covers it.
   */
  readonly keepAtLeastSeconds: number;
  /** SNS topic notified when a record could not be written and waits in the dead-letter queue. @default none */
  readonly alarmTopicArn?: string;
}

/** The event types kept: every outcome of a send SES reports (not opens, clicks or subscriptions). */
export const MAIL_EVENT_TYPES = [
  'SEND',
  'REJECT',
  'DELIVERY',
  'BOUNCE',
  'COMPLAINT',
  'DELIVERY_DELAY',
  'RENDERING_FAILURE',
] as const;

/**
 * The retentions CloudWatch Logs accepts:
 * https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html
 */
export const CLOUDWATCH_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const DAY_SECONDS = 24 * 60 * 60;

/**
 * The smallest retention CloudWatch Logs accepts that keeps a record `seconds` long.
 * @throws InfraConfigError: longer than CloudWatch keeps anything but forever
 */
export function retentionDaysCovering(seconds: number, field: string): number {
  const days = Math.ceil(seconds / DAY_SECONDS);
  const found = CLOUDWATCH_RETENTION_DAYS.find((allowed) => allowed >= days);
  if (found === undefined) {
    throw new InfraConfigError(field, `${days} days is longer than any retention CloudWatch Logs accepts`);
  }
  return found;
}

/**
 * SES's event records of the mails sent through the configuration set, kept where an operator can
 * search them: the set publishes every send outcome (SEND, DELIVERY, BOUNCE, ...) to the default
 * EventBridge bus, the only bus SES publishes to
 * (https://docs.aws.amazon.com/ses/latest/dg/event-publishing-add-event-destination-eventbridge.html);
 * a rule on that bus matching SES events of this set only (`detail.mail.tags["ses:configuration-set"]`,
 * the tag SES adds to every record of a set: https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html)
 * writes them to the log group `/aws/events/sidestep-<env>-mail-events`, through the account's
 * CloudWatch Logs resource policy that lets EventBridge write to that group only, on behalf of that
 * rule of this account only
 * (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-cloudwatchlogs-permissions).
 * SES's CloudWatch destination publishes metrics only, no records, so there is no shorter path.
 *
 * Each record carries the mail's headers (`mail.headers`, `headersTruncated` when SES cut them),
 * among them `X-Sidestep-Idempotency-Key`: when the mail-dispatcher could not tell whether SES took a
 * mail (DeliveryOutcomeUnknownError), a SEND record with its key means SES accepted it, and its record
 * must not be released. The group keeps them at least as long as a sent mail's record lives (a record
 * whose outcome is unknown is renewed by each copy of its message, and can outlive them: the README
 * says what an operator does then).
 */
export class MailEventLog extends Construct {
  readonly destination: Sesv2ConfigurationSetEventDestination;
  readonly rule: CloudwatchEventRule;
  readonly logGroup: CloudwatchLogGroup;
  /** `/aws/events/sidestep-<env>-mail-events` (a literal: the operator policy and the README name it). */
  readonly logGroupName: string;
  readonly retentionDays: number;
  /** Records EventBridge could not write to the log group after its retries (`<rule>-dlq`). */
  readonly deadLetterQueue: SqsQueue;
  /** Its name, `sidestep-<env>-mail-events-dlq` (a literal: the operator policy names it). */
  readonly deadLetterQueueName: string;
  /** Alarm on any record in the dead-letter queue. */
  readonly deadLetterAlarm: CloudwatchMetricAlarm;

  constructor(scope: Construct, id: string, props: MailEventLogProps) {
    super(scope, id);
    const name = resourceName(props.environment, 'mail-events');
    this.logGroupName = mailEventLogGroupName(props.environment);
    this.deadLetterQueueName = `${name}-dlq`;
    this.retentionDays = retentionDaysCovering(props.keepAtLeastSeconds, `${props.environment}.mail.events`);
    this.destination = new Sesv2ConfigurationSetEventDestination(this, 'destination', {
      configurationSetName: props.configurationSetReference ?? props.configurationSetName,
      eventDestinationName: 'mail-events',
      eventDestination: {
        enabled: true,
        matchingEventTypes: [...MAIL_EVENT_TYPES],
        eventBridgeDestination: {
          eventBusArn: `arn:aws:events:${props.region}:${props.accountId}:event-bus/default`,
        },
      },
    });
    this.logGroup = new CloudwatchLogGroup(this, 'log-group', {
      name: this.logGroupName,
      retentionInDays: this.retentionDays,
    });
    // On the default bus: the one SES publishes to.
    this.rule = new CloudwatchEventRule(this, 'rule', {
      name,
      description: `Keeps SES's event records of the mails of ${props.configurationSetName} in ${this.logGroupName}`,
      eventPattern: JSON.stringify({
        source: ['aws.ses'],
        detail: { mail: { tags: { 'ses:configuration-set': [props.configurationSetName] } } },
      }),
    });
    // EventBridge writes to CloudWatch Logs through a resource policy, never a role; the policy is the
    // account's (by name), so it names this group's streams alone. A record is written on behalf of
    // this rule of this account only (confused deputy prevention: CloudWatch Logs evaluates
    // aws:SourceArn and aws:SourceAccount, https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutResourcePolicy.html;
    // ArnEquals on the exact ARN, as EventBridge's own SQS and API Gateway statements). CreateLogStream
    // is left unconditioned, as in AWS's EventBridge-to-CloudWatch-Logs sample, which moved the rule's
    // condition to PutLogEvents alone because the stream's creation did not match it
    // (aws-samples/serverless-patterns#618); an empty stream holds no record. The rule's ARN is a
    // reference: the rule depends on neither this policy nor the target, so there is no cycle.
    const policy = new CloudwatchLogResourcePolicy(this, 'resource-policy', {
      policyName: name,
      policyDocument: JSON.stringify(
        policyDocument([
          {
            sid: 'EventBridgeCreatesMailEventStreams',
            principal: { Service: 'events.amazonaws.com' },
            actions: ['logs:CreateLogStream'],
            resources: [`${this.logGroup.arn}:*`],
          },
          {
            sid: 'EventBridgeWritesMailEvents',
            principal: { Service: 'events.amazonaws.com' },
            actions: ['logs:PutLogEvents'],
            resources: [`${this.logGroup.arn}:*`],
            conditions: {
              ArnEquals: { 'aws:SourceArn': this.rule.arn },
              StringEquals: { 'aws:SourceAccount': props.accountId },
            },
          },
        ]),
      ),
    });
    // A record EventBridge could not write (the resource policy missing) is kept, not dropped: the
    // operator's check would miss it. https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html
    ({ queue: this.deadLetterQueue, alarm: this.deadLetterAlarm } = createRuleDeadLetterQueue(this, {
      name: this.deadLetterQueueName,
      ruleArn: this.rule.arn,
      description: `An SES event record of a mail that ${this.logGroupName} did not get: a search for a mail's idempotency key there may miss it; read ${name}-dlq before releasing a mail`,
      topicArn: props.alarmTopicArn,
    }));
    new CloudwatchEventTarget(this, 'target', {
      rule: this.rule.name,
      arn: this.logGroup.arn,
      retryPolicy: { maximumEventAgeInSeconds: 86_400, maximumRetryAttempts: 185 },
      deadLetterConfig: { arn: this.deadLetterQueue.arn },
      dependsOn: [policy],
    });
  }
}
