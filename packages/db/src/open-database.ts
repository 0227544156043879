import type { Database } from './database.ts';
import { DatabaseOptionsError } from './errors.ts';
import { connectPostgres } from './postgres.ts';
import type { DatabaseTimeouts } from './postgres-client-config.ts';

/** Options of {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /**
   * `postgres://user:password@host:port/database[?sslmode=...]` of a PostgreSQL server (RDS, the
   * local cloud's embedded server, a developer's own). When given, queries go through a `pg` pool.
   * @default none: PGlite in this process
   */
  readonly url?: string;
  /** Where PGlite keeps its data when no `url` is given. @default none: in memory */
  readonly dataDir?: string;
  /**
   * Most connections the `pg` pool opens. A Lambda execution environment serves one invocation at a
   * time, so it needs few connections, while every concurrent environment holds its own pool: a burst
   * of 1,000 environments times `max` connections must stay under the server's `max_connections`
   * (put RDS Proxy in front for large bursts). 5 leaves room for a transaction plus a few parallel
   * queries (the idempotency store, a status update) in one invocation, and for the Fargate worker's
   * parallel streams; Lambda services that query sequentially should pass 1 or 2.
   * @default 5
   */
  readonly max?: number;
  /**
   * How long to wait for a connection before failing, in ms. pg waits forever by default, which turns
   * an unreachable database into a Lambda timeout instead of an error naming the cause.
   * @default 10000
   */
  readonly connectionTimeoutMillis?: number;
  /**
   * The `pg` pool's session and answer limits, each overridden by its `DATABASE_*_MS` variable (see
   * `databaseTimeouts`); PGlite in this process has none. @default DEFAULT_DATABASE_TIMEOUTS
   */
  readonly timeouts?: Partial<DatabaseTimeouts>;
}

/**
 * Opens a {@link Database}: a `pg` pool on the server at `url`, otherwise PGlite in this process (in
 * memory, or persisted in `dataDir`). The schema is not touched: call {@link migrate} for that.
 *
 * PGlite is loaded only when it is used, so a Lambda bundle that always passes `url` does not start
 * (or need) the WebAssembly build; a bundler can mark `@electric-sql/pglite` external.
 *
 * @throws {DatabaseOptionsError} `url` is not a postgres URL, or `max` is not a positive integer.
 */
export async function openDatabase(options: OpenDatabaseOptions = {}): Promise<Database> {
  const { url, max, connectionTimeoutMillis, timeouts } = options;
  // connectPostgres owns the pool defaults and checks max and url. PGlite ignores max, but a bad
  // one is refused here too, so the same options fail the same way on either backend.
  if (url !== undefined) return connectPostgres({ url, max, connectionTimeoutMillis, timeouts });
  if (max !== undefined && (!Number.isInteger(max) || max < 1)) {
    throw new DatabaseOptionsError('max', 'must be a positive integer');
  }
  const { PgliteDatabase } = await import('./pglite-database.ts');
  return PgliteDatabase.create(options.dataDir === undefined ? {} : { dataDir: options.dataDir });
}
