import { expect, it } from '@jest/globals';
import type { Queryable } from '../src/database.ts';
import { type Database, type Migration, migrate, migrations } from '../src/index.ts';
import { describeEachDatabase, describeIfAvailable } from '../src/testing.ts';
import { schemaPerTest } from './fixtures/server-schema.ts';
import { shippedJobsExecutionIndex, shippedJobsUsersWritten } from './fixtures/shipped-migrations.ts';

// Migrations 6 and 11 rewritten with fewer locks (their shipped SQL accepted through formerChecksums),
// the backfill of users_written in batches, and the indexes of the operators' reads.

const upTo = (version: number) => migrations.filter((m) => m.version <= version);
/** The list as the release before the rewrite shipped it: 6 and 11 as they were, nothing after 16. */
const shipped: readonly Migration[] = upTo(16).map((m) =>
  m.version === 6 ? shippedJobsExecutionIndex : m.version === 11 ? shippedJobsUsersWritten : m,
);
const labels = (list: readonly Migration[]) =>
  list.map((m) => `${String(m.version).padStart(4, '0')}-${m.name}`);

/**
 * `count` jobs (`job_0000001`...) of every kind and state, with the finish transitions completed
 * imports had before migration 11: a number, none, a string, a retried import's later finish with
 * or without one, a start transition that names usersWritten (not a finish: never copied).
 */
async function fillJobs(db: Database, count: number): Promise<void> {
  await db.query(
    `INSERT INTO jobs (id, kind, state, source_bucket, source_key, source_version)
     SELECT 'job_' || lpad(g::text, 7, '0'),
            CASE WHEN g % 10 = 0 THEN 'export' ELSE 'import' END,
            CASE WHEN g % 7 = 0 THEN 'failed' WHEN g % 11 = 0 THEN 'running' ELSE 'succeeded' END,
            'b', 'k' || g, 'v'
       FROM generate_series(1, $1::int) AS g`,
    [count],
  );
  await db.query(
    `INSERT INTO job_transitions (job_id, event, from_state, to_state, data)
     SELECT 'job_' || lpad(g::text, 7, '0'), 'start', 'registered', 'running', '{"usersWritten": 12345}'
       FROM generate_series(1, $1::int) AS g WHERE g % 4 = 0`,
    [count],
  );
  await db.query(
    `INSERT INTO job_transitions (job_id, event, from_state, to_state, data)
     SELECT 'job_' || lpad(g::text, 7, '0'), 'finish', 'running', 'succeeded',
            CASE g % 5
              WHEN 1 THEN jsonb_build_object('by', 'batch-worker', 'usersWritten', g % 1000)
              WHEN 2 THEN jsonb_build_object('by', 'batch-worker')
              WHEN 3 THEN jsonb_build_object('usersWritten', (g % 1000)::text)
              ELSE jsonb_build_object('usersWritten', g % 997)
            END
       FROM generate_series(1, $1::int) AS g WHERE g % 5 <> 0`,
    [count],
  );
  await db.query(
    `INSERT INTO job_transitions (job_id, event, from_state, to_state, data)
     SELECT 'job_' || lpad(g::text, 7, '0'), 'finish', 'running', 'succeeded',
            CASE WHEN g % 2 = 0 THEN jsonb_build_object('usersWritten', g % 1000 + 1) ELSE '{"by": "retry"}' END
       FROM generate_series(1, $1::int) AS g WHERE g % 3 = 0`,
    [count],
  );
}

const usersWritten = (db: Database) =>
  db
    .query<{ id: string; users_written: string | null }>('SELECT id, users_written FROM jobs ORDER BY id')
    .then((result) => result.rows);

const indexes = (db: Database) =>
  db
    .query<{ name: string; definition: string; valid: boolean }>(
      `SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition, i.indisvalid AS valid
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relnamespace = to_regnamespace(current_schema())
          AND c.relname IN ('jobs_execution_id', 'jobs_created', 'jobs_state_created', 'idempotency_records_key_hash')
        ORDER BY 1`,
    )
    .then((result) => result.rows);

