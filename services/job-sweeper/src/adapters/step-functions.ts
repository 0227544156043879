import { DescribeExecutionCommand, ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import type { ExecutionStatusChange } from '@sidestep/contracts';
import { WorkflowExecutionsUnavailableError } from '../errors.ts';
import type { EndedExecution, EndedStatus, WorkflowExecutions } from '../reconcile-ended-executions.ts';

/** ListExecutions' largest page (https://docs.aws.amazon.com/step-functions/latest/apireference/API_ListExecutions.html). */
const PAGE_SIZE = 1000;

/**
 * The workflows' executions through Step Functions' API (a client from the environment:
 * AWS_ENDPOINT_URL locally): ListExecutions, whose results are "sorted by time, with the most recent
 * execution first", paged until an execution started before the look-back; DescribeExecution.
 */
export class StepFunctionsWorkflowExecutions implements WorkflowExecutions {
  readonly #sfn: SFNClient;

  constructor(sfn: SFNClient = new SFNClient({})) {
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
    return {
      executionArn,
      stateMachineArn: execution.stateMachineArn ?? '',
      name: execution.name ?? executionArn.split(':').at(-1) ?? executionArn,
      status: execution.status ?? 'FAILED',
      error: execution.error ?? null,
      cause: execution.cause ?? null,
      redriveCount: execution.redriveCount ?? 0,
    };
  }
}
