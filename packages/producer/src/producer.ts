import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import {
  type BatchResultErrorEntry,
  type MessageAttributeValue,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  SQSClient,
} from '@aws-sdk/client-sqs';
import {
  ContractValidationError,
  JOB_CONTRACTS,
  type Job,
  type JobInput,
  type JobType,
  messageSize,
  parseJob,
  sqsJson,
} from '@sidestep/contracts';
import { isThrottlingError } from '@smithy/core/retry';
import pLimit from 'p-limit';
import {
  type ClaimCheckTarget,
  claimCheckIfLarge,
  type OutgoingMessage,
  type ProducerClaimCheck,
} from './claim-check.ts';

/** What happened to one message of an {@link Producer.enqueue} call, in input order. */
export type EnqueueResult =
  | { readonly status: 'sent'; readonly id: string; readonly messageId: string; readonly attempts: number }
  | { readonly status: 'invalid'; readonly id: string | undefined; readonly error: ContractValidationError }
  | {
      readonly status: 'failed';
      readonly id: string;
      /**
       * The job as it was sent, with its `id` and `createdAt`: a failed send may still have delivered
       * (SQS took the request, the answer was lost), so a resend passes this to `enqueue` again and
       * the consumer's idempotency, keyed on the id, sees one job, not two.
       */
      readonly job: Job;
      /** The SendMessageBatch calls that carried this message (not the SDK's HTTP retries of each). */
      readonly attempts: number;
      readonly code: string;
      readonly message: string;
      readonly senderFault: boolean;
    };

export interface ProducerOptions {
  /** The queue URL, e.g. the one `sidestep-<env>-mail` has. */
  readonly queueUrl: string;
  /**
   * The job types the queue's consumer takes: its service manifest's `queue.jobTypes` (`['mail.send']`
   * for `sidestep-<env>-mail`). A job of another type is `invalid`, naming `type`, rather than sent and
   * then dead-lettered by the consumer as a schema violation. An unknown type here throws.
   * @default every job type of the contracts
   */
  readonly jobTypes?: readonly JobType[];
  /** @default a new SQSClient from the environment (AWS_ENDPOINT_URL works for the local cloud) */
  readonly sqs?: SQSClient;
  /** SendMessageBatch calls in flight at once. @default 4 */
  readonly concurrency?: number;
  /**
   * SendMessageBatch calls per message, counting the first, while SQS fails it without the sender's
   * fault (throttling, a 5xx, a network error). Each call is itself up to the SQSClient's own
   * `maxAttempts` HTTP requests (3 by default). @default 4
   */
  readonly maxAttempts?: number;
  /** Base delay of the exponential backoff with full jitter between attempts. @default 100 ms */
  readonly baseDelayMs?: number;
  /**
   * Where messages over the SQS limit go: their body is stored in this bucket and the queue gets a
   * claim-check pointer (SQS Extended Client format), which consumers resolve transparently.
   * @default none: such a message is refused by SQS and reported `failed`
   */
  readonly claimCheck?: ProducerClaimCheck;
}

/**
 * SQS limits for SendMessageBatch: 10 entries and 1 MiB for the whole request (else
 * BatchRequestTooLong),
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html
 *
 * No batch of valid jobs of today's contracts comes near MAX_BATCH_BYTES: the largest valid mail job
 * is about 64 KB (50 addresses of at most 254 characters, every other field bounded too), so ten are
 * about 640 KB, and an export request is smaller. The split is kept for a contract that allows more,
 * and tested on messages of its own (tests/producer.test.ts, `splitIntoBatches`).
 */
const MAX_BATCH_ENTRIES = 10;
const MAX_BATCH_BYTES = 1024 * 1024;

interface Pending {
  readonly index: number;
  readonly job: Job;
  message: OutgoingMessage;
  attempts: number;
}

/**
 * A typed SQS producer: validates every job against its contract before sending, batches with
 * SendMessageBatch (10 per call, within 1 MiB), keeps a bounded number of calls in flight, retries
 * entries that failed through no fault of the sender, and reports one result per message.
 *
 * Invalid jobs are never sent: their result is `invalid` with the field named; so is a job whose
 * id an earlier job of the same call has (`id`).
 */
export class Producer {
  readonly #queueUrl: string;
  readonly #sqs: SQSClient;
  readonly #concurrency: number;
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #claimCheck: ClaimCheckTarget | undefined;
  readonly #jobTypes: ReadonlySet<string> | undefined;

