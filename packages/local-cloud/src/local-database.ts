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

/** What this module uses of `@sidestep/db`. */
interface DatabaseModule {
  startEmbeddedPostgres(options: { dataDir?: string; host?: string; port?: number }): Promise<{
    url: string;
    close(): Promise<void>;
  }>;
  openDatabase(options: { url: string }): unknown;
  migrate(db: unknown): Promise<unknown>;
}

/**
 * Gives the services a migrated PostgreSQL: the server at `url` when one is given (as with
 * `DATABASE_URL`), otherwise embedded PGlite served over the wire protocol.
 * `@sidestep/db` is imported only here, when a service needs a database, because loading PGlite
 * costs ~300 MB and a second or two that a cloud without database services should not pay.
 */
export async function startLocalDatabase(options: LocalDatabaseOptions): Promise<LocalDatabase> {
  // A computed specifier while @sidestep/db is being written; its shape is pinned by DatabaseModule.
  const specifier: string = '@sidestep/db';
  const db = (await import(specifier)) as DatabaseModule;
  if (options.url) {
    const connection = db.openDatabase({ url: options.url });
    try {
      await db.migrate(connection);
    } finally {
      await destroy(connection);
    }
    return { url: options.url, kind: 'external', close: async () => undefined };
  }
  const embedded = await db.startEmbeddedPostgres({
    dataDir: options.dataDir,
    host: options.host,
    port: options.port,
  });
  return { url: embedded.url, kind: 'embedded', close: () => embedded.close() };
}

/** Closes whatever handle `openDatabase` returned (Kysely has `destroy`, pg pools `end`). */
async function destroy(connection: unknown): Promise<void> {
  const handle = connection as { destroy?: () => Promise<void>; end?: () => Promise<void> };
  if (typeof handle.destroy === 'function') await handle.destroy();
  else if (typeof handle.end === 'function') await handle.end();
}
