import { setTimeout } from 'node:timers/promises';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { sqsAuthorization } from '@sidestep/iam';
import { EVENTBRIDGE_DEFAULT_RETRY_POLICY, type EventRetryPolicy } from '@sidestep/workflows';
import { isThrottlingError, isTransientError } from '@smithy/core/retry';
import { type ExhaustedRetryCondition, exhaustedRetryCondition, retryBackoffMs } from './event-retries.ts';
import type { EventBridgeEvent } from './event-router.ts';
import type { LocalCloudReporter } from './local-cloud-event.ts';
import { AccessDeniedError, assertAuthorizedForRule, type LocalIam } from './local-iam.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from './local-names.ts';

/** A rule's target and the dead-letter queue EventBridge sends its undelivered events to. */
export interface RuleTargetDeadLetter {
  readonly ruleArn: string;
  readonly targetArn: string;
  /** The target's DLQ, `sidestep-<env>-<rule>-dlq` as infra names it. */
  readonly queueName: string;
  /** Its URL: the queue is created with the rule, as infra creates it with the stack. */
  readonly queueUrl: string;
  readonly sqs: SQSClient;
  /** Checks the DLQ's SendMessage as EventBridge for the rule, on the queue's policy. */
  readonly iam: LocalIam;
  /**
   * Reports each failed attempt EventBridge retries, as the scheduler reports its own (the last
   * attempt's failure, saying where the event went, the event router reports).
   */
  readonly reporter: LocalCloudReporter;
  /**
   * The target's retry policy (PutTargets' `RetryPolicy`), as infra sets it.
   * @default EventBridge's, {@link EVENTBRIDGE_DEFAULT_RETRY_POLICY}
   */
  readonly retryPolicy?: EventRetryPolicy;
  /**
   * The pause before retry `retry` (1 for the first), ms: EventBridge backs off exponentially (with
   * jitter, which is left out). @default 1 s doubling, at most 1 minute (tests pass a short one)
   */
  readonly retryDelayMs?: (retry: number) => number;
  /**
   * Ends a pending retry (the local cloud stopping): the event is then neither retried nor
   * dead-lettered, nor is one whose delivery fails after it.
   */
  readonly signal?: AbortSignal;
}

/**
 * A rule's target does not exist (a state machine, queue or function that is not there): EventBridge
 * does not retry the delivery, it sends the event to the target's DLQ as `NO_RESOURCE`.
 */
export class RuleTargetNotFoundError extends Error {
  override readonly name = 'RuleTargetNotFoundError';
  /** The target's ARN. */
  readonly targetArn: string;
  constructor(targetArn: string, reason: string, options?: ErrorOptions) {
    super(`the rule's target ${targetArn} does not exist: ${reason}`, options);
    this.targetArn = targetArn;
  }
}

/** How a failed delivery ended: not retried, or retried until a limit of the retry policy. */
type DeliveryOutcome =
  | { readonly retried: false }
  | { readonly retried: true; readonly retryAttempts: number; readonly condition: ExhaustedRetryCondition };

/**
 * EventBridge could not deliver a rule's event to its target (its FailedInvocations metric): the
 * error code EventBridge gives the event in the DLQ, and where the event went.
 */
export class RuleDeliveryFailedError extends Error {
  override readonly name = 'RuleDeliveryFailedError';
  /** The DLQ's `ERROR_CODE`, e.g. `NO_PERMISSIONS`. */
  readonly errorCode: string;
  /** The retries made before EventBridge gave up (0 for an error it does not retry). */
  readonly retryAttempts: number;
  /** The DLQ holding the event; `undefined` when sending it there failed too (the event is lost). */
  readonly deadLetterQueue: string | undefined;
  /**
   * @param deadLetter the DLQ the event went to, or why sending it there failed.
   */
  constructor(
    errorCode: string,
    reason: string,
    outcome: DeliveryOutcome,
    deadLetter: { readonly queue: string } | { readonly sendError: unknown },
  ) {
    const where =
      'queue' in deadLetter
        ? `the event is in ${deadLetter.queue}`
        : `sending it to the target's dead-letter queue failed too (InvocationsFailedToBeSentToDLQ: ${
            deadLetter.sendError instanceof Error
              ? deadLetter.sendError.message
              : String(deadLetter.sendError)
          }), so the event is lost`;
    const retries = outcome.retried
      ? `EventBridge gave up after ${outcome.retryAttempts} retries (${outcome.condition})`
      : 'EventBridge does not retry it';
    super(`${errorCode}: ${reason}; ${retries}: ${where}`);
    this.errorCode = errorCode;
    this.retryAttempts = outcome.retried ? outcome.retryAttempts : 0;
    this.deadLetterQueue = 'queue' in deadLetter ? deadLetter.queue : undefined;
  }
}

