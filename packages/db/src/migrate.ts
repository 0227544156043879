import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Database, Queryable, QueryOptions } from './database.ts';
import {
  DatabaseOptionsError,
  MigrationFailedError,
  MigrationListError,
  MigrationLockTimeoutError,
  MigrationMismatchError,
} from './errors.ts';
import { LOCK_NOT_AVAILABLE } from './is-transient-database-error.ts';
import type { Migration } from './migration.ts';
import { migrations as defaultMigrations } from './migrations/index.ts';

/** Options of {@link migrate}. */
export interface MigrateOptions {
  /** The migrations to apply. @default the package's own list (`src/migrations/index.ts`) */
  readonly migrations?: readonly Migration[];
  /**
   * How long one attempt of a migration waits for each lock it takes, in ms (its transaction's
   * `lock_timeout`); `0` waits up to the rest of {@link lockBudgetMs}. While an `ALTER TABLE` waits
   * for its lock, every later query of that table queues behind it: a short limit keeps a schema
   * change stuck behind a long transaction (an import's MERGE) from stalling the services. An attempt
   * that times out is rolled back and tried again after a backoff.
   * @default 2000
   */
  readonly lockTimeoutMs?: number;
  /**
   * How long the run may wait for locks, in ms from the call: once spent, a migration whose lock is
   * still taken fails with {@link MigrationLockTimeoutError} instead of being tried again. Waiting for
   * another migrator (which holds the migrations' lock while it applies one) counts too. Each batch
   * of a `batched` migration has the whole budget from its own start.
   * @default 300000 (5 minutes)
   */
  readonly lockBudgetMs?: number;
  /** Called before a migration whose lock timed out is tried again (to log it). */
  readonly onRetry?: (retry: MigrationRetry) => void;
  /**
   * Ends the waiting: when aborted, the run throws the signal's reason instead of trying again or
   * waiting on for another migrator (a statement already running is not cancelled).
   */
  readonly signal?: AbortSignal;
}

