import { afterEach, beforeEach, expect, it } from '@jest/globals';
import { connectPostgres, type Database, isTransientDatabaseError } from '../src/postgres.ts';
import { describeIfAvailable } from '../src/testing.ts';
import { type BlackHoleProxy, startBlackHoleProxy } from './fixtures/black-hole-proxy.ts';

const url = process.env.TEST_DATABASE_URL;

/**
 * Small limits, so that the client's own (their sum: 1.8 s) is reached quickly. The connect timeout
 * also bounds each real connect through the proxy (a forked backend and SCRAM authentication), which
 * took past 300 ms on a 2-core machine at a load average of 11: the test's first query then failed.
 */
const timeouts = { statementTimeoutMs: 300, connectTimeoutMs: 1_500 };
const clientLimitMs = timeouts.statementTimeoutMs + timeouts.connectTimeoutMs;

/** What `pending` came to within `ms`: its rows, its error, or `waiting` if it is still pending. */
async function within(ms: number, pending: Promise<unknown>): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const waiting = new Promise((resolve) => {
    timer = setTimeout(() => resolve('waiting'), ms);
  });
  try {
    return await Promise.race([pending.catch((error: unknown) => error), waiting]);
  } finally {
    clearTimeout(timer);
  }
}

// A connection the network drops without a FIN or an RST (the old primary's host gone in an RDS
// Multi-AZ failover, a NAT or firewall that forgot it) answers nothing, and closes never: the server's
// statement_timeout cannot fire (no server), and TCP keepalives start after 2 hours by default. AWS
// recommends a client-side limit for it:
// https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/AuroraPostgreSQL.BestPractices.FastFailover.html
// PostgreSQL only: the embedded server's sessions are not behind the proxy.
describeIfAvailable(url !== undefined)('a connection the network silently drops', () => {
  let proxy: BlackHoleProxy;
  let db: Database;
  beforeEach(async () => {
    proxy = await startBlackHoleProxy(url as string);
  });
  afterEach(async () => {
    // The proxy first: its closed connections end whatever still waits on them, which lets the pool end.
    await proxy.close();
    await db.close();
  });

  it('fails a query with a transient error just past statement_timeout plus the connect timeout, and the next query opens a new connection', async () => {
    db = connectPostgres({ url: proxy.url, max: 1, timeouts, env: {} });
    expect((await db.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    proxy.swallow();
    const started = Date.now();
    const failure = await within(5 * clientLimitMs, db.query('SELECT 2 AS two'));
    expect(failure).toBeInstanceOf(Error);
    expect(Date.now() - started).toBeGreaterThanOrEqual(clientLimitMs - 50);
    // What the services turn into JobLedgerUnavailableError, the error the workflows retry.
    expect(isTransientDatabaseError(failure)).toBe(true);
    // The pool's only connection was the lost one: reused, this would wait again.
    expect(await within(5 * clientLimitMs, db.query('SELECT 3 AS three'))).toEqual({
      rows: [{ three: 3 }],
      rowCount: 1,
    });
  });

  it('fails a transaction within one limit (no ROLLBACK waited for on the lost connection), and the next one opens a new connection', async () => {
    db = connectPostgres({ url: proxy.url, max: 1, timeouts, env: {} });
    const statementFailed = { at: 0 };
    const failure = await within(
      5 * clientLimitMs,
      db.transaction(async (tx) => {
        await tx.query('SELECT 1');
        proxy.swallow();
        await tx.query('SELECT 2').catch((error: unknown) => {
          statementFailed.at = Date.now();
          throw error;
        });
      }),
    );
    expect(failure).toBeInstanceOf(Error);
    expect(isTransientDatabaseError(failure)).toBe(true);
    // From the statement's failure to the transaction's: a ROLLBACK sent on the lost connection would
    // wait for its own answer limit (1.8 s) before the transaction failed.
    expect(statementFailed.at).toBeGreaterThan(0);
    expect(Date.now() - statementFailed.at).toBeLessThan(clientLimitMs / 2);
    expect(
      await within(
        5 * clientLimitMs,
        db.transaction((tx) => tx.query('SELECT 4 AS four')),
      ),
    ).toEqual({
      rows: [{ four: 4 }],
      rowCount: 1,
    });
  });

  it("still fails a slow statement of a live connection with the server's 57014, not the client's limit", async () => {
    // The client's limit 3 s past the server's (their sum, as above): the 57014 comes back long before
    // it even on a busy machine.
    db = connectPostgres({
      url: proxy.url,
      max: 1,
      timeouts: { statementTimeoutMs: 300, connectTimeoutMs: 3_000 },
      env: {},
    });
    await expect(db.query('SELECT pg_sleep(5)')).rejects.toMatchObject({ code: '57014' });
  });
});
