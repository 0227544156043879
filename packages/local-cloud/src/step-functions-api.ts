import { AwsValidationError, rateExceeded, UnknownOperationError } from './aws-api-errors.ts';
import type { JsonApiHandler } from './json-api-handler.ts';
import { createRateBucket } from './rate-bucket.ts';
import type { ExecutionStatus, ExecutionSummary, LocalStepFunctions } from './step-functions.ts';

/** The `X-Amz-Target` prefix of the Step Functions JSON API (`AWSStepFunctions.StartExecution`). */
export const STEP_FUNCTIONS_TARGET_PREFIX = 'AWSStepFunctions';

const EXECUTION_STATUSES: readonly ExecutionStatus[] = [
  'RUNNING',
  'SUCCEEDED',
  'FAILED',
  'TIMED_OUT',
  'ABORTED',
];

/**
 * Step Functions' API throttling quotas in the local cloud's Region (us-east-1; us-west-2 and
 * eu-west-1 have the same, the other Regions smaller ones): each action's token bucket, its size and
 * its refill a second (https://docs.aws.amazon.com/step-functions/latest/dg/limits-overview.html,
 * "Quotas related to API action throttling" and "Other quotas"). RedriveExecution has none listed.
 */
export const STEP_FUNCTIONS_API_QUOTAS: Readonly<
  Record<string, { readonly bucket: number; readonly refill: number }>
> = {
  StartExecution: { bucket: 1300, refill: 300 },
  DescribeExecution: { bucket: 300, refill: 15 },
  DescribeStateMachine: { bucket: 200, refill: 20 },
  GetExecutionHistory: { bucket: 400, refill: 20 },
  ListExecutions: { bucket: 200, refill: 5 },
  ListStateMachines: { bucket: 100, refill: 5 },
  StopExecution: { bucket: 1000, refill: 200 },
};

/** Options of {@link stepFunctionsApi}. */
export interface StepFunctionsApiOptions {
  /** The clock of the throttling's buckets, in ms. @default performance.now */
  readonly now?: () => number;
}

/**
 * The Step Functions JSON API (awsJson1_0) over {@link LocalStepFunctions}, so an unchanged
 * `@aws-sdk/client-sfn` (or `aws stepfunctions`) pointed at the local endpoint starts, watches and
 * stops executions: StartExecution, DescribeExecution, ListExecutions, GetExecutionHistory,
 * StopExecution, RedriveExecution, DescribeStateMachine, ListStateMachines. Shapes follow the API reference
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/); timestamps are epoch seconds,
 * as the JSON protocol sends them; lists page with `maxResults` / `nextToken`. Each action is
 * throttled as {@link STEP_FUNCTIONS_API_QUOTAS} says, before its request is looked at: past its
 * bucket, `ThrottlingException` "Rate exceeded", which the SDKs retry with backoff. What the local
 * cloud does in-process (EventBridge's StartExecution of a trigger) is not counted.
 */