/** A migration attempt that timed out on a lock and is tried again; see {@link MigrateOptions.onRetry}. */
export interface MigrationRetry {
  /** The migration; `undefined` when the migrator waited to read what is applied. */
  readonly version: number | undefined;
  readonly name: string | undefined;
  /** The attempt that timed out, from 1. */
  readonly attempt: number;
  /** Until the next attempt. */
  readonly delayMs: number;
  /** Since the run started. */
  readonly elapsedMs: number;
  /** PostgreSQL's message (`canceling statement due to lock timeout`). */
  readonly reason: string;
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

/** The time limits of one run of {@link migrate} (of one batch of a batched migration). */
interface LockBudget {
  /** When the migration (or batch) it budgets started: it may wait for locks until `startedAt + lockBudgetMs`. */
  readonly startedAt: number;
  /** The whole budget, from which each migration, and each batch of a batched one, gets its own deadline. */
  readonly lockBudgetMs: number;
  /** Of a batched migration: the batches already committed, which its errors report. */
  readonly batchesDone?: number;
  readonly lockTimeoutMs: number;
  readonly onRetry: ((retry: MigrationRetry) => void) | undefined;
  readonly signal: AbortSignal | undefined;
}

/** When `budget`'s time to wait for locks is spent. */
function deadline(budget: LockBudget): number {
  return budget.startedAt + budget.lockBudgetMs;
}

/** `budget` counted from now: its whole time, and the time waited measured from now. */
function startBudget(budget: LockBudget): LockBudget {
  return { ...budget, startedAt: Date.now() };
}

const FIRST_RETRY_DELAY_MS = 1_000;
const MAX_RETRY_DELAY_MS = 15_000;
/** Between looks at the lock of another migrator. */
const MIGRATOR_POLL_MS = 250;

/**
 * How a migration's SQL is sent: its answer awaited however long it takes. It is one message of
 * several statements, each of which `statement_timeout` limits on its own (PostgreSQL 13+ restarts it
 * between them), while the client's answer limit would cover the message: past it the migration
 * failed while the server went on running its DDL, its locks held.
 */
const WHOLE_MIGRATION: QueryOptions = { answerTimeout: false };

/** The lock every migrator takes, keyed on the schema so that databases in separate schemas (one per test) do not wait on each other. */
const MIGRATIONS_LOCK_KEY = "hashtext(current_schema() || '.schema_migrations')";

/**
 * Brings the schema up to date: applies, in version order, every migration not yet recorded in
 * `schema_migrations`. Each migration runs in its own transaction together with the row that records
 * it, so a failing migration leaves nothing behind ({@link MigrationFailedError}) and the ones
 * before it stay applied. Running it again applies nothing. A `transaction: false` migration runs
 * outside a transaction and is recorded after it (see {@link Migration.transaction}); a `batched` one
 * runs once per batch, each batch in a transaction of its own (see {@link Migration.batched}).
 *
 * Each attempt waits for a table's lock at most `lockTimeoutMs` (2 s); one that times out is rolled
 * back and tried again after a backoff (1 s, doubling to 15 s, jittered) until `lockBudgetMs` (5 min,
 * from the migration's own start; for a batched one, each batch's) is spent
 * ({@link MigrationLockTimeoutError}). A schema change behind a long transaction thus never
 * holds the other queries of its table longer than one attempt: the standard "lock_timeout and
 * retries" of zero-downtime PostgreSQL migrations.
 *
 * Several migrators may run at once (a deploy's task and its re-run, the local cloud): each takes an
 * advisory lock keyed on the current schema, then re-reads what is applied, so each migration runs
 * exactly once and the others wait (up to the budget, not the per-attempt limit) and skip it. PGlite
 * has a single connection, where the lock is uncontended; it is taken there too so both backends run
 * the same statements.
 *
 * A migration's SQL is sent without the client's answer limit (`answerTimeoutMs`), which would cover
 * all its statements together: each stays under the session's `statement_timeout`.
 *
 * @throws {DatabaseOptionsError} `lockTimeoutMs` or `lockBudgetMs` is not a whole number of ms.
 * @throws {MigrationListError} the list is malformed (versions not unique and increasing).
 * @throws {MigrationMismatchError} an applied migration's name or SQL differs from the code (and from
 *   its {@link Migration.formerChecksums}).
 * @throws {MigrationFailedError} a migration's SQL failed; it was rolled back.
 * @throws {MigrationLockTimeoutError} a lock stayed taken until the budget was spent.
 */
export async function migrate(db: Database, options: MigrateOptions = {}): Promise<MigrateResult> {
  const list = options.migrations ?? defaultMigrations;
  const lockTimeoutMs = milliseconds('lockTimeoutMs', options.lockTimeoutMs ?? 2_000, 0);
  const lockBudgetMs = milliseconds('lockBudgetMs', options.lockBudgetMs ?? 300_000, 1);
  validate(list);
  const budget: LockBudget = {
    startedAt: Date.now(),
    lockBudgetMs,
    lockTimeoutMs,
    onRetry: options.onRetry,
    signal: options.signal,
  };

  const alreadyApplied = await underLock(db, budget, undefined, async (tx) => {
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
    // Each migration's locks are waited for up to the budget from its own start: one after a long
    // backfill gets the whole budget too, not what the run has left.
    const ownBudget = startBudget(budget);
    const ran =
      migration.transaction === false
        ? await applyOutsideTransaction(db, ownBudget, migration)
        : migration.batched
          ? await applyInBatches(db, ownBudget, migration)
          : await underLock(db, ownBudget, migration, async (tx) => {
              if (await isRecorded(tx, migration)) return false;
              try {
                await tx.query(migration.sql, undefined, WHOLE_MIGRATION);
              } catch (error) {
                throw new MigrationFailedError(migration.version, migration.name, error);
              }
              await record(tx, migration);
              return true;
            });
    if (ran) applied.push(label(migration));
  }
  return { applied };
}

/**
 * Runs `fn` in a transaction under the migrators' lock; `fn` then waits for each lock at most the
 * per-attempt limit, and is tried again after a backoff when one times out (the transaction rolled
 * back, so it starts afresh) while the budget lasts.
 */
async function underLock<T>(
  db: Database,
  budget: LockBudget,
  migration: Migration | undefined,
  fn: (tx: Queryable) => Promise<T>,
): Promise<T> {
  let attempt = 1;
  for (;;) {
    let outcome: { value: T } | undefined;
    try {
      outcome = await db.transaction(async (tx) => {
        if (!(await tryLockMigrations(tx, 'transaction'))) return undefined;
        await setLockTimeout(tx, attemptLockTimeoutMs(budget), true);
        return { value: await fn(tx) };
      });
    } catch (error) {
      const timeout = lockTimeout(error);
      if (!timeout) throw error;
      const delayMs = Math.round(
        Math.min(MAX_RETRY_DELAY_MS, FIRST_RETRY_DELAY_MS * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2),
      );
      const elapsedMs = Date.now() - budget.startedAt;
      if (Date.now() + delayMs >= deadline(budget)) {
        throw new MigrationLockTimeoutError({
          migration,
          attempts: attempt,
          waitedMs: elapsedMs,
          migrator: false,
          cause: timeout,
          batchesDone: budget.batchesDone,
        });
      }
      budget.onRetry?.({
        version: migration?.version,
        name: migration?.name,
        attempt,
        delayMs,
        elapsedMs,
        reason: timeout.message,
      });
      await pause(delayMs, budget.signal);
      attempt += 1;
      continue;
    }
    if (outcome) return outcome.value;
    await waitForMigrator(budget, migration, attempt);
  }
}

/**
 * Takes the migrators' advisory lock if it is free, for the transaction or the session. Polled rather
 * than waited for: a waiting statement holds a snapshot, and a concurrent index build waits for every
 * older snapshot to end, so a migrator waiting for the lock of one that builds an index concurrently
 * would deadlock with it (PostgreSQL then cancels one of the two, possibly the build).
 */
async function tryLockMigrations(connection: Queryable, scope: 'transaction' | 'session'): Promise<boolean> {
  const lock = scope === 'transaction' ? 'pg_try_advisory_xact_lock' : 'pg_try_advisory_lock';
  const { rows } = await connection.query<{ locked: boolean }>(
    `SELECT ${lock}(${MIGRATIONS_LOCK_KEY}) AS locked`,
  );
  return rows[0]?.locked === true;
}

/** Sleeps before the next look at the migrators' lock, or throws once the budget is spent. */
async function waitForMigrator(
  budget: LockBudget,
  migration: Migration | undefined,
  attempts: number,
): Promise<void> {
  if (Date.now() + MIGRATOR_POLL_MS >= deadline(budget)) {
    throw new MigrationLockTimeoutError({
      migration,
      attempts,
      waitedMs: Date.now() - budget.startedAt,
      migrator: true,
      cause: undefined,
      batchesDone: budget.batchesDone,
    });
  }
  await pause(MIGRATOR_POLL_MS, budget.signal);
}

/**
 * Applies a batched migration: its statement once per batch, each batch in a transaction of its own
 * under the migrators' lock, as a migration's transaction runs (its locks waited for at most the
 * per-attempt limit, retried after a backoff), until a batch answers no next cursor; that last, empty
 * batch's transaction records it. So the batch's row locks are all it holds, for one batch's time,
 * and `statement_timeout` limits each batch, not the backfill. Each batch may wait for its locks up
 * to the whole lock budget, from its own start: a backfill that takes longer than the budget still
 * has its later batches wait as long as its first. A concurrent migrator takes the lock between two
 * batches and runs its own from the first; both then find the rows done and one records it.
 */
async function applyInBatches(db: Database, budget: LockBudget, migration: Migration): Promise<boolean> {
  let cursor: string | null = null;
  for (let batchesDone = 0; ; batchesDone += 1) {
    // Between batches, whose work stays committed: a task told to stop stops here.
    budget.signal?.throwIfAborted();
    const batchBudget = { ...startBudget(budget), batchesDone };
    const step = await underLock(db, batchBudget, migration, async (tx): Promise<BatchStep> => {
      if (await isRecorded(tx, migration)) return { done: true, ran: false };
      let next: string | null;
      try {
        next = nextCursor((await tx.query(migration.sql, [cursor])).rows, cursor);
      } catch (error) {
        throw new MigrationFailedError(migration.version, migration.name, error, batchesDone);
      }
      if (next !== null) return { done: false, next };
      await record(tx, migration);
      return { done: true, ran: true };
    });
    if (step.done) return step.ran;
    cursor = step.next;
  }
}

/** What one batch did: the cursor of the next, or the migration done (by this run, or another migrator). */
type BatchStep =
  | { readonly done: false; readonly next: string }
  | { readonly done: true; readonly ran: boolean };

/** The `next` cursor a batched migration's statement answered; throws when it answered none or no progress. */
function nextCursor(rows: readonly Record<string, unknown>[], cursor: string | null): string | null {
  const row = rows[0];
  if (rows.length !== 1 || row === undefined || !('next' in row)) {
    throw new Error(
      `a batched migration's statement must answer one row with a column next, got ${rows.length} rows`,
    );
  }
  if (row.next === null) return null;
  const next = String(row.next);
  // A statement whose cursor does not move would run for ever.
  if (next === cursor) throw new Error(`the statement answered the next cursor ${next} again`);
  return next;
}

/**
 * Applies a `transaction: false` migration. The Database interface pins a connection only for a
 * transaction, so this one's callback ends the transaction it was given, works on the connection
 * outside one, and begins a new (empty) one for the wrapper to end. It holds the migrators' lock as a
 * session lock meanwhile, so a concurrent run waits for the build to finish rather than finding the
 * index (still invalid) and recording it; a killed task's lock ends with its session.
 */
function applyOutsideTransaction(db: Database, budget: LockBudget, migration: Migration): Promise<boolean> {
  return db.transaction(async (connection) => {
    await connection.query('COMMIT');
    return ensure(
      async () => {
        while (!(await tryLockMigrations(connection, 'session'))) await waitForMigrator(budget, migration, 1);
        return ensure(
          () => runOutsideTransaction(connection, budget, migration),
          () => connection.query(`SELECT pg_advisory_unlock(${MIGRATIONS_LOCK_KEY})`),
        );
      },
      () => connection.query('BEGIN'),
    );
  });
}

async function runOutsideTransaction(
  connection: Queryable,
  budget: LockBudget,
  migration: Migration,
): Promise<boolean> {
  if (await isRecorded(connection, migration)) return false;
  // A concurrent build leaves an invalid index when it fails, and IF NOT EXISTS would then keep it:
  // one left by a run killed before it could drop it goes first.
  await dropInvalidIndex(connection, budget, migration);
  try {
    // The whole budget, not the per-attempt limit: the statements that must run outside a transaction
    // (concurrent builds and drops) take a lock that the services' reads and writes do not queue behind,
    // and a build that times out waiting for older transactions leaves an invalid index to drop.
    await withSessionLockTimeout(connection, remainingMs(budget), () =>
      connection.query(migration.sql, undefined, WHOLE_MIGRATION),
    );
  } catch (error) {
    // The next run drops it otherwise.
    await dropInvalidIndex(connection, budget, migration).catch(() => {});
    const timeout = lockTimeout(error);
    if (timeout) {
      throw new MigrationLockTimeoutError({
        migration,
        attempts: 1,
        waitedMs: Date.now() - budget.startedAt,
        migrator: false,
        cause: timeout,
      });
    }
    throw new MigrationFailedError(migration.version, migration.name, error);
  }
  await record(connection, migration);
  return true;
}

/** `CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS <name> ON [ONLY] <table>`: its name and table as written. */
const CONCURRENT_INDEX =
  /^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+IF\s+NOT\s+EXISTS\s+((?:"(?:[^"]|"")*"|[^\s"(])+)\s+ON\s+(?:ONLY\s+)?((?:"(?:[^"]|"")*"|[^\s"(])+)/i;

