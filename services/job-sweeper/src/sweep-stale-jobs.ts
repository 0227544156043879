import {
  DEFAULT_JOB_RETENTION_DAYS,
  type MailSendJobInput,
  type SweepStaleJobsOutput,
  type SweptJob,
} from '@sidestep/contracts';
import { type Database, isDatabaseUnreachable, type Queryable } from '@sidestep/db/postgres';
import {
  deadlineMissedReason,
  escapeNul,
  failureMail,
  failureMailId,
  fireJobEvent,
  handOverMissedReason,
  JOB_COLUMNS,
  type JobRow,
  SWEEP_MAIL_PENDING,
  UNKNOWN_FAILURE_REASON,
} from '@sidestep/jobs';
import { JOBS_FINISHED_INDEX } from '@sidestep/ledger';
import {
  FailureMailNotQueuedError,
  type FailureMailRefusal,
  FailureMailRefusedError,
  failureMailRefusal,
  type StaleJobFailure,
  StaleJobsNotFailedError,
} from './errors.ts';
import { retentionCutoff } from './purge-expired.ts';

/** What became of one mail handed to the {@link MailQueue}. */
export type MailQueueResult =
  | { readonly status: 'sent'; readonly id: string }
  | { readonly status: 'invalid'; readonly id: string; readonly field: string; readonly message: string }
  | { readonly status: 'failed'; readonly id: string; readonly message: string };

/** Where failure mails go: the mail job queue (`@sidestep/producer` in production, a fake in tests). */
export interface MailQueue {
  /** Queues the mails; one result per mail, in order. */
  send(mails: readonly MailSendJobInput[]): Promise<readonly MailQueueResult[]>;
}

/** What {@link sweepStaleJobs} needs besides the ledger and the mail queue. */
export interface SweepOptions {
  /** The sweep's time: jobs whose deadline is before it are stale. Tests pass a virtual clock. */
  readonly now: Date;
  /** Recorded as who fired `fail` in the audit trail, e.g. `job-sweeper:<Lambda request id>`. */
  readonly sweeperId: string;
  /** Who gets an import's failure mail (the import workflow's `notifyAddress`). */
  readonly notifyAddress: string;
  /** Jobs failed per sweep at most; the rest wait for the next one. @default 100 */
  readonly limit?: number;
  /**
   * Days the ledger keeps a finished job (`JOB_RETENTION_DAYS`): a mail SQS fails is tried again
   * while its job is within them, and given up past them. @default 90
   */
  readonly retentionDays?: number;
  /**
   * Called once per mail refused for good, after the refusal is recorded on its job: the sweep that
   * records it is the only one that sees it (the next ones claim the mail no more), so this is where
   * it is reported (the sweep task logs an ERROR line per job).
   */
  readonly onRefused?: (refusal: FailureMailRefusal) => void;
}

interface PendingMailRow {
  id: string;
  kind: JobRow['kind'];
  file_name: string | null;
  requested_by: string | null;
  error: string | null;
  /** Null for a job failed because its execution ended before it started. */
  deadline_at: Date | null;
  attempt: number;
  /** The language of its mails, kept from its register (db migration 16); null: `en`. */
  locale: string | null;
  /** The job finished before the retention's cutoff: a mail SQS fails now is given up. */
  past_retention: boolean;
}

