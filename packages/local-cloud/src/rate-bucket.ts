/**
 * A rate AWS enforces, as its usual model of one (a token bucket): whether a request costing `cost`
 * tokens may be accepted now, at most `rate` tokens a second on average, with bursts of up to
 * `capacity` tokens (by default a second's worth, `max(1, rate)`), full at the start, refilled at
 * `rate` a second. A
 * request is accepted while the bucket holds a token and takes `cost` (one at least), the bucket going
 * into debt for a request costing more than it holds (that request is not refused for ever: the ones
 * after it wait until the debt is paid off), so over any long period no more than `rate` tokens a
 * second are accepted. Callers that together keep to the rate, each spacing its requests evenly but
 * not in step with the others, are never refused: their requests may bunch within a second, which the
 * bucket's second of burst absorbs. A refused request takes nothing. SES's send rate costs a token a
 * recipient; an API's transactions per second a token a call.
 */
export function createRateBucket(
  rate: number,
  now: () => number,
  capacity = Math.max(1, rate),
): { admit(cost?: number): boolean } {
  let tokens = capacity;
  let filledAt = now();
  return {
    admit(cost = 1) {
      const at = now();
      tokens = Math.min(capacity, tokens + ((at - filledAt) * rate) / 1_000);
      filledAt = at;
      // A token short by a rounding error of the refill is a whole one.
      if (tokens < 1 - 1e-9) return false;
      tokens -= Math.max(1, cost);
      return true;
    },
  };
}
