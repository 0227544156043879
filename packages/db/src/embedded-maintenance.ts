import type { Queryable } from './database.ts';
import { DatabaseOptionsError } from './errors.ts';

/** How often the embedded database is maintained, as a PostgreSQL server's background processes would. */
export interface EmbeddedMaintenanceOptions {
  /**
   * Between two `CHECKPOINT`s. PostgreSQL's checkpointer runs one every `checkpoint_timeout`, 5 minutes
   * by default (https://www.postgresql.org/docs/current/wal-configuration.html), after which WAL
   * segments before it are recycled; PGlite has no checkpointer, and without this `pg_wal` grows
   * (~29 MB an hour under the local cloud's load) until PGlite is closed.
   * @default 300000 (5 minutes, PostgreSQL's checkpoint_timeout)
   */
  readonly checkpointIntervalMs?: number;
  /**
   * Between two `VACUUM (ANALYZE)`s of the whole database. PostgreSQL's autovacuum workers reclaim dead
   * rows and refresh planner statistics (https://www.postgresql.org/docs/current/routine-vacuuming.html);
   * PGlite has none, so updated and deleted rows (idempotency records, job transitions) were never
   * reclaimed while the local cloud ran. Hourly, not at autovacuum's one-minute naptime: a VACUUM here
   * holds PGlite's only session, and every other client waits for it.
   * @default 3600000 (an hour)
   */
  readonly vacuumIntervalMs?: number;
  /** Called when a maintenance statement failed; the next one is tried at its time. @default a process warning */
  readonly onError?: (error: Error) => void;
}

/** Maintenance under way on a database: {@link stop} ends it. */
export interface EmbeddedMaintenance {
  /** Clears the timers and waits for a statement under way to end, so the database can be closed. */
  stop(): Promise<void>;
}

const DEFAULT_CHECKPOINT_INTERVAL_MS = 5 * 60_000;
const DEFAULT_VACUUM_INTERVAL_MS = 60 * 60_000;

/** Throws {@link DatabaseOptionsError} naming `field` unless `ms` is a positive whole number. */
function checkInterval(ms: number, field: string): number {
  if (!Number.isSafeInteger(ms) || ms < 1) {
    throw new DatabaseOptionsError(field, 'must be a positive integer of milliseconds');
  }
  return ms;
}

/** Checks the options of {@link startEmbeddedMaintenance} before anything starts. @throws {DatabaseOptionsError} */
export function checkEmbeddedMaintenanceOptions(options: EmbeddedMaintenanceOptions): void {
  checkInterval(
    options.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS,
    'maintenance.checkpointIntervalMs',
  );
  checkInterval(options.vacuumIntervalMs ?? DEFAULT_VACUUM_INTERVAL_MS, 'maintenance.vacuumIntervalMs');
}

/**
 * Runs `CHECKPOINT` and `VACUUM (ANALYZE)` on `db` at their intervals, on unref'd timers (a database
 * left open does not keep the process alive for them). `db` must be a client of the embedded server,
 * not the PGlite instance: the socket server queues each statement behind other clients' transactions
 * (VACUUM cannot run inside one, and a statement run on PGlite directly would land in whichever
 * client's transaction is open). The two never overlap: a statement due while the other runs waits for
 * it, and a tick that comes while its own statement is still queued is skipped.
 * @throws {DatabaseOptionsError} for an interval that is not a positive integer, naming it
 */
export function startEmbeddedMaintenance(
  db: Queryable,
  options: EmbeddedMaintenanceOptions = {},
): EmbeddedMaintenance {
  checkEmbeddedMaintenanceOptions(options);
  const onError = options.onError ?? ((error: Error) => process.emitWarning(error));
  let running: Promise<void> = Promise.resolve();
  const due = new Set<string>();
  let stopped = false;
  const run = (statement: string) => {
    if (stopped || due.has(statement)) return;
    due.add(statement);
    running = running.then(async () => {
      try {
        if (!stopped) await db.query(statement);
      } catch (error) {
        onError(error instanceof Error ? error : new Error(String(error)));
      } finally {
        due.delete(statement);
      }
    });
  };
  const timers = [
    setInterval(() => run('CHECKPOINT'), options.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS),
    setInterval(() => run('VACUUM (ANALYZE)'), options.vacuumIntervalMs ?? DEFAULT_VACUUM_INTERVAL_MS),
  ];
  for (const timer of timers) timer.unref();
  return {
    async stop() {
      stopped = true;
      for (const timer of timers) clearInterval(timer);
      await running;
    },
  };
}
