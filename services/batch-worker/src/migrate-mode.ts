import { type Database, type MigrateOptions, type MigrateResult, migrate, migrations } from '@sidestep/db';
import { connectPostgres, type DatabaseTimeouts, databaseTimeouts } from '@sidestep/db/postgres';
import { loadMigrateConfig, type MigrateConfig } from './config.ts';
import { TaskInterruptedError } from './errors.ts';
import type { TaskMode } from './run-task.ts';

/**
 * The migration's session limits. One attempt of a migration waits for a lock at most 2 s (the
 * migrator then rolls it back and tries again, see {@link MIGRATE_LOCK_BUDGET_MS}): an `ALTER TABLE`
 * queued behind a long transaction (an import's MERGE holds its job row for a minute) makes every
 * later query of the table queue behind it, and the services' own lock limit is 5 s. A statement may
 * run up to 9 minutes, inside the deploy's 10-minute wait for the task. Each is overridden by its
 * `DATABASE_*_MS` variable (`DATABASE_LOCK_TIMEOUT_MS` is the per-attempt limit).
 */
export const MIGRATE_DATABASE_TIMEOUTS: Partial<DatabaseTimeouts> = {
  statementTimeoutMs: 9 * 60_000,
  lockTimeoutMs: 2_000,
  idleInTransactionTimeoutMs: 60_000,
};

/**
 * How long the migrator keeps trying a migration whose lock is taken (and waits for another
 * migrator): 5 minutes. The deploy's `aws ecs wait tasks-stopped` gives up after 10 minutes
 * (deploy-environment.yml), which also covers starting the task and running the migrations.
 */
export const MIGRATE_LOCK_BUDGET_MS = 5 * 60_000;

/** The `migrate` mode's configuration: the task's, and the per-attempt lock limit it migrates with. */
export interface MigrateModeConfig extends MigrateConfig {
  /** `DATABASE_LOCK_TIMEOUT_MS`, else {@link MIGRATE_DATABASE_TIMEOUTS}' 2 s. */
  readonly lockTimeoutMs: number;
}

/** The task was told to stop during the migrations; the one in progress was rolled back. */
export class MigrateInterruptedError extends TaskInterruptedError {
  override readonly name: string = 'MigrateInterruptedError';

  constructor(signal: string) {
    super(signal, 'the migration in progress was rolled back; the ones before it stay applied');
  }
}

/** Applies the pending migrations of a database; `migrate` of `@sidestep/db`, or a stand-in in tests. */
export type Migrator = (db: Database, options: MigrateOptions) => Promise<MigrateResult>;

/**
 * `MODE=migrate`, for the deploy's one-off task before any function moves to the new images: applies
 * the pending migrations of `@sidestep/db` under their advisory lock (a concurrent run waits, then
 * skips what the other applied), logs each applied one as `<version>-<name>` or `up to date`, and
 * exits 0. A migration whose lock is taken is tried again (a `migrate retry` warning each time) for up
 * to {@link MIGRATE_LOCK_BUDGET_MS}. A failing migration is rolled back by the migrator and the task
 * exits 1 with its reason, which stops the deploy. Running it again applies nothing.
 */
export function migrateModeWith(migrator: Migrator): TaskMode<MigrateModeConfig, Database, MigrateResult> {
  return {
    name: 'migrate',
    onStop: 'rolling the migration in progress back',
    interrupted: (signal) => new MigrateInterruptedError(signal),
    loadConfig: (env) => ({
      ...loadMigrateConfig(env),
      lockTimeoutMs: databaseTimeouts(MIGRATE_DATABASE_TIMEOUTS, env).lockTimeoutMs,
    }),
    connect: async (url, env) =>
      connectPostgres({
        url,
        max: 1,
        timeouts: MIGRATE_DATABASE_TIMEOUTS,
        env,
        applicationName: 'sidestep-migrate',
      }),
    startedFields: () => ({ known: migrations.length, latest: migrations.at(-1)?.version }),
    run: ({ config, store, signal, logger }) =>
      migrator(store, {
        lockTimeoutMs: config.lockTimeoutMs,
        lockBudgetMs: MIGRATE_LOCK_BUDGET_MS,
        signal,
        onRetry: ({ version, name, attempt, delayMs, elapsedMs, reason }) =>
          logger.warn('migrate retry', {
            migration: version === undefined ? 'schema_migrations' : `${version}-${name}`,
            attempt,
            retryInMs: delayMs,
            elapsedMs,
            reason,
          }),
      }),
    finished: ({ applied }) => ({
      rows: undefined,
      fields: {
        applied,
        result: applied.length === 0 ? 'up to date' : `applied ${applied.length}: ${applied.join(', ')}`,
      },
    }),
  };
}

/** `MODE=migrate` with the package's migrations. */
export const migrateMode = migrateModeWith(migrate);
