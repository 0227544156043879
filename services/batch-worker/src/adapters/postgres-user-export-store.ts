import type pg from 'pg';
import { EXPORT_SESSION_SETTINGS } from '../domain/export-query.ts';
import type { CopyOutStream, ExportResult, UserExportStore } from '../domain/user-export-store.ts';
import { checkRunningJob } from './check-running-job.ts';
import { CopyOutQuery } from './copy-out-query.ts';
import { type WorkerConnection, workerClient } from './worker-client.ts';

/** Options of {@link PostgresUserExportStore.connect}. */
export interface PostgresUserExportStoreOptions extends WorkerConnection {}

/**
 * {@link UserExportStore} on PostgreSQL through one `pg` connection (COPY TO STDOUT needs the raw
 * connection, as the import's COPY FROM does). The session is set to
 * {@link EXPORT_SESSION_SETTINGS} once, at connect, so timestamps are written in UTC whatever the
 * role's defaults. COPY TO works over PGlite's socket server too (only COPY FROM STDIN loses protocol
 * sync there), so every backend takes the same path. The COPY's messages are decoded by
 * {@link CopyOutQuery}.
 */
export class PostgresUserExportStore implements UserExportStore {
  readonly #client: pg.Client;
  readonly #connection: WorkerConnection;
  #closed: Promise<void> | undefined;

  private constructor(client: pg.Client, connection: WorkerConnection) {
    this.#client = client;
    this.#connection = connection;
  }

  /** Opens the export's connection. */
  static async connect(options: PostgresUserExportStoreOptions): Promise<PostgresUserExportStore> {
    const client = workerClient(options);
    await client.connect();
    try {
      for (const [name, value] of Object.entries(EXPORT_SESSION_SETTINGS)) {
        // set_config takes bound parameters; SET does not.
        await client.query('SELECT set_config($1, $2, false)', [name, value]);
      }
      return new PostgresUserExportStore(client, options);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
  }

  async checkJob(jobId: string): Promise<void> {
    await checkRunningJob(this.#client, jobId, 'export');
  }

  /**
   * Streams the COPY. A COPY cut off before its end (the pipeline aborted or failed downstream)
   * leaves the connection in the middle of COPY OUT with nobody reading, so it ends the connection:
   * `pg` destroys the socket of a client with a query in flight, and PostgreSQL stops the COPY when
   * its next write fails. Nothing is lost, the export only reads; the store is not used again.
   */
  copyOut(sql: string): CopyOutStream {
    const stream = this.#client.query(new CopyOutQuery(sql));
    stream.once('close', () => {
      if (!stream.readableEnded) void this.close();
    });
    return stream;
  }

  async recordResult(jobId: string, result: ExportResult): Promise<void> {
    await this.#client.query(
      'UPDATE jobs SET rows_total = $2, bytes = $3, worker_error = NULL, updated_at = now() WHERE id = $1',
      [jobId, result.rowsTotal, result.bytes],
    );
  }

  async recordFailure(jobId: string, reason: string): Promise<void> {
    // A connection of its own: the export's connection may be the very thing that failed, or be
    // busy with a COPY that was cut off.
    const client = workerClient(this.#connection);
    await client.connect();
    try {
      await client.query('UPDATE jobs SET worker_error = $2, updated_at = now() WHERE id = $1', [
        jobId,
        reason,
      ]);
    } finally {
      await client.end().catch(() => {});
    }
  }

  close(): Promise<void> {
    this.#closed ??= this.#client.end().catch(() => {});
    return this.#closed;
  }
}
