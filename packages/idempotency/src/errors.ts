import { IdempotencyUnknownError } from '@aws-lambda-powertools/idempotency';

/**
 * A previous attempt with this idempotency key started and never recorded its outcome (it crashed or
 * timed out after its in-progress window), and the store was told not to reclaim such attempts
 * (`reclaimExpiredInProgress: false`). Whether its side effect happened is unknown, so running again
 * could do it twice: the step gives up instead (at most once). Permanent: a retry meets the same
 * record until it expires (`expiresAfterSeconds`) or an operator resolves it.
 *
 * Powertools wraps errors of the store: `makeIdempotent` rejects with an
 * `IdempotencyPersistenceLayerError` whose `cause` is this error; use
 * {@link findIdempotencyOutcomeUnknown} to recognise it.
 */
export class IdempotencyOutcomeUnknownError extends IdempotencyUnknownError {
  readonly permanent = true;
  /** The hashed idempotency key of the attempt (the record's `id`). */
  readonly idempotencyKey: string;
  /** When the abandoned attempt's in-progress window ended, epoch milliseconds. */
  readonly inProgressExpiryTimestamp: number | undefined;

  constructor(idempotencyKey: string, inProgressExpiryTimestamp: number | undefined) {
    super(
      `idempotencyKey ${idempotencyKey}: an earlier attempt started and never completed; its outcome is unknown, so it is not run again`,
    );
    this.name = 'IdempotencyOutcomeUnknownError';
    this.idempotencyKey = idempotencyKey;
    this.inProgressExpiryTimestamp = inProgressExpiryTimestamp;
  }
}

/**
 * Returns the {@link IdempotencyOutcomeUnknownError} that `error` is or was caused by (Powertools
 * wraps it in an `IdempotencyPersistenceLayerError`), or `undefined`.
 */
export function findIdempotencyOutcomeUnknown(error: unknown): IdempotencyOutcomeUnknownError | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 10; depth++) {
    if (current instanceof IdempotencyOutcomeUnknownError) return current;
    current = current.cause;
  }
  return undefined;
}

/** An option of {@link PostgresPersistenceLayer} is invalid; `field` names it. */
export class PostgresPersistenceLayerOptionsError extends Error {
  readonly permanent = true;
  readonly field: string;

  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'PostgresPersistenceLayerOptionsError';
    this.field = field;
  }
}
