import { setTimeout as sleep } from 'node:timers/promises';
import type { JSONValue } from '@aws-lambda-powertools/commons/types';
import {
  IdempotencyItemAlreadyExistsError,
  IdempotencyItemNotFoundError,
  IdempotencyRecordStatus,
} from '@aws-lambda-powertools/idempotency';
import { BasePersistenceLayer, IdempotencyRecord } from '@aws-lambda-powertools/idempotency/persistence';
import type { IdempotencyRecordStatusValue } from '@aws-lambda-powertools/idempotency/types';
import type { Queryable } from '@sidestep/db';
import { isTransientDatabaseError } from '@sidestep/db/postgres';
import { IdempotencyOutcomeUnknownError, PostgresPersistenceLayerOptionsError } from './errors.ts';
import { TurnBatch } from './turn-batch.ts';

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
   * How long, in milliseconds, an outcome waits for the outcomes of the keys claimed with it before
   * it is recorded anyway (they are recorded in one statement).
   * @default 1000
   */
  readonly cohortWaitMs?: number;
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
 * How often an outcome is written (a failed call's record deleted, a done call's marked COMPLETED)
 * before the store gives up, when the database fails the statement transiently: the waits between
 * (0.1, 0.2, 0.4 and 0.8 s) ride out a dropped connection or a lock timeout, and a failover's first
 * seconds. Never past the claim's in-progress window (see {@link retryTransient}).
 */
const outcomeAttempts = 5;

/** The wait before an outcome's second attempt; each further one waits twice as long. */
const OUTCOME_RETRY_BASE_MS = 100;

/**
 * What an outcome's retry must leave of the claim's window: room for the attempt's own answer (a
 * DELETE or UPDATE of a batch's rows answers in milliseconds; a reconnect during a failover takes
 * longer) and for the caller to report its outcome before the invocation times out.
 */
const OUTCOME_RETRY_MARGIN_MS = 3000;

/**
 * How long an outcome waits for the outcomes of the keys claimed with it before it is recorded
 * anyway: bounds what a call that never finishes (a send stuck until the Lambda timeout) holds up.
 */
const COHORT_WAIT_MS = 1_000;

/**
 * The keys one claim statement won, while their outcomes come in. The outcomes are recorded together
 * once every key reported one (or after {@link COHORT_WAIT_MS}): the calls of a batch finish at
 * different moments, and the invocation waits for the last of them anyway.
 */
