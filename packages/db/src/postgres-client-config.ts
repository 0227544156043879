import { isIP } from 'node:net';
import type pg from 'pg';
import { DatabaseOptionsError } from './errors.ts';

/**
 * The limits every session of a sidestep process runs under, so that a blocked or lost connection
 * fails fast with PostgreSQL's reason instead of hanging until the function's or the task's timeout.
 * Each server-side one is sent at connect (pg's startup parameters), so it holds for every statement
 * of the session; the answer limit is the client's own.
 */
export interface DatabaseTimeouts {
  /** `statement_timeout`: the longest one statement may run (SQLSTATE 57014 past it). */
  readonly statementTimeoutMs: number;
  /** `lock_timeout`: the longest one statement may wait for a lock (SQLSTATE 55P03 past it). */
  readonly lockTimeoutMs: number;
  /**
   * `idle_in_transaction_session_timeout`: the longest a session may sit idle inside an open
   * transaction, holding its locks, before the server ends it (SQLSTATE 25P03).
   */
  readonly idleInTransactionTimeoutMs: number;
  /** How long opening a connection (TCP, TLS, authentication) may take before it fails. */
  readonly connectTimeoutMs: number;
  /**
   * How long the client awaits the server's answer to one message (pg's `query_timeout`), for a
   * connection the network dropped without closing it; `0` waits however long it takes. See
   * {@link answerTimeoutMs}. @default statement_timeout plus the connect timeout
   */
  readonly answerTimeoutMs?: number;
}

/**
 * The defaults, sized for the Lambda services (30-60 s function timeouts, short transactions on the
 * job ledger and the idempotency store): every limit well under the function timeout, so a blocked
 * invocation fails with the database's reason and the platform retries it. The batch-worker passes
 * its own, longer ones for its COPY and merge statements.
 */
export const DEFAULT_DATABASE_TIMEOUTS: DatabaseTimeouts = {
  statementTimeoutMs: 10_000,
  lockTimeoutMs: 5_000,
  idleInTransactionTimeoutMs: 15_000,
  connectTimeoutMs: 10_000,
};

/** The variable that overrides each timeout, named after its purpose. */
export const DATABASE_TIMEOUT_VARIABLES: Readonly<Record<keyof DatabaseTimeouts, string>> = {
  statementTimeoutMs: 'DATABASE_STATEMENT_TIMEOUT_MS',
  lockTimeoutMs: 'DATABASE_LOCK_TIMEOUT_MS',
  idleInTransactionTimeoutMs: 'DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS',
  connectTimeoutMs: 'DATABASE_CONNECT_TIMEOUT_MS',
  answerTimeoutMs: 'DATABASE_ANSWER_TIMEOUT_MS',
};

/** The environment as Node gives it. */
type Environment = Readonly<Record<string, string | undefined>>;

/** Options of {@link postgresClientConfig}. */
export interface PostgresClientOptions {
  /** `postgres://user:password@host:port/database[?sslmode=...]` */
  readonly url: string;
  /**
   * The caller's defaults; each is overridden by its `DATABASE_*_MS` variable in `env`.
   * @default DEFAULT_DATABASE_TIMEOUTS for the ones not given
   */
  readonly timeouts?: Partial<DatabaseTimeouts>;
  /**
   * Where `DATABASE_*_MS` and `DATABASE_TLS` are read.
   * @default process.env
   */
  readonly env?: Environment;
  /** `application_name`, shown in `pg_stat_activity`. @default none */
  readonly applicationName?: string;
  /**
   * Also bound, on the client, how long each statement waits for the server's answer (pg's
   * `query_timeout`, {@link answerTimeoutMs}). Only for clients that send plain statements: pg clears
   * the limit's timer through a query's callback, which a Submittable may not call (the batch-worker's
   * COPY TO reader), leaving the timer to keep the process alive and fire after the COPY is over.
   * @default false
   */
  readonly answerTimeout?: boolean;
}

