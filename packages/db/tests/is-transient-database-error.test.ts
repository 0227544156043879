import { describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { isDatabaseUnreachable, isTransientDatabaseError } from '../src/postgres.ts';
import { describeIfAvailable } from '../src/testing.ts';

const coded = (code: string) => Object.assign(new Error(code), { code });

describe('isTransientDatabaseError', () => {
  it('retries connection, serialization, resource, shutdown and system SQLSTATEs', () => {
    for (const code of ['08006', '40001', '40P01', '53300', '57014', '57P01', '58000']) {
      expect([code, isTransientDatabaseError(coded(code))]).toEqual([code, true]);
    }
  });

  // The server unreachable or the connection dropped, as Node reports it
  // (https://nodejs.org/api/errors.html#common-system-errors; EAI_AGAIN from getaddrinfo(3)).
  it.each([
    ['ECONNREFUSED', 'nothing listens at the address (the server restarting)'],
    ['ECONNRESET', 'the server or a proxy closed the connection'],
    ['ETIMEDOUT', 'the server did not answer the connect or a write in time'],
    ['EPIPE', 'a write on a connection the server already closed'],
    ['EHOSTUNREACH', 'no route to the host (a failover moving its address)'],
    ['ENOTFOUND', 'the host name did not resolve (a failover updating its DNS record)'],
    ['EAI_AGAIN', 'the resolver failed for now'],
  ])('retries the socket error %s: %s', (code) => {
    expect(isTransientDatabaseError(coded(code))).toBe(true);
  });

  // 55P03 lock_not_available: the services' lock_timeout (5 s, DEFAULT_DATABASE_TIMEOUTS) ran out
  // behind another writer, such as an import's completing transaction holding its job's row through
  // the merge; the statement did nothing, and the step retried later finds the row free.
  // https://www.postgresql.org/docs/current/errcodes-appendix.html
  it('retries a lock wait that timed out (55P03)', () => {
    expect(isTransientDatabaseError(coded('55P03'))).toBe(true);
  });

  // 28P01 reaches a caller only after the connection read the secret afresh and still failed: a
  // single-user rotation between setSecret and finishSecret, which a retry gets past
  // (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotation-strategy.html).
  it('retries a refused password (28P01), not an authorization the server refuses otherwise (28000)', () => {
    expect(isTransientDatabaseError(coded('28P01'))).toBe(true);
    expect(isTransientDatabaseError(coded('28000'))).toBe(false);
  });

  it("retries pg's code-less connection-lost, pool-timeout and answer-timeout (query_timeout) errors", () => {
    expect(isTransientDatabaseError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isTransientDatabaseError(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isTransientDatabaseError(new Error('Query read timeout'))).toBe(true);
  });

  it('does not retry a constraint or syntax error, a bug, or a non-object', () => {
    for (const code of ['23505', '42601', '22P02']) expect(isTransientDatabaseError(coded(code))).toBe(false);
    // A message that looks transient does not override a permanent code.
    expect(
      isTransientDatabaseError(Object.assign(new Error('Connection terminated'), { code: '23505' })),
    ).toBe(false);
    expect(isTransientDatabaseError(new TypeError('x is undefined'))).toBe(false);
    expect(isTransientDatabaseError('ECONNRESET')).toBe(false);
    expect(isTransientDatabaseError(undefined)).toBe(false);
  });
});

describeIfAvailable(Boolean(process.env.TEST_DATABASE_URL))('isTransientDatabaseError [postgres]', () => {
  it("retries the error pg gives for a statement whose lock_timeout ran out behind another transaction's lock", async () => {
    const holder = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    const waiter = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await Promise.all([holder.connect(), waiter.connect()]);
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT pg_advisory_xact_lock(hashtext('sidestep-transient-55P03'))`);
      await waiter.query(`SET lock_timeout = '50ms'`);
      const error = await waiter
        .query(`SELECT pg_advisory_xact_lock(hashtext('sidestep-transient-55P03'))`)
        .then(
          () => undefined,
          (reason: unknown) => reason,
        );
      expect(error).toMatchObject({ code: '55P03' });
      expect(isTransientDatabaseError(error)).toBe(true);
    } finally {
      await holder.query('ROLLBACK');
      await Promise.all([holder.end(), waiter.end()]);
    }
  });
});

describe('isDatabaseUnreachable', () => {
  it('is true for a connection lost or refused, whatever the statement, and not for a failure of one statement', () => {
    const cases: [unknown, boolean][] = [
      [coded('08006'), true],
      [coded('08001'), true],
      [coded('57P01'), true],
      [coded('ECONNREFUSED'), true],
      [new Error('Connection terminated unexpectedly'), true],
      [new Error('timeout exceeded when trying to connect'), true],
      [coded('55P03'), false],
      [coded('40P01'), false],
      [coded('57014'), false],
      [coded('23505'), false],
      [new TypeError('x is not a function'), false],
    ];
    expect(cases.map(([error]) => isDatabaseUnreachable(error))).toEqual(
      cases.map(([, unreachable]) => unreachable),
    );
  });
});
