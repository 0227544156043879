import { CloudwatchEventRule } from '@cdktn/provider-aws/lib/cloudwatch-event-rule/index.js';
import { CloudwatchEventTarget } from '@cdktn/provider-aws/lib/cloudwatch-event-target/index.js';
import type { CloudwatchMetricAlarm } from '@cdktn/provider-aws/lib/cloudwatch-metric-alarm/index.js';
import type { S3Bucket } from '@cdktn/provider-aws/lib/s3-bucket/index.js';
import { S3BucketNotification } from '@cdktn/provider-aws/lib/s3-bucket-notification/index.js';
import { SqsQueue } from '@cdktn/provider-aws/lib/sqs-queue/index.js';
import { SqsQueuePolicy } from '@cdktn/provider-aws/lib/sqs-queue-policy/index.js';
import { DEAD_LETTER_RETENTION_SECONDS, resourceName } from '@sidestep/manifest';
import { S3_TRIGGER_RETRY_POLICY } from '@sidestep/workflows';
import { Construct } from 'constructs';
import { InfraConfigError } from '../errors.ts';
import { createDeadLetterAlarm } from './dead-letter-alarm.ts';
import { MAX_MESSAGE_SIZE_BYTES } from './dead-lettered-queue.ts';
import { GrantableRole, type PolicyGrantee, type PolicyStatement, statementId } from './grantable-role.ts';
import type { PermissionTarget } from './manifest-permissions.ts';
import { createPrivateBucket } from './private-bucket.ts';

/** What an {@link S3Trigger} starts: a state machine that can let a role start executions. */
export interface TriggerTarget {
  /** State machine ARN (the EventBridge target). */
  readonly stateMachineArn: string;
  /** Lets a grantee call `states:StartExecution` on exactly this state machine. */
  grantStartExecution(grantee: PolicyGrantee): void;
}

/** Props of {@link S3Trigger}. */
export interface S3TriggerProps {
  /** Environment name (`staging`); the rule is `sidestep-<env>-<name>-trigger`. */
  readonly environment: string;
  /** What the trigger is for (`import`): names the rule, its role and its dead-letter queue. */
  readonly name: string;
  /**
   * The bucket uploads land in, e.g. `sidestep-staging-imports-123456789012`
   * (`importTrigger(env, { bucketSuffix }).bucketName`).
   */
  readonly bucketName: string;
  /**
   * The EventBridge event pattern of the rule (`importTrigger(env).eventPattern`): S3 "Object Created"
   * events of this bucket, filtered by key.
   */
  readonly eventPattern: object;
  /**
   * The key prefix the trigger reacts to; readers of the bucket are granted objects under it only.
   * Must be the prefix the event pattern filters on.
   */
  readonly objectKeyPrefix: string;
  /**
   * Object lifecycle. @default uploads expire after 30 days, and a replaced or deleted version 30
   * days after it stopped being current
   */
  readonly lifecycle?: {
    /** Days an upload is kept; imports read it within minutes. @default 30 */
    readonly expirationDays?: number;
    /**
     * Days a replaced or deleted version is kept (versioning is on). An import reads the exact
     * version its upload event named, and so do its retries: `job retry`, and a Step Functions
     * redrive, allowed up to 14 days after the execution ended
     * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html).
     * A nightly file to the same key makes the day before's version noncurrent, so a shorter
     * lifetime than a current version's would delete what a retry needs; the read then fails
     * with `SourceVersionMissingError`.
     * @default expirationDays
     */
    readonly noncurrentVersionExpirationDays?: number;
  };
  /**
   * How long and how often EventBridge retries starting the workflow (throttling, a missing
   * permission) before the event goes to the dead-letter queue.
   * @default 1 hour, 20 attempts
   */
  readonly retry?: {
    /** @default 3600 */
    readonly maximumEventAgeSeconds?: number;
    /** @default 20 */
    readonly maximumRetryAttempts?: number;
  };
  /** SNS topic notified when an event lands in the dead-letter queue. @default none (console only) */
  readonly alarmTopicArn?: string;
}

/**
 * A bucket whose uploads start a workflow: S3 sends every object event to EventBridge, a rule matches
 * the ones the workflow is for and starts it with the event as input, through a role that may only
 * start that state machine. Events EventBridge could not deliver go to a dead-letter queue (alarmed),
 * not into the void.
 *
 * The bucket: public access blocked (all four settings), encrypted (SSE-S3), TLS-only, versioned (a
 * re-upload under the same key is a new version, so a new import, and the version id names it), with a
 * lifecycle that expires uploads and old versions.
 *
 * Targets are added with {@link S3Trigger.addTarget} because the workflow needs the bucket first (its
 * Fargate task reads from it); synth fails if none was added.
 */
