import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { type Database, type EmbeddedPostgres, startEmbeddedPostgres } from '../src/index.ts';

let dataDir: string;
let embedded: EmbeddedPostgres | undefined;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'sidestep-maintenance-'));
});

afterEach(async () => {
  await embedded?.close();
  embedded = undefined;
  await rm(dataDir, { recursive: true, force: true });
});

/** Where the last checkpoint is in the WAL, and what the table `churn` has left to vacuum. */
async function state(db: Database) {
  const { rows } = await db.query<{ checkpoint: string; dead: string; vacuumed: Date | null }>(
    `SELECT (SELECT checkpoint_lsn::text FROM pg_control_checkpoint()) AS checkpoint,
            n_dead_tup AS dead, last_vacuum AS vacuumed
       FROM pg_stat_user_tables WHERE relname = 'churn'`,
  );
  return rows[0] as { checkpoint: string; dead: string; vacuumed: Date | null };
}

/** Polls `probe` every 50 ms until `done` holds or 15 s passed; resolves to the last answer. */
async function until<T>(probe: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 15_000;
  let value = await probe();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    value = await probe();
  }
  return value;
}

describe('the embedded database’s maintenance', () => {
  it('checkpoints and vacuums while the database is open, as the checkpointer and autovacuum would', async () => {
    embedded = await startEmbeddedPostgres({
      dataDir,
      // The vacuum’s first run 3 s in: the table's dead rows are seen before it even on a loaded machine.
      maintenance: { checkpointIntervalMs: 200, vacuumIntervalMs: 3_000 },
    });
    const { db } = embedded;
    await db.query('CREATE TABLE churn (id int PRIMARY KEY, value text)');
    await db.query(`INSERT INTO churn SELECT n, 'a' FROM generate_series(1, 2000) AS n`);
    await db.query(`UPDATE churn SET value = 'b'`);
    // The update's dead rows reach the statistics once the session reports them.
    await db.query('SELECT pg_stat_force_next_flush()');
    const before = await until(
      () => state(db),
      (now) => Number(now.dead) >= 2000,
    );
    expect(Number(before.dead)).toBeGreaterThanOrEqual(2000);
    expect(before.vacuumed).toBeNull();

    const after = await until(
      () => state(db),
      (now) => now.checkpoint !== before.checkpoint && now.dead === '0' && now.vacuumed !== null,
    );
    expect(after.checkpoint).not.toBe(before.checkpoint);
    expect(after).toMatchObject({ dead: '0', vacuumed: expect.any(Date) });
  });

  it('closes cleanly while a checkpoint or vacuum runs, leaving a database that opens again', async () => {
    const errors: Error[] = [];
    embedded = await startEmbeddedPostgres({
      dataDir,
      maintenance: { checkpointIntervalMs: 1, vacuumIntervalMs: 1, onError: (error) => errors.push(error) },
    });
    const { db } = embedded;
    await db.query('CREATE TABLE churn (id int PRIMARY KEY, value text)');
    await db.query(`INSERT INTO churn SELECT n, 'a' FROM generate_series(1, 2000) AS n`);
    // Statements run back to back at these intervals: once one vacuum is seen, another is under way or due.
    expect(
      (
        await until(
          () => state(db),
          (now) => now.vacuumed !== null,
        )
      ).vacuumed,
    ).not.toBeNull();
    await embedded.close();
    embedded = undefined;
    // Many intervals later, no statement has been tried on the closed connection.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(errors).toEqual([]);

    embedded = await startEmbeddedPostgres({ dataDir });
    expect((await embedded.db.query('SELECT count(*)::int AS rows FROM churn')).rows).toEqual([
      { rows: 2000 },
    ]);
  });

  it('refuses an interval that is not a positive integer, naming it', async () => {
    // A server that starts anyway is closed, so the test fails instead of leaving it listening.
    const outcome = await startEmbeddedPostgres({ maintenance: { vacuumIntervalMs: 0 } }).then(
      async (started) => {
        await started.close();
        return 'started';
      },
      (error: unknown) => error,
    );
    expect(outcome).toMatchObject({ name: 'DatabaseOptionsError', field: 'maintenance.vacuumIntervalMs' });
  });
});
