import {
  type ExecutionStatusChange,
  MAIL_NOT_QUEUED_ERROR,
  type MailSendJobInput,
  type StaleEventJob,
  type SweepStaleJobsOutput,
  type SweptJob,
  shorten,
} from '@sidestep/contracts';
import type { Database, Queryable } from '@sidestep/db/postgres';
import {
  completionMail,
  failureReason,
  fireJobEvent,
  JOB_COLUMNS,
  type JobRow,
  MAX_REASON_LENGTH,
} from '@sidestep/jobs';
import { latestRedriveCount } from '@sidestep/ledger';
import { isPermanentError } from '@sidestep/runtime';
import { UnsentMailNotQueuedError, UnsentMailRefusedError } from './errors.ts';
import { type MailQueue, queuePendingMails, type SweepOptions, sweptJob } from './sweep-stale-jobs.ts';

/**
 * Why the job of an execution that ended without finishing it failed: what the operator (or the
 * deploy) gave StopExecution, the execution's time limit, or, for an execution that failed, the
 * batch-worker's own reason (`workerError`) as the failure path would have recorded it
 * (`failureReason`, which the status-updater uses too), else the error the workflow ended with
 * (Lambda error documents read as the failure path reads them). An execution whose MarkFailed could
 * not reach the ledger ends FAILED with the ledger's error: the job keeps the worker's reason, not
 * that one.
 */
export function abandonedReason(
  detail: ExecutionStatusChange['detail'],
  workerError: string | null = null,
): string {
  const { name, status, error, cause } = detail;
  let reason: string;
  if (status === 'ABORTED') {
    const given = [error, cause].filter((part) => part !== null && part !== undefined && part !== '');
    reason = `aborted: execution ${name} was stopped${given.length > 0 ? ` (${given.join(': ')})` : ''}`;
  } else if (status === 'TIMED_OUT') {
    reason = `timed out: execution ${name} ran past its time limit`;
  } else if (workerError?.trim()) {
    return failureReason(workerError, undefined);
  } else {
    reason = `the workflow failed: ${failureReason(null, {
      ...(error ? { Error: error } : {}),
      ...(cause ? { Cause: cause } : {}),
    })}`;
  }
  return shorten(reason, MAX_REASON_LENGTH);
}

/** What {@link failAbandonedJob} needs besides the ledger, the mail queue and the event. */
export interface FailAbandonedJobOptions extends SweepOptions {
  /**
   * Told the ids of the execution's jobs still to fail, as soon as they are found (before they are
   * failed), so the handler's log lines can name them even when failing or mailing them fails.
   */
  readonly found?: (jobIds: readonly string[]) => void;
  /** Told each job left as it is because the event is older than the execution's latest redrive. */
  readonly stale?: (job: StaleEventJob) => void;
  /** Whether to queue the sweeper's pending mails too (a scheduled sweep does it itself). @default true */
  readonly pendingMails?: boolean;
  /** What handles the end, as `workflow_execution_ends.handled_by` says: its event, or the sweep's backstop. @default 'event' */
  readonly via?: 'event' | 'sweep';
}

/** The statuses after which an execution moves its job no more: what the workflows' status rule matches. */
export const ENDED_STATUSES = ['FAILED', 'ABORTED', 'TIMED_OUT'] as const;
export type EndedStatus = (typeof ENDED_STATUSES)[number];

/** Whether an execution with `status` ended without finishing its workflow. */
export function isEnded(status: string): status is EndedStatus {
  return (ENDED_STATUSES as readonly string[]).includes(status);
}

