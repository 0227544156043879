import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  DescribeStateMachineCommand,
  ExecutionDoesNotExist,
  type ExecutionListItem,
  type ExecutionStatus,
  type HistoryEvent,
  ListExecutionsCommand,
  paginateGetExecutionHistory,
  paginateListExecutions,
  RedriveExecutionCommand,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { ExecutionStatus as ExecutionStatusSchema } from '@sidestep/contracts';
import { type Ledger, LedgerError } from '@sidestep/ledger';
import { describeCause } from '@sidestep/runtime';
import { audited } from './audit.ts';
import { ExecutionNotFoundError, InvalidOptionError } from './errors.ts';
import { executionArn, knownWorkflow, stateMachineArn, WORKFLOWS } from './names.ts';
import type { OpsContext } from './ops-context.ts';
import type { Page } from './page.ts';

/** An execution as lists show it. */
export interface ExecutionSummary {
  readonly workflow: string;
  readonly name: string;
  readonly executionArn: string;
  readonly status: string;
  readonly startDate: Date | null;
  readonly stopDate: Date | null;
  readonly redriveCount: number;
}

/**
 * `status` in any case as a status to list a workflow's executions by. Not PENDING_REDRIVE: "If you
 * provide a PENDING_REDRIVE statusFilter, you must specify mapRunArn"
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_ListExecutions.html): it lists a
 * Distributed Map's child executions, which sidestep's workflows do not have.
 * @throws {InvalidOptionError} (`field: 'status'`).
 */
function executionStatus(status: string | undefined): ExecutionStatus | undefined {
  if (status === undefined) return undefined;
  const statuses: readonly string[] = ExecutionStatusSchema.options.filter(
    (option) => option !== 'PENDING_REDRIVE',
  );
  const upper = status.toUpperCase();
  if (upper === 'PENDING_REDRIVE') {
    throw new InvalidOptionError(
      `status: PENDING_REDRIVE lists a Distributed Map's child executions (ListExecutions wants a mapRunArn for it, not a state machine); sidestep's workflows have none. One of ${statuses.join(', ')}`,
      { field: 'status' },
    );
  }
  if (!statuses.includes(upper)) {
    throw new InvalidOptionError(`status: "${status}" is not one of ${statuses.join(', ')}`, {
      field: 'status',
    });
  }
  return upper as ExecutionStatus;
}

function summaryOf(workflow: string, execution: ExecutionListItem): ExecutionSummary {
  return {
    workflow,
    name: execution.name ?? '',
    executionArn: execution.executionArn ?? '',
    status: execution.status ?? 'UNKNOWN',
    startDate: execution.startDate ?? null,
    stopDate: execution.stopDate ?? null,
    redriveCount: execution.redriveCount ?? 0,
  };
}

/** Parses `24h`, `30m`, `7d`, `90s` into milliseconds. @throws {InvalidOptionError} (`field: 'since'`). */
export function durationMs(value: string): number {
  const match = /^(\d+)\s*(s|m|h|d)$/.exec(value.trim());
  if (!match) {
    throw new InvalidOptionError(`since: "${value}" is not a duration like 90s, 30m, 24h or 7d`, {
      field: 'since',
    });
  }
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}

/** Options of {@link listExecutions}. */
export interface ListExecutionsOptions {
  /** RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED (any case). */
  readonly status?: string;
  /** Only executions started within this long (`24h`). */
  readonly since?: string;
  /** @default 100 */
  readonly limit?: number;
  readonly now?: Date;
}

/** `workflow`'s executions, newest first, paging through ListExecutions until `limit` or `since`. */
export async function listExecutions(
  context: OpsContext,
  workflow: string,
  options: ListExecutionsOptions = {},
): Promise<ExecutionSummary[]> {
  const status = executionStatus(options.status);
  const since = options.since ? (options.now ?? new Date()).getTime() - durationMs(options.since) : undefined;
  const limit = options.limit ?? 100;
  const arn = await stateMachineArn(context, knownWorkflow(workflow));
  const found: ExecutionSummary[] = [];
  const pages = paginateListExecutions(
    // ListExecutions takes up to 1,000 a page: one call for the CLI's limit + 1.
    { client: context.clients.sfn, pageSize: Math.min(1000, limit) },
    { stateMachineArn: arn, ...(status ? { statusFilter: status } : {}) },
  );
  for await (const page of pages) {
    for (const execution of page.executions ?? []) {
      if (since !== undefined && execution.startDate && execution.startDate.getTime() < since) return found;
      found.push(summaryOf(workflow, execution));
      if (found.length >= limit) return found;
    }
  }
  return found;
}

