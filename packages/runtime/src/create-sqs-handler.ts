import {
  BatchProcessor,
  EventType,
  FullBatchFailureError,
  processPartialResponse,
} from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { CLAIM_CHECK_BUCKET_VARIABLE } from '@sidestep/contracts';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import pLimit from 'p-limit';
import * as z from 'zod/mini';
import { ClaimCheckStore } from './claim-check.ts';
import { readConfig } from './config.ts';
import { sendToDeadLetterQueue } from './dead-letter-queue.ts';
import {
  ConfigError,
  DeadLetterSendError,
  InvalidJsonError,
  isDeferredError,
  isPermanentError,
  isTransientError,
  SchemaViolationError,
  toError,
} from './errors.ts';
import { type InvocationState, isolate } from './isolate.ts';
import { loggableError } from './loggable-error.ts';
import { startStopwatch } from './stopwatch.ts';

/** The metrics namespace every sidestep service publishes to (see @sidestep/manifest `METRICS_NAMESPACE`). */
export const METRICS_NAMESPACE = 'sidestep';

/** Names of the EMF metrics the SQS handler publishes (dimension `service`). */
export const SQS_HANDLER_METRICS = {
  /** Records whose `process` succeeded. Count: one value per invocation, its number of such records. */
  processed: 'processed',
  /** Records reported back to SQS for a retry. Count, one value per invocation. */
  failed: 'failed',
  /**
   * Records put off by design (a `deferred` error: a send rate's turn), reported back to SQS to be
   * delivered again: not failures. Count, one value per invocation.
   */
  deferred: 'deferred',
  /** Records sent to the dead-letter queue because they can never succeed. Count, one value per invocation. */
  deadLettered: 'deadLettered',
  /** Time spent on one record, whatever its outcome. Milliseconds, one value per record. */
  duration: 'duration',
} as const;

/** What `process` receives beside the job and its SQS record. */
export interface RecordContext {
  /** The SQS message id (also on every log line as `messageId`). */
  readonly messageId: string;
  /** How often SQS has delivered this message, this delivery included. */
  readonly receiveCount: number;
  /** The Lambda context of the invocation (e.g. for idempotency's `registerLambdaContext`). */
  readonly lambdaContext: Context;
  /** The handler's logger, with this record's correlation ids appended. */
  readonly logger: Logger;
}

/** Options of {@link createSqsHandler}. */
export interface SqsHandlerOptions<T> {
  /**
   * Validates `JSON.parse(body)`; the job `process` receives is its output. Classic `zod` and
   * `zod/mini` schemas both work.
   */
  readonly schema: z.core.$ZodType<T>;
  /** Does the work for one job. Throw a permanent error to dead-letter it, anything else to retry it. */
  readonly process: (job: T, record: SQSRecord, context: RecordContext) => Promise<void>;
  /**
   * Extra correlation ids for the record's log lines, merged over the defaults (`jobId` from the
   * envelope's `id` or a `jobId` field, `jobType` from `type`, `executionId` from the job or its
   * payload). An `undefined` value leaves that key out.
   */
  readonly correlation?: (job: T) => Record<string, string | undefined>;
  /** @default a Powertools Logger named by POWERTOOLS_SERVICE_NAME */
  readonly logger?: Logger;
  /** @default Powertools Metrics in namespace POWERTOOLS_METRICS_NAMESPACE, else `sidestep` */
  readonly metrics?: Metrics;
  /** Client used for the dead-letter queue. @default new SQSClient({}) */
  readonly sqs?: SQSClient;
  /** Where permanent failures go. @default process.env.DEAD_LETTER_QUEUE_URL, read once here */
  readonly deadLetterQueueUrl?: string;
  /**
   * The source queue's redrive `maxReceiveCount`. A record that fails on that receive (its
   * `ApproximateReceiveCount` reaches it: no attempt is left) is dead-lettered here with its error as
   * the reason, as a permanent failure is, instead of being moved by the redrive policy without one,
   * or with the reason of an earlier life before an operator's redrive. Unset: left to the policy.
   * @default process.env.MAX_RECEIVE_COUNT, read once here
   */
  readonly maxReceiveCount?: number;
  /** Client for claim-check objects (pointers are read, oversized dead letters stored). @default new S3Client({}) on first use */
  readonly s3?: S3Client;
  /**
   * The claim-check bucket a dead-lettered body goes to when it cannot travel with its reason
   * (`dead-letters/<queue>/<message id>`). Pointers are resolved from whatever bucket they name.
   * Without it such a record is retried by SQS instead (and moved by the redrive policy, without
   * its reason, after maxReceiveCount). @default process.env.CLAIM_CHECK_BUCKET, read once here
   */
  readonly claimCheckBucket?: string;
  /**
   * How many records of a batch `process` runs at once. Above 1, each record logs through a child
   * of the handler's logger carrying its own correlation ids (the shared logger's keys would
   * interleave), so `process` must log through `context.logger`. Worth it when a record waits on
   * I/O (a mail transport, an API): a batch then takes about as long as its slowest record.
   * @default 1 (one record at a time)
   */
  readonly recordConcurrency?: number;
  /** Module state reset around every invocation (see `isolate`). @default [] */
  readonly state?: readonly InvocationState<unknown>[];
  /**
   * The queue the records come from: a failure with `retryAfterSeconds` is put off on it.
   * @default process.env.QUEUE_URL, read once here
   */
  readonly queueUrl?: string;
}

