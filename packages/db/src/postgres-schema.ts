import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** A schema of its own on a PostgreSQL server, for one test suite, local cloud or chaos run. */
export interface PostgresSchema {
  /** `<prefix>_<12 hex digits>`: a valid unquoted identifier. */
  readonly name: string;
  /**
   * The server's URL with `options=-c search_path=<name>`: every connection made from it (a pool,
   * a service's, psql's) creates and finds its tables in the schema, without knowing it is one.
   */
  readonly url: string;
  /** Drops the schema with everything in it (`CASCADE`); once, however often it is called. */
  drop(): Promise<void>;
}

/**
 * Creates a schema `<prefix>_<random>` on the server at `url` (empty: migrate it through `url`).
 * Tests and chaos runs on a shared server (`TEST_DATABASE_URL`) each work in one and drop it at the
 * end, so none sees another's rows and none leaves its rows behind: a server that kept every run's
 * users (a path test imports hundreds of thousands) grew by about a million rows a run, until a
 * chaos run's scans of `users` passed the 10 s statement timeout.
 */
export async function createPostgresSchema(url: string, prefix = 'test'): Promise<PostgresSchema> {
  // Random lowercase hex after a lowercase prefix: safe to interpolate as an identifier.
  if (!/^[a-z][a-z0-9_]*$/.test(prefix)) throw new Error(`prefix: "${prefix}" is not a lowercase identifier`);
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await adminQuery(url, `CREATE SCHEMA ${name}`);
  // encodeURIComponent, not URLSearchParams: libpq (psql) does not read '+' as a space.
  const options = encodeURIComponent(`-c search_path=${name}`);
  let dropped: Promise<void> | undefined;
  return {
    name,
    url: `${url}${url.includes('?') ? '&' : '?'}options=${options}`,
    drop() {
      // Bounded: a backend of a killed client that still holds a lock in the schema gives up its
      // transaction once PostgreSQL notices the client is gone; a drop never waits for ever.
      dropped ??= adminQuery(url, `SET lock_timeout = '60s'`, `DROP SCHEMA IF EXISTS ${name} CASCADE`);
      return dropped;
    },
  };
}

/** One short-lived connection, so that no pool is left to keep a test runner from exiting. */
async function adminQuery(url: string, ...statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const sql of statements) await client.query(sql);
  } finally {
    await client.end();
  }
}
