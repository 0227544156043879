export type { Database, Queryable, QueryResult } from './database.ts';
export {
  DatabaseError,
  DatabaseOptionsError,
  MigrationFailedError,
  MigrationListError,
  MigrationMismatchError,
  TransactionMisuseError,
} from './errors.ts';
export { isTransientDatabaseError } from './is-transient-database-error.ts';
export { type MigrateOptions, type MigrateResult, migrate } from './migrate.ts';
export type { Migration } from './migration.ts';
export { migrations } from './migrations/index.ts';
export { type OpenDatabaseOptions, openDatabase } from './open-database.ts';
// Only the type: the class loads PGlite, which Lambda code importing this module must not pay for.
export type { PgliteDatabase, PgliteDatabaseOptions } from './pglite-database.ts';
export {
  DATABASE_TIMEOUT_VARIABLES,
  type DatabaseTimeouts,
  DEFAULT_DATABASE_TIMEOUTS,
  databaseTimeouts,
  type PostgresClientOptions,
  postgresClientConfig,
} from './postgres-client-config.ts';
export { PostgresDatabase } from './postgres-database.ts';
export {
  type EmbeddedPostgres,
  type EmbeddedPostgresOptions,
  startEmbeddedPostgres,
} from './start-embedded-postgres.ts';
