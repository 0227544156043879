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

/** A `clientToken` that redrove an execution, and the `redriveDate` that redrive answered. */
export interface RedriveToken {
  readonly clientToken: string;
  /** When the token first redrove the execution: it is honoured for 15 minutes from then. */
  readonly redriveDate: Date;
}

/** How many of an execution's last successful redrive tokens are answered idempotently. */
export const REDRIVE_TOKEN_LIMIT = 10;

/** How long after its first use a redrive token is answered idempotently. */
export const REDRIVE_TOKEN_VALIDITY_MS = 15 * 60 * 1000;

/**
 * The earlier redrive `clientToken` made of an execution, when a call with it at `now` gets that
 * redrive's answer instead of redriving again: "The API will return idempotent responses for the
 * last 10 client tokens used to successfully redrive the execution. These client tokens are valid
 * for up to 15 minutes after they are first used."
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html).
 * `tokens` are the execution's, oldest first, as {@link withRedriveToken} keeps them.
 */
export function redriveByToken(
  tokens: readonly RedriveToken[],
  clientToken: string | undefined,
  now: Date = new Date(),
): RedriveToken | undefined {
  if (clientToken === undefined) return undefined;
  // The latest use: a token whose 15 minutes ran out may have redriven the execution again since.
  const used = tokens.findLast((token) => token.clientToken === clientToken);
  if (!used || now.getTime() - used.redriveDate.getTime() > REDRIVE_TOKEN_VALIDITY_MS) return undefined;
  return used;
}

/** An execution's redrive tokens after `token` redrove it: the last {@link REDRIVE_TOKEN_LIMIT}. */
export function withRedriveToken(tokens: readonly RedriveToken[], token: RedriveToken): RedriveToken[] {
  return [...tokens, token].slice(-REDRIVE_TOKEN_LIMIT);
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
