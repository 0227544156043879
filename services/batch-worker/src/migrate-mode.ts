import { type Database, type MigrateResult, migrate, migrations } from '@sidestep/db';
import { connectPostgres, type DatabaseTimeouts } from '@sidestep/db/postgres';
import { loadMigrateConfig, type MigrateConfig } from './config.ts';
import { TaskInterruptedError } from './errors.ts';
import type { TaskMode } from './run-task.ts';

/**
 * The migration's session limits. A schema change waits for its lock at most 30 s: an `ALTER TABLE`
 * queued behind a long transaction would otherwise make every later query of the services queue
 * behind it. A statement may run up to 9 minutes, inside the deploy's 10-minute wait for the task.
 * Each is overridden by its `DATABASE_*_MS` variable.
 */
export const MIGRATE_DATABASE_TIMEOUTS: Partial<DatabaseTimeouts> = {
  statementTimeoutMs: 9 * 60_000,
  lockTimeoutMs: 30_000,
  idleInTransactionTimeoutMs: 60_000,
};

/** The task was told to stop during the migrations; the one in progress was rolled back. */
export class MigrateInterruptedError extends TaskInterruptedError {
  override readonly name: string = 'MigrateInterruptedError';

  constructor(signal: string) {
    super(signal, 'the migration in progress was rolled back; the ones before it stay applied');
  }
}

/** Applies the pending migrations of a database; `migrate` of `@sidestep/db`, or a stand-in in tests. */
export type Migrator = (db: Database) => Promise<MigrateResult>;

/**
 * `MODE=migrate`, for the deploy's one-off task before any function moves to the new images: applies
 * the pending migrations of `@sidestep/db` under their advisory lock (a concurrent run waits, then
 * skips what the other applied), logs each applied one as `<version>-<name>` or `up to date`, and
 * exits 0. A failing migration is rolled back by the migrator and the task exits 1 with its reason,
 * which stops the deploy. Running it again applies nothing.
 */
export function migrateModeWith(migrator: Migrator): TaskMode<MigrateConfig, Database, MigrateResult> {
  return {
    name: 'migrate',
    onStop: 'rolling the migration in progress back',
    interrupted: (signal) => new MigrateInterruptedError(signal),
    loadConfig: loadMigrateConfig,
    connect: async (url, env) =>
      connectPostgres({
        url,
        max: 1,
        timeouts: MIGRATE_DATABASE_TIMEOUTS,
        env,
        applicationName: 'sidestep-migrate',
      }),
    startedFields: () => ({ known: migrations.length, latest: migrations.at(-1)?.version }),
    run: ({ store }) => migrator(store),
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
export const migrateMode = migrateModeWith((db) => migrate(db));
