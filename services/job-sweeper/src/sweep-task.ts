import type { Logger } from '@aws-lambda-powertools/logger';
import {
  DEFAULT_JOB_RETENTION_DAYS,
  JobSweeperInput,
  type StaleEventJob,
  type SweepStaleJobsOutput,
} from '@sidestep/contracts';
import type { Database } from '@sidestep/db/postgres';
import { ledgerError } from '@sidestep/jobs';
import type { TaskHandlerOptions } from '@sidestep/runtime';
import type { Context } from 'aws-lambda';
import { type FailureMailRefusal, JobSweeperError } from './errors.ts';
import { type FailAbandonedJobOptions, failAbandonedJob } from './fail-abandoned-job.ts';
import { DEFAULT_PURGE_TIME_BUDGET_MS, type IdempotencyRecords, purgeExpired } from './purge-expired.ts';
import {
  type ReconcileResult,
  reconcileEndedExecutions,
  type WorkflowExecutions,
} from './reconcile-ended-executions.ts';
import { type MailQueue, sweepStaleJobs } from './sweep-stale-jobs.ts';

/** What {@link sweepTask} needs. */
export interface SweepTaskOptions {
  /** The jobs ledger; called once per invocation, so it may connect lazily and cache the connection. */
  readonly database: () => Promise<Database>;
  readonly mailQueue: MailQueue;
  /** Who gets an import's failure mail. */
  readonly notifyAddress: string;
  /** The sweep's clock. @default the system clock */
  readonly now?: () => Date;
  /** Jobs failed per sweep at most. @default 100 */
  readonly limit?: number;
  /** The mail-dispatcher's idempotency records, whose expired ones a scheduled sweep purges. */
  readonly idempotencyRecords: IdempotencyRecords;
  /** Days a finished job and an audit entry are kept (`JOB_RETENTION_DAYS`). @default 90 */
  readonly retentionDays?: number;
  /**
   * The workflows' executions, whose ends a scheduled sweep handles when no status change event did
   * ({@link reconcileEndedExecutions}), and their state machines (`WORKFLOW_STATE_MACHINE_ARNS`).
   * @default none: no reconciliation
   */
  readonly workflowExecutions?: {
    readonly executions: WorkflowExecutions;
    readonly stateMachineArns: readonly string[];
    /** How long an end is left to its event (`WORKFLOW_END_GRACE_SECONDS`). @default 60 s */
    readonly graceMs?: number;
  };
}

/** What a scheduled sweep leaves of its invocation's time after the retention's last batch starts. */
const PURGE_MARGIN_MS = 15_000;

/**
 * The job-sweeper as a task for `createTaskHandler`, invoked by its schedule or the operator rule
 * with `{}` (or nothing): one {@link sweepStaleJobs}, then {@link purgeExpired} (run even when the
 * sweep failed, whose error is thrown after it: a mail that cannot be queued must not keep the
 * ledger from its retention; a purge that fails is logged, `retention purge failed`, and fails
 * nothing: the sweep's output, without `purged`, or its error stands); or by the workflows' status rule with a Step
 * Functions "Execution Status Change" event: {@link failAbandonedJob}. The Lambda request id is the
 * sweeper's id in the audit trail; it logs what it failed and mailed, and for an event the
 * execution (`executionId`, its ARN, and `executionName`) and, once found, its job (`jobId`), a
 * job an event older than the execution's latest redrive leaves as it is on a WARN line of its own
 * (`stale execution event ignored`, with the counts and why; `ignored` on the outcome's line), and
 * each failure mail refused for good on an ERROR line of its own (`failure mail refused`, with
 * `jobId`, `field`, `refusal`). Errors are thrown with their
 * `name` (Lambda retries an asynchronous invocation twice, then keeps the event with its error in
 * `sidestep-<env>-job-sweeper-async-failures`): a bad input is
 * `InvalidInputError`, a database that cannot be reached `JobLedgerUnavailableError`.
 */
export function sweepTask(
  options: SweepTaskOptions,
): TaskHandlerOptions<typeof JobSweeperInput, SweepStaleJobsOutput> {
  const now = options.now ?? (() => new Date());
  return {
    schema: JobSweeperInput,
    subject: 'sweep input',
    defaultInput: {},
    // A workflow-ended event's lines name its execution (the ARN under the key the status-updater
    // logs it by, and the name the console and `sidestep job` show); a scheduled sweep has none.
    correlation: (input) =>
      'detail' in input ? { executionId: input.detail.executionArn, executionName: input.detail.name } : {},
    run: async (input, { lambdaContext, logger }) => {
      const db = await options.database();
      const sweep = {
        now: now(),
        sweeperId: `job-sweeper:${lambdaContext.awsRequestId}`,
        notifyAddress: options.notifyAddress,
        ...(options.limit === undefined ? {} : { limit: options.limit }),
        retentionDays: options.retentionDays ?? DEFAULT_JOB_RETENTION_DAYS,
        // A refused mail is reported here once, by the sweep that records it (the next ones skip it):
        // its job, the field and the contract's reason, which names the rule, never the address (or,
        // for a mail given up past the retention, SQS's error).
        onRefused: ({ jobId, field, refusal }: FailureMailRefusal) =>
          logger.error({
            message: 'failure mail refused',
            jobId,
            ...(field === null ? {} : { field }),
            refusal,
          }),
      };
      // Left as it is, not dropped: a WARN line each, and the outcome's `ignored` counts them.
      const stale = (job: StaleEventJob) =>
        logger.warn({
          message: 'stale execution event ignored',
          ...job,
          why: `the execution was redriven since this event (its redrive ${job.latestRedriveCount} runs the job): an event of redriveCount ${job.redriveCount} is of an end before it`,
        });
      let output: SweepStaleJobsOutput;
      if ('detail' in input) {
        output = await failAbandonedJob(db, options.mailQueue, input, {
          ...sweep,
          // The job is known once it is found: every later line, the outcome's too, names it.
          found: (jobIds) => logger.appendKeys({ jobId: jobIds.join(',') }),
          stale,
        });
      } else {
        output = await scheduledSweep(db, options, { ...sweep, stale }, logger, lambdaContext);
      }
      const log = {
        failed: output.failed.map((job) => job.jobId),
        mailed: output.mailed.map((job) => job.jobId),
        ...(output.requeued ? { requeued: output.requeued } : {}),
        ...(output.ignored ? { ignored: output.ignored.map((job) => job.jobId) } : {}),
        ...(output.purged ? { purged: output.purged } : {}),
        ...(output.reconciled ? { reconciled: output.reconciled.map((end) => end.executionArn) } : {}),
      };
      return { output, log };
    },
    // The sweeper's own errors keep their names (FailureMailNotQueuedError is transient, not the ledger's).
    mapError: (error) => (error instanceof JobSweeperError ? error : ledgerError(error)),
    messages: { succeeded: 'stale jobs swept', failed: 'sweep failed' },
  };
}

