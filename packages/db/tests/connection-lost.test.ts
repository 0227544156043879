import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { type Database, isTransientDatabaseError, openDatabase } from '../src/index.ts';
import { describeIfAvailable } from '../src/testing.ts';

const url = process.env.TEST_DATABASE_URL;

// A connection the server ends (a failover, a restart, pg_terminate_backend, the idle-in-transaction
// limit) while a transaction has it checked out: pg emits 'error' on that client, which no listener
// of the pool's hears while it is checked out, and an 'error' event nobody hears ends the process.
// PostgreSQL only: the embedded server cannot end one of its sessions from another.
describeIfAvailable(url !== undefined)('a transaction whose connection the server ends', () => {
  let db: Database;
  let admin: Database;
  beforeAll(async () => {
    db = await openDatabase({ url: url as string, max: 1 });
    admin = await openDatabase({ url: url as string, max: 1 });
  });
  afterAll(async () => {
    await db.close();
    await admin.close();
  });

  /** Ends the transaction's session from another one, as a failover or an operator would. */
  const terminate = async (pid: number) => {
    const { rows } = await admin.query<{ ended: boolean }>('SELECT pg_terminate_backend($1) AS ended', [pid]);
    expect(rows).toEqual([{ ended: true }]);
  };
  const backendPid = async (tx: { query: Database['query'] }) =>
    (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid as number;

  it('rejects with a transient error, keeps the process alive, and the next query opens a new connection', async () => {
    const failure = await db
      .transaction(async (tx) => {
        await terminate(await backendPid(tx));
        // The session is gone while the transaction waits on something else (an SQS send, say).
        await sleep(200);
        await tx.query('SELECT 2');
      })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect(isTransientDatabaseError(failure)).toBe(true);
    expect((await db.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('rejects a statement the server ends mid-way, and the pool recovers', async () => {
    const failure = await db
      .transaction(async (tx) => {
        const pid = await backendPid(tx);
        await Promise.all([tx.query('SELECT pg_sleep(5)'), sleep(300).then(() => terminate(pid))]);
      })
      .catch((error: unknown) => error);
    expect(isTransientDatabaseError(failure)).toBe(true);
    expect((await db.query<{ two: number }>('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
  });
});
