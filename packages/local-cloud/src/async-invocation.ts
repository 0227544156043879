import { randomUUID } from 'node:crypto';
import { CreateQueueCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { sqsAuthorization } from '@sidestep/iam';
import type { InvokeResult } from '@sidestep/lambda-runtime';
import { asyncFailureQueueName } from '@sidestep/manifest';
import { type KeyedStore, keyedMemoryStore } from './keyed-store.ts';
import type { LocalCloudReporter } from './local-cloud-event.ts';
import { LOCAL_ROLES, type LocalIam } from './local-iam.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_ENVIRONMENT, LOCAL_REGION, localName } from './local-names.ts';
import { TooManyRequestsError } from './too-many-requests-error.ts';

/**
 * Lambda's waits before the second and the third attempt of an asynchronous invocation whose function
 * returned an error: one minute, then two
 * (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html).
 */
export const ASYNC_RETRY_DELAYS_MS: readonly number[] = [60_000, 120_000];

/**
 * How long Lambda keeps an accepted event for its attempts: the function's maximum event age,
 * 6 hours by default (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html);
 * an event older is sent to the on-failure destination with `EventAgeExceeded`.
 */
export const ASYNC_MAXIMUM_EVENT_AGE_MS = 6 * 3_600_000;

/** Lambda's first wait before an attempt throttled is made again, doubled each time up to the max. */
const THROTTLE_RETRY_FIRST_MS = 1_000;
const THROTTLE_RETRY_MAX_MS = 5 * 60_000;

/** Options of {@link startAsyncInvocations}. */
export interface AsyncInvocationsOptions {
  /** Invokes a running service; `undefined` when the cloud does not run it. */
  invoke(service: string, payload: unknown): Promise<InvokeResult> | undefined;
  readonly sqs: SQSClient;
  /** Checks the failure record's SendMessage as the function's role, as Lambda sends it. */
  readonly iam: LocalIam;
  readonly reporter: LocalCloudReporter;
  /** The waits before each retry; one retry per entry. @default {@link ASYNC_RETRY_DELAYS_MS} */
  readonly retryDelaysMs?: readonly number[];
  /** The maximum event age of every function. @default {@link ASYNC_MAXIMUM_EVENT_AGE_MS} */
  readonly maximumEventAgeMs?: number;
  /**
   * The accepted events not yet done, kept across restarts (the local cloud's
   * `lambda/pending-invocations.json`): a stop, or a crash, leaves them for the next start to retry.
   * @default kept in memory: a stop forgets them
   */
  readonly pendingInvocations?: PendingInvocationsStore;
}

/** An accepted asynchronous invocation not yet done, as {@link PendingInvocationsStore} keeps it. */
export interface PendingInvocation {
  readonly service: string;
  readonly requestId: string;
  readonly payload: unknown;
  /** When Lambda accepted the event, ISO 8601: its age counts from there. */
  readonly acceptedAt: string;
  /** The attempt to make (or being made). */
  readonly attempt: number;
  /** When that attempt is due, ISO 8601. */
  readonly retryAt: string;
  /** The last failed attempt's error, for the record of an event that ages out. */
  readonly lastError?: { readonly errorType: string; readonly errorMessage: string };
  /** Times the attempt was throttled in a row (it did not run), which its next wait doubles with. */
  readonly throttles?: number;
}

/** The accepted asynchronous invocations not yet done, by request id. */
export type PendingInvocationsStore = KeyedStore<PendingInvocation>;

/** Lambda's asynchronous invocations in the local cloud. */
export interface AsyncInvocations {
  /**
   * Invokes `service` asynchronously (`InvocationType: Event`), as an EventBridge rule, a schedule or
   * Lambda's Invoke API does: `false` when the cloud does not run the service (the delivery fails),
   * else `true` at once (Lambda accepted the event, and it is kept before this returns); attempts and
   * retries run on their own. `requestId` is the invocation's (the Invoke call answered it), which
   * its record keeps.
   * @default a new one
   */
  invokeAsync(service: string, payload: unknown, requestId?: string): boolean;
  /**
   * Cancels the retries still waiting and waits for the attempts in flight; the events not yet done
   * stay in {@link AsyncInvocationsOptions.pendingInvocations} for the next start.
   */
  stop(): Promise<void>;
}

/**
 * Runs a function's asynchronous invocations as Lambda does: a function error is retried after each
 * of the waits (one and two minutes), and an event that failed every attempt goes to the function's
 * on-failure destination, `sidestep-local-<service>-async-failures` (infra's `AsyncInvocation`), as
 * Lambda's invocation record: the event as `requestPayload`, the last error as `responsePayload`
 * (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html). Before this,
 * the local cloud tried such an event once and only reported its error; EventBridge's own retry
 * policy never applied to it (it covers handing the event to Lambda, which the local cloud does
 * in-process).
 *
 * Lambda keeps an accepted event in its own queue, apart from the caller, for up to the function's
 * maximum event age (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html): here every
 * accepted event is kept in `pendingInvocations` until it succeeded or its record was sent, so a
 * start carries over what the last run (stopped or killed) left: each is retried at its time, or
 * recorded with `EventAgeExceeded` once past the maximum event age.
 */
export function startAsyncInvocations(options: AsyncInvocationsOptions): AsyncInvocations {
  const delays = options.retryDelaysMs ?? ASYNC_RETRY_DELAYS_MS;
  const maximumAgeMs = options.maximumEventAgeMs ?? ASYNC_MAXIMUM_EVENT_AGE_MS;
  const persisted = options.pendingInvocations !== undefined;
  const pending =
    options.pendingInvocations ?? keyedMemoryStore<PendingInvocation>((invocation) => invocation.requestId);
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<void>>();
  let stopped = false;

  const report = (service: string, message: string) =>
    options.reporter({ type: 'error', source: `async invoke ${localName(service)}`, message });

  /** Sends the invocation record of `invocation`, given up on after `attempts` attempts. */
  const failed = async (
    invocation: PendingInvocation,
    error: PendingInvocation['lastError'],
    attempts: number,
    condition: InvocationRecordCondition,
  ) => {
    const { service, payload, requestId } = invocation;
    const queueName = asyncFailureQueueName(LOCAL_ENVIRONMENT, service);
    options.iam.assertAuthorized(
      options.iam.role(LOCAL_ROLES.service(service)),
      sqsAuthorization('SendMessage', { region: LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID, queueName }),
    );
    // Infra creates the queue with the function; here it is made when first needed (CreateQueue of an
    // existing queue with the same attributes returns its URL).
    const { QueueUrl } = await options.sqs.send(
      new CreateQueueCommand({ QueueName: queueName, Attributes: { MessageRetentionPeriod: '1209600' } }),
    );
    await options.sqs.send(
      new SendMessageCommand({
        QueueUrl,
        MessageBody: JSON.stringify(
          invocationRecord(service, payload, error, attempts, requestId, condition),
        ),
      }),
    );
    const why = error ? ` (${error.errorType}: ${error.errorMessage})` : '';
    report(
      service,
      condition === 'EventAgeExceeded'
        ? `failed ${attempts} time(s)${why} and is past its maximum event age (EventAgeExceeded); its record is in ${queueName}`
        : `failed on all ${attempts} attempts${why}; its record is in ${queueName}`,
    );
  };

  /** Runs `work` (an attempt or a record) as in flight: stop waits for it. */
  const track = (service: string, number: number, work: Promise<void>) => {
    const done = work
      .catch((error: unknown) =>
        report(service, `attempt ${number}: ${error instanceof Error ? error.message : String(error)}`),
      )
      .finally(() => running.delete(done));
    running.add(done);
  };

  /** Gives up on `invocation`: its record is sent, then it is no longer kept (sent or not). */
  const giveUp = (
    invocation: PendingInvocation,
    error: PendingInvocation['lastError'],
    attempts: number,
    condition: InvocationRecordCondition,
  ) => failed(invocation, error, attempts, condition).finally(() => pending.delete(invocation.requestId));

  /**
   * Follows `invocation`'s attempt, `result`, as in flight. Nothing is written before an attempt:
   * the entry is kept already (by invokeAsync, by `follow` when it scheduled the retry, or by the
   * last run), so a kill during the attempt leaves it for the next start, which makes it again
   * (Lambda retries an invocation its environment cut off). Its retryAt is past by then, which a
   * start reads as now, as it would the attempt's own time.
   */
  const attempt = (invocation: PendingInvocation, result: Promise<InvokeResult>) =>
    track(invocation.service, invocation.attempt, follow(invocation, result));

  /** Arms the attempt of `invocation` at its `retryAt` (now when that is past). */
  const arm = (invocation: PendingInvocation) => {
    const timer = setTimeout(
      () => {
        timers.delete(timer);
        if (stopped) return;
        const result = options.invoke(invocation.service, invocation.payload);
        if (result) return attempt(invocation, result);
        // The service is gone: the event is no longer kept.
        pending.delete(invocation.requestId);
        report(invocation.service, `attempt ${invocation.attempt}: the service is no longer running`);
      },
      Math.max(0, new Date(invocation.retryAt).getTime() - Date.now()),
    );
    timers.add(timer);
  };

  /**
   * An attempt the account's concurrency refused (it did not run): back on Lambda's queue, the same
   * attempt again after 1 s, doubling to 5 minutes, until the event's maximum age
   * (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html: "For
   * throttling errors (429) ... the retry interval increases exponentially from 1 second after the
   * first attempt to a maximum of 5 minutes"); a throttle spends none of the function's retries.
   */
  const throttled = (invocation: PendingInvocation) => {
    const throttles = (invocation.throttles ?? 0) + 1;
    const delay = Math.min(THROTTLE_RETRY_FIRST_MS * 2 ** (throttles - 1), THROTTLE_RETRY_MAX_MS);
    const retryAt = Date.now() + delay;
    if (retryAt > new Date(invocation.acceptedAt).getTime() + maximumAgeMs) {
      // Its record has the last attempt's error, none when no attempt ran (a throttle is no response).
      return giveUp(invocation, invocation.lastError, invocation.attempt - 1, 'EventAgeExceeded');
    }
    const next = { ...invocation, throttles, retryAt: new Date(retryAt).toISOString() };
    // Kept before it is armed, as a retry is; the cloud's `lambda-throttled` line already said it.
    pending.set(next);
    if (!stopped) arm(next);
  };

  /** Follows `invocation`'s attempt: done, retried after its wait (kept), or recorded as failed. */
  const follow = async (invocation: PendingInvocation, result: Promise<InvokeResult>) => {
    let answer: InvokeResult;
    try {
      answer = await result;
    } catch (error) {
      if (error instanceof TooManyRequestsError) return throttled(invocation);
      throw error;
    }
    const number = invocation.attempt;
    if (answer.ok) {
      pending.delete(invocation.requestId);
      return;
    }
    const error = { errorType: answer.error.errorType, errorMessage: answer.error.errorMessage };
    const delay = delays[number - 1];
    if (delay === undefined) return giveUp(invocation, error, number, 'RetriesExhausted');
    const retryAt = Date.now() + delay;
    if (retryAt > new Date(invocation.acceptedAt).getTime() + maximumAgeMs) {
      return giveUp(invocation, error, number, 'EventAgeExceeded');
    }
    const { throttles: _ran, ...attempted } = invocation;
    const next = {
      ...attempted,
      attempt: number + 1,
      retryAt: new Date(retryAt).toISOString(),
      lastError: error,
    };
    // Kept before it is armed: a stop (or a kill) in between leaves it for the next start.
    pending.set(next);
    const failure = `attempt ${number} failed (${error.errorType}: ${error.errorMessage})`;
    if (stopped) {
      // An attempt that failed while the cloud stopped: no timer may outlive the stop.
      report(
        invocation.service,
        persisted
          ? `${failure}; kept: retried when the local cloud starts again`
          : `${failure}; not retried: the local cloud stopped`,
      );
      return;
    }
    report(invocation.service, `${failure}; retried in ${delay / 1000} s`);
    arm(next);
  };

  // What the last run left: each event retried at its time, or recorded once past its event age.
  const start = Date.now();
  for (const kept of pending.list()) {
    const due = Math.max(new Date(kept.retryAt).getTime(), start);
    if (due <= new Date(kept.acceptedAt).getTime() + maximumAgeMs) {
      arm(kept);
      continue;
    }
    track(kept.service, kept.attempt, giveUp(kept, kept.lastError, kept.attempt - 1, 'EventAgeExceeded'));
  }

  return {
    invokeAsync(service, payload, requestId = randomUUID()) {
      if (stopped) return false;
      const now = new Date().toISOString();
      const result = options.invoke(service, payload);
      if (!result) return false;
      const invocation = { service, requestId, payload, acceptedAt: now, attempt: 1, retryAt: now };
      // Kept before Lambda's answer, and only once the service took it: a stop (or a kill) from
      // here on leaves it for the next start.
      pending.set(invocation);
      attempt(invocation, result);
      return true;
    },
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.allSettled([...running]);
    },
  };
}

/** Why Lambda gave up on an event, as its invocation record's `requestContext.condition` says. */
export type InvocationRecordCondition = 'RetriesExhausted' | 'EventAgeExceeded';

/**
 * Lambda's invocation record of an asynchronous invocation that failed every attempt, as it sends it
 * to an on-failure destination (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
 */
export function invocationRecord(
  service: string,
  payload: unknown,
  error: { readonly errorType: string; readonly errorMessage: string } | undefined,
  attempts: number,
  requestId: string = randomUUID(),
  condition: InvocationRecordCondition = 'RetriesExhausted',
) {
  return {
    version: '1.0',
    timestamp: new Date().toISOString(),
    requestContext: {
      requestId,
      functionArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${localName(service)}:$LATEST`,
      condition,
      approximateInvokeCount: attempts,
    },
    requestPayload: payload,
    // An event that aged out before any attempt has no response to keep.
    ...(error
      ? {
          responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
          responsePayload: error,
        }
      : {}),
  };
}
