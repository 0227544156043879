import { SidestepError } from '@sidestep/runtime';

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
 * An earlier attempt for this key started sending and never recorded the outcome (the process died
 * between the send and the record). Sending again could deliver twice, so the mail is dead-lettered
 * for an operator to check instead: at most once. Permanent.
 */
export class DeliveryOutcomeUnknownError extends IdempotencyKeyError {
  override readonly name: string = 'DeliveryOutcomeUnknownError';
  constructor(idempotencyKey: string, cause: unknown) {
    super(
      idempotencyKey,
      `delivery outcome unknown for idempotency key "${idempotencyKey}": an earlier attempt crashed after it began sending; not sending again`,
      cause,
    );
  }
}

/** The transport refused or failed; SQS retries (transient). */
export class MailTransportError extends MailDispatcherError {
  override readonly name: string = 'MailTransportError';
  constructor(message: string, cause: unknown) {
    super(message, { permanent: false, cause });
  }
}
