/** Base of every mail-dispatcher error. `permanent` errors are dead-lettered at once, others retried. */
export class MailDispatcherError extends Error {
  readonly permanent: boolean;
  readonly field: string | undefined;
  constructor(message: string, options: { permanent: boolean; field?: string; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = 'MailDispatcherError';
    this.permanent = options.permanent;
    this.field = options.field;
  }
}

/** A header value would contain CR or LF: someone tries to inject headers. Permanent. */
export class HeaderInjectionError extends MailDispatcherError {
  readonly header: string;
  constructor(header: string, field: string) {
    super(`${field}: header ${header} would contain CR/LF (header injection)`, { permanent: true, field });
    this.name = 'HeaderInjectionError';
    this.header = header;
  }
}

/** The same idempotency key arrived with a different mail. A producer bug: permanent. */
export class IdempotencyKeyReusedError extends MailDispatcherError {
  readonly idempotencyKey: string;
  constructor(idempotencyKey: string, cause: unknown) {
    super(`payload.idempotencyKey: "${idempotencyKey}" was already used for a different mail`, {
      permanent: true,
      field: 'payload.idempotencyKey',
      cause,
    });
    this.name = 'IdempotencyKeyReusedError';
    this.idempotencyKey = idempotencyKey;
  }
}

/**
 * An earlier attempt for this key started sending and never recorded the outcome (the process died
 * between the send and the record). Sending again could deliver twice, so the mail is dead-lettered
 * for an operator to check instead: at most once. Permanent.
 */
export class DeliveryOutcomeUnknownError extends MailDispatcherError {
  readonly idempotencyKey: string;
  constructor(idempotencyKey: string, cause: unknown) {
    super(
      `delivery outcome unknown for idempotency key "${idempotencyKey}": an earlier attempt crashed after it began sending; not sending again`,
      { permanent: true, field: 'payload.idempotencyKey', cause },
    );
    this.name = 'DeliveryOutcomeUnknownError';
    this.idempotencyKey = idempotencyKey;
  }
}

/** The transport refused or failed; SQS retries (transient). */
export class MailTransportError extends MailDispatcherError {
  constructor(message: string, cause: unknown) {
    super(message, { permanent: false, cause });
    this.name = 'MailTransportError';
  }
}