/**
 * Fails the job an execution left behind when the execution ended (Step Functions' "Execution
 * Status Change" event, routed by the workflows' status rule): an aborted execution (an operator's
 * or a deploy's StopExecution), one that timed out, or one that failed before its failure path could
 * fail the job. In one transaction, the execution's job still `registered` or `running` gets `fail`
 * through the jobs ledger with the reason ({@link abandonedReason}) and `swept_at`, like a job past
 * its deadline; then its failure mail is queued with the sweeper's pending mails (once, see
 * `queuePendingMails`).
 *
 * A job of the execution that is `succeeded` already (the batch-worker commits an import's job with
 * its rows, before FinishJob; an export's FinishJob commits before NotifyReady) is left as it is, and
 * its success mail queued ({@link completionMail} of @sidestep/jobs: the envelope and key the
 * workflow's Notify step sends): the execution may have ended before that step (an operator's or a
 * deploy's stop, FinishJob's answer lost and MarkFailed failing too). Whether the workflow queued it
 * first is not known here (nothing in the ledger records a Notify), so it is queued on every such
 * end, and the mail-dispatcher sends it once per key and payload. A mail SQS does not take is
 * {@link UnsentMailNotQueuedError}, one the contract refuses {@link UnsentMailRefusedError}, as for
 * the Cause below; both thrown after the pending mails are queued.
 *
 * An execution that ended FAILED with `MailNotQueuedError` (@sidestep/contracts
 * `MAIL_NOT_QUEUED_ERROR`) could not queue the mail its Cause holds: that envelope is queued again
 * ({@link requeueUnsentMail}), its job left as it is.
 *
 * A redrive (RedriveExecution) runs the job again under the same execution ARN, the job still
 * `running`: an event of the execution's end before the redrive, delivered late (Lambda retries a
 * failed invocation a minute or two later, an operator reinvokes it from the async-failures queue),
 * would fail the job the redrive now runs and throw its work away. Step Functions' event carries the
 * execution's `redriveCount` at the change
 * (https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html; a redrive adds
 * one, https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html), and ops records
 * each redrive in the ledger before it calls RedriveExecution, as a claim of the job with the count
 * it read before (`claimRedrive`, under the job's row lock, taken here too). So an event whose count
 * is below the latest claim's plus one ({@link latestRedriveCount}) is stale: its job is left as it
 * is, reported to `stale` and in `ignored`. The claims are the signal rather than the job's last
 * transition time against the event's `stopDate`: a redrive changes none of the job's state (it stays
 * `running`, and its redriven worker finds it so), the claim is its only trace in the ledger, and the
 * counts compare exactly where the times would compare Step Functions' clock with the database's.
 * They can only err one way each: a redrive ops could not claim (the ledger down; it
 * warns) has no claim, and its stale event fails the job as before this check; a claim kept for a
 * RedriveExecution that answered nothing yet did not run leaves its execution's last end ignored, and
 * the job to its deadline (the scheduled sweep fails it). An event of the redrive's own end (the same
 * count as the latest) fails the job.
 *
 * Idempotent: a redelivered event finds the job failed already, and queues the same envelope again,
 * which the mail-dispatcher sends once per key; a job the workflow failed itself (an execution that
 * ended FAILED after its failure path) is left alone, a job that succeeded keeps its state (its
 * success mail queued again, the same envelope), and an event of any other status is left alone.
 */
export async function failAbandonedJob(
  db: Database,
  mailQueue: MailQueue,
  event: ExecutionStatusChange,
  options: FailAbandonedJobOptions,
): Promise<SweepStaleJobsOutput> {
  const { detail } = event;
  // Events from before Step Functions sent one are of executions never redriven.
  const redriveCount = detail.redriveCount ?? 0;
  const failed: SweptJob[] = [];
  const ignored: StaleEventJob[] = [];
  // An execution that could not queue its mail holds it in its Cause, queued again below: its job's
  // success mail, if the job succeeded, is that very mail.
  const unsentMail = detail.status === 'FAILED' && detail.error === MAIL_NOT_QUEUED_ERROR;
  let succeeded: JobRow[] = [];
  if (isEnded(detail.status)) {
    await db.transaction(async (tx) => {
      // One read for both: the jobs to fail, and the succeeded ones whose success mail is queued.
      const { rows: jobs } = await tx.query<JobRow>(
        `SELECT ${JOB_COLUMNS} FROM jobs
         WHERE execution_id = $1 AND state IN ('registered', 'running', 'succeeded')
         FOR UPDATE`,
        [detail.executionArn],
      );
      const rows = jobs.filter((job) => job.state !== 'succeeded');
      if (!unsentMail) succeeded = jobs.filter((job) => job.state === 'succeeded');
      if (rows.length > 0) options.found?.(rows.map((job) => job.id));
      for (const job of rows) {
        const latest = await latestRedriveCount(tx, job.id, detail.executionArn);
        if (redriveCount < latest) {
          const stale = { jobId: job.id, redriveCount, latestRedriveCount: latest };
          options.stale?.(stale);
          ignored.push(stale);
          continue;
        }
        const reason = abandonedReason(detail, job.worker_error);
        await fireJobEvent(tx, job, 'fail', {
          firedBy: options.sweeperId,
          reason,
          sweptAt: options.now,
          data: {
            execution: { status: detail.status, error: detail.error ?? null, cause: detail.cause ?? null },
          },
        });
        failed.push(sweptJob(job.id, job.kind, job.attempt, job.deadline_at, reason));
      }
    });
  }
  // The execution's own unsent mail, or else its succeeded jobs' success mails (never both: a job's
  // success mail held in the Cause is that very mail). Its error waits for the pending mails below: a
  // mail refused or not queued must not keep the sweeper from queueing the others.
  const owed = unsentMail
    ? requeueUnsentMail(mailQueue, detail).then((id) => ({ requeued: [id] }))
    : succeeded.length > 0
      ? queueMails(
          mailQueue,
          detail,
          succeeded.map((job) => completionMail(job, options.notifyAddress)),
        ).then((ids) => ({ completed: ids }))
      : undefined;
  const queued = await owed?.then(
    (result) => ({ result }),
    (error: unknown) => ({ error }),
  );
  const mailed =
    options.pendingMails === false
      ? []
      : await queuePendingMails(db, mailQueue, { ...options, limit: options.limit ?? 100 });
  // Its work done, the end is recorded, so the scheduled sweep's backstop for lost events
  // (`reconcileEndedExecutions`) leaves it: also an end whose jobs were left to a redrive's claim
  // (`ignored`), which the next sweeps would only leave again (the redrive's own end has a count of
  // its own), and one whose mail no retry can queue (a permanent error, thrown once it is recorded:
  // the event's invocation and the sweep would otherwise fail on it again and again).
  const failure = queued && 'error' in queued ? { error: queued.error } : undefined;
  if (isEnded(detail.status) && (failure === undefined || isPermanentError(failure.error))) {
    await recordExecutionEnd(
      db,
      { executionArn: detail.executionArn, redriveCount, status: detail.status },
      `${options.via ?? 'event'} ${options.sweeperId}`,
    );
  }
  if (failure) throw failure.error;
  return {
    sweptAt: options.now.toISOString(),
    failed,
    mailed,
    ...(queued && 'result' in queued ? queued.result : {}),
    ...(ignored.length > 0 ? { ignored } : {}),
  };
}

