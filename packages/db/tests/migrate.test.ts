import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeEach, describe, expect, it } from '@jest/globals';
import {
  type Database,
  MigrationFailedError,
  MigrationListError,
  MigrationLockTimeoutError,
  MigrationMismatchError,
  type MigrationRetry,
  migrate,
  migrations,
} from '../src/index.ts';
import { describeEachDatabase, describeIfAvailable } from '../src/testing.ts';
import { schemaPerTest } from './fixtures/server-schema.ts';

const sha256 = (sql: string) => createHash('sha256').update(sql).digest('hex');

const tables = (db: Database) =>
  db
    .query<{ name: string }>(
      'SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1',
    )
    .then((result) => result.rows.map((row) => row.name));

const recorded = (db: Database) =>
  db
    .query<{ version: number; name: string }>('SELECT version, name FROM schema_migrations ORDER BY version')
    .then((result) => result.rows);

describeEachDatabase('migrate', (open) => {
  it('applies every migration to a fresh database, in order, and records each', async () => {
    const db = await open({ migrate: false });
    try {
      const result = await migrate(db);
      expect(result.applied).toEqual(
        migrations.map((m) => `${String(m.version).padStart(4, '0')}-${m.name}`),
      );
      expect(result.applied[0]).toBe('0001-idempotency-records');
      expect(await tables(db)).toEqual(expect.arrayContaining(['idempotency_records', 'schema_migrations']));
      expect(await recorded(db)).toEqual(migrations.map(({ version, name }) => ({ version, name })));
    } finally {
      await db.close();
    }
  });

  it("finds an execution's job by index (the job-sweeper's workflow-ended lookup)", async () => {
    const db = await open();
    try {
      // With sequential scans priced out, the plan shows an index scan only when an index serves it.
      const plan = await db.transaction(async (tx) => {
        await tx.query('SET LOCAL enable_seqscan = off');
        const { rows } = await tx.query<{ 'QUERY PLAN': string }>(
          "EXPLAIN SELECT id FROM jobs WHERE execution_id = 'arn:aws:states:x' AND state IN ('registered', 'running')",
        );
        return rows.map((row) => row['QUERY PLAN']).join('\n');
      });
      expect(plan).toMatch(
        /Index (Only )?Scan using jobs_execution_id|Bitmap Index Scan on jobs_execution_id/,
      );
    } finally {
      await db.close();
    }
  });

  it("copies a completed import's users written from its finish transition to the column (migrations 11 and 20)", async () => {
    const db = await open({ migrate: false });
    try {
      const before = migrations.filter((m) => m.version < 11);
      await migrate(db, { migrations: before });
      await db.query(
        `INSERT INTO jobs (id, kind, state, source_bucket, source_key, source_version) VALUES
           ('imp_done', 'import', 'succeeded', 'b', 'k1', 'v'),
           ('imp_retried', 'import', 'succeeded', 'b', 'k2', 'v'),
           ('imp_old', 'import', 'succeeded', 'b', 'k3', 'v'),
           ('imp_failed', 'import', 'failed', 'b', 'k4', 'v')`,
      );
      await db.query(
        `INSERT INTO job_transitions (job_id, event, from_state, to_state, data) VALUES
           ('imp_done', 'finish', 'running', 'succeeded', '{"by": "batch-worker", "usersWritten": 3}'),
           ('imp_retried', 'finish', 'running', 'succeeded', '{"usersWritten": 5}'),
           ('imp_retried', 'finish', 'running', 'succeeded', '{"usersWritten": 7}'),
           ('imp_old', 'finish', 'running', 'succeeded', '{"by": "batch-worker"}'),
           ('imp_failed', 'finish', 'running', 'succeeded', '{"usersWritten": 9}')`,
      );
      expect((await migrate(db)).applied).toEqual(
        expect.arrayContaining(['0011-jobs-users-written', '0020-jobs-users-written-backfill']),
      );
      const { rows } = await db.query<{ id: string; users_written: string | null }>(
        'SELECT id, users_written FROM jobs ORDER BY id',
      );
      expect(rows).toEqual([
        { id: 'imp_done', users_written: '3' },
        { id: 'imp_failed', users_written: null },
        { id: 'imp_old', users_written: null },
        { id: 'imp_retried', users_written: '7' },
      ]);
    } finally {
      await db.close();
    }
  });

  it('applies nothing when run again', async () => {
    const db = await open();
    try {
      expect(await migrate(db)).toEqual({ applied: [] });
      expect(await recorded(db)).toHaveLength(migrations.length);
    } finally {
      await db.close();
    }
  });

  it('applies each migration exactly once when migrators run concurrently', async () => {
    const db = await open({ migrate: false });
    // pg_sleep widens the window in which a migrator without the lock would run a migration twice.
    const list = [
      { version: 1, name: 'a', sql: 'SELECT pg_sleep(0.05); CREATE TABLE a (id int)' },
      { version: 2, name: 'b', sql: 'CREATE TABLE b (id int); INSERT INTO b VALUES (1)' },
      { version: 3, name: 'c', sql: 'CREATE TABLE c (id int)' },
    ];
    try {
      const results = await Promise.all([1, 2, 3].map(() => migrate(db, { migrations: list })));
      expect(results.flatMap((r) => r.applied).sort()).toEqual(['0001-a', '0002-b', '0003-c']);
      expect(await recorded(db)).toEqual(list.map(({ version, name }) => ({ version, name })));
      expect((await db.query('SELECT * FROM b')).rowCount).toBe(1);
    } finally {
      await db.close();
    }
  });

  it('rolls back a failing migration, keeps the ones before it and applies it once fixed', async () => {
    const db = await open({ migrate: false });
    const good = { version: 1, name: 'good', sql: 'CREATE TABLE good (id int)' };
    const bad = { version: 2, name: 'bad', sql: 'CREATE TABLE half (id int); SELECT 1 / 0' };
    try {
      const failure = await migrate(db, { migrations: [good, bad] }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(MigrationFailedError);
      expect(failure).toMatchObject({ name: 'MigrationFailedError', version: 2, migrationName: 'bad' });
      expect(await tables(db)).toEqual(['good', 'schema_migrations']);
      expect(await recorded(db)).toEqual([{ version: 1, name: 'good' }]);

      const fixed = { ...bad, sql: 'CREATE TABLE half (id int)' };
      expect(await migrate(db, { migrations: [good, fixed] })).toEqual({ applied: ['0002-bad'] });
    } finally {
      await db.close();
    }
  });

  it('refuses a database whose applied migration was edited or renamed', async () => {
    const db = await open({ migrate: false });
    const original = { version: 1, name: 'one', sql: 'CREATE TABLE one (id int)' };
    try {
      await migrate(db, { migrations: [original] });
      await expect(
        migrate(db, { migrations: [{ ...original, sql: 'CREATE TABLE one (id bigint)' }] }),
      ).rejects.toMatchObject({ name: 'MigrationMismatchError', version: 1, field: 'checksum' });
      await expect(migrate(db, { migrations: [{ ...original, name: 'uno' }] })).rejects.toBeInstanceOf(
        MigrationMismatchError,
      );
    } finally {
      await db.close();
    }
  });

  it('accepts an applied migration rewritten with its former checksum, and still refuses any other SQL', async () => {
    const db = await open({ migrate: false });
    const original = { version: 1, name: 'one', sql: 'CREATE TABLE one (id int)' };
    const rewrite = { ...original, sql: 'CREATE TABLE IF NOT EXISTS one (id int)' };
    try {
      await migrate(db, { migrations: [original] });
      expect(
        await migrate(db, { migrations: [{ ...rewrite, formerChecksums: [sha256(original.sql)] }] }),
      ).toEqual({ applied: [] });
      await expect(
        migrate(db, {
          migrations: [{ ...rewrite, formerChecksums: [sha256('CREATE TABLE one (id bigint)')] }],
        }),
      ).rejects.toMatchObject({ name: 'MigrationMismatchError', version: 1, field: 'checksum' });
      await expect(migrate(db, { migrations: [rewrite] })).rejects.toBeInstanceOf(MigrationMismatchError);
    } finally {
      await db.close();
    }
  });

  describe('a batched migration', () => {
    const table = {
      version: 1,
      name: 'items',
      sql: `CREATE TABLE items (id text PRIMARY KEY, done boolean NOT NULL DEFAULT false);
            CREATE TABLE batches (at timestamptz NOT NULL, xid xid8 NOT NULL, first text);
            CREATE TABLE stop (at text);
            INSERT INTO items (id) SELECT lpad(g::text, 2, '0') FROM generate_series(1, 25) g`,
    };
    // Marks up to 10 items after the cursor, notes its transaction, fails at the item in stop.
    const backfill = {
      version: 2,
      name: 'items-done',
      batched: true,
      sql: `WITH batch AS (
              SELECT id FROM items WHERE $1::text IS NULL OR id > $1 ORDER BY id LIMIT 10
            ), marked AS (
              UPDATE items SET done = true FROM batch WHERE items.id = batch.id AND NOT items.done
            ), noted AS (
              INSERT INTO batches SELECT clock_timestamp(), pg_current_xact_id(), min(id) FROM batch
            )
            SELECT max(id) AS next,
                   1 / (1 - (SELECT count(*) FROM batch WHERE id IN (SELECT at FROM stop))) AS stopped
              FROM batch`,
    } as const;
    const done = (db: Database) =>
      db
        .query<{ n: number }>('SELECT count(*)::int AS n FROM items WHERE done')
        .then((result) => result.rows[0]?.n);

    it('runs its statement batch by batch, each batch a transaction of its own, and records it after the last', async () => {
      const db = await open({ migrate: false });
      try {
        expect(await migrate(db, { migrations: [table, backfill] })).toEqual({
          applied: ['0001-items', '0002-items-done'],
        });
        expect(await done(db)).toBe(25);
        const { rows } = await db.query<{ first: string | null; xid: string }>(
          'SELECT first, xid::text FROM batches ORDER BY at',
        );
        expect(rows.map((row) => row.first)).toEqual(['01', '11', '21', null]);
        expect(new Set(rows.map((row) => row.xid)).size).toBe(4);
        expect(await recorded(db)).toEqual([
          { version: 1, name: 'items' },
          { version: 2, name: 'items-done' },
        ]);
      } finally {
        await db.close();
      }
    });

    it('keeps the batches done before one failed, and finishes when run again', async () => {
      const db = await open({ migrate: false });
      try {
        await migrate(db, { migrations: [table] });
        await db.query("INSERT INTO stop VALUES ('15')");
        const failure = await migrate(db, { migrations: [table, backfill] }).catch((error: unknown) => error);
        expect(failure).toMatchObject({
          name: 'MigrationFailedError',
          version: 2,
          migrationName: 'items-done',
          batchesDone: 1,
          message: expect.stringMatching(/failed in batch 2/),
        });
        expect(await done(db)).toBe(10);
        expect(await recorded(db)).toEqual([{ version: 1, name: 'items' }]);
        await db.query('DELETE FROM stop');
        expect(await migrate(db, { migrations: [table, backfill] })).toEqual({
          applied: ['0002-items-done'],
        });
        expect(await done(db)).toBe(25);
      } finally {
        await db.close();
      }
    });

    it('fails, rather than loops, when its statement answers no next cursor or the same one again', async () => {
      const db = await open({ migrate: false });
      try {
        await migrate(db, { migrations: [table] });
        const none = { ...backfill, sql: 'SELECT $1::text AS cursor' };
        await expect(migrate(db, { migrations: [table, none] })).rejects.toMatchObject({
          name: 'MigrationFailedError',
          message: expect.stringMatching(/one row with a column next/),
        });
        const same = { ...backfill, sql: "SELECT '01' AS next WHERE $1::text IS NULL OR true" };
        await expect(migrate(db, { migrations: [table, same] })).rejects.toMatchObject({
          name: 'MigrationFailedError',
          message: expect.stringMatching(/next cursor 01 again/),
        });
      } finally {
        await db.close();
      }
    });
  });

  describe('a migration with transaction: false (CREATE INDEX CONCURRENTLY)', () => {
    const table = {
      version: 1,
      name: 'items',
      sql: "CREATE TABLE items (id int, code text); INSERT INTO items SELECT g, 'c' || g FROM generate_series(1, 100) g",
    };
    const index = {
      version: 2,
      name: 'items-code-index',
      sql: 'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS items_code_idx ON items (code)',
      transaction: false,
    } as const;
    const indexState = (db: Database) =>
      db
        .query<{ valid: boolean }>(
          "SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = to_regclass('items_code_idx')",
        )
        .then((result) => result.rows);

    it('runs the statement outside a transaction and records it', async () => {
      const db = await open({ migrate: false });
      try {
        expect(await migrate(db, { migrations: [table, index] })).toEqual({
          applied: ['0001-items', '0002-items-code-index'],
        });
        expect(await indexState(db)).toEqual([{ valid: true }]);
        expect(await recorded(db)).toEqual([
          { version: 1, name: 'items' },
          { version: 2, name: 'items-code-index' },
        ]);
        expect(await migrate(db, { migrations: [table, index] })).toEqual({ applied: [] });
      } finally {
        await db.close();
      }
    });

    it('records it when a run that built the index stopped before its record', async () => {
      const db = await open({ migrate: false });
      try {
        await migrate(db, { migrations: [table] });
        await db.query(index.sql); // the statement ran, then the task was killed
        expect(await migrate(db, { migrations: [table, index] })).toEqual({
          applied: ['0002-items-code-index'],
        });
        expect(await indexState(db)).toEqual([{ valid: true }]);
      } finally {
        await db.close();
      }
    });

    it('drops the invalid index a failed build leaves, and builds it again once the cause is fixed', async () => {
      const db = await open({ migrate: false });
      try {
        await migrate(db, { migrations: [table] });
        await db.query("UPDATE items SET code = 'c1' WHERE id = 2");
        const failure = await migrate(db, { migrations: [table, index] }).catch((error: unknown) => error);
        expect(failure).toBeInstanceOf(MigrationFailedError);
        expect(failure).toMatchObject({ version: 2, migrationName: 'items-code-index' });
        expect((failure as Error).message).toMatch(/could not create unique index/);
        expect(await indexState(db)).toEqual([]);
        expect(await recorded(db)).toEqual([{ version: 1, name: 'items' }]);

        // A build that failed in a run killed before it could drop the index: IF NOT EXISTS alone
        // would skip the build and record an index that is never used.
        await expect(db.query(index.sql)).rejects.toThrow(/could not create unique index/);
        expect(await indexState(db)).toEqual([{ valid: false }]);
        await db.query("UPDATE items SET code = 'c2' WHERE id = 2");
        expect(await migrate(db, { migrations: [table, index] })).toEqual({
          applied: ['0002-items-code-index'],
        });
        expect(await indexState(db)).toEqual([{ valid: true }]);
      } finally {
        await db.close();
      }
    });
  });
});

describe('migrate list validation', () => {
  // Validation happens before any query, so a database that fails every call proves it.
  const unusable: Database = {
    kind: 'pglite',
    query: () => Promise.reject(new Error('queried')),
    transaction: () => Promise.reject(new Error('queried')),
    close: () => Promise.resolve(),
  };

  it.each([
    ['a repeated version', [1, 1], 1],
    ['a decreasing version', [2, 1], 1],
    ['a non-integer version', [1.5], 1.5],
    ['version 0', [0], 0],
  ])('rejects %s naming it', async (_case, versions, offending) => {
    const list = versions.map((version) => ({ version, name: `m${version}`, sql: 'SELECT 1' }));
    await expect(migrate(unusable, { migrations: list })).rejects.toMatchObject({
      name: 'MigrationListError',
      version: offending,
    });
  });

  it.each([
    ['without IF NOT EXISTS', 'CREATE INDEX CONCURRENTLY t_idx ON t (a)'],
    ['of two statements', 'CREATE INDEX CONCURRENTLY IF NOT EXISTS t_idx ON t (a); SELECT 1'],
  ])('rejects a transaction: false migration %s', async (_case, sql) => {
    await expect(
      migrate(unusable, { migrations: [{ version: 1, name: 'index', sql, transaction: false }] }),
    ).rejects.toMatchObject({
      name: 'MigrationListError',
      version: 1,
      message: expect.stringMatching(/transaction: false/),
    });
  });

  it.each([
    ['with transaction: false', { transaction: false }, /batched/],
    ['of two statements', { sql: 'UPDATE t SET a = 1 WHERE id > $1; SELECT 1 AS next' }, /one statement/],
    ['without the cursor $1', { sql: 'UPDATE t SET a = 1' }, /\$1/],
  ])('rejects a batched migration %s', async (_case, fields, message) => {
    const migration = {
      version: 1,
      name: 'backfill',
      sql: 'SELECT $1::text AS next',
      batched: true,
      ...fields,
    };
    await expect(migrate(unusable, { migrations: [migration] })).rejects.toMatchObject({
      name: 'MigrationListError',
      version: 1,
      message: expect.stringMatching(message),
    });
  });

  it('rejects a former checksum that is not a sha256 in hex, naming formerChecksums', async () => {
    const migration = { version: 1, name: 'one', sql: 'SELECT 1', formerChecksums: ['abc'] };
    await expect(migrate(unusable, { migrations: [migration] })).rejects.toMatchObject({
      name: 'MigrationListError',
      version: 1,
      message: expect.stringMatching(/formerChecksums/),
    });
  });

  it.each([
    ['lockTimeoutMs', -1],
    ['lockTimeoutMs', 1.5],
    ['lockBudgetMs', 0],
  ] as const)('rejects %s %p naming it', async (field, value) => {
    await expect(migrate(unusable, { migrations: [], [field]: value })).rejects.toMatchObject({
      name: 'DatabaseOptionsError',
      field,
    });
  });

  it('rejects an empty name', async () => {
    await expect(
      migrate(unusable, { migrations: [{ version: 1, name: ' ', sql: '' }] }),
    ).rejects.toBeInstanceOf(MigrationListError);
  });

  it('keeps the package migrations valid: increasing versions, kebab-case names', () => {
    expect(migrations.map((m) => m.version)).toEqual(migrations.map((_, index) => index + 1));
    for (const m of migrations) expect(m.name).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
  });
});

// PostgreSQL only: PGlite has one connection, so nothing else can hold a lock while a migration runs.
const serverUrl = process.env.TEST_DATABASE_URL;
describeIfAvailable(serverUrl !== undefined)('migrate on a server others use', () => {
  const { connect } = schemaPerTest(serverUrl as string);
  /** Holds `sql`'s locks in a transaction until the returned release is called. */
  async function hold(sql: string): Promise<() => Promise<void>> {
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let taken = () => {};
    const isTaken = new Promise<void>((resolve) => {
      taken = resolve;
    });
    const done = connect().transaction(async (tx) => {
      await tx.query(sql);
      taken();
      await released;
    });
    await Promise.race([isTaken, done]);
    return async () => {
      release();
      await done;
    };
  }
  /**
   * Resolves once a session holds the migrators' lock of `db`'s schema (the key of migrate.ts) while
   * it runs `sql`; polls, 5 s at most.
   */
  async function untilMigrating(db: Database, sql: string): Promise<void> {
    for (const started = Date.now(); Date.now() - started < 5_000; await sleep(20)) {
      const { rows } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n
           FROM pg_locks AS lock JOIN pg_stat_activity AS activity USING (pid)
          WHERE lock.locktype = 'advisory' AND lock.granted AND lock.database = activity.datid
            AND lock.objid::text::bigint = hashtext(current_schema() || '.schema_migrations')::bigint & 4294967295
            AND activity.state = 'active' AND activity.query = $1`,
        [sql],
      );
      if (rows[0]?.n === 1) return;
    }
    throw new Error(`no migrator ran ${sql} under the migrators' lock within 5 s`);
  }
  const alter = { version: 1, name: 'items-note', sql: 'ALTER TABLE items ADD COLUMN note text' };
  const concurrentIndex = {
    version: 1,
    name: 'items-index',
    sql: 'CREATE INDEX CONCURRENTLY IF NOT EXISTS items_id_idx ON items (id)',
    transaction: false,
  } as const;

  beforeEach(async () => {
    await connect().query('CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items VALUES (1), (2)');
  });

  it("retries a migration whose table is locked, never keeping others' queries waiting longer than one attempt", async () => {
    // An import's completing transaction holds its job row for the whole MERGE.
    const release = await hold('SELECT * FROM items WHERE id = 1 FOR UPDATE');
    const retries: MigrationRetry[] = [];
    const running = migrate(connect({ lockTimeoutMs: 30_000 }), {
      migrations: [alter],
      lockTimeoutMs: 300,
      onRetry: (retry) => retries.push(retry),
    });
    // A status update of another job, under a lock limit longer than one attempt: while the ALTER waits
    // for its lock every query of the table queues behind it, so these pass only if the wait is short.
    // They go on until the migration has timed out twice (1.3 s or so; 10 s at most on a busy machine).
    const ledger = connect({ lockTimeoutMs: 1_000 });
    const started = Date.now();
    while (retries.length < 2 && Date.now() - started < 10_000) {
      await ledger.transaction((tx) => tx.query('SELECT * FROM items WHERE id = 2 FOR UPDATE'));
      await sleep(100);
    }
    await release();
    expect(await running).toEqual({ applied: ['0001-items-note'] });
    expect(retries.length).toBeGreaterThanOrEqual(2);
    expect(retries[0]).toMatchObject({ version: 1, name: 'items-note', attempt: 1 });
    expect(retries[0]?.reason).toMatch(/lock timeout/);
    expect(retries[1]?.attempt).toBe(2);
  });

  // PostgreSQL 13+ restarts statement_timeout for each statement of a multi-statement message ("Reset
  // statement_timeout between queries of a multi-query string",
  // https://postgresql.org/message-id/E1iO1iN-0005Gb-IO%40gemulon.postgresql.org), while a client's
  // answer limit covers the message: a migration whose statements each finish in time must not fail
  // on it (the server would go on running its DDL, its locks held, after the migrator gave up).
  it('applies a migration whose statements each finish within statement_timeout though together they take longer than the answer limit', async () => {
    // The answer limit is 1.5 + 0.2 s; three statements of 0.8 s take 2.4 s together, and each leaves
    // 0.7 s of its own limit for a busy machine (with 0.3 s of 0.4 s, one overran in a fresh clone's run).
    const db = connect({ statementTimeoutMs: 1_500, connectTimeoutMs: 200 });
    const slow = {
      version: 1,
      name: 'items-slow',
      sql: 'SELECT pg_sleep(0.8); SELECT pg_sleep(0.8); SELECT pg_sleep(0.8); ALTER TABLE items ADD COLUMN note text',
    };
    expect(await migrate(db, { migrations: [slow] })).toEqual({ applied: ['0001-items-slow'] });
    // The limits still hold for the statements the migration's SQL is made of, and for other queries.
    await expect(db.query('SELECT pg_sleep(2)')).rejects.toMatchObject({ code: '57014' });
  });

  it('gives up with MigrationLockTimeoutError once its lock budget is spent, and applies nothing', async () => {
    const release = await hold('SELECT * FROM items WHERE id = 1 FOR UPDATE');
    try {
      const started = Date.now();
      const failure = await migrate(connect({ lockTimeoutMs: 30_000 }), {
        migrations: [alter],
        lockTimeoutMs: 200,
        lockBudgetMs: 1_500,
      }).catch((error: unknown) => error);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(failure).toBeInstanceOf(MigrationLockTimeoutError);
      expect(failure).toMatchObject({ version: 1, migrationName: 'items-note', permanent: false });
      expect((failure as MigrationLockTimeoutError).attempts).toBeGreaterThanOrEqual(2);
    } finally {
      await release();
    }
    expect(await recorded(connect())).toEqual([]);
  });

  it('stops waiting when its signal is aborted', async () => {
    const release = await hold('SELECT * FROM items WHERE id = 1 FOR UPDATE');
    try {
      const stop = new AbortController();
      setTimeout(() => stop.abort(new Error('SIGTERM')), 500);
      const started = Date.now();
      await expect(
        migrate(connect(), { migrations: [alter], lockTimeoutMs: 200, signal: stop.signal }),
      ).rejects.toThrow('SIGTERM');
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await release();
    }
  });

  it('makes a second migrator wait for the first past the per-attempt lock limit, then apply nothing', async () => {
    // A migration that runs longer than one attempt's lock limit (a backfill).
    const list = [{ version: 1, name: 'slow', sql: 'SELECT pg_sleep(1.5)' }];
    const first = migrate(connect({ lockTimeoutMs: 300 }), { migrations: list, lockTimeoutMs: 300 });
    // The second starts once the first holds the migrators' lock in its migration (not in the read of
    // what is applied before it, between which and the migration the second could take the lock).
    await untilMigrating(connect(), 'SELECT pg_sleep(1.5)');
    const second = migrate(connect({ lockTimeoutMs: 300 }), { migrations: list, lockTimeoutMs: 300 });
    expect(await Promise.all([first, second])).toEqual([{ applied: ['0001-slow'] }, { applied: [] }]);
  });

  it('waits for another migrator at most its lock budget', async () => {
    // The key the migrator locks (migrate.ts); a run of it that takes longer than the budget.
    const release = await hold(
      "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.schema_migrations'))",
    );
    try {
      await expect(
        migrate(connect(), { migrations: [alter], lockTimeoutMs: 200, lockBudgetMs: 1_000 }),
      ).rejects.toMatchObject({
        name: 'MigrationLockTimeoutError',
        message: expect.stringMatching(/another migrator/),
      });
    } finally {
      await release();
    }
  });

  it("lets go of the migrators' session lock after a transaction: false migration: the next migrator, on another connection, does not wait", async () => {
    // The first migrator's database stays open, its connection back in the pool: a session lock it
    // kept would hold every other migrator off until that connection closed.
    const first = connect();
    expect(await migrate(first, { migrations: [concurrentIndex] })).toEqual({
      applied: ['0001-items-index'],
    });
    const next = { ...alter, version: 2 };
    expect(
      await migrate(connect(), {
        migrations: [concurrentIndex, next],
        lockTimeoutMs: 200,
        lockBudgetMs: 2_000,
      }),
    ).toEqual({ applied: ['0002-items-note'] });
    expect((await first.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('builds a transaction: false index once when migrators run concurrently, each returning once it is valid', async () => {
    const valid = () =>
      connect()
        .query("SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = to_regclass('items_id_idx')")
        .then((result) => result.rows);
    // A concurrent build waits for the transactions writing the table: the first run's build stays
    // unfinished (its index invalid) until this one ends, while the others' runs start.
    const release = await hold('INSERT INTO items VALUES (3)');
    const runs = [1, 2, 3].map(() =>
      migrate(connect({ lockTimeoutMs: 300 }), { migrations: [concurrentIndex] }).then(
        async ({ applied }) => ({
          applied,
          valid: await valid(),
        }),
      ),
    );
    await sleep(1_000);
    await release();
    const results = await Promise.all(runs);
    expect(results.flatMap((r) => r.applied)).toEqual(['0001-items-index']);
    for (const result of results) expect(result.valid).toEqual([{ valid: true }]);
  });
});
