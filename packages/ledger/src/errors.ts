import { PermanentError, TransientError } from '@sidestep/runtime/errors';

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

/**
 * The mail's idempotency record is missing or not INPROGRESS, or its send may still be running, or it
 * expired: there is nothing to release.
 */
export class MailRecordNotReleasableError extends LedgerError {
  override readonly name: string = 'MailRecordNotReleasableError';
  readonly idempotencyKey: string;
  readonly status: string | undefined;
  /**
   * For an INPROGRESS record whose send may still be running: the end of its in-progress window (the
   * claiming invocation's deadline), after which it can be released.
   */
  readonly inProgressUntil: Date | undefined;
  /**
   * For a record past its lifetime (not purged yet): when it expired. The mail-dispatcher claims its
   * key anew, as one without a record, so a redrive sends the mail with no release.
   */
  readonly expiredAt: Date | undefined;
  constructor(
    idempotencyKey: string,
    status: string | undefined,
    times: { readonly inProgressUntil?: Date; readonly expiredAt?: Date } = {},
  ) {
    const { inProgressUntil, expiredAt } = times;
    const record = `idempotencyKey: the mail record for "${idempotencyKey}" is ${status}`;
    super(
      status === undefined
        ? `idempotencyKey: no mail record for "${idempotencyKey}"`
        : expiredAt !== undefined
          ? `${record} and expired at ${expiredAt.toISOString()}: the mail-dispatcher claims its key anew, as one without a record, so a redrive sends it without a release`
          : inProgressUntil !== undefined
            ? `${record} and its send may still be running until ${inProgressUntil.toISOString()} (the claiming invocation's deadline); release it after that`
            : `${record}; only an INPROGRESS record is released`,
      { field: 'idempotencyKey' },
    );
    this.idempotencyKey = idempotencyKey;
    this.status = status;
    this.inProgressUntil = inProgressUntil;
    this.expiredAt = expiredAt;
  }
}

/** A request the ledger's contract refuses (a bad field), or an action sent to the read-only queries. */
export class LedgerRequestError extends LedgerError {
  override readonly name: string = 'LedgerRequestError';
}

/**
 * The ledger's database is at another migration than this tool was written for: a statement named a
 * column or table it does not have (SQLSTATE 42703 undefined_column, 42P01 undefined_table), and its
 * `schema_migrations` says it is older (an environment not yet deployed: a current `sidestep
 * --database-url` before the release's migrations ran) or newer (an older tool). `databaseMigration`
 * and `toolMigration` are `<version padded to 4>-<name>`; `cause` is PostgreSQL's error.
 *
 * Not a {@link LedgerError}: the `ops-ledger` function answers those as expected outcomes, and its
 * code meeting a database at another migration is a failed deploy, which must fail the function (and
 * its error alarm) rather than be answered.
 */
export class LedgerSchemaError extends PermanentError {
  override readonly name: string = 'LedgerSchemaError';
  readonly databaseMigration: string | null;
  readonly toolMigration: string;
  /** `database`: the last migration `schema_migrations` records, undefined when it could not be read. */
  constructor(
    database: MigrationId | undefined,
    tool: MigrationId,
    cause: Error & { readonly code: string },
  ) {
    const toolMigration = migrationLabel(tool);
    const newer = database !== undefined && database.version > tool.version;
    const where =
      database === undefined
        ? `lacks what this tool's migrations up to ${toolMigration} make, and its schema_migrations could not be read`
        : `is at migration ${migrationLabel(database)}, ${newer ? 'newer' : 'older'} than this tool's ${toolMigration}`;
    super(
      `database: the ledger's database ${where} (${cause.code}: ${cause.message}): ` +
        `${newer ? '' : 'deploy the environment (its migrations) first, or '}use the sidestep of the release the database is at`,
      { field: 'database', cause },
    );
    this.databaseMigration = database === undefined ? null : migrationLabel(database);
    this.toolMigration = toolMigration;
  }
}

/** A migration as `schema_migrations` records it. */
export interface MigrationId {
  readonly version: number;
  readonly name: string;
}

/** `<version padded to 4>-<name>`, as the migrations' files and `migrate`'s result name them. */
const migrationLabel = (migration: MigrationId) =>
  `${String(migration.version).padStart(4, '0')}-${migration.name}`;

/**
 * The `ops-ledger` function failed to answer (its own failure, not the ledger's answer): the
 * invocation's `FunctionError`, or a payload that is not a ledger response. Possibly transient.
 */
export class LedgerInvokeError extends TransientError {
  override readonly name: string = 'LedgerInvokeError';
}