describeEachDatabase('jobs migrations', (open) => {
  it("creates the operators' reads' indexes and the execution index, each valid", async () => {
    const db = await open();
    try {
      expect(await indexes(db)).toEqual([
        {
          name: 'idempotency_records_key_hash',
          definition: expect.stringMatching(
            /ON \S*idempotency_records USING btree \(split_part\(id, '#'::text, 2\)\)$/,
          ),
          valid: true,
        },
        {
          name: 'jobs_created',
          definition: expect.stringMatching(/ON \S*jobs USING btree \(created_at, id\)$/),
          valid: true,
        },
        {
          name: 'jobs_execution_id',
          definition: expect.stringMatching(
            /ON \S*jobs USING btree \(execution_id\) WHERE \(execution_id IS NOT NULL\)$/,
          ),
          valid: true,
        },
        {
          name: 'jobs_state_created',
          definition: expect.stringMatching(/ON \S*jobs USING btree \(state, created_at, id\)$/),
          valid: true,
        },
      ]);
    } finally {
      await db.close();
    }
  });

  // Two embedded databases and a migration each: 12 s on two cores, 24 s on one.
  it('fills users_written from the finish transitions as the shipped migration 11 did, across batches', async () => {
    const [before, after] = await Promise.all([open({ migrate: false }), open({ migrate: false })]);
    try {
      await migrate(before, { migrations: shipped.filter((m) => m.version <= 10) });
      await migrate(after, { migrations: upTo(10) });
      await Promise.all([fillJobs(before, 25_000), fillJobs(after, 25_000)]);
      await migrate(before, { migrations: shipped });
      await migrate(after);
      const filled = await usersWritten(after);
      expect(filled.filter((row) => row.users_written !== null).length).toBeGreaterThan(5_000);
      expect(filled).toEqual(await usersWritten(before));
    } finally {
      await Promise.all([before.close(), after.close()]);
    }
  }, 120_000);

  // The root README's rollback runs the previous release's deploy, whose migrate verifies the
  // recorded checksums against the SQL it ships: the rewritten 6 and 11 must be recorded as shipped.
  it('records a rewritten migration under its shipped checksum, so the release before the rewrite still migrates the database', async () => {
    const db = await open({ migrate: false });
    try {
      await migrate(db);
      await expect(migrate(db, { migrations: shipped })).resolves.toEqual({ applied: [] });
      const { rows } = await db.query<{ version: number; checksum: string }>(
        'SELECT version, checksum FROM schema_migrations WHERE version IN (6, 11) ORDER BY version',
      );
      expect(rows.map((row) => row.checksum)).toEqual(
        [6, 11].map((version) => migrations.find((m) => m.version === version)?.formerChecksums?.[0]),
      );
    } finally {
      await db.close();
    }
  });

  it('migrates a database that applied the shipped 6 and 11, keeping what 11 filled', async () => {
    const db = await open({ migrate: false });
    try {
      await migrate(db, { migrations: shipped.filter((m) => m.version <= 10) });
      await fillJobs(db, 500);
      await migrate(db, { migrations: shipped });
      const filled = await usersWritten(db);
      // Since: the batch-worker completed an import again (after an operator's retry) with its own
      // count, and an operator's retry of another reset its count with its state.
      await db.query("UPDATE jobs SET users_written = 42 WHERE id = 'job_0000002'");
      await db.query("UPDATE jobs SET users_written = NULL, state = 'running' WHERE id = 'job_0000001'");
      expect(await migrate(db)).toEqual({ applied: labels(migrations.filter((m) => m.version > 16)) });
      const since: Record<string, string | null> = { job_0000001: null, job_0000002: '42' };
      expect(await usersWritten(db)).toEqual(
        filled.map((row) => (row.id in since ? { ...row, users_written: since[row.id] } : row)),
      );
      expect(await indexes(db)).toHaveLength(4);
    } finally {
      await db.close();
    }
  });
});

/** Migration 20's statement, one batch of the backfill of users_written. */
const backfillSql = migrations.find((m) => m.version === 20)?.sql as string;

/**
 * `db`, and the time each of its transactions that ran `sql` took, from its start until its commit
 * was answered: as long as it held the locks `sql` took.
 */
