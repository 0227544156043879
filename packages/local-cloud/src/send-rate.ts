/**
 * The highest maximum send rate taken, in mails per second: the bound of `MAIL_MAX_SEND_RATE`'s
 * contract (a decimal number above 0 and at most 100000, mails per second for the whole function).
 */
export const MAX_SEND_RATE_LIMIT = 100_000;

/** A maximum send rate that is not a number of mails per second above 0 and at most {@link MAX_SEND_RATE_LIMIT}. */
export class InvalidSendRateError extends Error {
  override readonly name = 'InvalidSendRateError';
  /** The option or setting that held it (`maxSendRate`, `mail.maxSendRate`, an environment variable). */
  readonly field: string;
  readonly value: unknown;
  constructor(field: string, value: unknown, why = '') {
    super(
      `${field}: must be a number of mails per second above 0 and at most ${MAX_SEND_RATE_LIMIT}${why}, not ${
        typeof value === 'string' ? JSON.stringify(value) : String(value)
      }`,
    );
    this.field = field;
    this.value = value;
  }
}

/**
 * `value` as a maximum send rate: a number above 0 and at most {@link MAX_SEND_RATE_LIMIT} whose
 * decimal text ({@link sendRateText}) reads back as the same number, so what the SMTP sink enforces
 * is what `MAIL_MAX_SEND_RATE` tells the mail-dispatcher.
 * @throws {InvalidSendRateError} naming `field`
 */
export function checkSendRate(value: unknown, field: string): number {
  if (typeof value !== 'number' || !(value > 0 && value <= MAX_SEND_RATE_LIMIT)) {
    throw new InvalidSendRateError(field, value);
  }
  if (Number(sendRateText(value)) !== value) {
    throw new InvalidSendRateError(field, value, ` with at most ${MAX_FRACTION_DIGITS} decimal places`);
  }
  return value;
}

/** The text of `MAIL_MAX_SEND_RATE`'s contract: digits, optionally a point and more digits. */
const DECIMAL = /^\d+(\.\d+)?$/;

/**
 * A maximum send rate written as a setting holds it (`SIDESTEP_LOCAL_MAIL_MAX_SEND_RATE`), in the
 * form `MAIL_MAX_SEND_RATE` takes: a decimal number without exponent, sign or unit ("14", "0.5").
 * @throws {InvalidSendRateError} naming `field`
 */
export function parseSendRate(text: string, field: string): number {
  if (!DECIMAL.test(text)) throw new InvalidSendRateError(field, text, ', written as digits ("14", "0.5")');
  return checkSendRate(Number(text), field);
}

const MAX_FRACTION_DIGITS = 100;

/**
 * Node's own number formatting, set to write the shortest decimal that reads back as the rate
 * without an exponent or grouping: `String(1e-7)` is "1e-7", which the variable's contract refuses.
 */
const DECIMAL_TEXT = new Intl.NumberFormat('en-US', {
  useGrouping: false,
  maximumFractionDigits: MAX_FRACTION_DIGITS,
});

/** A rate as `MAIL_MAX_SEND_RATE` carries it: "14", "0.5", "0.0000001". */
export function sendRateText(rate: number): string {
  return DECIMAL_TEXT.format(rate);
}

/**
 * Whether a mail may be accepted now, at most `rate` mails per second, by a sliding window over the
 * acceptance times: the window holds `capacity = max(1, floor(rate))` mails and lasts
 * `capacity / rate` seconds, so a whole rate (SES's quotas are whole numbers: 1 in the sandbox)
 * is at most `rate` mails in any one second, and a fractional one keeps its average (0.5: one mail in
 * any two seconds; 2.5: two in any 0.8 s). A sender spacing its mails evenly at exactly the rate is
 * never refused. A refused mail takes no place in the window.
 *
 * One comparison per mail: a ring of the last `capacity` acceptance times, whose oldest entry must
 * have left the window.
 */
export function createSendRateWindow(rate: number, now: () => number): { admit(): boolean } {
  const capacity = Math.max(1, Math.floor(rate));
  const windowMs = (capacity * 1_000) / rate;
  const accepted = new Float64Array(capacity).fill(Number.NEGATIVE_INFINITY);
  let oldest = 0;
  return {
    admit() {
      const at = now();
      if (at - (accepted[oldest] ?? Number.NEGATIVE_INFINITY) < windowMs) return false;
      accepted[oldest] = at;
      oldest = (oldest + 1) % capacity;
      return true;
    },
  };
}
