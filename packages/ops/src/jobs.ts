import { createHash } from 'node:crypto';
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { type JobKind, type JobState, MAX_FAILURE_REASON_LENGTH } from '@sidestep/contracts';
import { failureReason, HAND_OVER_DEADLINE_SECONDS } from '@sidestep/jobs';
import {
  type JobDetail,
  type JobPage,
  JobStateError,
  type JobSummary,
  LedgerError,
  type RejectedRow,
  type RejectedRowPage,
} from '@sidestep/ledger';
import { describeCause } from '@sidestep/runtime';
import { ECS_CAPACITY_ERRORS, ECS_CAPACITY_RETRY, retryWaitSeconds } from '@sidestep/workflows';
import { audited, auditedInLedger } from './audit.ts';
import {
  ExecutionStillRunningError,
  InvalidOptionError,
  RetryExecutionNameTakenError,
  RetryInputNotFoundError,
} from './errors.ts';
import { type QueuedFailureMail, queueFailureMail } from './failure-mail.ts';
import type { OpsContext } from './ops-context.ts';
import type { Page } from './page.ts';

const STATES: readonly JobState[] = ['registered', 'running', 'succeeded', 'failed'];
const KINDS: readonly JobKind[] = ['import', 'export'];

/** Options of {@link listJobs}. */
export interface ListJobsOptions {
  readonly status?: string;
  readonly kind?: string;
  /** @default 100 */
  readonly limit?: number;
  /** The `next` cursor of the previous page. */
  readonly after?: string;
}

/** One page of the ledger's jobs, newest first. @throws {InvalidOptionError} naming `status` or `kind`. */
export async function listJobs(context: OpsContext, options: ListJobsOptions = {}): Promise<JobPage> {
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
  return (await context.ledger()).listJobs({
    ...(options.status ? { status: options.status as JobState } : {}),
    ...(options.kind ? { kind: options.kind as JobKind } : {}),
    ...(options.limit ? { limit: options.limit } : {}),
    ...(options.after ? { after: options.after } : {}),
  });
}

/**
 * The latest execution of a job that has not ended (`executionId`), as DescribeExecution answers
 * now: whether anything still runs the job. A running job's task that failed transiently is run again
 * by that execution only while it is RUNNING; one that ended (stopped with the local cloud, a
 * `States.Runtime` failure, a timeout) runs nothing until an operator redrives it.
 * https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html
 */
export interface JobExecution {
  readonly executionArn: string;
  readonly name: string;
  /** RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED or PENDING_REDRIVE; null when it could not be read. */
  readonly status: string | null;
  readonly stopDate: Date | null;
  /** `REDRIVABLE` or `NOT_REDRIVABLE` (with `redriveStatusReason`), as RedriveExecution would find it. */
  readonly redriveStatus: string | null;
  readonly redriveStatusReason: string | null;
  /** A RUNNING execution whose batch task ECS had no room to start: it waits for its next try. */
  readonly waitingForRoom: RoomWait | null;
}

/**
 * A batch step waiting for room to start its task: its last RunTasks started nothing (the account's
 * Fargate vCPU quota full, no Spot capacity: `AmazonECS.Unknown`, {@link ECS_CAPACITY_ERRORS}), and
 * the workflow retries them for up to an hour before it fails the job. Without it a job waiting so
 * shows as running, with no rows and no task.
 */
export interface RoomWait {
  /** The step that waits (`ImportRows`, `ExportRows`); null when the events read do not reach its entry. */
  readonly state: string | null;
  /** When the first of the refused RunTasks in a row was: since when it waits. */
  readonly since: Date;
  /** The RunTasks refused in a row, as far as the newest {@link ROOM_WAIT_EVENTS} events show. */
  readonly refusals: number;
  /** The last refusal's reason, ECS's words ("ECS started no task: You’ve reached the limit ..."). */
  readonly reason: string;
  /**
   * About when the workflow stops waiting and fails the job if no room came: the step's first refusal
   * (before `since` when another outcome came between) and the waits of the batch step's capacity
   * retrier ({@link ECS_CAPACITY_RETRY}, an hour and ten seconds); the other retries' waits between
   * make it later.
   */
  readonly givesUpAt: Date;
}