/**
 * A rule's delivery failed, or waited for its retry, while the local cloud stopped: the event is not
 * retried.
 */
export class RuleRetryStoppedError extends Error {
  override readonly name = 'RuleRetryStoppedError';
  constructor(reason: string) {
    super(`${reason}; the local cloud is stopping: the event is neither retried nor dead-lettered`);
  }
}

/**
 * The DLQ's `ERROR_CODE` of a delivery error and whether EventBridge retries it
 * (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html): "for errors that
 * result from missing permissions to a target, or if a target resource that no longer exists, no
 * retry attempts will happen" (`NO_PERMISSIONS`, `NO_RESOURCE`). Of the target API's other errors,
 * "EventBridge retries responses sent with a 5xx or 429 HTTP status code [...] EventBridge doesn't
 * retry other 4xx HTTP errors"
 * (https://repost.aws/knowledge-center/eventbridge-resolve-failedinvocation-errors): a client fault
 * (Step Functions' `InvalidExecutionInput`, a ValidationException) goes to the DLQ unretried as
 * `INVALID_PARAMETER`; throttling, a server fault or a failure with no status (the connection) is
 * retried and dead-lettered as `SDK_CLIENT_ERROR`. The DLQ page lists both codes without saying
 * which API error gives which: these are the ones naming a refused request and a failed call.
 */
function classify(error: unknown): { readonly errorCode: string; readonly retriable: boolean } {
  if (error instanceof AccessDeniedError) return { errorCode: 'NO_PERMISSIONS', retriable: false };
  if (error instanceof RuleTargetNotFoundError || isQueueGone(error)) {
    return { errorCode: 'NO_RESOURCE', retriable: false };
  }
  const status = httpStatusOf(error);
  if (status !== undefined && status >= 400 && status < 500 && !isRetriedFault(error)) {
    return { errorCode: 'INVALID_PARAMETER', retriable: false };
  }
  return { errorCode: 'SDK_CLIENT_ERROR', retriable: true };
}

/** SQS's answer (a 400) for a target queue that is gone, e.g. deleted while the cloud runs. */
function isQueueGone(error: unknown): boolean {
  return error instanceof Error && error.name === 'QueueDoesNotExist';
}

/**
 * The HTTP status the target's API answered `error` with: an SDK error's `$metadata`, a local API's
 * `statusCode` (the endpoint answers a local API error with it, 400 when it has none: its client
 * faults carry 400); `undefined` for an error no API answered (a connection failure).
 */
function httpStatusOf(error: unknown): number | undefined {
  const { $metadata, statusCode } = (error ?? {}) as {
    readonly $metadata?: { readonly httpStatusCode?: unknown };
    readonly statusCode?: unknown;
  };
  if (typeof $metadata?.httpStatusCode === 'number') return $metadata.httpStatusCode;
  return typeof statusCode === 'number' ? statusCode : undefined;
}

/**
 * Whether the SDK's own classification (@smithy/core/retry, what its retry strategy uses) counts
 * `error` as throttling (a 429, one of its throttling codes, which some APIs answer with a 400, or
 * `$retryable.throttling`) or transient (a 408 RequestTimeout, a 5xx, a timeout): EventBridge
 * retries those, not other client faults.
 */
function isRetriedFault(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const sdkError = error as Parameters<typeof isThrottlingError>[0];
  return isThrottlingError(sdkError) || isTransientError(sdkError);
}

