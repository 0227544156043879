import type { HistoryEvent } from './execution-history.ts';

/** `DescribeExecution`'s `redriveStatus` for a standard workflow. */
export type RedriveStatus = 'REDRIVABLE' | 'NOT_REDRIVABLE';

/** Where a redrive restarts: a top-level state and the input it was entered with (JSON text). */
export interface RedriveStart {
  readonly state: string;
  readonly input: string;
}

/** The statuses RedriveExecution restarts. */
const REDRIVABLE_STATUSES: ReadonlySet<string> = new Set(['FAILED', 'TIMED_OUT', 'ABORTED']);

/**
 * RedriveExecution of a RUNNING or SUCCEEDED execution (the AWS error code, so the SDK maps it).
 * @see https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html
 */
export class ExecutionNotRedrivableError extends Error {
  override readonly name = 'ExecutionNotRedrivable';
  readonly executionArn: string;
  readonly field = 'executionArn';
  constructor(executionArn: string, reason: string) {
    super(`Execution '${executionArn}' cannot be redriven: ${reason}`);
    this.executionArn = executionArn;
  }
}

/**
 * An execution whose recorded definition (the one it started with, which its redrive runs) is not
 * in the executions file: the file was edited or torn. Nothing is run rather than a definition the
 * execution did not start with.
 */
export class ExecutionDefinitionMissingError extends Error {
  override readonly name = 'ExecutionDefinitionMissingError';
  readonly executionArn: string;
  readonly field = 'executionArn';
  constructor(executionArn: string, hash: string) {
    super(
      `Execution '${executionArn}' cannot be redriven locally: the definition it started with (${hash}) is not in the executions file; start a new execution`,
    );
    this.executionArn = executionArn;
  }
}

/** How long after it ended an execution can be redriven. */
export const REDRIVABLE_PERIOD_MS = 14 * 24 * 60 * 60 * 1000;

/**
 * Whether an execution in `status` that ended at `stopDate` can be redriven at `now`, with the
 * reason AWS gives when it cannot: only FAILED, TIMED_OUT and ABORTED executions that ended in the
 * last 14 days (https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html,
 * https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html#StepFunctions-DescribeExecution-response-redriveStatusReason).
 */
export function redriveStatusOf(
  status: string,
  stopDate?: Date,
  now: Date = new Date(),
): { status: RedriveStatus; reason?: string } {
  if (!REDRIVABLE_STATUSES.has(status)) {
    return { status: 'NOT_REDRIVABLE', reason: `Execution is ${status} and cannot be redriven.` };
  }
  if (stopDate && now.getTime() - stopDate.getTime() > REDRIVABLE_PERIOD_MS) {
    return { status: 'NOT_REDRIVABLE', reason: 'Execution redrivable period exceeded.' };
  }
  return { status: 'REDRIVABLE' };
}

/**
 * The top-level state the last attempt (since the last `ExecutionRedriven`) entered and never
 * left, and its input: where a redrive continues, as Step Functions continues from the unsuccessful
 * step. A failure inside a Map or Parallel restarts that whole Map or Parallel state (AWS reruns
 * only the failed iterations and branches). `undefined` when the attempt failed before entering a
 * state: a redrive then starts from `StartAt`.
 */
export function redriveStartOf(
  history: readonly HistoryEvent[],
  topLevelStates: ReadonlySet<string>,
): RedriveStart | undefined {
  let open: RedriveStart | undefined;
  for (const event of history) {
    if (event.type === 'ExecutionRedriven') {
      open = undefined;
      continue;
    }
    const entered = event.stateEnteredEventDetails as { name: string; input: string } | undefined;
    if (entered && !open && topLevelStates.has(entered.name)) {
      open = { state: entered.name, input: entered.input };
      continue;
    }
    const exited = event.stateExitedEventDetails as { name: string } | undefined;
    if (exited && open?.state === exited.name) open = undefined;
  }
  return open;
}

/**
 * The definition with `StartAt` moved to `state`: aws-local-stepfunctions runs a whole definition
 * from its `StartAt` and cannot resume one, so a redrive runs this derived definition instead.
 * Every state keeps its `Next`, `Retry` and `Catch`; only the entry point moves.
 */
export function definitionStartingAt<T extends { StartAt: string }>(definition: T, state: string): T {
  return { ...definition, StartAt: state };
}
