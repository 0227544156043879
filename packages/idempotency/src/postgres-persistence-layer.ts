import type { JSONValue } from '@aws-lambda-powertools/commons/types';
import {
  IdempotencyItemAlreadyExistsError,
  IdempotencyItemNotFoundError,
  IdempotencyRecordStatus,
} from '@aws-lambda-powertools/idempotency';
import { BasePersistenceLayer, IdempotencyRecord } from '@aws-lambda-powertools/idempotency/persistence';
import type { IdempotencyRecordStatusValue } from '@aws-lambda-powertools/idempotency/types';
import type { Queryable } from '@sidestep/db';
import { IdempotencyOutcomeUnknownError, PostgresPersistenceLayerOptionsError } from './errors.ts';

/** Options of {@link PostgresPersistenceLayer}. */
export interface PostgresPersistenceLayerOptions {
  /**
   * Where the records live: a database, or a function that opens one on first use (so a Lambda can
   * resolve its URL, e.g. from Secrets Manager, lazily). A failed open is retried on the next call.
   */
  readonly database: Queryable | (() => Promise<Queryable>);
  /**
   * Table with the columns of `@sidestep/db`'s migration 1, optionally schema-qualified.
   * @default 'idempotency_records'
   */
  readonly tableName?: string;
  /**
   * Whether an attempt that stayed INPROGRESS past its in-progress window (its Lambda crashed or
   * timed out) may be taken over and run again, as in Powertools' DynamoDB layer (at least once).
   * `false` makes such a put throw {@link IdempotencyOutcomeUnknownError} instead (at most once), for
   * steps whose side effect must never happen twice, such as sending a mail. Either way the guarantee
   * holds within the record's lifetime (`expiresAfterSeconds`); an expired record is replaced.
   * @default true
   */
  readonly reclaimExpiredInProgress?: boolean;
}

interface RecordRow {
  id: string;
  status: string;
  expiry_timestamp: string | number;
  in_progress_expiry_timestamp: string | number | null;
  /** `data::text`: parsed here, so that JSON null and SQL NULL (no result) stay apart. */
  data: string | null;
  validation_key: string | null;
}

const columns =
  'id, status, expiry_timestamp, in_progress_expiry_timestamp, data::text AS data, validation_key';

/** How often a put retries when the conflicting record vanished before it could be read. */
const putAttempts = 3;

/**
 * Powertools idempotency persistence on PostgreSQL (RDS, or PGlite locally), with the semantics of
 * Powertools' DynamoDB layer: a key can be claimed when it has no record, when its record expired,
 * or when its record is INPROGRESS past its in-progress window.
 *
 * The claim is one `INSERT ... ON CONFLICT DO UPDATE ... WHERE <reclaimable>` statement, so two
 * concurrent invocations with the same key cannot both claim it: PostgreSQL serialises them on the
 * key's unique index and the loser sees the winner's record.
 *
 * @example
 * ```ts
 * const persistenceStore = new PostgresPersistenceLayer({
 *   database: () => openDatabase({ url: process.env.DATABASE_URL, max: 2 }),
 * });
 * export const handler = makeIdempotent(process, { persistenceStore });
 * ```
 */
export class PostgresPersistenceLayer extends BasePersistenceLayer {
  readonly #database: PostgresPersistenceLayerOptions['database'];
  #opened: Promise<Queryable> | undefined;
  readonly #table: string;
  readonly #reclaimExpiredInProgress: boolean;

  /** @throws {PostgresPersistenceLayerOptionsError} `tableName` is not a plain (schema.)identifier. */
  constructor(options: PostgresPersistenceLayerOptions) {
    super();
    const tableName = options.tableName ?? 'idempotency_records';
    // The name is interpolated into SQL (identifiers cannot be parameters), so only plain identifiers.
    if (!/^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/.test(tableName)) {
      throw new PostgresPersistenceLayerOptionsError(
        'tableName',
        'must be a lowercase identifier, optionally schema-qualified',
      );
    }
    this.#table = tableName;
    this.#database = options.database;
    this.#reclaimExpiredInProgress = options.reclaimExpiredInProgress ?? true;
  }

  /**
   * Deletes records whose lifetime ended before `now` and returns how many. PostgreSQL has no TTL
   * like DynamoDB; run this from a schedule to keep the table small. Expired records are ignored by
   * the store anyway, so this is housekeeping only.
   */
  async purgeExpired(now: Date = new Date()): Promise<number> {
    const db = await this.#db();
    const result = await db.query(
      `DELETE FROM ${this.#table} WHERE expiry_timestamp < $1::double precision`,
      [now.getTime() / 1000],
    );
    return result.rowCount;
  }

