import { randomUUID } from 'node:crypto';
import { CreateQueueCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { sqsAuthorization } from '@sidestep/iam';
import type { InvokeResult, LambdaErrorBody } from '@sidestep/lambda-runtime';
import { asyncFailureQueueName } from '@sidestep/manifest';
import type { LocalCloudReporter } from './local-cloud-event.ts';
import { LOCAL_ROLES, type LocalIam } from './local-iam.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_ENVIRONMENT, LOCAL_REGION, localName } from './local-names.ts';

/**
 * Lambda's waits before the second and the third attempt of an asynchronous invocation whose function
 * returned an error: one minute, then two
 * (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html).
 */
export const ASYNC_RETRY_DELAYS_MS: readonly number[] = [60_000, 120_000];

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
}

/** Lambda's asynchronous invocations in the local cloud. */
export interface AsyncInvocations {
  /**
   * Invokes `service` asynchronously (`InvocationType: Event`), as an EventBridge rule, a schedule or
   * Lambda's Invoke API does: `false` when the cloud does not run the service (the delivery fails),
   * else `true` at once (Lambda accepted the event); attempts and retries run on their own.
   * `requestId` is the invocation's (the Invoke call answered it), which its record keeps.
   * @default a new one
   */
  invokeAsync(service: string, payload: unknown, requestId?: string): boolean;
  /** Cancels the retries still waiting (a stopped cloud loses them, as its in-flight invocations). */
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
 */
export function startAsyncInvocations(options: AsyncInvocationsOptions): AsyncInvocations {
  const delays = options.retryDelaysMs ?? ASYNC_RETRY_DELAYS_MS;
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<void>>();
  let stopped = false;

  const report = (service: string, message: string) =>
    options.reporter({ type: 'error', source: `async invoke ${localName(service)}`, message });

  const failed = async (
    service: string,
    payload: unknown,
    requestId: string,
    error: LambdaErrorBody,
    attempts: number,
  ) => {
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
          invocationRecord(
            service,
            payload,
            { errorType: error.errorType, errorMessage: error.errorMessage },
            attempts,
            requestId,
          ),
        ),
      }),
    );
    report(
      service,
      `failed on all ${attempts} attempts (${error.errorType}: ${error.errorMessage}); its record is in ${queueName}`,
    );
  };

  /** Follows attempt `number`'s invocation: retries it after its wait, or records its failure. */
  const follow = (
    service: string,
    payload: unknown,
    requestId: string,
    number: number,
    invocation: Promise<InvokeResult>,
  ) => {
    const done = invocation
      .then(async (result) => {
        if (result.ok) return;
        const delay = delays[number - 1];
        if (delay === undefined) return failed(service, payload, requestId, result.error, number);
        if (stopped) {
          // An attempt that failed while the cloud stopped: nothing is armed to outlive the stop.
          report(
            service,
            `attempt ${number} failed (${result.error.errorType}: ${result.error.errorMessage}); not retried: the local cloud stopped`,
          );
          return;
        }
        report(
          service,
          `attempt ${number} failed (${result.error.errorType}: ${result.error.errorMessage}); retried in ${delay / 1000} s`,
        );
        const timer = setTimeout(() => {
          timers.delete(timer);
          const retry = stopped ? undefined : options.invoke(service, payload);
          if (retry) follow(service, payload, requestId, number + 1, retry);
          else if (!stopped) report(service, `attempt ${number + 1}: the service is no longer running`);
        }, delay);
        timers.add(timer);
      })
      .catch((error: unknown) =>
        report(service, `attempt ${number}: ${error instanceof Error ? error.message : String(error)}`),
      )
      .finally(() => running.delete(done));
    running.add(done);
  };

  return {
    invokeAsync(service, payload, requestId = randomUUID()) {
      const invocation = stopped ? undefined : options.invoke(service, payload);
      if (!invocation) return false;
      follow(service, payload, requestId, 1, invocation);
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

/**
 * Lambda's invocation record of an asynchronous invocation that failed every attempt, as it sends it
 * to an on-failure destination (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
 */
export function invocationRecord(
  service: string,
  payload: unknown,
  error: { readonly errorType: string; readonly errorMessage: string },
  attempts: number,
  requestId: string = randomUUID(),
) {
  return {
    version: '1.0',
    timestamp: new Date().toISOString(),
    requestContext: {
      requestId,
      functionArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${localName(service)}:$LATEST`,
      condition: 'RetriesExhausted',
      approximateInvokeCount: attempts,
    },
    requestPayload: payload,
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    responsePayload: error,
  };
}
