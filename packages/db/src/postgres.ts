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

export type { Database, Queryable, QueryResult } from './database.ts';
export { DatabaseError, DatabaseOptionsError, TransactionMisuseError } from './errors.ts';
export { isTransientDatabaseError } from './is-transient-database-error.ts';
export {
  DATABASE_TIMEOUT_VARIABLES,
  type DatabaseTimeouts,
  DEFAULT_DATABASE_TIMEOUTS,
  databaseTimeouts,
  type PostgresClientOptions,
  postgresClientConfig,
} from './postgres-client-config.ts';
export { PostgresDatabase } from './postgres-database.ts';

/** Options of {@link connectPostgres}; see `OpenDatabaseOptions` for the reasoning behind the defaults. */
export interface ConnectPostgresOptions extends Omit<PostgresClientOptions, 'url'> {
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
 * every session under the caller's timeouts (see {@link postgresClientConfig}).
 */
export function connectPostgres(options: ConnectPostgresOptions): Database {
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
  });
  return new PostgresDatabase(new pg.Pool({ ...config, max }));
}

/** Options of {@link connectPostgresOnFirstUse}. */
export interface ConnectPostgresOnFirstUseOptions extends Omit<ConnectPostgresOptions, 'url'> {
  /** Where the URL comes from, asked on first use (e.g. `resolveDatabaseUrl`, which may read a secret). */
  readonly url: () => Promise<string>;
}

/**
 * A Lambda handler's database: connects on the first call, not at import, because the URL may come
 * from Secrets Manager, and keeps the pool for the warm invocations that follow. A failed connect is
 * not cached: the next call tries again.
 */
export function connectPostgresOnFirstUse(
  options: ConnectPostgresOnFirstUseOptions,
): () => Promise<Database> {
  const { url, ...pool } = options;
  let database: Promise<Database> | undefined;
  return () => {
    database ??= url().then((resolved) => connectPostgres({ ...pool, url: resolved }));
    database.catch(() => {
      database = undefined;
    });
    return database;
  };
}
