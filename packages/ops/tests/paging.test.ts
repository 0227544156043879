import { describe, expect, it } from '@jest/globals';
import { describeEachDatabase, suiteDatabase } from '@sidestep/db/testing';
import { createOpsContext, type OpsContext, pageAudit, pageJobs, SqlLedger } from '../src/index.ts';

// The console's lists page through the ledger by keyset; these pages must neither repeat nor skip a
// row, also among rows created in the same microsecond.
describeEachDatabase('pageJobs / pageAudit', (open) => {
  const db = suiteDatabase(open);
  const context = (): OpsContext => ({
    ...createOpsContext({ environment: 'local', env: {} }),
    ledger: () => Promise.resolve(new SqlLedger(db())),
  });

  it('pages through every job newest first, each once, ties on created_at broken by id', async () => {
    await db().query(
      `INSERT INTO jobs (id, kind, state, request_id, requested_by, created_at)
       SELECT 'job_' || lpad(n::text, 3, '0'), 'export', CASE WHEN n % 3 = 0 THEN 'failed' ELSE 'succeeded' END,
              'request-' || n, 'someone@example.com',
              timestamptz '2026-11-24 10:00:00.123456+00' + ((n / 4) * interval '1 second')
       FROM generate_series(1, 23) AS n`,
    );
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await pageJobs(context(), { limit: 5, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((job) => job.id));
      cursor = page.next ?? undefined;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(5);
    expect(seen).toHaveLength(23);
    expect(new Set(seen).size).toBe(23);
    // Newest first: job_020..023 share the latest second; within it, the higher id first.
    expect(seen.slice(0, 5)).toEqual(['job_023', 'job_022', 'job_021', 'job_020', 'job_019']);

    const failed = await pageJobs(context(), { status: 'failed', limit: 100 });
    expect(failed.items.map((job) => job.id)).toEqual([
      'job_021',
      'job_018',
      'job_015',
      'job_012',
      'job_009',
      'job_006',
      'job_003',
    ]);
    expect(failed.next).toBeNull();
  });

  it('refuses a cursor it did not give, naming the field', async () => {
    await expect(pageJobs(context(), { cursor: 'not-a-cursor' })).rejects.toMatchObject({
      name: 'InvalidOptionError',
      field: 'cursor',
    });
    await expect(pageAudit(context(), { cursor: '1 OR 1=1' })).rejects.toMatchObject({ field: 'cursor' });
  });

  it('pages the audit trail newest first', async () => {
    for (const target of ['a', 'b', 'c']) {
      await db().query(
        `INSERT INTO operator_audit (operator, environment, action, target, result) VALUES ('op', 'local', 'job-retry', $1, 'ok')`,
        [target],
      );
    }
    const first = await pageAudit(context(), { limit: 2 });
    expect(first.items.map((entry) => entry.target)).toEqual(['c', 'b']);
    const second = await pageAudit(context(), { limit: 2, cursor: first.next ?? '' });
    expect(second.items.map((entry) => entry.target)).toEqual(['a']);
    expect(second.next).toBeNull();
  });
});

describe('pageJobs without a ledger', () => {
  it('names the filter that is wrong before reaching the database', async () => {
    const context = createOpsContext({ environment: 'staging', env: {} });
    await expect(pageJobs(context, { status: 'done' })).rejects.toMatchObject({ field: 'status' });
    await context.close();
  });
});
