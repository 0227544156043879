/** What a query returns on every backend. */
export interface QueryResult<R> {
  readonly rows: R[];
  /** Rows returned (SELECT, RETURNING) or affected (INSERT, UPDATE, DELETE); 0 for DDL. */
  readonly rowCount: number;
}

/**
 * Something SQL can be sent to: a {@link Database} or the `tx` of a transaction.
 *
 * With `params`, the statement is sent with the extended protocol (`$1`, `$2`, ... placeholders,
 * exactly one statement). Without params (or with an empty array) it is sent with the simple
 * protocol, which accepts several `;`-separated statements and returns the last one's result; that
 * is what `pg` does, and PGlite is made to do the same.
 *
 * Values come back the way `pg` returns them on both backends: `bigint` (int8) and `numeric` as
 * strings (they may exceed 2^53), `json`/`jsonb` parsed, `timestamptz` as `Date`.
 */
export interface Queryable {
  query<R = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
    options?: QueryOptions,
  ): Promise<QueryResult<R>>;
}

/** How one message is sent; see {@link Queryable.query}. */
export interface QueryOptions {
  /**
   * `false` awaits the answer however long it takes, past the client's answer limit (`pg`'s
   * `query_timeout`, `answerTimeoutMs`): for a message of several statements, which that limit covers
   * whole while PostgreSQL 13+ restarts `statement_timeout` for each of them (a migration's SQL).
   * Its statements stay under the session's server-side limits. PGlite in this process has no answer
   * limit. @default true
   */
  readonly answerTimeout?: boolean;
}

/**
 * A PostgreSQL database: a `pg` pool on a real server, or embedded PGlite.
 *
 * @example
 * ```ts
 * const db = await openDatabase({ url: process.env.DATABASE_URL });
 * await db.transaction(async (tx) => {
 *   await tx.query('update jobs set state = $2 where id = $1', [id, 'running']);
 * });
 * ```
 */
export interface Database extends Queryable {
  /**
   * Runs `fn` in a transaction on one connection: COMMIT when it resolves, ROLLBACK (and rethrow)
   * when it rejects. Inside `fn`, use only `tx`; calling the database itself throws
   * {@link TransactionMisuseError}.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Closes the pool or the PGlite instance. Calling it twice is harmless. */
  close(): Promise<void>;
  /** `pglite` when queries run in this process on PGlite; `postgres` when they go over the wire. */
  readonly kind: 'pglite' | 'postgres';
}
