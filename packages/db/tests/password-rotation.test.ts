import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, expect, it, jest } from '@jest/globals';
import pg from 'pg';
import {
  connectPostgres,
  connectPostgresOnFirstUse,
  type Database,
  isTransientDatabaseError,
} from '../src/postgres.ts';
import { describeIfAvailable, temporaryLoginRole } from '../src/testing.ts';
import { startBlackHoleProxy } from './fixtures/black-hole-proxy.ts';

const url = process.env.TEST_DATABASE_URL;

// Secrets Manager's single-user rotation (and RDS's managed master password, rotated every 7 days by
// default) changes the password in place: open connections survive, new ones need the new password,
// and between the password's change (setSecret) and the secret's (finishSecret) a fresh read still
// holds the old one, which AWS says to cover with retries.
// https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotation-strategy.html
// https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html
// PostgreSQL only: the embedded server checks no password.
describeIfAvailable(url !== undefined)('connectPostgresOnFirstUse across a password rotation', () => {
  // The role's URL with `password`: urlWith.
  const { name: role, urlWith } = temporaryLoginRole(url as string);
  let admin: Database;
  /** A secret source as `resolveDatabaseUrl` is one: the current value, and each read's `fresh`. */
  let secret: { value: string; reads: boolean[] };
  const source = async ({ fresh }: { readonly fresh: boolean }) => {
    secret.reads.push(fresh);
    return secret.value;
  };
  let password = 0;
  /** Changes the role's password, and the secret's value too unless `secretToo` is false. */
  const rotate = async (secretToo = true) => {
    password += 1;
    await admin.query(`ALTER ROLE ${role} PASSWORD 'password-${password}'`);
    if (secretToo) secret.value = urlWith(`password-${password}`);
  };
  /** The backends whose idle client a pool of this process dropped on its error (pg-pool's `error`). */
  const dropped = new Set<number>();
  /**
   * Ends the role's sessions, as pg-pool's 10 s idle timeout or a thawed environment's lost socket
   * does. Each is a pool's idle client (a closed database's sessions have ended), which the pool drops
   * when the client reads the server's 57P01: waits for that, and for the backends to be gone.
   */
  const endSessions = async () => {
    // In the select list, so that only the role's backends are signalled (in WHERE the planner may
    // call it on every backend before it filters on usename).
    const { rows } = await admin.query<{ pid: number; ended: boolean }>(
      'SELECT pid, pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE usename = $1',
      [role],
    );
    const ended = rows.filter((row) => row.ended);
    for (const started = Date.now(); ; await sleep(10)) {
      const { rows: left } = await admin.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1',
        [role],
      );
      if (left[0]?.n === 0 && ended.every(({ pid }) => dropped.has(pid))) return;
      if (Date.now() - started > 5_000) {
        throw new Error(`the sessions ${ended.map(({ pid }) => pid)} did not end within 5 s`);
      }
    }
  };
  let poolEvents: ReturnType<typeof jest.spyOn> | undefined;

  beforeAll(async () => {
    const emit = pg.Pool.prototype.emit;
    poolEvents = jest.spyOn(pg.Pool.prototype, 'emit').mockImplementation(function (
      this: pg.Pool,
      event: string | symbol,
      ...args: unknown[]
    ) {
      const client = args[1] as { processID?: unknown } | undefined;
      if (event === 'error' && typeof client?.processID === 'number') dropped.add(client.processID);
      return emit.call(this, event, ...args);
    });
    admin = connectPostgres({ url: url as string, max: 1 });
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'password-0'`);
  });
  beforeEach(() => {
    secret = { value: urlWith(`password-${password}`), reads: [] };
  });
  afterAll(async () => {
    await endSessions();
    await admin.query(`DROP ROLE ${role}`);
    await admin.close();
    poolEvents?.mockRestore();
  });

  it('re-reads the secret past its cache and reconnects when a new connection is refused with 28P01', async () => {
    const connect = connectPostgresOnFirstUse({ url: source, max: 1, renewIntervalMs: 0 });
    const database = await connect();
    expect((await database.query('SELECT current_user AS name')).rows).toEqual([{ name: role }]);
    await rotate();
    await endSessions();
    // The next (warm) invocation: the same database, a new connection with the rotated password.
    expect(await connect()).toBe(database);
    expect((await database.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    expect(secret.reads).toEqual([false, true]);
    // A transaction's connection too, after the next rotation.
    await rotate();
    await endSessions();
    expect(await database.transaction((tx) => tx.query('SELECT 2 AS two'))).toEqual({
      rows: [{ two: 2 }],
      rowCount: 1,
    });
    expect(secret.reads).toEqual([false, true, true]);
    await database.close();
  });

  it('fails with the 28P01, transient, when the fresh secret still holds the old password (between setSecret and finishSecret)', async () => {
    const connect = connectPostgresOnFirstUse({ url: source, max: 1, renewIntervalMs: 300 });
    const database = await connect();
    await database.query('SELECT 1');
    await rotate(false);
    await endSessions();
    const failure = await database.query('SELECT 1').catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: '28P01' });
    expect(isTransientDatabaseError(failure)).toBe(true);
    // One fresh read per refused connection, not a loop.
    expect(secret.reads).toEqual([false, true]);
    // finishSecret: the secret now holds the new password, and the step's retry, after the interval
    // between fresh reads, gets through.
    secret.value = urlWith(`password-${password}`);
    await sleep(300);
    expect((await database.query('SELECT 3 AS three')).rows).toEqual([{ three: 3 }]);
    expect(secret.reads).toEqual([false, true, true]);
    await database.close();
  });

  it('reads the secret afresh at most once per interval while the password stays wrong, concurrent refusals sharing the read', async () => {
    const connect = connectPostgresOnFirstUse({ url: source, max: 2 });
    const database = await connect();
    await database.query('SELECT 1');
    // A rotation that failed between setSecret and finishSecret: the secret stays on the old password.
    await rotate(false);
    await endSessions();
    for (let i = 0; i < 10; i += 1) {
      const failure = await database.query('SELECT 1').catch((error: unknown) => error);
      expect(failure).toMatchObject({ code: '28P01' });
      expect(isTransientDatabaseError(failure)).toBe(true);
    }
    const concurrent = await Promise.allSettled(Array.from({ length: 10 }, () => database.query('SELECT 1')));
    expect(concurrent.map((result) => result.status)).toEqual(Array(10).fill('rejected'));
    // The first read, and one fresh read for the 20 refusals (the default interval is 30 s).
    expect(secret.reads).toEqual([false, true]);
    secret.value = urlWith(`password-${password}`);
    await database.close();
  });

  it('does not read the secret afresh for a 28000 (the role may not log in): a fresh password would not cure it', async () => {
    const connect = connectPostgresOnFirstUse({ url: source, max: 1, renewIntervalMs: 0 });
    const database = await connect();
    await database.query('SELECT 1');
    await admin.query(`ALTER ROLE ${role} NOLOGIN`);
    try {
      await endSessions();
      await expect(database.query('SELECT 1')).rejects.toMatchObject({ code: '28000' });
      expect(secret.reads).toEqual([false]);
    } finally {
      await admin.query(`ALTER ROLE ${role} LOGIN`);
      await database.close();
    }
  });

  it('serves a query that waited for a connection of the pool the renewal replaced', async () => {
    let database: Database | undefined;
    const late: Promise<unknown>[] = [];
    const connect = connectPostgresOnFirstUse({
      max: 2,
      connectionTimeoutMillis: 3000,
      url: async ({ fresh }) => {
        // Two more queries arrive while the secret is read afresh: the second waits behind a full pool.
        if (fresh && late.length === 0 && database !== undefined) {
          late.push(database.query('SELECT 2 AS two'), database.query('SELECT 3 AS three'));
        }
        return secret.value;
      },
    });
    database = await connect();
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    // A transaction on a connection authenticated before the rotation, still working.
    const open = database.transaction(async (tx) => {
      await tx.query('SELECT 1');
      await held;
    });
    await sleep(100);
    await rotate();
    const started = Date.now();
    expect((await database.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    setTimeout(release, 200);
    await open;
    const results = await Promise.all(late);
    expect(results.map((result) => (result as { rows: unknown[] }).rows)).toEqual([
      [{ two: 2 }],
      [{ three: 3 }],
    ]);
    // Not after pg-pool's connect timeout: the waiter was not left on the ended pool.
    expect(Date.now() - started).toBeLessThan(2500);
    await database.close();
  });

  it('tries a connect in flight on the replaced pool once more on the renewed one when it fails after the renewal', async () => {
    const proxy = await startBlackHoleProxy(url as string);
    const proxied = new URL(secret.value);
    proxied.host = new URL(proxy.url).host;
    secret.value = proxied.toString();
    const connect = connectPostgresOnFirstUse({
      url: source,
      max: 2,
      connectionTimeoutMillis: 1_500,
      renewIntervalMs: 0,
    });
    const database = await connect();
    try {
      await database.query('SELECT 1');
      await rotate();
      await endSessions();
      // A connect on the old password whose host answers nothing: in flight across the renewal, it
      // fails with its connect timeout, not a refused password.
      const swallowed = proxy.swallowNext();
      const inFlight = database.query('SELECT 2 AS two');
      await swallowed;
      // Another connect is refused the old password (28P01): the pool is renewed on the rotated one.
      expect((await database.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      expect(secret.reads).toEqual([false, true]);
      expect((await inFlight).rows).toEqual([{ two: 2 }]);
    } finally {
      // The proxy first: its closed connections end whatever still waits on them, which lets the pool end.
      await proxy.close();
      await database.close();
    }
  });
});
