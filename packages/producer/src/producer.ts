import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import {
  type BatchResultErrorEntry,
  type MessageAttributeValue,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { ContractValidationError, type Job, type JobInput, messageSize, parseJob } from '@sidestep/contracts';
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
      readonly attempts: number;
      readonly code: string;
      readonly message: string;
      readonly senderFault: boolean;
    };

export interface ProducerOptions {
  /** The queue URL, e.g. the one `sidestep-<env>-mail` has. */
  readonly queueUrl: string;
  /** @default a new SQSClient from the environment (AWS_ENDPOINT_URL works for the local cloud) */
  readonly sqs?: SQSClient;
  /** SendMessageBatch calls in flight at once. @default 4 */
  readonly concurrency?: number;
  /** Attempts per message, counting the first, for entries SQS failed without the sender's fault. @default 4 */
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

/** SQS limits for SendMessageBatch: 10 entries and 1 MiB for the whole request. */
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
 * Invalid jobs are never sent: their result is `invalid` with the field named.
 */
export class Producer {
  readonly #queueUrl: string;
  readonly #sqs: SQSClient;
  readonly #concurrency: number;
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #claimCheck: ClaimCheckTarget | undefined;

  constructor(options: ProducerOptions) {
    this.#queueUrl = options.queueUrl;
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
   * Sends jobs. An input without `id` gets a fresh UUID, without `createdAt` the current time.
   * Never throws for a single bad job: look at each result's `status`.
   */
  async enqueue(
    jobs: ReadonlyArray<JobInput | (Omit<JobInput, 'id'> & { id?: string })>,
  ): Promise<EnqueueResult[]> {
    const results: EnqueueResult[] = new Array(jobs.length);
    const pending: Pending[] = [];
    jobs.forEach((input, index) => {
      const candidate = { id: randomUUID(), createdAt: new Date().toISOString(), ...input };
      try {
        const job = parseJob(candidate);
        pending.push({
          index,
          job,
          message: {
            body: JSON.stringify(job),
            attributes: {
              'sidestep.type': { DataType: 'String', StringValue: job.type },
              'sidestep.version': { DataType: 'Number', StringValue: String(job.version) },
            },
          },
          attempts: 0,
        });
      } catch (error) {
        if (!(error instanceof ContractValidationError)) throw error;
        results[index] = { status: 'invalid', id: (input as { id?: string }).id, error };
      }
    });

    const claimCheck = this.#claimCheck;
    if (claimCheck) {
      await pLimit(this.#concurrency).map(pending, async (item) => {
        item.message = await claimCheckIfLarge(item.message, this.#queueUrl, claimCheck);
      });
    }

    let queue = pending;
    while (queue.length > 0) {
      const retry: Pending[] = [];
      await pLimit(this.#concurrency).map(chunk(queue), async (batch) => {
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
        return {
          item,
          ok: false as const,
          code: error?.Code ?? 'MissingFromResponse',
          message: error?.Message ?? 'SQS returned no result for this entry',
          senderFault: error?.SenderFault ?? false,
        };
      });
    } catch (error) {
      // The whole call failed (throttling, network, credentials). The SDK already retried it with its
      // own policy; a client-side error (4xx) is the sender's fault and is not retried here.
      const fault = error as { name?: string; message?: string; $fault?: string };
      const senderFault = fault.$fault === 'client';
      return batch.map((item) => ({
        item,
        ok: false as const,
        code: fault.name ?? 'Error',
        message: fault.message ?? String(error),
        senderFault,
      }));
    }
  }
}

/** Splits messages into SendMessageBatch requests: at most 10 entries and 1 MiB of messages each. */
function chunk(items: readonly Pending[]): Pending[][] {
  const batches: Pending[][] = [];
  let current: Pending[] = [];
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
