import { createHash } from 'node:crypto';
import { type AuditRecord, type JobKind, type JobState, MAIL_TEMPLATE_NAMES } from '@sidestep/contracts';
import type { Database, Queryable } from '@sidestep/db/postgres';
import {
  failureMailId,
  fireJobEvent,
  HAND_OVER_DEADLINE_SECONDS,
  JOB_COLUMNS,
  type JobRow,
  jobMailKey,
  lockJob,
  recordTransition,
  SWEEP_MAIL_PENDING,
  snapshot,
  startDeadlineSeconds,
  statusOutput,
} from '@sidestep/jobs';
import { isDatabaseError } from '@sidestep/runtime';
import {
  JobNotFoundError,
  JobStateError,
  LedgerRequestError,
  LedgerSchemaError,
  MailRecordNotReleasableError,
  type MigrationId,
} from './errors.ts';
import type {
  AuditEntry,
  ExportProgress,
  FailedJob,
  ImportStaging,
  JobCounts,
  JobDetail,
  JobPage,
  JobSummary,
  Ledger,
  MailRecord,
  RejectedRowPage,
  ReleasedMail,
} from './ledger.ts';
import { JOBS_FINISHED_INDEX } from './retention.ts';

interface JobListRow {
  id: string;
  kind: JobKind;
  state: JobState;
  attempt: number;
  file_name: string | null;
  rows_total: string | null;
  rows_imported: string | null;
  rows_rejected: string | null;
  error: string | null;
  execution_id: string | null;
  created_at: Date;
  updated_at: Date;
}

/**
 * The key in an audit entry's `details` that names the append that wrote it, so a duplicate of the
 * append is told apart from a second action (see {@link SqlLedger.appendAudit}).
 */
const AUDIT_REQUEST_ID = 'auditRequestId';

/** What {@link SqlLedger.handOverJob} changes of a job's row, and so what takeBackJob restores. */
const RESTORED_COLUMNS =
  'state, attempt, execution_id, error, worker_error, worker_error_permanent, rows_total, rows_imported, rows_rejected, users_written, ' +
  'row_errors, bytes, result_key, download_url, started_at, finished_at, deadline_at, swept_at, ' +
  'sweep_mail_queued_at, sweep_mail_refused_at, sweep_mail_error, updated_at';

const LIST_COLUMNS =
  'id, kind, state, attempt, file_name, rows_total, rows_imported, rows_rejected, error, execution_id, created_at, updated_at';