  constructor(options: ProducerOptions) {
    this.#queueUrl = options.queueUrl;
    if (options.jobTypes !== undefined) {
      const unknown = options.jobTypes.filter((type) => !Object.hasOwn(JOB_CONTRACTS, type));
      if (options.jobTypes.length === 0 || unknown.length > 0) {
        throw new ContractValidationError([
          {
            field: 'jobTypes',
            message:
              unknown.length > 0
                ? `${unknown.map((type) => JSON.stringify(type)).join(', ')} is not a job type of the contracts (${Object.keys(JOB_CONTRACTS).join(', ')})`
                : 'lists no job type: leave it out for any',
          },
        ]);
      }
      this.#jobTypes = new Set(options.jobTypes);
    }
    this.#sqs = options.sqs ?? new SQSClient({});
    this.#concurrency = Math.max(1, options.concurrency ?? 4);
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 4);
    this.#baseDelayMs = options.baseDelayMs ?? 100;
    const { claimCheck } = options;
    let s3 = claimCheck?.s3;
    this.#claimCheck = claimCheck && {
      bucket: claimCheck.bucket,
      thresholdBytes: claimCheck.thresholdBytes,
      // The S3 client (and its part of the SDK) is loaded for the first large message only.
      s3: async () => (s3 ??= new (await import('@aws-sdk/client-s3')).S3Client({})),
    };
  }

  /**
   * Sends jobs. An input without `id` (or with `id: undefined`) gets a fresh UUID, without
   * `createdAt` the current time. Never throws for a single bad job, not even an entry that is not
   * an object: look at each result's `status`.
   */
  async enqueue(
    jobs: ReadonlyArray<JobInput | (Omit<JobInput, 'id'> & { id?: string })>,
  ): Promise<EnqueueResult[]> {
    const results: EnqueueResult[] = new Array(jobs.length);
    const pending: Pending[] = [];
    /** The input index of the job each id to be sent came from. */
    const firstWithId = new Map<string, number>();
    jobs.forEach((input: unknown, index) => {
      try {
        // The signature allows only objects, but JavaScript callers (or JSON read at run time) can
        // pass anything: such an entry is refused like any invalid job, so the others still go out.
        if (typeof input !== 'object' || input === null || Array.isArray(input)) {
          throw new ContractValidationError([
            {
              field: '(root)',
              message: `expected a job object, got ${input === null ? 'null' : Array.isArray(input) ? 'an array' : typeof input}`,
            },
          ]);
        }
        const { id, createdAt } = input as { id?: unknown; createdAt?: unknown };
        // `id: undefined` (which `{ id?: string }` allows) means no id, as a missing one does: it gets
        // one, rather than the spread overwriting the generated id with undefined.
        const job = parseJob({
          ...input,
          id: id === undefined ? randomUUID() : id,
          createdAt: createdAt === undefined ? new Date().toISOString() : createdAt,
        });
        if (this.#jobTypes && !this.#jobTypes.has(job.type)) {
          throw new ContractValidationError([
            {
              field: 'type',
              message: `"${job.type}" is not a job type this queue takes (${[...this.#jobTypes].join(', ')})`,
            },
          ]);
        }
        // An id names one job: a second job with it would reach the consumer as a duplicate of the
        // first (skipped, or dead-lettered when it differs), so it is refused here instead.
        const first = firstWithId.get(job.id);
        if (first !== undefined) {
          throw new ContractValidationError([
            {
              field: 'id',
              message: `${JSON.stringify(job.id)} is also the id of job ${first} of this call; each job needs an id of its own`,
            },
          ]);
        }
        firstWithId.set(job.id, index);
        pending.push({
          index,
          job,
          message: {
            body: sqsJson(job),
            attributes: {
              'sidestep.type': { DataType: 'String', StringValue: job.type },
              'sidestep.version': { DataType: 'Number', StringValue: String(job.version) },
            },
          },
          attempts: 0,
        });
      } catch (error) {
        if (!(error instanceof ContractValidationError)) throw error;
        const id = typeof input === 'object' && input !== null ? (input as { id?: unknown }).id : undefined;
        results[index] = { status: 'invalid', id: typeof id === 'string' ? id : undefined, error };
      }
    });

    let queue = pending;
    const claimCheck = this.#claimCheck;
    if (claimCheck) {
      // A job whose body could not be stored is reported failed (no SendMessageBatch carried it);
      // the others go on. A body stored for a job whose send then fails is left to the bucket's
      // lifecycle (see the README).
      await pLimit(this.#concurrency).map(pending, async (item) => {
        try {
          item.message = await claimCheckIfLarge(item.message, this.#queueUrl, claimCheck);
        } catch (error) {
          const failure = failureOf(error);
          results[item.index] = {
            status: 'failed',
            id: item.job.id,
            job: item.job,
            attempts: 0,
            ...failure,
            message: `storing its body in the claim-check bucket ${claimCheck.bucket} failed: ${failure.message}`,
          };
        }
      });
      queue = pending.filter((item) => results[item.index] === undefined);
    }

    while (queue.length > 0) {
      const retry: Pending[] = [];
      await pLimit(this.#concurrency).map(splitIntoBatches(queue), async (batch) => {
        for (const item of batch) item.attempts += 1;
        for (const outcome of await this.#send(batch)) {
          const { item } = outcome;
          if (outcome.ok) {
            results[item.index] = {
              status: 'sent',
              id: item.job.id,
              messageId: outcome.messageId,
              attempts: item.attempts,
            };
          } else if (!outcome.senderFault && item.attempts < this.#maxAttempts) {
            retry.push(item);
          } else {
            results[item.index] = {
              status: 'failed',
              id: item.job.id,
              job: item.job,
              attempts: item.attempts,
              code: outcome.code,
              message: outcome.message,
              senderFault: outcome.senderFault,
            };
          }
        }
      });
      if (retry.length > 0) {
        const attempt = Math.max(...retry.map((item) => item.attempts));
        await delay(Math.random() * this.#baseDelayMs * 2 ** (attempt - 1));
      }
      queue = retry;
    }
    return results;
  }

  async #send(
    batch: readonly Pending[],
  ): Promise<
    Array<
      | { item: Pending; ok: true; messageId: string }
      | { item: Pending; ok: false; code: string; message: string; senderFault: boolean }
    >
  > {
    const entries: SendMessageBatchRequestEntry[] = batch.map((item, position) => ({
      Id: String(position),
      MessageBody: item.message.body,
      MessageAttributes: item.message.attributes as Record<string, MessageAttributeValue>,
    }));
    try {
      const response = await this.#sqs.send(
        new SendMessageBatchCommand({ QueueUrl: this.#queueUrl, Entries: entries }),
      );
      const failed = new Map<string, BatchResultErrorEntry>(
        (response.Failed ?? []).map((entry) => [entry.Id ?? '', entry]),
      );
      const sent = new Map(
        (response.Successful ?? []).map((entry) => [entry.Id ?? '', entry.MessageId ?? '']),
      );
      return batch.map((item, position) => {
        const id = String(position);
        const messageId = sent.get(id);
        if (messageId !== undefined) return { item, ok: true as const, messageId };
        const error = failed.get(id);
        const code = error?.Code ?? 'MissingFromResponse';
        return {
          item,
          ok: false as const,
          code,
          message: error?.Message ?? 'SQS returned no result for this entry',
          // An entry SQS throttled is retried whatever its SenderFault says.
          senderFault: (error?.SenderFault ?? false) && !isThrottling({ name: code }),
        };
      });
    } catch (error) {
      // The whole call failed (throttling, network, credentials), after the SDK's own retries.
      const failure = failureOf(error);
      return batch.map((item) => ({ item, ok: false as const, ...failure }));
    }
  }
}

