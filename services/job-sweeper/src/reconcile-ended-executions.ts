import {
  type ExecutionStatusChange,
  MAX_JOB_DEADLINE_SECONDS,
  MIN_JOB_RETENTION_DAYS,
  type ReconciledEnd,
} from '@sidestep/contracts';
import type { Database } from '@sidestep/db/postgres';
import {
  ENDED_STATUSES,
  type EndedStatus,
  type FailAbandonedJobOptions,
  failAbandonedJob,
  isEnded,
} from './fail-abandoned-job.ts';
import type { MailQueue } from './sweep-stale-jobs.ts';

/** An execution as ListExecutions lists it: enough to tell whether its end was handled. */
export interface EndedExecution {
  readonly executionArn: string;
  readonly startDate: Date;
  readonly stopDate?: Date;
  /** Its redrives so far (0, or absent, for one never redriven). */
  readonly redriveCount?: number;
}

/** The workflows' executions, as Step Functions answers for them (the adapter: `adapters/step-functions.ts`). */
export interface WorkflowExecutions {
  /**
   * The executions of `stateMachineArn` with `status` that started at or after `startedSince`
   * (ListExecutions with `statusFilter`, newest first, paged until one started before).
   */
  ended(stateMachineArn: string, status: EndedStatus, startedSince: Date): AsyncIterable<EndedExecution>;
  /** The execution as DescribeExecution answers now, as the status change event's detail carries it. */
  describe(executionArn: string): Promise<ExecutionStatusChange['detail']>;
}

/** What {@link reconcileEndedExecutions} needs besides the ledger, the mail queue and Step Functions. */
export interface ReconcileOptions extends FailAbandonedJobOptions {
  /** The workflows' state machines (`WORKFLOW_STATE_MACHINE_ARNS`). */
  readonly stateMachineArns: readonly string[];
  /**
   * How long an end is left to its own event before the sweep handles it (the event is usually
   * there within seconds; handling it twice is harmless, only wasted). @default 60 s
   */
  readonly graceMs?: number;
  /** Ends handled per sweep at most; the rest wait for the next sweep. @default 20 */
  readonly maxEnds?: number;
  /**
   * Executions read per workflow and status at most, newest first: a sweep's listing stays within a
   * few calls however many executions ended (6 of 1,000: the 5,001st, on the sixth, says there were
   * more). @default 5,000
   */
  readonly maxListed?: number;
}

/** An end the sweep could not handle, or the listing that failed (no execution). */
export interface ReconcileFailure {
  readonly executionArn?: string;
  readonly error: unknown;
}

/** What a reconciliation did, and what it could not do (each failure; the others were still tried). */
export interface ReconcileResult {
  readonly reconciled: readonly ReconciledEnd[];
  readonly failures: readonly ReconcileFailure[];
  /** The listings that stopped at `maxListed`: their older executions were not looked at. */
  readonly capped?: readonly { readonly stateMachineArn: string; readonly status: EndedStatus }[];
}

const DAY_MS = 24 * 3600_000;

/**
 * The ends the sweep handles: those of the last 8 days, a job's longest run (its deadline, at most
 * {@link MAX_JOB_DEADLINE_SECONDS}, 7 days) and a day: every end while the sweep runs every 15
 * minutes, and after an outage of the sweep that long. Within the mail-dispatcher's idempotency
 * records' life (at least 15 days, `idempotencyRecordSeconds` of @sidestep/manifest), so a mail queued
 * again for an end handled before (by an event before the backstop's table existed) is sent once.
 */
export const END_WINDOW_MS = MAX_JOB_DEADLINE_SECONDS * 1000 + DAY_MS;

/**
 * How far back an execution's start is listed: ListExecutions keeps an execution's first start when
 * it is redriven, and a redrive may come up to {@link MIN_JOB_RETENTION_DAYS} (14) days after the
 * failure (https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html). An end within
 * {@link END_WINDOW_MS} can be of an execution whose first run (up to 8 days), the wait for its redrive
 * (up to 14) and its redriven run (up to 8) came before: 38 days. An execution redriven again after
 * that is past it.
 */
export const LISTED_SINCE_MS =
  END_WINDOW_MS + END_WINDOW_MS + MIN_JOB_RETENTION_DAYS * DAY_MS + END_WINDOW_MS;

export const DEFAULT_GRACE_MS = 60_000;
export const DEFAULT_MAX_ENDS = 20;
export const DEFAULT_MAX_LISTED = 5_000;

