import { CloudwatchEventRule } from '@cdktn/provider-aws/lib/cloudwatch-event-rule/index.js';
import { CloudwatchEventTarget } from '@cdktn/provider-aws/lib/cloudwatch-event-target/index.js';
import type { CloudwatchMetricAlarm } from '@cdktn/provider-aws/lib/cloudwatch-metric-alarm/index.js';
import { LambdaPermission } from '@cdktn/provider-aws/lib/lambda-permission/index.js';
import type { SqsQueue } from '@cdktn/provider-aws/lib/sqs-queue/index.js';
import { resourceName } from '@sidestep/manifest';
import { EVENTBRIDGE_DEFAULT_RETRY_POLICY } from '@sidestep/workflows';
import { Construct } from 'constructs';
import { statementId } from './grantable-role.ts';
import { createRuleDeadLetterQueue } from './rule-dead-letter-queue.ts';
import type { ServiceFunction } from './service-function.ts';

/** Props of {@link WorkflowEndedRule}. */
export interface WorkflowEndedRuleProps {
  /** Environment name (`staging`); the rule is `sidestep-<env>-<name>`. */
  readonly environment: string;
  /** The rule's name without prefix (`executionStatusRule(...).name` of @sidestep/workflows). */
  readonly name: string;
  /**
   * The event pattern (`executionStatusRule(stateMachineArns).eventPattern`): the job workflows'
   * "Execution Status Change" events of executions that ended ABORTED, TIMED_OUT or FAILED.
   */
  readonly eventPattern: object;
  /** The function invoked with each matching event (the job-sweeper). */
  readonly target: ServiceFunction;
  /**
   * How long and how often EventBridge retries handing the event to Lambda (throttling, a missing
   * permission) before it goes to the dead-letter queue; the most EventBridge allows. A function error
   * is not EventBridge's to retry: Lambda retries it, then keeps it in the function's own failure queue
   * (`invokedAsynchronously` of {@link ServiceFunction}, which the stack sets up for this target).
   * @default 24 hours, 185 attempts
   */
  readonly retry?: { readonly maximumEventAgeSeconds?: number; readonly maximumRetryAttempts?: number };
  /** SNS topic notified when an event lands in the dead-letter queue. @default none (console only) */
  readonly alarmTopicArn?: string;
}

/**
 * The rule that hands the job workflows' ended executions to the job-sweeper: Step Functions sends
 * every Standard execution's status change to the default bus
 * (https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html); an execution
 * that was stopped (StopExecution by an operator or a deploy) or timed out runs no Catch, so its job
 * would stay `running` until its deadline and nobody would be mailed. The sweeper fails the job with
 * the execution's reason and mails once.
 *
 * EventBridge invokes the function asynchronously with its service principal (a resource policy
 * scoped to this rule, not a role); it retries handing the event over, then dead-letters into an
 * alarmed, encrypted queue. Once Lambda accepted the event, EventBridge is done with it
 * (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-retry-policy.html): the sweeper's
 * own errors (its database unreachable) are retried by Lambda and then kept in the function's
 * `-async-failures` queue, which the stack gives every function invoked asynchronously.
 */
export class WorkflowEndedRule extends Construct {
  readonly rule: CloudwatchEventRule;
  readonly target: CloudwatchEventTarget;
  /** Events EventBridge could not hand to Lambda after its retries. */
  readonly deadLetterQueue: SqsQueue;
  /** The dead-letter queue's name, `<rule>-dlq` (a literal: the operator policy names it). */
  readonly deadLetterQueueName: string;
  /** Alarm on any event in the dead-letter queue. */
  readonly deadLetterAlarm: CloudwatchMetricAlarm;

  constructor(scope: Construct, id: string, props: WorkflowEndedRuleProps) {
    super(scope, id);
    const ruleName = resourceName(props.environment, props.name);
    const functionName = props.target.manifest.name;
    this.rule = new CloudwatchEventRule(this, 'rule', {
      name: ruleName,
      description: `Sends the job workflows' stopped, timed-out and failed executions to ${functionName}`,
      eventPattern: JSON.stringify(props.eventPattern),
    });
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-lambda-permissions
    const permission = new LambdaPermission(this, 'permission', {
      statementId: statementId('rule', props.name),
      action: 'lambda:InvokeFunction',
      functionName: props.target.function.functionName,
      principal: 'events.amazonaws.com',
      sourceArn: this.rule.arn,
    });

    const deadLetterName = `${ruleName}-dlq`;
    this.deadLetterQueueName = deadLetterName;
    ({ queue: this.deadLetterQueue, alarm: this.deadLetterAlarm } = createRuleDeadLetterQueue(this, {
      name: deadLetterName,
      ruleArn: this.rule.arn,
      description: `An ended workflow execution whose job ${functionName} could not fail: inspect ${deadLetterName}`,
      topicArn: props.alarmTopicArn,
    }));

    this.target = new CloudwatchEventTarget(this, 'target', {
      rule: this.rule.name,
      arn: props.target.functionArn,
      retryPolicy: {
        maximumEventAgeInSeconds:
          props.retry?.maximumEventAgeSeconds ?? EVENTBRIDGE_DEFAULT_RETRY_POLICY.maximumEventAgeSeconds,
        maximumRetryAttempts:
          props.retry?.maximumRetryAttempts ?? EVENTBRIDGE_DEFAULT_RETRY_POLICY.maximumRetryAttempts,
      },
      deadLetterConfig: { arn: this.deadLetterQueue.arn },
      dependsOn: [permission],
    });
  }
}