export class S3Trigger extends Construct {
  /** The bucket. */
  readonly bucket: S3Bucket;
  /** Bucket name (a literal: it is in the event pattern). */
  readonly bucketName: string;
  /** Bucket ARN. */
  readonly bucketArn: string;
  /** The EventBridge rule. */
  readonly rule: CloudwatchEventRule;
  /** The role EventBridge assumes to start the targets. */
  readonly role: GrantableRole;
  /** Events EventBridge could not deliver to a target, after its retries. */
  readonly deadLetterQueue: SqsQueue;
  /** The dead-letter queue's name, `<rule>-dlq` (a literal: the operator policy names it). */
  readonly deadLetterQueueName: string;
  /** Alarm on any event in the dead-letter queue. */
  readonly deadLetterAlarm: CloudwatchMetricAlarm;
  /** The key prefix readers are granted. */
  readonly objectKeyPrefix: string;
  /** What the trigger is for (`import`). */
  readonly #name: string;
  readonly #retry: { readonly maximumEventAgeSeconds: number; readonly maximumRetryAttempts: number };
  #targets = 0;

  constructor(scope: Construct, id: string, props: S3TriggerProps) {
    super(scope, id);
    const { environment, name, bucketName } = props;
    const field = (path: string) => `${name}-trigger.${path}`;
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucketName)) {
      throw new InfraConfigError(field('bucketName'), `"${bucketName}" is not an S3 bucket name`);
    }
    // The pattern names the bucket literally; a pattern for another bucket would never fire.
    if (!JSON.stringify(props.eventPattern).includes(JSON.stringify(bucketName))) {
      throw new InfraConfigError(field('eventPattern'), `does not name the bucket ${bucketName}`);
    }
    if (!props.objectKeyPrefix.endsWith('/') || props.objectKeyPrefix.startsWith('/')) {
      throw new InfraConfigError(field('objectKeyPrefix'), 'must be a folder such as "imports/"');
    }
    if (!JSON.stringify(props.eventPattern).includes(props.objectKeyPrefix)) {
      throw new InfraConfigError(
        field('objectKeyPrefix'),
        `the event pattern does not filter on ${props.objectKeyPrefix}`,
      );
    }
    const expirationDays = props.lifecycle?.expirationDays ?? 30;
    const noncurrentDays = props.lifecycle?.noncurrentVersionExpirationDays ?? expirationDays;
    for (const [key, days] of [
      ['lifecycle.expirationDays', expirationDays],
      ['lifecycle.noncurrentVersionExpirationDays', noncurrentDays],
    ] as const) {
      if (!Number.isInteger(days) || days < 1) throw new InfraConfigError(field(key), 'must be at least 1');
    }
    this.#retry = {
      maximumEventAgeSeconds:
        props.retry?.maximumEventAgeSeconds ?? S3_TRIGGER_RETRY_POLICY.maximumEventAgeSeconds,
      maximumRetryAttempts: props.retry?.maximumRetryAttempts ?? S3_TRIGGER_RETRY_POLICY.maximumRetryAttempts,
    };
    // EventBridge's limits for a target's retry policy.
    if (this.#retry.maximumEventAgeSeconds < 60 || this.#retry.maximumEventAgeSeconds > 86_400) {
      throw new InfraConfigError(field('retry.maximumEventAgeSeconds'), 'must be between 60 and 86400');
    }
    if (this.#retry.maximumRetryAttempts < 0 || this.#retry.maximumRetryAttempts > 185) {
      throw new InfraConfigError(field('retry.maximumRetryAttempts'), 'must be between 0 and 185');
    }
    this.objectKeyPrefix = props.objectKeyPrefix;
    this.bucketName = bucketName;
    this.#name = name;

    // Uploads are customer data: never deleted together with the stack (createPrivateBucket).
    this.bucket = createPrivateBucket(this, {
      bucketName,
      lifecycleRules: [
        {
          id: 'expire-uploads',
          status: 'Enabled',
          filter: [{}],
          expiration: [{ days: expirationDays }],
          noncurrentVersionExpiration: [{ noncurrentDays }],
          abortIncompleteMultipartUpload: [{ daysAfterInitiation: 1 }],
        },
      ],
    });
    this.bucketArn = this.bucket.arn;
    // S3 sends every event of the bucket to the default event bus; rules pick what they need.
    // https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventBridge.html
    new S3BucketNotification(this, 'notification', { bucket: this.bucket.id, eventbridge: true });

    const ruleName = `${resourceName(environment, name)}-trigger`;
    this.rule = new CloudwatchEventRule(this, 'rule', {
      name: ruleName,
      description: `Starts the ${name} workflow for uploads to ${bucketName}/${props.objectKeyPrefix}`,
      eventPattern: JSON.stringify(props.eventPattern),
    });
    this.role = new GrantableRole(this, 'role', {
      roleName: ruleName,
      assumedBy: 'events.amazonaws.com',
      description: `Lets EventBridge rule ${ruleName} start its workflow`,
      // Only on behalf of this rule: for rule targets, EventBridge sets aws:SourceArn to the rule's ARN,
      // which names the account too.
      // https://docs.aws.amazon.com/eventbridge/latest/userguide/cross-service-confused-deputy-prevention.html
      assumeRoleConditions: { StringEquals: { 'aws:SourceArn': this.rule.arn } },
    });

    this.deadLetterQueueName = `${ruleName}-dlq`;
    this.deadLetterQueue = new SqsQueue(this, 'dead-letter-queue', {
      name: this.deadLetterQueueName,
      messageRetentionSeconds: DEAD_LETTER_RETENTION_SECONDS,
      maxMessageSize: MAX_MESSAGE_SIZE_BYTES,
      sqsManagedSseEnabled: true,
    });
    // EventBridge sends to a target's DLQ with its service principal, not the target role.
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html
    new SqsQueuePolicy(this, 'dead-letter-queue-policy', {
      queueUrl: this.deadLetterQueue.url,
      policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'EventBridgeDeadLetters',
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Action: 'sqs:SendMessage',
            Resource: this.deadLetterQueue.arn,
            Condition: { ArnEquals: { 'aws:SourceArn': this.rule.arn } },
          },
        ],
      }),
    });
    this.deadLetterAlarm = createDeadLetterAlarm(this, {
      deadLetterQueue: this.deadLetterQueue,
      alarmName: `${ruleName}-dlq-not-empty`,
      description: `Uploads to ${bucketName} that did not start the ${name} workflow: inspect ${ruleName}-dlq`,
      topicArn: props.alarmTopicArn,
    });
    this.node.addValidation({
      validate: () => (this.#targets > 0 ? [] : [`${field('targets')}: the rule starts nothing (addTarget)`]),
    });
  }

  /**
   * Starts `target` for every matching upload, with the S3 event as the execution input, retried per
   * the trigger's retry policy and dead-lettered after it.
   */
  addTarget(target: TriggerTarget): void {
    this.#targets += 1;
    target.grantStartExecution(this.role);
    new CloudwatchEventTarget(this, `target-${this.#targets}`, {
      rule: this.rule.name,
      arn: target.stateMachineArn,
      roleArn: this.role.roleArn,
      retryPolicy: {
        maximumEventAgeInSeconds: this.#retry.maximumEventAgeSeconds,
        maximumRetryAttempts: this.#retry.maximumRetryAttempts,
      },
      deadLetterConfig: { arn: this.deadLetterQueue.arn },
      // EventBridge checks the role's permission when the first event arrives, not at create time;
      // depending on the policy keeps the first upload from racing it.
      dependsOn: [this.role.policy],
    });
  }

  /**
   * What a manifest's `imports-bucket` permission resolves to: objects under the prefix, S3 actions
   * only, `s3:ListBucket` on the bucket (see {@link grantRead}), and `IMPORTS_BUCKET` naming the
   * bucket.
   */
  get permissionTarget(): PermissionTarget {
    return {
      resourceArns: [`${this.bucket.arn}/${this.objectKeyPrefix}*`],
      servicePrefixes: ['s3'],
      bucketActions: { actions: ['s3:ListBucket'], statement: this.listStatement },
      environment: { IMPORTS_BUCKET: this.bucket.bucket },
    };
  }

  /**
   * Lets a grantee read uploads (and their versions) under the prefix, and list the bucket: a reader
   * of a version that is gone (expired by the lifecycle, deleted) learns `NoSuchVersion` only with
   * `s3:ListBucket`, 403 AccessDenied without it, as for a missing key
   * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, "Permissions"), and a job
   * must say its upload is gone, not that its reader was refused. No `s3:prefix` condition (S3 does
   * not document that key in this check, see ExportsBucket.listStatement): listing shows the names of
   * the bucket's objects outside the prefix too, where there are any, not their contents.
   */
  grantRead(grantee: PolicyGrantee): void {
    grantee.addToPolicy({
      // Named after the trigger, not the bucket: the bucket's name ends with the account id.
      sid: statementId('read', this.#name, 'uploads'),
      actions: ['s3:GetObject', 's3:GetObjectVersion'],
      resources: [...this.permissionTarget.resourceArns],
    });
    grantee.addToPolicy({
      sid: statementId('list', this.#name, 'uploads'),
      actions: ['s3:ListBucket'],
      ...this.listStatement,
    });
  }

  /** `s3:ListBucket`'s statement: the bucket (see {@link grantRead}). */
  get listStatement(): Omit<PolicyStatement, 'sid' | 'actions'> {
    return { resources: [this.bucket.arn] };
  }
}
