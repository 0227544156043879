import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { migrate, openDatabase, startEmbeddedPostgres } from '@sidestep/db';
import { CorruptStateError } from './corrupt-state-error.ts';
import { LocalCloudStartError } from './local-cloud-start-error.ts';

/** Options of {@link startLocalDatabase}. */
export interface LocalDatabaseOptions {
  /** A real PostgreSQL server to use instead of the embedded one; it is migrated. */
  readonly url?: string;
  /** Where the embedded database keeps its data. @default none: in memory */
  readonly dataDir?: string;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** Port of the embedded server (0 picks a free one). @default 0 */
  readonly port?: number;
}

/**
 * The default port of the embedded PostgreSQL: stable, so that `psql` and database tools keep one
 * URL across restarts, and one above PostgreSQL's 5432 so that it does not collide with a server
 * installed on the machine.
 */
export const DEFAULT_DATABASE_PORT = 5433;

/**
 * The embedded PostgreSQL's port is taken (another local cloud, or a PostgreSQL server). The local
 * cloud fails rather than moving to another port: the point of a fixed port is that the URL a
 * person pointed `psql` at stays right.
 */
export class DatabasePortInUseError extends Error {
  override readonly name = 'DatabasePortInUseError';
  readonly port: number;
  constructor(port: number, cause: unknown) {
    super(
      `port ${port} of the embedded PostgreSQL is already in use (another local cloud, or a PostgreSQL server?): stop it or pick another port (databasePort; \`pnpm start --database-port <port>\`, 0 picks a free one)`,
      { cause },
    );
    this.port = port;
  }
}

/**
 * The major version of the PostgreSQL the embedded server (PGlite) runs: what a data directory's
 * `PG_VERSION` must say for it to open one. A test checks it against the running server, so a PGlite
 * upgrade to another major fails there first.
 */
export const EMBEDDED_POSTGRES_MAJOR_VERSION = 18;

/**
 * The server at `DATABASE_URL` could not be connected to or migrated. `server` is the URL without
 * its password (`user@host:port/database`) and `reason` PostgreSQL's (or the connection's) own words.
 */
export class DatabaseUrlError extends LocalCloudStartError {
  override readonly name = 'DatabaseUrlError';
  readonly server: string;
  readonly reason: string;
  constructor(server: string, reason: string, cause: unknown) {
    super(
      `DATABASE_URL (${server}) cannot be used: ${reason}. Fix it, or unset DATABASE_URL to use the embedded PostgreSQL`,
      { cause },
    );
    this.server = server;
    this.reason = reason;
  }
}

/** `url` as `user@host:port/database`, without its password: what a message may show of it. */
function serverOf(url: string): string {
  try {
    const parsed = new URL(url);
    const user = decodeURIComponent(parsed.username);
    // pg's defaults for what the URL leaves out: port 5432, the database named after the user.
    const database = decodeURIComponent(parsed.pathname.slice(1)) || user;
    return `${user ? `${user}@` : ''}${parsed.hostname}:${parsed.port || 5432}/${database}`;
  } catch {
    return 'not a URL';
  }
}

/**
 * Why connecting to or migrating `url` failed, in the words of PostgreSQL or of the socket, with the
 * URL's password (should a message ever quote it) masked. A refused connection to a name with two
 * addresses (localhost: ::1 and 127.0.0.1) is an AggregateError with an empty message of its own.
 */
function reasonOf(error: unknown, url: string): string {
  const first = error instanceof AggregateError && error.errors.length > 0 ? error.errors[0] : error;
  const reason = first instanceof Error ? first.message : String(first);
  let password = '';
  try {
    password = decodeURIComponent(new URL(url).password);
  } catch {
    // Not a URL: openDatabase said so, and there is no password to mask.
  }
  return password ? reason.replaceAll(password, '***') : reason;
}

/** Connects to the server at `url` and migrates it, failing with {@link DatabaseUrlError}. */
async function migrateServer(url: string): Promise<void> {
  try {
    const db = await openDatabase({ url });
    try {
      await migrate(db);
    } finally {
      await db.close();
    }
  } catch (error) {
    throw new DatabaseUrlError(serverOf(url), reasonOf(error, url), error);
  }
}

/**
 * Fails with {@link CorruptStateError} when `dataDir` holds a PostgreSQL data directory of another
 * major version than {@link EMBEDDED_POSTGRES_MAJOR_VERSION}, which PGlite refuses with only "PGlite
 * failed to initialize properly". Nothing to check in a directory without `PG_VERSION` (a new one).
 */
function checkDataDirVersion(dataDir: string): void {
  let version: string;
  try {
    version = readFileSync(join(dataDir, 'PG_VERSION'), 'utf8').trim();
  } catch {
    return;
  }
  if (version === String(EMBEDDED_POSTGRES_MAJOR_VERSION)) return;
  throw new CorruptStateError(
    dataDir,
    /^\d+$/.test(version)
      ? `a PostgreSQL data directory of version ${version}, this one runs ${EMBEDDED_POSTGRES_MAJOR_VERSION}`
      : 'not a PostgreSQL data directory (its PG_VERSION is not a version number)',
  );
}

/**
 * Whether `error` is PGlite failing to start on its data directory: its own "failed to initialize"
 * or the WebAssembly abort a damaged file makes PostgreSQL's code hit.
 */
function isDataDirFailure(error: unknown): boolean {
  return (
    error instanceof WebAssembly.RuntimeError ||
    (error instanceof Error && error.message === 'PGlite failed to initialize properly')
  );
}

/** The database the local services use. */
export interface LocalDatabase {
  readonly url: string;
  /** `embedded` (PGlite over the wire protocol) or `external` (the server at `DATABASE_URL`). */
  readonly kind: 'embedded' | 'external';
  /**
   * What a process using {@link url} gets in its environment besides `DATABASE_URL`: the embedded
   * server's `clientEnvironment` (no answer limit, `DATABASE_ANSWER_TIMEOUT_MS=0`), nothing for a
   * real server, whose clients keep their limits as on AWS.
   */
  readonly clientEnvironment: Readonly<Record<string, string>>;
  close(): Promise<void>;
}

/**
 * Gives the services a migrated PostgreSQL: the server at `url` when one is given (as with
 * `DATABASE_URL`), otherwise embedded PGlite served over the wire protocol on loopback, its data
 * in `dataDir` so it survives restarts.
 */
export async function startLocalDatabase(options: LocalDatabaseOptions): Promise<LocalDatabase> {
  if (options.url) {
    await migrateServer(options.url);
    return { url: options.url, kind: 'external', clientEnvironment: {}, close: async () => undefined };
  }
  if (options.dataDir !== undefined) checkDataDirVersion(options.dataDir);
  let embedded: Awaited<ReturnType<typeof startEmbeddedPostgres>>;
  try {
    embedded = await startEmbeddedPostgres({
      dataDir: options.dataDir,
      host: options.host,
      port: options.port,
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new DatabasePortInUseError(options.port ?? 0, error);
    }
    if (options.dataDir !== undefined && isDataDirFailure(error)) {
      // PGlite's own words too: a PGlite fault or an out-of-memory abort reads the same, and the
      // advice to clear the directory should not hide it.
      throw new CorruptStateError(
        options.dataDir,
        `a PostgreSQL data directory PGlite cannot open (${(error as Error).message})`,
        { cause: error },
      );
    }
    throw error;
  }
  return {
    url: embedded.url,
    kind: 'embedded',
    clientEnvironment: embedded.clientEnvironment,
    close: () => embedded.close(),
  };
}
