// The package root is the `pg` side (`@sidestep/db/postgres`, which Lambda handlers import alone)
// plus what the local cloud, the migrator and tests use on top of it.

export type { EmbeddedMaintenanceOptions } from './embedded-maintenance.ts';
export {
  MigrationFailedError,
  MigrationListError,
  MigrationLockTimeoutError,
  MigrationMismatchError,
} from './errors.ts';
export { type MigrateOptions, type MigrateResult, type MigrationRetry, migrate } from './migrate.ts';
export type { Migration } from './migration.ts';
export { migrations } from './migrations/index.ts';
export { type OpenDatabaseOptions, openDatabase } from './open-database.ts';
// Only the type: the class loads PGlite, which Lambda code importing this module must not pay for.
export type { PgliteDatabase, PgliteDatabaseOptions } from './pglite-database.ts';
export * from './postgres.ts';
export { createPostgresSchema, type PostgresSchema } from './postgres-schema.ts';
export {
  EMBEDDED_CLIENT_TIMEOUTS,
  type EmbeddedPostgres,
  type EmbeddedPostgresOptions,
  startEmbeddedPostgres,
} from './start-embedded-postgres.ts';