/**
 * How many of an execution's newest history events {@link roomWaitOf} reads: one GetExecutionHistory
 * page of its most (https://docs.aws.amazon.com/step-functions/latest/apireference/API_GetExecutionHistory.html).
 * Three an attempt (TaskScheduled, TaskStarted, TaskFailed): the 62 refusals the batch step's capacity
 * retrier allows, and the throttled RunTasks among them, fit with the state's entry.
 */
export const ROOM_WAIT_EVENTS = 1000;

/** The events of an attempt whose RunTask ECS refused, besides its TaskFailed. */
const REFUSED_ATTEMPT_EVENTS: ReadonlySet<string> = new Set([
  'TaskScheduled',
  'TaskStarted',
  'TaskSubmitFailed',
]);

/**
 * The wait for room an execution's newest events show: its newest outcome is a TaskFailed with a
 * capacity error (the state waits for its retry, or tries again: a TaskScheduled and TaskStarted
 * since, with no TaskSubmitted, which ECS's answer with a started task would be), counted back over
 * the refused attempts before it until any other outcome (a task that ran, a throttled RunTask). The
 * state is the one whose entry comes first before them (null when the events do not reach it). Null
 * when the newest outcome is not such a refusal. Pure: the events newest first, as
 * GetExecutionHistory's `reverseOrder` gives them.
 */
export function roomWaitOf(newestFirst: readonly HistoryEvent[]): RoomWait | null {
  const capacity: readonly string[] = ECS_CAPACITY_ERRORS;
  let refusals = 0;
  let since = new Date(Number.NaN);
  let reason = '';
  let counting = true;
  // Step Functions counts a retrier's attempts over the state's whole run, whatever came between: the
  // capacity retrier's hour runs from the state's first refusal, not from this run of them.
  let firstRefusal = since;
  const wait = (state: string | null): RoomWait => {
    const givesUpAt = new Date(firstRefusal.getTime() + retryWaitSeconds(ECS_CAPACITY_RETRY) * 1000);
    return { state, since, refusals, reason, givesUpAt };
  };
  for (const event of newestFirst) {
    if (event.type === 'TaskStateEntered') {
      return refusals > 0 ? wait(event.stateEnteredEventDetails?.name ?? null) : null;
    }
    const failed = event.taskFailedEventDetails;
    const refused =
      event.type === 'TaskFailed' && failed?.error !== undefined && capacity.includes(failed.error);
    if (refused) firstRefusal = event.timestamp ?? firstRefusal;
    // A refused attempt's own events: its start, and a TaskSubmitFailed should Step Functions record
    // one for a RunTask that answered with Failures (the local cloud records the TaskFailed alone).
    if (!counting || REFUSED_ATTEMPT_EVENTS.has(event.type ?? '')) continue;
    if (refused) {
      refusals += 1;
      since = event.timestamp ?? since;
      if (refusals === 1) reason = failureReason(null, { Error: failed?.error, Cause: failed?.cause });
    } else if (refusals === 0) {
      return null;
    } else {
      // An earlier outcome (a throttled RunTask, a task that ran and was stopped) ends the count.
      counting = false;
    }
  }
  return refusals > 0 ? wait(null) : null;
}

/**
 * Whether `execution` still runs its job: RUNNING, or PENDING_REDRIVE (a redrive about to run it);
 * null when there is none or its status could not be read, which promises nothing.
 */
export function executionRunsJob(execution: JobExecution | null | undefined): boolean | null {
  if (!execution || execution.status === null) return null;
  return runsJob(execution.status);
}

