import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type {
  JobKind,
  JobState,
  StatusUpdateInput,
  StatusUpdateInputOf,
  StatusUpdateOutput,
} from '@sidestep/contracts';
import type { Database, Queryable } from '@sidestep/db/postgres';
import {
  failureReason,
  fireJobEvent,
  JOB_COLUMNS,
  JobNotFoundError,
  type JobRow,
  lockJob,
  recordedOutput,
  recordTransition,
  snapshot,
  sourceIdentity,
  statusOutput,
} from '@sidestep/jobs';
import { ExecutionMismatchError, RequestConflictError, UnexpectedStateError } from './errors.ts';

/** Options of {@link updateJobStatus}. */
export interface UpdateJobStatusOptions {
  /** Makes the id of a newly registered job. @default `imp_`/`exp_` + a random UUID */
  readonly newJobId?: (kind: JobKind) => string;
}

/**
 * What {@link updateJobStatus} did: `applied` the event, `replayed` the output this execution's
 * same step got before, found the object or request registered by another execution (`duplicate`),
 * found the job already failed by the job-sweeper when the workflow came to fail it (`swept`), or
 * found it already succeeded when the workflow came to finish or fail it (`committed`).
 */
export type StatusUpdateOutcome = 'applied' | 'replayed' | 'duplicate' | 'swept' | 'committed';

/** The step's output and how it came about (for the log line). */
export interface StatusUpdateResult {
  readonly output: StatusUpdateOutput;
  readonly outcome: StatusUpdateOutcome;
}

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
 *
 * `finish` or `fail` on a job that already `succeeded` (the batch-worker finishes an import with
 * its commit) answers the succeeded job and changes nothing: committed rows are never reported
 * failed.
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
  const identity = input.kind === 'import' ? importIdentity(input) : exportIdentity(input);
  const inserted = await tx.query<JobRow>(identity.insert.sql, [
    newJobId(input.kind),
    ...identity.insert.params,
  ]);
  const created = inserted.rows[0];
  if (created) {
    expectState(created.id, input.expectedState, created.state);
    const output = statusOutput(snapshot(created), false);
    await recordTransition(tx, created.id, 'register', null, output, input.executionId, identity.data);
    return { output, outcome: 'applied' };
  }

  // Read committed: ON CONFLICT waited for the inserting transaction to commit, and this statement
  // takes a new snapshot, so the existing job is visible here.
  const existing = await tx.query<JobRow>(identity.find.sql, identity.find.params);
  const job = existing.rows[0];
  if (!job) throw new Error(`jobs: the row that conflicted on ${identity.description} is gone`);
  if (job.execution_id !== input.executionId) {
    // Another delivery of the same request is a duplicate; another request under the same id is not:
    // its requester would hear nothing while someone else's export ran (issue 11.8).
    const differing = identity.differing?.(job) ?? [];
    if (differing.length > 0) throw new RequestConflictError(identity.description, job.id, differing);
    return { output: statusOutput(snapshot(job), true), outcome: 'duplicate' };
  }
  const replayed = await recordedOutput(tx, job.id, 'register', input.executionId);
  if (replayed) {
    expectState(job.id, input.expectedState, replayed.state);
    // The execution that owns the job mails in its locale (an operator's retry runs the state
    // machine's current definition, its current notify locale): the job's failure mail, which the
    // job-sweeper or `job fail` may send in the workflow's place under the same key, must match it.
    const { locale } = identity;
    if (locale !== undefined && locale !== job.locale) {
      await tx.query('UPDATE jobs SET locale = $2 WHERE id = $1', [job.id, locale]);
    }
    return { output: replayed, outcome: 'replayed' };
  }
  // The owner's register is always recorded with its insert; without it the ledger was edited by hand.
  throw new Error(`job_transitions: job ${job.id} has no register transition for its own execution`);
}

/** How a register inserts its job, finds the one that won a conflict, and what it audits. */
interface RegisterIdentity {
  /** Parameters after the new job id ($1). */
  readonly insert: { readonly sql: string; readonly params: unknown[] };
  readonly find: { readonly sql: string; readonly params: unknown[] };
  readonly data: Record<string, unknown>;
  readonly description: string;
  /** The locale the job's mails are in (the register's; the insert writes it, a replay by its owner too). */
  readonly locale: string | undefined;
  /** The fields of the register that differ from the job `find` found (none: the same request again). */
  readonly differing?: (job: JobRow) => string[];
}

/** An import is its S3 object version (`jobs_source_unique`). */
function importIdentity(
  input: Extract<StatusUpdateInputOf<'register'>, { kind: 'import' }>,
): RegisterIdentity {
  const source = sourceIdentity(input.source);
  return {
    insert: {
      sql: `INSERT INTO jobs (id, kind, state, source_bucket, source_key, source_version, file_name, execution_id, bytes, locale)
            VALUES ($1, 'import', 'registered', $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT ON CONSTRAINT jobs_source_unique DO NOTHING
            RETURNING ${JOB_COLUMNS}`,
      params: [
        source.bucket,
        source.key,
        source.version,
        source.fileName,
        input.executionId,
        input.source.size ?? null,
        input.locale ?? null,
      ],
    },
    find: {
      sql: `SELECT ${JOB_COLUMNS} FROM jobs
            WHERE kind = 'import' AND source_bucket = $1 AND source_key = $2 AND source_version = $3
            FOR UPDATE`,
      params: [source.bucket, source.key, source.version],
    },
    data: { source: input.source },
    description: `${source.bucket}/${source.key}`,
    locale: input.locale,
  };
}

