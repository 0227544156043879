import { type DatabaseTimeouts, postgresClientConfig } from '@sidestep/db/postgres';
import type { Environment } from '@sidestep/runtime';
import pg from 'pg';

/**
 * The import's and the export's session limits: long enough for a COPY and the merge of a large file
 * (1M rows take seconds to a few minutes), bounded well under the task's 3,600 s so that a blocked
 * statement fails with PostgreSQL's reason, recorded on the job, instead of hanging until ECS stops
 * the task. A row lock held by another import's open transaction may last minutes, hence the longer
 * lock wait. Each is overridden by its `DATABASE_*_MS` variable.
 */
export const WORKER_DATABASE_TIMEOUTS: DatabaseTimeouts = {
  statementTimeoutMs: 20 * 60_000,
  lockTimeoutMs: 5 * 60_000,
  idleInTransactionTimeoutMs: 5 * 60_000,
  connectTimeoutMs: 10_000,
};

/** Where the task's database is and how its sessions are limited. */
export interface WorkerConnection {
  /** `postgres://...`, from `resolveDatabaseUrl`. */
  readonly url: string;
  /** Where `DATABASE_TLS` and `DATABASE_*_MS` are read. @default process.env */
  readonly env?: Environment;
}

/** The batch-worker's sessions' `application_name` (pg_stat_activity). */
export const WORKER_APPLICATION_NAME = 'sidestep-batch-worker';

/**
 * A `pg` client (not yet connected) for the batch-worker: TLS verified for a non-local server, every
 * session under {@link WORKER_DATABASE_TIMEOUTS} (see `postgresClientConfig`), named
 * `applicationName` in pg_stat_activity.
 */
export function workerClient(
  connection: WorkerConnection,
  applicationName = WORKER_APPLICATION_NAME,
): pg.Client {
  const client = new pg.Client(
    postgresClientConfig({
      url: connection.url,
      timeouts: WORKER_DATABASE_TIMEOUTS,
      applicationName,
      ...(connection.env === undefined ? {} : { env: connection.env }),
    }),
  );
  // A connection lost mid-task surfaces as the failing query's error; without a listener the
  // client's 'error' event would crash the process before the failure could be recorded.
  client.on('error', () => {});
  return client;
}
