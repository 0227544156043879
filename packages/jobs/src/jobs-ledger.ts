import {
  type ExportJobResult,
  type JobEvent,
  type JobKind,
  type JobState,
  MAX_REJECTED_SAMPLES,
  type RejectedRowSample,
  type StatusUpdateOutput,
  shorten,
} from '@sidestep/contracts';
import type { Queryable } from '@sidestep/db/postgres';
import { JobNotFoundError } from './errors.ts';
import { escapeNul } from './escape-nul.ts';
import {
  assertFinishable,
  type JOB_DEADLINE_SECONDS,
  nextState,
  startDeadlineSeconds,
} from './job-state-machine.ts';
import { completeOutput, type JobSnapshot, statusOutput } from './status-output.ts';

// The one place that moves a job in the `jobs` ledger. The status-updater (steps of a workflow) and
// the job-sweeper (jobs stuck past their deadline) both fire events through `fireJobEvent`, so both
// obey the same transition table and leave the same audit trail in `job_transitions`.

/** The columns of `jobs` a status update reads, as pg returns them (int8 as strings). */
export interface JobRow {
  id: string;
  kind: JobKind;
  state: JobState;
  execution_id: string;
  /** 1, and one more per operator retry. */
  attempt: number;
  file_name: string | null;
  rows_total: string | null;
  rows_imported: string | null;
  rows_rejected: string | null;
  /** A completed import's users its merge wrote (new or changed); null otherwise. */
  users_written: string | null;
  /** The batch-worker's first row errors (`[{ line, field, message }]`, jsonb); null until recorded. */
  row_errors: unknown;
  worker_error: string | null;
  error: string | null;
  requested_by: string | null;
  result_key: string | null;
  download_url: string | null;
  /** An export's link's expiry, as FinishJob's result gave it (db migration 23); null otherwise. */
  download_expires_at: Date | null;
  bytes: string | null;
  deadline_at: Date | null;
  swept_at: Date | null;
  /** The language of its mails (db migration 16); null (`en`) unless its register named one. */
  locale: string | null;
}

/** The column list of {@link JobRow}, for `SELECT` and `RETURNING`. */
export const JOB_COLUMNS =
  'id, kind, state, execution_id, attempt, file_name, rows_total, rows_imported, rows_rejected, users_written, row_errors, ' +
  'worker_error, error, ' +
  'requested_by, result_key, download_url, download_expires_at, bytes, deadline_at, swept_at, locale';

/** Reads and locks (`FOR UPDATE`) job `jobId` until the transaction ends. */
export async function lockJob(tx: Queryable, jobId: string): Promise<JobRow | undefined> {
  const { rows } = await tx.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1 FOR UPDATE`, [
    jobId,
  ]);
  return rows[0];
}

/** What firing an event on a job needs besides the event. */
export interface FireJobEventOptions {
  /** Who fires it, recorded in the audit trail: a workflow's execution ARN, or the sweeper's id. */
  readonly firedBy: string;
  /** `fail`: the reason to record on the job. */
  readonly reason?: string;
  /** `start`: how long the job may stay running; {@link JOB_DEADLINE_SECONDS} of its kind by default. */
  readonly deadlineSeconds?: number;
  /** `finish` of an export: the finalizer's result, stored on the job. */
  readonly result?: ExportJobResult;
  /** Set when the job-sweeper fails the job: the time of the sweep, stored as `swept_at`. */
  readonly sweptAt?: Date;
  /** Extra context for the audit row (the Catch output, the sweep's deadline). */
  readonly data?: Record<string, unknown>;
}

/**
 * Fires `event` on the locked `job` (see {@link lockJob}): checks it against the transition table,
 * writes the new state (a start sets `deadline_at` to now plus {@link startDeadlineSeconds}: its
 * `deadlineSeconds`, else {@link JOB_DEADLINE_SECONDS}; a finish of an
 * export stores the finalizer's result; a fail its reason), and appends the transition with the
 * output a re-run of the step returns. Call inside the transaction that locked the job.
 *
 * @throws {InvalidTransitionError} the table does not allow `event` in the job's state.
 * @throws {RowCountsMissingError | ExportResultMissingError | InvalidInputError} `finish` without
 *   what the job's kind needs (see `assertFinishable`).
 */
export async function fireJobEvent(
  tx: Queryable,
  job: JobRow,
  event: JobEvent,
  options: FireJobEventOptions,
): Promise<StatusUpdateOutput> {
  const to = nextState(job.id, job.state, event);
  const result = event === 'finish' ? options.result : undefined;
  if (event === 'finish') assertFinishable(snapshot(job), result);
  const updated = await tx.query<JobRow>(
    `UPDATE jobs SET
       state = $2,
       error = COALESCE($3, error),
       updated_at = now(),
       started_at = CASE WHEN $2 = 'running' THEN now() ELSE started_at END,
       deadline_at = CASE WHEN $2 = 'running' THEN now() + $4 * interval '1 second' ELSE deadline_at END,
       finished_at = CASE WHEN $2 IN ('succeeded', 'failed') THEN now() ELSE finished_at END,
       rows_total = COALESCE($5, rows_total),
       bytes = COALESCE($6, bytes),
       result_key = COALESCE($7, result_key),
       download_url = COALESCE($8, download_url),
       download_expires_at = COALESCE($10::timestamptz, download_expires_at),
       swept_at = COALESCE($9, swept_at),
       -- A sweep is a new failure mail: nothing of an earlier attempt's stays on it (a hand-over by a
       -- release before migration 15 cleared swept_at and sweep_mail_queued_at, not these two).
       sweep_mail_refused_at = CASE WHEN $9::timestamptz IS NULL THEN sweep_mail_refused_at END,
       sweep_mail_error = CASE WHEN $9::timestamptz IS NULL THEN sweep_mail_error END
     WHERE id = $1
     RETURNING ${JOB_COLUMNS}`,
    [
      job.id,
      to,
      // Escaped here, where every fail's reason is written (the sweeper's, an operator's, the
      // workflow's): PostgreSQL text cannot hold a NUL (22021), and the fail could not be recorded.
      event === 'fail' && options.reason !== undefined ? escapeNul(options.reason) : null,
      startDeadlineSeconds(job.kind, options.deadlineSeconds),
      result?.rows ?? null,
      result?.bytes ?? null,
      result?.key ?? null,
      result?.downloadUrl ?? null,
      options.sweptAt ?? null,
      result?.downloadExpiresAt ?? null,
    ],
  );
  const row = updated.rows[0];
  if (!row) throw new JobNotFoundError(job.id);
  // A failed import keeps nothing its interrupted tasks staged (the batch-worker's resumable
  // staging, db migration 5): whoever fails it — the workflow, the sweeper, an operator — drops it in
  // the same transaction, so no staging table outlives its job.
  if (to === 'failed' && job.kind === 'import') {
    await tx.query('SELECT drop_import_staging($1)', [job.id]);
  }
  const output = statusOutput(snapshot(row), false);
  await recordTransition(tx, row.id, event, job.state, output, options.firedBy, {
    ...options.data,
    ...(result ? { result } : {}),
  });
  return output;
}

/** Appends an applied event to the audit trail, with the output a re-run of the step returns. */
export async function recordTransition(
  tx: Queryable,
  jobId: string,
  event: JobEvent,
  from: JobState | null,
  output: StatusUpdateOutput,
  firedBy: string,
  data: Record<string, unknown>,
): Promise<void> {
  await tx.query(
    `INSERT INTO job_transitions (job_id, event, from_state, to_state, execution_id, data)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    // A NUL in a string of it (a fail's Catch output: its Cause) is written `\u0000`: jsonb refuses
    // the escape JSON.stringify gives a NUL (22P05), and the transition could not be recorded.
    [
      jobId,
      event,
      from,
      output.state,
      firedBy,
      JSON.stringify({ ...data, output }, (_, value: unknown) =>
        typeof value === 'string' ? escapeNul(value) : value,
      ),
    ],
  );
}