/** One state of an execution, from its history. */
export interface ExecutionStep {
  readonly name: string;
  readonly type: string;
  readonly enteredAt: Date | null;
  readonly durationMs: number | null;
  readonly status: 'running' | 'succeeded' | 'failed';
  /** Attempts beyond the first (a Retry's). */
  readonly retries: number;
  readonly error: string | null;
  readonly cause: string | null;
  readonly input: string | null;
  readonly output: string | null;
}

/** An execution with its steps. */
export interface ExecutionDetail extends ExecutionSummary {
  readonly stateMachineArn: string;
  readonly jobId: string | null;
  readonly error: string | null;
  readonly cause: string | null;
  readonly input: string | null;
  readonly output: string | null;
  /**
   * DescribeExecution's `redriveStatus`: whether RedriveExecution would restart it (`REDRIVABLE`),
   * and `redriveStatusReason` when it would not (a status, or the 14 days after it ended passed).
   */
  readonly redriveStatus: string | null;
  readonly redriveStatusReason: string | null;
  readonly steps: readonly ExecutionStep[];
}

/** The execution named (an ARN, a name, or `<workflow>:<name>`) with every step from its history. */
export async function describeExecution(context: OpsContext, nameOrArn: string): Promise<ExecutionDetail> {
  const { arn, described } = await findExecution(context, nameOrArn);
  const events: HistoryEvent[] = [];
  const pages = paginateGetExecutionHistory(
    { client: context.clients.sfn, pageSize: 1000 },
    { executionArn: arn },
  );
  for await (const page of pages) events.push(...(page.events ?? []));
  const steps = stepsOf(events);
  const workflow =
    WORKFLOWS.find((candidate) => described.stateMachineArn?.endsWith(`-${candidate}`)) ?? 'unknown';
  return {
    workflow,
    name: described.name ?? '',
    executionArn: arn,
    stateMachineArn: described.stateMachineArn ?? '',
    status: described.status ?? 'UNKNOWN',
    startDate: described.startDate ?? null,
    stopDate: described.stopDate ?? null,
    redriveCount: described.redriveCount ?? 0,
    jobId: jobIdIn([described.output, ...steps.map((step) => step.output), described.input]),
    error: described.error ?? null,
    cause: described.cause ?? null,
    input: described.input ?? null,
    output: described.output ?? null,
    redriveStatus: described.redriveStatus ?? null,
    redriveStatusReason: described.redriveStatusReason ?? null,
    steps,
  };
}

async function findExecution(
  context: OpsContext,
  nameOrArn: string,
): Promise<{ arn: string; described: DescribeExecutionCommandOutput }> {
  for (const arn of await executionArn(context, nameOrArn)) {
    try {
      return {
        arn,
        described: await context.clients.sfn.send(new DescribeExecutionCommand({ executionArn: arn })),
      };
    } catch (error) {
      if (!(error instanceof ExecutionDoesNotExist) && (error as Error).name !== 'ExecutionDoesNotExist')
        throw error;
    }
  }
  throw new ExecutionNotFoundError(nameOrArn);
}

/** The details object of an event (`taskFailedEventDetails`, `stateExitedEventDetails`, ...). */
function detailsOf(event: HistoryEvent): {
  error?: string;
  cause?: string;
  name?: string;
  input?: string;
  output?: string;
} {
  for (const [key, value] of Object.entries(event)) {
    if (key.endsWith('EventDetails') && value && typeof value === 'object') return value;
  }
  return {};
}

interface StepDraft {
  name: string;
  type: string;
  enteredAt: Date | null;
  exitedAt: Date | null;
  /** The execution ended while the step was open (its exit never came). */
  closed: boolean;
  attempts: number;
  failedAttempt: number;
  error: string | null;
  cause: string | null;
  input: string | null;
  output: string | null;
}

