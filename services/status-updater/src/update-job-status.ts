import { randomUUID } from 'node:crypto';
import type {
  JobEvent,
  JobKind,
  JobState,
  StatusUpdateInput,
  StatusUpdateInputOf,
  StatusUpdateOutput,
} from '@sidestep/contracts';
import type { Database, Queryable } from '@sidestep/db/postgres';
import { failureReason } from './domain/failure-reason.ts';
import { sourceIdentity } from './domain/job-source.ts';
import { assertFinishable, nextState } from './domain/job-state-machine.ts';
import { type JobSnapshot, statusOutput } from './domain/status-output.ts';
import { ExecutionMismatchError, JobNotFoundError, UnexpectedStateError } from './errors.ts';

/** Options of {@link updateJobStatus}. */
export interface UpdateJobStatusOptions {
  /** Makes the id of a newly registered job. @default `imp_`/`exp_` + a random UUID */
  readonly newJobId?: (kind: JobKind) => string;
}

/**
 * What {@link updateJobStatus} did: `applied` the event, `replayed` the output this execution's
 * same step got before, or found the object registered by another execution (`duplicate`).
 */
export type StatusUpdateOutcome = 'applied' | 'replayed' | 'duplicate';

/** The step's output and how it came about (for the log line). */
export interface StatusUpdateResult {
  readonly output: StatusUpdateOutput;
  readonly outcome: StatusUpdateOutcome;
}

/** The columns of `jobs` a status update reads, as pg returns them (int8 as strings). */
interface JobRow {
  id: string;
  kind: JobKind;
  state: JobState;
  execution_id: string;
  file_name: string | null;
  rows_total: string | null;
  rows_imported: string | null;
  rows_rejected: string | null;
  worker_error: string | null;
  error: string | null;
}

const JOB_COLUMNS =
  'id, kind, state, execution_id, file_name, rows_total, rows_imported, rows_rejected, worker_error, error';

const JOB_ID_PREFIX: Record<JobKind, string> = { import: 'imp', export: 'exp' };

function defaultJobId(kind: JobKind): string {
  return `${JOB_ID_PREFIX[kind]}_${randomUUID()}`;
}

/**
 * Fires `input.event` on its job in one transaction and returns the job's resulting status.
 *
 * - The job row is locked (`FOR UPDATE`) for the whole transaction, so concurrent steps on one job
 *   apply one after the other, each seeing the other's result.
 * - Every applied event is recorded in `job_transitions` together with the output it returned, in
 *   the same transaction as the state change. That row is the step's idempotency record: the same
 *   event from the same execution again (a Lambda retry, a Step Functions Retry, a redrive) returns
 *   the recorded output and changes nothing. Powertools idempotency is not used because its record
 *   would be written in a separate transaction from the state change; here both commit or neither.
 * - The resulting state is compared with `input.expectedState` before commit; on a mismatch
 *   everything is rolled back.
 * - `register` inserts the job with `ON CONFLICT DO NOTHING` on the source object's identity: of
 *   concurrent registers of one object exactly one inserts, the others wait for it to commit and
 *   then find its job. The registering execution owns the job (`duplicate: false` on a re-run);
 *   any other execution is told `duplicate: true` and nothing is recorded.
 *
 * @throws {JobNotFoundError} no job `input.jobId`.
 * @throws {ExecutionMismatchError} the job belongs to another execution.
 * @throws {InvalidTransitionError} the event is not allowed in the job's state.
 * @throws {UnexpectedStateError} the resulting state is not `input.expectedState`.
 * @throws {RowCountsMissingError} `finish` on an import whose worker recorded no counts.
 */
export async function updateJobStatus(
  db: Database,
  input: StatusUpdateInput,
  options: UpdateJobStatusOptions = {},
): Promise<StatusUpdateResult> {
  return db.transaction((tx) =>
    input.event === 'register'
      ? register(tx, input, options.newJobId ?? defaultJobId)
      : transition(tx, input),
  );
}