/**
 * How long a connection may stay silent before TCP asks the server whether it is still there (keepalive).
 * Node then probes every second and gives up after 10 unanswered probes (libuv's TCP_KEEPINTVL and
 * TCP_KEEPCNT), so a server that vanished without closing the connection (the old primary of an RDS
 * failover, a NAT or firewall that forgot the connection) fails it about 20 s after it last spoke: a
 * statement it had received but not answered, or an idle pooled connection, instead of Linux's 2 hours
 * and 11 minutes. Keepalive cannot see a statement the vanished server never acknowledged (TCP
 * retransmits it for about 15 minutes): {@link answerTimeoutMs} covers that.
 * https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/AuroraPostgreSQL.BestPractices.FastFailover.html
 */
const KEEPALIVE_IDLE_MS = 10_000;

/**
 * The longest a client waits for the server's answer to one message (pg's `query_timeout`), past
 * which the server is presumed gone (the connection dropped without a FIN or an RST, which no
 * server-side limit can end) and the message fails with pg's `Query read timeout`, transient
 * (`isTransientDatabaseError`), its connection destroyed. `undefined` means no limit.
 *
 * `timeouts.answerTimeoutMs` when given (`DATABASE_ANSWER_TIMEOUT_MS`; `0` is none); otherwise the
 * statement's own limit plus the connect timeout, the time the network is given for a round trip (here,
 * for the answer, the server's 57014 among them, to arrive), none when either is off (0). A live
 * PostgreSQL server thus answers one statement first, with its reason; not so:
 * - a message of several `;`-separated statements (the simple protocol, no parameters): PostgreSQL 13+
 *   restarts `statement_timeout` for each of them, while the limit covers the message (`migrate` sends
 *   a migration's SQL without it, `QueryOptions.answerTimeout`);
 * - a server that ignores `statement_timeout`, as the embedded one (PGlite) does, where a statement
 *   also waits for another connection's transaction to end: its clients have none
 *   (`EMBEDDED_CLIENT_TIMEOUTS`).
 */
export function answerTimeoutMs(timeouts: DatabaseTimeouts): number | undefined {
  const { statementTimeoutMs, connectTimeoutMs, answerTimeoutMs: given } = timeouts;
  if (given !== undefined) return given > 0 ? given : undefined;
  return statementTimeoutMs > 0 && connectTimeoutMs > 0 ? statementTimeoutMs + connectTimeoutMs : undefined;
}

/**
 * The session limits for a caller: its defaults (else {@link DEFAULT_DATABASE_TIMEOUTS}), each
 * overridden by its variable in `env` (milliseconds; `0` turns a limit off, as in PostgreSQL).
 *
 * @throws {DatabaseOptionsError} naming the variable when one is not a non-negative integer.
 */
export function databaseTimeouts(
  defaults: Partial<DatabaseTimeouts> = {},
  env: Environment = process.env,
): DatabaseTimeouts {
  const timeouts = { ...DEFAULT_DATABASE_TIMEOUTS, ...defaults };
  for (const [field, variable] of Object.entries(DATABASE_TIMEOUT_VARIABLES) as [
    keyof DatabaseTimeouts,
    string,
  ][]) {
    const raw = env[variable];
    if (raw === undefined || raw.trim() === '') continue;
    const value = Number(raw);
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new DatabaseOptionsError(
        variable,
        `must be a whole number of milliseconds (0 or more), got ${raw}`,
      );
    }
    timeouts[field] = value;
  }
  return timeouts;
}

/** Hosts TLS stays off for by default: the process's own machine (local cloud, CI, tests). */
function isLocalHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return bare === '' || bare.startsWith('/') || bare === 'localhost' || bare === '::1' || /^127\./.test(bare);
}