function timingTransactions(db: Database, sql: string): { db: Database; durations: number[] } {
  const durations: number[] = [];
  const timed: Database = {
    kind: db.kind,
    query: (text, params, options) => db.query(text, params, options),
    close: () => db.close(),
    transaction: async (fn) => {
      const started = Date.now();
      let ran = false;
      try {
        return await db.transaction((tx) =>
          fn({
            query: (text, params, options) => {
              if (text === sql) ran = true;
              return tx.query(text, params, options);
            },
          }),
        );
      } finally {
        if (ran) durations.push(Date.now() - started);
      }
    },
  };
  return { db: timed, durations };
}

// PostgreSQL only: PGlite has one connection, so nothing else can wait on a migration's locks.
const serverUrl = process.env.TEST_DATABASE_URL;
describeIfAvailable(serverUrl !== undefined)('jobs migrations on a server the services use', () => {
  const { connect } = schemaPerTest(serverUrl as string);
  /** A service's write of one job, under a lock limit shorter than a migration attempt's (2 s). */
  const touch = (db: Queryable, id: string) =>
    db.query('UPDATE jobs SET updated_at = now() WHERE id = $1', [id]);

  it('builds jobs_execution_id (migration 6) without queueing writes to jobs behind it', async () => {
    const db = connect();
    await migrate(db, { migrations: upTo(5) });
    await fillJobs(db, 100);
    // A job's transaction in progress: a plain CREATE INDEX waits for it with a SHARE lock, and every
    // write to jobs queues behind that wait; a concurrent build waits for it without blocking writes.
    let release = () => {};
    const held = connect().transaction(async (tx) => {
      await touch(tx, 'job_0000001');
      await new Promise<void>((resolve) => {
        release = resolve;
      });
    });
    const running = migrate(connect(), { migrations: upTo(6) });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const service = connect({ lockTimeoutMs: 1_000 });
    try {
      const started = Date.now();
      await touch(service, 'job_0000002');
      expect(Date.now() - started).toBeLessThan(1_000);
    } finally {
      release();
      await held;
      await running.catch(() => {});
    }
    expect(await running).toEqual({ applied: ['0006-jobs-execution-index'] });
  });

  it("backfills users_written without holding jobs: a service's write of a job waits at most a batch", async () => {
    const db = connect();
    await migrate(db, { migrations: upTo(10) });
    // 100,000 completed imports, each with its count in its finish transition: the shipped migration
    // 11 took ~2 s to update them, with jobs locked throughout.
    await db.query(
      `INSERT INTO jobs (id, kind, state, source_bucket, source_key, source_version)
       SELECT 'job_' || lpad(g::text, 7, '0'), 'import', 'succeeded', 'b', 'k' || g, 'v'
         FROM generate_series(1, 100000) AS g;
       INSERT INTO job_transitions (job_id, event, from_state, to_state, data)
       SELECT 'job_' || lpad(g::text, 7, '0'), 'finish', 'running', 'succeeded',
              jsonb_build_object('usersWritten', g % 1000)
         FROM generate_series(1, 100000) AS g`,
    );
    let done = false;
    const backfill = timingTransactions(connect(), backfillSql);
    const running = migrate(backfill.db).finally(() => {
      done = true;
    });
    // A lock limit well past any batch's time, so that a write that waited long shows in `waits`.
    const service = connect({ lockTimeoutMs: 15_000, statementTimeoutMs: 15_000 });
    const waits: number[] = [];
    try {
      for (let n = 1; !done; n += 7_919) {
        // Jobs all over the table, so among the rows of the batch under way.
        const id = `job_${String((n % 100_000) + 1).padStart(7, '0')}`;
        const started = Date.now();
        await touch(service, id);
        waits.push(Date.now() - started);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      await running.catch(() => {});
    }
    expect((await running).applied).toEqual(labels(migrations.filter((m) => m.version > 10)));
    expect(waits.length).toBeGreaterThan(5);
    // Ten batches of 10,000 jobs and the last, empty one, each in a transaction of its own (and any
    // batch tried again after a lock timeout in one more).
    expect(backfill.durations.length).toBeGreaterThanOrEqual(11);
    // A write waits for the batch under way at most: its transaction's time, with room for a busy
    // machine's delays, and far from the whole backfill the shipped migration held jobs for.
    expect(Math.max(...waits)).toBeLessThanOrEqual(1.5 * Math.max(...backfill.durations) + 500);
    const { rows } = await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM jobs WHERE users_written IS NOT NULL',
    );
    expect(rows[0]?.n).toBe(100_000);
  });
});
