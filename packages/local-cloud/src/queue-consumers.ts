import type { SQSClient } from '@aws-sdk/client-sqs';
import { sqsAuthorization, sqsTargetOf } from '@sidestep/iam';
import type { FunctionHost } from '@sidestep/lambda-runtime';
import { visibilityTimeoutSeconds } from '@sidestep/manifest';
import type { AwsEndpoint } from './aws-endpoint.ts';
import { watchDeadLetterQueue } from './dead-letter-watch.ts';
import { startEventSourceMapping } from './event-source-mapping.ts';
import { functionConcurrency } from './function-hosts.ts';
import type { LocalCloudReporter } from './local-cloud-event.ts';
import type { LocalService } from './local-definitions.ts';
import { AccessDeniedError, LOCAL_ROLES, type LocalIam } from './local-iam.ts';
import { LOCAL_REGION } from './local-names.ts';
import type { JobQueue } from './queues.ts';
import { type Started, startPhase } from './start-phase.ts';

/** Options of {@link startQueueConsumers}. */
export interface QueueConsumersOptions {
  readonly sqs: SQSClient;
  readonly endpoint: AwsEndpoint;
  readonly services: readonly LocalService[];
  /** Each service's job queue, by service name. */
  readonly queues: ReadonlyMap<string, JobQueue>;
  /** Each service's function, by service name. */
  readonly functions: ReadonlyMap<string, FunctionHost>;
  /** How long stopping a mapping lets its invocations in flight finish. */
  readonly stopGraceMs: number;
  /** More DLQs to watch: those of the pipes' source queues. @default none */
  readonly deadLetterQueues?: readonly string[];
  /** The stack's IAM: a function's role must be allowed to consume its queue. */
  readonly iam: LocalIam;
  readonly reporter: LocalCloudReporter;
}

/**
 * What Lambda's SQS event source mapping calls as the function's execution role, which it checks when
 * the mapping is created: a role without them fails `CreateEventSourceMapping` ("The provided
 * execution role does not have permissions to call ReceiveMessage on SQS"), so the deploy fails.
 * https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html (execution role permissions)
 */
const EVENT_SOURCE_MAPPING_OPERATIONS = ['ReceiveMessage', 'DeleteMessage', 'GetQueueAttributes'] as const;

/** A function's role may not consume its queue: Lambda refuses to create the mapping. */
export class EventSourceMappingRefusedError extends Error {
  override readonly name = 'InvalidParameterValueException';
  constructor(service: string, operation: string, cause: AccessDeniedError) {
    super(
      `CreateEventSourceMapping for ${service}: the provided execution role does not have permissions to call ${operation} on SQS (${cause.message})`,
      { cause },
    );
  }
}

/**
 * Checks, as `CreateEventSourceMapping` does, that `service`'s execution role may receive, delete and
 * read the attributes of the messages of the queue `queueArn`.
 *
 * @throws {EventSourceMappingRefusedError} naming the first call the role may not make.
 */
export function assertMappingAuthorized(iam: LocalIam, service: string, queueArn: string): void {
  const target = sqsTargetOf(queueArn);
  const role = iam.role(LOCAL_ROLES.service(service));
  for (const operation of EVENT_SOURCE_MAPPING_OPERATIONS) {
    try {
      iam.assertAuthorized(role, sqsAuthorization(operation, target));
    } catch (error) {
      if (error instanceof AccessDeniedError)
        throw new EventSourceMappingRefusedError(service, operation, error);
      throw error;
    }
  }
}

/**
 * Starts an SQS event source mapping from each service's job queue to its function (with the
 * trigger settings of its manifest) and a watch reporting what lands in the queue's DLQ.
 */
export function startQueueConsumers(options: QueueConsumersOptions): Promise<Started<object>> {
  const { sqs, reporter } = options;
  return startPhase(reporter, (defer) => {
    for (const { manifest } of options.services) {
      const trigger = manifest.queue;
      const queue = options.queues.get(manifest.name);
      const host = options.functions.get(manifest.name);
      if (!trigger || !queue || !host) continue;
      if (options.iam.enforced) assertMappingAuthorized(options.iam, manifest.name, queue.arn);
      const mapping = startEventSourceMapping({
        sqs,
        queue: { name: queue.name, url: queue.url, arn: queue.arn, region: LOCAL_REGION },
        service: manifest.name,
        invoke: (event) => host.invoke(event),
        batchSize: trigger.batchSize,
        maximumBatchingWindowSeconds: trigger.maximumBatchingWindowSeconds,
        maximumConcurrency: functionConcurrency(manifest),
        maxReceiveCount: trigger.maxReceiveCount,
        // A throttled batch is invoked again while a whole invocation still fits in its visibility.
        throttleRetryWindowMs: (visibilityTimeoutSeconds(manifest) - manifest.timeoutSeconds) * 1000,
        reporter,
      });
      defer(() => mapping.stop({ graceMs: options.stopGraceMs }));
      const watch = watchDeadLetterQueue({
        queueName: queue.deadLetter.name,
        peek: options.endpoint.peek,
        reporter,
      });
      defer(() => watch.stop());
    }
    for (const queueName of options.deadLetterQueues ?? []) {
      const watch = watchDeadLetterQueue({ queueName, peek: options.endpoint.peek, reporter });
      defer(() => watch.stop());
    }
    return {};
  });
}
