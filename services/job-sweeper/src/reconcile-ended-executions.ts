import {
  type ExecutionStatusChange,
  MAX_JOB_DEADLINE_SECONDS,
  type ReconciledEnd,
} from '@sidestep/contracts';
import type { Database } from '@sidestep/db/postgres';
import { SidestepError } from '@sidestep/runtime';
import { type FailAbandonedJobOptions, failAbandonedJob, recordExecutionEnd } from './fail-abandoned-job.ts';
import type { MailQueue } from './sweep-stale-jobs.ts';

/** The statuses of an execution that ended without finishing its workflow: what the status rule matches. */
export const ENDED_STATUSES = ['FAILED', 'ABORTED', 'TIMED_OUT'] as const;
export type EndedStatus = (typeof ENDED_STATUSES)[number];

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
  /** How far back an execution may have started and still be looked at. @default {@link DEFAULT_LOOKBACK_MS} */
  readonly lookbackMs?: number;
  /**
   * How long an end is left to its own event before the sweep handles it (the event is usually
   * there within seconds; handling it twice is harmless, only wasted). @default 60 s
   */
  readonly graceMs?: number;
  /** Ends handled per sweep at most; the rest wait for the next sweep. @default 20 */
  readonly maxEnds?: number;
}

/** What a reconciliation did, and the end it could not handle (its error), if one failed. */
export interface ReconcileResult {
  readonly reconciled: readonly ReconciledEnd[];
  /** The first end whose handling failed (the others were tried); thrown by the caller after the rest of the sweep. */
  readonly error?: unknown;
}

/**
 * The look-back: a job's run is bounded by its deadline (at most {@link MAX_JOB_DEADLINE_SECONDS}, 7
 * days), and a day more covers the steps around it. Within the mail-dispatcher's idempotency records'
 * life (at least 15 days, `idempotencyRecordSeconds` of @sidestep/manifest), so a mail queued again for
 * an end handled before (by an event before this table, or one whose record was deleted) is sent once.
 */
export const DEFAULT_LOOKBACK_MS = (MAX_JOB_DEADLINE_SECONDS + 24 * 3600) * 1000;
export const DEFAULT_GRACE_MS = 60_000;
export const DEFAULT_MAX_ENDS = 20;
/** Recorded ends are kept this long past the look-back, then deleted by the sweep. */
const KEEP_RECORDS_MS = 24 * 3600_000;

/**
 * The backstop for the workflows' status change events, which Step Functions sends best effort
 * (https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html: "Delivery type: Best
 * effort"; https://docs.aws.amazon.com/eventbridge/latest/ref/event-delivery-level.html: "in some rare
 * cases an event might not be delivered"). The event is the only path for the mail an execution could
 * not queue (its `MailNotQueuedError` Cause) and for the success mail of a job that succeeded before
 * its execution was stopped or failed; a lost event would lose that mail for good (and leave a job of
 * the execution `running` until its deadline). So each scheduled sweep lists, per workflow, the
 * executions that ended FAILED, ABORTED or TIMED_OUT and started within the look-back, and hands
 * each end that no one handled yet (`workflow_execution_ends`) and that ended at least `graceMs` ago
 * to {@link failAbandonedJob}, as its event would have, with the execution as DescribeExecution
 * answers now (an execution redriven since is RUNNING again and left to its own end). Handling is
 * idempotent, so an end handled by both its late event and the sweep fails nothing twice, and the
 * mail-dispatcher sends a mail once per key; an end is recorded once its work is done, so one whose
 * mail could not be queued is tried again by the next sweep. At most `maxEnds` ends per sweep.
 */
export async function reconcileEndedExecutions(
  db: Database,
  mailQueue: MailQueue,
  executions: WorkflowExecutions,
  options: ReconcileOptions,
): Promise<ReconcileResult> {
  const now = options.now.getTime();
  const startedSince = new Date(now - (options.lookbackMs ?? DEFAULT_LOOKBACK_MS));
  const endedBefore = now - (options.graceMs ?? DEFAULT_GRACE_MS);
  const maxEnds = options.maxEnds ?? DEFAULT_MAX_ENDS;
  const candidates: { executionArn: string; redriveCount: number; status: EndedStatus }[] = [];
  for (const stateMachineArn of options.stateMachineArns) {
    for (const status of ENDED_STATUSES) {
      for await (const execution of executions.ended(stateMachineArn, status, startedSince)) {
        if (!execution.stopDate || execution.stopDate.getTime() > endedBefore) continue;
        candidates.push({
          executionArn: execution.executionArn,
          redriveCount: execution.redriveCount ?? 0,
          status,
        });
      }
    }
  }
  await db.query('DELETE FROM workflow_execution_ends WHERE handled_at < $1', [
    new Date(startedSince.getTime() - KEEP_RECORDS_MS),
  ]);
  if (candidates.length === 0) return { reconciled: [] };
  const { rows: handled } = await db.query<{ execution_arn: string; redrive_count: number }>(
    'SELECT execution_arn, redrive_count FROM workflow_execution_ends WHERE execution_arn = ANY($1)',
    [candidates.map((candidate) => candidate.executionArn)],
  );
  const done = new Set(handled.map((row) => `${row.redrive_count} ${row.execution_arn}`));
  const unhandled = candidates.filter((c) => !done.has(`${c.redriveCount} ${c.executionArn}`));
  const reconciled: ReconciledEnd[] = [];
  let error: unknown;
  for (const { executionArn, redriveCount, status } of unhandled.slice(0, maxEnds)) {
    try {
      const detail = await executions.describe(executionArn);
      // Redriven since it was listed: its new run ends on its own (and is handled then).
      if (!(ENDED_STATUSES as readonly string[]).includes(detail.status)) continue;
      const event: ExecutionStatusChange = {
        source: 'aws.states',
        'detail-type': 'Step Functions Execution Status Change',
        detail,
      };
      // The stale-job sweep that follows queues the failure mails of the jobs failed here.
      const output = await failAbandonedJob(db, mailQueue, event, { ...options, pendingMails: false });
      reconciled.push({
        executionArn,
        redriveCount: detail.redriveCount ?? 0,
        status: detail.status,
        failed: output.failed.map((job) => job.jobId),
        queued: [...(output.requeued ?? []), ...(output.completed ?? [])],
      });
    } catch (failure) {
      // The others are still tried: one end whose mail cannot be queued must not hold up the rest.
      error ??= failure;
      // One no retry cures (its Cause is no mail the contract takes) is recorded as handled, so the
      // next sweeps do not fail on it again; this sweep throws it, as the event's invocation would.
      if (failure instanceof SidestepError && failure.permanent) {
        await recordExecutionEnd(db, { executionArn, redriveCount, status }, options.sweeperId);
      }
    }
  }
  return { reconciled, ...(error === undefined ? {} : { error }) };
}
