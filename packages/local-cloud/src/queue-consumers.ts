import type { SQSClient } from '@aws-sdk/client-sqs';
import type { FunctionHost } from '@sidestep/lambda-runtime';
import type { AwsEndpoint } from './aws-endpoint.ts';
import { LOCAL_REGION } from './aws-endpoint.ts';
import { watchDeadLetterQueue } from './dead-letter-watch.ts';
import { startEventSourceMapping } from './event-source-mapping.ts';
import { functionConcurrency } from './function-hosts.ts';
import type { LocalCloudReporter } from './local-cloud-event.ts';
import type { LocalService } from './local-definitions.ts';
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
  readonly reporter: LocalCloudReporter;
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
      const mapping = startEventSourceMapping({
        sqs,
        queue: { name: queue.name, url: queue.url, arn: queue.arn, region: LOCAL_REGION },
        service: manifest.name,
        invoke: (event) => host.invoke(event),
        batchSize: trigger.batchSize,
        maximumBatchingWindowSeconds: trigger.maximumBatchingWindowSeconds,
        maximumConcurrency: functionConcurrency(manifest),
        maxReceiveCount: trigger.maxReceiveCount,
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
    return {};
  });
}
