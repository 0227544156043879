import { randomUUID } from 'node:crypto';
import { type RedriveStatus, redriveStatusOf } from './execution-redrive.ts';
import type { ExecutionStatus, StoredExecution } from './execution-store.ts';

/**
 * The EventBridge event Step Functions sends to the default bus whenever a Standard execution's
 * status changes, field for field
 * (https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html): dates are
 * epoch milliseconds, absent values `null`. The redrive fields are DescribeExecution's: how many times
 * it was redriven (0 before any, 1 from the first redrive's start to its end), when last, and whether
 * it can be now (https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html), so a
 * consumer tells the end of a redrive from an end before it (the ARN is the same).
 *
 * @example
 * ```json
 * { "version": "0", "id": "315c1398-40ff-a850-213b-158f73ea175d",
 *   "detail-type": "Step Functions Execution Status Change", "source": "aws.states",
 *   "account": "000000000000", "time": "2026-11-24T09:00:05Z", "region": "us-east-1",
 *   "resources": ["arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:e1"],
 *   "detail": { "executionArn": "arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:e1",
 *     "stateMachineArn": "arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-import",
 *     "name": "e1", "status": "ABORTED", "startDate": 1795510800000, "stopDate": 1795510805000,
 *     "input": "{}", "output": null, "inputDetails": { "included": true }, "outputDetails": null,
 *     "error": null, "cause": null, "redriveCount": 0, "redriveDate": null,
 *     "redriveStatus": "REDRIVABLE", "redriveStatusReason": null } }
 * ```
 */
export interface ExecutionStatusChangeEvent {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': 'Step Functions Execution Status Change';
  readonly source: 'aws.states';
  readonly account: string;
  readonly time: string;
  readonly region: string;
  /** The execution ARN. */
  readonly resources: readonly [string];
  readonly detail: {
    readonly executionArn: string;
    readonly stateMachineArn: string;
    readonly name: string;
    readonly status: ExecutionStatus;
    readonly startDate: number;
    readonly stopDate: number | null;
    readonly input: string;
    readonly output: string | null;
    readonly inputDetails: { readonly included: true };
    readonly outputDetails: { readonly included: true } | null;
    readonly error: string | null;
    readonly cause: string | null;
    readonly redriveCount: number;
    readonly redriveDate: number | null;
    readonly redriveStatus: RedriveStatus;
    readonly redriveStatusReason: string | null;
  };
}

/** What {@link executionStatusChangeEvent} reads of an execution: the store's own fields. */
export type ExecutionStatusFields = Pick<
  StoredExecution,
  | 'executionArn'
  | 'stateMachineArn'
  | 'name'
  | 'status'
  | 'startDate'
  | 'stopDate'
  | 'input'
  | 'output'
  | 'error'
  | 'cause'
  | 'redriveCount'
  | 'redriveDate'
>;

/** The status change event of `execution` as it is now. */
export function executionStatusChangeEvent(
  execution: ExecutionStatusFields,
  where: { readonly region: string; readonly accountId: string },
): ExecutionStatusChangeEvent {
  const redrive = redriveStatusOf(execution.status, execution.stopDate);
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    account: where.accountId,
    time: `${(execution.stopDate ?? new Date()).toISOString().slice(0, 19)}Z`,
    region: where.region,
    resources: [execution.executionArn],
    detail: {
      executionArn: execution.executionArn,
      stateMachineArn: execution.stateMachineArn,
      name: execution.name,
      status: execution.status,
      startDate: execution.startDate.getTime(),
      stopDate: execution.stopDate?.getTime() ?? null,
      input: execution.input,
      output: execution.output ?? null,
      inputDetails: { included: true },
      outputDetails: execution.output === undefined ? null : { included: true },
      error: execution.error ?? null,
      cause: execution.cause ?? null,
      redriveCount: execution.redriveCount,
      redriveDate: execution.redriveDate?.getTime() ?? null,
      redriveStatus: redrive.status,
      redriveStatusReason: redrive.reason ?? null,
    },
  };
}
