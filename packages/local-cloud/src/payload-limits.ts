import { AwsValidationError } from './aws-api-errors.ts';

/**
 * The largest input or output of an execution, state or task Step Functions passes: 256 KiB of
 * UTF-8 (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html#service-limits-task-executions).
 * aws-local-stepfunctions has no such limit, so the local Step Functions checks it.
 */
export const STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES = 262_144;

/**
 * Refuses a StartExecution input over 256 KiB, as the API's length constraint on `input` does
 * (a ValidationException, like every length constraint of the Step Functions API).
 */
export function checkExecutionInputSize(input: string): void {
  if (Buffer.byteLength(input, 'utf8') > STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES) {
    throw new AwsValidationError(
      'input',
      `Member must have length less than or equal to ${STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES}`,
    );
  }
}

/**
 * A task returned more than 256 KiB: the execution fails with `States.DataLimitExceeded`, which
 * no `Retry` or `Catch` on `States.ALL` handles (it is terminal, as on AWS:
 * https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html#error-handling-error-representation).
 */
export function taskResultTooLarge(
  result: unknown,
  resource: string,
): { readonly error: string; readonly cause: string } | undefined {
  const size = Buffer.byteLength(JSON.stringify(result ?? null), 'utf8');
  if (size <= STEP_FUNCTIONS_PAYLOAD_LIMIT_BYTES) return undefined;
  return {
    error: 'States.DataLimitExceeded',
    cause: `The state/task '${resource}' returned a result with a size exceeding the maximum number of bytes service limit.`,
  };
}
