import type { JobEvent, JobState } from '@sidestep/contracts';
import { InvalidTransitionError, RowCountsMissingError } from '../errors.ts';
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
 * committed together with the rows, because they are what its completion mail reports.
 *
 * @throws {RowCountsMissingError} an import without `rows_total`.
 */
export function assertFinishable(job: Pick<JobSnapshot, 'id' | 'kind' | 'rowsTotal'>): void {
  if (job.kind === 'import' && job.rowsTotal === null) throw new RowCountsMissingError(job.id);
}