/** Whether an execution in `status` still runs its job: RUNNING, or PENDING_REDRIVE. */
function runsJob(status: string | undefined): status is 'RUNNING' | 'PENDING_REDRIVE' {
  return status === 'RUNNING' || status === 'PENDING_REDRIVE';
}

/** A job as the operator tools show it: the ledger's record, and its latest execution's status. */
export interface JobView extends JobDetail {
  /** For a `registered` or `running` job with an execution; null otherwise. */
  readonly latestExecution: JobExecution | null;
}

/**
 * Job `jobId` with its transitions, row errors, executions and mails, and, while it has not ended,
 * its latest execution's status (one DescribeExecution) and, while that runs, whether its batch step
 * waits for room (one GetExecutionHistory of its newest events). An execution that cannot be read (gone,
 * not allowed, throttled) has no status, and the context's `warn` says why: the job is shown anyway.
 * @throws {JobNotFoundError}
 */
export async function describeJob(context: OpsContext, jobId: string): Promise<JobView> {
  const job = await (await context.ledger()).describeJob(jobId);
  const executionArn = job.executionId;
  if ((job.state !== 'registered' && job.state !== 'running') || !executionArn?.startsWith('arn:')) {
    return { ...job, latestExecution: null };
  }
  const name = executionArn.split(':').at(-1) ?? executionArn;
  let described: DescribeExecutionCommandOutput;
  try {
    described = await context.clients.sfn.send(new DescribeExecutionCommand({ executionArn }));
  } catch (error) {
    context.warn(`cannot read execution ${executionArn} of job ${job.id}: ${describeCause(error)}`);
    const unknown = {
      status: null,
      stopDate: null,
      redriveStatus: null,
      redriveStatusReason: null,
      waitingForRoom: null,
    };
    return { ...job, latestExecution: { executionArn, name, ...unknown } };
  }
  return {
    ...job,
    latestExecution: {
      executionArn,
      name: described.name ?? name,
      status: described.status ?? null,
      stopDate: described.stopDate ?? null,
      redriveStatus: described.redriveStatus ?? null,
      redriveStatusReason: described.redriveStatusReason ?? null,
      waitingForRoom: described.status === 'RUNNING' ? await waitingForRoom(context, executionArn) : null,
    },
  };
}

/**
 * {@link roomWaitOf} the newest {@link ROOM_WAIT_EVENTS} events of a running execution: one
 * GetExecutionHistory call (`reverseOrder`). A history that cannot be read shows no wait, and the
 * context's `warn` says why.
 */
async function waitingForRoom(context: OpsContext, executionArn: string): Promise<RoomWait | null> {
  try {
    const { events = [] } = await context.clients.sfn.send(
      new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: ROOM_WAIT_EVENTS }),
    );
    return roomWaitOf(events);
  } catch (error) {
    context.warn(`cannot read the history of execution ${executionArn}: ${describeCause(error)}`);
    return null;
  }
}

/** The most rows one page of {@link listRejectedRows} holds (the ledger query's limit). */
export const MAX_REJECTED_ROWS_PAGE = 500;

/** Options of {@link listRejectedRows}. */
export interface ListRejectedRowsOptions {
  /** @default 100; at most {@link MAX_REJECTED_ROWS_PAGE} */
  readonly limit?: number;
  /** The `next` line of the previous page. */
  readonly after?: number;
}

/**
 * One page of the rows a completed import of job `jobId` left out, in line order, with the job's
 * count of rejected rows. @throws {InvalidOptionError} naming `limit` or `after`.
 * @throws {JobNotFoundError}
 */
export async function listRejectedRows(
  context: OpsContext,
  jobId: string,
  options: ListRejectedRowsOptions = {},
): Promise<RejectedRowPage> {
  const { limit, after } = options;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > MAX_REJECTED_ROWS_PAGE)) {
    const message = `limit: ${limit} is not a whole number from 1 to ${MAX_REJECTED_ROWS_PAGE}`;
    throw new InvalidOptionError(message, { field: 'limit' });
  }
  if (after !== undefined && (!Number.isInteger(after) || after < 0)) {
    throw new InvalidOptionError(`after: ${after} is not a line number`, { field: 'after' });
  }
  return (await context.ledger()).listRejectedRows({
    jobId,
    ...(limit === undefined ? {} : { limit }),
    ...(after === undefined ? {} : { after }),
  });
}