/** SQS's longest visibility timeout, 12 hours (API_ChangeMessageVisibility). */
const MAX_VISIBILITY_SECONDS = 43_200;

/**
 * The handler's metrics by default: Powertools Metrics in `POWERTOOLS_METRICS_NAMESPACE`, else
 * `sidestep`, with the environment (`SIDESTEP_ENV`, which infra and the local cloud set:
 * `RUNTIME_ENVIRONMENT.environment` of @sidestep/manifest) as a dimension beside `service`: staging
 * and production in one account and region write the same namespace and service names, and their
 * counts would otherwise add up as one.
 */
export function defaultMetrics(env: Readonly<Record<string, string | undefined>> = process.env): Metrics {
  const environment = env.SIDESTEP_ENV;
  return new Metrics({
    ...(env.POWERTOOLS_METRICS_NAMESPACE ? {} : { namespace: METRICS_NAMESPACE }),
    ...(environment ? { defaultDimensions: { environment } } : {}),
  });
}

/** The Lambda handler {@link createSqsHandler} returns; assignable to `SQSHandler`. */
export type SqsBatchHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/** How each record of an invocation ended, counted: the `processed`, `failed`, `deferred` and `deadLettered` metrics. */
type Outcomes = Record<(typeof OUTCOMES)[number], number>;
const OUTCOMES = ['processed', 'failed', 'deferred', 'deadLettered'] as const;