/** The events that end an execution other than by success, with the error each stands for without one. */
const EXECUTION_ENDS: Readonly<Record<string, string>> = {
  ExecutionAborted: 'ExecutionAborted',
  ExecutionTimedOut: 'States.Timeout',
  ExecutionFailed: 'ExecutionFailed',
};

/**
 * Folds a history into steps: a `...StateEntered` opens a step, `...Scheduled`/`...Started` of a
 * task counts an attempt, a `...Failed`/`...TimedOut` records the error of the attempt, and
 * `...StateExited` closes it. A step failed when its last attempt failed and it exited (a Catch) or
 * the execution ended; one whose last attempt failed while the execution runs waits for its Retry,
 * and is running, with that attempt's error. A step still open when the execution was aborted, timed
 * out or failed ends then, with the execution's error (a redrive enters its steps anew).
 */
export function stepsOf(events: readonly HistoryEvent[]): ExecutionStep[] {
  const drafts: StepDraft[] = [];
  let current: StepDraft | undefined;
  for (const event of events) {
    const type = event.type ?? '';
    const details = detailsOf(event);
    const end = EXECUTION_ENDS[type];
    // An execution that ended (stopped, timed out, or failed where no Catch reaches) ends the step it
    // was in, with its own error: that step was never exited, but it is not running either.
    // One that succeeded closes a step whose failure an enclosing state caught (a Map's or a Parallel's
    // branch): it never exited, and runs no more.
    if (type === 'ExecutionSucceeded') for (const draft of drafts) draft.closed = true;
    for (const draft of end ? drafts : []) {
      if (draft.exitedAt || draft.type === 'Fail') continue;
      draft.closed = true;
      if (lastAttemptFailed(draft)) continue;
      draft.exitedAt = event.timestamp ?? null;
      draft.error = details.error ?? end ?? null;
      draft.cause = details.cause ?? null;
      draft.failedAttempt = Math.max(draft.attempts, 1);
    }
    if (type.endsWith('StateEntered')) {
      current = {
        name: details.name ?? '',
        type: type.replace(/StateEntered$/, ''),
        enteredAt: event.timestamp ?? null,
        exitedAt: null,
        closed: false,
        attempts: 0,
        failedAttempt: 0,
        error: null,
        cause: null,
        input: details.input ?? null,
        output: null,
      };
      drafts.push(current);
    } else if (!current || type.startsWith('Execution')) {
      // Execution-level events are reported on the execution itself.
    } else if (type.endsWith('Scheduled')) {
      current.attempts += 1;
    } else if (type.endsWith('Failed') || type.endsWith('TimedOut') || type.endsWith('StartFailed')) {
      current.failedAttempt = Math.max(current.attempts, 1);
      current.error = details.error ?? type;
      current.cause = details.cause ?? null;
    } else if (type.endsWith('StateExited')) {
      current.exitedAt = event.timestamp ?? null;
      current.output = details.output ?? null;
    }
  }
  return drafts.map((draft) => {
    // A last attempt that failed fails the step once it exited (a Catch) or the execution ended; until
    // then the step waits for its Retry's next attempt, and runs.
    const failed = lastAttemptFailed(draft) && (draft.exitedAt !== null || draft.closed);
    return {
      name: draft.name,
      type: draft.type,
      enteredAt: draft.enteredAt,
      durationMs:
        draft.enteredAt && draft.exitedAt ? draft.exitedAt.getTime() - draft.enteredAt.getTime() : null,
      status: failed ? 'failed' : draft.exitedAt ? 'succeeded' : draft.type === 'Fail' ? 'failed' : 'running',
      retries: Math.max(0, draft.attempts - 1),
      error: draft.error,
      cause: draft.cause,
      input: draft.input,
      output: draft.output,
    };
  });
}

function lastAttemptFailed(draft: StepDraft): boolean {
  return draft.error !== null && draft.failedAttempt >= draft.attempts;
}

/**
 * The job execution `arn` ran, as {@link describeExecution} finds it (the output, each step's output in
 * order, then the input), reading its history only until a step's output names it: RegisterJob, near
 * the start, does, and a failed execution that retried long has a long history.
 */
