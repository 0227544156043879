import type pg from 'pg';
import type { Database, Queryable, QueryResult } from './database.ts';
import { retryWithRenewedCredentials } from './renew-credentials.ts';
import { TransactionGuard } from './transaction-guard.ts';

/** Options of {@link PostgresDatabase}. */
export interface PostgresDatabaseOptions {
  /**
   * A pool on credentials read afresh (bypassing any cache), for when opening a connection is refused
   * its password (SQLSTATE 28P01: a rotated password); `undefined` when they are the same (or were not read again). The
   * database then ends the old pool (its open connections finish their work) and tries once more on
   * the new one. @default none: the refusal is the caller's
   */
  readonly renewPool?: () => Promise<pg.Pool | undefined>;
}

/** A {@link Database} over a `pg` connection pool (real PostgreSQL, or PGlite served over the wire). */
export class PostgresDatabase implements Database {
  readonly kind = 'postgres';
  #pool: pg.Pool;
  readonly #renewPool: (() => Promise<pg.Pool | undefined>) | undefined;
  /** The renewal under way, which concurrent refusals share. */
  #renewing: Promise<pg.Pool | undefined> | undefined;
  readonly #guard = new TransactionGuard();
  #closed: Promise<void> | undefined;

  /** Takes ownership of `pool` (and of those `renewPool` returns): {@link close} ends it. */
  constructor(pool: pg.Pool, options: PostgresDatabaseOptions = {}) {
    this.#pool = listened(pool);
    this.#renewPool = options.renewPool;
  }

  async query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<R>> {
    this.#guard.assertOutside('query');
    // A refused authentication comes before the statement is sent: running it again is safe.
    return this.#withPool((pool) => run<R>(pool, sql, params));
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    this.#guard.assertOutside('transaction');
    const client = await this.#withPool((pool) => pool.connect());
    // While a client is checked out the pool does not listen for its 'error' (pg-pool removes its
    // idle listener), and pg emits one when the server ends the session: a failover, a restart,
    // pg_terminate_backend, the idle-in-transaction limit (25P03) while the callback awaits something
    // else. Unheard, that event ends the process, and a Lambda reports a bare `Error` no retry names.
    // Heard, the loss is kept: the transaction's next statement rejects with it (transient, so the
    // caller's retry sees the ledger unavailable) and the client is destroyed, not pooled again.
    let lost: Error | undefined;
    const onError = (error: Error) => {
      lost ??= error;
    };
    client.on('error', onError);
    const statement = <R>(sql: string, params?: unknown[]): Promise<QueryResult<R>> =>
      lost ? Promise.reject(lost) : run<R>(client, sql, params);
    const release = (error?: Error | boolean) => {
      client.off('error', onError);
      client.release(error ?? lost);
    };
    const tx: Queryable = { query: statement };
    try {
      await statement('BEGIN');
      const result = await this.#guard.run(() => fn(tx));
      await statement('COMMIT');
      release();
      return result;
    } catch (error) {
      try {
        await statement('ROLLBACK');
        release();
      } catch (rollbackError) {
        // The connection is unusable (that is often why the transaction failed): destroy it rather
        // than hand a client with an open transaction back to the pool.
        release(rollbackError instanceof Error ? rollbackError : true);
      }
      throw error;
    }
  }

  close(): Promise<void> {
    this.#closed ??= this.#pool.end();
    return this.#closed;
  }

  /** `use` on the pool, and once more on a renewed one when the server refuses the credentials. */
  #withPool<R>(use: (pool: pg.Pool) => Promise<R>): Promise<R> {
    if (this.#renewPool === undefined) return use(this.#pool);
    return retryWithRenewedCredentials(this.#pool, use, (failed) => this.#renew(failed));
  }

  async #renew(failed: pg.Pool): Promise<pg.Pool | undefined> {
    // Another call renewed it meanwhile: use that pool.
    if (this.#pool !== failed) return this.#pool;
    this.#renewing ??= (async () => {
      try {
        const renewed = await this.#renewPool?.();
        if (renewed === undefined || this.#closed !== undefined) {
          await renewed?.end();
          return undefined;
        }
        this.#pool = listened(renewed);
        // Its checked-out clients are released to it and then closed with it.
        failed.end().catch(() => {});
        return renewed;
      } finally {
        this.#renewing = undefined;
      }
    })();
    return this.#renewing;
  }
}

/**
 * `pool`, heard: an idle pooled client can lose its connection (server restart, RDS Proxy or NAT idle
 * timeout, a Lambda environment thawed after minutes). pg then emits 'error' on the pool, which would
 * crash the process if nobody listened; the pool already discards the broken client and the next
 * query opens a new connection, so there is nothing else to do here.
 */
function listened(pool: pg.Pool): pg.Pool {
  pool.on('error', () => {});
  return pool;
}

async function run<R>(
  target: pg.Pool | pg.PoolClient,
  sql: string,
  params: unknown[] | undefined,
): Promise<QueryResult<R>> {
  // Without values pg uses the simple query protocol, which allows several statements and then
  // returns one result per statement (an array at run time, whatever the typings say).
  const result: pg.QueryResult | pg.QueryResult[] =
    params && params.length > 0 ? await target.query(sql, params) : await target.query(sql);
  const last = Array.isArray(result) ? result.at(-1) : result;
  return { rows: (last?.rows ?? []) as R[], rowCount: last?.rowCount ?? 0 };
}
