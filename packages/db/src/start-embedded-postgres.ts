import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { bufferCopyFromStdin } from './buffer-copy-from-stdin.ts';
import type { Database } from './database.ts';
import {
  checkEmbeddedMaintenanceOptions,
  type EmbeddedMaintenanceOptions,
  startEmbeddedMaintenance,
} from './embedded-maintenance.ts';
import { DatabaseOptionsError } from './errors.ts';
import { keepExtendedQueryTogether } from './keep-extended-query-together.ts';
import { migrate } from './migrate.ts';
import { openDatabase } from './open-database.ts';
import { DATABASE_TIMEOUT_VARIABLES, type DatabaseTimeouts } from './postgres-client-config.ts';

/**
 * The limits a client of the embedded server needs besides its URL: no answer limit
 * (`answerTimeoutMs: 0`). The server runs in the local cloud's process on this machine, so it cannot
 * vanish without closing its connections, the case the limit is for; and it ignores `statement_timeout`
 * and serves one transaction at a time, so a statement waits for another connection's transaction to
 * end (an export's read snapshot, an import's merge) for longer than the limit (statement_timeout plus
 * the connect timeout) would allow, and failing it would destroy a live connection.
 */
export const EMBEDDED_CLIENT_TIMEOUTS: Partial<DatabaseTimeouts> = { answerTimeoutMs: 0 };

/** {@link EMBEDDED_CLIENT_TIMEOUTS} as the variables that set them. */
const EMBEDDED_CLIENT_ENVIRONMENT: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(EMBEDDED_CLIENT_TIMEOUTS).map(([field, ms]) => [
    DATABASE_TIMEOUT_VARIABLES[field as keyof DatabaseTimeouts],
    String(ms),
  ]),
);

/** Options of {@link startEmbeddedPostgres}. */
export interface EmbeddedPostgresOptions {
  /** Directory that persists the data across restarts. @default none: in memory */
  readonly dataDir?: string;
  /** Interface to bind. @default '127.0.0.1' */
  readonly host?: string;
  /** TCP port; 0 picks a free one (read it from `url`). @default 0 */
  readonly port?: number;
  /**
   * Client connections accepted at once. PGlite runs one statement at a time; the socket server
   * multiplexes connections onto it and keeps a connection that is inside a transaction exclusive
   * until it ends. Every local service's pool counts, idle connections included.
   * @default 100
   */
  readonly maxConnections?: number;
  /**
   * Bytes of one `COPY ... FROM STDIN` the server holds: PGlite runs a COPY in one call, so the
   * server buffers its data until the client's CopyDone (see buffer-copy-from-stdin.ts). A larger COPY
   * fails with PostgreSQL's error for a CopyFail naming the limit, and the client's transaction aborts.
   * @default 512 MiB
   */
  readonly maxCopyBytes?: number;
  /**
   * The `CHECKPOINT` and `VACUUM (ANALYZE)` PGlite's missing checkpointer and autovacuum would run, on
   * `db` while the server is open ({@link startEmbeddedMaintenance}); an interval that is not a
   * positive integer is refused with `DatabaseOptionsError` naming it.
   * @default a checkpoint every 5 minutes, a vacuum every hour
   */
  readonly maintenance?: EmbeddedMaintenanceOptions;
}

/** A running embedded PostgreSQL. */
export interface EmbeddedPostgres {
  /** `postgres://postgres@<host>:<port>/postgres`, for `pg` (pass it as `DATABASE_URL`). */
  readonly url: string;
  /**
   * A connection to it for this process. It goes through the socket server like every other client
   * (its `kind` is therefore `postgres`): a direct handle on the PGlite instance would bypass the
   * multiplexer and run its statements inside whichever client's transaction is open.
   */
  readonly db: Database;
  /**
   * What a process using {@link url} needs in its environment besides `DATABASE_URL`: the variables
   * of {@link EMBEDDED_CLIENT_TIMEOUTS} (`DATABASE_ANSWER_TIMEOUT_MS=0`).
   */
  readonly clientEnvironment: Readonly<Record<string, string>>;
  /** Ends the maintenance (waiting for a statement under way), closes `db`, stops the server (dropping client connections) and closes PGlite. */
  close(): Promise<void>;
}

/**
 * Starts PGlite, migrates it and serves it over the PostgreSQL wire protocol on loopback, so that
 * the local cloud's services connect with `pg` through a URL exactly as they connect to RDS.
 *
 * @example
 * ```ts
 * const embedded = await startEmbeddedPostgres({ dataDir: '.sidestep/db' });
 * spawn('node', ['service.js'], { env: { DATABASE_URL: embedded.url } });
 * ```
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions = {},
): Promise<EmbeddedPostgres> {
  const { host = '127.0.0.1', port = 0, maxConnections = 100, maxCopyBytes = 512 * 1024 * 1024 } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new DatabaseOptionsError('port', 'must be an integer from 0 to 65535');
  }
  if (!Number.isInteger(maxConnections) || maxConnections < 1) {
    throw new DatabaseOptionsError('maxConnections', 'must be a positive integer');
  }
  if (!Number.isSafeInteger(maxCopyBytes) || maxCopyBytes < 1) {
    throw new DatabaseOptionsError('maxCopyBytes', 'must be a positive integer');
  }
  checkEmbeddedMaintenanceOptions(options.maintenance ?? {});
  // Loaded here so that importing @sidestep/db in a Lambda does not load PGlite.
  const [{ PgliteDatabase }, { pgliteTemplates }, { PGLiteSocketServer }] = await Promise.all([
    import('./pglite-database.ts'),
    import('./pglite-template.ts'),
    import('@electric-sql/pglite-socket'),
  ]);
  // A new database (in memory, or a data directory initdb has not filled yet) starts from the
  // migrated template instead of initdb and the migrations (pglite-template.ts); PGlite refuses a
  // template for a directory that holds a database.
  const fresh = options.dataDir === undefined || !existsSync(join(options.dataDir, 'PG_VERSION'));
  const embedded = await PgliteDatabase.create({
    ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
    ...(fresh ? { loadDataDir: (await pgliteTemplates()).migrated } : {}),
  });
  let server: InstanceType<typeof PGLiteSocketServer> | undefined;
  try {
    await migrate(embedded);
    server = new PGLiteSocketServer({ db: embedded.pglite, host, port, maxConnections });
    bufferCopyFromStdin(server, maxCopyBytes);
    keepExtendedQueryTogether(server);
    await server.start();
    // getServerConn() reports the port the OS picked when port was 0.
    const url = `postgres://postgres@${server.getServerConn()}/postgres`;
    const db = await openDatabase({ url, max: 2, timeouts: EMBEDDED_CLIENT_TIMEOUTS });
    const running = server;
    const maintenance = startEmbeddedMaintenance(db, options.maintenance);
    let closed: Promise<void> | undefined;
    return {
      url,
      db,
      clientEnvironment: EMBEDDED_CLIENT_ENVIRONMENT,
      close: () => {
        closed ??= (async () => {
          // A checkpoint or vacuum under way ends first: its connection is one db.close() ends.
          await maintenance.stop();
          await db.close();
          await running.stop();
          await embedded.close();
        })();
        return closed;
      },
    };
  } catch (error) {
    await server?.stop();
    await embedded.close();
    throw error;
  }
}