function stringField(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Correlation ids found in a sidestep envelope `{ type, id, payload }` or a flat job. */
function defaultCorrelation(job: unknown): Record<string, string | undefined> {
  if (typeof job !== 'object' || job === null) return {};
  const fields = job as Record<string, unknown>;
  const payload =
    typeof fields.payload === 'object' && fields.payload !== null
      ? (fields.payload as Record<string, unknown>)
      : {};
  return {
    jobId: stringField(fields.jobId) ?? stringField(fields.id),
    jobType: stringField(fields.type),
    executionId: stringField(fields.executionId) ?? stringField(payload.executionId),
  };
}

/**
 * Builds the Lambda handler of an SQS-triggered sidestep service: partial batch responses through
 * Powertools `BatchProcessor`, one job per record, permanent failures dead-lettered at once with
 * their reason, transient failures left to SQS's retries, one structured log line and EMF metrics
 * per record, and {@link isolate} around every invocation.
 *
 * The event source mapping must have `ReportBatchItemFailures` enabled.
 *
 * @example
 * ```ts
 * export const handler = createSqsHandler({
 *   schema: MailSendJob,
 *   process: async (job, _record, { logger }) => { await sendMail(job.payload); logger.info('sent'); },
 * });
 * ```
 */
export function createSqsHandler<T>(options: SqsHandlerOptions<T>): SqsBatchHandler {
  const deadLetterQueueUrl = options.deadLetterQueueUrl ?? process.env.DEAD_LETTER_QUEUE_URL;
  if (deadLetterQueueUrl === undefined || deadLetterQueueUrl === '') {
    // Failing at cold start beats discovering at the first bad message that it cannot be dead-lettered.
    throw new ConfigError(
      'DEAD_LETTER_QUEUE_URL',
      'invalid configuration: DEAD_LETTER_QUEUE_URL is missing (or pass deadLetterQueueUrl to createSqsHandler)',
    );
  }
  const maxReceiveCount =
    options.maxReceiveCount ??
    readConfig(z.object({ MAX_RECEIVE_COUNT: z.optional(z.coerce.number().check(z.int(), z.minimum(1))) }))
      .MAX_RECEIVE_COUNT;
  const handlerLogger = options.logger ?? new Logger();
  const metrics = options.metrics ?? defaultMetrics();
  // The dead-letter and put-off paths (the SQS client and its part of the SDK) load on the first
  // record that takes one, not at cold start: most invocations take neither.
  let sqs = options.sqs;
  const sqsClient = async () => {
    const sdk = await import('./dead-letter-sqs.ts');
    sqs ??= new sdk.SQSClient({});
    return { sqs, sdk };
  };
  const claimCheck = new ClaimCheckStore({
    s3: options.s3,
    bucket: options.claimCheckBucket ?? process.env[CLAIM_CHECK_BUCKET_VARIABLE],
  });
  const deadLetter = async (record: SQSRecord, error: Error) =>
    sendToDeadLetterQueue((await sqsClient()).sqs, deadLetterQueueUrl, record, error, { claimCheck });
  const queueUrl = options.queueUrl ?? process.env.QUEUE_URL;
  /**
   * Puts a failed record off: visible again after `seconds`, not after the queue's visibility timeout
   * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html).
   * What it could not do is said, not thrown: the queue's own timeout then applies.
   */
  const putOff = async (record: SQSRecord, seconds: number): Promise<string | undefined> => {
    if (!queueUrl) return 'no QUEUE_URL: the queue redelivers it after its visibility timeout';
    try {
      const { sqs: client, sdk } = await sqsClient();
      await client.send(
        new sdk.ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: record.receiptHandle,
          VisibilityTimeout: seconds,
        }),
      );
      return undefined;
    } catch (error) {
      const failure = toError(error);
      return `could not put it off (${failure.name}: ${failure.message}): the queue redelivers it after its visibility timeout`;
    }
  };
  // Powertools' parser integration (`new BatchProcessor(EventType.SQS, { parser, innerSchema })`)
  // would report non-JSON and schema-invalid records as item failures, so SQS would retry a payload
  // that can never succeed until maxReceiveCount. sidestep dead-letters such records at once, with
  // the reason, so the record handler parses and validates the body itself.
  const processor = new BatchProcessor(EventType.SQS);
  const recordConcurrency = options.recordConcurrency ?? 1;
  if (!Number.isInteger(recordConcurrency) || recordConcurrency < 1) {
    throw new ConfigError('recordConcurrency', 'recordConcurrency must be a whole number >= 1');
  }
  const parallel = recordConcurrency > 1;

  const processRecord = async (
    record: SQSRecord,
    lambdaContext: Context,
    outcomes: Outcomes,
  ): Promise<void> => {
    const elapsed = startStopwatch();
    // In parallel, a record's keys go on its own child logger (which copies the invocation's context).
    const logger = parallel ? handlerLogger.createChild() : handlerLogger;
    const receiveCount = Number(record.attributes.ApproximateReceiveCount);
    const keys: Record<string, string> = { messageId: record.messageId };
    // The keys are appended once, when they are all known (nothing logs before), or in the catch
    // below when parsing failed first: each appendKeys costs Powertools a merge and environment reads.
    let appended = false;
    try {
      // A claim check (SQS Extended Client convention) stands for a body stored in S3.
      const body = await claimCheck.resolve(record.body, Object.keys(record.messageAttributes ?? {}));
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch (error) {
        throw new InvalidJsonError({ cause: error });
      }
      const validation = await z.safeParseAsync(options.schema, json);
      if (!validation.success) throw new SchemaViolationError(validation.error);
      const job = validation.data;

      const correlation = { ...defaultCorrelation(job), ...options.correlation?.(job) };
      for (const [key, value] of Object.entries(correlation)) {
        if (value !== undefined) keys[key] = value;
      }
      logger.appendKeys(keys);
      appended = true;

      await options.process(job, record, {
        messageId: record.messageId,
        receiveCount,
        lambdaContext,
        logger,
      });
      outcomes.processed += 1;
      logger.info({ message: 'job processed', outcome: 'processed', durationMs: elapsed(), receiveCount });
    } catch (thrown) {
      if (!appended) logger.appendKeys(keys);
      const error = toError(thrown);
      const lastAttempt = maxReceiveCount !== undefined && receiveCount >= maxReceiveCount;
      if (isPermanentError(thrown) || lastAttempt) {
        const field = isPermanentError(thrown) ? thrown.field : undefined;
        try {
          // A record put off on its last receive did not fail, but it has no receive left either.
          const deferred = isDeferredError(thrown);
          const reason = isPermanentError(thrown)
            ? error
            : {
                name: error.name,
                message: `${error.message} (${deferred ? 'put off on ' : ''}the last of ${maxReceiveCount} ${deferred ? 'receives' : 'attempts'}: none is left)`,
              };
          const sent = await deadLetter(record, reason);
          outcomes.deadLettered += 1;
          logger.error(
            {
              message: isPermanentError(thrown)
                ? 'job dead-lettered'
                : deferred
                  ? 'job dead-lettered: put off on its last receive'
                  : 'job dead-lettered: its last attempt failed',
              outcome: 'deadLettered',
              reason: `${reason.name}: ${reason.message}`,
              ...(typeof field === 'string' ? { field } : {}),
              deadLetterQueueUrl,
              deadLetterMessageId: sent.deadLetterMessageId,
              droppedAttributes: sent.droppedAttributes,
              ...(sent.claimCheck ? { claimCheck: sent.claimCheck } : {}),
              durationMs: elapsed(),
              receiveCount,
            },
            loggableError(error),
          );
          // Returning normally marks the record processed, so SQS deletes it from the source queue.
          return;
        } catch (sendError) {
          const failure = new DeadLetterSendError(deadLetterQueueUrl, { cause: sendError });
          outcomes.failed += 1;
          logger.error(
            {
              message: 'job failed: it could not be dead-lettered, so SQS will deliver it again',
              outcome: 'failed',
              reason: `${error.name}: ${error.message}`,
              durationMs: elapsed(),
              receiveCount,
            },
            loggableError(failure),
          );
          throw failure;
        }
      }
      if (isDeferredError(thrown)) {
        outcomes.deferred += 1;
        logger.info({
          message: 'job deferred, SQS will deliver it again',
          outcome: 'deferred',
          reason: `${error.name}: ${error.message}`,
          durationMs: elapsed(),
          receiveCount,
        });
        throw error;
      }
      outcomes.failed += 1;
      // A failure a retry within minutes would meet again asks for a later one: its first, then four
      // times as long on each receive, at most SQS's 12 hours.
      const base = isTransientError(thrown) ? thrown.retryAfterSeconds : undefined;
      const retryAfterSeconds =
        base === undefined
          ? undefined
          : Math.min(MAX_VISIBILITY_SECONDS, base * 4 ** Math.max(0, receiveCount - 1));
      const notPutOff = retryAfterSeconds === undefined ? undefined : await putOff(record, retryAfterSeconds);
      logger.error(
        {
          message: 'job failed, SQS will deliver it again',
          outcome: 'failed',
          durationMs: elapsed(),
          receiveCount,
          ...(retryAfterSeconds === undefined ? {} : notPutOff ? { notPutOff } : { retryAfterSeconds }),
        },
        loggableError(error),
      );
      throw error;
    } finally {
      metrics.addMetric(SQS_HANDLER_METRICS.duration, MetricUnit.Milliseconds, elapsed());
      if (!parallel) logger.removeKeys(Object.keys(keys));
    }
  };
  // p-limit bounds the records in flight; Powertools' parallel mode alone would start the whole batch.
  const limit = pLimit(recordConcurrency);

  const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    handlerLogger.addContext(context);
    handlerLogger.refreshSampleRateCalculation();
    const outcomes: Outcomes = { processed: 0, failed: 0, deferred: 0, deadLettered: 0 };
    const recordHandler = parallel
      ? (record: SQSRecord, lambdaContext: Context) =>
          limit(() => processRecord(record, lambdaContext, outcomes))
      : (record: SQSRecord, lambdaContext: Context) => processRecord(record, lambdaContext, outcomes);
    try {
      // Sequential by default: the correlation ids are appended to the shared logger for one record
      // at a time, so every log line a job writes (also through module-level adapters) carries its
      // own ids. With recordConcurrency > 1 each record has its own child logger instead.
      const response = await processPartialResponse(event, recordHandler, processor, {
        context,
        processInParallel: parallel,
        throwOnFullBatchFailure: false,
      });
      // A batch whose every record failed fails the invocation, as Powertools does by default (the
      // function's Errors metric and alarm count it, and Lambda backs the mapping's concurrency off:
      // https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html), unless every
      // one of them was only deferred: records waiting their turn are not an error of the function.
      if (processor.errors.length === event.Records.length && outcomes.deferred < processor.errors.length) {
        throw new FullBatchFailureError(processor.errors);
      }
      return response;
    } finally {
      handlerLogger.resetKeys();
      // The outcome counts as one value each (their Sum is the number of records, as one 1 per
      // record would give, for a tenth of the calls), then the metrics once per invocation, also
      // when the whole batch failed and processPartialResponse threw.
      for (const outcome of OUTCOMES) {
        if (outcomes[outcome] > 0)
          metrics.addMetric(SQS_HANDLER_METRICS[outcome], MetricUnit.Count, outcomes[outcome]);
      }
      metrics.publishStoredMetrics();
    }
  };

  return isolate(handler, options.state ? { state: options.state } : {});
}
