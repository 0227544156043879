// How long sweeping N stuck jobs takes (fail + audit row + mail mark, through the real ledger code,
// 100 jobs per sweep), against the baseline of one bare UPDATE that fails the same jobs with no
// audit and no mail, on the same database in the same run. The mail queue is a no-op (SQS time is
// not the sweeper's). Run from the repository root: `npx pnpm --filter @sidestep/job-sweeper bench`
// (PGlite; with TEST_DATABASE_URL=postgres://... PostgreSQL too). Prints only; nothing is written.

import { randomBytes } from 'node:crypto';
import type { MailSendJobInput } from '@sidestep/contracts';
import { type Database, migrate, openDatabase } from '@sidestep/db';
import { sweepStaleJobs } from '../src/sweep-stale-jobs.ts';

const SIZES = [100, 1000];
const noMail = {
  send: async (mails: readonly MailSendJobInput[]) =>
    mails.map((m) => ({ status: 'sent' as const, id: m.id as string })),
};

async function stuckJobs(db: Database, n: number, prefix: string): Promise<void> {
  await db.query(
    `INSERT INTO jobs (id, kind, state, request_id, requested_by, file_name, execution_id, deadline_at)
     SELECT $1 || i, 'export', 'running', $1 || i, 'a@example.com', 'users', 'arn:e', now() - interval '1 hour'
     FROM generate_series(1, $2) AS i`,
    [prefix, n],
  );
}

/** PGlite in memory, and PostgreSQL in a fresh schema when TEST_DATABASE_URL is set. */
async function backends(): Promise<{ name: string; db: Database; drop: () => Promise<void> }[]> {
  const list = [{ name: 'pglite', db: await openDatabase({}), drop: async () => {} }];
  const url = process.env.TEST_DATABASE_URL;
  if (url) {
    const schema = `bench_${randomBytes(4).toString('hex')}`;
    const admin = await openDatabase({ url, max: 1 });
    await admin.query(`CREATE SCHEMA ${schema}`);
    const db = await openDatabase({ url: `${url}?options=-c%20search_path%3D${schema}`, max: 2 });
    list.push({
      name: 'postgres',
      db,
      drop: async () => {
        await admin.query(`DROP SCHEMA ${schema} CASCADE`);
        await admin.close();
      },
    });
  }
  for (const { db } of list) await migrate(db);
  return list;
}

for (const { name, db, drop } of await backends()) {
  for (const n of SIZES) {
    await db.query('DELETE FROM job_transitions');
    await db.query('DELETE FROM jobs');
    try {
      await stuckJobs(db, n, 'b_');
      let started = performance.now();
      await db.query(
        "UPDATE jobs SET state = 'failed', error = 'x', finished_at = now() WHERE state = 'running' AND deadline_at < now()",
      );
      const baseline = performance.now() - started;
      await db.query('DELETE FROM jobs');
      await stuckJobs(db, n, 's_');
      started = performance.now();
      let sweeps = 0;
      for (;;) {
        const out = await sweepStaleJobs(db, noMail, {
          now: new Date(),
          sweeperId: 'bench',
          notifyAddress: 'o@example.com',
        });
        sweeps += 1;
        if (out.failed.length === 0 && out.mailed.length === 0) break;
      }
      const swept = performance.now() - started;
      console.log(
        `${name}\t${n} jobs\tbaseline UPDATE ${baseline.toFixed(1)} ms\tsweeps ${sweeps}\tsweeper ${swept.toFixed(1)} ms\t(${((swept / n) * 1000).toFixed(0)} µs/job)`,
      );
    } finally {
      if (n === SIZES.at(-1)) {
        await db.close();
        await drop();
      }
    }
  }
}
