/**
 * SQLSTATEs a retry may cure: classes 08 connection, 40 serialization/deadlock, 53 insufficient
 * resources, 57 shutdown/statement timeout, 58 system; 55P03, a lock wait that ran out (the services'
 * `lock_timeout` behind another writer, such as an import's completion holding its job's row through
 * the merge: the statement did nothing, and the step retried later finds the row free); and 28P01, a refused password, which reaches a
 * caller only after the connection read the secret afresh and was refused again
 * (`isAuthenticationFailure`, src/renew-credentials.ts): the window of a single-user rotation between the password's
 * change and the secret's, which AWS says to cover with retries
 * (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotation-strategy.html). A password
 * that stays wrong is thus retried before it fails (a workflow step for about 4.5 minutes). The rest of
 * class 28 (28000: no pg_hba.conf entry, no such role) is configuration, not rotation.
 */
/**
 * SQLSTATE lock_not_available: a `lock_timeout` expired, or a `NOWAIT` lock is held by another
 * transaction (https://www.postgresql.org/docs/current/errcodes-appendix.html).
 */
export const LOCK_NOT_AVAILABLE = '55P03';

const TRANSIENT_SQLSTATE = new RegExp(`^((08|40|53|57|58)[0-9A-Z]{3}|${LOCK_NOT_AVAILABLE}|28P01)$`);

/** Node socket and DNS errors that mean the server could not be reached or the connection dropped. */
const TRANSIENT_SOCKET_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * The message of pg's `query_timeout` error: no answer came within it (`answerTimeoutMs`,
 * src/postgres-client-config.ts), and the server is presumed gone. pg leaves the statement pending on
 * its client, which is thus of no further use.
 */
export const ANSWER_TIMEOUT_MESSAGE = 'Query read timeout';

/** pg's connection-lost, pool-timeout and answer-timeout errors, which carry no code. */
const TRANSIENT_PG_MESSAGE = new RegExp(
  [
    'Connection terminated',
    'timeout exceeded when trying to connect',
    'Client has encountered a connection error',
    ANSWER_TIMEOUT_MESSAGE,
  ].join('|'),
);

/**
 * True for a database failure a retry may cure: a SQLSTATE of class 08, 40, 53, 57 or 58, 55P03 or 28P01; a Node
 * socket error; pg's connection-lost, pool-timeout and answer-timeout (`query_timeout`) errors. Anything
 * else (a constraint or syntax error, a TypeError) is a bug that retrying cannot fix.
 * See https://www.postgresql.org/docs/current/errcodes-appendix.html
 *
 * Duck-typed, not `instanceof Error`: socket errors come from Node's own realm, which is not the
 * realm of a VM-sandboxed caller (jest), and an `instanceof` check would miss them there.
 */
export function isTransientDatabaseError(error: unknown): boolean {
  return isDatabaseErrorOf(error, TRANSIENT_SQLSTATE);
}

/**
 * Whether `error` carries a SQLSTATE `sqlstates` matches, or is a socket error or pg's own
 * connection-lost, pool-timeout or answer-timeout error (no SQLSTATE): what both checks here share.
 */
function isDatabaseErrorOf(error: unknown, sqlstates: RegExp): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string') return sqlstates.test(code) || TRANSIENT_SOCKET_CODES.has(code);
  return typeof message === 'string' && TRANSIENT_PG_MESSAGE.test(message);
}

/** SQLSTATEs of a connection lost or refused: class 08, and 57P01-57P03 (the server shutting down or starting). */
const UNREACHABLE_SQLSTATE = /^(08[0-9A-Z]{3}|57P0[1-3])$/;

/**
 * True for a failure that says the database cannot be reached right now, whatever the statement: a
 * connection lost or refused (class 08, 57P01-57P03, a socket error, pg's connection-lost,
 * pool-timeout and answer-timeout errors: a server that did not answer in time is presumed gone). A subset of {@link isTransientDatabaseError}: a lock wait or a deadlock is
 * about one statement, and the next may pass; after this, the next statement will most likely fail
 * the same way, after its own connect timeout.
 */
export function isDatabaseUnreachable(error: unknown): boolean {
  return isDatabaseErrorOf(error, UNREACHABLE_SQLSTATE);
}
