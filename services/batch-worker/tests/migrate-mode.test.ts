import type { Logger } from '@aws-lambda-powertools/logger';
import { describe, expect, it } from '@jest/globals';
import { type MigrateOptions, MigrationFailedError } from '@sidestep/db';
import { loadConfig, loadMigrateConfig } from '../src/config.ts';
import { MIGRATE_LOCK_BUDGET_MS, type Migrator, migrateModeWith } from '../src/migrate-mode.ts';
import { runTask } from '../src/run-task.ts';

/** The log lines a run wrote, by level. */
function recordingLogger() {
  const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  const record =
    (level: string) =>
    (message: string, fields: Record<string, unknown> = {}) => {
      lines.push({ level, message, fields });
    };
  const logger = {
    info: record('INFO'),
    warn: record('WARN'),
    error: record('ERROR'),
    appendPersistentKeys: () => {},
  } as unknown as Logger;
  return { logger, lines };
}

// The stand-in migrators never query: pg opens no connection until a query, so nothing listens here.
const env = { MODE: 'migrate', DATABASE_URL: 'postgres://sidestep@127.0.0.1:1/sidestep' };

async function run(migrator: Migrator, extraEnv: Record<string, string> = {}) {
  const { logger, lines } = recordingLogger();
  const code = await runTask(migrateModeWith(migrator), { logger, env: { ...env, ...extraEnv } });
  return { code, last: lines.at(-1), lines };
}

describe('migrate mode', () => {
  it('needs no JOB_ID and no S3 inputs', () => {
    expect(loadMigrateConfig({ MODE: 'migrate' })).toMatchObject({ mode: 'migrate', jobId: undefined });
    expect(() => loadConfig({ MODE: 'migrate' })).toThrow(/MODE/);
  });

  it('logs the migrations it applied and exits 0', async () => {
    const { code, last } = await run(async () => ({ applied: ['0004-user-tags', '0005-user-tags-index'] }));
    expect(code).toBe(0);
    expect(last).toMatchObject({
      level: 'INFO',
      message: 'migrate finished',
      fields: {
        applied: ['0004-user-tags', '0005-user-tags-index'],
        result: 'applied 2: 0004-user-tags, 0005-user-tags-index',
      },
    });
    expect(last?.fields).not.toHaveProperty('rowsPerSecond');
  });

  it('says up to date when nothing was pending', async () => {
    const { code, last } = await run(async () => ({ applied: [] }));
    expect(code).toBe(0);
    expect(last).toMatchObject({
      message: 'migrate finished',
      fields: { applied: [], result: 'up to date' },
    });
  });

  it('exits 1 with the failed migration and its reason', async () => {
    const { code, last } = await run(async () => {
      throw new MigrationFailedError(4, 'user-tags', new Error('syntax error at or near "TABEL"'));
    });
    expect(code).toBe(1);
    expect(last).toMatchObject({
      level: 'ERROR',
      message: 'migrate failed',
      fields: { errorName: 'MigrationFailedError' },
    });
    expect(last?.fields.reason).toMatch(/migration 4.*user-tags.*syntax error at or near "TABEL"/);
  });

  it("waits 2 s for a lock per attempt and retries for 5 minutes, inside the deploy's 10-minute wait", async () => {
    const seen: MigrateOptions[] = [];
    await run(async (_db, options) => {
      seen.push(options);
      return { applied: [] };
    });
    expect(seen[0]).toMatchObject({ lockTimeoutMs: 2_000, lockBudgetMs: 5 * 60_000 });
    expect(seen[0]?.signal).toBeInstanceOf(AbortSignal);
    expect(MIGRATE_LOCK_BUDGET_MS).toBeLessThan(10 * 60_000);
  });

  it('takes the per-attempt lock limit from DATABASE_LOCK_TIMEOUT_MS', async () => {
    const seen: MigrateOptions[] = [];
    await run(
      async (_db, options) => {
        seen.push(options);
        return { applied: [] };
      },
      { DATABASE_LOCK_TIMEOUT_MS: '3000' },
    );
    expect(seen[0]?.lockTimeoutMs).toBe(3_000);
  });

  it('logs each retry of a migration whose lock was taken', async () => {
    const { code, lines } = await run(async (_db, options) => {
      options.onRetry?.({
        version: 12,
        name: 'jobs-note',
        attempt: 1,
        delayMs: 800,
        elapsedMs: 2_010,
        reason: 'canceling statement due to lock timeout',
      });
      return { applied: ['0012-jobs-note'] };
    });
    expect(code).toBe(0);
    expect(lines).toContainEqual({
      level: 'WARN',
      message: 'migrate retry',
      fields: {
        migration: '12-jobs-note',
        attempt: 1,
        retryInMs: 800,
        elapsedMs: 2_010,
        reason: 'canceling statement due to lock timeout',
      },
    });
  });
});
