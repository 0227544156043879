import { setTimeout as delay } from 'node:timers/promises';
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { judgeBatchResponse } from './batch-response.ts';
import type { LocalCloudReporter } from './local-cloud-event.ts';
import { type SqsEvent, toSqsEvent } from './sqs-event.ts';
import { TooManyRequestsError } from './too-many-requests-error.ts';

/**
 * The outcome of one invocation, as `@sidestep/lambda-runtime`'s `FunctionHost.invoke` returns it.
 * Declared structurally here so the mapping can be driven by any invoker (a fake in tests).
 */
export type FunctionInvocationResult = { readonly requestId: string; readonly durationMs: number } & (
  | { readonly ok: true; readonly payload: unknown }
  | { readonly ok: false; readonly error: { readonly errorType: string; readonly errorMessage: string } }
);

/** Invokes the function with one SQS event. */
export type InvokeFunction = (event: SqsEvent) => Promise<FunctionInvocationResult>;

/** Options of {@link startEventSourceMapping}; the field names follow Lambda's CreateEventSourceMapping. */
export interface EventSourceMappingOptions {
  /** Client for the queue's endpoint. */
  readonly sqs: SQSClient;
  readonly queue: {
    readonly name: string;
    readonly url: string;
    readonly arn: string;
    readonly region: string;
  };
  /** The consuming service, for reports. */
  readonly service: string;
  readonly invoke: InvokeFunction;
  /** Records per invocation (Lambda: 1-10,000). */
  readonly batchSize: number;
  /** Seconds to keep gathering records before invoking with fewer than `batchSize`. */
  readonly maximumBatchingWindowSeconds: number;
  /** Concurrent invocations the mapping drives: one poller each. */
  readonly maximumConcurrency: number;
  /** The queue's redrive `maxReceiveCount`, to say when a failure is the last attempt. */
  readonly maxReceiveCount?: number;
  /**
   * How long after receiving a batch the mapping keeps invoking it again while Lambda throttles it
   * ({@link TooManyRequestsError}: the account's concurrency is in use), waiting 0.5 s, then twice as
   * long each time: AWS's advice of a visibility timeout of six times the function's timeout is "so
   * Lambda has time to retry if your function is throttled while processing a previous batch"
   * (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html). Past it the batch
   * goes back to the queue, which redelivers it after the visibility timeout (its receive count up
   * one). @default 0: a throttled batch goes back at once
   */
  readonly throttleRetryWindowMs?: number;
  /** Long-poll wait per ReceiveMessage (0-20). @default 20 */
  readonly waitTimeSeconds?: number;
  /** @default no reporting */
  readonly reporter?: LocalCloudReporter;
}

/** A running event source mapping. */
export interface EventSourceMapping {
  /**
   * Stops polling at once (pending long polls are aborted), then waits up to `graceMs` for
   * invocations in flight to finish and settle their records. Records of an invocation still
   * running after that are left alone: SQS redelivers them after the visibility timeout.
   */
  stop(options?: { readonly graceMs?: number }): Promise<void>;
}

/** Messages a single ReceiveMessage may return (SQS limit). */
const RECEIVE_LIMIT = 10;
/** Entries a single DeleteMessageBatch may carry (SQS limit). */
const DELETE_LIMIT = 10;
/** A poller's first wait after a failed receive, and a throttled batch's before it is invoked again; doubled each time. */
const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 10_000;
const doubled = (ms: number) => Math.min(MAX_BACKOFF_MS, ms * 2);
/**
 * The largest event a synchronous invocation takes: 6 MB (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
 * With SQS messages of up to 1 MiB a full batch can be larger, so Lambda invokes with fewer records.
 */
export const INVOCATION_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024;

/**
 * Emulates Lambda's SQS event source mapping: pollers long-poll the queue, gather up to
 * `batchSize` records within the batching window, invoke the function with the exact event
 * Lambda builds and then do what Lambda does with the result:
 * - success: delete every record not listed in `batchItemFailures` (see {@link judgeBatchResponse});
 * - function error, timeout or malformed batch response: delete nothing.
 * Records not deleted become visible again after the queue's visibility timeout; SQS itself moves
 * them to the DLQ once their receive count passes the redrive policy's `maxReceiveCount`.
 * See https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html
 */