type SdkError = Parameters<typeof isThrottlingError>[0];

/**
 * SQS's throttling answers beside those the SDK knows (RequestThrottled, HTTP 429,
 * `$retryable.throttling`): KmsThrottled and OverLimit, limits that pass with time
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html).
 */
const SQS_THROTTLING_CODES: ReadonlySet<string> = new Set(['KmsThrottled', 'OverLimit']);

/** Whether an error (or a failed entry's code, as `name`) says the service throttled the request. */
function isThrottling(error: Pick<SdkError, 'name' | '$metadata' | '$retryable'>): boolean {
  return isThrottlingError(error as SdkError) || SQS_THROTTLING_CODES.has(error.name);
}

/** A thrown error (an SDK call's, after its own retries) as a failed result's fields. */
function failureOf(error: unknown): { code: string; message: string; senderFault: boolean } {
  const fault = error as { name?: unknown; message?: unknown } | undefined;
  return {
    code: typeof fault?.name === 'string' ? fault.name : 'Error',
    message: typeof fault?.message === 'string' ? fault.message : String(error),
    senderFault: isSenderFault(error),
  };
}

/**
 * Whether a failed call was the sender's fault, so that sending it again as it is cannot pass: a
 * client error (`$fault: 'client'`, a 4xx) that is not throttling. SQS answers throttling with HTTP
 * 400, so the SDK marks it a client error, but the same request sent later passes.
 */
function isSenderFault(error: unknown): boolean {
  const fault = error as Partial<SdkError> | undefined;
  return fault?.$fault === 'client' && !isThrottling({ ...fault, name: fault.name ?? '' });
}

/**
 * Splits messages into SendMessageBatch requests, in order: at most 10 entries and 1 MiB of messages
 * (body plus attributes) each. Exported from this module for its tests only; the package's entry
 * (index.ts) does not export it.
 */
export function splitIntoBatches<T extends { readonly message: OutgoingMessage }>(
  items: readonly T[],
): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = messageSize(item.message.body, item.message.attributes);
    if (current.length === MAX_BATCH_ENTRIES || (current.length > 0 && bytes + size > MAX_BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
