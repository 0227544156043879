import type { CloudwatchMetricAlarm } from '@cdktn/provider-aws/lib/cloudwatch-metric-alarm/index.js';
import { LambdaEventSourceMapping } from '@cdktn/provider-aws/lib/lambda-event-source-mapping/index.js';
import type { SqsQueue } from '@cdktn/provider-aws/lib/sqs-queue/index.js';
import {
  deadLetterQueueName,
  RUNTIME_ENVIRONMENT,
  resourceName,
  visibilityTimeoutSeconds,
} from '@sidestep/manifest';
import { Construct } from 'constructs';
import { InfraConfigError } from '../errors.ts';
import type { ClaimCheckBucket } from './claim-check-bucket.ts';
import { createDeadLetterAlarm } from './dead-letter-alarm.ts';
import { createBacklogAlarm, createDeadLetteredQueue } from './dead-lettered-queue.ts';
import { type PolicyGrantee, statementId } from './grantable-role.ts';
import type { ServiceFunction } from './service-function.ts';

/** Props of {@link JobQueue}. */
export interface JobQueueProps {
  /** Environment name (`staging`); the queue is `sidestep-<env>-<queue.name>`. */
  readonly environment: string;
  /** The function that consumes the queue; its manifest's `queue` describes the queue and mapping. */
  readonly consumer: ServiceFunction;
  /**
   * Customer-managed KMS key for both queues; grants then include the key actions SQS needs.
   * @default SQS-managed server-side encryption (SSE-SQS)
   */
  readonly encryption?: {
    /** KMS key ARN (not an alias: grants must name the key). */
    readonly kmsKeyArn: string;
    /** @default 300 (the SQS default, stated because it trades KMS calls for key exposure) */
    readonly dataKeyReusePeriodSeconds?: number;
  };
  /**
   * The claim-check bucket: the consumer may read pointers' bodies and store an oversized dead
   * letter's body there (`CLAIM_CHECK_BUCKET`), so the reason always reaches the DLQ. The bucket
   * keeps bodies as long as this queue's pointers can live (`addPointerQueue`).
   * @default none: a dead letter too large to carry its reason is retried, then moved without it
   */
  readonly claimCheck?: ClaimCheckBucket;
  /** Alarm settings. @default alarms without actions, oldest-message threshold derived from the queue */
  readonly alarms?: {
    /** SNS topic ARN notified on alarm and on recovery. @default none (alarms only show in the console) */
    readonly topicArn?: string;
    /**
     * Age of the oldest message that means the consumer is not keeping up.
     * @default visibility timeout x maxReceiveCount: by then a message was either processed or
     * dead-lettered, so anything older is backlog, not retries.
     */
    readonly oldestMessageAgeSeconds?: number;
  };
}

/**
 * A job queue with its dead-letter queue, wired to its consumer function: SSE on both queues, 1 MiB
 * messages, a visibility timeout of at least 6x the consumer's timeout, a redrive policy with the
 * manifest's maxReceiveCount, a redrive-allow policy so only this queue may dead-letter into the DLQ,
 * an event source mapping that reports partial batch failures, the consumer's exact grants, and alarms
 * on a non-empty DLQ and on a growing backlog.
 */
export class JobQueue extends Construct {
  /** The job queue. */
  readonly queue: SqsQueue;
  /** The dead-letter queue. */
  readonly deadLetterQueue: SqsQueue;
  /** Job queue ARN. */
  readonly queueArn: string;
  /** Job queue URL (what producers send to). */
  readonly queueUrl: string;
  /** `sidestep-<env>-<queue>`. */
  readonly queueName: string;
  /** Dead-letter queue ARN. */
  readonly deadLetterQueueArn: string;
  /** Dead-letter queue URL. */
  readonly deadLetterQueueUrl: string;
  /** The event source mapping feeding the consumer. */
  readonly eventSourceMapping: LambdaEventSourceMapping;
  /** Alarm on any message in the DLQ. */
  readonly deadLetterAlarm: CloudwatchMetricAlarm;
  /** Alarm on the age of the oldest message in the queue. */
  readonly backlogAlarm: CloudwatchMetricAlarm;
  readonly #kmsKeyArn: string | undefined;
  /** The queue's short name (`mail`), for statement ids. */
  readonly #name: string;