/** The output recorded when `firedBy` fired `event` on the job, if it did. */
export async function recordedOutput(
  tx: Queryable,
  jobId: string,
  event: JobEvent,
  firedBy: string,
): Promise<StatusUpdateOutput | undefined> {
  const { rows } = await tx.query<{ data: { output: StatusUpdateOutput } }>(
    `SELECT data FROM job_transitions WHERE job_id = $1 AND event = $2 AND execution_id = $3
     ORDER BY id LIMIT 1`,
    [jobId, event, firedBy],
  );
  const output = rows[0]?.data.output;
  return output && completeOutput(output);
}

/** The ledger row as the domain sees it. */
export function snapshot(row: JobRow): JobSnapshot {
  return {
    id: row.id,
    kind: row.kind,
    state: row.state,
    executionId: row.execution_id,
    attempt: row.attempt,
    fileName: row.file_name,
    rowsTotal: count(row.rows_total),
    rowsImported: count(row.rows_imported),
    rowsRejected: count(row.rows_rejected),
    usersWritten: count(row.users_written),
    rejectedSamples: rejectedSamplesOf(row.row_errors),
    error: row.error,
    requestedBy: row.requested_by,
    resultKey: row.result_key,
    downloadUrl: row.download_url,
    bytes: count(row.bytes),
  };
}

/**
 * The first {@link MAX_REJECTED_SAMPLES} of the row errors the batch-worker recorded, as the
 * `import.completed` mail lists them. Entries not of the worker's shape are skipped (the column is
 * jsonb, written by another program); a reason is made one line and cut to what the mail accepts.
 */
export function rejectedSamplesOf(rowErrors: unknown): RejectedRowSample[] {
  if (!Array.isArray(rowErrors)) return [];
  const samples: RejectedRowSample[] = [];
  for (const entry of rowErrors) {
    if (samples.length === MAX_REJECTED_SAMPLES) break;
    if (typeof entry !== 'object' || entry === null) continue;
    const { line, field, message } = entry as Record<string, unknown>;
    const reason = typeof message === 'string' ? oneLine(message, MAX_SAMPLE_REASON_LENGTH) : '';
    if (typeof line !== 'number' || !Number.isInteger(line) || line < 1 || reason === '') continue;
    const column = typeof field === 'string' ? oneLine(field, MAX_SAMPLE_FIELD_LENGTH) : '';
    samples.push({ line, ...(column === '' ? {} : { field: column }), reason });
  }
  return samples;
}

const MAX_SAMPLE_REASON_LENGTH = 500;
const MAX_SAMPLE_FIELD_LENGTH = 200;

function oneLine(value: string, max: number): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is replaced
  const text = value.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return shorten(text, max);
}

function count(value: string | null): number | null {
  return value === null ? null : Number(value);
}
