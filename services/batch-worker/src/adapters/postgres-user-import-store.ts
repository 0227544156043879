import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type {
  ImportFailure,
  ImportResult,
  UserImportStore,
  UserImportTransaction,
  UserWriter,
} from '../domain/user-import-store.ts';
import type { UserRow } from '../domain/validate-row.ts';
import { checkRunningJob } from './check-running-job.ts';
import { type WorkerConnection, workerClient } from './worker-client.ts';

/**
 * How rows reach the staging table. `copy`: `COPY ... FROM STDIN` (pg-copy-streams), on every
 * database: the local cloud's embedded PGlite takes it too, since @sidestep/db's embedded server
 * buffers the copy sub-protocol (electric-sql/pglite#1028), so local runs take the deployed path.
 * `insert`: multi-row `INSERT ... SELECT FROM unnest(...)`, kept only as an explicit choice for
 * comparison until the import redesign removes it. `auto` is `copy`.
 */
export type StagingMethod = 'copy' | 'insert' | 'auto';

/** Options of {@link PostgresUserImportStore.connect}. */
export interface PostgresUserImportStoreOptions extends WorkerConnection {
  /** @default 'auto' */
  readonly staging?: StagingMethod;
  /**
   * Encoded characters staged and merged at a time (~25,000 rows of ~80 characters). Bounds the
   * worker's memory (at most two chunks: one being merged while the next is parsed) and the staging
   * table's size. Measured (bench/): 2 MiB and 8 MiB chunks import at the same rate; 2 MiB peaks at
   * ~310 MiB RSS for 1M rows, 8 MiB at ~470 MiB. @default 2 MiB
   */
  readonly chunkChars?: number;
  /** Rows per INSERT on the `insert` path. @default 1000 */
  readonly insertBatchSize?: number;
}

const STAGING_COLUMNS = '(line, external_id, email, name, attributes)';

/**
 * The import's staging table: temporary (no WAL, no index, private to the session), dropped at the
 * end of the import's transaction, so nothing is ever left behind to clean up.
 */
const CREATE_STAGING = `
  CREATE TEMPORARY TABLE import_staging (
    line bigint NOT NULL,
    external_id text NOT NULL,
    email text NOT NULL,
    name text,
    attributes jsonb NOT NULL
  ) ON COMMIT DROP`;

/**
 * The merge of one staged chunk. `DISTINCT ON` keeps the last row of an id that appears twice in the
 * chunk: one INSERT may not update the same row twice ("ON CONFLICT DO UPDATE command cannot affect
 * row a second time"); across chunks, the later chunk's statement simply updates the row again, so the
 * file's last row wins. Sorting by id also makes concurrent imports lock users in the same order. The
 * WHERE clause skips rows that would not change, so a re-run rewrites nothing. Attributes merge (the
 * file's columns override); without a `name` column existing names are kept.
 */
function mergeSql(hasNameColumn: boolean): string {
  const name = hasNameColumn ? 'excluded.name' : 'users.name';
  return `
    INSERT INTO users (external_id, email, name, attributes)
    SELECT DISTINCT ON (external_id) external_id, email, name, attributes
    FROM import_staging
    ORDER BY external_id, line DESC
    ON CONFLICT (external_id) DO UPDATE SET
      email = excluded.email,
      name = ${name},
      attributes = users.attributes || excluded.attributes,
      updated_at = now()
    WHERE (users.email, users.name, users.attributes)
      IS DISTINCT FROM (excluded.email, ${name}, users.attributes || excluded.attributes)`;
}

/**
 * {@link UserImportStore} on PostgreSQL through one `pg` connection. The Database abstraction of
 * `@sidestep/db` is not used for the import itself: COPY needs the raw connection it hides.
 */
export class PostgresUserImportStore implements UserImportStore {
  readonly #client: pg.Client;
  readonly #connection: WorkerConnection;
  readonly #method: 'copy' | 'insert';
  readonly #chunkChars: number;
  readonly #insertBatchSize: number;
  #closed: Promise<void> | undefined;

  private constructor(
    client: pg.Client,
    connection: WorkerConnection,
    method: 'copy' | 'insert',
    options: PostgresUserImportStoreOptions,
  ) {
    this.#client = client;
    this.#connection = connection;
    this.#method = method;
    this.#chunkChars = options.chunkChars ?? 2 * 1024 * 1024;
    this.#insertBatchSize = options.insertBatchSize ?? 1000;
  }