/**
 * Every row a completed import of job `jobId` left out (after line `after`, when given):
 * {@link listRejectedRows} page after page, the largest pages the ledger serves (one `ops-ledger`
 * invocation per 500 rows on AWS).
 */
export async function allRejectedRows(
  context: OpsContext,
  jobId: string,
  options: { readonly after?: number } = {},
): Promise<RejectedRowPage> {
  let page = await listRejectedRows(context, jobId, { ...options, limit: MAX_REJECTED_ROWS_PAGE });
  const rows = [...page.rows];
  while (page.next !== null) {
    page = await listRejectedRows(context, jobId, { limit: MAX_REJECTED_ROWS_PAGE, after: page.next });
    rows.push(...page.rows);
  }
  return { ...page, rows, next: null };
}

/**
 * Rejected rows as CSV (`line,field,message`, one row a line, LF): each field quoted when it holds a
 * quote, comma or line break, quotes doubled (RFC 4180); a field a spreadsheet would run as a formula
 * (`=`, `+`, `-`, `@`, tab, CR first) gets a leading `'` (OWASP's CSV injection advice, as the exports
 * escape their cells), and so does one that starts with `'`, so that one leading `'` removed gives
 * every cell back as it was. A UTF-8 byte order mark first, as the exports have: Excel reads a CSV as
 * UTF-8 only with it (a Japanese Excel otherwise reads Shift_JIS). What `sidestep job rejected --csv`
 * prints and the console's download holds.
 */