/**
 * One sweep of the jobs ledger:
 *
 * 1. Every job `running` past its `deadline_at`, or `registered` past the one a retry's hand-over set
 *    (its execution never took it: "the retry's execution <name> never took the job before its
 *    deadline", `handOverMissedReason` of @sidestep/jobs) (at most `limit`, oldest deadline first) gets the
 *    `fail` event through the jobs ledger (@sidestep/jobs' `fireJobEvent`: the same transition
 *    table, the same `job_transitions` audit row, fired by `sweeperId`), with the reason "no progress
 *    before the deadline (<deadline>)" and `swept_at = now`: each job in a transaction of its own
 *    ({@link failStaleJob}), which locks it again `FOR UPDATE SKIP LOCKED` and fails it only if it is
 *    still `running` (or `registered`) past its deadline. So two sweeps at once fail a job once, a job its workflow is
 *    moving right now is left to the next sweep rather than waited for, and so is an import whose
 *    staging a worker session holds ({@link stagingFree}). One transaction for all of them held every
 *    lock their fails took to its end: failing an import drops its staging, up to 256 segment tables,
 *    and a dozen such imports overflowed the server's shared lock table (53200 "out of shared
 *    memory"), so no stale job was ever failed. A crash between two jobs leaves each failed with its
 *    audit row, or untouched for the next sweep. A job whose transaction throws (its staging's drop
 *    runs out of `lock_timeout` behind a dead worker session holding a segment table, or any error of
 *    that row) is left `running`, untouched, and the sweep goes on with the jobs behind it and with
 *    the mails; it throws {@link StaleJobsNotFailedError} at the end. Stopping there would stop every
 *    job behind it, on every sweep, as the oldest are read first.
 * 2. Every swept job whose failure mail is not queued yet (this sweep's, or an earlier sweep's that
 *    died or failed before queuing) gets its `import.failed` / `export.failed` mail queued, then
 *    `sweep_mail_queued_at` set. A job is failed once (it is no longer `running`) and mailed once
 *    (the mail's id is `jobMailKey` of @sidestep/jobs, `<template>:<jobId>[:<attempt>]`, the key the
 *    mail-dispatcher sends once per).
 *
 * @throws {StaleJobsNotFailedError} some stale jobs could not be failed (they stay `running` for the
 * next sweep), thrown once the others were failed and the mails queued, naming each job and its
 * error, and the mail phase's error when it threw too: transient when every cause is, permanent when
 * one is a cause no retry cures (a bug), which is its `cause`.
 * @throws {FailureMailNotQueuedError} some mails could not be queued (transient; they stay pending);
 * it names the mails the same sweep refused too.
 * @throws {FailureMailRefusedError} mails are refused for good (permanent, recorded on their jobs
 * and not tried again; the others were queued), naming every one.
 */
export async function sweepStaleJobs(
  db: Database,
  mailQueue: MailQueue,
  options: SweepOptions,
): Promise<SweepStaleJobsOutput> {
  const limit = options.limit ?? 100;
  // Read without locks: each is locked, and read again, by the transaction that fails it.
  // Two arms, each read by its own index: a running job's deadline by `jobs_running_deadline_idx`
  // (db migration 3), a registered one's by `jobs_state_created` (18): registered jobs are the few in
  // flight, and only those a retry handed over have a deadline (HAND_OVER_DEADLINE_SECONDS).
  const { rows: stale } = await db.query<{ id: string }>(
    `SELECT id, deadline_at FROM jobs WHERE state = 'running' AND deadline_at < $1
     UNION ALL
     SELECT id, deadline_at FROM jobs WHERE state = 'registered' AND deadline_at < $1
     ORDER BY deadline_at, id
     LIMIT $2`,
    [options.now, limit],
  );
  const failed: SweptJob[] = [];
  // A job whose fail throws is set aside, not let stop the loop: the candidates are read oldest
  // first, so it would stop every job behind it, and their mails, on every sweep until it is mended.
  const notFailed: StaleJobFailure[] = [];
  for (const { id } of stale) {
    try {
      const swept = await db.transaction((tx) => failStaleJob(tx, id, options));
      if (swept) failed.push(swept);
    } catch (error) {
      notFailed.push({ jobId: id, error });
      // Unless the database cannot be reached at all: then every job after it would wait out its own
      // connect timeout and fail the same way, and the sweep could run out of Lambda's time.
      if (isDatabaseUnreachable(error)) break;
    }
  }

  if (notFailed.length === 0) {
    const mailed = await queuePendingMails(db, mailQueue, { ...options, limit });
    return { sweptAt: options.now.toISOString(), failed, mailed };
  }
  // The mails are queued still (this sweep's failed jobs', and earlier ones'), and what the mail phase
  // threw is named beside the jobs left running rather than hiding them, or hidden by them.
  const mailError = await queuePendingMails(db, mailQueue, { ...options, limit }).then(
    () => undefined,
    (error: unknown) => error,
  );
  throw new StaleJobsNotFailedError(notFailed, mailError);
}

/**
 * Fails job `jobId` if it is still `running` past its deadline at `now` and nobody holds it (its row
 * is locked `FOR UPDATE SKIP LOCKED`: another sweep failing it, or its workflow moving it, is not
 * waited for), nor, for an import, its staging ({@link stagingFree}). Only this job's locks are taken,
 * its staging's tables with them: PostgreSQL's shared lock table has room for about
 * `max_locks_per_transaction` x (`max_connections` + `max_prepared_transactions`) locks for all
 * sessions together, 6,400 by default (https://www.postgresql.org/docs/15/runtime-config-locks.html),
 * and a transaction holds each until it ends. Undefined: left to a later sweep.
 */
