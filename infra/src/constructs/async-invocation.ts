import type { CloudwatchMetricAlarm } from '@cdktn/provider-aws/lib/cloudwatch-metric-alarm/index.js';
import type { IamRolePolicy } from '@cdktn/provider-aws/lib/iam-role-policy/index.js';
import type { LambdaFunction } from '@cdktn/provider-aws/lib/lambda-function/index.js';
import { LambdaFunctionEventInvokeConfig } from '@cdktn/provider-aws/lib/lambda-function-event-invoke-config/index.js';
import { SqsQueue } from '@cdktn/provider-aws/lib/sqs-queue/index.js';
import { asyncFailureQueueName, DEAD_LETTER_RETENTION_SECONDS } from '@sidestep/manifest';
import { Construct } from 'constructs';
import { createDeadLetterAlarm } from './dead-letter-alarm.ts';
import { MAX_MESSAGE_SIZE_BYTES } from './dead-lettered-queue.ts';
import type { PolicyGrantee } from './grantable-role.ts';

/** Lambda's most retries of an asynchronous invocation whose function returned an error. */
export const MAX_ASYNC_RETRY_ATTEMPTS = 2;
/** Lambda's longest stay of an event in a function's asynchronous queue (6 hours). */
export const MAX_ASYNC_EVENT_AGE_SECONDS = 21_600;

/** What {@link AsyncInvocation} needs of a function: the resource, its service name, its role's grants. */
export interface AsyncTarget extends PolicyGrantee {
  readonly function: LambdaFunction;
  readonly manifest: { readonly name: string };
  readonly functionName: string;
  readonly role: { readonly policy: IamRolePolicy };
}

/** Props of {@link AsyncInvocation}. */
export interface AsyncInvocationProps {
  /** Environment name (`staging`). */
  readonly environment: string;
  /** The function EventBridge rules or Scheduler invoke (a `ServiceFunction`). */
  readonly function: AsyncTarget;
  /** SNS topic notified when an invocation lands in the failure queue. @default none (console only) */
  readonly alarmTopicArn?: string | undefined;
}

/**
 * What Lambda does with a function's asynchronous invocations (an EventBridge rule or a Scheduler
 * schedule targeting a function invokes it asynchronously): the target's own retry policy and
 * dead-letter queue cover only handing the event to Lambda. Once Lambda accepted it, a function error
 * is retried by Lambda alone, twice (one minute, then two minutes later), and then the event is
 * discarded unless the function has an on-failure destination
 * (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html).
 *
 * So the function gets its asynchronous invocation config: the most retries Lambda allows, the
 * longest event age, and an on-failure destination, `<function>-async-failures` (SSE, 14 days,
 * alarmed). Lambda sends it the invocation record: the event as `requestPayload`, and the error as
 * `responsePayload` (`errorType`, `errorMessage`), so what failed and why arrive together
 * (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html). Lambda sends
 * with the function's execution role, which is granted `sqs:SendMessage` on the queue; Lambda checks
 * that permission when the config is created, hence the dependency on the role's policy.
 */
export class AsyncInvocation extends Construct {
  readonly config: LambdaFunctionEventInvokeConfig;
  /** Invocation records of the events that failed every attempt. */
  readonly failureQueue: SqsQueue;
  /** Alarm on any record in the failure queue. */
  readonly failureAlarm: CloudwatchMetricAlarm;

  constructor(scope: Construct, id: string, props: AsyncInvocationProps) {
    super(scope, id);
    const fn = props.function;
    const queueName = asyncFailureQueueName(props.environment, fn.manifest.name);
    this.failureQueue = new SqsQueue(this, 'failure-queue', {
      name: queueName,
      messageRetentionSeconds: DEAD_LETTER_RETENTION_SECONDS,
      maxMessageSize: MAX_MESSAGE_SIZE_BYTES,
      sqsManagedSseEnabled: true,
    });
    fn.addToPolicy({
      sid: 'AsyncInvocationFailures',
      actions: ['sqs:SendMessage'],
      resources: [this.failureQueue.arn],
    });
    this.failureAlarm = createDeadLetterAlarm(this, {
      deadLetterQueue: this.failureQueue,
      alarmName: `${queueName}-not-empty`,
      description: `An event ${fn.functionName} failed on every attempt (its error is in the record): inspect ${queueName}`,
      topicArn: props.alarmTopicArn,
    });
    this.config = new LambdaFunctionEventInvokeConfig(this, 'config', {
      functionName: fn.function.functionName,
      maximumRetryAttempts: MAX_ASYNC_RETRY_ATTEMPTS,
      maximumEventAgeInSeconds: MAX_ASYNC_EVENT_AGE_SECONDS,
      destinationConfig: { onFailure: { destination: this.failureQueue.arn } },
      dependsOn: [fn.role.policy],
    });
  }
}