/** What one invocation's sweep works with: its clock, its id, who gets the mails, its retention, its callbacks. */
type SweepSettings = FailAbandonedJobOptions & { readonly retentionDays: number };

/**
 * A scheduled sweep: first the backstop for status change events Step Functions did not deliver
 * ({@link reconcileEndedExecutions}; each end it could not handle on an ERROR line of its own), then
 * the stale-job pass ({@link sweepStaleJobs}), which queues the pending failure mails, those of the
 * jobs failed just before too, then the retention ({@link purgeExpired}). The stale-job pass's error
 * is thrown after the purge, else the backstop's first.
 */
async function scheduledSweep(
  db: Database,
  options: SweepTaskOptions,
  sweep: SweepSettings,
  logger: Logger,
  lambdaContext: Context,
): Promise<SweepStaleJobsOutput> {
  const { workflowExecutions } = options;
  const reconciled = workflowExecutions
    ? await reconcileEndedExecutions(db, options.mailQueue, workflowExecutions.executions, {
        ...sweep,
        stateMachineArns: workflowExecutions.stateMachineArns,
        ...(workflowExecutions.graceMs === undefined ? {} : { graceMs: workflowExecutions.graceMs }),
      }).catch((error: unknown): ReconcileResult => ({ reconciled: [], failures: [{ error }] }))
    : undefined;
  for (const { stateMachineArn, status } of reconciled?.capped ?? []) {
    logger.warn({
      message: 'ended executions listed in part',
      stateMachineArn,
      status,
      why: 'more executions ended than a sweep reads; the older ones were not looked at',
    });
  }
  for (const { executionArn, error } of reconciled?.failures ?? []) {
    logFailure(
      logger,
      'ended execution not reconciled',
      error,
      executionArn ? { executionId: executionArn } : {},
    );
  }
  const swept = await sweepStaleJobs(db, options.mailQueue, sweep).then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  // Retention is housekeeping the next scheduled sweep does again: its failure is logged on its
  // own line and neither fails the invocation (Lambda would run the whole sweep twice more, then
  // keep the event as a failure) nor hides what the sweep did or the sweep's own error.
  // The retention gets what the invocation has left, less a margin to log and answer in, and
  // at most its default share, so a slow sweep above cannot push it past the function's timeout.
  const timeBudgetMs = Math.max(
    0,
    Math.min(DEFAULT_PURGE_TIME_BUDGET_MS, lambdaContext.getRemainingTimeInMillis() - PURGE_MARGIN_MS),
  );
  const purged = await purgeExpired(db, options.idempotencyRecords, {
    now: sweep.now,
    retentionDays: sweep.retentionDays,
    timeBudgetMs,
  }).catch((error: unknown) => {
    logFailure(logger, 'retention purge failed', error);
    return undefined;
  });
  const ends = reconciled?.reconciled ?? [];
  const [unreconciled] = reconciled?.failures ?? [];
  if ('error' in swept || unreconciled) {
    if (purged) logger.info({ message: 'expired ledger data purged', purged });
    if (ends.length > 0) logger.info({ message: 'ended executions reconciled', reconciled: ends });
    if ('error' in swept) throw swept.error;
    // What the stale-job pass did, which the failed invocation's line does not say.
    logger.info({
      message: 'stale jobs swept',
      failed: swept.value.failed.map((job) => job.jobId),
      mailed: swept.value.mailed.map((job) => job.jobId),
    });
    throw unreconciled?.error;
  }
  return {
    ...swept.value,
    ...(purged ? { purged } : {}),
    ...(ends.length > 0 ? { reconciled: [...ends] } : {}),
  };
}

/** An ERROR line for a failure the invocation goes on after: what failed, the error's name, the error. */
function logFailure(
  logger: Logger,
  message: string,
  error: unknown,
  fields: Record<string, string> = {},
): void {
  logger.error(
    { message, ...fields, errorName: error instanceof Error ? error.name : typeof error },
    error as Error,
  );
}
