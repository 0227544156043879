import type { SQSClient } from '@aws-sdk/client-sqs';
import type { LocalCloudReporter } from './local-cloud-event.ts';
import type { LocalPipe, LocalService } from './local-definitions.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_ENVIRONMENT, LOCAL_REGION, UnknownLocalNameError } from './local-names.ts';
import { createPipeSourceQueue } from './pipe.ts';
import { createJobQueue, type JobQueue } from './queues.ts';

/** `queueUrl` was asked for a queue no service or pipe declares. */
export class UnknownQueueError extends UnknownLocalNameError {
  override readonly name = 'UnknownQueueError';
  constructor(queue: string, known: readonly string[]) {
    super('queue', queue, known);
  }
}

/** The queues of the local cloud: each service's job queue and each pipe's source queue, with DLQs. */
export interface LocalQueues {
  /** Each service's job queue, by service name, in the order the services were given. */
  readonly byService: ReadonlyMap<string, JobQueue>;
  /** Each pipe with its source queue. */
  readonly pipes: readonly { readonly pipe: LocalPipe; readonly queue: JobQueue }[];
  /**
   * A queue's URL by manifest queue name (`mail`), full name (`sidestep-local-mail`) or DLQ name
   * (`sidestep-local-mail-dlq`); throws {@link UnknownQueueError} for any other name.
   */
  queueUrl(name: string): string;
  /** The queue of the service consuming mail jobs: what the `mail-queue` permission resolves to. */
  readonly mailQueueUrl: string | undefined;
}

/** The job type whose consumer's queue is the `mail-queue` permission's. */
const MAIL_JOB_TYPE = 'mail.send';

/**
 * Creates every job queue and pipe source queue (each DLQ first, so it is reported first) with the
 * attributes infra sets; one kept from an earlier start with other attributes is updated in place
 * and reported with what changed. Nothing to stop: the queues live in the endpoint.
 */
export async function createLocalQueues(
  sqs: SQSClient,
  services: readonly LocalService[],
  pipes: readonly LocalPipe[],
  reporter: LocalCloudReporter,
): Promise<LocalQueues> {
  const scope = { environment: LOCAL_ENVIRONMENT, region: LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID };
  // Each queue by its name without prefix (`mail`), its full name and its DLQ's name.
  const known = new Map<string, string>();
  const created = (shortName: string, queue: JobQueue) => {
    const { deadLetter } = queue;
    reporter({
      type: 'queue-created',
      queue: deadLetter.name,
      url: deadLetter.url,
      ...(deadLetter.updated ? { updated: deadLetter.updated } : {}),
    });
    reporter({
      type: 'queue-created',
      queue: queue.name,
      url: queue.url,
      deadLetterQueue: deadLetter.name,
      ...(queue.updated ? { updated: queue.updated } : {}),
    });
    known.set(shortName, queue.url);
    known.set(queue.name, queue.url);
    known.set(queue.deadLetter.name, queue.deadLetter.url);
  };

  const byService = new Map<string, JobQueue>();
  let mailQueueUrl: string | undefined;
  for (const { manifest } of services) {
    if (!manifest.queue) continue;
    const queue = await createJobQueue(sqs, manifest, scope);
    byService.set(manifest.name, queue);
    created(manifest.queue.name, queue);
    if (manifest.queue.jobTypes.includes(MAIL_JOB_TYPE)) mailQueueUrl ??= queue.url;
  }
  const pipeQueues: { pipe: LocalPipe; queue: JobQueue }[] = [];
  for (const pipe of pipes) {
    const queue = await createPipeSourceQueue(sqs, pipe.source, scope);
    pipeQueues.push({ pipe, queue });
    created(pipe.source.name, queue);
  }

  return {
    byService,
    pipes: pipeQueues,
    queueUrl(name) {
      const url = known.get(name);
      if (!url) throw new UnknownQueueError(name, [...known.keys()]);
      return url;
    },
    mailQueueUrl,
  };
}
