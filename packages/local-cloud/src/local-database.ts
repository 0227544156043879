import { migrate, openDatabase, startEmbeddedPostgres } from '@sidestep/db';

/** Options of {@link startLocalDatabase}. */
export interface LocalDatabaseOptions {
  /** A real PostgreSQL server to use instead of the embedded one; it is migrated. */
  readonly url?: string;
  /** Where the embedded database keeps its data. */
  readonly dataDir: string;
  readonly host: string;
  /** Port of the embedded server (0 picks a free one). */
  readonly port: number;
}

/** The database the local services use. */
export interface LocalDatabase {
  readonly url: string;
  /** `embedded` (PGlite over the wire protocol) or `external` (the server at `DATABASE_URL`). */
  readonly kind: 'embedded' | 'external';
  close(): Promise<void>;
}

/**
 * Gives the services a migrated PostgreSQL: the server at `url` when one is given (as with
 * `DATABASE_URL`), otherwise embedded PGlite served over the wire protocol on loopback, its data
 * in `dataDir` so it survives restarts.
 */
export async function startLocalDatabase(options: LocalDatabaseOptions): Promise<LocalDatabase> {
  if (options.url) {
    const db = await openDatabase({ url: options.url });
    try {
      await migrate(db);
    } finally {
      await db.close();
    }
    return { url: options.url, kind: 'external', close: async () => undefined };
  }
  const embedded = await startEmbeddedPostgres({
    dataDir: options.dataDir,
    host: options.host,
    port: options.port,
  });
  return { url: embedded.url, kind: 'embedded', close: () => embedded.close() };
}
