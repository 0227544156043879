import { createHash } from 'node:crypto';
import type { Database, Queryable } from './database.ts';
import { MigrationFailedError, MigrationListError, MigrationMismatchError } from './errors.ts';
import type { Migration } from './migration.ts';
import { migrations as defaultMigrations } from './migrations/index.ts';

/** Options of {@link migrate}. */
export interface MigrateOptions {
  /** The migrations to apply. @default the package's own list (`src/migrations/index.ts`) */
  readonly migrations?: readonly Migration[];
}

/** What {@link migrate} did. */
export interface MigrateResult {
  /** The migrations this call applied, as `<version padded to 4>-<name>`, in order; empty when none. */
  readonly applied: string[];
}

interface AppliedMigration {
  version: number;
  name: string;
  checksum: string;
}

/**
 * Brings the schema up to date: applies, in version order, every migration not yet recorded in
 * `schema_migrations`. Each migration runs in its own transaction together with the row that records
 * it, so a failing migration leaves nothing behind ({@link MigrationFailedError}) and the ones
 * before it stay applied. Running it again applies nothing.
 *
 * Several migrators may run at once (every Lambda cold start, a deploy step and the local cloud):
 * every transaction first takes a transaction-scoped advisory lock keyed on the current schema, then
 * re-reads what is applied, so each migration runs exactly once and the others wait and skip it.
 * PGlite has a single connection, where the lock is uncontended; it is taken there too so both
 * backends run the same statements.
 *
 * @throws {MigrationListError} the list is malformed (versions not unique and increasing).
 * @throws {MigrationMismatchError} an applied migration's name or SQL differs from the code.
 * @throws {MigrationFailedError} a migration's SQL failed; it was rolled back.
 */
export async function migrate(db: Database, options: MigrateOptions = {}): Promise<MigrateResult> {
  const list = options.migrations ?? defaultMigrations;
  validate(list);

  const alreadyApplied = await db.transaction(async (tx) => {
    await lock(tx);
    // Inside the lock: two concurrent CREATE TABLE IF NOT EXISTS can still collide on PostgreSQL
    // (unique violation in pg_type), so the bootstrap is serialized like the migrations.
    await tx.query(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    return (await tx.query<AppliedMigration>('SELECT version, name, checksum FROM schema_migrations')).rows;
  });
  const appliedVersions = new Map(alreadyApplied.map((row) => [row.version, row]));
  for (const migration of list) {
    const row = appliedVersions.get(migration.version);
    if (row) verify(migration, row);
  }

  const applied: string[] = [];
  for (const migration of list) {
    if (appliedVersions.has(migration.version)) continue;
    const ran = await db.transaction(async (tx) => {
      await lock(tx);
      const { rows } = await tx.query<AppliedMigration>(
        'SELECT version, name, checksum FROM schema_migrations WHERE version = $1',
        [migration.version],
      );
      if (rows[0]) {
        // Another migrator applied it while this one waited for the lock.
        verify(migration, rows[0]);
        return false;
      }
      try {
        await tx.query(migration.sql);
      } catch (error) {
        throw new MigrationFailedError(migration.version, migration.name, error);
      }
      await tx.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        migration.version,
        migration.name,
        checksum(migration),
      ]);
      return true;
    });
    if (ran) applied.push(label(migration));
  }
  return { applied };
}

async function lock(tx: Queryable): Promise<void> {
  // Keyed on the schema so that databases in separate schemas (one per test) do not wait on each other.
  await tx.query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.schema_migrations'))");
}

function validate(list: readonly Migration[]): void {
  let previous = 0;
  for (const migration of list) {
    if (!Number.isInteger(migration.version) || migration.version <= previous) {
      throw new MigrationListError(
        migration.version,
        `version must be an integer greater than the previous one (${previous})`,
      );
    }
    if (migration.name.trim() === '') throw new MigrationListError(migration.version, 'name is empty');
    previous = migration.version;
  }
}

function verify(migration: Migration, row: AppliedMigration): void {
  if (row.name !== migration.name) {
    throw new MigrationMismatchError(migration.version, 'name', row.name, migration.name);
  }
  const inCode = checksum(migration);
  if (row.checksum !== inCode) {
    throw new MigrationMismatchError(migration.version, 'checksum', row.checksum, inCode);
  }
}

function checksum(migration: Migration): string {
  return createHash('sha256').update(migration.sql).digest('hex');
}

function label(migration: Migration): string {
  return `${String(migration.version).padStart(4, '0')}-${migration.name}`;
}