interface Cohort {
  /** Keys claimed with it that have not reported an outcome (an update or a delete) yet. */
  readonly pending: Set<string>;
  /** Outcomes waiting to be recorded, each with the caller waiting for it. */
  readonly waiting: { outcome: Outcome; settle: PromiseWithResolvers<void> }[];
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * Powertools idempotency persistence on PostgreSQL (RDS, or PGlite locally), with the semantics of
 * Powertools' DynamoDB layer: a key can be claimed when it has no record, when its record expired,
 * or when its record is INPROGRESS past its in-progress window.
 *
 * The claim is one `INSERT ... ON CONFLICT DO UPDATE ... WHERE <reclaimable>` statement, so two
 * concurrent invocations with the same key cannot both claim it: PostgreSQL serialises them on the
 * key's unique index and the loser sees the winner's record.
 *
 * Claims and outcomes made in the same event-loop turn share one statement each (see
 * {@link TurnBatch}): an SQS batch processed in parallel claims its keys in one round trip instead
 * of one per record. The outcomes of keys claimed together are also held until all of them came in
 * (for at most a second), so the batch records them in one statement however its calls finish.
 * Holding an outcome back widens, by that long at most, the window in which a crash leaves a done
 * call INPROGRESS (retried, or reported as outcome unknown, as after any crash before the record).
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
  readonly #cohortWaitMs: number;
  readonly #claims = new TurnBatch<IdempotencyRecord>((records) => this.#claim(records));
  readonly #updates = new TurnBatch<Outcome>((outcomes) => this.#update(outcomes));
  /** The cohort of each claimed key whose outcome has not come in yet. */
  readonly #cohorts = new Map<string, Cohort>();
  /**
   * The in-progress window's end, as its claim wrote it (null: none), of each key this store claimed
   * and has not recorded an outcome for: it tells this store's claim from a later one of the key.
   */
  readonly #claimedUntil = new Map<string, number | null>();

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
    this.#cohortWaitMs = options.cohortWaitMs ?? COHORT_WAIT_MS;
  }

  /**
   * Deletes records whose lifetime ended before `now` and returns how many. PostgreSQL has no TTL
   * like DynamoDB; run this from a schedule to keep the table small (the job-sweeper's sweep does).
   * Expired records are ignored by the store anyway, so this is housekeeping only.
   *
   * In batches of at most `limit` records, each one statement that locks only its own rows: a
   * record a concurrent call is claiming again is skipped (`SKIP LOCKED`), and two purges at once
   * delete each record once. With `batches`, it stops after that many, leaving the rest for the
   * next run, so one run never holds its locks or its time long.
   */
  async purgeExpired(
    now: Date = new Date(),
    options: { readonly limit?: number; readonly batches?: number } = {},
  ): Promise<number> {
    const db = await this.#db();
    const limit = options.limit ?? 1000;
    let deleted = 0;
    for (let batch = 0; batch < (options.batches ?? Number.POSITIVE_INFINITY); batch++) {
      // A bigint bound, the column's own type, so the expiry index serves the search (a double
      // precision one made PostgreSQL convert every row's column and read the whole table). The
      // column holds whole seconds: `expiry < ceil(now)` is exactly `expiry < now`.
      // The batch is picked once, in a MATERIALIZED CTE: as a subquery of `id IN (...)` PostgreSQL
      // may run it again for every row it joins (a nested-loop semi join), and each run skips the
      // rows this DELETE already removed and locks the next `limit`, so one statement deleted them all.
      const result = await db.query(
        `WITH batch AS MATERIALIZED (
           SELECT id FROM ${this.#table} WHERE expiry_timestamp < $1::bigint
           LIMIT $2 FOR UPDATE SKIP LOCKED
         )
         DELETE FROM ${this.#table} WHERE id IN (SELECT id FROM batch) AND expiry_timestamp < $1::bigint`,
        [Math.ceil(now.getTime() / 1000), limit],
      );
      deleted += result.rowCount;
      if (result.rowCount < limit) break;
    }
    return deleted;
  }

  protected _putRecord(record: IdempotencyRecord): Promise<void> {
    return this.#claims.add(record);
  }

  /**
   * Claims a turn's records in one `INSERT ... SELECT FROM unnest(...) ON CONFLICT DO UPDATE WHERE
   * <reclaimable> RETURNING id` (a record is claimed when its row came back) and reads the records
   * of the keys that were taken in one more statement, only when some were. A key twice in one
   * turn is claimed once; its second call meets the first's record, as a concurrent duplicate does.
   */
  async #claim(records: readonly IdempotencyRecord[], attempt = 1): Promise<PromiseSettledResult<void>[]> {
    const db = await this.#db();
    const now = Date.now();
    const first = new Map<string, IdempotencyRecord>();
    for (const record of records)
      if (!first.has(record.idempotencyKey)) first.set(record.idempotencyKey, record);
    const batch = [...first.values()];
    const claimed = await db.query<{ id: string }>(
      `INSERT INTO ${this.#table} AS existing
         (id, status, expiry_timestamp, in_progress_expiry_timestamp, validation_key, data, created_at)
       SELECT claim.id, claim.status, claim.expiry_timestamp, claim.in_progress_expiry_timestamp,
              claim.validation_key, NULL, now()
       FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[])
         AS claim(id, status, expiry_timestamp, in_progress_expiry_timestamp, validation_key)
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
        batch.map((record) => record.idempotencyKey),
        batch.map((record) => record.getStatus()),
        batch.map((record) => record.expiryTimestamp),
        batch.map(inProgressUntil),
        batch.map((record) => (this.isPayloadValidationEnabled() ? (record.payloadHash ?? null) : null)),
        // Seconds with a fraction, as IdempotencyRecord.isExpired() and the DynamoDB layer compare.
        now / 1000,
        this.#reclaimExpiredInProgress,
        now,
      ],
    );
    const won = new Set(claimed.rows.map((row) => row.id));
    const isWinner = (record: IdempotencyRecord) =>
      won.has(record.idempotencyKey) && first.get(record.idempotencyKey) === record;
    const winners = records.filter(isWinner);
    for (const record of winners) this.#claimedUntil.set(record.idempotencyKey, inProgressUntil(record));
    this.#join(winners.map((record) => record.idempotencyKey));
    const lost = records.filter((record) => !isWinner(record));
    if (lost.length === 0) return records.map(() => ({ status: 'fulfilled', value: undefined }));

    // The keys are taken. Read their records in a second statement: within the claim statement, a
    // record committed by a concurrent claimer is visible to ON CONFLICT but not to a SELECT.
    const existing = await this.#findAll(db, [...new Set(lost.map((record) => record.idempotencyKey))]);
    // A record deleted meanwhile (its function failed) is claimed again, a few times at most.
    const vanished = lost.filter((record) => !existing.has(record.idempotencyKey));
    const retried =
      vanished.length > 0 && attempt < putAttempts ? await this.#claim(vanished, attempt + 1) : [];
    const outcomeUnknown = (found: IdempotencyRecord | undefined): found is IdempotencyRecord =>
      found !== undefined &&
      !this.#reclaimExpiredInProgress &&
      found.getStatus() === IdempotencyRecordStatus.INPROGRESS &&
      found.inProgressExpiryTimestamp !== undefined &&
      found.inProgressExpiryTimestamp < now;
    // A record whose outcome is unknown is never reclaimed, so it must outlive every copy of the work
    // that may still come: each copy that meets it starts its lifetime again (a redrive of a dead
    // letter is such a copy, and may come when the record's first lifetime is nearly spent).
    const unknown = lost.filter((record) => outcomeUnknown(existing.get(record.idempotencyKey)));
    const unknownKeys = new Set(unknown.map((record) => record.idempotencyKey));
    if (unknown.length > 0) {
      await db.query(
        `UPDATE ${this.#table} AS record
           SET expiry_timestamp = greatest(record.expiry_timestamp, renewed.expiry_timestamp)
         FROM unnest($1::text[], $2::bigint[]) AS renewed(id, expiry_timestamp)
         WHERE record.id = renewed.id AND record.status = 'INPROGRESS'`,
        [unknown.map((record) => record.idempotencyKey), unknown.map((record) => record.expiryTimestamp)],
      );
    }
    return records.map((record): PromiseSettledResult<void> => {
      if (isWinner(record)) return { status: 'fulfilled', value: undefined };
      const found = existing.get(record.idempotencyKey);
      if (!found) {
        const again = retried[vanished.indexOf(record)];
        // Claimed and deleted by others three times in a row: let Powertools read whatever is there now.
        return (
          again ?? {
            status: 'rejected',
            reason: new IdempotencyItemAlreadyExistsError(
              `Failed to put record for contended idempotency key: ${record.idempotencyKey}`,
            ),
          }
        );
      }
      if (unknownKeys.has(record.idempotencyKey)) {
        return {
          status: 'rejected',
          reason: new IdempotencyOutcomeUnknownError(record.idempotencyKey, found.inProgressExpiryTimestamp),
        };
      }
      return {
        status: 'rejected',
        reason: new IdempotencyItemAlreadyExistsError(
          `Failed to put record for already existing idempotency key: ${record.idempotencyKey}`,
          found,
        ),
      };
    });
  }

  protected async _getRecord(idempotencyKey: string): Promise<IdempotencyRecord> {
    const found = await this.#find(await this.#db(), idempotencyKey);
    if (!found)
      throw new IdempotencyItemNotFoundError(`Item does not exist in persistence store: ${idempotencyKey}`);
    return found;
  }

  protected _updateRecord(record: IdempotencyRecord): Promise<void> {
    // The claim's window bounds the update's retries, as it bounds the delete's.
    const outcome: Outcome = { record, until: this.#claimedUntil.get(record.idempotencyKey) };
    this.#claimedUntil.delete(record.idempotencyKey);
    const cohort = this.#leave(record.idempotencyKey);
    if (!cohort) return this.#updates.add(outcome);
    const settle = Promise.withResolvers<void>();
    cohort.waiting.push({ outcome, settle });
    if (cohort.pending.size === 0) this.#release(cohort);
    else cohort.timer ??= setTimeout(() => this.#release(cohort), this.#cohortWaitMs);
    return settle.promise;
  }

  /** Makes the keys one claim won a cohort (a lone key needs none). */
  #join(keys: readonly string[]): void {
    if (keys.length < 2) return;
    const cohort: Cohort = { pending: new Set(keys), waiting: [] };
    for (const key of keys) {
      // A key claimed again (its earlier attempt's window passed) no longer holds up its old cohort.
      const earlier = this.#leave(key);
      if (earlier?.pending.size === 0) this.#release(earlier);
      this.#cohorts.set(key, cohort);
    }
  }

  /** Takes `key`'s outcome out of its cohort's pending ones; returns the cohort, if it had one. */
  #leave(key: string): Cohort | undefined {
    const cohort = this.#cohorts.get(key);
    if (!cohort) return undefined;
    this.#cohorts.delete(key);
    cohort.pending.delete(key);
    return cohort;
  }

  /** `key` will record no outcome: its cohort's waiting outcomes go as soon as no other is pending. */
  #stopWaitingFor(key: string): void {
    const cohort = this.#leave(key);
    if (cohort?.pending.size === 0) this.#release(cohort);
  }

  /** Records a cohort's waiting outcomes, together (they go to the update batch in one turn). */
  #release(cohort: Cohort): void {
    clearTimeout(cohort.timer);
    cohort.timer = undefined;
    for (const { outcome, settle } of cohort.waiting.splice(0))
      this.#updates.add(outcome).then(settle.resolve, settle.reject);
  }

  /**
   * Records a turn's outcomes in one `UPDATE ... FROM unnest(...)`. A transient database failure is
   * retried as a delete's is (see {@link retryTransient}), within the earliest window of the claims:
   * each call did its work, so a lost update would leave its record INPROGRESS, which passes, once
   * the window is over, for a crash mid-work (at most once: {@link IdempotencyOutcomeUnknownError}).
   * The UPDATE writes the same values however often it runs, so a retry after a lost answer is safe;
   * and it fails or succeeds for the whole batch at once.
   */
  async #update(outcomes: readonly Outcome[]): Promise<PromiseSettledResult<void>[]> {
    const db = await this.#db();
    const validation = this.isPayloadValidationEnabled();
    const records = outcomes.map((outcome) => outcome.record);
    // One row per key (a key is claimed once at a time; the last word wins if not).
    const latest = [...new Map(records.map((record) => [record.idempotencyKey, record])).values()];
    const windows = outcomes.flatMap((outcome) => (typeof outcome.until === 'number' ? [outcome.until] : []));
    const until = windows.length > 0 ? Math.min(...windows) : undefined;
    const sql = `UPDATE ${this.#table} AS record
         SET status = outcome.status, expiry_timestamp = outcome.expiry_timestamp,
             data = outcome.data::jsonb
             ${validation ? ', validation_key = outcome.validation_key' : ''}
       FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[])
         AS outcome(id, status, expiry_timestamp, data, validation_key)
       WHERE record.id = outcome.id`;
    const params = [
      latest.map((record) => record.idempotencyKey),
      latest.map((record) => record.getStatus()),
      latest.map((record) => record.expiryTimestamp),
      // Serialised here and cast from text so both drivers store the same JSON (PGlite would
      // otherwise serialise a string parameter for a jsonb column a second time).
      latest.map((record) =>
        record.responseData === undefined ? null : JSON.stringify(record.responseData),
      ),
      latest.map((record) => record.payloadHash ?? null),
    ];
    await retryTransient(() => db.query(sql, params), until);
    return records.map(() => ({ status: 'fulfilled', value: undefined }));
  }

  /**
   * The call with payload `data` ended without an outcome to record and keeps its INPROGRESS record
   * (its side effect may have happened: a mail handed over before the answer was lost). The outcomes
   * claimed with it stop waiting for it, as for a call whose record is deleted, instead of for the
   * cohort's whole wait; the record itself is left as it is.
   */
  keepInProgress(data: JSONValue): void {
    const key = this.getHashedIdempotencyKey(data);
    this.#claimedUntil.delete(key);
    this.#stopWaitingFor(key);
  }

  /**
   * Deletes the record of a call that failed, so that the work can run again. A transient database
   * failure (a dropped connection, a failover) is retried a few times (see {@link retryTransient}):
   * a record left INPROGRESS by a call that did not do its work would otherwise pass, once its window
   * is over, for a crash after the work began (at most once: {@link IdempotencyOutcomeUnknownError}).
   * Only this store's own claim is deleted: when a delete's answer is lost after its commit, another
   * copy of the work may claim the key before the retry, and that claim must stay.
   */
  protected async _deleteRecord(record: IdempotencyRecord): Promise<void> {
    const key = record.idempotencyKey;
    // The call failed: its peers' outcomes no longer wait for it.
    this.#stopWaitingFor(key);
    const until = this.#claimedUntil.get(key);
    this.#claimedUntil.delete(key);
    const db = await this.#db();
    const [sql, params] =
      until === undefined
        ? [`DELETE FROM ${this.#table} WHERE id = $1`, [key]]
        : [
            `DELETE FROM ${this.#table} WHERE id = $1
               AND in_progress_expiry_timestamp IS NOT DISTINCT FROM $2::bigint`,
            [key, until],
          ];
    await retryTransient(() => db.query(sql, params), until);
  }

  async #find(db: Queryable, idempotencyKey: string): Promise<IdempotencyRecord | undefined> {
    return (await this.#findAll(db, [idempotencyKey])).get(idempotencyKey);
  }

  async #findAll(db: Queryable, idempotencyKeys: readonly string[]): Promise<Map<string, IdempotencyRecord>> {
    const { rows } = await db.query<RecordRow>(
      `SELECT ${columns} FROM ${this.#table} WHERE id = ANY($1::text[])`,
      [idempotencyKeys],
    );
    return new Map(
      rows.map((row) => [
        row.id,
        new IdempotencyRecord({
          idempotencyKey: row.id,
          status: row.status as IdempotencyRecordStatusValue,
          // bigint columns arrive as strings (pg semantics on both backends); epoch values fit a double.
          expiryTimestamp: Number(row.expiry_timestamp),
          ...(row.in_progress_expiry_timestamp === null
            ? {}
            : { inProgressExpiryTimestamp: Number(row.in_progress_expiry_timestamp) }),
          ...(row.data === null ? {} : { responseData: JSON.parse(row.data) as JSONValue }),
          ...(row.validation_key === null ? {} : { payloadHash: row.validation_key }),
        }),
      ]),
    );
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

/**
 * Runs `statement`, and again after a transient database failure (a dropped connection, a failover),
 * up to {@link outcomeAttempts} times with a doubling wait. Past the window `until` (the claiming
 * invocation's deadline, as Powertools sets it; none: no bound but the attempts) the invocation is
 * gone: the caller is told now, while it can still say what happened. For statements that may run
 * twice: a failure can come after the commit, with only the answer lost.
 */
async function retryTransient<T>(statement: () => Promise<T>, until: number | null | undefined): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await statement();
    } catch (error) {
      const wait = OUTCOME_RETRY_BASE_MS * 2 ** (attempt - 1);
      const windowOver = typeof until === 'number' && Date.now() + wait + OUTCOME_RETRY_MARGIN_MS >= until;
      if (attempt >= outcomeAttempts || windowOver || !isTransientDatabaseError(error)) throw error;
      await sleep(wait);
    }
  }
}

/** A done call's record, to be marked with its outcome, and its claim's window (see #claimedUntil). */
interface Outcome {
  readonly record: IdempotencyRecord;
  readonly until: number | null | undefined;
}

/** The end of `record`'s in-progress window as a claim stores it: whole milliseconds, or null. */
function inProgressUntil(record: IdempotencyRecord): number | null {
  return record.inProgressExpiryTimestamp === undefined ? null : Math.round(record.inProgressExpiryTimestamp);
}
