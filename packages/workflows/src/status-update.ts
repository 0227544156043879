import type { PayloadTemplate, TaskState } from './asl.ts';
import { INTEGRATION } from './integration.ts';
import { LEDGER_OUTAGE_RETRY, retry, TRANSIENT_LAMBDA_ERRORS } from './retry.ts';

/** The Step Functions execution ARN: the status-updater records it on the job and its transitions. */
const EXECUTION_ID = { 'executionId.$': '$$.Execution.Id' };

/**
 * A status-updater call (`lambda:invoke`) with the given payload (a `StatusUpdateInput` from
 * @sidestep/contracts) plus `executionId`, retrying only the Lambda service's and the ledger's
 * transient errors (the ledger's for as long as a database failover takes: {@link LEDGER_OUTAGE_RETRY}).
 */
export function statusUpdate(
  functionArn: string,
  payload: PayloadTemplate,
  step: Pick<TaskState, 'Comment' | 'ResultSelector' | 'ResultPath' | 'Catch'> & { readonly Next: string },
): TaskState {
  return {
    Type: 'Task',
    Resource: INTEGRATION.lambdaInvoke,
    Parameters: { FunctionName: functionArn, Payload: { ...payload, ...EXECUTION_ID } },
    Retry: [retry(TRANSIENT_LAMBDA_ERRORS, 2, 6), LEDGER_OUTAGE_RETRY],
    ...step,
  };
}