export function rejectedRowsCsv(rows: readonly RejectedRow[]): string {
  const field = (value: string) => {
    const safe = /^[=+\-@\t\r']/.test(value) ? `'${value}` : value;
    return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
  };
  return [
    '\uFEFFline,field,message',
    ...rows.map((row) => [String(row.line), row.field, row.message].map(field).join(',')),
  ]
    .join('\n')
    .concat('\n');
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
 * So the retry first hands the job to the new execution, in one transaction of the ledger
 * (`handOverJob`): the job goes back to `registered` (its error, counts, result and deadline cleared;
 * `attempt` counted up) with `execution_id` set to the new execution's ARN (known before it starts:
 * the state machine's ARN with `:execution:` and the name `<jobId>-attempt-<n>`), and a `register`
 * transition is recorded for that execution. The new execution's RegisterJob then finds itself the
 * owner with its register recorded and replays it (`duplicate: false`), as a redriven step would,
 * and runs the job from StartJob with the same idempotency rules. Only then is the execution
 * started; if StartExecution fails, the job is handed back to the failed row it was
 * (`takeBackJob`, its evidence kept). Its mails are keyed by attempt (see `jobMailKeys` of
 * @sidestep/ledger), so a retry that fails again mails its failure again, and one that succeeds mails
 * its completion.
 *
 * The name may already exist: an earlier retry's StartExecution may have started it and lost its
 * answer. StartExecution is idempotent for a RUNNING execution of the same name and input (it answers
 * success) and answers ExecutionAlreadyExists otherwise
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html). So each
 * name is described first: one that exists with this job's input is spent, running or not (the
 * retry starts as `<jobId>-attempt-<n>-<k>`), since a running one may be past its RegisterJob and
 * would never run a job handed to it; one of another input is refused.
 *
 * The input and state machine are those of the job's newest execution that exists: a retry cut
 * between its hand-over and StartExecution (its take-back failing too) leaves the job, once failed,
 * under an execution that never started, and DescribeExecution of it answers ExecutionDoesNotExist;
 * the retry then walks back to the executions the job was handed over from.
 *
 * @throws {JobNotFoundError} no such job.
 * @throws {JobStateError} the job is not `failed`.
 * @throws {ExecutionStillRunningError} the job's last execution has not ended: stop it first.
 * @throws {RetryExecutionNameTakenError} the retry's name is another input's execution.
 * @throws {RetryInputNotFoundError} none of the job's executions exists to take the input of.
 */
export async function retryJob(context: OpsContext, jobId: string): Promise<RetriedJob> {
  return audited(context, 'job-retry', jobId, async (operator) => {
    const ledger = await context.ledger();
    const current = await ledger.describeJob(jobId);
    if (current.state !== 'failed') throw new JobStateError(jobId, current.state, 'retry', ['failed']);
    if (!current.executionId) {
      throw new JobStateError(
        jobId,
        current.state,
        'retry',
        ['failed'],
        'it has no execution to retry the input of',
      );
    }
    const sfn = context.clients.sfn;
    const previous = await lastExecutionThatExists(sfn, current, current.executionId);
    if (runsJob(previous.status)) {
      throw new ExecutionStillRunningError(
        jobId,
        previous.executionArn ?? current.executionId,
        previous.status,
      );
    }
    const attempt = current.attempt + 1;
    const stateMachineArn = previous.stateMachineArn ?? '';
    const input = previous.input ?? '{}';
    for (let take = 1; take <= MAX_RETRY_NAMES; take += 1) {
      const name = retryExecutionName(jobId, attempt, take);
      const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
      // A name an execution already has is never reused, whatever its status: StartExecution would
      // answer a RUNNING one of the same input with success (it is idempotent), and such an
      // execution (an earlier retry whose answer was lost, the job taken back meanwhile) may have
      // passed its RegisterJob already: handed the job, it would never run it.
      const existing = await describeIfExists(sfn, executionArn);
      if (existing && existing.input !== input) {
        throw new RetryExecutionNameTakenError(jobId, executionArn, "its input is not this job's");
      }
      if (existing) continue;
      const retried = { jobId, attempt, executionArn, previousExecutionArn: current.executionId };
      const takeBack = () =>
        ledger.takeBackJob({
          jobId,
          executionArn,
          previous: {
            executionArn: current.executionId ?? '',
            attempt: current.attempt,
            error: current.error,
          },
        });
      try {
        await ledger.handOverJob({
          jobId,
          fromExecutionArn: current.executionId,
          executionArn,
          attempt,
          operator,
          // A redrive of the previous execution claimed since this look refuses the hand-over (one
          // that never started has had none).
          fromRedriveCount: previous.executionArn === current.executionId ? (previous.redriveCount ?? 0) : 0,
        });
      } catch (error) {
        // No answer (the function failed, or the SDK gave up on it): the hand-over may have been made,
        // and would leave the job registered to an execution that never starts. The take-back undoes
        // only that. An answered refusal (a LedgerError) changed nothing.
        if (!(error instanceof LedgerError))
          await takeBack().catch((cause: unknown) => undoFailed(context, jobId, cause));
        throw error;
      }
      try {
        await sfn.send(new StartExecutionCommand({ stateMachineArn, name, input }));
        return retried;
      } catch (error) {
        // The take-back failing too must not hide why the start failed; the job may then be left
        // handed over (registered, no deadline) to an execution that never started: said, and no
        // other name is tried (its hand-over would be refused, the job no longer failed).
        let takenBack = true;
        await takeBack().catch((cause: unknown) => {
          takenBack = false;
          undoFailed(context, jobId, cause);
        });
        // Made between the look and the start (another operator's retry): the next name.
        if ((error as Error).name !== 'ExecutionAlreadyExists' || !takenBack) throw error;
      }
    }
    const spent = retryExecutionName(jobId, attempt, 1);
    throw new RetryExecutionNameTakenError(jobId, spent, `and ${MAX_RETRY_NAMES - 1} more names exist`);
  });
}

/** Says that a hand-over whose outcome is unknown could not be taken back, and what to do. */
function undoFailed(context: OpsContext, jobId: string, cause: unknown): void {
  context.warn(
    `job ${jobId} may be left registered to a retry that never started (its take-back failed: ${describeCause(cause)}); ` +
      `see \`sidestep job show ${jobId}\`; if so, \`sidestep job fail ${jobId} --reason <why>\` ` +
      `(else the job-sweeper fails it ${HAND_OVER_DEADLINE_SECONDS / 60} minutes after the hand-over), then retry it again`,
  );
}

/**
 * DescribeExecution of the newest of `job`'s executions that exists: its own (`executionId`), else,
 * walking back, each execution its retries were handed over from (the `register` transitions'
 * `retry.previousExecutionArn`) or that recorded a transition of it. A retry cut between its hand-over
 * and StartExecution leaves the job's execution one that never started, which an operator fails
 * (`job fail`) or the job-sweeper does; the input of the retry that follows is the input every
 * execution of the job was started with, the first's.
 * @throws {RetryInputNotFoundError} none of them exists.
 */
async function lastExecutionThatExists(
  sfn: OpsContext['clients']['sfn'],
  job: JobDetail,
  executionId: string,
): Promise<DescribeExecutionCommandOutput> {
  const newestFirst = job.transitions.toReversed().flatMap((transition) => {
    const retry = transition.data?.retry as { previousExecutionArn?: unknown } | undefined;
    return [transition.executionId, retry?.previousExecutionArn];
  });
  const executionArns = [
    ...new Set(
      [executionId, ...newestFirst].filter(
        (arn): arn is string => typeof arn === 'string' && arn.startsWith('arn:'),
      ),
    ),
  ];
  for (const executionArn of executionArns) {
    const described = await describeIfExists(sfn, executionArn);
    if (described) return { ...described, executionArn };
  }
  throw new RetryInputNotFoundError(job.id, executionArns);
}

/** DescribeExecution of `executionArn`, or `undefined` when there is no such execution. */
async function describeIfExists(
  sfn: OpsContext['clients']['sfn'],
  executionArn: string,
): Promise<DescribeExecutionCommandOutput | undefined> {
  try {
    return await sfn.send(new DescribeExecutionCommand({ executionArn }));
  } catch (error) {
    if ((error as Error).name === 'ExecutionDoesNotExist') return undefined;
    throw error;
  }
}

/** How many names one retry tries before giving up (`<jobId>-attempt-<n>`, then `-2`, `-3`...). */
const MAX_RETRY_NAMES = 5;

/** An execution name's longest length, and the characters that may stand in one unchanged. */
const MAX_EXECUTION_NAME_LENGTH = 80;
const PLAIN_NAME = /^[A-Za-z0-9._-]+$/;

/**
 * The name of a retry's execution: `<jobId>-attempt-<n>` (and `-<take>` after the first take). Step
 * Functions takes 1-80 characters and no `:` (among others,
 * https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html#StepFunctions-StartExecution-request-name),
 * while a job id may be 128 characters with `:` (an export's is its request's envelope id): such an id
 * stands in the name shortened, `:` and the like as `_`, with 8 hex digits of its SHA-256 so that two
 * ids cut or cleaned to the same text still name two executions.
 */
export function retryExecutionName(jobId: string, attempt: number, take: number): string {
  const suffix = take === 1 ? `-attempt-${attempt}` : `-attempt-${attempt}-${take}`;
  if (PLAIN_NAME.test(jobId) && jobId.length + suffix.length <= MAX_EXECUTION_NAME_LENGTH) {
    return `${jobId}${suffix}`;
  }
  const digest = createHash('sha256').update(jobId).digest('hex').slice(0, 8);
  const room = MAX_EXECUTION_NAME_LENGTH - suffix.length - digest.length - 1;
  return `${jobId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, room)}-${digest}${suffix}`;
}

/** What {@link failJob} did. */
export interface FailedJobResult {
  readonly jobId: string;
  readonly state: JobState;
  readonly reason: string;
  /** The failure mail queued to the requester (imports: the notify address), or why none was. */
  readonly mail: QueuedFailureMail;
}

/**
 * Ends a job stuck `registered` or `running` whose task is gone: fires `fail` with `reason` through
 * the ledger's state machine (as the job-sweeper does), fired by the operator, its failure mail owed
 * in the sweeper's outbox by the same commit, then queues that mail (see {@link queueFailureMail})
 * and records it queued: a process killed in between leaves the mail to the sweeper's next run
 * (same envelope and key: sent once). Both are in the audit entry. Not while the job's
 * execution still runs: its task could still finish the work (an export's file completed under a job
 * the ledger says failed); stopping it runs the workflow's failure path, which fails the job.
 *
 * @throws {InvalidOptionError} naming `reason`: empty, or longer than the failure mail takes.
 * @throws {JobNotFoundError} no such job.
 * @throws {ExecutionStillRunningError} the job's execution has not ended: stop it first.
 * @throws {JobStateError} the job already ended.
 */
export async function failJob(context: OpsContext, jobId: string, reason: string): Promise<FailedJobResult> {
  if (reason.trim() === '')
    throw new InvalidOptionError('reason: give why the job is failed', { field: 'reason' });
  // Before the ledger: the job's failure mail carries the reason and the mail contract takes no
  // longer one, so a job failed with it would never be mailed (nor failed again to mail it).
  if (reason.length > MAX_FAILURE_REASON_LENGTH) {
    throw new InvalidOptionError(
      `reason: at most ${MAX_FAILURE_REASON_LENGTH} characters (the failure mail's limit), not ${reason.length}`,
      { field: 'reason' },
    );
  }
  return auditedInLedger(
    context,
    'job-fail',
    jobId,
    async (ledger, operator) => {
      const { executionId } = await ledger.describeJob(jobId);
      const execution = executionId ? await describeIfExists(context.clients.sfn, executionId) : undefined;
      if (executionId && runsJob(execution?.status)) {
        throw new ExecutionStillRunningError(jobId, executionId, execution.status, 'fail it');
      }
      // The fail's commit leaves the mail owed in the sweeper's outbox: a process killed from here on
      // leaves it to the sweeper's next run. Queued here at once all the same, and recorded so.
      const failed = await ledger.failJob(jobId, reason, operator);
      const mail = await queueFailureMail(context, failed);
      if (mail.status === 'queued') {
        await ledger
          .recordFailureMailQueued(jobId, mail.id)
          .catch((error: unknown) =>
            context.warn(
              `failure mail ${mail.id} queued, not recorded in the ledger (the job-sweeper queues it again; it is sent once): ${describeCause(error)}`,
            ),
          );
      }
      return { jobId, state: failed.state, reason, mail };
    },
    (result) => ({ reason: result.reason, mail: result.mail }),
  );
}

/**
 * One page of the ledger's jobs, newest first, by keyset (the ledger's `after` cursor), so page 100
 * costs what page 1 does. @throws {InvalidOptionError} naming `status` or `kind`.
 */
export async function pageJobs(
  context: OpsContext,
  options: ListJobsOptions & { readonly cursor?: string } = {},
): Promise<Page<JobSummary>> {
  const { cursor, ...rest } = options;
  // The ledger's cursor is `<created_at>|<id>`; anything else is not one this list gave.
  const bar = cursor?.lastIndexOf('|') ?? 0;
  if (cursor !== undefined && (bar < 1 || Number.isNaN(Date.parse(cursor.slice(0, bar))))) {
    throw new InvalidOptionError('cursor: not a cursor this list gave', { field: 'cursor' });
  }
  const page = await listJobs(context, { limit: 50, ...rest, ...(cursor ? { after: cursor } : {}) });
  return { items: page.jobs, next: page.next };
}
