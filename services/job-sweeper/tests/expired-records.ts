import type { IdempotencyRecords } from '../src/purge-expired.ts';

/**
 * A store of `count` expired idempotency records: each purge batch deletes up to its limit of them;
 * `left()` is how many remain.
 */
export function expiredRecords(count: number): IdempotencyRecords & { left(): number } {
  let expired = count;
  return {
    purgeExpired: async (_now, { limit }) => {
      const deleted = Math.min(limit, expired);
      expired -= deleted;
      return deleted;
    },
    left: () => expired,
  };
}
