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
