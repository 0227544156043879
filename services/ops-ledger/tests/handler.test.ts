import { Logger } from '@aws-lambda-powertools/logger';
import { expect, it } from '@jest/globals';
import type { LedgerResponse } from '@sidestep/contracts';
import { describeEachDatabase, suiteDatabase } from '@sidestep/db/testing';
import { createTaskHandler } from '@sidestep/runtime';
import type { Context } from 'aws-lambda';
import { invokedThroughActionsAlias, ledgerTask } from '../src/ledger-task.ts';

const FUNCTION_ARN = 'arn:aws:lambda:ap-northeast-1:123456789012:function:sidestep-staging-ops-ledger';
/** The Lambda context of an invocation of `invokedFunctionArn` (what the caller named, alias included). */
const context = (invokedFunctionArn: string) =>
  ({
    awsRequestId: 'r1',
    functionName: 'sidestep-staging-ops-ledger',
    invokedFunctionArn,
  }) as unknown as Context;

describeEachDatabase('ops-ledger handler', (open) => {
  const db = suiteDatabase(open);
  const handler = () =>
    createTaskHandler({
      ...ledgerTask({ database: async () => db() }),
      logger: new Logger({ logLevel: 'SILENT' }),
    });
  const failRunning = {
    op: 'job.fail',
    jobId: 'exp_h1',
    reason: 'worker task gone',
    operator: 'arn:aws:sts::123456789012:assumed-role/operator/alice',
  };

  it('fails a job only when invoked through the actions alias', async () => {
    await db().query(
      `INSERT INTO jobs (id, kind, state, request_id, requested_by, file_name, execution_id, started_at, deadline_at)
       VALUES ('exp_h1', 'export', 'running', 'req-h1', 'asker@example.com', 'users-x', 'arn:e:h1', now(), now() + interval '1 hour')`,
    );
    const refused = (await handler()(failRunning, context(FUNCTION_ARN))) as LedgerResponse;
    expect(refused).toMatchObject({ ok: false, error: { name: 'LedgerRequestError', field: 'op' } });
    expect((await db().query(`SELECT state FROM jobs WHERE id = 'exp_h1'`)).rows[0]).toEqual({
      state: 'running',
    });

    const done = (await handler()(failRunning, context(`${FUNCTION_ARN}:actions`))) as LedgerResponse;
    expect(done).toMatchObject({ ok: true, result: { jobId: 'exp_h1', state: 'failed' } });
  });

  it("names the notify address as the recipient of a failed import's mail", async () => {
    await db().query(
      `INSERT INTO jobs (id, kind, state, source_bucket, source_key, source_version, file_name, execution_id, started_at, deadline_at)
       VALUES ('imp_h1', 'import', 'running', 'imports', 'users.csv', 'v1', 'users.csv', 'arn:e:h2', now(), now() + interval '1 hour')`,
    );
    const notifying = createTaskHandler({
      ...ledgerTask({ database: async () => db(), notifyAddress: 'ops@example.com' }),
      logger: new Logger({ logLevel: 'SILENT' }),
    });
    const done = (await notifying(
      { ...failRunning, jobId: 'imp_h1' },
      context(`${FUNCTION_ARN}:actions`),
    )) as LedgerResponse;
    expect(done).toMatchObject({
      ok: true,
      result: { jobId: 'imp_h1', kind: 'import', state: 'failed', recipient: 'ops@example.com' },
    });
  });

  it('answers a query through the function itself, with the job it asked for', async () => {
    const answer = (await handler()(
      { op: 'job.describe', jobId: 'exp_h1' },
      context(FUNCTION_ARN),
    )) as LedgerResponse;
    expect(answer).toMatchObject({
      ok: true,
      result: { id: 'exp_h1', state: 'failed', requestedBy: 'asker@example.com' },
    });
  });

  // A pooled connection the server ended while the environment was frozen (a failover, a password
  // rotation's session kill, an idle limit) fails the thawed invocation's first statement with 57P01;
  // every ledger request may run twice (queries read; actions tell their copies), so it runs again.
  it('answers a request whose first statement met a connection the server had ended, running it again once', async () => {
    const lost = () =>
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
    /** db() whose first `failures` statements (query or transaction) fail as a lost connection does. */
    const losing = (failures: number) => {
      let left = failures;
      const fail = <T>(run: () => Promise<T>): Promise<T> => (left-- > 0 ? Promise.reject(lost()) : run());
      return {
        query: (...args: Parameters<ReturnType<typeof db>['query']>) => fail(() => db().query(...args)),
        transaction: <T>(fn: Parameters<ReturnType<typeof db>['transaction']>[0]) =>
          fail(() => db().transaction(fn) as Promise<T>),
        close: async () => undefined,
      } as unknown as ReturnType<typeof db>;
    };
    const answering = (failures: number) => {
      const database = losing(failures);
      return createTaskHandler({
        ...ledgerTask({ database: async () => database }),
        logger: new Logger({ logLevel: 'SILENT' }),
      });
    };
    const answer = (await answering(1)(
      { op: 'job.describe', jobId: 'exp_h1' },
      context(FUNCTION_ARN),
    )) as LedgerResponse;
    expect(answer).toMatchObject({ ok: true, result: { id: 'exp_h1' } });
    // Once: a server that keeps ending connections is the caller's to hear about.
    await expect(
      answering(2)({ op: 'job.describe', jobId: 'exp_h1' }, context(FUNCTION_ARN)),
    ).rejects.toMatchObject({ code: '57P01' });
  });

  it('refuses an input that is not a request as InvalidInputError', async () => {
    await expect(handler()('jobs please', context(FUNCTION_ARN))).rejects.toMatchObject({
      name: 'InvalidInputError',
    });
  });
});

it('reads the alias from the invoked ARN, not a look-alike function name', () => {
  expect(invokedThroughActionsAlias(`${FUNCTION_ARN}:actions`)).toBe(true);
  expect(invokedThroughActionsAlias(FUNCTION_ARN)).toBe(false);
  expect(invokedThroughActionsAlias(`${FUNCTION_ARN}:$LATEST`)).toBe(false);
  expect(invokedThroughActionsAlias(`${FUNCTION_ARN.replace('ops-ledger', 'actions')}`)).toBe(false);
});