async function register(
  tx: Queryable,
  input: StatusUpdateInputOf<'register'>,
  newJobId: (kind: JobKind) => string,
): Promise<StatusUpdateResult> {
  const source = sourceIdentity(input.source);
  const inserted = await tx.query<JobRow>(
    `INSERT INTO jobs (id, kind, state, source_bucket, source_key, source_version, file_name, execution_id, bytes)
     VALUES ($1, $2, 'registered', $3, $4, $5, $6, $7, $8)
     ON CONFLICT ON CONSTRAINT jobs_source_unique DO NOTHING
     RETURNING ${JOB_COLUMNS}`,
    [
      newJobId(input.kind),
      input.kind,
      source.bucket,
      source.key,
      source.version,
      source.fileName,
      input.executionId,
      input.source.size ?? null,
    ],
  );
  const created = inserted.rows[0];
  if (created) {
    expectState(created.id, input.expectedState, created.state);
    const output = statusOutput(snapshot(created), false);
    await record(tx, created.id, 'register', null, output, { source: input.source });
    return { output, outcome: 'applied' };
  }

  // Read committed: ON CONFLICT waited for the inserting transaction to commit, and this statement
  // takes a new snapshot, so the existing job is visible here.
  const existing = await tx.query<JobRow>(
    `SELECT ${JOB_COLUMNS} FROM jobs
     WHERE kind = $1 AND source_bucket = $2 AND source_key = $3 AND source_version = $4
     FOR UPDATE`,
    [input.kind, source.bucket, source.key, source.version],
  );
  const job = existing.rows[0];
  if (!job) throw new Error(`jobs: the row that conflicted on ${source.bucket}/${source.key} is gone`);
  if (job.execution_id !== input.executionId) {
    return { output: statusOutput(snapshot(job), true), outcome: 'duplicate' };
  }
  const replayed = await recorded(tx, job.id, 'register', input.executionId);
  if (replayed) {
    expectState(job.id, input.expectedState, replayed.state);
    return { output: replayed, outcome: 'replayed' };
  }
  // The owner's register is always recorded with its insert; without it the ledger was edited by hand.
  throw new Error(`job_transitions: job ${job.id} has no register transition for its own execution`);
}

async function transition(
  tx: Queryable,
  input: Exclude<StatusUpdateInput, { event: 'register' }>,
): Promise<StatusUpdateResult> {
  const locked = await tx.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1 FOR UPDATE`, [
    input.jobId,
  ]);
  const job = locked.rows[0];
  if (!job) throw new JobNotFoundError(input.jobId);
  if (job.execution_id !== input.executionId) {
    throw new ExecutionMismatchError(job.id, job.execution_id, input.executionId);
  }

  const replayed = await recorded(tx, job.id, input.event, input.executionId);
  if (replayed) {
    expectState(job.id, input.expectedState, replayed.state);
    return { output: replayed, outcome: 'replayed' };
  }

  const to = nextState(job.id, job.state, input.event);
  if (input.event === 'finish') assertFinishable(snapshot(job));
  const error = input.event === 'fail' ? failureReason(job.worker_error, input.error) : null;
  const updated = await tx.query<JobRow>(
    `UPDATE jobs SET
       state = $2,
       error = COALESCE($3, error),
       updated_at = now(),
       started_at = CASE WHEN $2 = 'running' THEN now() ELSE started_at END,
       finished_at = CASE WHEN $2 IN ('succeeded', 'failed') THEN now() ELSE finished_at END
     WHERE id = $1
     RETURNING ${JOB_COLUMNS}`,
    [job.id, to, error],
  );
  const row = updated.rows[0];
  if (!row) throw new JobNotFoundError(job.id);
  expectState(row.id, input.expectedState, row.state);
  const output = statusOutput(snapshot(row), false);
  await record(
    tx,
    row.id,
    input.event,
    job.state,
    output,
    input.event === 'fail' ? { error: input.error } : {},
  );
  return { output, outcome: 'applied' };
}

function expectState(jobId: string, expected: JobState, actual: JobState): void {
  if (actual !== expected) throw new UnexpectedStateError(jobId, expected, actual);
}

/** Appends the applied event to the audit trail, with the output a re-run of the step returns. */
async function record(
  tx: Queryable,
  jobId: string,
  event: JobEvent,
  from: JobState | null,
  output: StatusUpdateOutput,
  data: Record<string, unknown>,
): Promise<void> {
  await tx.query(
    `INSERT INTO job_transitions (job_id, event, from_state, to_state, execution_id, data)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [jobId, event, from, output.state, output.executionId, JSON.stringify({ ...data, output })],
  );
}

/** The output recorded when `executionId` fired `event` on the job, if it did. */
async function recorded(
  tx: Queryable,
  jobId: string,
  event: JobEvent,
  executionId: string,
): Promise<StatusUpdateOutput | undefined> {
  const { rows } = await tx.query<{ data: { output: StatusUpdateOutput } }>(
    `SELECT data FROM job_transitions WHERE job_id = $1 AND event = $2 AND execution_id = $3
     ORDER BY id LIMIT 1`,
    [jobId, event, executionId],
  );
  return rows[0]?.data.output;
}

function snapshot(row: JobRow): JobSnapshot {
  return {
    id: row.id,
    kind: row.kind,
    state: row.state,
    executionId: row.execution_id,
    fileName: row.file_name,
    rowsTotal: count(row.rows_total),
    rowsImported: count(row.rows_imported),
    rowsRejected: count(row.rows_rejected),
    error: row.error,
  };
}

function count(value: string | null): number | null {
  return value === null ? null : Number(value);
}