async function failStaleJob(
  tx: Queryable,
  jobId: string,
  options: Pick<SweepOptions, 'now' | 'sweeperId'>,
): Promise<SweptJob | undefined> {
  const { rows } = await tx.query<JobRow>(
    `SELECT ${JOB_COLUMNS} FROM jobs
     WHERE id = $1 AND state IN ('registered', 'running') AND deadline_at < $2
     FOR UPDATE SKIP LOCKED`,
    [jobId, options.now],
  );
  const job = rows[0];
  // The query guarantees a deadline; the guard keeps the types honest.
  if (!job || job.deadline_at === null) return undefined;
  if (job.kind === 'import' && !(await stagingFree(tx, job.id))) return undefined;
  // A registered job with a deadline was handed to a retry's execution that never took it: it never
  // started (the retry was cut before StartExecution), or ended before its StartJob, whose end event
  // failAbandonedJob would have failed it on.
  const reason =
    job.state === 'registered'
      ? handOverMissedReason(job.execution_id, job.deadline_at)
      : deadlineMissedReason(job.deadline_at);
  await fireJobEvent(tx, job, 'fail', {
    firedBy: options.sweeperId,
    reason,
    sweptAt: options.now,
    data: { deadlineAt: job.deadline_at.toISOString(), sweptAt: options.now.toISOString() },
  });
  return sweptJob(job.id, job.kind, job.attempt, job.deadline_at, reason);
}

/**
 * Locks import `jobId`'s staging row, if it has one, without waiting: false when a worker session
 * holds it (one streaming a segment holds it FOR UPDATE, as does a session whose task died and
 * whose connection the server has not yet noticed gone). Failing the job drops its staging, which
 * would wait for that session: the job is left to a later sweep, as a job row its workflow holds is
 * (SKIP LOCKED), instead of holding up (or, at lock_timeout, failing) the whole sweep. One statement
 * that cannot fail: a held row is skipped (no row: false), a free one is locked (true), and a job
 * without a staging is free.
 */
async function stagingFree(tx: Queryable, jobId: string): Promise<boolean> {
  const { rows } = await tx.query<{ free: boolean }>(
    `SELECT NOT EXISTS (SELECT FROM import_stagings WHERE job_id = $1)
         OR EXISTS (SELECT FROM import_stagings WHERE job_id = $1 FOR UPDATE SKIP LOCKED) AS free`,
    [jobId],
  );
  return rows[0]?.free === true;
}

/**
 * Queues the failure mail of every job the sweeper failed whose mail is still to be queued (at most
 * `limit`), and marks them queued (`sweep_mail_queued_at`). The pending mails are claimed with their
 * rows locked for the send and the mark, so two sweeps running at once (a manual fire during a
 * scheduled one) do not queue one mail twice. A crash between the send and the commit leaves the
 * mail pending: the next sweep queues it again with the same id, which the mail-dispatcher sends once.
 *
 * What was not queued is recorded on its job, in the same transaction, for operators to read: a mail
 * the contract refuses gets `sweep_mail_refused_at` and its reason in `sweep_mail_error`, and is
 * claimed no more (it would be refused again every sweep; the retention then deletes the job like
 * any finished one); a mail SQS failed stays pending with its reason in `sweep_mail_error`, and every
 * sweep tries it again (an outage ends, a queue's access is mended; the mail-dispatcher sends once
 * per key) while its job is within the retention (`retentionDays`). The retention keeps a job whose
 * mail is pending, so a mail SQS still fails once its job is past it is given up: refused, with
 * `not queued within <days> days: <SQS's error>`, and the job goes like any finished one.
 *
 * Each refusal is reported once, by the sweep that records it: `onRefused` is called for it after
 * the commit, and the error thrown names it, the transient one when some mails are also still
 * pending (so that Lambda retries the invocation; the retry does not report the refusals again).
 *
 * @returns the jobs whose mail was queued.
 * @throws {FailureMailNotQueuedError} some mails could not be queued (transient; they stay pending),
 * naming the refused ones too.
 * @throws {FailureMailRefusedError} mails were refused for good and none is still pending
 * (permanent, recorded on their jobs; the others were queued), naming each. Thrown by the sweep that
 * found them only: the next claims them no more.
 */
