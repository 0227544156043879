import { CloudwatchLogGroup } from '@cdktn/provider-aws/lib/cloudwatch-log-group/index.js';
import type { CloudwatchMetricAlarm } from '@cdktn/provider-aws/lib/cloudwatch-metric-alarm/index.js';
import { PipesPipe } from '@cdktn/provider-aws/lib/pipes-pipe/index.js';
import type { SqsQueue } from '@cdktn/provider-aws/lib/sqs-queue/index.js';
import { deadLetterQueueName, resourceName } from '@sidestep/manifest';
import { Construct } from 'constructs';
import { InfraConfigError } from '../errors.ts';
import { createDeadLetterAlarm } from './dead-letter-alarm.ts';
import { createBacklogAlarm, createDeadLetteredQueue } from './dead-lettered-queue.ts';
import { GrantableRole, type PolicyGrantee, statementId } from './grantable-role.ts';
import { IamPropagationWait } from './iam-propagation-wait.ts';
import { RuleSenderPolicy } from './rule-sender-policy.ts';
import type { TriggerTarget } from './s3-trigger.ts';

/** Props of {@link WorkflowQueue}. */
export interface WorkflowQueueProps {
  /** Environment name (`staging`); the queue and the pipe are `sidestep-<env>-<name>`. */
  readonly environment: string;
  /** Queue name without prefix (`export-requests`). */
  readonly name: string;
  /** The workflow every message starts (a Standard state machine). */
  readonly workflow: TriggerTarget;
  /** Account of the pipe; scopes its role's trust policy. */
  readonly accountId: string;
  /** Region of the pipe; scopes its role's trust policy. */
  readonly region: string;
  /**
   * Receives before SQS moves a message to the DLQ. A receive that did not end in a started execution
   * (throttling, a missing permission) is not deleted and comes back after the visibility timeout.
   * @default 5
   */
  readonly maxReceiveCount?: number;
  /**
   * How long a received message stays invisible while the pipe starts the execution.
   * @default 60 (StartExecution takes milliseconds; a minute leaves room for the pipe's own retries)
   */
  readonly visibilityTimeoutSeconds?: number;
  /** How long messages are kept. @default 4 days (SQS's default, not stated), DLQ keeps 14 days */
  readonly messageRetentionSeconds?: number;
  /** Pipe log group settings. @default 30 days retention, CloudWatch-managed encryption */
  readonly logs?: {
    /** @default 30 */
    readonly retentionDays?: number;
    /** @default CloudWatch Logs' own encryption */
    readonly kmsKeyArn?: string;
  };
  /** Alarm settings. @default alarms without actions */
  readonly alarms?: {
    /** SNS topic ARN notified on alarm and on recovery. @default none */
    readonly topicArn?: string;
  };
}

/**
 * A queue whose messages each start a workflow: SQS queue + DLQ (SSE, 1 MiB messages, redrive and
 * redrive-allow), and an EventBridge Pipe that reads one message at a time (batch size 1) and starts the
 * Standard state machine with `FIRE_AND_FORGET` (the only invocation type Standard workflows take) with
 * the batch `[ { messageId, body, ... } ]` as input; the pipe deletes the message once the execution
 * started. No Lambda sits in between. The pipe's role may only consume this queue, start this state
 * machine and write the pipe's own log group; the pipe logs errors (without the message payload, which
 * names a person) into `/aws/pipes/<name>` with retention. Alarms on a non-empty DLQ and on a
 * backlog.
 *
 * A pipe cannot name the execution, so a message delivered twice starts two executions: the workflow
 * itself must be idempotent per message (the export workflow registers the job by the envelope id).
 */
export class WorkflowQueue extends Construct {
  /** The queue. */
  readonly queue: SqsQueue;
  /** The dead-letter queue. */
  readonly deadLetterQueue: SqsQueue;
  /** Queue ARN. */
  readonly queueArn: string;
  /** Queue URL (what producers send to). */
  readonly queueUrl: string;
  /** `sidestep-<env>-<name>`. */
  readonly queueName: string;
  /** Dead-letter queue URL. */
  readonly deadLetterQueueUrl: string;
  /** The pipe from the queue to the workflow. */
  readonly pipe: PipesPipe;
  /** The role the pipe runs with. */
  readonly role: GrantableRole;
  /** `/aws/pipes/sidestep-<env>-<name>`. */
  readonly logGroup: CloudwatchLogGroup;
  /** Alarm on any message in the DLQ. */
  readonly deadLetterAlarm: CloudwatchMetricAlarm;
  /** Alarm on the age of the oldest message. */
  readonly backlogAlarm: CloudwatchMetricAlarm;
  readonly #name: string;
  /** The queue's resource policy: EventBridge rules allowed to send to it. */
  readonly #senderPolicy: RuleSenderPolicy;