/**
 * How the connection to `url` uses TLS, decided in this order:
 * 1. `DATABASE_TLS=off` or `verify` in the environment (an operator's explicit choice);
 * 2. the URL's `sslmode`: `disable` is off, `no-verify` encrypts without checking the certificate,
 *    every other mode verifies the certificate chain and the host name (what pg 8 does for
 *    `require`, `verify-ca` and `verify-full` alike; libpq's weaker `require` is not offered);
 * 3. otherwise: off for a local host (127.0.0.0/8, ::1, localhost, a socket), verified for any other,
 *    which is how RDS is reached (its CAs come from `NODE_EXTRA_CA_CERTS`: the services' Dockerfiles).
 */
function tlsFor(host: string, sslmode: string | null, env: Environment): pg.ClientConfig['ssl'] {
  const setting = env.DATABASE_TLS?.trim();
  if (setting !== undefined && setting !== '' && setting !== 'off' && setting !== 'verify') {
    throw new DatabaseOptionsError('DATABASE_TLS', `must be off or verify, got ${setting}`);
  }
  const mode =
    setting === 'off' || setting === 'verify'
      ? setting
      : sslmode === 'disable'
        ? 'off'
        : sslmode === 'no-verify'
          ? 'no-verify'
          : sslmode !== null || !isLocalHost(host)
            ? 'verify'
            : 'off';
  if (mode === 'off') return false;
  if (mode === 'no-verify') return { rejectUnauthorized: false };
  const bare = host.replace(/^\[|\]$/g, '');
  // SNI and the host-name check use `servername`; it must not be an IP address (RFC 6066), for
  // which Node checks the certificate's IP SANs against the host instead.
  return { rejectUnauthorized: true, ...(isIP(bare) === 0 ? { servername: bare } : {}) };
}

/**
 * The `pg` client (and pool) configuration for `url`: TLS decided by {@link tlsFor}-rules (verified
 * for any non-local server, off locally), every session under {@link databaseTimeouts}, TCP
 * keepalive after {@link KEEPALIVE_IDLE_MS} of silence, and with `answerTimeout` each statement's
 * answer awaited at most {@link answerTimeoutMs}.
 *
 * The URL's `sslmode` is taken out of the connection string and applied as the explicit `ssl` option:
 * pg lets a connection string's SSL parameters replace the `ssl` option wholesale.
 *
 * @throws {DatabaseOptionsError} `url` is not a postgres URL, or a `DATABASE_*` variable is invalid.
 */
export function postgresClientConfig(options: PostgresClientOptions): pg.ClientConfig {
  const env = options.env ?? process.env;
  // An empty DATABASE_URL is a configuration mistake, not a request for an embedded database.
  if (!/^postgres(ql)?:\/\//.test(options.url)) {
    throw new DatabaseOptionsError('url', 'must start with postgres:// or postgresql://');
  }
  let parsed: URL;
  try {
    parsed = new URL(options.url);
  } catch {
    // The URL is never echoed: it may hold a password.
    throw new DatabaseOptionsError('url', 'is not a valid URL');
  }
  const sslmode = parsed.searchParams.get('sslmode');
  let connectionString = options.url;
  if (sslmode !== null) {
    parsed.searchParams.delete('sslmode');
    connectionString = parsed.toString();
  }
  const timeouts = databaseTimeouts(options.timeouts, env);
  return {
    connectionString,
    ssl: tlsFor(decodeURIComponent(parsed.hostname), sslmode, env),
    statement_timeout: timeouts.statementTimeoutMs,
    lock_timeout: timeouts.lockTimeoutMs,
    idle_in_transaction_session_timeout: timeouts.idleInTransactionTimeoutMs,
    connectionTimeoutMillis: timeouts.connectTimeoutMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_IDLE_MS,
    ...(options.answerTimeout === true ? { query_timeout: answerTimeoutMs(timeouts) } : {}),
    ...(options.applicationName === undefined ? {} : { application_name: options.applicationName }),
  };
}