/** Drops the migration's index when a failed concurrent build left it invalid (`pg_index.indisvalid`). */
async function dropInvalidIndex(
  connection: Queryable,
  budget: LockBudget,
  migration: Migration,
): Promise<void> {
  const match = CONCURRENT_INDEX.exec(migration.sql);
  if (!match) return;
  const [, index, table] = match;
  // The index lives in its table's schema, whatever the search path.
  const { rows } = await connection.query<{ index: string }>(
    `SELECT i.indexrelid::regclass::text AS index
       FROM pg_class t
       JOIN pg_namespace n ON n.oid = t.relnamespace
       JOIN pg_index i ON i.indrelid = t.oid AND i.indexrelid = to_regclass(quote_ident(n.nspname) || '.' || $2)
      WHERE t.oid = to_regclass($1) AND NOT i.indisvalid`,
    [table, index],
  );
  const invalid = rows[0]?.index;
  if (invalid === undefined) return;
  await withSessionLockTimeout(connection, remainingMs(budget), () =>
    connection.query(`DROP INDEX CONCURRENTLY IF EXISTS ${invalid}`),
  );
}

async function isRecorded(tx: Queryable, migration: Migration): Promise<boolean> {
  const { rows } = await tx.query<AppliedMigration>(
    'SELECT version, name, checksum FROM schema_migrations WHERE version = $1',
    [migration.version],
  );
  if (!rows[0]) return false;
  // Another migrator applied it while this one waited for the lock.
  verify(migration, rows[0]);
  return true;
}