async function jobIdOf(
  context: OpsContext,
  arn: string,
  described: DescribeExecutionCommandOutput,
): Promise<string | null> {
  const fromOutput = jobIdIn([described.output]);
  if (fromOutput !== null) return fromOutput;
  const pages = paginateGetExecutionHistory(
    { client: context.clients.sfn, pageSize: 1000 },
    { executionArn: arn },
  );
  for await (const page of pages) {
    const found = jobIdIn((page.events ?? []).map((event) => event.stateExitedEventDetails?.output));
    if (found !== null) return found;
  }
  return jobIdIn([described.input]);
}

/** The first `job.jobId` (or `jobId`) found in these JSON documents. */
function jobIdIn(documents: readonly (string | null | undefined)[]): string | null {
  for (const document of documents) {
    if (!document) continue;
    try {
      const value = JSON.parse(document) as { job?: { jobId?: unknown }; jobId?: unknown };
      const jobId = value?.job?.jobId ?? value?.jobId;
      if (typeof jobId === 'string') return jobId;
    } catch {
      // Not JSON: no job id here.
    }
  }
  return null;
}

/**
 * Redrives a failed, timed-out or aborted execution from the state that failed (RedriveExecution),
 * for failures the workflow did not catch. Recorded in the audit trail. One DescribeExecution says
 * is NOT_REDRIVABLE (it succeeded, runs, or ended more than 14 days ago) is refused with its
 * `redriveStatusReason`
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html). So is
 * one whose job (from its history) the ledger says another execution runs now: a retry took the
 * job over (`sidestep job retry`), and the redrive would run the job's steps and batch task beside
 * the retry's (an export's task would restart the file's upload under it). The check is the ledger's
 * claim of the job for this redrive, made before RedriveExecution under the row lock a retry's
 * hand-over takes (see {@link claimJob}), so a retry at the same time, from another process, cannot
 * slip between the check and the redrive: exactly one of them goes through.
 *
 * @throws {InvalidOptionError} (`field: 'execution'`) the execution cannot be redriven.
 */
export async function redriveExecution(
  context: OpsContext,
  nameOrArn: string,
): Promise<{ executionArn: string; redriveDate: Date | null }> {
  return audited(context, 'execution-redrive', nameOrArn, async (operator) => {
    const { arn, described } = await findExecution(context, nameOrArn);
    if (described.redriveStatus === 'NOT_REDRIVABLE') {
      const reason = described.redriveStatusReason ?? `Execution is ${described.status}.`;
      throw new InvalidOptionError(`execution: ${arn} cannot be redriven: ${reason}`, { field: 'execution' });
    }
    const jobId = await jobIdOf(context, arn, described);
    const claim = jobId === null ? undefined : await claimJob(context, arn, jobId, described, operator);
    try {
      const answer = await context.clients.sfn.send(new RedriveExecutionCommand({ executionArn: arn }));
      return { executionArn: arn, redriveDate: answer.redriveDate ?? null };
    } catch (error) {
      // Refused (a client fault: the SDK's `$fault`), the redrive did not run and its claim would keep
      // the job from a retry. Any other failure (no answer) may have redriven it: the claim stays.
      if (claim && (error as { $fault?: unknown }).$fault === 'client') {
        await claim
          .release()
          .catch((cause: unknown) =>
            context.warn(
              `job ${jobId} stays claimed by this refused redrive (a job retry is refused until it is redriven): ${describeCause(cause)}`,
            ),
          );
      }
      throw error;
    }
  });
}

/**
 * Claims job `jobId` for the redrive of `arn` in the ledger (`claimRedrive`) before RedriveExecution
 * is called: under the job's row lock, as a `job retry`'s hand-over is made, so of the two exactly
 * one goes through whatever their order. A hand-over made first moved the job to the retry's
 * execution, and the claim is refused; a claim made first refuses every hand-over whose
 * DescribeExecution of `arn` saw its redrive count at the claim's or less (made before this redrive
 * ran, it would start a second execution of the job beside it). Answers how to withdraw the claim
 * (this one only: the release names the claim's id, see `releaseRedrive`), or undefined when the ledger has no such job (purged: run by nobody) or cannot be reached (its
 * function down, when redrives are wanted most: not a reason to refuse one, so warned).
 */
