import { Transform, type TransformCallback, Writable } from 'node:stream';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type {
  ImportFailure,
  ImportResult,
  UserImportStore,
  UserImportTransaction,
} from '../domain/user-import-store.ts';
import type { UserRow } from '../domain/validate-row.ts';
import { JobNotRunnableError } from '../errors.ts';

/**
 * How rows reach the staging table. `copy`: one `COPY ... FROM STDIN` stream (pg-copy-streams), the
 * fast path for PostgreSQL. `insert`: multi-row `INSERT ... SELECT FROM unnest(...)` in batches, for
 * servers that cannot take COPY FROM STDIN over the wire: PGlite's socket server (the local cloud's
 * embedded database) loses protocol sync on it (electric-sql/pglite#1028, open). `auto` picks
 * `insert` only when the server says it is PGlite, so any real PostgreSQL (RDS, or `DATABASE_URL`
 * locally) runs the COPY path.
 */
export type StagingMethod = 'copy' | 'insert' | 'auto';

/** Options of {@link PostgresUserImportStore.connect}. */
export interface PostgresUserImportStoreOptions {
  /** `postgres://...`, from `resolveDatabaseUrl`. */
  readonly url: string;
  /** @default 'auto' */
  readonly staging?: StagingMethod;
  /** Rows per INSERT on the `insert` path. @default 1000 */
  readonly insertBatchSize?: number;
}

const STAGING_COLUMNS = '(line, external_id, email, name, attributes)';

/**
 * The import's staging table: a temporary table (no WAL, no index, private to the session) that
 * lives only as long as the import's transaction, so nothing is ever left behind to clean up.
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
 * The merge. `DISTINCT ON` keeps the last row of an id that appears twice in the file: one INSERT
 * may not update the same row twice ("ON CONFLICT DO UPDATE command cannot affect row a second
 * time"). Sorting by id also makes concurrent imports lock users in the same order (no deadlock).
 * The WHERE clause skips rows that would not change, so a re-run rewrites nothing.
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
  readonly #url: string;
  readonly #method: 'copy' | 'insert';
  readonly #insertBatchSize: number;
  #closed: Promise<void> | undefined;

  private constructor(client: pg.Client, url: string, method: 'copy' | 'insert', insertBatchSize: number) {
    this.#client = client;
    this.#url = url;
    this.#method = method;
    this.#insertBatchSize = insertBatchSize;
  }

  /** Opens the import's connection and settles the staging method. */
  static async connect(options: PostgresUserImportStoreOptions): Promise<PostgresUserImportStore> {
    const client = new pg.Client({
      connectionString: options.url,
      application_name: 'sidestep-batch-worker',
    });
    // A connection lost mid-import surfaces as the failing query's error; without a listener the
    // client's 'error' event would crash the process before the failure could be recorded.
    client.on('error', () => {});
    await client.connect();
    try {
      let method = options.staging ?? 'auto';
      if (method === 'auto') {
        const { rows } = await client.query<{ version: string }>('SELECT version()');
        method = rows[0]?.version.includes('PGlite') ? 'insert' : 'copy';
      }
      return new PostgresUserImportStore(client, options.url, method, options.insertBatchSize ?? 1000);
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
    const client = new pg.Client({ connectionString: this.#url, application_name: 'sidestep-batch-worker' });
    client.on('error', () => {});
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
      checkJob: async (jobId) => {
        const { rows } = await client.query<{ kind: string; state: string }>(
          'SELECT kind, state FROM jobs WHERE id = $1',
          [jobId],
        );
        const job = rows[0];
        if (!job) throw new JobNotRunnableError(jobId, 'no such job', undefined);
        if (job.kind !== 'import')
          throw new JobNotRunnableError(jobId, `is an ${job.kind} job, not an import`, job.state);
        if (job.state !== 'running') {
          throw new JobNotRunnableError(
            jobId,
            `is ${job.state}, an import runs only on a running job`,
            job.state,
          );
        }
      },
      stagingStreams: () =>
        this.#method === 'copy'
          ? [
              new CopyTextEncoder(),
              client.query(copyFrom(`COPY import_staging ${STAGING_COLUMNS} FROM STDIN`)),
            ]
          : [new InsertBatchWriter(client, this.#insertBatchSize)],
      merge: async ({ hasNameColumn }) => (await client.query(mergeSql(hasNameColumn))).rowCount ?? 0,
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

/** Bytes handed to COPY per write: one CopyData message per ~64 KiB instead of one per row. */
const COPY_CHUNK_CHARS = 64 * 1024;

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
 * One field in COPY's text format (https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.2):
 * backslash, tab, newline and carriage return escaped. Text format rather than CSV: it needs no
 * quoting, only these four escapes, which most values do not contain.
 */
export function copyTextField(value: string): string {
  return COPY_SPECIAL.test(value) ? value.replace(COPY_SPECIAL_ALL, (c) => COPY_ESCAPES[c] as string) : value;
}

/** `UserRow` objects in, COPY text out in ~64 KiB chunks. */
class CopyTextEncoder extends Transform {
  #buffer = '';

  constructor() {
    super({ writableObjectMode: true });
  }

  override _transform(row: UserRow, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#buffer += `${row.line}\t${copyTextField(row.externalId)}\t${copyTextField(row.email)}\t${
      row.name === null ? '\\N' : copyTextField(row.name)
    }\t${copyTextField(row.attributes)}\n`;
    if (this.#buffer.length >= COPY_CHUNK_CHARS) {
      const chunk = this.#buffer;
      this.#buffer = '';
      callback(null, chunk);
      return;
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    callback(null, this.#buffer === '' ? undefined : this.#buffer);
  }
}

/**
 * `UserRow` objects in, one `INSERT ... SELECT FROM unnest(...)` per batch. Holds at most one batch
 * of rows, so memory stays bounded as on the COPY path.
 */
class InsertBatchWriter extends Writable {
  readonly #client: pg.Client;
  readonly #batchSize: number;
  #columns: [number[], string[], string[], (string | null)[], string[]] = [[], [], [], [], []];

  constructor(client: pg.Client, batchSize: number) {
    super({ objectMode: true, highWaterMark: batchSize });
    this.#client = client;
    this.#batchSize = batchSize;
  }

  override _write(row: UserRow, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const [lines, ids, emails, names, attributes] = this.#columns;
    lines.push(row.line);
    ids.push(row.externalId);
    emails.push(row.email);
    names.push(row.name);
    attributes.push(row.attributes);
    if (lines.length < this.#batchSize) {
      callback();
      return;
    }
    this.#insert().then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#insert().then(() => callback(), callback);
  }

  async #insert(): Promise<void> {
    const columns = this.#columns;
    if (columns[0].length === 0) return;
    this.#columns = [[], [], [], [], []];
    await this.#client.query(
      `INSERT INTO import_staging ${STAGING_COLUMNS}
       SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::jsonb[])`,
      columns,
    );
  }
}