  /** Opens the import's connection and settles the staging method. */
  static async connect(options: PostgresUserImportStoreOptions): Promise<PostgresUserImportStore> {
    const client = workerClient(options);
    await client.connect();
    try {
      const method = options.staging === 'insert' ? 'insert' : 'copy';
      return new PostgresUserImportStore(client, options, method, options);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
  }

  /** The staging method in use. */
  get stagingMethod(): 'copy' | 'insert' {
    return this.#method;
  }

  async transaction<T>(fn: (tx: UserImportTransaction) => Promise<T>): Promise<T> {
    const client = this.#client;
    await client.query('BEGIN');
    try {
      // Each chunk's merge sorts it by id: enough memory keeps that sort off disk.
      await client.query(`SET LOCAL work_mem = '64MB'`);
      await client.query(CREATE_STAGING);
      const result = await fn(this.#transactionApi());
      await client.query('COMMIT');
      return result;
    } catch (error) {
      // If the connection itself is gone the server has already rolled back.
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    }
  }

  async recordFailure(jobId: string, failure: ImportFailure): Promise<void> {
    // A connection of its own: the import's connection may be the very thing that failed.
    const client = workerClient(this.#connection);
    await client.connect();
    try {
      await client.query(
        `UPDATE jobs SET worker_error = $2, rows_rejected = $3, row_errors = $4::jsonb, updated_at = now()
         WHERE id = $1`,
        [jobId, failure.reason, failure.rowsRejected, JSON.stringify(failure.rowErrors)],
      );
    } finally {
      await client.end().catch(() => {});
    }
  }

  close(): Promise<void> {
    this.#closed ??= this.#client.end().catch(() => {});
    return this.#closed;
  }

  #transactionApi(): UserImportTransaction {
    const client = this.#client;
    return {
      checkJob: (jobId) => checkRunningJob(client, jobId, 'import'),
      userWriter: (options) =>
        new ChunkedMergeWriter({
          client,
          method: this.#method,
          chunkChars: this.#chunkChars,
          insertBatchSize: this.#insertBatchSize,
          hasNameColumn: options.hasNameColumn,
        }),
      recordResult: async (jobId, result: ImportResult) => {
        await client.query(
          `UPDATE jobs SET rows_total = $2, rows_imported = $3, rows_rejected = $4, row_errors = $5::jsonb,
             worker_error = NULL, updated_at = now()
           WHERE id = $1`,
          [
            jobId,
            result.rowsTotal,
            result.rowsImported,
            result.rowsRejected,
            JSON.stringify(result.rowErrors),
          ],
        );
      },
    };
  }
}

/** Characters COPY's text format gives a meaning to, escaped as it documents. */
const COPY_SPECIAL = /[\\\t\n\r]/;
const COPY_SPECIAL_ALL = /[\\\t\n\r]/g;
const COPY_ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  '\t': '\\t',
  '\n': '\\n',
  '\r': '\\r',
};

/**
 * One field in COPY's text format (https://www.postgresql.org/docs/current/sql-copy.html, "Text
 * Format"): backslash, tab, newline and carriage return escaped. Text rather than CSV format: no
 * quoting, only these four escapes, which most values do not contain.
 */
export function copyTextField(value: string): string {
  return COPY_SPECIAL.test(value) ? value.replace(COPY_SPECIAL_ALL, (c) => COPY_ESCAPES[c] as string) : value;
}

/** One row as a line of COPY text. */
function copyTextLine(row: UserRow): string {
  const name = row.name === null ? '\\N' : copyTextField(row.name);
  return `${row.line}\t${copyTextField(row.externalId)}\t${copyTextField(row.email)}\t${name}\t${copyTextField(row.attributes)}\n`;
}

/** Characters handed to COPY per write: one CopyData message per ~64 KiB instead of one per row. */
const COPY_PIECE_CHARS = 64 * 1024;

/** A chunk being filled: COPY text (done pieces as bytes, plus the piece being built), or column arrays for `unnest`. */
interface Chunk {
  readonly pieces: Buffer[];
  piece: string;
  readonly columns: [number[], string[], string[], (string | null)[], string[]];
  chars: number;
  rows: number;
}

const emptyChunk = (): Chunk => ({ pieces: [], piece: '', columns: [[], [], [], [], []], chars: 0, rows: 0 });

/**
 * `UserRow` objects in; staged and merged into `users` one chunk at a time, inside the import's
 * transaction. While PostgreSQL stages and merges one chunk (COPY, then the merge, then TRUNCATE of
 * the staging table), the next is parsed and encoded: the two cores work at once, and at most two
 * chunks are in memory. The stream finishes when the last chunk is merged; {@link usersWritten}
 * then holds the total.
 */
class ChunkedMergeWriter extends Writable implements UserWriter {
  readonly #client: pg.Client;
  readonly #method: 'copy' | 'insert';
  readonly #chunkChars: number;
  readonly #insertBatchSize: number;
  readonly #hasNameColumn: () => boolean;
  #chunk = emptyChunk();
  /** The chunk PostgreSQL is working on, if any. */
  #inFlight: Promise<void> | undefined;
  #activeCopy: Writable | undefined;
  #usersWritten = 0;

