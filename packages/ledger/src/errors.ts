import { PermanentError, TransientError } from '@sidestep/runtime';

/**
 * Base of the errors the ledger answers on purpose: the same request fails the same way until the
 * operator changes it. `field` names what was wrong. They cross the `ops-ledger` function's boundary
 * by `name` (see `ledgerErrorFrom`), so every class is listed in {@link LEDGER_ERRORS}.
 */
export class LedgerError extends PermanentError {
  override readonly name: string = 'LedgerError';
}

/** No job with this id in the ledger. */
export class JobNotFoundError extends LedgerError {
  override readonly name: string = 'JobNotFoundError';
  readonly jobId: string;
  constructor(jobId: string) {
    super(`jobId: no job "${jobId}" in the ledger`, { field: 'jobId' });
    this.jobId = jobId;
  }
}

/** The job is not in a state the action applies to (retry needs `failed`, fail needs `registered`/`running`). */
export class JobStateError extends LedgerError {
  override readonly name: string = 'JobStateError';
  readonly jobId: string;
  readonly state: string;
  /** `why`, when the state is one the action allows, says what else stands in its way. */
  constructor(jobId: string, state: string, action: string, allowed: readonly string[], why?: string) {
    super(
      why === undefined
        ? `jobId: job ${jobId} is ${state}; ${action} needs ${allowed.join(' or ')}`
        : `jobId: job ${jobId} is ${state}, but ${why}`,
      { field: 'jobId' },
    );
    this.jobId = jobId;
    this.state = state;
  }
}

/** The mail's idempotency record is missing or not INPROGRESS, so there is nothing to release. */
export class MailRecordNotReleasableError extends LedgerError {
  override readonly name: string = 'MailRecordNotReleasableError';
  readonly idempotencyKey: string;
  readonly status: string | undefined;
  constructor(idempotencyKey: string, status: string | undefined) {
    super(
      status === undefined
        ? `idempotencyKey: no mail record for "${idempotencyKey}"`
        : `idempotencyKey: the mail record for "${idempotencyKey}" is ${status}; only an INPROGRESS record is released`,
      { field: 'idempotencyKey' },
    );
    this.idempotencyKey = idempotencyKey;
    this.status = status;
  }
}

/** A request the ledger's contract refuses (a bad field), or an action sent to the read-only queries. */
export class LedgerRequestError extends LedgerError {
  override readonly name: string = 'LedgerRequestError';
}

/**
 * The `ops-ledger` function failed to answer (its own failure, not the ledger's answer): the
 * invocation's `FunctionError`, or a payload that is not a ledger response. Possibly transient.
 */
export class LedgerInvokeError extends TransientError {
  override readonly name: string = 'LedgerInvokeError';
}