/**
 * The backstop for the workflows' status change events, which Step Functions sends best effort
 * (https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html: "Delivery type: Best
 * effort"; https://docs.aws.amazon.com/eventbridge/latest/ref/event-delivery-level.html: "in some rare
 * cases an event might not be delivered"). The event is the only path for the mail an execution could
 * not queue (its `MailNotQueuedError` Cause) and for the success mail of a job that succeeded before
 * its execution was stopped or failed; a lost event would lose that mail for good (and leave a job of
 * the execution `running` until its deadline). So each scheduled sweep lists, per workflow, the
 * executions that ended FAILED, ABORTED or TIMED_OUT ({@link LISTED_SINCE_MS}), and hands each end of
 * the last {@link END_WINDOW_MS} that no one handled yet (`workflow_execution_ends`) and that ended at
 * least `graceMs` ago to {@link failAbandonedJob}, as its event would have, with the execution as
 * DescribeExecution answers now (an execution redriven since is RUNNING again and left to its own
 * end). Handling is idempotent, so an end handled by both its late event and the sweep fails nothing
 * twice, and the mail-dispatcher sends a mail once per key; an end is recorded once its work is done
 * (or no retry can do it), so one whose mail could not be queued is tried again by the next sweep. At
 * most `maxEnds` ends per sweep. The pending failure mails of the jobs it fails are left to the
 * stale-job pass.
 */
export async function reconcileEndedExecutions(
  db: Database,
  mailQueue: MailQueue,
  executions: WorkflowExecutions,
  options: ReconcileOptions,
): Promise<ReconcileResult> {
  const now = options.now.getTime();
  const endedSince = now - END_WINDOW_MS;
  const endedBefore = now - (options.graceMs ?? DEFAULT_GRACE_MS);
  const maxEnds = options.maxEnds ?? DEFAULT_MAX_ENDS;
  const maxListed = options.maxListed ?? DEFAULT_MAX_LISTED;
  const candidates: { executionArn: string; redriveCount: number }[] = [];
  const capped: { stateMachineArn: string; status: EndedStatus }[] = [];
  try {
    for (const stateMachineArn of options.stateMachineArns) {
      for (const status of ENDED_STATUSES) {
        let listed = 0;
        for await (const execution of executions.ended(
          stateMachineArn,
          status,
          new Date(now - LISTED_SINCE_MS),
        )) {
          // Leaving the loop ends the listing: no page after this one is asked for.
          if (++listed > maxListed) {
            capped.push({ stateMachineArn, status });
            break;
          }
          const stopped = execution.stopDate?.getTime();
          if (stopped === undefined || stopped < endedSince || stopped > endedBefore) continue;
          candidates.push({
            executionArn: execution.executionArn,
            redriveCount: execution.redriveCount ?? 0,
          });
        }
      }
    }
  } catch (error) {
    return { reconciled: [], failures: [{ error }] };
  }
  const cappedResult = capped.length > 0 ? { capped } : {};
  // A record outlives its end's window by a day (its handling is later than the end), then goes.
  await db.query('DELETE FROM workflow_execution_ends WHERE handled_at < $1', [
    new Date(endedSince - DAY_MS),
  ]);
  if (candidates.length === 0) return { reconciled: [], failures: [], ...cappedResult };
  const { rows: handled } = await db.query<{ execution_arn: string; redrive_count: number }>(
    'SELECT execution_arn, redrive_count FROM workflow_execution_ends WHERE execution_arn = ANY($1)',
    [candidates.map((candidate) => candidate.executionArn)],
  );
  const done = new Set(handled.map((row) => `${row.redrive_count} ${row.execution_arn}`));
  const unhandled = candidates.filter((c) => !done.has(`${c.redriveCount} ${c.executionArn}`));
  const reconciled: ReconciledEnd[] = [];
  const failures: ReconcileFailure[] = [];
  for (const { executionArn } of unhandled.slice(0, maxEnds)) {
    try {
      const detail = await executions.describe(executionArn);
      // Redriven since it was listed: its new run ends on its own (and is handled then).
      if (!isEnded(detail.status)) continue;
      const event: ExecutionStatusChange = {
        source: 'aws.states',
        'detail-type': 'Step Functions Execution Status Change',
        detail,
      };
      const output = await failAbandonedJob(db, mailQueue, event, {
        ...options,
        pendingMails: false,
        via: 'sweep',
      });
      reconciled.push({
        executionArn,
        redriveCount: detail.redriveCount ?? 0,
        status: detail.status,
        failed: output.failed.map((job) => job.jobId),
        queued: [...(output.requeued ?? []), ...(output.completed ?? [])],
      });
    } catch (error) {
      // The others are still tried: one end whose mail cannot be queued must not hold up the rest.
      failures.push({ executionArn, error });
    }
  }
  return { reconciled, failures, ...cappedResult };
}