async function claimJob(
  context: OpsContext,
  arn: string,
  jobId: string,
  described: DescribeExecutionCommandOutput,
  operator: string,
): Promise<{ release: () => Promise<void> } | undefined> {
  const redriveCount = described.redriveCount ?? 0;
  // This redrive's claim, the same in every copy the ledger receives, so that its release withdraws
  // it and not the claim of a redrive after it at the same count (a copy of the release may land late).
  const requestId = randomUUID();
  let ledger: Ledger | undefined;
  try {
    ledger = await context.ledger();
    await ledger.claimRedrive({ jobId, executionArn: arn, redriveCount, operator, requestId });
    const claimed = ledger;
    return {
      release: () =>
        claimed.releaseRedrive({ jobId, executionArn: arn, redriveCount, claimRequestId: requestId }),
    };
  } catch (error) {
    const name = (error as { name?: unknown }).name;
    if (name === 'JobNotFoundError') return undefined;
    if (name === 'JobStateError') {
      // Refused: another execution owns the job (a retry's hand-over came first). Named as the job says.
      const job = await ledger?.describeJob(jobId).catch(() => undefined);
      const why = job?.executionId
        ? `the job was retried as ${job.executionId} (attempt ${job.attempt}); redrive that execution, or retry the job again`
        : (error as Error).message;
      throw new InvalidOptionError(`execution: ${arn} no longer runs job ${jobId}: ${why}`, {
        field: 'execution',
      });
    }
    if (error instanceof LedgerError) throw error;
    context.warn(
      `cannot check that ${arn} still runs job ${jobId} (a job retry may have taken it over): ${describeCause(error)}`,
    );
    return undefined;
  }
}

/**
 * The waits between the reads of an execution that still reads RUNNING after a stop: 200 ms
 * doubling, the last cut to make 5 s in all. DescribeExecution is eventually consistent
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html).
 */
const STOP_SETTLE_WAITS_MS: readonly number[] = [200, 400, 800, 1600, 2000];

/** The `error` an operator's stop gives StopExecution; the job's failure reason quotes it. */
export const STOPPED_BY_OPERATOR = 'StoppedByOperator';

/** The longest `cause` StopExecution takes (API_StopExecution, "Maximum length of 32768"). */
export const STOP_CAUSE_MAX_LENGTH = 32_768;

/**
 * Stops a running execution (StopExecution) for work that must not go on: a runaway import, the
 * wrong file, an export nobody wants any more. `cause` (required) goes to Step Functions with the
 * operator's name, as `<operator>: <cause>` under the error {@link STOPPED_BY_OPERATOR}. What follows
 * is the platform's, not this function's: Step Functions stops the batch task the execution waits
 * for (`ecs:StopTask`: SIGTERM, so the worker records why, keeps what it staged, then SIGKILL after
 * the stop timeout), and the workflows' status rule hands the ABORTED execution to the job-sweeper,
 * which fails its job with "aborted: execution <name> was stopped (StoppedByOperator: <operator>:
 * <cause>)" and queues its failure mail; a job that had already succeeded keeps its result, and the
 * job-sweeper queues its success mail. What became of the job is read from the ledger after the stop
 * and told (`jobId`, `job`; see {@link stoppedJob}). Recorded in the audit trail.
 * https://docs.aws.amazon.com/step-functions/latest/apireference/API_StopExecution.html
 *
 * An execution that is not RUNNING is refused. One can also end on its own between that look and
 * the StopExecution: the API reference lists no error for stopping an execution already closed
 * (only ExecutionDoesNotExist, InvalidArn, ValidationException and KMS errors), and the local cloud
 * answers it with a stopDate, stopping nothing. So the stop is confirmed by DescribeExecution after
 * it: only an execution ABORTED with this stop's error and cause was stopped by it; any other (it
 * SUCCEEDED or FAILED first, or another operator's stop came first) is reported as not stopped,
 * and audited `error`, instead of as a stop that did not happen. DescribeExecution "is eventually
 * consistent. The results are best effort and may not reflect very recent updates and changes"
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html): a
 * stop that worked may still read RUNNING right after it, so RUNNING alone is read again, waiting
 * {@link STOP_SETTLE_WAITS_MS} (about 5 s in all), before the stop is said to have stopped nothing;
 * any other status is definitive at once.
 *
 * @throws {InvalidOptionError} `cause` is empty, or too long for StopExecution with the operator's
 * name before it (field `cause`); the execution is not RUNNING, not
 * one of this environment's, or ended otherwise before the stop, or still reads RUNNING after the
 * waits (field `execution`).
 */