export function startEventSourceMapping(options: EventSourceMappingOptions): EventSourceMapping {
  const { sqs, queue, reporter } = options;
  const waitTimeSeconds = options.waitTimeSeconds ?? 20;
  const polling = new AbortController();
  let abandoned = false;
  const report: LocalCloudReporter = (event) => {
    if (!abandoned) reporter?.(event);
  };

  const receive = async (maxMessages: number, waitSeconds: number): Promise<Message[]> => {
    const output = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queue.url,
        MaxNumberOfMessages: Math.min(RECEIVE_LIMIT, maxMessages),
        WaitTimeSeconds: waitSeconds,
        AttributeNames: ['All'],
        MessageSystemAttributeNames: [
          'All',
          'ApproximateReceiveCount',
          'SentTimestamp',
          'ApproximateFirstReceiveTimestamp',
          'SenderId',
        ],
        MessageAttributeNames: ['All'],
      }),
      { abortSignal: polling.signal },
    );
    return output.Messages ?? [];
  };

  /**
   * One batch: receive, then keep receiving until the batch is full or the window closes; with when
   * its first messages were received (`performance.now()`), whose visibility timeout runs from then.
   */
  const gatherBatch = async (): Promise<{ messages: Message[]; receivedAt: number }> => {
    const messages = await receive(options.batchSize, waitTimeSeconds);
    const receivedAt = performance.now();
    if (messages.length === 0 || options.maximumBatchingWindowSeconds <= 0) return { messages, receivedAt };
    const deadline = Date.now() + options.maximumBatchingWindowSeconds * 1000;
    while (messages.length < options.batchSize && !polling.signal.aborted) {
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) break;
      // WaitTimeSeconds is whole seconds: rounding up overshoots the window by under a second
      // when the queue stays empty, and returns as soon as a message arrives otherwise.
      const more = await receive(
        options.batchSize - messages.length,
        Math.min(20, Math.ceil(remainingMs / 1000)),
      );
      messages.push(...more);
    }
    return { messages, receivedAt };
  };

  const deleteRecords = async (records: readonly { messageId: string; receiptHandle: string }[]) => {
    for (let start = 0; start < records.length; start += DELETE_LIMIT) {
      const chunk = records.slice(start, start + DELETE_LIMIT);
      const output = await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queue.url,
          Entries: chunk.map((record, index) => ({ Id: String(index), ReceiptHandle: record.receiptHandle })),
        }),
      );
      for (const failure of output.Failed ?? []) {
        const record = chunk[Number(failure.Id)];
        report({
          type: 'error',
          source: `event source mapping ${queue.name}`,
          message:
            `could not delete message ${record?.messageId}: ${failure.Code} ${failure.Message ?? ''}`.trim(),
        });
      }
    }
  };

  /**
   * Invokes with `event`, again while Lambda throttles it and the window from `receivedAt` (when its
   * records were received) allows; a stop ends the waits, invoking nothing more.
   */
  const invokeThroughThrottles = async (event: SqsEvent, receivedAt: number) => {
    let waitMs = FIRST_BACKOFF_MS;
    for (;;) {
      try {
        return await options.invoke(event);
      } catch (error) {
        const within = performance.now() + waitMs - receivedAt <= (options.throttleRetryWindowMs ?? 0);
        if (!(error instanceof TooManyRequestsError) || !within || polling.signal.aborted) throw error;
        await delay(waitMs, undefined, { signal: polling.signal }).catch(() => undefined);
        if (polling.signal.aborted) throw error;
      }
      waitMs = doubled(waitMs);
    }
  };

  const runBatch = async (messages: Message[], receivedAt: number): Promise<void> => {
    const event = toSqsEvent(messages, queue);
    for (const record of event.Records) {
      report({
        type: 'message-received',
        queue: queue.name,
        messageId: record.messageId,
        receiveCount: Number(record.attributes.ApproximateReceiveCount),
        ...envelopeOf(record.body),
      });
    }
    const started = performance.now();
    let result: FunctionInvocationResult;
    try {
      result = await invokeThroughThrottles(event, receivedAt);
    } catch (error) {
      // An invoker that throws (sandbox gone) is a failed invocation, as Lambda treats a crash.
      const { name, message } = error instanceof Error ? error : new Error(String(error));
      result = {
        ok: false,
        requestId: 'none',
        durationMs: performance.now() - started,
        error: { errorType: name, errorMessage: message },
      };
    }
    const messageIds = event.Records.map((record) => record.messageId);
    const verdict = result.ok
      ? judgeBatchResponse(result.payload, messageIds)
      : { kind: 'batch-failed' as const, reason: `${result.error.errorType}: ${result.error.errorMessage}` };
    if (abandoned) return;
    const failed =
      verdict.kind === 'partial'
        ? event.Records.filter((record) => verdict.failedMessageIds.has(record.messageId))
        : event.Records;
    const succeeded =
      verdict.kind === 'partial'
        ? event.Records.filter((record) => !verdict.failedMessageIds.has(record.messageId))
        : [];
    await deleteRecords(succeeded);
    report({
      type: 'invocation',
      service: options.service,
      queue: queue.name,
      requestId: result.requestId,
      batchSize: event.Records.length,
      durationMs: result.durationMs,
      outcome: verdict.kind === 'batch-failed' ? 'error' : failed.length > 0 ? 'partial' : 'ok',
      failedRecords: failed.length,
      ...(verdict.kind === 'batch-failed' ? { reason: verdict.reason } : {}),
    });
    for (const record of failed) {
      const receiveCount = Number(record.attributes.ApproximateReceiveCount);
      report({
        type: 'record-failed',
        service: options.service,
        queue: queue.name,
        messageId: record.messageId,
        reason: verdict.kind === 'batch-failed' ? verdict.reason : 'listed in batchItemFailures',
        receiveCount,
        ...(options.maxReceiveCount !== undefined ? { maxReceiveCount: options.maxReceiveCount } : {}),
        deadLetterNext: options.maxReceiveCount !== undefined && receiveCount >= options.maxReceiveCount,
      });
    }
  };

  const poller = async (): Promise<void> => {
    let backoffMs = FIRST_BACKOFF_MS;
    while (!polling.signal.aborted) {
      let gathered: Awaited<ReturnType<typeof gatherBatch>>;
      try {
        gathered = await gatherBatch();
      } catch (error) {
        if (polling.signal.aborted) return;
        report({ type: 'error', source: `event source mapping ${queue.name}`, message: describe(error) });
        await delay(backoffMs, undefined, { signal: polling.signal }).catch(() => undefined);
        backoffMs = doubled(backoffMs);
        continue;
      }
      backoffMs = FIRST_BACKOFF_MS;
      const { messages, receivedAt } = gathered;
      // Messages gathered when a stop arrived are left on the queue, not invoked: SQS redelivers them.
      if (messages.length === 0 || polling.signal.aborted) continue;
      for (const batch of withinPayloadLimit(messages, queue)) {
        try {
          await runBatch(batch, receivedAt);
        } catch (error) {
          report({ type: 'error', source: `event source mapping ${queue.name}`, message: describe(error) });
        }
      }
    }
  };

  const pollers = Array.from({ length: Math.max(1, options.maximumConcurrency) }, () => poller());
  let stopped: Promise<void> | undefined;

  return {
    stop({ graceMs = 5_000 } = {}) {
      stopped ??= (async () => {
        polling.abort();
        const settled = Promise.all(pollers).then(() => true);
        const timer = delay(graceMs, false, { ref: false });
        if (!(await Promise.race([settled, timer]))) abandoned = true;
      })();
      return stopped;
    },
  };
}

