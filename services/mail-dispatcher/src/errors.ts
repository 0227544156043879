import { IDEMPOTENCY_KEY_HEADER, idempotencyKeyHeaderValue } from '@sidestep/contracts';
import { describeCause, SidestepError, shellQuote } from '@sidestep/runtime';

// Every class sets `name` as a literal class field (a minifier may rename classes): the SQS handler
// dead-letters a permanent error with its name as `sidestep.error.type`.

/** Base of every mail-dispatcher error. `permanent` errors are dead-lettered at once, others retried. */
export class MailDispatcherError extends SidestepError {
  override readonly name: string = 'MailDispatcherError';
}

/** A header value would contain CR or LF: someone tries to inject headers. Permanent. */
export class HeaderInjectionError extends MailDispatcherError {
  override readonly name: string = 'HeaderInjectionError';
  readonly header: string;
  constructor(header: string, field: string) {
    super(`${field}: header ${header} would contain CR/LF (header injection)`, { permanent: true, field });
    this.header = header;
  }
}

/** An error about one idempotency key, `payload.idempotencyKey`. Permanent. */
abstract class IdempotencyKeyError extends MailDispatcherError {
  readonly idempotencyKey: string;
  constructor(idempotencyKey: string, message: string, cause: unknown) {
    super(message, { permanent: true, field: 'payload.idempotencyKey', cause });
    this.idempotencyKey = idempotencyKey;
  }
}

/** The same idempotency key arrived with a different mail. A producer bug: permanent. */
export class IdempotencyKeyReusedError extends IdempotencyKeyError {
  override readonly name: string = 'IdempotencyKeyReusedError';
  constructor(idempotencyKey: string, cause: unknown) {
    super(
      idempotencyKey,
      `payload.idempotencyKey: "${idempotencyKey}" was already used for a different mail`,
      cause,
    );
  }
}

/**
 * An attempt for this key began sending and its outcome is unknown: an earlier attempt's process died
 * between the send and the record, or this attempt's transport lost the connection after it handed
 * over the message (`why`). Sending again could deliver twice, so the mail is dead-lettered for an
 * operator to check instead, by the `X-Sidestep-Idempotency-Key` header every mail carries (SES
 * replaces the Message-ID): at most once. Permanent.
 */
export class DeliveryOutcomeUnknownError extends IdempotencyKeyError {
  override readonly name: string = 'DeliveryOutcomeUnknownError';
  constructor(
    idempotencyKey: string,
    cause: unknown,
    why = 'an earlier attempt crashed after it began sending',
  ) {
    super(
      idempotencyKey,
      `delivery outcome unknown for idempotency key "${idempotencyKey}": ${why}; not sending again: a mail that was delivered has the header "${IDEMPOTENCY_KEY_HEADER}: ${idempotencyKeyHeaderValue(idempotencyKey)}" (\`sidestep mail find ${shellQuote([idempotencyKey])}\` looks for it); if none has, \`sidestep mail release ${shellQuote([idempotencyKey])}\` and redrive`,
      cause,
    );
  }
}

/**
 * A mail that was not sent (the transport refused it or failed before it handed it over, or it was
 * given back unsent: the `cause`) and whose send-once record could not be released: the database
 * failed the delete past the store's retries (`releaseError`, a failover longer than they last). The
 * record stays INPROGRESS, so any later copy of the message would take it for a send of unknown
 * outcome ({@link DeliveryOutcomeUnknownError}) though none began: this copy is dead-lettered now
 * instead, with the transport's reason and what an operator does (release the record, redrive).
 * Permanent.
 */
export class UnsentMailRecordKeptError extends IdempotencyKeyError {
  override readonly name: string = 'UnsentMailRecordKeptError';
  /** Why the record could not be released: the database's error. */
  readonly releaseError: unknown;
  constructor(idempotencyKey: string, cause: unknown, releaseError: unknown) {
    super(
      idempotencyKey,
      `mail not sent for idempotency key "${idempotencyKey}": ${describeCause(cause)}; its send-once record could not be released (${describeCause(releaseError)}), so a redelivery would take it for a send of unknown outcome: \`sidestep mail release ${shellQuote([idempotencyKey])}\` and redrive`,
      cause,
    );
    this.releaseError = releaseError;
  }
}