export function stepFunctionsApi(
  sfn: LocalStepFunctions,
  options: StepFunctionsApiOptions = {},
): JsonApiHandler {
  const now = options.now ?? (() => performance.now());
  const buckets = new Map(
    Object.entries(STEP_FUNCTIONS_API_QUOTAS).map(([action, quota]) => [
      action,
      createRateBucket(quota.refill, now, quota.bucket),
    ]),
  );
  return async (operation, input) => {
    if (buckets.get(operation)?.admit() === false) throw rateExceeded();
    switch (operation) {
      case 'StartExecution': {
        const started = sfn.startExecution({
          stateMachineArn: requireString(input, 'stateMachineArn'),
          ...(optionalString(input, 'name') !== undefined
            ? { name: optionalString(input, 'name') as string }
            : {}),
          ...(optionalString(input, 'input') !== undefined
            ? { input: optionalString(input, 'input') as string }
            : {}),
        });
        return { executionArn: started.executionArn, startDate: epochSeconds(started.startDate) };
      }
      case 'DescribeExecution':
        return describeExecution(sfn.describeExecutionSummary(requireString(input, 'executionArn')));
      case 'ListExecutions': {
        const stateMachineArn = requireString(input, 'stateMachineArn');
        const statusFilter = optionalString(input, 'statusFilter');
        if (statusFilter !== undefined && !EXECUTION_STATUSES.includes(statusFilter as ExecutionStatus)) {
          throw new AwsValidationError(
            'statusFilter',
            `Member must satisfy enum value set: ${EXECUTION_STATUSES}`,
          );
        }
        const executions = sfn.listExecutions(stateMachineArn, statusFilter as ExecutionStatus | undefined);
        const page = paginate(executions, input, 100);
        return {
          executions: page.items.map(executionSummary),
          ...(page.nextToken ? { nextToken: page.nextToken } : {}),
        };
      }
      case 'GetExecutionHistory': {
        const history = sfn.executionHistory(requireString(input, 'executionArn'));
        const events = input.reverseOrder === true ? [...history].reverse() : history;
        const page = paginate(events, input, 100);
        return {
          events: page.items.map((event) => ({ ...event, timestamp: epochSeconds(event.timestamp) })),
          ...(page.nextToken ? { nextToken: page.nextToken } : {}),
        };
      }
      case 'RedriveExecution': {
        const clientToken = optionalString(input, 'clientToken');
        const { redriveDate } = await sfn.redriveExecution(requireString(input, 'executionArn'), {
          ...(clientToken !== undefined ? { clientToken } : {}),
        });
        return { redriveDate: epochSeconds(redriveDate) };
      }
      case 'StopExecution': {
        // "error ... Maximum length of 256", "cause ... Maximum length of 32768"
        // (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StopExecution.html),
        // counted here in UTF-16 code units, the stricter reading.
        const error = boundedString(input, 'error', 256);
        const cause = boundedString(input, 'cause', 32_768);
        const reason = {
          ...(error !== undefined ? { error } : {}),
          ...(cause !== undefined ? { cause } : {}),
        };
        const { stopDate } = sfn.stopExecution(requireString(input, 'executionArn'), reason);
        return { stopDate: epochSeconds(stopDate) };
      }
      case 'DescribeStateMachine': {
        const machine = sfn.describeStateMachine(requireString(input, 'stateMachineArn'));
        return {
          stateMachineArn: machine.stateMachineArn,
          name: machine.name,
          status: 'ACTIVE',
          definition: JSON.stringify(machine.definition),
          roleArn: machine.roleArn,
          type: 'STANDARD',
          creationDate: epochSeconds(machine.creationDate),
          loggingConfiguration: { level: 'OFF', includeExecutionData: false },
          tracingConfiguration: { enabled: false },
        };
      }
      case 'ListStateMachines': {
        const page = paginate(sfn.stateMachines, input, 100);
        return {
          stateMachines: page.items.map((machine) => ({
            stateMachineArn: machine.stateMachineArn,
            name: machine.name,
            type: 'STANDARD',
            creationDate: epochSeconds(machine.creationDate),
          })),
          ...(page.nextToken ? { nextToken: page.nextToken } : {}),
        };
      }
      default:
        throw new UnknownOperationError('Step Functions', operation);
    }
  };
}

/** An execution as ListExecutions lists it; DescribeExecution adds to the same fields. */
function executionSummary(execution: ExecutionSummary): Record<string, unknown> {
  return {
    executionArn: execution.executionArn,
    stateMachineArn: execution.stateMachineArn,
    name: execution.name,
    status: execution.status,
    startDate: epochSeconds(execution.startDate),
    ...(execution.stopDate ? { stopDate: epochSeconds(execution.stopDate) } : {}),
    redriveCount: execution.redriveCount,
    ...(execution.redriveDate ? { redriveDate: epochSeconds(execution.redriveDate) } : {}),
  };
}

function describeExecution(execution: ExecutionSummary): Record<string, unknown> {
  return {
    ...executionSummary(execution),
    input: execution.input,
    inputDetails: { included: true },
    ...(execution.output !== undefined
      ? { output: execution.output, outputDetails: { included: true } }
      : {}),
    ...(execution.error !== undefined ? { error: execution.error } : {}),
    ...(execution.cause !== undefined ? { cause: execution.cause } : {}),
    redriveStatus: execution.redriveStatus,
    ...(execution.redriveStatusReason ? { redriveStatusReason: execution.redriveStatusReason } : {}),
  };
}

function paginate<T>(
  items: readonly T[],
  input: Record<string, unknown>,
  defaultSize: number,
): { items: readonly T[]; nextToken?: string } {
  const size = typeof input.maxResults === 'number' && input.maxResults > 0 ? input.maxResults : defaultSize;
  let offset = 0;
  if (typeof input.nextToken === 'string') {
    offset = Number(Buffer.from(input.nextToken, 'base64url').toString('utf8'));
    if (!Number.isInteger(offset) || offset < 0) {
      throw new AwsValidationError('nextToken', 'Member must be a token returned by this API');
    }
  }
  const end = offset + size;
  return {
    items: items.slice(offset, end),
    ...(end < items.length ? { nextToken: Buffer.from(String(end)).toString('base64url') } : {}),
  };
}

function requireString(input: Record<string, unknown>, field: string): string {
  const value = input[field];
  if (typeof value !== 'string' || value === '') {
    throw new AwsValidationError(field, 'Member must not be null');
  }
  return value;
}

function optionalString(input: Record<string, unknown>, field: string): string | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new AwsValidationError(field, 'Member must be a string');
  return value;
}

/** {@link optionalString}, refused as AWS refuses a string over its `Maximum length`. */
function boundedString(input: Record<string, unknown>, field: string, max: number): string | undefined {
  const value = optionalString(input, field);
  if (value !== undefined && value.length > max) {
    throw new AwsValidationError(field, `Member must have length less than or equal to ${max}`);
  }
  return value;
}

function epochSeconds(date: Date): number {
  return date.getTime() / 1000;
}