export async function stopExecution(
  context: OpsContext,
  nameOrArn: string,
  cause: string,
  options: {
    /** Waits `ms` between the reads after the stop (tests pass one that does not). @default setTimeout */
    readonly sleep?: (ms: number) => Promise<void>;
  } = {},
): Promise<{ executionArn: string; stopDate: Date | null } & StoppedJob> {
  if (cause.trim() === '') {
    throw new InvalidOptionError('cause: give why the execution is stopped', { field: 'cause' });
  }
  return audited(
    context,
    'execution-stop',
    nameOrArn,
    async (operator) => {
      const stop = { error: STOPPED_BY_OPERATOR, cause: `${operator}: ${cause}` };
      // StopExecution's cause has a "Maximum length of 32768" (a longer one is a ValidationException):
      // https://docs.aws.amazon.com/step-functions/latest/apireference/API_StopExecution.html
      if (stop.cause.length > STOP_CAUSE_MAX_LENGTH) {
        throw new InvalidOptionError(
          `cause: ${cause.length.toLocaleString('en')} characters; with the operator's name before it Step Functions takes at most ${(STOP_CAUSE_MAX_LENGTH - operator.length - 2).toLocaleString('en')} (StopExecution's cause: ${STOP_CAUSE_MAX_LENGTH.toLocaleString('en')})`,
          { field: 'cause' },
        );
      }
      const { arn, described } = await findExecution(context, nameOrArn);
      if (described.status !== 'RUNNING') {
        throw new InvalidOptionError(
          `execution: ${arn} is ${described.status}, not RUNNING: nothing to stop`,
          {
            field: 'execution',
          },
        );
      }
      const answer = await context.clients.sfn.send(new StopExecutionCommand({ executionArn: arn, ...stop }));
      const describe = () => context.clients.sfn.send(new DescribeExecutionCommand({ executionArn: arn }));
      let after = await describe();
      // Eventually consistent: RUNNING right after the stop may be a read from before it.
      for (const ms of STOP_SETTLE_WAITS_MS) {
        if (after.status !== 'RUNNING') break;
        await (options.sleep ?? sleep)(ms);
        after = await describe();
      }
      if (after.status !== 'ABORTED' || after.error !== stop.error || after.cause !== stop.cause) {
        const how =
          after.status === 'ABORTED'
            ? `was stopped by another stop (${after.error ?? 'no error'}: ${after.cause ?? 'no cause'})`
            : after.status === 'RUNNING'
              ? 'is still RUNNING after the stop'
              : `ended ${after.status} before the stop`;
        throw new InvalidOptionError(`execution: ${arn} ${how}: this stop stopped nothing`, {
          field: 'execution',
        });
      }
      return {
        executionArn: arn,
        stopDate: answer.stopDate ?? null,
        ...(await stoppedJob(context, arn, after)),
      };
    },
    (result) => ({ executionArn: result.executionArn, stopDate: result.stopDate, cause }),
  );
}

/**
 * What became of a stopped execution's job, as the ledger tells it after the stop: it `fails` (still
 * `registered` or `running`: the job-sweeper fails it with the stop's cause and queues its failure
 * mail), had already `succeeded` (the batch-worker commits an import's job with its rows, before
 * FinishJob and NotifyCompleted: its result stands, and the job-sweeper queues its success mail in
 * case the workflow had not), had `failed`, was `unread` (the ledger did not answer: the stop happened
 * either way, so this is told, not thrown), or there was `none` (stopped before RegisterJob).
 */
export type StoppedJobOutcome = 'fails' | 'succeeded' | 'failed' | 'unread' | 'none';

