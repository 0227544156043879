import { DescribeExecutionCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { type JobKind, type JobState, MAIL_TEMPLATE_NAMES } from '@sidestep/contracts';
import {
  fireJobEvent,
  JOB_COLUMNS,
  type JobRow,
  lockJob,
  recordTransition,
  snapshot,
  statusOutput,
} from '@sidestep/jobs';
import { audited, auditedInLedger } from './audit.ts';
import { InvalidOptionError, JobNotFoundError, JobStateError } from './errors.ts';
import { type MailRecord, mailRecords } from './mail.ts';
import type { OpsContext } from './ops-context.ts';
import type { Page } from './page.ts';

const STATES: readonly JobState[] = ['registered', 'running', 'succeeded', 'failed'];
const KINDS: readonly JobKind[] = ['import', 'export'];

/** A job as lists show it. */
export interface JobSummary {
  readonly id: string;
  readonly kind: JobKind;
  readonly state: JobState;
  readonly attempt: number;
  readonly fileName: string | null;
  readonly rowsTotal: number | null;
  readonly rowsImported: number | null;
  readonly rowsRejected: number | null;
  readonly error: string | null;
  readonly executionId: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

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

/** Options of {@link listJobs}. */
export interface ListJobsOptions {
  readonly status?: string;
  readonly kind?: string;
  /** @default 100 */
  readonly limit?: number;
}

/** The ledger's jobs, newest first. @throws {InvalidOptionError} naming `status` or `kind`. */
export async function listJobs(context: OpsContext, options: ListJobsOptions = {}): Promise<JobSummary[]> {
  checkJobFilters(options);
  const db = await context.database();
  const { rows } = await db.query<JobListRow>(
    `SELECT ${LIST_COLUMNS} FROM jobs
     WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR kind = $2)
     ORDER BY created_at DESC, id LIMIT $3`,
    [options.status ?? null, options.kind ?? null, options.limit ?? 100],
  );
  return rows.map(summary);
}

function checkJobFilters(options: ListJobsOptions): void {
  if (options.status !== undefined && !STATES.includes(options.status as JobState)) {
    throw new InvalidOptionError(`status: "${options.status}" is not one of ${STATES.join(', ')}`, {
      field: 'status',
    });
  }
  if (options.kind !== undefined && !KINDS.includes(options.kind as JobKind)) {
    throw new InvalidOptionError(`kind: "${options.kind}" is not one of ${KINDS.join(', ')}`, {
      field: 'kind',
    });
  }
}

/** One row of a job's audit trail in `job_transitions`. */
export interface JobTransitionEntry {
  readonly at: Date;
  readonly event: string;
  readonly from: string | null;
  readonly to: string;
  readonly executionId: string | null;
  readonly data: Record<string, unknown> | null;
}

/** A job with everything the ledger knows about it. */
export interface JobDetail extends JobSummary {
  readonly requestedBy: string | null;
  readonly resultKey: string | null;
  readonly downloadUrl: string | null;
  readonly deadlineAt: Date | null;
  readonly transitions: readonly JobTransitionEntry[];
  /** Every execution that worked on it (one per attempt), oldest first. */
  readonly executions: readonly string[];
  /** The mails about it: the send-once records of `<template>:<jobId>`. */
  readonly mails: readonly MailRecord[];
}

/** Job `jobId` with its transitions, executions and mails. @throws {JobNotFoundError} */
export async function describeJob(context: OpsContext, jobId: string): Promise<JobDetail> {
  const db = await context.database();
  const { rows } = await db.query<
    JobListRow & {
      requested_by: string | null;
      result_key: string | null;
      download_url: string | null;
      deadline_at: Date | null;
    }
  >(`SELECT ${LIST_COLUMNS}, requested_by, result_key, download_url, deadline_at FROM jobs WHERE id = $1`, [
    jobId,
  ]);
  const row = rows[0];
  if (!row) throw new JobNotFoundError(jobId);
  const transitions = await db.query<{
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
    transitions: transitions.rows.map((transition) => ({
      at: transition.created_at,
      event: transition.event,
      from: transition.from_state,
      to: transition.to_state,
      executionId: transition.execution_id,
      data: transition.data,
    })),
    executions,
    mails: await mailRecords(
      db,
      MAIL_TEMPLATE_NAMES.map((template) => `${template}:${jobId}`),
    ),
  };
}

/** What {@link retryJob} did. */
export interface RetriedJob {
  readonly jobId: string;
  readonly attempt: number;
  readonly executionArn: string;
  readonly previousExecutionArn: string;
}

/**
 * The one-button retry of a failed import or export: a new execution of the job's workflow, with
 * the input of the execution that ran it last, for the SAME job (attempt n+1).
 *
 * A workflow's RegisterJob finds the job by its source (an import's S3 object, an export's request)
 * and answers `duplicate` to any execution but the job's owner, which then ends `AlreadyRegistered`.
 * So the retry first hands the job to the new execution, in one transaction: the job goes back to
 * `registered` (its error, counts, result and deadline cleared; `attempt` counted up) with
 * `execution_id` set to the new execution's ARN (known before it starts: the state machine's ARN
 * with `:execution:` and the name `<jobId>-attempt-<n>`), and a `register` transition is recorded
 * for that execution. The new execution's RegisterJob then finds itself the owner with its register
 * recorded and replays it (`duplicate: false`), as a redriven step would, and runs the job from
 * StartJob with the same idempotency rules. Only then is the execution started; if StartExecution
 * fails, the job is handed back to the failed state it was in. Its mails use the keys
 * `<template>:<jobId>`: a retry that succeeds sends its completion mail (a new key); one that fails
 * again finds `import.failed:<jobId>` already sent.
 *
 * @throws {JobNotFoundError} no such job.
 * @throws {JobStateError} the job is not `failed`.
 */
export async function retryJob(context: OpsContext, jobId: string): Promise<RetriedJob> {
  return audited(context, 'job-retry', jobId, async (operator) => {
    const db = await context.database();
    const current = (
      await db.query<JobRow & { attempt: number }>(`SELECT ${JOB_COLUMNS}, attempt FROM jobs WHERE id = $1`, [
        jobId,
      ])
    ).rows[0];
    if (!current) throw new JobNotFoundError(jobId);
    if (current.state !== 'failed') throw new JobStateError(jobId, current.state, 'retry', ['failed']);
    const previous = await context.clients.sfn.send(
      new DescribeExecutionCommand({ executionArn: current.execution_id }),
    );
    const attempt = current.attempt + 1;
    const name = `${jobId}-attempt-${attempt}`;
    const stateMachineArn = previous.stateMachineArn ?? '';
    const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    await db.transaction(async (tx) => {
      const job = await lockJob(tx, jobId);
      if (!job) throw new JobNotFoundError(jobId);
      if (job.state !== 'failed' || job.execution_id !== current.execution_id) {
        throw new JobStateError(jobId, job.state, 'retry', ['failed']);
      }
      const updated = await tx.query<JobRow>(
        `UPDATE jobs SET
             state = 'registered', attempt = $3, execution_id = $2, error = NULL, worker_error = NULL,
             rows_total = NULL, rows_imported = NULL, rows_rejected = NULL, row_errors = NULL,
             bytes = CASE WHEN kind = 'export' THEN NULL ELSE bytes END,
             result_key = NULL, download_url = NULL, started_at = NULL, finished_at = NULL,
             deadline_at = NULL, swept_at = NULL, sweep_mail_queued_at = NULL, updated_at = now()
           WHERE id = $1 RETURNING ${JOB_COLUMNS}`,
        [jobId, executionArn, attempt],
      );
      const row = updated.rows[0];
      if (!row) throw new JobNotFoundError(jobId);
      const output = statusOutput(snapshot(row), false);
      await recordTransition(tx, jobId, 'register', 'failed', output, executionArn, {
        retry: { attempt, previousExecutionArn: current.execution_id, operator },
      });
    });
    try {
      await context.clients.sfn.send(
        new StartExecutionCommand({ stateMachineArn, name, input: previous.input ?? '{}' }),
      );
    } catch (error) {
      await db.transaction(async (tx) => {
        await tx.query(
          `UPDATE jobs SET state = 'failed', attempt = $3, execution_id = $2, error = $4, updated_at = now(), finished_at = now()
             WHERE id = $1 AND execution_id = $5`,
          [jobId, current.execution_id, current.attempt, current.error, executionArn],
        );
        await tx.query('DELETE FROM job_transitions WHERE job_id = $1 AND execution_id = $2', [
          jobId,
          executionArn,
        ]);
      });
      throw error;
    }
    return { jobId, attempt, executionArn, previousExecutionArn: current.execution_id };
  });
}

/**
 * Ends a job stuck `registered` or `running` whose task is gone: fires `fail` with `reason` through
 * the ledger's state machine (as the job-sweeper does), fired by the operator. It queues no mail.
 *
 * @throws {JobNotFoundError} no such job.
 * @throws {JobStateError} the job already ended.
 */
export async function failJob(
  context: OpsContext,
  jobId: string,
  reason: string,
): Promise<{ jobId: string; state: JobState; reason: string }> {
  if (reason.trim() === '')
    throw new InvalidOptionError('reason: give why the job is failed', { field: 'reason' });
  return auditedInLedger(
    context,
    'job-fail',
    jobId,
    async (tx, operator) => {
      const job = await lockJob(tx, jobId);
      if (!job) throw new JobNotFoundError(jobId);
      if (job.state !== 'registered' && job.state !== 'running') {
        throw new JobStateError(jobId, job.state, 'fail', ['registered', 'running']);
      }
      const output = await fireJobEvent(tx, job, 'fail', {
        firedBy: `operator:${operator}`,
        reason,
        data: { operator },
      });
      return { jobId, state: output.state, reason };
    },
    (result) => ({ reason: result.reason }),
  );
}

/**
 * One page of the ledger's jobs, newest first, by keyset: the cursor is the last row's
 * `(created_at, id)`, so page 100 costs what page 1 does. @throws {InvalidOptionError} naming
 * `status`, `kind` or `cursor`.
 */
export async function pageJobs(
  context: OpsContext,
  options: ListJobsOptions & { readonly cursor?: string } = {},
): Promise<Page<JobSummary>> {
  checkJobFilters(options);
  let after: [string, string] | [null, null] = [null, null];
  if (options.cursor) {
    const [at, id] = Buffer.from(options.cursor, 'base64url').toString('utf8').split('\n');
    if (!at || !id || Number.isNaN(Date.parse(at))) {
      throw new InvalidOptionError('cursor: not a cursor this list gave', { field: 'cursor' });
    }
    after = [at, id];
  }
  const limit = options.limit ?? 50;
  const db = await context.database();
  const { rows } = await db.query<JobListRow & { cursor_at: string }>(
    `SELECT ${LIST_COLUMNS}, created_at::text AS cursor_at FROM jobs
     WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR kind = $2)
       AND ($3::timestamptz IS NULL OR (created_at, id) < ($3::timestamptz, $4::text))
     ORDER BY created_at DESC, id DESC LIMIT $5`,
    [options.status ?? null, options.kind ?? null, after[0], after[1], limit + 1],
  );
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return {
    items: items.map(summary),
    next:
      rows.length > limit && last ? Buffer.from(`${last.cursor_at}\n${last.id}`).toString('base64url') : null,
  };
}
