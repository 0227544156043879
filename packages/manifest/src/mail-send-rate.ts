// MAIL_MAX_SEND_RATE's contract, in one place for the three that use it: infra writes it into the
// mail-dispatcher's environment from SIDESTEP_<ENV>_MAIL_MAX_SEND_RATE, the local cloud from its own
// setting (its SMTP sink enforcing the same rate), and the mail-dispatcher reads it: a decimal number
// of mails (recipients) per second for the whole function, above 0 and at most 100000, written
// without exponent, sign or unit ("14", "0.5").

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

/** The text of `MAIL_MAX_SEND_RATE`'s contract: digits with an optional fraction (`14`, `0.5`, `.5`). */
const DECIMAL = /^(?:\d+(?:\.\d+)?|\.\d+)$/;

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
 * Made only for a rate below 1e-6 (below, `String` writes an exponent), and then on first use: an
 * `Intl.NumberFormat` takes 11-17 ms to make in a fresh process (ICU data), which reading
 * MAIL_MAX_SEND_RATE would add to the mail-dispatcher's cold start.
 */
let decimalText: Intl.NumberFormat | undefined;

/** A rate as `MAIL_MAX_SEND_RATE` carries it: "14", "0.5", "0.0000001". */
export function sendRateText(rate: number): string {
  // A number's own text is the shortest decimal that reads back as it, without an exponent from 1e-6
  // up to 1e21 (ECMAScript's Number::toString): every rate SES grants, without making the formatter.
  if (rate >= 1e-6 && rate < 1e21) return String(rate);
  decimalText ??= new Intl.NumberFormat('en-US', {
    useGrouping: false,
    maximumFractionDigits: MAX_FRACTION_DIGITS,
  });
  return decimalText.format(rate);
}

/**
 * How long before its deadline an invocation of a paced sender stops starting sends: time for the
 * last send's answer and its outcome's record. The mail-dispatcher gives back a mail whose turn would
 * come later.
 */
export const SEND_DEADLINE_MARGIN_SECONDS = 5;

/**
 * `manifest` with its queue's event source mapping sized for a send rate, when it sends mail
 * (granted `mail-identity`) and `maxSendRate` is set: infra and the local cloud create the mapping
 * from it, and the mail-dispatcher divides the rate by its `maximumConcurrency`, so the three agree.
 *
 * A sandbox sends its share, `maxSendRate / maximumConcurrency` recipients a second, for at most
 * `timeoutSeconds - SEND_DEADLINE_MARGIN_SECONDS` of an invocation, and gives back what would come
 * later; a given-back mail costs one of its `maxReceiveCount` receives. So the share must let a whole
 * batch go out in one invocation: the mapping runs as few sandboxes as that needs (down to 2, the
 * least `maximumConcurrency` Lambda takes:
 * https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html), and takes smaller batches
 * when even 2 sandboxes' shares cannot send a batch in time. At 1 recipient a second (SES's sandbox
 * and infra's default): 2 sandboxes of 10-mail batches, each sending one mail in 2 s (20 s a batch).
 * A mail to several recipients takes one slot each, so a batch of them can still outlast an
 * invocation at a low rate: its last mails are given back.
 */
export function pacedForSendRate<M extends PacedManifest>(manifest: M, maxSendRate: number | undefined): M {
  const { queue } = manifest;
  if (
    maxSendRate === undefined ||
    !queue ||
    !manifest.permissions.some((p) => p.resource === 'mail-identity')
  ) {
    return manifest;
  }
  const budgetSeconds = Math.max(1, manifest.timeoutSeconds - SEND_DEADLINE_MARGIN_SECONDS);
  const maximumConcurrency = Math.min(
    queue.maximumConcurrency,
    Math.max(MIN_MAXIMUM_CONCURRENCY, Math.floor((maxSendRate * budgetSeconds) / queue.batchSize)),
  );
  const batchSize = Math.min(
    queue.batchSize,
    Math.max(1, Math.floor((maxSendRate / maximumConcurrency) * budgetSeconds)),
  );
  return { ...manifest, queue: { ...queue, maximumConcurrency, batchSize } };
}

/**
 * Recipients a second each of `manifest`'s sandboxes may send: `maxSendRate` over the sandboxes its
 * queue's mapping runs at that rate ({@link pacedForSendRate}), so that together they keep to it.
 */
export function sendRateShare(manifest: PacedManifest, maxSendRate: number): number {
  const sandboxes = pacedForSendRate(manifest, maxSendRate).queue?.maximumConcurrency ?? 1;
  return maxSendRate / sandboxes;
}

/**
 * What {@link pacedForSendRate} reads of a service manifest (`ServiceManifest`, which index.ts
 * defines and re-exports this module from: named here by shape, not imported back).
 */
interface PacedManifest {
  readonly timeoutSeconds: number;
  readonly queue?: { readonly batchSize: number; readonly maximumConcurrency: number } | undefined;
  readonly permissions: readonly { readonly resource: string }[];
}

/** The least `ScalingConfig.MaximumConcurrency` of an SQS event source mapping. */
const MIN_MAXIMUM_CONCURRENCY = 2;
