/**
 * The fields of a database error that quote data rather than name where it failed: PostgreSQL's
 * DETAIL (`Failing row contains (...)`, `Key (email)=(...) already exists.`), CONTEXT (`where`: the
 * bind parameters' values when log_parameter_max_length_on_error is set, a JSON value's text), the
 * internal query and the positions in it, and what PGlite adds to its errors (the statement, its
 * `params` and options). What is kept names the failure: `code` (the SQLSTATE), `severity`,
 * `schema`, `table`, `column`, `dataType`, `constraint`, `routine`, `hint`.
 * https://www.postgresql.org/docs/current/protocol-error-fields.html
 */
const DATABASE_VALUE_FIELDS = [
  'detail',
  'where',
  'internalQuery',
  'internalPosition',
  'position',
  'query',
  'params',
  'queryOptions',
] as const;

/** What a PostgreSQL error names of its failure (see {@link isDatabaseError}). */
export interface DatabaseErrorFields {
  /** The SQLSTATE, e.g. `23505`. */
  readonly code: string;
  readonly severity: string;
  readonly constraint?: string | undefined;
  readonly table?: string | undefined;
}

/** A PostgreSQL error as node-postgres and PGlite raise it: a SQLSTATE `code` and a `severity`. */
export function isDatabaseError(error: unknown): error is Error & DatabaseErrorFields {
  if (typeof error !== 'object' || error === null) return false;
  const { code, severity } = error as { code?: unknown; severity?: unknown };
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && typeof severity === 'string';
}

/**
 * `error` as a log line may show it: a database error in it, or in its chain of causes, without the
 * fields that quote the failing row or the statement's values ({@link DATABASE_VALUE_FIELDS}).
 * Powertools' Logger writes every enumerable property of a logged error and of its `cause`, so a
 * pg error logged as it is puts someone's record in CloudWatch Logs. The error is not changed
 * (callers still classify it, and a workflow reads its `name`); a copy with the same prototype,
 * name, message and stack is returned where anything was left out, the error itself otherwise.
 */
export function loggableError<E extends Error>(error: E): E {
  const cause: unknown = error.cause;
  const loggableCause = cause instanceof Error ? loggableError(cause) : cause;
  const database = isDatabaseError(error);
  if (!database && loggableCause === cause) return error;
  const descriptors = Object.getOwnPropertyDescriptors(error) as Record<string, PropertyDescriptor>;
  if (database) for (const field of DATABASE_VALUE_FIELDS) delete descriptors[field];
  if ('cause' in error)
    descriptors.cause = { value: loggableCause, enumerable: false, writable: true, configurable: true };
  return Object.create(Object.getPrototypeOf(error), descriptors) as E;
}
