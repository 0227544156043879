/**
 * Base class of every error `@sidestep/db` throws on purpose. `permanent` says whether retrying the
 * same call can succeed: a permanent error needs a code or configuration change.
 */
export class DatabaseError extends Error {
  readonly permanent: boolean;

  constructor(message: string, options: { permanent: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DatabaseError';
    this.permanent = options.permanent;
  }
}

/** An option of {@link openDatabase} or {@link startEmbeddedPostgres} is invalid; `field` names it. */
export class DatabaseOptionsError extends DatabaseError {
  readonly field: string;

  constructor(field: string, message: string) {
    super(`${field}: ${message}`, { permanent: true });
    this.name = 'DatabaseOptionsError';
    this.field = field;
  }
}

/**
 * The database was queried directly from inside one of its own `transaction()` callbacks. Use the
 * `tx` handed to the callback: on PGlite the outer query would wait for the transaction to end
 * (a deadlock), and on PostgreSQL it would run on another connection, outside the transaction.
 */
export class TransactionMisuseError extends DatabaseError {
  constructor(method: 'query' | 'transaction') {
    super(`${method}() was called on the database inside its own transaction callback; use the tx argument`, {
      permanent: true,
    });
    this.name = 'TransactionMisuseError';
  }
}

/** The migration list in code is malformed (versions not unique and increasing, empty name). */
export class MigrationListError extends DatabaseError {
  readonly version: number;

  constructor(version: number, message: string) {
    super(`migration ${version}: ${message}`, { permanent: true });
    this.name = 'MigrationListError';
    this.version = version;
  }
}

/**
 * An applied migration no longer matches the code: its name or SQL changed after it ran. Applied
 * migrations are immutable; add a new migration instead of editing an old one.
 */
export class MigrationMismatchError extends DatabaseError {
  readonly version: number;
  readonly field: 'name' | 'checksum';

  constructor(version: number, field: 'name' | 'checksum', applied: string, inCode: string) {
    super(`migration ${version}: ${field} in the database (${applied}) differs from the code (${inCode})`, {
      permanent: true,
    });
    this.name = 'MigrationMismatchError';
    this.version = version;
    this.field = field;
  }
}

/**
 * A migration's SQL failed. Its transaction was rolled back, so nothing of it was applied; running
 * the migrator again is safe (and succeeds if the cause was transient, e.g. a lost connection).
 */
export class MigrationFailedError extends DatabaseError {
  readonly version: number;
  readonly migrationName: string;

  constructor(version: number, migrationName: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`migration ${version} (${migrationName}) failed and was rolled back: ${reason}`, {
      permanent: false,
      cause,
    });
    this.name = 'MigrationFailedError';
    this.version = version;
    this.migrationName = migrationName;
  }
}
