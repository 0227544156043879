import { SidestepError } from '@sidestep/contracts';

/**
 * Base class of every error `@sidestep/db` throws on purpose. `permanent` says whether retrying the
 * same call can succeed: a permanent error needs a code or configuration change. One of the
 * `SidestepError` family, so the SQS handler dead-letters a permanent one at once.
 */
export class DatabaseError extends SidestepError {
  override readonly name: string = 'DatabaseError';
}

/** An option of {@link openDatabase} or {@link startEmbeddedPostgres} is invalid; `field` names it. */
export class DatabaseOptionsError extends DatabaseError {
  override readonly name: string = 'DatabaseOptionsError';
  declare readonly field: string;

  constructor(field: string, message: string) {
    super(`${field}: ${message}`, { permanent: true, field });
  }
}

/**
 * The database was queried directly from inside one of its own `transaction()` callbacks. Use the
 * `tx` handed to the callback: on PGlite the outer query would wait for the transaction to end
 * (a deadlock), and on PostgreSQL it would run on another connection, outside the transaction.
 */
export class TransactionMisuseError extends DatabaseError {
  override readonly name: string = 'TransactionMisuseError';

  constructor(method: 'query' | 'transaction') {
    super(`${method}() was called on the database inside its own transaction callback; use the tx argument`, {
      permanent: true,
    });
  }
}

/** The migration list in code is malformed (versions not unique and increasing, empty name). */
export class MigrationListError extends DatabaseError {
  override readonly name: string = 'MigrationListError';
  readonly version: number;

  constructor(version: number, message: string) {
    super(`migration ${version}: ${message}`, { permanent: true });
    this.version = version;
  }
}

/**
 * An applied migration no longer matches the code: its name or SQL changed after it ran. Applied
 * migrations are immutable; add a new migration instead of editing an old one.
 */
export class MigrationMismatchError extends DatabaseError {
  override readonly name: string = 'MigrationMismatchError';
  readonly version: number;
  declare readonly field: 'name' | 'checksum';

  constructor(version: number, field: 'name' | 'checksum', applied: string, inCode: string) {
    super(`migration ${version}: ${field} in the database (${applied}) differs from the code (${inCode})`, {
      permanent: true,
      field,
    });
    this.version = version;
  }
}

/**
 * A migration's SQL failed. Its transaction was rolled back, so nothing of it was applied (of a
 * batched migration, the batches before it stay: `batchesDone`); running the migrator again is safe
 * (and succeeds if the cause was transient, e.g. a lost connection).
 */
export class MigrationFailedError extends DatabaseError {
  override readonly name: string = 'MigrationFailedError';
  readonly version: number;
  readonly migrationName: string;
  /** Of a batched migration: the batches committed before the one that failed. */
  readonly batchesDone: number | undefined;

  constructor(version: number, migrationName: string, cause: unknown, batchesDone?: number) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    const what = batchesDone
      ? `failed in batch ${batchesDone + 1}, which was rolled back (the batches before it stay)`
      : 'failed and was rolled back';
    super(`migration ${version} (${migrationName}) ${what}: ${reason}`, {
      permanent: false,
      cause,
    });
    this.version = version;
    this.migrationName = migrationName;
    this.batchesDone = batchesDone;
  }
}

/**
 * A migration's locks stayed taken until the migrator's lock budget was spent: another transaction
 * held a table it changes through every attempt (each waited only a short lock limit, so the others'
 * queries never queued long behind it), or another migrator held the migrations' lock. Nothing of the
 * migration was applied (of a batched migration, the batches before it stay: `batchesDone`); running
 * the migrator again is safe.
 */
export class MigrationLockTimeoutError extends DatabaseError {
  override readonly name: string = 'MigrationLockTimeoutError';
  /** The migration that waited; `undefined` when the migrator waited to read what is applied. */
  readonly version: number | undefined;
  readonly migrationName: string | undefined;
  /** Attempts made; each was rolled back. */
  readonly attempts: number;
  /** From the start of the run (of a batched migration: of the batch) to the failure. */
  readonly waitedMs: number;
  /** Of a batched migration: the batches committed before the one that gave up. */
  readonly batchesDone: number | undefined;

  constructor(options: {
    readonly migration: { readonly version: number; readonly name: string } | undefined;
    readonly attempts: number;
    readonly waitedMs: number;
    /** Another migrator held the migrations' lock (rather than a transaction a table's). */
    readonly migrator: boolean;
    readonly cause: unknown;
    readonly batchesDone?: number | undefined;
  }) {
    const { migration, attempts, waitedMs, migrator, cause, batchesDone } = options;
    const what = migration ? `migration ${migration.version} (${migration.name})` : 'the migrator';
    const waited = `${(waitedMs / 1000).toFixed(1)} s`;
    const reason = migrator
      ? `waited ${waited} for another migrator, which held the migrations' lock all along`
      : `found its locks taken in ${attempts} attempt${attempts === 1 ? '' : 's'} over ${waited} and was rolled back`;
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    const kept = batchesDone
      ? `its ${batchesDone} batch${batchesDone === 1 ? '' : 'es'} before stay, a run again goes on`
      : 'nothing of it was applied';
    super(`${what} ${reason}; ${kept}${detail}`, { permanent: false, cause });
    this.version = migration?.version;
    this.migrationName = migration?.name;
    this.attempts = attempts;
    this.waitedMs = waitedMs;
    this.batchesDone = batchesDone;
  }
}
