import { CreateQueueCommand, type SQSClient } from '@aws-sdk/client-sqs';
import {
  DEAD_LETTER_RETENTION_SECONDS,
  deadLetterQueueName,
  messageRetentionSeconds,
  resourceName,
  type ServiceManifest,
  visibilityTimeoutSeconds,
} from '@sidestep/manifest';

/** 1 MiB, the largest message SQS accepts (raised from 256 KiB in 2025). */
export const MAXIMUM_MESSAGE_SIZE_BYTES = 1_048_576;

/** A queue's coordinates. */
export interface QueueAddress {
  readonly name: string;
  readonly url: string;
  readonly arn: string;
}

/** A service's job queue and its dead-letter queue. */
export interface JobQueue extends QueueAddress {
  readonly deadLetter: QueueAddress;
}

/** Where queues are created. */
export interface QueueScope {
  /** `local` for the laptop cloud. */
  readonly environment: string;
  readonly region: string;
  readonly accountId: string;
}

/** A service has no `queue` in its manifest but was asked for one. */
export class MissingQueueError extends Error {
  override readonly name = 'MissingQueueError';
  readonly service: string;
  readonly field = 'queue';
  constructor(service: string) {
    super(`service ${service}: queue: the manifest declares no job queue`);
    this.service = service;
  }
}

/** `arn:aws:sqs:<region>:<account>:<name>` */
export function queueArn(scope: QueueScope, name: string): string {
  return `arn:aws:sqs:${scope.region}:${scope.accountId}:${name}`;
}

/**
 * The attributes of a service's job queue, the same infra sets: visibility timeout from the
 * manifest (6x the function timeout by default, as AWS recommends for event source mappings),
 * redrive to the DLQ after `maxReceiveCount` receives, the declared retention, 1 MiB messages,
 * SQS-managed encryption (infra's default when no KMS key is given).
 */
export function jobQueueAttributes(
  manifest: ServiceManifest,
  deadLetterQueueArn: string,
): Record<string, string> {
  const queue = manifest.queue;
  if (!queue) throw new MissingQueueError(manifest.name);
  return {
    VisibilityTimeout: String(visibilityTimeoutSeconds(manifest)),
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: deadLetterQueueArn,
      maxReceiveCount: queue.maxReceiveCount,
    }),
    MaximumMessageSize: String(MAXIMUM_MESSAGE_SIZE_BYTES),
    SqsManagedSseEnabled: 'true',
    // Stated, as infra states it (SQS's 4-day default unless the manifest sets one).
    MessageRetentionPeriod: String(messageRetentionSeconds(queue)),
  };
}

/**
 * The attributes of a dead-letter queue: 14 days' retention, and a redrive allow policy that
 * accepts only its own source queue (as infra's job queue construct does).
 */
export function deadLetterQueueAttributes(sourceQueueArn: string): Record<string, string> {
  return {
    MessageRetentionPeriod: String(DEAD_LETTER_RETENTION_SECONDS),
    MaximumMessageSize: String(MAXIMUM_MESSAGE_SIZE_BYTES),
    SqsManagedSseEnabled: 'true',
    RedriveAllowPolicy: JSON.stringify({ redrivePermission: 'byQueue', sourceQueueArns: [sourceQueueArn] }),
  };
}

/**
 * Creates a service's job queue `sidestep-<env>-<queue>` and its DLQ `sidestep-<env>-<queue>-dlq`
 * through the SQS API. CreateQueue is idempotent for identical attributes, so calling this again
 * returns the same queues.
 */
export async function createJobQueue(
  sqs: SQSClient,
  manifest: ServiceManifest,
  scope: QueueScope,
): Promise<JobQueue> {
  const queue = manifest.queue;
  if (!queue) throw new MissingQueueError(manifest.name);
  return createDeadLetteredQueue(sqs, queue.name, scope, (dlqArn) => jobQueueAttributes(manifest, dlqArn));
}

/**
 * Creates the DLQ `sidestep-<env>-<queue>-dlq` (accepting only its source), then the queue
 * `sidestep-<env>-<queue>` with `attributes(dlqArn)`: what a job queue and a pipe source queue share.
 */
export async function createDeadLetteredQueue(
  sqs: SQSClient,
  queueName: string,
  scope: QueueScope,
  attributes: (deadLetterQueueArn: string) => Record<string, string>,
): Promise<JobQueue> {
  const name = resourceName(scope.environment, queueName);
  const dlqName = deadLetterQueueName(scope.environment, queueName);
  const arn = queueArn(scope, name);
  const dlqArn = queueArn(scope, dlqName);
  const dlq = await sqs.send(
    new CreateQueueCommand({ QueueName: dlqName, Attributes: deadLetterQueueAttributes(arn) }),
  );
  const source = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes(dlqArn) }));
  if (!dlq.QueueUrl || !source.QueueUrl) throw new Error(`CreateQueue returned no QueueUrl for ${name}`);
  return { name, url: source.QueueUrl, arn, deadLetter: { name: dlqName, url: dlq.QueueUrl, arn: dlqArn } };
}
