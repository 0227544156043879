import type { FunctionHost } from '@sidestep/lambda-runtime';

/**
 * Lambda's answer to an invocation past the account's concurrency: 429 `TooManyRequestsException`,
 * `Reason: ConcurrentInvocationLimitExceeded`, "Rate Exceeded." (API_Invoke's errors,
 * https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html#API_Invoke_Errors). Each caller
 * answers it as Lambda's does: Invoke with the 429, Step Functions as `Lambda.TooManyRequestsException`,
 * an asynchronous invocation back on its queue, an event source mapping's batch back on its queue.
 */
export class TooManyRequestsError extends Error {
  override readonly name = 'TooManyRequestsException';
  readonly reason = 'ConcurrentInvocationLimitExceeded';
  readonly statusCode = 429;
  constructor() {
    super('Rate Exceeded.');
  }
}

/** The account's concurrent executions, shared by every function of the cloud. */
export interface AccountConcurrency {
  /** The quota, or undefined: no limit. */
  readonly limit: number | undefined;
  /**
   * `host` with each invocation counted against the quota from when it is made until it settles
   * (waiting for a local sandbox included: on AWS it would run in an environment of its own); past the
   * quota an invocation rejects with {@link TooManyRequestsError} at once and runs nothing.
   */
  gate(host: FunctionHost): FunctionHost;
}

/**
 * The account's concurrency quota ("Concurrent executions", Service Quotas `L-B99A9384`): the
 * invocations of all its functions that may run at once, 1,000 by default and as few as 10 in a new
 * account (https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html). `limit` undefined
 * counts nothing; `onThrottle` hears of each invocation refused.
 */
export function accountConcurrency(
  limit: number | undefined,
  onThrottle: (functionName: string, limit: number) => void = () => undefined,
): AccountConcurrency {
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
    throw new RangeError(`lambdaConcurrency must be a whole number of at least 1, got ${limit}`);
  }
  let inFlight = 0;
  return {
    limit,
    gate(host) {
      if (limit === undefined) return host;
      return {
        name: host.name,
        functionArn: host.functionArn,
        close: () => host.close(),
        async invoke(event) {
          if (inFlight >= limit) {
            onThrottle(host.name, limit);
            throw new TooManyRequestsError();
          }
          inFlight += 1;
          try {
            return await host.invoke(event);
          } finally {
            inFlight -= 1;
          }
        },
      };
    },
  };
}

/**
 * The body of Lambda's 429: `{"Reason","Type","message"}`, as Invoke answers it (the SDKs read
 * `Reason` into the error, https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html#API_Invoke_Errors).
 */
export function tooManyRequestsBody(error: TooManyRequestsError): {
  Reason: string;
  Type: 'User';
  message: string;
} {
  return { Reason: error.reason, Type: 'User', message: error.message };
}
