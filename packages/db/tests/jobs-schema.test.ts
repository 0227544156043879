import { expect, it } from '@jest/globals';
import { describeEachDatabase, suiteDatabase } from '../src/testing.ts';

// Migrations 0002-jobs and 0003-export-jobs: what the ledger itself refuses, whoever writes to it.
describeEachDatabase('jobs ledger schema', (open) => {
  const db = suiteDatabase(open);

  let ids = 0;
  const insert = (fields: Record<string, unknown>) => {
    const row = { id: `imp_schema_${++ids}`, kind: 'import', state: 'registered', ...fields };
    const columns = Object.keys(row);
    return db().query(
      `INSERT INTO jobs (${columns.join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})`,
      Object.values(row),
    );
  };
  const source = (key: string) => ({ source_bucket: 'b', source_key: key, source_version: 'v1' });
  /** The SQLSTATE the statement failed with. */
  const sqlState = (statement: Promise<unknown>) =>
    statement.then(
      () => 'ok',
      (error: { code?: string }) => error.code,
    );

  it('refuses a second job for the same import source and accepts a new version', async () => {
    await insert(source('imports/a.csv'));
    expect(await sqlState(insert(source('imports/a.csv')))).toBe('23505');
    expect(await sqlState(insert({ ...source('imports/a.csv'), source_version: 'v2' }))).toBe('ok');
  });

  it('requires the whole source of an import, and none of an export', async () => {
    expect(await sqlState(insert({ ...source('imports/b.csv'), source_version: null }))).toBe('23514');
    expect(await sqlState(insert({ id: 'exp_schema_1', kind: 'export' }))).toBe('ok');
    expect(await sqlState(insert({ id: 'exp_schema_2', kind: 'export' }))).toBe('ok');
  });

  it('refuses a second job for the same export request, and lets jobs without a request be', async () => {
    const exportJob = (id: string, requestId: string | null) => ({
      id,
      kind: 'export',
      request_id: requestId,
    });
    expect(await sqlState(insert(exportJob('exp_schema_r1', 'req-1')))).toBe('ok');
    expect(await sqlState(insert(exportJob('exp_schema_r2', 'req-1')))).toBe('23505');
    expect(await sqlState(insert(exportJob('exp_schema_r3', 'req-2')))).toBe('ok');
    expect(await sqlState(insert(exportJob('exp_schema_r4', null)))).toBe('ok');
    expect(await sqlState(insert(exportJob('exp_schema_r5', null)))).toBe('ok');
  });

  it('keeps the deadline, filter and sweep columns typed', async () => {
    await insert({
      id: 'exp_schema_d1',
      kind: 'export',
      state: 'running',
      request_id: 'req-d1',
      requested_by: 'ops@example.com',
      export_filter: JSON.stringify({ emailDomain: 'example.com' }),
      deadline_at: '2026-11-24T12:00:00Z',
    });
    const { rows } = await db().query('SELECT export_filter, deadline_at, swept_at FROM jobs WHERE id = $1', [
      'exp_schema_d1',
    ]);
    expect(rows[0]).toEqual({
      export_filter: { emailDomain: 'example.com' },
      deadline_at: new Date('2026-11-24T12:00:00Z'),
      swept_at: null,
    });
    expect(await sqlState(insert({ id: 'exp_schema_d2', kind: 'export', deadline_at: 'soon' }))).toBe(
      '22007',
    );
  });

  it('refuses unknown kinds and states', async () => {
    expect(await sqlState(insert({ ...source('imports/c.csv'), kind: 'sync' }))).toBe('23514');
    expect(await sqlState(insert({ ...source('imports/d.csv'), state: 'paused' }))).toBe('23514');
  });

  it('keeps transitions only for existing jobs, and users keyed by external id', async () => {
    expect(
      await sqlState(
        db().query(
          "INSERT INTO job_transitions (job_id, event, to_state) VALUES ('imp_none', 'start', 'running')",
        ),
      ),
    ).toBe('23503');
    await db().query("INSERT INTO users (external_id, email) VALUES ('u1', 'u1@example.com')");
    expect(
      await sqlState(db().query("INSERT INTO users (external_id, email) VALUES ('u1', 'x@example.com')")),
    ).toBe('23505');
    const { rows } = await db().query('SELECT attributes, created_at FROM users WHERE external_id = $1', [
      'u1',
    ]);
    expect(rows[0]).toMatchObject({ attributes: {}, created_at: expect.any(Date) });
  });
});