  constructor(scope: Construct, id: string, props: JobQueueProps) {
    super(scope, id);
    const { environment, consumer } = props;
    const manifest = consumer.manifest;
    const trigger = manifest.queue;
    if (!trigger) throw new InfraConfigError(`${manifest.name}.queue`, 'the consumer declares no queue');
    const visibility = visibilityTimeoutSeconds(manifest);
    // Lambda may retry a throttled batch within the visibility timeout; AWS asks for 6x the timeout
    // so a message is not redelivered to a second invocation while the first still works on it.
    // https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html
    if (visibility < 6 * manifest.timeoutSeconds) {
      throw new InfraConfigError(
        `${manifest.name}.queue.visibilityTimeoutSeconds`,
        `${visibility} s is less than 6x the function timeout (${6 * manifest.timeoutSeconds} s)`,
      );
    }
    this.#kmsKeyArn = props.encryption?.kmsKeyArn;
    this.#name = trigger.name;
    const encryption = props.encryption
      ? {
          kmsMasterKeyId: props.encryption.kmsKeyArn,
          kmsDataKeyReusePeriodSeconds: props.encryption.dataKeyReusePeriodSeconds ?? 300,
        }
      : { sqsManagedSseEnabled: true };

    this.queueName = resourceName(environment, trigger.name);
    ({ queue: this.queue, deadLetterQueue: this.deadLetterQueue } = createDeadLetteredQueue(this, {
      name: this.queueName,
      deadLetterQueueName: deadLetterQueueName(environment, trigger.name),
      visibilityTimeoutSeconds: visibility,
      messageRetentionSeconds: trigger.messageRetentionSeconds,
      maxReceiveCount: trigger.maxReceiveCount,
      encryption,
    }));
    this.queueArn = this.queue.arn;
    this.queueUrl = this.queue.url;
    this.deadLetterQueueArn = this.deadLetterQueue.arn;
    this.deadLetterQueueUrl = this.deadLetterQueue.url;

    this.grantConsume(consumer);
    // sidestep's runtime sends permanent failures (bad input) to the DLQ itself, with the reason, instead
    // of letting them burn maxReceiveCount receives.
    consumer.addToPolicy({
      sid: statementId('dead-letter', trigger.name),
      actions: ['sqs:SendMessage'],
      resources: [this.deadLetterQueue.arn],
    });
    this.grantKey(consumer, statementId('dead-letter', trigger.name, 'key'), [
      'kms:GenerateDataKey',
      'kms:Decrypt',
    ]);
    consumer.addEnvironment(
      RUNTIME_ENVIRONMENT.deadLetterQueueUrl,
      this.deadLetterQueue.url,
      `${manifest.name}.queue`,
    );
    // A failure that asks for a later retry (a daily quota) is put off by the runtime on this queue
    // (ChangeMessageVisibility, which grantConsume allows).
    consumer.addEnvironment(RUNTIME_ENVIRONMENT.queueUrl, this.queue.url, `${manifest.name}.queue`);
    // The last receive's failure goes to the DLQ with its reason, sent by the runtime (above).
    consumer.addEnvironment(
      RUNTIME_ENVIRONMENT.maxReceiveCount,
      String(trigger.maxReceiveCount),
      `${manifest.name}.queue`,
    );
    if (props.claimCheck) {
      props.claimCheck.addPointerQueue(trigger);
      props.claimCheck.grantConsume(consumer);
      for (const [key, value] of Object.entries(props.claimCheck.environment)) {
        consumer.addEnvironment(key, value, `${manifest.name}.queue`);
      }
    }

    this.eventSourceMapping = new LambdaEventSourceMapping(this, 'event-source-mapping', {
      eventSourceArn: this.queue.arn,
      functionName: consumer.functionArn,
      batchSize: trigger.batchSize,
      maximumBatchingWindowInSeconds: trigger.maximumBatchingWindowSeconds,
      functionResponseTypes: ['ReportBatchItemFailures'],
      scalingConfig: { maximumConcurrency: trigger.maximumConcurrency },
      // CreateEventSourceMapping checks that the role may receive from the queue.
      dependsOn: [consumer.role.policy],
    });

    this.deadLetterAlarm = createDeadLetterAlarm(this, {
      deadLetterQueue: this.deadLetterQueue,
      alarmName: `${deadLetterQueueName(environment, trigger.name)}-not-empty`,
      description: `Jobs failed for good in ${this.queueName}: inspect and redrive the DLQ`,
      topicArn: props.alarms?.topicArn,
    });
    const oldestMessageAge = props.alarms?.oldestMessageAgeSeconds ?? visibility * trigger.maxReceiveCount;
    this.backlogAlarm = createBacklogAlarm(this, {
      queue: this.queue,
      alarmName: `${this.queueName}-oldest-message-age`,
      description: `${this.queueName} holds a job older than ${oldestMessageAge} s: ${manifest.name} is not keeping up`,
      thresholdSeconds: oldestMessageAge,
      topicArn: props.alarms?.topicArn,
    });
  }

  /**
   * Lets a consumer receive, delete and extend the visibility of jobs on the queue (what an event
   * source mapping does with the function's role).
   */
  grantConsume(grantee: PolicyGrantee): void {
    grantee.addToPolicy({
      sid: statementId('consume', this.#name),
      actions: [
        'sqs:ReceiveMessage',
        'sqs:DeleteMessage',
        'sqs:GetQueueAttributes',
        'sqs:ChangeMessageVisibility',
      ],
      resources: [this.queueArn],
    });
    this.grantKey(grantee, statementId('consume', this.#name, 'key'), ['kms:Decrypt']);
  }

  /** Lets a producer send jobs to the queue. */
  grantSendMessages(grantee: PolicyGrantee): void {
    grantee.addToPolicy({
      sid: statementId('send', this.#name),
      actions: ['sqs:SendMessage'],
      resources: [this.queueArn],
    });
    this.grantKey(grantee, statementId('send', this.#name, 'key'), ['kms:GenerateDataKey', 'kms:Decrypt']);
  }

  /** With a customer-managed key, SQS calls KMS with the caller's permissions. */
  private grantKey(grantee: PolicyGrantee, sid: string, actions: string[]): void {
    if (!this.#kmsKeyArn) return;
    grantee.addToPolicy({ sid, actions, resources: [this.#kmsKeyArn] });
  }
}