/**
 * Splits gathered messages into invocations whose event stays within
 * {@link INVOCATION_PAYLOAD_LIMIT_BYTES}, in order (a single record always fits: SQS caps it at 1 MiB).
 */
function withinPayloadLimit(messages: Message[], queue: EventSourceMappingOptions['queue']): Message[][] {
  // The common case without serialising anything: JSON escapes a UTF-16 unit into at most 6 bytes,
  // and a record's other fields (ids, attributes, ARN) stay far below 16 KiB.
  const bound = messages.reduce(
    (sum, message) =>
      sum +
      6 * ((message.Body?.length ?? 0) + JSON.stringify(message.MessageAttributes ?? {}).length) +
      16_384,
    0,
  );
  if (bound <= INVOCATION_PAYLOAD_LIMIT_BYTES) return [messages];
  const batches: Message[][] = [];
  let current: Message[] = [];
  // The event's envelope (`{"Records":[...]}`) plus each record with its separating comma.
  let size = Buffer.byteLength('{"Records":[]}');
  for (const message of messages) {
    const record = Buffer.byteLength(JSON.stringify(toSqsEvent([message], queue).Records[0])) + 1;
    if (current.length > 0 && size + record > INVOCATION_PAYLOAD_LIMIT_BYTES) {
      batches.push(current);
      current = [];
      size = Buffer.byteLength('{"Records":[]}');
    }
    current.push(message);
    size += record;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** The `type` and `id` of a sidestep envelope body, for reports; nothing when the body is not one. */
function envelopeOf(body: string): { jobType?: string; jobId?: string } {
  try {
    const parsed: unknown = JSON.parse(body);
    if (!parsed || typeof parsed !== 'object') return {};
    const { type, id } = parsed as { type?: unknown; id?: unknown };
    return {
      ...(typeof type === 'string' ? { jobType: type } : {}),
      ...(typeof id === 'string' ? { jobId: id } : {}),
    };
  } catch {
    return {};
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
