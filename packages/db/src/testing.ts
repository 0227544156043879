/**
 * The shared fixture of every package's database tests: the same suite runs on embedded PGlite and,
 * when `TEST_DATABASE_URL` is set, on a real PostgreSQL server.
 *
 * @example
 * ```ts
 * import { describeEachDatabase, suiteDatabase } from '@sidestep/db/testing';
 *
 * describeEachDatabase('job status', (open) => {
 *   const db = suiteDatabase(open);
 *   it('...', async () => { await db().query('SELECT 1'); });
 * });
 * ```
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe } from '@jest/globals';
import pg from 'pg';
import type { Database, Queryable, QueryOptions, QueryResult } from './database.ts';
import { migrate } from './migrate.ts';
import { PgliteDatabase, type PgliteDatabaseOptions } from './pglite-database.ts';
import { pgliteTemplates } from './pglite-template.ts';
import { PostgresDatabase } from './postgres-database.ts';
import { createPostgresSchema } from './postgres-schema.ts';

/** Options of {@link TestDatabase.open}. */
export interface OpenTestDatabaseOptions {
  /** Apply the package's migrations. @default true */
  readonly migrate?: boolean;
  /**
   * PGlite only: server settings fixed at its start ({@link PgliteDatabaseOptions.settings}). The
   * PostgreSQL backend's server is shared and started already: its settings are the server's.
   */
  readonly pgliteSettings?: Readonly<Record<string, string>>;
}

/** Opens a fresh, isolated database; close it when done (that also discards its data). */
export type OpenTestDatabase = (options?: OpenTestDatabaseOptions) => Promise<Database>;

/** One backend tests can run on. */
export interface TestDatabase {
  readonly name: 'pglite' | 'postgres';
  /** `false` for PostgreSQL without `TEST_DATABASE_URL`: its suites are declared skipped, not left out. */
  readonly available: boolean;
  readonly open: OpenTestDatabase;
}

let skipNoted = false;

/**
 * `describe` when the suite's backend is available, else `describe.skip`: jest then counts the suite's
 * tests as skipped (the run's summary says how many did not run) instead of never declaring them.
 */
export function describeIfAvailable(available: boolean): typeof describe.skip {
  return available ? describe : describe.skip;
}

/**
 * The backends of this test run. `pglite` always: each `open()` starts a clone from a data-directory
 * dump of a migrated PGlite (~0.3 s instead of ~3 s for a new instance plus migrations; see
 * README.md), the dumps made once per machine ({@link pgliteTemplates}). `postgres` is
 * available only when `TEST_DATABASE_URL` is set: each `open()` creates a schema `test_<random>` on
 * that server, points `search_path` at it on every pool connection, migrates it, and drops it on
 * `close()`. Without it, `postgres` is listed unavailable and its `open()` rejects.
 */
export function testDatabases(
  env: Readonly<Record<string, string | undefined>> = process.env,
): TestDatabase[] {
  const url = env.TEST_DATABASE_URL;
  if (url) {
    return [
      { name: 'pglite', available: true, open: openPglite },
      { name: 'postgres', available: true, open: (options) => openPostgresSchema(url, options) },
    ];
  }
  if (!skipNoted) {
    skipNoted = true;
    process.stderr.write('@sidestep/db/testing: TEST_DATABASE_URL is unset, PostgreSQL suites skipped\n');
  }
  const unset = () =>
    Promise.reject(new Error('TEST_DATABASE_URL is unset: no PostgreSQL server to test on'));
  return [
    { name: 'pglite', available: true, open: openPglite },
    { name: 'postgres', available: false, open: unset },
  ];
}

/**
 * `describe`s the suite `fn` once per backend, titled `<title> [<backend>]`; the suite of an
 * unavailable backend is declared skipped, so the run reports its tests as skipped. `fn` is given the
 * backend's name, for a test too heavy to run on both that one backend proves as well as the other.
 */
export function describeEachDatabase(
  title: string,
  fn: (open: OpenTestDatabase, backend: TestDatabase['name']) => void,
): void {
  for (const backend of testDatabases()) {
    describeIfAvailable(backend.available)(`${title} [${backend.name}]`, () =>
      fn(backend.open, backend.name),
    );
  }
}

/**
 * Planner settings, each for `SET LOCAL` in a test's transaction, under which PostgreSQL joins
 * `x IN (subquery)` as a nested-loop semi join that runs the subquery again for every outer row: a
 * plan it also picks on its own for some table statistics. A `LIMIT n ... FOR UPDATE SKIP LOCKED`
 * subquery run so skips the rows its own statement has already deleted and returns the next n, so a
 * `DELETE ... WHERE id IN (<that subquery>)` deletes every matching row, not n (seen in CI, 2026-12-07).
 */
export const RESCANNED_SUBQUERY_PLAN: readonly string[] = [
  'enable_hashjoin',
  'enable_mergejoin',
  'enable_hashagg',
  'enable_sort',
  'enable_material',
  // An ordered batch (`ORDER BY at LIMIT n`) then reads the index again on each run, not a sort it keeps.
  'enable_seqscan',
].map((setting) => `SET LOCAL ${setting} = off`);

/**
 * One database for the enclosing suite: opened in its `beforeAll`, closed in its `afterAll`. Returns
 * the accessor, which throws when called outside the suite's tests (before it is opened).
 */
export function suiteDatabase(open: OpenTestDatabase): () => Database {
  let opened: Database | undefined;
  beforeAll(async () => {
    opened = await open();
  });
  afterAll(() => opened?.close());
  return () => {
    if (!opened) throw new Error('the suite database is opened in beforeAll: use it inside a test');
    return opened;
  };
}

async function openPglite(options: OpenTestDatabaseOptions = {}): Promise<Database> {
  const { empty, migrated } = await pgliteTemplates();
  return PgliteDatabase.create({
    loadDataDir: options.migrate === false ? empty : migrated,
    ...(options.pgliteSettings === undefined ? {} : { settings: options.pgliteSettings }),
  });
}

async function openPostgresSchema(url: string, options: OpenTestDatabaseOptions = {}): Promise<Database> {
  const schema = await createPostgresSchema(url);
  const pool = new pg.Pool({ connectionString: schema.url, max: 5 });
  const db = new SchemaDatabase(new PostgresDatabase(pool), () => schema.drop());
  try {
    if (options.migrate !== false) await migrate(db);
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}

/** A database living in its own schema, dropped when it is closed. */
class SchemaDatabase implements Database {
  readonly kind = 'postgres';
  readonly #db: PostgresDatabase;
  readonly #drop: () => Promise<void>;
  #closed: Promise<void> | undefined;

  constructor(db: PostgresDatabase, drop: () => Promise<void>) {
    this.#db = db;
    this.#drop = drop;
  }

  query<R = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
    options?: QueryOptions,
  ): Promise<QueryResult<R>> {
    return this.#db.query<R>(sql, params, options);
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.#db.transaction(fn);
  }

  close(): Promise<void> {
    this.#closed ??= this.#db.close().then(this.#drop);
    return this.#closed;
  }
}

/**
 * A login role of the tests' own on the server of `url` (a password rotation's tests): a fresh name,
 * and `url` as that role with a given password. The test creates and drops it.
 */
export function temporaryLoginRole(url: string): {
  readonly name: string;
  urlWith(password: string): string;
} {
  const name = `rotation_${randomBytes(4).toString('hex')}`;
  return {
    name,
    urlWith: (password) => {
      const parsed = new URL(url);
      parsed.username = name;
      parsed.password = password;
      return parsed.toString();
    },
  };
}
