import type { EventRetryPolicy } from '@sidestep/workflows';

/**
 * Which limit of a retry policy ended the retries: the DLQ's `EXHAUSTED_RETRY_CONDITION`, the same
 * for Scheduler and for EventBridge rule targets.
 */
export type ExhaustedRetryCondition = 'MaximumRetryAttempts' | 'MaximumEventAgeInSeconds';

/**
 * The pause before retry `retry` (1 for the first), ms: Scheduler and EventBridge back off
 * exponentially with jitter, which is left out: 1 s, doubling, at most 1 minute.
 */
export const retryBackoffMs = (retry: number): number => Math.min(1_000 * 2 ** (retry - 1), 60_000);

/**
 * Whether a delivery whose attempt `failedAttempt` (1 for the first) failed is retried at
 * `retryAtMs`: `undefined` when it is, else the limit of `policy` that ends the retries (no policy:
 * no retries), the event's age counted from `firstAttemptMs`.
 */
export function exhaustedRetryCondition(
  policy: EventRetryPolicy | undefined,
  failure: { readonly failedAttempt: number; readonly retryAtMs: number; readonly firstAttemptMs: number },
): ExhaustedRetryCondition | undefined {
  if (policy === undefined || failure.failedAttempt > policy.maximumRetryAttempts) {
    return 'MaximumRetryAttempts';
  }
  if (failure.retryAtMs > failure.firstAttemptMs + policy.maximumEventAgeSeconds * 1000) {
    return 'MaximumEventAgeInSeconds';
  }
  return undefined;
}
