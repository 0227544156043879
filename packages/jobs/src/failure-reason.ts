import { constants } from 'node:os';
import { shorten } from '@sidestep/contracts';
import { escapeNul } from './escape-nul.ts';

/** The Catch output Step Functions hands the failure step: the error name and its cause. */
export interface CaughtError {
  readonly Error?: string | undefined;
  readonly Cause?: string | undefined;
}

/** The longest reason a mail accepts (`import.failed`'s `reason`). */
export const MAX_REASON_LENGTH = 2000;

/** What a job that failed without any error says. */
export const UNKNOWN_FAILURE_REASON = 'the workflow failed without reporting an error';

/**
 * Why a job failed, in words an operator can act on. The batch-worker's own `worker_error` wins (it
 * knows the line and column); otherwise the reason comes from the Catch output:
 *
 * - a Lambda task's Cause is the function's error document, `{"errorType","errorMessage",...}`;
 * - an `ecs:runTask.sync` task's Cause is the stopped task's description, whose `StoppedReason` and
 *   containers' exit codes say what happened;
 * - anything else (States.Timeout, a plain message) is shown as `<Error>: <Cause>`.
 *
 * A NUL character in it is written `\u0000` ({@link escapeNul}), so that it can be recorded.
 *
 * See https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
 */
export function failureReason(
  workerError: string | null | undefined,
  caught: CaughtError | undefined,
): string {
  // Escaped before it is cut, so the reason recorded is at most MAX_REASON_LENGTH as written.
  const reason = escapeNul(workerError?.trim() || fromCaught(caught) || UNKNOWN_FAILURE_REASON);
  return shorten(reason, MAX_REASON_LENGTH);
}

function fromCaught(caught: CaughtError | undefined): string | undefined {
  const name = caught?.Error?.trim() || undefined;
  const cause = caught?.Cause?.trim() || undefined;
  if (cause === undefined) return name;
  const parsed = parseObject(cause);
  if (parsed) {
    const lambda = fromLambdaError(parsed);
    if (lambda) return lambda;
    const task = fromEcsTask(parsed) ?? fromRunTaskFailures(parsed);
    if (task) return name ? `${name}: ${task}` : task;
  }
  return name && !cause.startsWith(name) ? `${name}: ${cause}` : cause;
}

/**
 * What Lambda puts before the errors it reports itself (a timeout, a runtime that exited): "RequestId:
 * <id> Error: " (https://repost.aws/knowledge-center/lambda-runtime-error). A reason says what failed;
 * the execution's history keeps which request.
 */
const LAMBDA_REQUEST_PREFIX = /^RequestId: [0-9a-f-]{36} Error: /;

function fromLambdaError(error: Record<string, unknown>): string | undefined {
  const message = text(error.errorMessage)?.replace(LAMBDA_REQUEST_PREFIX, '');
  if (message === undefined) return undefined;
  const type = text(error.errorType);
  return type ? `${type}: ${message}` : message;
}

function fromEcsTask(task: Record<string, unknown>): string | undefined {
  // Step Functions gives the DescribeTasks shape with the SDK's PascalCase keys; accept camelCase too.
  const stoppedReason = text(task.StoppedReason ?? task.stoppedReason);
  const containers = task.Containers ?? task.containers;
  const exits = Array.isArray(containers)
    ? containers.flatMap((container: unknown) => {
        if (typeof container !== 'object' || container === null) return [];
        const fields = container as Record<string, unknown>;
        const exitCode = fields.ExitCode ?? fields.exitCode;
        if (typeof exitCode !== 'number' || exitCode === 0) return [];
        const containerName = text(fields.Name ?? fields.name) ?? 'container';
        const containerReason = text(fields.Reason ?? fields.reason);
        const signal = signalOf(exitCode);
        const notes = [
          ...(signal && !containerReason?.includes(signal) ? [signal] : []),
          ...(containerReason ? [containerReason] : []),
        ];
        return [
          `${containerName} exited with code ${exitCode}${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`,
        ];
      })
    : [];
  const parts = [...exits, ...(stoppedReason ? [stoppedReason] : [])];
  return parts.length > 0 ? parts.join('; ') : undefined;
}

/**
 * RunTask's answer when it started no task, which `ecs:runTask.sync` fails with as `AmazonECS.Unknown`
 * (https://docs.aws.amazon.com/step-functions/latest/dg/connect-ecs.html): each `Failures` entry's
 * reason, ECS's words ("You’ve reached the limit on the number of vCPUs you can run concurrently",
 * https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Failure.html), with its detail.
 */
function fromRunTaskFailures(answer: Record<string, unknown>): string | undefined {
  const failures = answer.Failures ?? answer.failures;
  if (!Array.isArray(failures)) return undefined;
  const reasons = failures.flatMap((failure: unknown) => {
    if (typeof failure !== 'object' || failure === null) return [];
    const fields = failure as Record<string, unknown>;
    const reason = text(fields.Reason ?? fields.reason);
    const detail = text(fields.Detail ?? fields.detail);
    if (reason === undefined) return [];
    return [detail ? `${reason} (${detail})` : reason];
  });
  return reasons.length > 0 ? `ECS started no task: ${reasons.join('; ')}` : undefined;
}

/**
 * The signal a container's exit code stands for: a process ended by signal n exits with 128 + n as
 * Docker and ECS report it (137 = SIGKILL, as after an out-of-memory kill or a stop's grace period;
 * 143 = SIGTERM).
 */
function signalOf(exitCode: number): string | undefined {
  if (exitCode <= 128) return undefined;
  const number = exitCode - 128;
  return Object.entries(constants.signals).find(([, value]) => value === number)?.[0];
}

function parseObject(value: string): Record<string, unknown> | undefined {
  if (!value.startsWith('{')) return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}
