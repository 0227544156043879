/**
 * Whether a mail to `recipients` recipients may be accepted now, at most `rate` recipients a second
 * on average, with bursts of up to a second's worth: a token bucket of `capacity = max(1, rate)`
 * tokens, full at the start, refilled at `rate` a second. A mail is accepted while the bucket holds a
 * token and takes one per recipient, the bucket going into debt for a mail to more recipients than it
 * holds (that mail is not refused for ever: the mails after it wait until the debt is paid off), so
 * over any long period no more than `rate` recipients a second are accepted. Senders that together
 * keep to the rate, each spacing its mails evenly but not in step with the others, are never
 * refused: their mails may bunch within a second, which the bucket's second of burst absorbs. A
 * refused mail takes nothing.
 */
export function createSendRateBucket(
  rate: number,
  now: () => number,
): { admit(recipients: number): boolean } {
  const capacity = Math.max(1, rate);
  let tokens = capacity;
  let filledAt = now();
  return {
    admit(recipients) {
      const at = now();
      tokens = Math.min(capacity, tokens + ((at - filledAt) * rate) / 1_000);
      filledAt = at;
      // A token short by a rounding error of the refill is a whole one.
      if (tokens < 1 - 1e-9) return false;
      tokens -= Math.max(1, recipients);
      return true;
    },
  };
}
