import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import {
  connectPostgres,
  type Database,
  type EmbeddedPostgres,
  migrate,
  openDatabase,
  startEmbeddedPostgres,
} from '../src/index.ts';

/**
 * Runs `hold` in a transaction of its own connection for `ms`, and meanwhile `query` on another: the
 * embedded server runs one transaction at a time, so the query waits for the hold's end whatever its
 * session limits (PGlite ignores statement_timeout). Resolves to what the query came to.
 */
async function queryBehindTransaction(holder: Database, other: Database, ms: number): Promise<unknown> {
  // Connected before: opening a connection waits for the transaction too, under the connect timeout.
  await Promise.all([holder.query('SELECT 1'), other.query('SELECT 1')]);
  let began = () => {};
  const inside = new Promise<void>((resolve) => {
    began = resolve;
  });
  const holding = holder.transaction(async (tx) => {
    await tx.query('SELECT 1');
    began();
    await new Promise((resolve) => setTimeout(resolve, ms));
  });
  await inside;
  const answer = await other.query('SELECT 42 AS answer').catch((error: unknown) => error);
  await holding;
  return answer;
}

/** Session limits whose sum, the default answer limit, is far shorter than the wait behind a transaction. */
const SMALL_TIMEOUTS = { DATABASE_STATEMENT_TIMEOUT_MS: '200', DATABASE_CONNECT_TIMEOUT_MS: '200' };

