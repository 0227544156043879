import {
  DescribeExecutionCommand,
  ListExecutionsCommand,
  SFNClient,
  type SFNClientConfig,
} from '@aws-sdk/client-sfn';
import type { ExecutionStatusChange } from '@sidestep/contracts';
import { WorkflowExecutionsUnavailableError } from '../errors.ts';
import type { EndedStatus } from '../fail-abandoned-job.ts';
import type { EndedExecution, WorkflowExecutions } from '../reconcile-ended-executions.ts';

/** ListExecutions' largest page (https://docs.aws.amazon.com/step-functions/latest/apireference/API_ListExecutions.html). */
const PAGE_SIZE = 1000;

/**
 * Bounds on each call (the SDK sets none of its own, and without `throwOnRequestTimeout` a request
 * past its timeout is only logged): the sweep's other work waits for the backstop, and a call that
 * cannot connect (a network without a route to Step Functions) must fail, not hang until the
 * function's timeout. With the SDK's 3 attempts, a call gives up within about half a minute.
 */
const STEP_FUNCTIONS_TIMEOUTS = { connectMs: 3_000, requestMs: 5_000 } as const;

/** A Step Functions client from the environment whose calls give up past `timeouts`. */
export function stepFunctionsClient(
  timeouts: { readonly connectMs: number; readonly requestMs: number } = STEP_FUNCTIONS_TIMEOUTS,
  config: SFNClientConfig = {},
): SFNClient {
  return new SFNClient({
    ...config,
    requestHandler: {
      connectionTimeout: timeouts.connectMs,
      requestTimeout: timeouts.requestMs,
      throwOnRequestTimeout: true,
    },
  });
}

/**
 * The workflows' executions through Step Functions' API (a client from the environment:
 * AWS_ENDPOINT_URL locally): ListExecutions, whose results are "sorted by time, with the most recent
 * execution first", paged until an execution started before the look-back; DescribeExecution.
 */
export class StepFunctionsWorkflowExecutions implements WorkflowExecutions {
  readonly #sfn: SFNClient;

  constructor(sfn: SFNClient = stepFunctionsClient()) {
    this.#sfn = sfn;
  }

  async *ended(
    stateMachineArn: string,
    status: EndedStatus,
    startedSince: Date,
  ): AsyncIterable<EndedExecution> {
    let nextToken: string | undefined;
    do {
      const page = await this.#sfn
        .send(
          new ListExecutionsCommand({
            stateMachineArn,
            statusFilter: status,
            maxResults: PAGE_SIZE,
            nextToken,
          }),
        )
        .catch((error: unknown) => {
          throw new WorkflowExecutionsUnavailableError(`ListExecutions of ${stateMachineArn}`, error);
        });
      for (const execution of page.executions ?? []) {
        if (!execution.executionArn || !execution.startDate) continue;
        if (execution.startDate.getTime() < startedSince.getTime()) return;
        yield {
          executionArn: execution.executionArn,
          startDate: execution.startDate,
          ...(execution.stopDate ? { stopDate: execution.stopDate } : {}),
          ...(execution.redriveCount === undefined ? {} : { redriveCount: execution.redriveCount }),
        };
      }
      nextToken = page.nextToken;
    } while (nextToken);
  }

  async describe(executionArn: string): Promise<ExecutionStatusChange['detail']> {
    const execution = await this.#sfn
      .send(new DescribeExecutionCommand({ executionArn }))
      .catch((error: unknown) => {
        throw new WorkflowExecutionsUnavailableError(`DescribeExecution of ${executionArn}`, error);
      });
    const { stateMachineArn, name, status } = execution;
    // Fields DescribeExecution always answers: one without them is no answer to act on.
    if (!stateMachineArn || !name || !status) {
      throw new WorkflowExecutionsUnavailableError(
        `DescribeExecution of ${executionArn}`,
        new Error('the answer lacks its stateMachineArn, name or status'),
      );
    }
    return {
      executionArn,
      stateMachineArn,
      name,
      status,
      error: execution.error ?? null,
      cause: execution.cause ?? null,
      redriveCount: execution.redriveCount ?? 0,
    };
  }
}
