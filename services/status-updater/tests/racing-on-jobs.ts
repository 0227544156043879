import { setTimeout as sleep } from 'node:timers/promises';
import { connectPostgres, type Database } from '@sidestep/db/postgres';

/**
 * Runs `race` while another connection holds an EXCLUSIVE lock on `jobs`, and releases the lock
 * only once `racers` transactions wait on it. Without this barrier the racers' transactions tend
 * to run one after the other (each opens its pool connection first), and a check-then-insert
 * register would pass. EXCLUSIVE blocks INSERT but not plain SELECT, so every racer gets as far
 * as its write before any commits. PGlite has one connection and runs transactions one at a time,
 * so there the race is only sequential.
 */
export async function racingOnJobs<T>(db: Database, racers: number, race: () => Promise<T>): Promise<T> {
  const url = process.env.TEST_DATABASE_URL;
  if (db.kind !== 'postgres' || !url) return race();
  const { rows } = await db.query<{ jobs: string }>(
    "SELECT quote_ident(current_schema()) || '.jobs' AS jobs",
  );
  const jobs = rows[0]?.jobs as string;
  const holder = connectPostgres({ url, max: 1 });
  try {
    let racing: Promise<T> | undefined;
    await holder.transaction(async (tx) => {
      await tx.query(`LOCK TABLE ${jobs} IN EXCLUSIVE MODE`);
      racing = race();
      racing.catch(() => {}); // awaited below, after the lock is released
      const deadline = Date.now() + 10_000;
      // Polling pg_locks: PostgreSQL signals no event when a session starts waiting on a lock.
      for (;;) {
        const waiting = await tx.query<{ count: string }>(
          'SELECT count(*) FROM pg_locks WHERE relation = $1::regclass AND NOT granted',
          [jobs],
        );
        if (Number(waiting.rows[0]?.count) >= racers) break;
        if (Date.now() > deadline)
          throw new Error(`fewer than ${racers} transactions reached the jobs table`);
        await sleep(5);
      }
    });
    return await (racing as Promise<T>);
  } finally {
    await holder.close();
  }
}
