import {
  atMostEvery,
  type DatabaseTimeouts,
  DEFAULT_RENEW_INTERVAL_MS,
  postgresClientConfig,
  retryWithRenewedCredentials,
} from '@sidestep/db/postgres';
import { type Environment, resolveDatabaseUrl } from '@sidestep/runtime';
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
  /**
   * Where `DATABASE_TLS` and `DATABASE_*_MS` are read, and `DATABASE_SECRET_ARN` when a connection is
   * refused authentication (see {@link connectWorkerClient}). @default process.env
   */
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

/**
 * The URL each connection's credentials were renewed to (a rotated password): the connections it
 * opens afterwards use it, without reading the secret again.
 */
const renewedUrls = new WeakMap<WorkerConnection, string>();

/** Each connection's fresh read of the secret, at most once per {@link DEFAULT_RENEW_INTERVAL_MS}. */
const freshReads = new WeakMap<WorkerConnection, () => Promise<string | undefined>>();

/**
 * A connected {@link workerClient}. A task runs for up to an hour and opens connections as it goes
 * (progress, the validator, recording a failure, dropping the staging), so the database's password
 * may have been rotated since the task read it: when the server refuses authentication (SQLSTATE
 * 28P01), the secret named by `DATABASE_SECRET_ARN` is read afresh (past the cache; at most once
 * per 30 s for the connection, concurrent refusals sharing the read) and, if its URL changed, the
 * connect is tried once more with it. If it did not (a single-user rotation between the password's
 * change and the secret's), or was not read again, the 28P01 stands, and the task exits 75 to be rerun
 * (`isTransientFailure`). https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotation-strategy.html
 */
export function connectWorkerClient(
  connection: WorkerConnection,
  applicationName = WORKER_APPLICATION_NAME,
): Promise<pg.Client> {
  return retryWithRenewedCredentials(
    renewedUrls.get(connection) ?? connection.url,
    async (url) => {
      const client = workerClient({ ...connection, url }, applicationName);
      await client.connect();
      return client;
    },
    async (failed) => {
      const env = connection.env ?? process.env;
      // Only a secret's URL changes under a running task; DATABASE_URL, which wins, is what it is.
      if (!env.DATABASE_SECRET_ARN || env.DATABASE_URL) return undefined;
      let read = freshReads.get(connection);
      if (read === undefined) {
        read = atMostEvery(DEFAULT_RENEW_INTERVAL_MS, () => resolveDatabaseUrl(env, { fresh: true }));
        freshReads.set(connection, read);
      }
      const fresh = await read();
      if (fresh === undefined || fresh === failed) return undefined;
      renewedUrls.set(connection, fresh);
      return fresh;
    },
  );
}