  constructor(scope: Construct, id: string, props: WorkflowQueueProps) {
    super(scope, id);
    const { environment, name } = props;
    const field = (path: string) => `${name}-queue.${path}`;
    if (!/^[a-z][a-z0-9-]{1,40}$/.test(name)) throw new InfraConfigError(field('name'), 'must be kebab-case');
    const maxReceiveCount = props.maxReceiveCount ?? 5;
    const visibility = props.visibilityTimeoutSeconds ?? 60;
    if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) {
      throw new InfraConfigError(field('maxReceiveCount'), 'must be an integer between 1 and 1000');
    }
    if (!Number.isInteger(visibility) || visibility < 0 || visibility > 43_200) {
      throw new InfraConfigError(field('visibilityTimeoutSeconds'), 'must be between 0 and 43200');
    }
    this.#name = name;
    this.queueName = resourceName(environment, name);

    ({ queue: this.queue, deadLetterQueue: this.deadLetterQueue } = createDeadLetteredQueue(this, {
      name: this.queueName,
      deadLetterQueueName: deadLetterQueueName(environment, name),
      visibilityTimeoutSeconds: visibility,
      messageRetentionSeconds: props.messageRetentionSeconds,
      maxReceiveCount,
      encryption: { sqsManagedSseEnabled: true },
    }));
    this.queueArn = this.queue.arn;
    this.#senderPolicy = new RuleSenderPolicy(this, 'policy', {
      queue: this.queue,
      queueArn: this.queueArn,
      sid: 'EventBridgeRules',
    });
    this.queueUrl = this.queue.url;
    this.deadLetterQueueUrl = this.deadLetterQueue.url;
    const pipeName = this.queueName;
    // Pipes write their logs with the pipe's role (granted below), so the group is an ordinary one.
    this.logGroup = new CloudwatchLogGroup(this, 'log-group', {
      name: `/aws/pipes/${pipeName}`,
      retentionInDays: props.logs?.retentionDays ?? 30,
      kmsKeyId: props.logs?.kmsKeyArn,
    });
    this.role = new GrantableRole(this, 'role', {
      roleName: `${pipeName}-pipe`,
      assumedBy: 'pipes.amazonaws.com',
      description: `EventBridge Pipe ${pipeName} starts its workflow with this role`,
      // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-permissions.html
      assumeRoleConditions: {
        StringEquals: {
          'aws:SourceAccount': props.accountId,
          'aws:SourceArn': `arn:aws:pipes:${props.region}:${props.accountId}:pipe/${pipeName}`,
        },
      },
    });
    // The SQS source permissions Pipes documents (it polls, reads attributes and deletes what it delivered).
    this.role.addToPolicy({
      sid: statementId('consume', name),
      actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'],
      resources: [this.queueArn],
    });
    props.workflow.grantStartExecution(this.role);
    this.role.addToPolicy({
      sid: 'WritePipeLogs',
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [`${this.logGroup.arn}:log-stream:*`],
    });

    this.pipe = new PipesPipe(this, 'pipe', {
      name: pipeName,
      description: `Starts one workflow execution per message of ${this.queueName}`,
      roleArn: this.role.roleArn,
      source: this.queueArn,
      target: props.workflow.stateMachineArn,
      sourceParameters: {
        // One message per execution: a failed start then returns exactly that message to the queue.
        sqsQueueParameters: { batchSize: 1 },
      },
      targetParameters: {
        // Standard workflows only take FIRE_AND_FORGET (REQUEST_RESPONSE is StartSyncExecution, Express only).
        // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-event-target.html
        stepFunctionStateMachineParameters: { invocationType: 'FIRE_AND_FORGET' },
      },
      logConfiguration: {
        level: 'ERROR',
        cloudwatchLogsLogDestination: { logGroupArn: this.logGroup.arn },
      },
      // CreatePipe checks the role can read the source and reach the target: after the policy, and
      // after IAM has had the time to make it visible to Pipes.
      dependsOn: [
        new IamPropagationWait(this, 'pipe-role-propagation', {
          after: [this.role.policy],
          triggers: { role_policy: this.role.policy.policy },
        }),
      ],
    });

    this.deadLetterAlarm = createDeadLetterAlarm(this, {
      deadLetterQueue: this.deadLetterQueue,
      alarmName: `${deadLetterQueueName(environment, name)}-not-empty`,
      description: `Messages of ${this.queueName} that never started their workflow: inspect and redrive the DLQ`,
      topicArn: props.alarms?.topicArn,
    });
    // By visibility x maxReceiveCount a message was either started or dead-lettered: older is backlog.
    const oldestMessageAge = Math.max(visibility * maxReceiveCount, 300);
    this.backlogAlarm = createBacklogAlarm(this, {
      queue: this.queue,
      alarmName: `${this.queueName}-oldest-message-age`,
      description: `${this.queueName} holds a message older than ${oldestMessageAge} s: the pipe is not starting workflows`,
      thresholdSeconds: oldestMessageAge,
      topicArn: props.alarms?.topicArn,
    });
  }

  /** Lets a producer (a schedule's role, a service) send messages to the queue. */
  grantSendMessages(grantee: PolicyGrantee): void {
    grantee.addToPolicy({
      sid: statementId('send', this.#name),
      actions: ['sqs:SendMessage'],
      resources: [this.queueArn],
    });
  }

  /**
   * Lets the EventBridge rule `ruleArn` send to the queue (a statement of the queue's policy, scoped by
   * `aws:SourceArn`: EventBridge uses no role for SQS targets).
   */
  allowSendFromRule(ruleArn: string): void {
    this.#senderPolicy.allow(ruleArn);
  }
}