describe('startEmbeddedPostgres', () => {
  let dataDir: string;
  let embedded: EmbeddedPostgres;
  let pool: pg.Pool;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sidestep-db-'));
    embedded = await startEmbeddedPostgres({ dataDir, port: 0 });
    pool = new pg.Pool({ connectionString: embedded.url, max: 2 });
  });
  afterAll(async () => {
    // The restart test closes both already; closing the embedded server twice is harmless.
    if (!pool.ended) await pool.end();
    await embedded.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('serves on loopback on a port the OS picked, already migrated', async () => {
    expect(embedded.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:(\d+)\/postgres$/);
    expect(embedded.url).not.toMatch(/:0\//);
    const { rows } = await pool.query("SELECT to_regclass('idempotency_records') IS NOT NULL AS migrated");
    expect(rows).toEqual([{ migrated: true }]);
  });

  it("keeps each client's extended-protocol query together (Parse..Sync) when clients send at once", async () => {
    // pg sends a parameterized query as Parse, Bind, Describe, Execute, Sync; the server runs each
    // message as its own step. Interleaved with another client's, the session's one unnamed
    // statement is replaced under it ("unnamed prepared statement does not exist").
    const clients = [0, 1, 2].map(() => new pg.Client({ connectionString: embedded.url }));
    await Promise.all(clients.map((client) => client.connect()));
    try {
      const answers = await Promise.all(
        clients.map(async (client, c) => {
          const seen: number[] = [];
          for (let n = 0; n < 150; n++) {
            const { rows } = await client.query<{ v: number }>(
              c === 0 ? 'SELECT $1::int AS v' : `SELECT $1::int + ${c * 0} AS v, $2::text AS t`,
              c === 0 ? [n] : [n, `client ${c}`],
            );
            seen.push(rows[0]?.v ?? -1);
          }
          return seen;
        }),
      );
      const expected = Array.from({ length: 150 }, (_, n) => n);
      expect(answers).toEqual([expected, expected, expected]);
    } finally {
      await Promise.all(clients.map((client) => client.end()));
    }
  });

  it('runs queries and transactions from a pg client', async () => {
    const client = new pg.Client({ connectionString: embedded.url });
    await client.connect();
    try {
      await client.query('CREATE TABLE notes (id int PRIMARY KEY, body text)');
      await client.query('BEGIN');
      await client.query('INSERT INTO notes VALUES ($1, $2)', [1, 'kept']);
      await client.query('COMMIT');
      await client.query('BEGIN');
      await client.query('INSERT INTO notes VALUES ($1, $2)', [2, 'discarded']);
      await client.query('ROLLBACK');
      expect((await client.query('SELECT id, body FROM notes ORDER BY id')).rows).toEqual([
        { id: 1, body: 'kept' },
      ]);
    } finally {
      await client.end();
    }
  });

  it('serves two connections, keeping one inside its transaction exclusive until it commits', async () => {
    const [first, second] = [await pool.connect(), await pool.connect()];
    try {
      await first.query('CREATE TABLE events (id int PRIMARY KEY)');
      await first.query('BEGIN');
      await first.query('INSERT INTO events VALUES (1)');
      // The second connection's read waits for the first one's transaction to end: it never sees
      // uncommitted rows, and it is not run inside the other connection's transaction.
      const read = second.query<{ n: string }>('SELECT count(*) AS n FROM events');
      await first.query('INSERT INTO events VALUES (2)');
      await first.query('COMMIT');
      expect((await read).rows).toEqual([{ n: '2' }]);
    } finally {
      first.release();
      second.release();
    }
  });

  it('keeps concurrent parameterized statements of two connections apart', async () => {
    // Each statement text differs, so a Parse of one connection answered for the other would show.
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        pool.query<{ i: number; k: number }>(`SELECT $1::int AS i, ${i} AS k`, [i]).then((r) => r.rows[0]),
      ),
    );
    expect(results).toEqual(Array.from({ length: 60 }, (_, i) => ({ i, k: i })));
  });

  it('gives this process a connection of its own through the server', async () => {
    expect(embedded.db.kind).toBe('postgres');
    const value = await embedded.db.transaction(async (tx) => {
      await tx.query('CREATE TABLE own (v text)');
      await tx.query('INSERT INTO own VALUES ($1)', ['mine']);
      return (await tx.query<{ v: string }>('SELECT v FROM own')).rows[0]?.v;
    });
    expect(value).toBe('mine');
  });

  // The embedded server cannot vanish without closing its connections (it runs in the local cloud's
  // process), while a statement may wait behind another connection's transaction (an export's read
  // snapshot, an import's merge) for longer than any answer limit: its clients get none.
  it("answers a client on its clientEnvironment whose statement waits behind another connection's transaction past statement_timeout plus the connect timeout", async () => {
    const env = { ...SMALL_TIMEOUTS, ...embedded.clientEnvironment };
    const holder = connectPostgres({ url: embedded.url, max: 1, env });
    const other = connectPostgres({ url: embedded.url, max: 1, env });
    try {
      expect(await queryBehindTransaction(holder, other, 1_000)).toEqual({
        rows: [{ answer: 42 }],
        rowCount: 1,
      });
    } finally {
      await Promise.all([holder.close(), other.close()]);
    }
  });

  it('keeps the data in dataDir across a restart', async () => {
    await pool.end();
    await embedded.close();
    const reopened = await openDatabase({ dataDir });
    try {
      expect(reopened.kind).toBe('pglite');
      expect((await reopened.query('SELECT id, body FROM notes')).rows).toEqual([{ id: 1, body: 'kept' }]);
      expect(await migrate(reopened)).toEqual({ applied: [] });
    } finally {
      await reopened.close();
    }
    // A new directory starts from the migrated template (pglite-template.ts); one that holds a
    // database starts from it as it is (PGlite refuses a template there).
    const restarted = await startEmbeddedPostgres({ dataDir, port: 0 });
    try {
      expect((await restarted.db.query('SELECT id, body FROM notes')).rows).toEqual([
        { id: 1, body: 'kept' },
      ]);
    } finally {
      await restarted.close();
    }
  });
});

describe("startEmbeddedPostgres's own connection", () => {
  const saved = { ...process.env };
  afterAll(() => {
    for (const variable of Object.keys(SMALL_TIMEOUTS)) {
      if (saved[variable] === undefined) delete process.env[variable];
      else process.env[variable] = saved[variable];
    }
  });

  it("waits behind another connection's transaction past statement_timeout plus the connect timeout", async () => {
    // Its pool reads the session limits from the environment, as every process's does.
    Object.assign(process.env, SMALL_TIMEOUTS);
    const embedded = await startEmbeddedPostgres({ port: 0 });
    const holder = connectPostgres({ url: embedded.url, max: 1, env: embedded.clientEnvironment });
    try {
      expect(await queryBehindTransaction(holder, embedded.db, 1_000)).toEqual({
        rows: [{ answer: 42 }],
        rowCount: 1,
      });
    } finally {
      await holder.close();
      await embedded.close();
    }
  });
});