/**
 * Delivers a rule's event to its target as EventBridge does for a target with a retry policy and a
 * dead-letter queue (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html,
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-retry-policy.html): a call the
 * target's policy refuses (`deliver` throws AccessDeniedError, `NO_PERMISSIONS`) or a target that
 * does not exist ({@link RuleTargetNotFoundError}, `NO_RESOURCE`) or a request the target's API
 * refuses as a client fault (a 4xx other than throttling, `INVALID_PARAMETER`) goes straight to the
 * DLQ; any other error is retried with backoff until the retry policy's attempts or event age run
 * out, then dead-lettered (`SDK_CLIENT_ERROR`). The DLQ message is the event as the body, with `RULE_ARN`,
 * `TARGET_ARN`, `ERROR_CODE` and `ERROR_MESSAGE` (and, after retries, `EXHAUSTED_RETRY_CONDITION`
 * and `RETRY_ATTEMPTS`). That send is EventBridge's too, so the DLQ's queue policy must allow it for
 * the rule. The delivery then fails with {@link RuleDeliveryFailedError}, which the event router
 * reports.
 */
export async function deliverOrDeadLetter(
  event: EventBridgeEvent,
  target: RuleTargetDeadLetter,
  deliver: () => Promise<void> | void,
): Promise<void> {
  const policy = target.retryPolicy ?? EVENTBRIDGE_DEFAULT_RETRY_POLICY;
  const delayMs = target.retryDelayMs ?? retryBackoffMs;
  const firstAttemptMs = Date.now();
  for (let retries = 0; ; retries += 1) {
    try {
      await deliver();
      return;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      // A delivery failing while the cloud stops (its targets going away) is not dead-lettered.
      if (target.signal?.aborted) throw new RuleRetryStoppedError(reason);
      const { errorCode, retriable } = classify(error);
      const wait = delayMs(retries + 1);
      const condition = exhaustedRetryCondition(policy, {
        failedAttempt: retries + 1,
        retryAtMs: Date.now() + wait,
        firstAttemptMs,
      });
      if (retriable && condition === undefined) {
        target.reporter({
          type: 'error',
          source: `rule ${target.ruleArn.slice(target.ruleArn.lastIndexOf('/') + 1)}`,
          message: `delivering event ${event.id} failed (attempt ${retries + 1}): ${reason}; retrying at ${new Date(
            Date.now() + wait,
          ).toISOString()}`,
        });
        await pause(wait, target.signal, reason);
        continue;
      }
      const outcome: DeliveryOutcome =
        retriable && condition ? { retried: true, retryAttempts: retries, condition } : { retried: false };
      try {
        await sendToDeadLetterQueue(event, target, { errorCode, errorMessage: reason, outcome });
      } catch (sendError) {
        throw new RuleDeliveryFailedError(errorCode, reason, outcome, { sendError });
      }
      throw new RuleDeliveryFailedError(errorCode, reason, outcome, { queue: target.queueName });
    }
  }
}

/** Waits `ms` before a retry; throws {@link RuleRetryStoppedError} when `signal` ends the wait. */
async function pause(ms: number, signal: AbortSignal | undefined, reason: string): Promise<void> {
  try {
    await setTimeout(ms, undefined, signal ? { signal } : {});
  } catch (error) {
    if (signal?.aborted) throw new RuleRetryStoppedError(reason);
    throw error;
  }
}

async function sendToDeadLetterQueue(
  event: EventBridgeEvent,
  target: RuleTargetDeadLetter,
  failure: { readonly errorCode: string; readonly errorMessage: string; readonly outcome: DeliveryOutcome },
): Promise<void> {
  const { queueName, queueUrl, sqs } = target;
  assertAuthorizedForRule(
    target.iam,
    target.ruleArn,
    sqsAuthorization('SendMessage', { region: LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID, queueName }),
  );
  // A queue deleted since is not made again: EventBridge's send fails, and the event is lost.
  const attribute = (value: string) => ({ DataType: 'String', StringValue: value });
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: JSON.stringify(event),
      MessageAttributes: {
        RULE_ARN: attribute(target.ruleArn),
        TARGET_ARN: attribute(target.targetArn),
        ERROR_CODE: attribute(failure.errorCode),
        ERROR_MESSAGE: attribute(failure.errorMessage),
        ...(failure.outcome.retried
          ? {
              EXHAUSTED_RETRY_CONDITION: attribute(failure.outcome.condition),
              RETRY_ATTEMPTS: { DataType: 'Number', StringValue: String(failure.outcome.retryAttempts) },
            }
          : {}),
      },
    }),
  );
}