/**
 * Queues the mail envelope an execution's Cause holds (see {@link failAbandonedJob}) and answers its
 * id. The producer validates it against the mail contract before it sends, as every mail the sweeper
 * queues: a Cause that is not a mail is refused naming the field ({@link UnsentMailRefusedError}), one
 * SQS does not take is {@link UnsentMailNotQueuedError}.
 */
export async function requeueUnsentMail(
  mailQueue: MailQueue,
  detail: ExecutionStatusChange['detail'],
): Promise<string> {
  let envelope: unknown;
  try {
    envelope = JSON.parse(detail.cause ?? '');
  } catch (error) {
    throw new UnsentMailRefusedError(
      detail.name,
      'detail.cause',
      `not a mail envelope: ${(error as Error).message}`,
    );
  }
  const [id] = await queueMails(mailQueue, detail, [envelope as MailSendJobInput]);
  return id ?? '';
}

/**
 * Queues `mails`, which execution `detail` left unsent, and answers their ids: a mail the contract
 * refuses is {@link UnsentMailRefusedError} (naming the field), one SQS does not take
 * {@link UnsentMailNotQueuedError}, thrown once every mail was tried.
 */
async function queueMails(
  mailQueue: MailQueue,
  detail: ExecutionStatusChange['detail'],
  mails: readonly MailSendJobInput[],
): Promise<string[]> {
  const results = await mailQueue.send(mails);
  for (const result of results) {
    if (result.status === 'invalid')
      throw new UnsentMailRefusedError(detail.name, result.field, result.message);
  }
  if (results.length < mails.length) throw new UnsentMailNotQueuedError(detail.name, 'the mail', 'no result');
  for (const result of results) {
    if (result.status === 'failed')
      throw new UnsentMailNotQueuedError(detail.name, result.id, result.message);
  }
  return results.map((result) => result.id);
}

/**
 * Records that an execution's end (its ARN, its redrive count at the end) was handled, by `by`: the
 * status change event's invocation or the sweep's backstop (`event <sweeper id>`, `sweep <sweeper
 * id>`). Recorded once; a second handling changes nothing.
 */
async function recordExecutionEnd(
  db: Queryable,
  end: { readonly executionArn: string; readonly redriveCount: number; readonly status: string },
  by: string,
): Promise<void> {
  await db.query(
    `INSERT INTO workflow_execution_ends (execution_arn, redrive_count, status, handled_by)
     VALUES ($1, $2, $3, $4)
     ON CONFLICT (execution_arn, redrive_count) DO NOTHING`,
    [end.executionArn, end.redriveCount, end.status, by],
  );
}
