/**
 * `@sidestep/db/postgres`: the `pg` side of the package only. Lambda handlers import this entry so
 * their bundle never contains (or loads) PGlite, its WebAssembly build or the socket server that the
 * package root also exports for the local cloud.
 */
import pg from 'pg';
import type { Database } from './database.ts';
import { DatabaseOptionsError } from './errors.ts';
import { type PostgresClientOptions, postgresClientConfig } from './postgres-client-config.ts';
import { PostgresDatabase } from './postgres-database.ts';
import { atMostEvery, DEFAULT_RENEW_INTERVAL_MS } from './renew-credentials.ts';

export type { Database, Queryable, QueryOptions, QueryResult } from './database.ts';
export { DatabaseError, DatabaseOptionsError, TransactionMisuseError } from './errors.ts';
export { MAX_STAGING_SEGMENTS, stagingTableName } from './import-staging.ts';
export { isDatabaseUnreachable, isTransientDatabaseError } from './is-transient-database-error.ts';
export {
  answerTimeoutMs,
  DATABASE_TIMEOUT_VARIABLES,
  type DatabaseTimeouts,
  DEFAULT_DATABASE_TIMEOUTS,
  databaseTimeouts,
  type PostgresClientOptions,
  postgresClientConfig,
} from './postgres-client-config.ts';
export { PostgresDatabase, type PostgresDatabaseOptions } from './postgres-database.ts';
export {
  atMostEvery,
  DEFAULT_RENEW_INTERVAL_MS,
  isAuthenticationFailure,
  retryWithRenewedCredentials,
} from './renew-credentials.ts';

/** Options of {@link connectPostgres}; see `OpenDatabaseOptions` for the reasoning behind the defaults. */
export interface ConnectPostgresOptions extends Omit<PostgresClientOptions, 'url' | 'answerTimeout'> {
  /** `postgres://user:password@host:port/database[?sslmode=...]` */
  readonly url: string;
  /** @default 5 */
  readonly max?: number;
  /**
   * How long to wait for a connection, in ms; shorthand for `timeouts.connectTimeoutMs` (and, like
   * it, overridden by `DATABASE_CONNECT_TIMEOUT_MS`).
   * @default 10000
   */
  readonly connectionTimeoutMillis?: number;
}

/**
 * A {@link Database} over a `pg` pool on the server at `url`: TLS verified for any non-local server,
 * every session under the caller's timeouts (see {@link postgresClientConfig}), and each message's
 * answer awaited at most {@link answerTimeoutMs} (statement_timeout plus the connect timeout, unless
 * `DATABASE_ANSWER_TIMEOUT_MS` says otherwise), so a connection the network dropped silently fails the
 * statement, transient, instead of hanging.
 */
export function connectPostgres(options: ConnectPostgresOptions): Database {
  const { pool, answerTimeoutMs } = postgresPool(options);
  return new PostgresDatabase(pool, { answerTimeoutMs });
}

/**
 * The pool for `options`, and the answer limit its {@link PostgresDatabase} applies to each message:
 * not the pool's, since a message sent without it (`QueryOptions.answerTimeout`) would fall back to
 * the pool's (pg reads a query's `query_timeout` first and takes the connection's when it is unset or 0).
 */
function postgresPool(options: ConnectPostgresOptions): {
  pool: pg.Pool;
  answerTimeoutMs: number | undefined;
} {
  const { url, max = 5, connectionTimeoutMillis, timeouts, env, applicationName } = options;
  if (!Number.isInteger(max) || max < 1) throw new DatabaseOptionsError('max', 'must be a positive integer');
  const config = postgresClientConfig({
    url,
    timeouts:
      connectionTimeoutMillis === undefined
        ? timeouts
        : { connectTimeoutMs: connectionTimeoutMillis, ...timeouts },
    ...(env === undefined ? {} : { env }),
    ...(applicationName === undefined ? {} : { applicationName }),
    // PostgresDatabase sends plain statements only, and destroys a client whose answer never came.
    answerTimeout: true,
  });
  const { query_timeout: answerTimeoutMs, ...pool } = config;
  return { pool: new pg.Pool({ ...pool, max }), answerTimeoutMs };
}

/**
 * Where a URL comes from: `fresh` asks past any cache (`resolveDatabaseUrl`'s `fresh`), for
 * credentials the server has just refused.
 */
export type DatabaseUrlSource = (options: { readonly fresh: boolean }) => Promise<string>;

/** Options of {@link connectPostgresOnFirstUse}. */
export interface ConnectPostgresOnFirstUseOptions extends Omit<ConnectPostgresOptions, 'url'> {
  /**
   * Where the URL comes from (e.g. `({ fresh }) => resolveDatabaseUrl(process.env, { fresh })`, which
   * may read a secret): asked on first use, and with `fresh` when the server refuses its credentials.
   */
  readonly url: DatabaseUrlSource;
  /**
   * The least time between two fresh reads of `url`, in ms: refusals within it share the last one, or
   * keep their 28P01. @default 30000
   */
  readonly renewIntervalMs?: number;
}

/**
 * A Lambda handler's database: connects on the first call, not at import, because the URL may come
 * from Secrets Manager, and keeps the pool for the warm invocations that follow. A failed connect is
 * not cached: the next call tries again.
 *
 * A rotated password: the pool's open connections keep working (PostgreSQL checks a password only at
 * connect), and when a new one is refused authentication (SQLSTATE class 28) the URL is asked again
 * with `fresh`; if it changed, the pool is replaced by one on the new URL and the connect tried once
 * more. If it did not (a single-user rotation between the password's change and the secret's), the
 * 28P01 stands, transient ({@link isTransientDatabaseError}): the caller's retry asks again.
 * https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotation-strategy.html
 */
export function connectPostgresOnFirstUse(
  options: ConnectPostgresOnFirstUseOptions,
): () => Promise<Database> {
  const { url: source, renewIntervalMs = DEFAULT_RENEW_INTERVAL_MS, ...pool } = options;
  const readFresh = atMostEvery(renewIntervalMs, () => source({ fresh: true }));
  let database: Promise<Database> | undefined;
  return () => {
    database ??= source({ fresh: false }).then((first) => {
      let url = first;
      const { pool: firstPool, answerTimeoutMs } = postgresPool({ ...pool, url });
      return new PostgresDatabase(firstPool, {
        answerTimeoutMs,
        renewPool: async () => {
          const fresh = await readFresh();
          if (fresh === undefined || fresh === url) return undefined;
          url = fresh;
          return postgresPool({ ...pool, url }).pool;
        },
      });
    });
    database.catch(() => {
      database = undefined;
    });
    return database;
  };
}