  protected async _putRecord(record: IdempotencyRecord): Promise<void> {
    const db = await this.#db();
    for (let attempt = 1; attempt <= putAttempts; attempt++) {
      const now = Date.now();
      const claimed = await db.query(
        `INSERT INTO ${this.#table} AS existing
           (id, status, expiry_timestamp, in_progress_expiry_timestamp, validation_key, data, created_at)
         VALUES ($1, $2, $3, $4, $5, NULL, now())
         ON CONFLICT (id) DO UPDATE SET
           status = excluded.status,
           expiry_timestamp = excluded.expiry_timestamp,
           in_progress_expiry_timestamp = excluded.in_progress_expiry_timestamp,
           validation_key = excluded.validation_key,
           data = NULL,
           created_at = excluded.created_at
         WHERE existing.expiry_timestamp < $6::double precision
            OR ($7::boolean AND existing.status = 'INPROGRESS'
                AND existing.in_progress_expiry_timestamp < $8::bigint)
         RETURNING id`,
        [
          record.idempotencyKey,
          record.getStatus(),
          record.expiryTimestamp,
          record.inProgressExpiryTimestamp === undefined
            ? null
            : Math.round(record.inProgressExpiryTimestamp),
          this.isPayloadValidationEnabled() ? (record.payloadHash ?? null) : null,
          // Seconds with a fraction, as IdempotencyRecord.isExpired() and the DynamoDB layer compare.
          now / 1000,
          this.#reclaimExpiredInProgress,
          now,
        ],
      );
      if (claimed.rowCount === 1) return;

      // The key is taken. Read the record in a second statement: within the claim statement, a
      // record committed by a concurrent claimer is visible to ON CONFLICT but not to a SELECT.
      const existing = await this.#find(db, record.idempotencyKey);
      if (!existing) continue; // deleted meanwhile (its function failed): try to claim it again
      if (
        !this.#reclaimExpiredInProgress &&
        existing.getStatus() === IdempotencyRecordStatus.INPROGRESS &&
        existing.inProgressExpiryTimestamp !== undefined &&
        existing.inProgressExpiryTimestamp < now
      ) {
        throw new IdempotencyOutcomeUnknownError(record.idempotencyKey, existing.inProgressExpiryTimestamp);
      }
      throw new IdempotencyItemAlreadyExistsError(
        `Failed to put record for already existing idempotency key: ${record.idempotencyKey}`,
        existing,
      );
    }
    // Claimed and deleted by others three times in a row: let Powertools read whatever is there now.
    throw new IdempotencyItemAlreadyExistsError(
      `Failed to put record for contended idempotency key: ${record.idempotencyKey}`,
    );
  }

  protected async _getRecord(idempotencyKey: string): Promise<IdempotencyRecord> {
    const found = await this.#find(await this.#db(), idempotencyKey);
    if (!found)
      throw new IdempotencyItemNotFoundError(`Item does not exist in persistence store: ${idempotencyKey}`);
    return found;
  }

  protected async _updateRecord(record: IdempotencyRecord): Promise<void> {
    const db = await this.#db();
    const validation = this.isPayloadValidationEnabled();
    await db.query(
      `UPDATE ${this.#table}
         SET status = $2, expiry_timestamp = $3, data = $4::text::jsonb
             ${validation ? ', validation_key = $5' : ''}
       WHERE id = $1`,
      [
        record.idempotencyKey,
        record.getStatus(),
        record.expiryTimestamp,
        // Serialised here and cast from text so both drivers store the same JSON (PGlite would
        // otherwise serialise a string parameter for a jsonb column a second time).
        record.responseData === undefined ? null : JSON.stringify(record.responseData),
        ...(validation ? [record.payloadHash ?? null] : []),
      ],
    );
  }

  protected async _deleteRecord(record: IdempotencyRecord): Promise<void> {
    const db = await this.#db();
    await db.query(`DELETE FROM ${this.#table} WHERE id = $1`, [record.idempotencyKey]);
  }

  async #find(db: Queryable, idempotencyKey: string): Promise<IdempotencyRecord | undefined> {
    const { rows } = await db.query<RecordRow>(`SELECT ${columns} FROM ${this.#table} WHERE id = $1`, [
      idempotencyKey,
    ]);
    const row = rows[0];
    if (!row) return undefined;
    return new IdempotencyRecord({
      idempotencyKey: row.id,
      status: row.status as IdempotencyRecordStatusValue,
      // bigint columns arrive as strings (pg semantics on both backends); epoch values fit a double.
      expiryTimestamp: Number(row.expiry_timestamp),
      ...(row.in_progress_expiry_timestamp === null
        ? {}
        : { inProgressExpiryTimestamp: Number(row.in_progress_expiry_timestamp) }),
      ...(row.data === null ? {} : { responseData: JSON.parse(row.data) as JSONValue }),
      ...(row.validation_key === null ? {} : { payloadHash: row.validation_key }),
    });
  }

  #db(): Promise<Queryable> {
    if (!this.#opened) {
      const database = this.#database;
      const opened = typeof database === 'function' ? database() : Promise.resolve(database);
      this.#opened = opened;
      // Only a successful open is kept, so a failed connect is retried by the next invocation.
      opened.catch(() => {
        if (this.#opened === opened) this.#opened = undefined;
      });
    }
    return this.#opened;
  }
}
