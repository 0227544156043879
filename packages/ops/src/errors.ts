import { PermanentError } from '@sidestep/runtime';

/**
 * Base of every error the operations library raises on purpose; `field` names what was wrong.
 * Permanent: the same command fails the same way until the operator changes it.
 */
export class OpsError extends PermanentError {
  override readonly name: string = 'OpsError';
}

/** A name (queue, workflow, schedule, environment) sidestep does not declare. */
export class UnknownNameError extends OpsError {
  override readonly name: string = 'UnknownNameError';
  readonly value: string;
  readonly known: readonly string[];
  constructor(field: string, value: string, known: readonly string[]) {
    super(`${field}: no ${field} named "${value}" (declared: ${known.join(', ') || 'none'})`, { field });
    this.value = value;
    this.known = known;
  }
}

/** The jobs ledger cannot be reached from here: no database URL for this environment. */
export class LedgerUnavailableError extends OpsError {
  override readonly name: string = 'LedgerUnavailableError';
  constructor(environment: string) {
    super(
      `databaseUrl: the ${environment} jobs ledger is in a private database; pass --database-url ` +
        '(a read-only operations function answering ledger queries is a later step)',
      { field: 'databaseUrl' },
    );
  }
}

/** No job with this id in the ledger. */
export class JobNotFoundError extends OpsError {
  override readonly name: string = 'JobNotFoundError';
  readonly jobId: string;
  constructor(jobId: string) {
    super(`jobId: no job "${jobId}" in the ledger`, { field: 'jobId' });
    this.jobId = jobId;
  }
}

/** The job is not in a state the action applies to (retry needs `failed`, fail needs `registered`/`running`). */
export class JobStateError extends OpsError {
  override readonly name: string = 'JobStateError';
  readonly jobId: string;
  readonly state: string;
  constructor(jobId: string, state: string, action: string, allowed: readonly string[]) {
    super(`jobId: job ${jobId} is ${state}; ${action} needs ${allowed.join(' or ')}`, { field: 'jobId' });
    this.jobId = jobId;
    this.state = state;
  }
}

/** The mail's idempotency record is missing or not INPROGRESS, so there is nothing to release. */
export class MailRecordNotReleasableError extends OpsError {
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

/** The action needs an AWS API the local cloud does not serve. */
export class UnsupportedLocallyError extends OpsError {
  override readonly name: string = 'UnsupportedLocallyError';
  constructor(action: string, reason: string) {
    super(`env: ${action} is not supported with --env local: ${reason}`, { field: 'env' });
  }
}

/** An execution ARN or name that names no execution of sidestep's workflows. */
export class ExecutionNotFoundError extends OpsError {
  override readonly name: string = 'ExecutionNotFoundError';
  readonly execution: string;
  constructor(execution: string) {
    super(`execution: no execution "${execution}" in sidestep's workflows`, { field: 'execution' });
    this.execution = execution;
  }
}

/** A value given on the command line that cannot be used (a duration, a rate, a JSON input). */
export class InvalidOptionError extends OpsError {
  override readonly name: string = 'InvalidOptionError';
}