async function record(tx: Queryable, migration: Migration): Promise<void> {
  await tx.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
    migration.version,
    migration.name,
    // A rewritten migration is recorded as it shipped first: the releases before the rewrite (a
    // rollback's migrate) verify that checksum, and this one accepts it (formerChecksums).
    migration.formerChecksums?.[0] ?? checksum(migration),
  ]);
}

/** Sleeps `ms`, or throws the signal's reason once it is aborted. */
async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted();
  try {
    await delay(ms, undefined, { signal });
  } catch (error) {
    signal?.throwIfAborted();
    throw error;
  }
}

/** The rest of the budget, at least 1 ms (`lock_timeout` 0 would wait without limit). */
function remainingMs(budget: LockBudget): number {
  return Math.max(1, deadline(budget) - Date.now());
}

function attemptLockTimeoutMs(budget: LockBudget): number {
  const remaining = remainingMs(budget);
  return budget.lockTimeoutMs === 0 ? remaining : Math.min(budget.lockTimeoutMs, remaining);
}

/** Sets `lock_timeout` for the transaction (`local`) or the session. */
async function setLockTimeout(connection: Queryable, ms: number, local: boolean): Promise<void> {
  await connection.query("SELECT set_config('lock_timeout', $1, $2)", [`${ms}ms`, local]);
}

