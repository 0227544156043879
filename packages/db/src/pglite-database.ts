import { PGlite, type PGliteOptions, type Results, types } from '@electric-sql/pglite';
import type { Database, Queryable, QueryResult } from './database.ts';
import { TransactionGuard } from './transaction-guard.ts';

/**
 * Parsers that make PGlite return what `pg` returns, so code tested on PGlite behaves the same on
 * PostgreSQL: PGlite turns int8 into a JS number, `pg` keeps it as a string (it may exceed 2^53).
 */
const pgCompatibleParsers: PGliteOptions['parsers'] = {
  [types.INT8]: (value: string) => value,
};

/** Where a new {@link PgliteDatabase} gets its data from. */
export interface PgliteDatabaseOptions {
  /** Directory that persists the data; omitted = in memory. */
  readonly dataDir?: string;
  /** A `dumpDataDir()` tarball to start from (a clone): ~0.3 s instead of ~2-3 s for initdb. */
  readonly loadDataDir?: Blob | File;
  /**
   * Server settings fixed at start (`-c name=value` on PostgreSQL's command line, after PGlite's own
   * start parameters), for what only a start sets, such as the lock table's size.
   */
  readonly settings?: Readonly<Record<string, string>>;
}

/** A {@link Database} on PGlite (PostgreSQL compiled to WebAssembly) running in this process. */
export class PgliteDatabase implements Database {
  readonly kind = 'pglite';
  /** The PGlite instance, for what only PGlite can do (`dumpDataDir`, serving it over a socket). */
  readonly pglite: PGlite;
  readonly #guard = new TransactionGuard();
  #closed: Promise<void> | undefined;

  /** Takes ownership of `pglite`: {@link close} closes it. */
  constructor(pglite: PGlite) {
    this.pglite = pglite;
  }

  /** Starts PGlite (in memory, in `dataDir`, or from a dump) with `pg`-compatible value parsing. */
  static async create(options: PgliteDatabaseOptions = {}): Promise<PgliteDatabase> {
    const pglite = await PGlite.create({
      parsers: pgCompatibleParsers,
      ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
      ...(options.loadDataDir === undefined ? {} : { loadDataDir: options.loadDataDir }),
      ...(options.settings === undefined
        ? {}
        : {
            startParams: [
              ...PGlite.defaultStartParams,
              ...Object.entries(options.settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
            ],
          }),
    });
    return new PgliteDatabase(pglite);
  }

  async query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<R>> {
    this.#guard.assertOutside('query');
    return run<R>(this.pglite, sql, params);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    this.#guard.assertOutside('transaction');
    // PGlite's transaction() issues BEGIN, COMMITs when the callback resolves and ROLLBACKs (then
    // rethrows) when it rejects; queries from outside wait until it ends.
    return this.pglite.transaction((tx) =>
      this.#guard.run(() => fn({ query: (sql, params) => run(tx, sql, params) })),
    );
  }

  close(): Promise<void> {
    this.#closed ??= this.pglite.closed ? Promise.resolve() : this.pglite.close();
    return this.#closed;
  }
}

interface PgliteQueryable {
  query<T>(query: string, params?: unknown[]): Promise<Results<T>>;
  exec(query: string): Promise<Array<Results>>;
}

async function run<R>(
  target: PgliteQueryable,
  sql: string,
  params: unknown[] | undefined,
): Promise<QueryResult<R>> {
  // PGlite's query() always uses the extended protocol (one statement only); exec() uses the simple
  // protocol like pg does without values, so multi-statement SQL (migrations) works on both.
  const result =
    params && params.length > 0 ? await target.query<R>(sql, params) : (await target.exec(sql)).at(-1);
  return {
    rows: (result?.rows ?? []) as R[],
    rowCount: result?.rowCount ?? 0,
  };
}