/**
 * An export is its request (the `export.requested` envelope id, `jobs_request_unique`): a queue
 * delivers the message at least once and a pipe cannot name the execution it starts.
 */
function exportIdentity(
  input: Extract<StatusUpdateInputOf<'register'>, { kind: 'export' }>,
): RegisterIdentity {
  const { request } = input;
  return {
    insert: {
      // The conflict target repeats the partial index's predicate, which is how ON CONFLICT infers a
      // partial unique index (a partial index has no constraint name to give).
      sql: `INSERT INTO jobs (id, kind, state, request_id, requested_by, export_filter, file_name, execution_id, locale)
            VALUES ($1, 'export', 'registered', $2, $3, $4, $5, $6, $7)
            ON CONFLICT (kind, request_id) WHERE request_id IS NOT NULL DO NOTHING
            RETURNING ${JOB_COLUMNS}`,
      params: [
        request.id,
        request.requestedBy,
        request.filter ? JSON.stringify(request.filter) : null,
        request.fileName,
        input.executionId,
        request.locale ?? null,
      ],
    },
    find: {
      sql: `SELECT ${JOB_COLUMNS}, export_filter FROM jobs WHERE kind = 'export' AND request_id = $1 FOR UPDATE`,
      params: [request.id],
    },
    data: { request },
    description: `request ${request.id}`,
    locale: request.locale,
    // Who asked and which users. Not the file name: the workflow defaults it from the execution's
    // start date, so a redelivery on another day names another file for the same request.
    differing: (job) => {
      const { export_filter: filter } = job as JobRow & { export_filter: unknown };
      const fields: string[] = [];
      if (job.requested_by !== request.requestedBy) fields.push('requestedBy');
      if (!isDeepStrictEqual(filter ?? {}, request.filter ?? {})) fields.push('filter');
      return fields;
    },
  };
}

async function transition(
  tx: Queryable,
  input: Exclude<StatusUpdateInput, { event: 'register' }>,
): Promise<StatusUpdateResult> {
  const job = await lockJob(tx, input.jobId);
  if (!job) throw new JobNotFoundError(input.jobId);
  if (job.execution_id !== input.executionId) {
    throw new ExecutionMismatchError(job.id, job.execution_id, input.executionId);
  }

  const replayed = await recordedOutput(tx, job.id, input.event, input.executionId);
  if (replayed) {
    expectState(job.id, input.expectedState, replayed.state);
    return { output: replayed, outcome: 'replayed' };
  }

  // The sweeper failed this job while its workflow was still alive (a task that overran the
  // deadline), or an operator's `job fail` did (`swept_at` too) before a redrive brought it back. The workflow's own fail then finds what it wanted done already done: answering with
  // the job as the sweeper left it (its reason) lets the workflow compose the same failure mail the
  // sweeper queued, which the mail-dispatcher sends once per key. Nothing is recorded: the sweeper's
  // transition is the job's one fail.
  if (input.event === 'fail' && job.state === 'failed' && job.swept_at !== null) {
    expectState(job.id, input.expectedState, job.state);
    return { output: statusOutput(snapshot(job), false), outcome: 'swept' };
  }

  // The job succeeded already: the batch-worker finishes an import in the transaction that commits
  // its rows, and a FinishJob whose answer was lost (a timeout after the commit) is caught by the
  // workflow. Whatever happened to the task or the step afterwards, the committed rows are the
  // truth: `finish` answers the succeeded job, and `fail` does too instead of failing it (the
  // workflow routes on the answered `state` to its success path; the expected `failed` is not
  // compared, because that expectation is what the commit proved wrong). Nothing is recorded.
  if ((input.event === 'finish' || input.event === 'fail') && job.state === 'succeeded') {
    if (input.event === 'finish') expectState(job.id, input.expectedState, job.state);
    return { output: statusOutput(snapshot(job), false), outcome: 'committed' };
  }

  const output = await fireJobEvent(tx, job, input.event, {
    firedBy: input.executionId,
    ...(input.event === 'fail' ? { reason: failureReason(job.worker_error, input.error) } : {}),
    ...(input.event === 'start' && input.deadlineSeconds ? { deadlineSeconds: input.deadlineSeconds } : {}),
    ...(input.event === 'finish' && input.result ? { result: input.result } : {}),
    data: input.event === 'fail' ? { error: input.error } : {},
  });
  expectState(job.id, input.expectedState, output.state);
  return { output, outcome: 'applied' };
}

function expectState(jobId: string, expected: JobState, actual: JobState): void {
  if (actual !== expected) throw new UnexpectedStateError(jobId, expected, actual);
}