function summary(row: JobListRow): JobSummary {
  const count = (value: string | null) => (value === null ? null : Number(value));
  return {
    id: row.id,
    kind: row.kind,
    state: row.state,
    attempt: row.attempt,
    fileName: row.file_name,
    rowsTotal: count(row.rows_total),
    rowsImported: count(row.rows_imported),
    rowsRejected: count(row.rows_rejected),
    error: row.error,
    executionId: row.execution_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/**
 * The hash Powertools idempotency keys a record by: md5, base64, of the JSON of the value the
 * mail-dispatcher's `eventKeyJmesPath` (`key`) selects, after the function-name prefix and `#`
 * (`BasePersistenceLayer.getHashedIdempotencyKey`). The prefix differs per deployment (the Lambda's
 * name), so records are matched on the hash.
 */
export function idempotencyRecordHash(idempotencyKey: string): string {
  return createHash('md5').update(JSON.stringify(idempotencyKey)).digest('base64');
}

/** The keys a job's mails may have: `jobMailKey` of every template, for each of its attempts so far. */
export function jobMailKeys(jobId: string, attempts: number): string[] {
  return MAIL_TEMPLATE_NAMES.flatMap((template) =>
    Array.from({ length: Math.max(attempts, 1) }, (_, index) => jobMailKey(template, jobId, index + 1)),
  );
}

/**
 * The records of these mail keys, whatever their prefix: a lookup of `idempotency_records_key_hash`,
 * an index on `split_part(id, '#', 2)` (db 19). The condition must name that expression exactly:
 * any other (a LIKE on id, another split) reads every record of every mail.
 */
async function mailRecords(db: Queryable, keys: readonly string[]): Promise<MailRecord[]> {
  if (keys.length === 0) return [];
  const byHash = new Map(keys.map((key) => [idempotencyRecordHash(key), key]));
  // The two timestamps are bigints (epoch seconds, epoch milliseconds: db migration 1), which the
  // driver gives as strings.
  const { rows } = await db.query<{
    id: string;
    status: string;
    created_at: Date;
    expiry_timestamp: string | number;
    in_progress_expiry_timestamp: string | number | null;
  }>(
    `SELECT id, status, created_at, expiry_timestamp, in_progress_expiry_timestamp FROM idempotency_records
     WHERE split_part(id, '#', 2) = ANY($1::text[]) ORDER BY created_at`,
    [[...byHash.keys()]],
  );
  return rows.map((row) => ({
    idempotencyKey: byHash.get(row.id.split('#')[1] ?? '') ?? '',
    recordId: row.id,
    status: row.status,
    createdAt: row.created_at,
    expiresAt: new Date(Number(row.expiry_timestamp) * 1000),
    // Only an INPROGRESS record's window says anything: marking the mail sent leaves the column as
    // the claim wrote it.
    inProgressUntil:
      row.status !== 'INPROGRESS' || row.in_progress_expiry_timestamp === null
        ? null
        : new Date(Number(row.in_progress_expiry_timestamp)),
  }));
}

/**
 * The staging of import `jobId` so far, or null: its `import_stagings` row (one per job) with its
 * committed segments counted, in one query (both tables are keyed by `job_id`). The batch-worker
 * commits a segment's row together with the staging row's position, so the two agree in one
 * snapshot; a validation sets its segment's `rejected` later, so `count(rejected)` counts the
 * segments validated.
 */
async function importStaging(db: Queryable, jobId: string): Promise<ImportStaging | null> {
  const { rows } = await db.query<{
    byte_offset: string;
    source_bytes: string | null;
    records: string;
    updated_at: Date;
    segments: string;
    validated: string;
    rejected: string;
  }>(
    `SELECT s.byte_offset, s.source_bytes, s.records, s.updated_at, count(g.segment) AS segments,
            count(g.rejected) AS validated, coalesce(sum(g.rejected), 0) AS rejected
     FROM import_stagings s LEFT JOIN import_staging_segments g ON g.job_id = s.job_id
     WHERE s.job_id = $1 GROUP BY s.job_id`,
    [jobId],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    bytesStaged: Number(row.byte_offset),
    bytesTotal: row.source_bytes === null ? null : Number(row.source_bytes),
    recordsStaged: Number(row.records),
    segmentsStaged: Number(row.segments),
    segmentsValidated: Number(row.validated),
    rowsRejectedSoFar: Number(row.rejected),
    updatedAt: row.updated_at,
  };
}

/** The job's `export_progress` row, or null. */
async function exportProgress(db: Queryable, jobId: string): Promise<ExportProgress | null> {
  const { rows } = await db.query<{ rows: string; parts: number; bytes: string; updated_at: Date }>(
    'SELECT rows, parts, bytes, updated_at FROM export_progress WHERE job_id = $1',
    [jobId],
  );
  const row = rows[0];
  if (!row) return null;
  return { rows: Number(row.rows), parts: row.parts, bytes: Number(row.bytes), updatedAt: row.updated_at };
}

/** A job's transition as {@link lastTransition} reads it: a hand-over's `register` has `data.retry`. */
interface TransitionRow {
  event: string;
  execution_id: string | null;
  data: { retry?: { previousExecutionArn?: unknown; operator?: unknown } } | null;
}

/** The event of {@link SqlLedger.claimRedrive}'s transition. */
const REDRIVE_EVENT = 'redrive';

/**
 * The highest redrive count claimed for `executionArn` at `redriveCount` or later (see
 * {@link Ledger.claimRedrive}), or undefined when none is. Call under the job's row lock.
 */
async function redriveClaim(
  tx: Queryable,
  jobId: string,
  executionArn: string,
  redriveCount: number,
): Promise<number | undefined> {
  const { rows } = await tx.query<{ count: number | null }>(
    `SELECT max((data->'redrive'->>'redriveCount')::int) AS count FROM job_transitions
       WHERE job_id = $1 AND event = '${REDRIVE_EVENT}' AND execution_id = $2
         AND (data->'redrive'->>'redriveCount')::int >= $3`,
    [jobId, executionArn, redriveCount],
  );
  return rows[0]?.count ?? undefined;
}

/**
 * The redrive count of `executionArn` after its latest redrive the ledger has a claim of for job
 * `jobId` ({@link Ledger.claimRedrive} records the count before the redrive, which makes it one
 * more), or 0 when it has none. A lower bound of the execution's own count, but for a claim whose
 * RedriveExecution answered nothing and did not run (ops keeps it: it may have run). Call under the
 * job's row lock.
 */
export async function latestRedriveCount(
  tx: Queryable,
  jobId: string,
  executionArn: string,
): Promise<number> {
  const claimed = await redriveClaim(tx, jobId, executionArn, 0);
  return claimed === undefined ? 0 : claimed + 1;
}

/** The deadline a redrive's claim set on its running job, as its transition records it. */
interface RedriveDeadline {
  /** The deadline the claim replaced (ISO 8601), null for none. */
  readonly previous: string | null;
  /** The deadline it set (ISO 8601): the database's now plus `seconds`. */
  readonly deadlineAt: string;
  readonly seconds: number;
}

/**
 * Sets running job `job`'s deadline anew for a redrive of its execution, as its start set it: a
 * redrive does not run the execution's steps that succeeded again
 * (https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html), so the StartJob
 * that set the deadline is not run, and the sweep would fail the job the redrive runs at the
 * deadline of its start, passed already (the job stays `running` while an operator decides) or
 * too soon for the redrive's runs of the batch task. The workflows set no execution timeout (a
 * redrive runs as long as its states' own timeouts let it), so the start's bound is the redrive's
 * too: the database's now plus {@link startDeadlineSeconds} of the seconds the job's start had, as
 * the execution's latest redrive claim recorded them, else as the start left them (`deadline_at -
 * started_at`, one `now()`), else the kind's default. Call under the job's row lock.
 */
async function redriveDeadline(tx: Queryable, job: JobRow): Promise<RedriveDeadline> {
  const { rows: spans } = await tx.query<{ seconds: number | null }>(
    `SELECT coalesce(
       (SELECT (data->'redrive'->'deadline'->>'seconds')::int FROM job_transitions
          WHERE job_id = $1 AND event = '${REDRIVE_EVENT}' AND execution_id = $2
            AND data->'redrive'->'deadline' IS NOT NULL
          ORDER BY id DESC LIMIT 1),
       round(extract(epoch FROM deadline_at - started_at))::int) AS seconds
     FROM jobs WHERE id = $1`,
    [job.id, job.execution_id],
  );
  const seconds = startDeadlineSeconds(job.kind, spans[0]?.seconds ?? undefined);
  // Kept to the millisecond, as the claim records it and a release compares it.
  const { rows } = await tx.query<{ deadline_at: Date }>(
    `UPDATE jobs SET deadline_at = date_trunc('milliseconds', now() + $2 * interval '1 second')
       WHERE id = $1 RETURNING deadline_at`,
    [job.id, seconds],
  );
  const deadlineAt = rows[0]?.deadline_at;
  if (!deadlineAt) throw new JobNotFoundError(job.id);
  return { previous: job.deadline_at?.toISOString() ?? null, deadlineAt: deadlineAt.toISOString(), seconds };
}

/**
 * The job's last transition (`job_transitions`) other than a redrive claim, or undefined when it
 * has none. failJob and handOverJob read it to know a duplicate of their own request: Lambda "may
 * invoke your function multiple times" for one request
 * (https://docs.aws.amazon.com/lambda/latest/dg/invocation-retries.html), and a `redrive` claim
 * (claimRedrive, which changes no state) landing between the first and its duplicate would
 * otherwise hide the first, and the duplicate be refused. The claims stay in the job's history.
 */
async function lastTransition(tx: Queryable, jobId: string): Promise<TransitionRow | undefined> {
  const { rows } = await tx.query<TransitionRow>(
    `SELECT event, execution_id, data FROM job_transitions WHERE job_id = $1 AND event <> '${REDRIVE_EVENT}'
       ORDER BY id DESC LIMIT 1`,
    [jobId],
  );
  return rows[0];
}

/**
 * SQLSTATEs of a statement naming what the database does not have: undefined_column (42703) and
 * undefined_table (42P01) (https://www.postgresql.org/docs/current/errcodes-appendix.html).
 */
const UNDEFINED_OBJECT_CODES: ReadonlySet<string> = new Set(['42703', '42P01']);

/** A `jobs.list` cursor: the last job's `created_at` (as PostgreSQL prints it, microseconds kept) and id. */
function parseCursor(after: string): { createdAt: string; id: string } {
  const bar = after.lastIndexOf('|');
  if (bar < 1 || Number.isNaN(Date.parse(after.slice(0, bar))))
    throw new LedgerRequestError(`after: "${after}" is not a cursor this ledger returned`, {
      field: 'after',
    });
  return { createdAt: after.slice(0, bar), id: after.slice(bar + 1) };
}

/**
 * The ledger on its database: the direct adapter of the {@link Ledger} port (locally and with
 * `--database-url`), and what the `ops-ledger` function answers with inside the private network.
 *
 * Every query runs in a READ ONLY transaction. The function answers the queries of anyone allowed to
 * invoke it (a read-only console role among them) with the credentials the actions also use; READ
 * ONLY makes PostgreSQL itself refuse any write a query path might make (SQLSTATE 25006), so a bug
 * or a crafted request there cannot change the ledger. The actions are the fixed set below, each
 * its own read-write transaction.
 */
export class SqlLedger implements Ledger {
  readonly #db: Database;
  readonly #notifyAddress: string | undefined;

  /** @param options.notifyAddress who an import's failure mail goes to (the import workflow's `notifyAddress`) */
  constructor(db: Database, options: { readonly notifyAddress?: string | undefined } = {}) {
    this.#db = db;
    this.#notifyAddress = options.notifyAddress;
  }

  /**
   * Runs `run` (the ledger's statements). A statement naming a column or table the database lacks
   * fails with {@link LedgerSchemaError} when `schema_migrations` says the database is at another
   * migration than this tool's last, which explains it; otherwise as PostgreSQL said it.
   */
  async #schemaChecked<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (!isDatabaseError(error) || !UNDEFINED_OBJECT_CODES.has(error.code)) throw error;
      // Loaded here, on the rare error it explains: the list holds every migration's SQL, which a
      // cold start of the ops-ledger would otherwise load and compile (12 KiB).
      const { migrations } = await import('@sidestep/db/migrations');
      const tool = migrations.at(-1);
      const database = await this.#lastMigration();
      if (!tool || database?.version === tool.version) throw error;
      throw new LedgerSchemaError(database, tool, error);
    }
  }

  /** `work` in a transaction of the database, {@link #schemaChecked}. */
  #transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.#schemaChecked(() => this.#db.transaction(work));
  }

  /** The last migration `schema_migrations` records; undefined when it records none or cannot be read. */
  async #lastMigration(): Promise<MigrationId | undefined> {
    try {
      const { rows } = await this.#db.query<MigrationId>(
        'SELECT version, name FROM schema_migrations ORDER BY version DESC LIMIT 1',
      );
      return rows[0];
    } catch {
      return undefined;
    }
  }

  /** Runs `read` in a transaction PostgreSQL keeps read-only (see the class comment). */
  readOnly<T>(read: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.#transaction(async (tx) => {
      await tx.query('SET TRANSACTION READ ONLY');
      return read(tx);
    });
  }

  /**
   * A page of jobs newest first, by keyset: `jobs_created` (created_at, id) read backwards, or
   * `jobs_state_created` (state, created_at, id) from the state asked for, from the cursor on, so a
   * page reads its own rows and sorts nothing however many jobs there are. The statement names only
   * the filters given: a `($1 IS NULL OR state = $1)` would serve every filter with one text, but
   * its generic plan (a prepared statement's, which must hold for any value) cannot bound the index
   * by state or cursor, and reads and filters the jobs from the newest on.
   */
  listJobs(query: Parameters<Ledger['listJobs']>[0]): Promise<JobPage> {
    const limit = query.limit ?? 100;
    const after = query.after === undefined ? undefined : parseCursor(query.after);
    const params: unknown[] = [];
    const param = (value: unknown) => `$${params.push(value)}`;
    const where = [
      ...(query.status === undefined ? [] : [`state = ${param(query.status)}`]),
      ...(query.kind === undefined ? [] : [`kind = ${param(query.kind)}`]),
      ...(after === undefined
        ? []
        : [`(created_at, id) < (${param(after.createdAt)}::timestamptz, ${param(after.id)}::text)`]),
    ];
    return this.readOnly(async (tx) => {
      const { rows } = await tx.query<JobListRow & { cursor_at: string }>(
        `SELECT ${LIST_COLUMNS}, created_at::text AS cursor_at FROM jobs
         ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`}
         ORDER BY created_at DESC, id DESC LIMIT ${param(limit + 1)}`,
        params,
      );
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        jobs: page.map(summary),
        next: rows.length > limit && last ? `${last.cursor_at}|${last.id}` : null,
      };
    });
  }

  describeJob(jobId: string): Promise<JobDetail> {
    return this.readOnly(async (tx) => {
      const { rows } = await tx.query<
        JobListRow & {
          requested_by: string | null;
          result_key: string | null;
          download_url: string | null;
          deadline_at: Date | null;
          row_errors: unknown;
          worker_error: string | null;
          users_written: string | null;
          swept_at: Date | null;
          sweep_mail_queued_at: Date | null;
          sweep_mail_refused_at: Date | null;
          sweep_mail_error: string | null;
        }
      >(
        `SELECT ${LIST_COLUMNS}, requested_by, result_key, download_url, deadline_at, row_errors, worker_error,
           users_written, swept_at, sweep_mail_queued_at, sweep_mail_refused_at, sweep_mail_error
         FROM jobs WHERE id = $1`,
        [jobId],
      );
      const row = rows[0];
      if (!row) throw new JobNotFoundError(jobId);
      const transitions = await tx.query<{
        created_at: Date;
        event: string;
        from_state: string | null;
        to_state: string;
        execution_id: string | null;
        data: Record<string, unknown> | null;
      }>(
        'SELECT created_at, event, from_state, to_state, execution_id, data FROM job_transitions WHERE job_id = $1 ORDER BY id',
        [jobId],
      );
      const executions = [
        ...new Set(
          transitions.rows
            .map((transition) => transition.execution_id)
            .filter((id): id is string => id?.startsWith('arn:aws:states:') ?? false),
        ),
      ];
      return {
        ...summary(row),
        requestedBy: row.requested_by,
        resultKey: row.result_key,
        downloadUrl: row.download_url,
        deadlineAt: row.deadline_at,
        rowErrors: Array.isArray(row.row_errors) ? row.row_errors : [],
        workerError: row.worker_error,
        transitions: transitions.rows.map((transition) => ({
          at: transition.created_at,
          event: transition.event,
          from: transition.from_state,
          to: transition.to_state,
          executionId: transition.execution_id,
          data: transition.data,
        })),
        executions,
        mails: await mailRecords(tx, jobMailKeys(jobId, row.attempt)),
        // Only the batch-worker's imports stage: an export is not asked.
        staging: row.kind === 'import' ? await importStaging(tx, jobId) : null,
        exportProgress: row.kind === 'export' ? await exportProgress(tx, jobId) : null,
        usersWritten: row.users_written === null ? null : Number(row.users_written),
        sweepMail:
          row.swept_at === null
            ? null
            : {
                sweptAt: row.swept_at,
                queuedAt: row.sweep_mail_queued_at,
                refusedAt: row.sweep_mail_refused_at,
                error: row.sweep_mail_error,
              },
      };
    });
  }

  listRejectedRows(query: Parameters<Ledger['listRejectedRows']>[0]): Promise<RejectedRowPage> {
    const limit = query.limit ?? 100;
    return this.readOnly(async (tx) => {
      const { rows: jobs } = await tx.query<{ state: JobState; rows_rejected: string | null }>(
        'SELECT state, rows_rejected FROM jobs WHERE id = $1',
        [query.jobId],
      );
      const job = jobs[0];
      if (!job) throw new JobNotFoundError(query.jobId);
      // Keyset paging on the primary key (job_id, line): each page is one index range scan.
      const { rows } = await tx.query<{ line: string; field: string; message: string }>(
        `SELECT line, field, message FROM import_rejected_rows
         WHERE job_id = $1 AND line > $2 ORDER BY line LIMIT $3`,
        [query.jobId, query.after ?? 0, limit],
      );
      const page = rows.map((row) => ({ line: Number(row.line), field: row.field, message: row.message }));
      return {
        jobId: query.jobId,
        state: job.state,
        rowsRejected: job.rows_rejected === null ? null : Number(job.rows_rejected),
        rows: page,
        next: page.length === limit ? (page.at(-1)?.line ?? null) : null,
      };
    });
  }

  /**
   * Two index ranges, not a count of every job (the console's overview asks every 3 s): the jobs
   * registered and running now from `jobs_state_created`, and those that finished since `since`
   * from `jobs_finished` ({@link JOBS_FINISHED_INDEX}: its key is when a finished job finished,
   * `finished_at`, which every `succeed` and `fail` sets, or `updated_at` for a row without one).
   * A finished job's `updated_at` is its `finished_at` unless the row was written after it finished
   * (nothing of the ledger's does so): such a job counts as finished when it finished, not when its
   * row last changed.
   */
  countJobs(since: Date): Promise<JobCounts> {
    return this.readOnly(async (tx) => {
      const { rows } = await tx.query<{ state: string; jobs: string }>(
        `SELECT state, count(*) AS jobs FROM jobs WHERE state IN ('registered', 'running') GROUP BY state
         UNION ALL
         SELECT state, count(*) FROM jobs
         WHERE ${JOBS_FINISHED_INDEX.where} AND ${JOBS_FINISHED_INDEX.finishedAt} >= $1 GROUP BY state`,
        [since],
      );
      const of = (state: string) => Number(rows.find((row) => row.state === state)?.jobs ?? 0);
      return {
        running: of('running'),
        registered: of('registered'),
        failed24h: of('failed'),
        succeeded24h: of('succeeded'),
      };
    });
  }

  listAudit(query: Parameters<Ledger['listAudit']>[0]): Promise<AuditEntry[]> {
    return this.readOnly(async (tx) => {
      const { rows } = await tx.query<AuditEntry & { id: string }>(
        `SELECT id, at, operator, environment, action, target, details, result, error
         FROM operator_audit WHERE ($2::bigint IS NULL OR id < $2)
         ORDER BY id DESC LIMIT $1`,
        [query.limit ?? 100, query.before ?? null],
      );
      return rows.map((row) => ({ ...row, id: Number(row.id) }));
    });
  }

  /**
   * A duplicate of a fail already done (the same request delivered twice: see {@link Ledger.failJob})
   * answers what the first did: the job is `failed` with this reason, by a `fail` this operator fired
   * last.
   */
  failJob(jobId: string, reason: string, operator: string): Promise<FailedJob> {
    const firedBy = `operator:${operator}`;
    return this.#transaction(async (tx) => {
      const job = await lockJob(tx, jobId);
      if (!job) throw new JobNotFoundError(jobId);
      if (job.state === 'failed' && job.error === reason) {
        const last = await lastTransition(tx, jobId);
        if (last?.event === 'fail' && last.execution_id === firedBy) return this.#failedJob(job, reason);
      }
      if (job.state !== 'registered' && job.state !== 'running') {
        throw new JobStateError(jobId, job.state, 'fail', ['registered', 'running']);
      }
      // Owed in the sweeper's outbox by the fail's own commit (see Ledger.failJob).
      const output = await fireJobEvent(tx, job, 'fail', {
        firedBy,
        reason,
        sweptAt: new Date(),
        data: { operator },
      });
      return this.#failedJob({ ...job, state: output.state }, reason);
    });
  }

  async recordFailureMailQueued(jobId: string, mailId: string): Promise<void> {
    await this.#transaction(async (tx) => {
      const job = await lockJob(tx, jobId);
      if (!job) throw new JobNotFoundError(jobId);
      if (job.state !== 'failed' || failureMailId(job.kind, job.id, job.attempt) !== mailId) return;
      await tx.query(
        `UPDATE jobs SET sweep_mail_queued_at = now(), sweep_mail_error = NULL
           WHERE id = $1 AND ${SWEEP_MAIL_PENDING}`,
        [jobId],
      );
    });
  }

  #failedJob(job: JobRow, reason: string): FailedJob {
    return {
      jobId: job.id,
      kind: job.kind,
      state: job.state,
      reason,
      attempt: job.attempt,
      fileName: job.file_name,
      requestedBy: job.requested_by,
      locale: job.locale,
      recipient: job.kind === 'import' ? (this.#notifyAddress ?? null) : job.requested_by,
    };
  }

  /**
   * A duplicate of a hand-over already done (see {@link Ledger.handOverJob}) changes nothing and
   * answers as the first: the job is `registered` to `executionArn` as `attempt`, by the hand-over
   * from `fromExecutionArn` this operator made last.
   */
  async handOverJob(handOver: Parameters<Ledger['handOverJob']>[0]): Promise<void> {
    const { jobId, fromExecutionArn, executionArn, attempt, operator, fromRedriveCount } = handOver;
    await this.#transaction(async (tx) => {
      const job = await lockJob(tx, jobId);
      if (!job) throw new JobNotFoundError(jobId);
      if (job.state === 'registered' && job.execution_id === executionArn && job.attempt === attempt) {
        const last = await lastTransition(tx, jobId);
        const retry = last?.data?.retry;
        const duplicate =
          last?.event === 'register' &&
          last.execution_id === executionArn &&
          retry?.previousExecutionArn === fromExecutionArn &&
          retry.operator === operator;
        if (duplicate) return;
      }
      if (job.state !== 'failed') throw new JobStateError(jobId, job.state, 'retry', ['failed']);
      if (job.execution_id !== fromExecutionArn) {
        throw new JobStateError(
          jobId,
          job.state,
          'retry',
          ['failed'],
          `it failed under execution ${job.execution_id ?? '(none)'}, not the ${fromExecutionArn} this retry read: retry it again`,
        );
      }
      // A redrive of the execution claimed the job (claimRedrive, under this same row lock) at the
      // count the retry saw, or later: the retry's DescribeExecution may have been made before
      // RedriveExecution ran, and the retry would start a second execution of the job beside it.
      const claim = await redriveClaim(tx, jobId, fromExecutionArn, fromRedriveCount ?? 0);
      if (claim !== undefined) {
        throw new JobStateError(
          jobId,
          job.state,
          'retry',
          ['failed'],
          `a redrive of ${fromExecutionArn} (its redrive ${claim + 1}) claimed it: it runs, or is about to; ` +
            'let it end, then retry the job again',
        );
      }
      // The failed row as it is, kept in the hand-over's transition for takeBackJob: what the update
      // below clears (row errors, counts, worker error, result, times) is the failure's evidence.
      // The deadline it sets is the one the new execution must take the job by (its StartJob sets its
      // own): a retry cut before StartExecution, its take-back failing too, leaves the job registered
      // to an execution that never starts, which the job-sweeper fails past it
      // (HAND_OVER_DEADLINE_SECONDS of @sidestep/jobs).
      const { rows: kept } = await tx.query<{ row: Record<string, unknown> }>(
        'SELECT to_jsonb(jobs) AS row FROM jobs WHERE id = $1',
        [jobId],
      );
      const updated = await tx.query<JobRow>(
        `UPDATE jobs SET
             state = 'registered', attempt = $3, execution_id = $2, error = NULL, worker_error = NULL,
             worker_error_permanent = NULL,
             rows_total = NULL, rows_imported = NULL, rows_rejected = NULL, users_written = NULL, row_errors = NULL,
             bytes = CASE WHEN kind = 'export' THEN NULL ELSE bytes END,
             result_key = NULL, download_url = NULL, started_at = NULL, finished_at = NULL,
             deadline_at = now() + $4 * interval '1 second', swept_at = NULL, sweep_mail_queued_at = NULL,
             sweep_mail_refused_at = NULL, sweep_mail_error = NULL, updated_at = now()
           WHERE id = $1 RETURNING ${JOB_COLUMNS}`,
        [jobId, executionArn, attempt, HAND_OVER_DEADLINE_SECONDS],
      );
      const row = updated.rows[0];
      if (!row) throw new JobNotFoundError(jobId);
      // How far the failed attempt's export got is not the new attempt's: shown on the retried job,
      // `job show` and the console would tell attempt 1's rows as attempt 2's until its task records
      // its own. Kept with the row, for takeBackJob.
      const { rows: progress } = await tx.query<{ row: Record<string, unknown> }>(
        'DELETE FROM export_progress WHERE job_id = $1 RETURNING to_jsonb(export_progress) AS row',
        [jobId],
      );
      const output = statusOutput(snapshot(row), false);
      await recordTransition(tx, jobId, 'register', 'failed', output, executionArn, {
        retry: {
          attempt,
          previousExecutionArn: fromExecutionArn,
          operator,
          previousRow: kept[0]?.row,
          ...(progress[0] ? { previousExportProgress: progress[0].row } : {}),
        },
      });
    });
  }

  /**
   * Records the claim as a `redrive` transition of the execution (the job's state unchanged), with
   * the count, the operator and the database's time: the claim is what a hand-over checks (see
   * {@link Ledger.claimRedrive}), and the job's history shows the redrive. A `running` job's
   * deadline is set anew, in the same transaction ({@link redriveDeadline}), and the claim records
   * it (`deadline`: the one it replaced, the new one, the seconds).
   */
  async claimRedrive(claim: Parameters<Ledger['claimRedrive']>[0]): Promise<void> {
    const { jobId, executionArn, redriveCount, operator, requestId } = claim;
    await this.#transaction(async (tx) => {
      const job = await lockJob(tx, jobId);
      if (!job) throw new JobNotFoundError(jobId);
      if (job.execution_id !== executionArn) {
        throw new JobStateError(
          jobId,
          job.state,
          'redrive',
          [job.state],
          `it was retried as ${job.execution_id ?? '(none)'} (attempt ${job.attempt}), not run by ${executionArn}: redrive that execution, or retry the job again`,
        );
      }
      // A running job's deadline is set anew, unless this is a duplicate (a claim of this count, or a
      // later one, stands): then it changes nothing. Only a running job's claims are looked up.
      const deadline =
        job.state === 'running' && (await redriveClaim(tx, jobId, executionArn, redriveCount)) === undefined
          ? await redriveDeadline(tx, job)
          : undefined;
      await tx.query(
        `INSERT INTO job_transitions (job_id, event, from_state, to_state, execution_id, data)
         VALUES ($1, '${REDRIVE_EVENT}', $2, $2, $3, $4)`,
        [
          jobId,
          job.state,
          executionArn,
          JSON.stringify({
            redrive: {
              redriveCount,
              operator,
              ...(requestId === undefined ? {} : { requestId }),
              ...(deadline ? { deadline } : {}),
            },
          }),
        ],
      );
    });
  }

  /**
   * Withdraws the claim made with `claimRequestId` (see {@link Ledger.releaseRedrive}), as the
   * ledger's other actions tell their copies, by the request's id: keyed by the count alone, a copy
   * of a release delivered after the operator's next redrive claimed the job at the same count
   * deleted that claim, and a `job retry` could then hand the job over while that redrive runs. The
   * copies of the claim (the same id) go with it, and a copy of the release, finding none, changes
   * nothing (the job's row lock orders two at once). Puts back the deadline the claim replaced: the
   * redrive did not run, so nothing runs the job, and the claim's deadline would keep it `running`,
   * its failure unmailed, for another span of its start. Only while the job is still running under
   * the execution with the deadline the claim set (one moved since is not the claim's) and no other
   * claim of the count, or a later one, stands (its redrive may run).
   */
  async releaseRedrive(release: Parameters<Ledger['releaseRedrive']>[0]): Promise<void> {
    const { jobId, executionArn, redriveCount, claimRequestId } = release;
    await this.#transaction(async (tx) => {
      const job = await lockJob(tx, jobId);
      // A release without an id (an ops from before claims carried one) withdraws claims without one.
      const { rows } = await tx.query<{ deadline: RedriveDeadline | null }>(
        `DELETE FROM job_transitions
           WHERE job_id = $1 AND event = '${REDRIVE_EVENT}' AND execution_id = $2
             AND (data->'redrive'->>'redriveCount')::int = $3
             AND data->'redrive'->>'requestId' IS NOT DISTINCT FROM $4
           RETURNING data->'redrive'->'deadline' AS deadline`,
        [jobId, executionArn, redriveCount, claimRequestId ?? null],
      );
      // The first claim of the count set the deadline (a duplicate sets none).
      const deadline = rows.find((row) => row.deadline)?.deadline;
      const restores =
        deadline &&
        job?.state === 'running' &&
        job.execution_id === executionArn &&
        job.deadline_at?.toISOString() === deadline.deadlineAt &&
        (await redriveClaim(tx, jobId, executionArn, redriveCount)) === undefined;
      if (restores)
        await tx.query('UPDATE jobs SET deadline_at = $2 WHERE id = $1', [jobId, deadline.previous]);
    });
  }

  /**
   * Puts the job back as it was before {@link handOverJob}: every column the hand-over changed, from
   * the row it kept in its transition (`previous` only for a hand-over recorded without one), and the
   * export progress it removed, and deletes the retry's transitions. Only while the retry's execution has not started the job
   * (`registered`, owned by it): one that has is the job's owner, whatever its start's answer was.
   */
  async takeBackJob(takeBack: Parameters<Ledger['takeBackJob']>[0]): Promise<void> {
    const { jobId, executionArn, previous } = takeBack;
    await this.#transaction(async (tx) => {
      const job = await lockJob(tx, jobId);
      if (job?.state !== 'registered' || job.execution_id !== executionArn) return;
      const { rows } = await tx.query<{
        row: Record<string, unknown> | null;
        progress: Record<string, unknown> | null;
      }>(
        `SELECT data->'retry'->'previousRow' AS row, data->'retry'->'previousExportProgress' AS progress
           FROM job_transitions
           WHERE job_id = $1 AND execution_id = $2 AND event = 'register' ORDER BY id DESC LIMIT 1`,
        [jobId, executionArn],
      );
      const kept = rows[0]?.row;
      // The failed attempt's progress the hand-over removed; a row written since (by that attempt's
      // task, still ending) is newer and stays.
      const progress = rows[0]?.progress;
      if (progress) {
        await tx.query(
          `INSERT INTO export_progress SELECT * FROM jsonb_populate_record(NULL::export_progress, $1)
             ON CONFLICT (job_id) DO NOTHING`,
          [JSON.stringify(progress)],
        );
      }
      if (kept) {
        await tx.query(
          `UPDATE jobs SET (${RESTORED_COLUMNS}) = (SELECT ${RESTORED_COLUMNS} FROM jsonb_populate_record(NULL::jobs, $2))
             WHERE id = $1`,
          [jobId, JSON.stringify(kept)],
        );
      } else {
        await tx.query(
          `UPDATE jobs SET state = 'failed', attempt = $3, execution_id = $2, error = $4, updated_at = now(), finished_at = now()
             WHERE id = $1`,
          [jobId, previous.executionArn, previous.attempt, previous.error],
        );
      }
      await tx.query('DELETE FROM job_transitions WHERE job_id = $1 AND execution_id = $2', [
        jobId,
        executionArn,
      ]);
    });
  }

  /**
   * Releases the send-once record of mail `idempotencyKey` so a redrive of its message sends it. Only
   * an INPROGRESS record is released: the record a crash between sending and marking the mail sent
   * leaves behind (the mail-dispatcher dead-letters the message as "delivery outcome unknown" and
   * never reclaims it on its own). A COMPLETED record (the mail was sent) is refused, and so is an
   * INPROGRESS one whose in-progress window (the claiming invocation's deadline, as Powertools
   * records it) is not over by the database's clock: its sender may still be sending, and a release
   * would let a redrive send the mail again while that send completes.
   *
   * A release with a `requestId` (the ops-ledger function's, from ops' Lambda adapter) is recorded
   * in `mail_releases` with the record it deleted, in the same transaction, so a copy of the request
   * (see {@link Ledger.releaseMail}) answers what the first did, and changes nothing even when the
   * key has been claimed again since. Any other release of the key finds no INPROGRESS record and is
   * refused. Two copies at once: the second's delete waits for the first, deletes nothing, and then
   * finds the first's row; a second that reads the records after the first committed finds none
   * INPROGRESS and then the first's row too. Rows more than a day old are deleted by the next release.
   */
  releaseMail(idempotencyKey: string, requestId?: string): Promise<ReleasedMail> {
    const answer = (recordId: string) => ({
      idempotencyKey,
      recordId,
      released: 'deleted INPROGRESS record' as const,
    });
    return this.#transaction(async (tx) => {
      const recorded = async () => {
        if (requestId === undefined) return undefined;
        const { rows } = await tx.query<{ record_id: string }>(
          'SELECT record_id FROM mail_releases WHERE request_id = $1 AND idempotency_key = $2',
          [requestId, idempotencyKey],
        );
        return rows[0]?.record_id;
      };
      /** Not released here: a copy of this request may have released it meanwhile (committed after
       * the first look), which answers as that copy did; anything else is refused. */
      const notReleased = async (status: string | undefined) => {
        const meanwhile = await recorded();
        if (meanwhile !== undefined) return answer(meanwhile);
        throw new MailRecordNotReleasableError(idempotencyKey, status);
      };
      const duplicate = await recorded();
      if (duplicate !== undefined) return answer(duplicate);
      const [record] = await mailRecords(tx, [idempotencyKey]);
      if (record?.status !== 'INPROGRESS') return notReleased(record?.status);
      const deleted = await tx.query(
        `DELETE FROM idempotency_records WHERE id = $1 AND status = 'INPROGRESS'
           AND (in_progress_expiry_timestamp IS NULL
                OR in_progress_expiry_timestamp < extract(epoch FROM clock_timestamp()) * 1000)`,
        [record.recordId],
      );
      if (deleted.rowCount === 0) {
        // Still being sent (refused with the end of its window), or released, or marked sent,
        // meanwhile (by a copy of this request, another, or the dispatcher): the refusal says what
        // the record is now, as a statement after that commit reads it.
        const { rows } = await tx.query<{ status: string; live_until: string | null }>(
          `SELECT status, CASE WHEN in_progress_expiry_timestamp >= extract(epoch FROM clock_timestamp()) * 1000
                               THEN in_progress_expiry_timestamp END AS live_until
             FROM idempotency_records WHERE id = $1`,
          [record.recordId],
        );
        const [now] = rows;
        if (now?.status === 'INPROGRESS' && now.live_until !== null) {
          throw new MailRecordNotReleasableError(idempotencyKey, now.status, {
            inProgressUntil: new Date(Number(now.live_until)),
          });
        }
        return notReleased(now?.status);
      }
      await tx.query(`DELETE FROM mail_releases WHERE released_at < now() - interval '1 day'`);
      if (requestId !== undefined) {
        await tx.query(
          'INSERT INTO mail_releases (request_id, idempotency_key, record_id) VALUES ($1, $2, $3)',
          [requestId, idempotencyKey, record.recordId],
        );
      }
      return answer(record.recordId);
    });
  }

  /**
   * Appends `entry`, once per request: an entry whose `details` carry an {@link AUDIT_REQUEST_ID}
   * (ops' Lambda adapter gives each append one) that the trail has already is a duplicate of that
   * append (see {@link Ledger.appendAudit}) and is not appended again. The id is unique in the trail
   * (db migration 13's partial unique index, whose expression and predicate the `ON CONFLICT` names),
   * so two copies running at once append one entry too.
   */
  async appendAudit(entry: AuditRecord): Promise<void> {
    await this.#schemaChecked(() =>
      this.#db.query(
        `INSERT INTO operator_audit (operator, environment, action, target, details, result, error)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT ((details->>'${AUDIT_REQUEST_ID}')) WHERE details ? '${AUDIT_REQUEST_ID}' DO NOTHING`,
        [
          entry.operator,
          entry.environment,
          entry.action,
          entry.target,
          JSON.stringify(entry.details),
          entry.result,
          entry.error,
        ],
      ),
    );
  }

  close(): Promise<void> {
    return this.#db.close();
  }
}
