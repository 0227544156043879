import type { ExportJobResult, JobEvent, JobKind, JobState } from '@sidestep/contracts';
import { InvalidInputError } from '@sidestep/runtime/errors';
import { ExportResultMissingError, InvalidTransitionError, RowCountsMissingError } from './errors.ts';
import type { JobSnapshot } from './status-output.ts';

/** One row of the state machine: the states an event may be fired in, and where it leads. */
export interface JobTransition {
  /** States the event is allowed in; empty for `register`, which creates the job. */
  readonly from: readonly JobState[];
  readonly to: JobState;
}

/**
 * The whole state machine of a job, as data:
 *
 * ```
 *   (none) --register--> registered --start--> running --finish--> succeeded
 *                            |                    |
 *                            +------fail----------+-----> failed
 * ```
 *
 * `succeeded` and `failed` are terminal: a failure after a job succeeded (say, its completion mail
 * could not be queued) does not turn imported rows into a failed import. Re-firing the event a step
 * already fired is not a transition: the status-updater answers it from the job's audit trail
 * before this table is consulted.
 */
export const JOB_TRANSITIONS: { readonly [E in JobEvent]: JobTransition } = {
  register: { from: [], to: 'registered' },
  start: { from: ['registered'], to: 'running' },
  finish: { from: ['running'], to: 'succeeded' },
  fail: { from: ['registered', 'running'], to: 'failed' },
};

/**
 * How long a job of each kind may stay `running` when its start does not say (`deadlineSeconds`,
 * which the workflows send: `jobDeadlineSeconds` of @sidestep/workflows, from their batch task's
 * timeout): `start` sets `deadline_at` to now plus this, and the job-sweeper fails a job still
 * running past it. Not below the longest a workflow with the default 1-hour task waits: the first
 * run of its Fargate task and every rerun after an interruption or a transient failure, with the
 * waits between and the steps after (a test in @sidestep/workflows checks it), so a job whose
 * workflow is alive is never swept.
 */
export const JOB_DEADLINE_SECONDS: { readonly [K in JobKind]: number } = {
  import: 16 * 60 * 60,
  export: 16 * 60 * 60,
};

/**
 * How long a start keeps a job of `kind` running before the job-sweeper may fail it: the start's
 * `deadlineSeconds` when it sends one, else {@link JOB_DEADLINE_SECONDS} of the kind. A start sets
 * `deadline_at` to now plus this, and so does a redrive's claim of the job (@sidestep/ledger's
 * `claimRedrive`), with the seconds its start had: a redrive does not run that start again.
 */
export function startDeadlineSeconds(kind: JobKind, deadlineSeconds?: number): number {
  return deadlineSeconds ?? JOB_DEADLINE_SECONDS[kind];
}

/**
 * How long a job an operator's retry handed to a new execution (@sidestep/ledger's `handOverJob`)
 * may stay `registered` before the job-sweeper fails it: the hand-over sets `deadline_at` to now plus
 * this, and the execution's StartJob replaces it with its own (its RegisterJob, replayed, leaves it).
 * Without it a retry cut between the hand-over and StartExecution (the operator's process killed, its
 * network gone, the take-back failing too) left the job registered, with no deadline, to an execution
 * that never started: no sweep reads such a job, and no execution's end event ever comes for it.
 *
 * Not below the longest an execution that did start may take to reach StartJob: RegisterJob and
 * StartJob each retry the Lambda service's errors (6 times, up to 2 min of waits) and the ledger's
 * (8 times, 4 min 33 s: `LEDGER_OUTAGE_RETRY` of @sidestep/workflows), each attempt up to the
 * status-updater's 30-second timeout: 14 min 5 s a step, 28 min 10 s both (a test in
 * @sidestep/workflows checks it against the definitions). Thirty minutes, so a job whose execution is
 * alive is never swept, and one whose execution never started is failed (and mailed) within the hour.
 * https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html#error-handling-retrying-after-an-error
 */
export const HAND_OVER_DEADLINE_SECONDS = 30 * 60;

/**
 * The reason the job-sweeper records on a handed-over job still `registered` past its deadline
 * ({@link HAND_OVER_DEADLINE_SECONDS}): the retry's execution never took it.
 */
export function handOverMissedReason(executionArn: string, deadlineAt: Date): string {
  const name = executionArn.split(':').at(-1) ?? executionArn;
  return (
    `the retry's execution ${name} never took the job before its deadline (${deadlineAt.toISOString()}): ` +
    'it never started, or ended before its StartJob'
  );
}

/** The reason the job-sweeper records on a job that missed its deadline. */
export function deadlineMissedReason(deadlineAt: Date): string {
  return `no progress before the deadline (${deadlineAt.toISOString()})`;
}

/** States no event leaves. */
export const TERMINAL_STATES: readonly JobState[] = ['succeeded', 'failed'];

/**
 * The state `event` moves job `jobId` to from `from`.
 *
 * @throws {InvalidTransitionError} the table does not allow `event` in `from`.
 */
export function nextState(jobId: string, from: JobState, event: JobEvent): JobState {
  const transition = JOB_TRANSITIONS[event];
  if (!transition.from.includes(from)) throw new InvalidTransitionError(jobId, event, from, transition.from);
  return transition.to;
}

/**
 * Guards `finish` beyond the table: an import succeeds only with the row counts its batch-worker
 * committed together with the rows, because they are what its completion mail reports; an export
 * only with the finalizer's result (rows, bytes, key, link), which its `export.ready` mail reports.
 *
 * @throws {RowCountsMissingError} an import without `rows_total`.
 * @throws {InvalidInputError} an import's finish with a `result` (its counts come from the ledger).
 * @throws {ExportResultMissingError} an export's finish without `result`.
 */
export function assertFinishable(
  job: Pick<JobSnapshot, 'id' | 'kind' | 'rowsTotal'>,
  result?: ExportJobResult,
): void {
  if (job.kind === 'import') {
    if (result !== undefined) {
      throw new InvalidInputError(
        'result',
        `invalid status update input: job ${job.id} is an import: its row counts come from the ledger`,
      );
    }
    if (job.rowsTotal === null) throw new RowCountsMissingError(job.id);
  } else if (result === undefined) {
    throw new ExportResultMissingError(job.id);
  }
}
