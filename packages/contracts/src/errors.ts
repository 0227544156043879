/** Options every sidestep error accepts. */
export interface SidestepErrorOptions {
  /** The error that caused this one; kept as the standard `cause`. */
  readonly cause?: unknown;
  /** The offending field, dotted (`payload.to`), or the environment variable's name. */
  readonly field?: string;
  /**
   * Not a failure: the work waits its turn (a send rate) and is retried as a transient error is, but
   * the SQS handler counts and logs it as deferred, not as failed, and a batch of only deferred
   * records does not fail its invocation. Ignored for a permanent error.
   */
  readonly deferred?: boolean;
  /**
   * A transient failure that a retry within minutes would meet again (a daily quota used up): the
   * SQS handler makes the message visible again only after this many seconds on its first receive,
   * four times as long on each later one, at most 12 hours (SQS's longest visibility timeout), rather
   * than after the queue's visibility timeout. Ignored for a permanent error.
   */
  readonly retryAfterSeconds?: number;
}

/**
 * Base of every error sidestep raises on purpose. Whether an error is worth retrying is a property of
 * its class (`permanent`), not of the place that catches it: the SQS handler dead-letters permanent
 * errors at once and lets SQS retry the rest; a Step Functions task's Retry names the transient ones.
 *
 * It lives here, in the contracts every package already depends on, rather than in
 * `@sidestep/runtime`, so that `ContractValidationError` belongs to the same family without the
 * contracts depending on the Lambda runtime: the error names a workflow's Catch matches are part of
 * the contract between a task and its workflow. `@sidestep/runtime` re-exports it; services import
 * it from there.
 *
 * Each subclass sets `name` as a class field rather than from `new.target.name`, because bundlers
 * rename classes when minifying and Step Functions' Catch matches on the exact `name`.
 */
export class SidestepError extends Error {
  override readonly name: string = 'SidestepError';
  /** True when retrying the same input cannot succeed. */
  readonly permanent: boolean;
  /** The offending field or variable, when there is one. */
  readonly field?: string;
  /** Set when the work was put off by design, not failed (see {@link SidestepErrorOptions.deferred}). */
  readonly deferred?: true;
  /** Set on a transient failure to retry later than the queue would (see {@link SidestepErrorOptions.retryAfterSeconds}). */
  readonly retryAfterSeconds?: number;

  constructor(message: string, options: SidestepErrorOptions & { readonly permanent: boolean }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.permanent = options.permanent;
    if (options.field !== undefined) this.field = options.field;
    if (options.deferred === true && !options.permanent) this.deferred = true;
    if (options.retryAfterSeconds !== undefined && !options.permanent) {
      this.retryAfterSeconds = options.retryAfterSeconds;
    }
  }
}