/**
 * A mail that was sent (the transport took it and answered with `messageId`) and whose send-once
 * record could not be marked COMPLETED: the database failed the update past the store's retries (the
 * `cause`, a failover longer than they last). The record stays INPROGRESS. Reported as a transient
 * failure, SQS would deliver the message again, and that copy would be dead-lettered as a send of
 * unknown outcome ({@link DeliveryOutcomeUnknownError}) though this one knows the mail went; so this
 * copy is dead-lettered now, saying so: an operator discards it instead of checking and releasing.
 * Nothing sends the mail twice while the record lives: a redrive, or a producer's resend of the key,
 * meets the INPROGRESS record and is dead-lettered as outcome unknown. Permanent.
 */
export class SentMailRecordNotCompletedError extends IdempotencyKeyError {
  override readonly name: string = 'SentMailRecordNotCompletedError';
  /** The transport's id of the mail that went (SES's MessageId, or the SMTP Message-ID). */
  readonly messageId: string;
  constructor(idempotencyKey: string, messageId: string, cause: unknown) {
    super(
      idempotencyKey,
      `mail sent for idempotency key "${idempotencyKey}" (message id ${messageId}); its send-once record could not be marked COMPLETED (${describeCause(cause)}) and stays INPROGRESS: do not redrive (nor \`sidestep mail release\` it, which would let a redrive send it again); a redrive or a resend of the key is dead-lettered as delivery outcome unknown`,
      cause,
    );
    this.messageId = messageId;
  }
}

/**
 * What a failed send says about the mail: `rejected`, the server refused this very mail (a 5xx to
 * its envelope or content: sending it again fails the same way); `not-sent`, it failed before the
 * mail was handed over (unreachable, throttled, a 4xx: SQS retries it); `unknown`, the mail was
 * handed over and no answer came back (the connection dropped, a timeout): it may have been
 * delivered, so it is not sent again.
 */
export type SendFailure = 'rejected' | 'not-sent' | 'unknown';

/**
 * The transport refused or failed: transient (SQS retries) unless the server rejected this mail.
 * `outcome` says which; an `unknown` one is turned into {@link DeliveryOutcomeUnknownError}.
 */
export class MailTransportError extends MailDispatcherError {
  override readonly name: string = 'MailTransportError';
  readonly outcome: SendFailure;
  /**
   * @param retryAfterSeconds for a refusal a retry within minutes would meet again (the 24-hour
   *   quota): the SQS handler puts the mail off this long, then longer on each receive
   */
  constructor(
    message: string,
    cause: unknown,
    outcome: SendFailure = 'not-sent',
    retryAfterSeconds?: number,
  ) {
    super(message, {
      permanent: outcome === 'rejected',
      cause,
      ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
    });
    this.outcome = outcome;
  }
}

/**
 * A mail given back unsent because its turn at the function's send rate (`MAIL_MAX_SEND_RATE`) would
 * come after the invocation's deadline: its idempotency record is released and SQS delivers it again
 * after the queue's visibility timeout. Not a failure (`deferred`): the SQS handler counts it as
 * deferred and logs it at info, and a batch given back whole does not fail the invocation, so the
 * function's errors alarm does not fire for a rate kept as intended.
 */
export class SendDeferredError extends MailDispatcherError {
  override readonly name: string = 'SendDeferredError';
  constructor(perSecond: number) {
    super(
      `mail not sent: at ${perSecond} recipients per second in this sandbox (MAIL_MAX_SEND_RATE), its turn would come after the invocation's deadline; the queue delivers it again`,
      { permanent: false, deferred: true },
    );
  }
}
