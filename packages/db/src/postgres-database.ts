import type pg from 'pg';
import type { Database, Queryable, QueryOptions, QueryResult } from './database.ts';
import { ANSWER_TIMEOUT_MESSAGE } from './is-transient-database-error.ts';
import { isAuthenticationFailure } from './renew-credentials.ts';
import { TransactionGuard } from './transaction-guard.ts';

/** Options of {@link PostgresDatabase}. */
export interface PostgresDatabaseOptions {
  /**
   * A pool on credentials read afresh (bypassing any cache), for when opening a connection is refused
   * its password (SQLSTATE 28P01: a rotated password); `undefined` when they are the same (or were not
   * read again). The database then tries once more on the new pool, and ends the old one once no call
   * waits for one of its connections (its open connections finish their work; a waiter it cannot
   * serve is tried on the new pool). @default none: the refusal is the caller's
   */
  readonly renewPool?: () => Promise<pg.Pool | undefined>;
  /**
   * How long each message's answer is awaited, in ms (pg's `query_timeout`, given per message so that
   * `QueryOptions.answerTimeout: false` can lift it; `answerTimeoutMs` of postgres-client-config.ts).
   * The pools must not set their own `query_timeout`, which pg takes for a message without one.
   * @default none
   */
  readonly answerTimeoutMs?: number | undefined;
}

/** A {@link Database} over a `pg` connection pool (real PostgreSQL, or PGlite served over the wire). */
export class PostgresDatabase implements Database {
  readonly kind = 'postgres';
  #pool: pg.Pool;
  readonly #renewPool: (() => Promise<pg.Pool | undefined>) | undefined;
  readonly #answerTimeoutMs: number | undefined;
  /** The renewal under way, which concurrent refusals share. */
  #renewing: Promise<pg.Pool | undefined> | undefined;
  /** Pools a renewal replaced, ended once nobody waits for one of their connections. */
  readonly #retiring = new Set<pg.Pool>();
  readonly #guard = new TransactionGuard();
  #closed: Promise<void> | undefined;

  /** Takes ownership of `pool` (and of those `renewPool` returns): {@link close} ends it. */
  constructor(pool: pg.Pool, options: PostgresDatabaseOptions = {}) {
    this.#pool = listened(pool);
    this.#renewPool = options.renewPool;
    this.#answerTimeoutMs = options.answerTimeoutMs;
  }

  async query<R = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
    options?: QueryOptions,
  ): Promise<QueryResult<R>> {
    this.#guard.assertOutside('query');
    const client = await this.#connect();
    const { statement, release } = heard(client, this.#answerTimeoutMs);
    try {
      const result = await statement<R>(sql, params, options);
      release();
      return result;
    } catch (error) {
      // As pg-pool's own query does: a client whose statement failed is not pooled again.
      release(error instanceof Error ? error : true);
      throw error;
    }
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    this.#guard.assertOutside('transaction');
    const { statement, release } = heard(await this.#connect(), this.#answerTimeoutMs);
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
    this.#closed ??= Promise.all([this.#pool, ...this.#retiring].map((pool) => pool.end())).then(() => {});
    return this.#closed;
  }

  /**
   * A connection of the pool; once more on the current pool when this one was replaced while the call
   * waited (pg-pool serves no waiter after `end`), or on a renewed one when the server refuses the
   * password. Either failure comes before any statement is sent: trying again is safe.
   */
  async #connect(): Promise<pg.PoolClient> {
    const pool = this.#pool;
    try {
      return await pool.connect();
    } catch (error) {
      if (this.#closed !== undefined) throw error;
      if (pool !== this.#pool) {
        this.#retire(pool);
        return this.#pool.connect();
      }
      if (this.#renewPool === undefined || !isAuthenticationFailure(error)) throw error;
      const renewed = await this.#renew(pool);
      if (renewed === undefined) throw error;
      return renewed.connect();
    }
  }

  /** Ends `pool`, replaced, once no call waits for one of its connections. */
  #retire(pool: pg.Pool): void {
    if (!this.#retiring.has(pool) || pool.waitingCount > 0) return;
    this.#retiring.delete(pool);
    pool.removeAllListeners('acquire').removeAllListeners('remove');
    pool.end().catch(() => {});
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
        // Its checked-out clients are released to it and then closed with it, once its waiters are
        // served: by a released client ('acquire'), or by failing (a timeout, a refusal), which
        // #connect then tries on the new pool. pg-pool's end() would strand them until their timeout.
        this.#retiring.add(failed);
        const retire = () => this.#retire(failed);
        failed.on('acquire', retire).on('remove', retire);
        retire();
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

/**
 * `client`'s statements, and its release to the pool. While a client is checked out the pool does not
 * listen for its 'error' (pg-pool removes its idle listener), and pg emits one when the server ends
 * the session: a failover, a restart, pg_terminate_backend, the idle-in-transaction limit (25P03)
 * while a transaction's callback awaits something else. Unheard, that event ends the process, and a
 * Lambda reports a bare `Error` no retry names. Heard, the loss is kept: the next statement rejects
 * with it (transient, so the caller's retry sees the ledger unavailable) and the client is destroyed,
 * not pooled again. A statement whose answer did not come within `answerTimeoutMs` (pg's
 * `query_timeout`: the network dropped the connection without closing it) loses the client the same
 * way, and pg-pool's release destroys its socket, since pg left the statement pending on it.
 */
function heard(
  client: pg.PoolClient,
  answerTimeoutMs: number | undefined,
): {
  statement: <R>(sql: string, params?: unknown[], options?: QueryOptions) => Promise<QueryResult<R>>;
  release: (error?: Error | boolean) => void;
} {
  let lost: Error | undefined;
  const onError = (error: Error) => {
    lost ??= error;
  };
  client.on('error', onError);
  return {
    statement: async <R>(sql: string, params?: unknown[], options?: QueryOptions) => {
      if (lost) throw lost;
      try {
        return await run<R>(
          client,
          sql,
          params,
          options?.answerTimeout === false ? undefined : answerTimeoutMs,
        );
      } catch (error) {
        // No answer in time (query_timeout): the statement stays pending on the client, so a ROLLBACK
        // would queue behind it and wait as long again. The client is lost like a closed one.
        if ((error as { message?: unknown }).message === ANSWER_TIMEOUT_MESSAGE) lost ??= error as Error;
        throw error;
      }
    },
    release: (error) => {
      client.off('error', onError);
      client.release(error ?? lost);
    },
  };
}

async function run<R>(
  target: pg.PoolClient,
  sql: string,
  params: unknown[] | undefined,
  answerTimeoutMs: number | undefined,
): Promise<QueryResult<R>> {
  // Without values pg uses the simple query protocol, which allows several statements and then
  // returns one result per statement (an array at run time, whatever the typings say). pg reads
  // query_timeout from the query's config (@types/pg does not declare it there).
  const query: pg.QueryConfig & { query_timeout?: number } = {
    text: sql,
    ...(params && params.length > 0 ? { values: params } : {}),
    ...(answerTimeoutMs === undefined ? {} : { query_timeout: answerTimeoutMs }),
  };
  const result: pg.QueryResult | pg.QueryResult[] = await target.query(query);
  const last = Array.isArray(result) ? result.at(-1) : result;
  return { rows: (last?.rows ?? []) as R[], rowCount: last?.rowCount ?? 0 };
}