  constructor(options: {
    client: pg.Client;
    method: 'copy' | 'insert';
    chunkChars: number;
    insertBatchSize: number;
    hasNameColumn: () => boolean;
  }) {
    super({ objectMode: true, highWaterMark: 1024 });
    this.#client = options.client;
    this.#method = options.method;
    this.#chunkChars = options.chunkChars;
    this.#insertBatchSize = options.insertBatchSize;
    this.#hasNameColumn = options.hasNameColumn;
  }

  get usersWritten(): number {
    return this.#usersWritten;
  }

  override _write(row: UserRow, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const chunk = this.#chunk;
    if (this.#method === 'copy') {
      const line = copyTextLine(row);
      chunk.piece += line;
      // Concatenated strings are trees of every part (V8 cons strings, ~20 objects per row here):
      // encoding each full piece to bytes at once keeps a chunk a few flat buffers, not a million
      // small heap objects that outlive young-generation GC while the chunk waits for its merge.
      if (chunk.piece.length >= COPY_PIECE_CHARS) {
        chunk.pieces.push(Buffer.from(chunk.piece));
        chunk.piece = '';
      }
      chunk.chars += line.length;
    } else {
      const [lines, ids, emails, names, attributes] = chunk.columns;
      lines.push(row.line);
      ids.push(row.externalId);
      emails.push(row.email);
      names.push(row.name);
      attributes.push(row.attributes);
      chunk.chars +=
        row.externalId.length + row.email.length + (row.name?.length ?? 0) + row.attributes.length;
    }
    chunk.rows++;
    if (chunk.chars < this.#chunkChars) {
      callback();
      return;
    }
    this.#dispatch().then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#dispatch()
      .then(() => this.#inFlight)
      .then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Aborted (SIGTERM) or failed upstream: end an open COPY with CopyFail so the connection is
    // usable for the ROLLBACK, and let a running statement finish before the stream reports done.
    this.#activeCopy?.destroy(error ?? new Error('import aborted'));
    const settled = this.#inFlight?.then(
      () => {},
      () => {},
    );
    (settled ?? Promise.resolve()).then(() => callback(error));
  }

  /** Hands the filled chunk to PostgreSQL once the previous one is done (at most one in flight). */
  async #dispatch(): Promise<void> {
    const chunk = this.#chunk;
    if (chunk.rows === 0) return;
    this.#chunk = emptyChunk();
    await this.#inFlight;
    // Destroyed (aborted, or a chunk failed) while waiting: the transaction is being rolled back, and
    // a statement sent now could run after the ROLLBACK, outside any transaction.
    if (this.destroyed) throw new Error('the import stream was destroyed');
    const work = this.#stageAndMerge(chunk);
    this.#inFlight = work;
    // A failure surfaces at once (the pipeline stops reading), not only when the next chunk is full.
    work.catch((error: unknown) => this.destroy(error as Error));
  }

  async #stageAndMerge(chunk: Chunk): Promise<void> {
    const client = this.#client;
    if (this.#method === 'copy') {
      const copy = client.query(copyFrom(`COPY import_staging ${STAGING_COLUMNS} FROM STDIN`));
      this.#activeCopy = copy;
      try {
        if (chunk.piece !== '') chunk.pieces.push(Buffer.from(chunk.piece));
        await pipeline(Readable.from(chunk.pieces), copy);
      } finally {
        this.#activeCopy = undefined;
      }
    } else {
      const [lines, ids, emails, names, attributes] = chunk.columns;
      for (let start = 0; start < lines.length; start += this.#insertBatchSize) {
        const end = start + this.#insertBatchSize;
        await client.query(
          `INSERT INTO import_staging ${STAGING_COLUMNS}
           SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::jsonb[])`,
          [
            lines.slice(start, end),
            ids.slice(start, end),
            emails.slice(start, end),
            names.slice(start, end),
            attributes.slice(start, end),
          ],
        );
      }
    }
    if (this.destroyed) throw new Error('the import stream was destroyed');
    const merged = await client.query(mergeSql(this.#hasNameColumn()));
    this.#usersWritten += merged.rowCount ?? 0;
    await client.query('TRUNCATE import_staging');
  }
}