/** {@link stopExecution}'s account of the job: its id, the outcome, and the outcome told in English. */
export interface StoppedJob {
  readonly jobId: string | null;
  readonly jobOutcome: StoppedJobOutcome;
  /** The outcome as the CLI prints it (the console words it from `jobOutcome` in its language). */
  readonly job: string;
}

/** What a stop of execution `arn` did to its job (see {@link StoppedJobOutcome}). */
async function stoppedJob(
  context: OpsContext,
  arn: string,
  described: DescribeExecutionCommandOutput,
): Promise<StoppedJob> {
  let jobId: string | null = null;
  try {
    jobId = await jobIdOf(context, arn, described);
    if (jobId === null) {
      return { jobId, jobOutcome: 'none', job: 'no job found in the execution: it had registered none' };
    }
    const job = await (await context.ledger()).describeJob(jobId);
    if (job.state === 'succeeded') {
      const mail = job.kind === 'import' ? 'import.completed' : 'export.ready';
      return {
        jobId,
        jobOutcome: 'succeeded',
        job: `${jobId} had already succeeded: its result stands, and the job-sweeper queues its ${mail} mail in case the workflow had not (sent once)`,
      };
    }
    if (job.state === 'failed') {
      return {
        jobId,
        jobOutcome: 'failed',
        job: `${jobId} failed (${job.error ?? 'no reason recorded'}): its failure mail is queued`,
      };
    }
    return {
      jobId,
      jobOutcome: 'fails',
      job: `${jobId} fails: the job-sweeper fails it with this stop's cause and queues its failure mail`,
    };
  } catch (error) {
    return {
      jobId,
      jobOutcome: 'unread',
      job: `${jobId ?? 'its job'} not read (${describeCause(error)}): it fails, mailed, unless it had already succeeded (then its result stands and its success mail is sent)`,
    };
  }
}

/**
 * Starts `workflow` by hand with `input` (a JSON document), named `name` when given. Recorded in the
 * audit trail.
 */
export async function startExecution(
  context: OpsContext,
  workflow: string,
  input: unknown,
  options: { readonly name?: string } = {},
): Promise<{ executionArn: string; startDate: Date | null }> {
  const arn = await stateMachineArn(context, knownWorkflow(workflow));
  return audited(
    context,
    'execution-start',
    workflow,
    async () => {
      const answer = await context.clients.sfn.send(
        new StartExecutionCommand({
          stateMachineArn: arn,
          input: JSON.stringify(input),
          ...(options.name ? { name: options.name } : {}),
        }),
      );
      return { executionArn: answer.executionArn ?? '', startDate: answer.startDate ?? null };
    },
    (result) => ({ executionArn: result.executionArn }),
  );
}

/**
 * One page of `workflow`'s executions, newest first: ListExecutions with `maxResults` and the
 * `nextToken` of the page before (`cursor`), so a console pages through thousands without listing
 * them all. @throws {InvalidOptionError} naming `status` or `limit`.
 */
export async function pageExecutions(
  context: OpsContext,
  workflow: string,
  options: { readonly status?: string; readonly cursor?: string; readonly limit?: number } = {},
): Promise<Page<ExecutionSummary>> {
  const status = executionStatus(options.status);
  const limit = options.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new InvalidOptionError(`limit: ${limit} is not a whole number from 1 to 1000`, { field: 'limit' });
  }
  const arn = await stateMachineArn(context, knownWorkflow(workflow));
  const page = await context.clients.sfn.send(
    new ListExecutionsCommand({
      stateMachineArn: arn,
      maxResults: limit,
      ...(status ? { statusFilter: status } : {}),
      ...(options.cursor ? { nextToken: options.cursor } : {}),
    }),
  );
  return {
    items: (page.executions ?? []).map((execution) => summaryOf(workflow, execution)),
    next: page.nextToken ?? null,
  };
}

/** The definition (Amazon States Language, parsed) of `workflow`'s state machine, by DescribeStateMachine. */
export async function workflowDefinition(context: OpsContext, workflow: string): Promise<unknown> {
  const answer = await context.clients.sfn.send(
    new DescribeStateMachineCommand({
      stateMachineArn: await stateMachineArn(context, knownWorkflow(workflow)),
    }),
  );
  return JSON.parse(answer.definition ?? '{}');
}
