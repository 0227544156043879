import { isDeepStrictEqual } from 'node:util';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueNameExists,
  SetQueueAttributesCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
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

/** One attribute a start changed on a queue that already existed (a release changed it). */
export interface QueueAttributeChange {
  readonly attribute: string;
  /** The queue's value before; absent when it had none. */
  readonly from?: string;
  readonly to: string;
}

/** A queue's coordinates. */
export interface QueueAddress {
  readonly name: string;
  readonly url: string;
  readonly arn: string;
  /**
   * The attributes this start changed on a queue that already existed with others (set in place,
   * its messages kept); absent when the queue was new or already as declared.
   */
  readonly updated?: readonly QueueAttributeChange[];
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
    ...DEAD_LETTER_ATTRIBUTES,
    RedriveAllowPolicy: JSON.stringify({ redrivePermission: 'byQueue', sourceQueueArns: [sourceQueueArn] }),
  };
}

/** What every dead-letter queue infra makes has: 14 days' retention, the largest messages, SSE-SQS. */
export const DEAD_LETTER_ATTRIBUTES: Readonly<Record<string, string>> = {
  MessageRetentionPeriod: String(DEAD_LETTER_RETENTION_SECONDS),
  MaximumMessageSize: String(MAXIMUM_MESSAGE_SIZE_BYTES),
  SqsManagedSseEnabled: 'true',
};

/**
 * Creates a dead-letter queue without a source queue (a rule target's, the schedule group's) with
 * {@link DEAD_LETTER_ATTRIBUTES}, as infra creates it with the stack, and answers its URL. CreateQueue
 * of a queue that exists with the same attributes answers its URL.
 */
export async function createDeadLetterQueue(sqs: SQSClient, queueName: string): Promise<string> {
  const { QueueUrl } = await sqs.send(
    new CreateQueueCommand({ QueueName: queueName, Attributes: { ...DEAD_LETTER_ATTRIBUTES } }),
  );
  if (!QueueUrl) throw new Error(`CreateQueue returned no QueueUrl for ${queueName}`);
  return QueueUrl;
}

/**
 * Creates a service's job queue `sidestep-<env>-<queue>` and its DLQ `sidestep-<env>-<queue>-dlq`
 * through the SQS API, or brings existing ones to the manifest's attributes (see
 * {@link createDeadLetteredQueue}), so calling this again returns the same queues.
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
 * A queue kept from an earlier start with other attributes (a release changed its maxReceiveCount,
 * visibility timeout or retention) is updated in place, messages kept, as `terraform apply`
 * updates it on AWS; {@link QueueAddress.updated} says what changed.
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
  const dlq = await applyQueue(sqs, dlqName, deadLetterQueueAttributes(arn));
  const source = await applyQueue(sqs, name, attributes(dlqArn));
  return { name, arn, ...source, deadLetter: { name: dlqName, arn: dlqArn, ...dlq } };
}

/**
 * CreateQueue, and for a queue that exists with other attributes (SQS refuses CreateQueue with
 * QueueNameExists then: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html)
 * SetQueueAttributes with the declared ones, which keeps the queue and its messages
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html):
 * what Terraform's update of an `aws_sqs_queue` does. Only the declared attributes are set; one a
 * release stops declaring keeps its value (Terraform would reset it to SQS's default).
 */
async function applyQueue(
  sqs: SQSClient,
  name: string,
  attributes: Record<string, string>,
): Promise<{ url: string; updated?: readonly QueueAttributeChange[] }> {
  try {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    if (!QueueUrl) throw new Error(`CreateQueue returned no QueueUrl for ${name}`);
    return { url: QueueUrl };
  } catch (error) {
    if (!(error instanceof QueueNameExists)) throw error;
  }
  const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
  if (!QueueUrl) throw new Error(`GetQueueUrl returned no QueueUrl for ${name}`);
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }));
  const current: Readonly<Record<string, string | undefined>> = Attributes ?? {};
  await sqs.send(new SetQueueAttributesCommand({ QueueUrl, Attributes: attributes }));
  const updated: QueueAttributeChange[] = [];
  for (const [attribute, to] of Object.entries(attributes)) {
    const from = current[attribute];
    if (!sameAttributeValue(from, to))
      updated.push({ attribute, ...(from === undefined ? {} : { from }), to });
  }
  return updated.length > 0 ? { url: QueueUrl, updated } : { url: QueueUrl };
}

/** Equal as text, or as JSON for a policy attribute (RedrivePolicy), whatever its key order. */
function sameAttributeValue(current: string | undefined, declared: string): boolean {
  if (current === declared) return true;
  if (current === undefined || !declared.startsWith('{')) return false;
  try {
    return isDeepStrictEqual(JSON.parse(current), JSON.parse(declared));
  } catch {
    return false;
  }
}
