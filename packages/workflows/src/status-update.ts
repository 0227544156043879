import type { PayloadTemplate, TaskState } from './asl.ts';
import { INTEGRATION } from './integration.ts';
import { retry, TRANSIENT_LAMBDA_ERRORS, TRANSIENT_STATUS_UPDATER_ERRORS } from './retry.ts';

/** The Step Functions execution ARN: the status-updater records it on the job and its transitions. */
const EXECUTION_ID = { 'executionId.$': '$$.Execution.Id' };

/**
 * A status-updater call (`lambda:invoke`) with the given payload (a `StatusUpdateInput` from
 * @sidestep/contracts) plus `executionId`, retrying only the Lambda service's and the ledger's
 * transient errors.
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
    Retry: [retry(TRANSIENT_LAMBDA_ERRORS, 2, 6), retry(TRANSIENT_STATUS_UPDATER_ERRORS, 2, 4)],
    ...step,
  };
}
