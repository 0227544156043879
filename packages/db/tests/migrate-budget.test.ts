import { expect, it } from '@jest/globals';
import { type Migration, migrate } from '../src/index.ts';
import { describeIfAvailable } from '../src/testing.ts';
import { schemaPerTest } from './fixtures/server-schema.ts';

// PostgreSQL only: PGlite has one connection, so no other transaction can hold a lock a migration waits for.
const serverUrl = process.env.TEST_DATABASE_URL;
describeIfAvailable(serverUrl !== undefined)('migrate: the lock budget of each migration', () => {
  const { connect } = schemaPerTest(serverUrl as string);

  const tables: Migration = {
    version: 1,
    name: 'tables',
    sql: `CREATE TABLE t (id text PRIMARY KEY); INSERT INTO t SELECT 'k' || g FROM generate_series(1, 2) AS g;
          CREATE TABLE u (x int);`,
  };
  /** Two batches of 0.8 s each: with the ALTER's first wait, longer than the 2 s budget below. */
  const slowBackfill: Migration = {
    version: 2,
    name: 'slow-backfill',
    batched: true,
    sql: `WITH b AS (SELECT id FROM t WHERE $1::text IS NULL OR id > $1::text ORDER BY id LIMIT 1),
               s AS (SELECT pg_sleep(0.8))
          SELECT max(id) AS next FROM b, s`,
  };
  const alterU: Migration = { version: 3, name: 'alter-u', sql: 'ALTER TABLE u ADD COLUMN y int' };

  it('gives a migration after a long backfill the whole budget to wait for its locks, from its own start', async () => {
    const db = connect();
    await migrate(db, { migrations: [tables] });
    // Another transaction reads u until the ALTER has waited for it once (then 0.2 s more).
    const holder = connect();
    let release = () => {};
    const held = holder.transaction(async (tx) => {
      await tx.query('LOCK TABLE u IN ACCESS SHARE MODE');
      await new Promise<void>((resolve) => {
        release = resolve;
      });
    });
    const retried: number[] = [];
    const running = migrate(db, {
      migrations: [tables, slowBackfill, alterU],
      lockBudgetMs: 2_000,
      lockTimeoutMs: 200,
      onRetry: (retry) => {
        if (retry.version !== 3) return;
        retried.push(retry.elapsedMs);
        // Released while the ALTER backs off (0.5-1 s, jittered), whatever the machine's load: its
        // retry then finds the lock free. Counted from the run's start, 1.6 s of backfill and a
        // wait of 0.2 s leave no room for that backoff in 2 s; counted from its own start, they do.
        setTimeout(() => release(), 200);
      },
    });
    // Never wait forever, should the ALTER not wait at all.
    const timer = setTimeout(() => release(), 15_000);
    try {
      await expect(running).resolves.toEqual({ applied: ['0002-slow-backfill', '0003-alter-u'] });
      // Its wait is counted from its own start, not the run's.
      expect(retried.length).toBeGreaterThan(0);
      expect(Math.max(...retried)).toBeLessThan(2_000);
    } finally {
      clearTimeout(timer);
      release();
      await held;
    }
  });
});