/** Runs `fn` with the session's `lock_timeout` at `ms`, then sets it back. */
async function withSessionLockTimeout<T>(
  connection: Queryable,
  ms: number,
  fn: () => Promise<T>,
): Promise<T> {
  const { rows } = await connection.query<{ previous: string }>(
    "SELECT current_setting('lock_timeout') AS previous",
  );
  const previous = rows[0]?.previous ?? '0';
  await setLockTimeout(connection, ms, false);
  return ensure(fn, () => connection.query("SELECT set_config('lock_timeout', $1, false)", [previous]));
}

/**
 * `fn`, then `cleanup` whatever it did. A cleanup that fails after `fn` failed does not hide `fn`'s
 * error: the connection is most likely gone, and its session's locks and settings with it.
 */
async function ensure<T>(fn: () => Promise<T>, cleanup: () => Promise<unknown>): Promise<T> {
  let result: T;
  try {
    result = await fn();
  } catch (error) {
    await cleanup().catch(() => {});
    throw error;
  }
  await cleanup();
  return result;
}

/** The lock_timeout error behind `error` (itself or its cause), if it is one. */
function lockTimeout(error: unknown): Error | undefined {
  for (let current = error; current instanceof Object; current = (current as { cause?: unknown }).cause) {
    if ((current as { code?: unknown }).code === LOCK_NOT_AVAILABLE) return current as Error;
  }
  return undefined;
}

function milliseconds(field: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new DatabaseOptionsError(
      field,
      `must be a whole number of milliseconds (${min} or more), got ${value}`,
    );
  }
  return value;
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
    // A semicolon inside a string literal is refused too: split such a migration's statement differently.
    const oneStatement = !migration.sql.replace(/[\s;]+$/, '').includes(';');
    if (migration.batched) {
      if (migration.transaction === false) {
        throw new MigrationListError(
          migration.version,
          'batched runs each batch in a transaction of its own: it takes no transaction: false',
        );
      }
      if (!oneStatement || !/\$1(?!\d)/.test(migration.sql)) {
        throw new MigrationListError(
          migration.version,
          'batched takes one statement of one batch, from the cursor $1 (null at first), answering the next cursor',
        );
      }
    }
    for (const former of migration.formerChecksums ?? []) {
      if (!/^[0-9a-f]{64}$/.test(former)) {
        throw new MigrationListError(
          migration.version,
          `formerChecksums: ${JSON.stringify(former)} is not a sha256 in lower-case hex`,
        );
      }
    }
    if (migration.transaction === false) {
      if (!oneStatement || !/\bIF\s+(NOT\s+)?EXISTS\b/i.test(migration.sql)) {
        throw new MigrationListError(
          migration.version,
          'transaction: false takes one statement with IF NOT EXISTS or IF EXISTS: a run stopped between the statement and its record runs it again',
        );
      }
    }
    previous = migration.version;
  }
}

function verify(migration: Migration, row: AppliedMigration): void {
  if (row.name !== migration.name) {
    throw new MigrationMismatchError(migration.version, 'name', row.name, migration.name);
  }
  const inCode = checksum(migration);
  // A shipped migration rewritten to make the same schema with fewer locks (Migration.formerChecksums).
  if (row.checksum !== inCode && !migration.formerChecksums?.includes(row.checksum)) {
    throw new MigrationMismatchError(migration.version, 'checksum', row.checksum, inCode);
  }
}

function checksum(migration: Migration): string {
  return createHash('sha256').update(migration.sql).digest('hex');
}

function label(migration: Migration): string {
  return `${String(migration.version).padStart(4, '0')}-${migration.name}`;
}