export async function queuePendingMails(
  db: Database,
  mailQueue: MailQueue,
  options: Pick<SweepOptions, 'now' | 'notifyAddress' | 'onRefused' | 'retentionDays'> & {
    readonly limit: number;
  },
): Promise<SweptJob[]> {
  const { limit } = options;
  const retentionDays = options.retentionDays ?? DEFAULT_JOB_RETENTION_DAYS;
  const { mailed, notQueued, refused } = await db.transaction(async (tx) => {
    const pending = await tx.query<PendingMailRow>(
      // When a job finished is read as the retention reads it (`deleteFinishedJobs` of @sidestep/ledger).
      `SELECT id, kind, file_name, requested_by, error, deadline_at, attempt, locale,
              ${JOBS_FINISHED_INDEX.finishedAt} < $2 AS past_retention
         FROM jobs
       WHERE ${SWEEP_MAIL_PENDING}
       ORDER BY swept_at, id
       LIMIT $1
       FOR UPDATE SKIP LOCKED`,
      [limit, retentionCutoff(options.now, retentionDays)],
    );
    const jobs = pending.rows.map((row) => {
      const reason =
        row.error ?? (row.deadline_at ? deadlineMissedReason(row.deadline_at) : UNKNOWN_FAILURE_REASON);
      return {
        pastRetention: row.past_retention,
        job: sweptJob(row.id, row.kind, row.attempt, row.deadline_at, reason),
        mail: failureMail(
          {
            jobId: row.id,
            kind: row.kind,
            attempt: row.attempt,
            fileName: row.file_name,
            requestedBy: row.requested_by,
            reason,
            locale: row.locale,
          },
          options.notifyAddress,
        ),
      };
    });
    const results = jobs.length > 0 ? await mailQueue.send(jobs.map(({ mail }) => mail)) : [];
    const sent: SweptJob[] = [];
    const failures: { jobId: string; reason: string }[] = [];
    const refusals: FailureMailRefusal[] = [];
    results.forEach((result, index) => {
      const entry = jobs[index];
      if (!entry) return;
      const { jobId } = entry.job;
      if (result.status === 'sent') sent.push(entry.job);
      else if (result.status === 'invalid')
        refusals.push(failureMailRefusal(jobId, result.field, result.message));
      else if (entry.pastRetention) {
        const refusal = `not queued within ${retentionDays} days: ${result.message}`;
        refusals.push({ jobId, field: null, refusal });
      } else failures.push({ jobId, reason: result.message });
    });
    if (sent.length > 0) {
      await tx.query(
        'UPDATE jobs SET sweep_mail_queued_at = $2, sweep_mail_error = NULL WHERE id = ANY($1)',
        [sent.map((job) => job.jobId), options.now],
      );
    }
    const notQueued = [
      ...failures.map(({ jobId, reason }) => ({ jobId, error: reason, refusedAt: null })),
      ...refusals.map(({ jobId, refusal }) => ({ jobId, error: refusal, refusedAt: options.now })),
    ];
    if (notQueued.length > 0) {
      await tx.query(
        `UPDATE jobs SET sweep_mail_error = outcome.error, sweep_mail_refused_at = outcome.refused_at
           FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS outcome (id, error, refused_at)
           WHERE jobs.id = outcome.id`,
        [
          notQueued.map((entry) => entry.jobId),
          notQueued.map((entry) => escapeNul(entry.error)),
          notQueued.map((entry) => entry.refusedAt),
        ],
      );
    }
    return { mailed: sent, notQueued: failures, refused: refusals };
  });
  for (const refusal of refused) options.onRefused?.(refusal);
  if (notQueued.length > 0) throw new FailureMailNotQueuedError(notQueued, refused);
  if (refused.length > 0) throw new FailureMailRefusedError(refused);
  return mailed;
}

/** What the sweeper reports about a job it failed or mailed. */
export function sweptJob(
  jobId: string,
  kind: SweptJob['kind'],
  attempt: number,
  deadlineAt: Date | null,
  reason: string,
): SweptJob {
  return {
    jobId,
    kind,
    deadlineAt: deadlineAt?.toISOString() ?? null,
    reason,
    mailId: failureMailId(kind, jobId, attempt),
  };
}
