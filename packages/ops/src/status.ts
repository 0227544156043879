import { ListExecutionsCommand } from '@aws-sdk/client-sfn';
import type { JobCounts } from '@sidestep/ledger';
import { describeCause } from '@sidestep/runtime';
import { stateMachineArn, WORKFLOWS } from './names.ts';
import type { OpsContext } from './ops-context.ts';
import { type QueueStatus, queueStatuses } from './queues.ts';
import { listSchedules, type ScheduleSummary } from './schedules.ts';

/** A workflow's executions: running now, and failed / succeeded in the last 24 hours. */
export interface WorkflowStatus {
  readonly workflow: string;
  readonly running: number;
  readonly failed24h: number;
  readonly succeeded24h: number;
}

/** The ledger's running and registered jobs, and the ones that failed and succeeded in the last 24 hours. */
export type JobsStatus = JobCounts;

/** `sidestep status`: one screen of the whole environment. */
export interface EnvironmentStatus {
  readonly environment: string;
  readonly queues: readonly QueueStatus[];
  readonly workflows: readonly WorkflowStatus[];
  readonly schedules: readonly ScheduleSummary[];
  readonly jobs: JobsStatus | null;
}

const DAY_MS = 86_400_000;

async function countExecutions(
  context: OpsContext,
  arn: string,
  status: 'RUNNING' | 'FAILED' | 'SUCCEEDED',
  since: number,
): Promise<number> {
  let count = 0;
  let nextToken: string | undefined;
  do {
    const page = await context.clients.sfn.send(
      new ListExecutionsCommand({
        stateMachineArn: arn,
        statusFilter: status,
        maxResults: 100,
        ...(nextToken ? { nextToken } : {}),
      }),
    );
    for (const execution of page.executions ?? []) {
      // Listed newest first: once past the window, the rest are older still.
      if (
        status !== 'RUNNING' &&
        (execution.stopDate ?? execution.startDate ?? new Date(0)).getTime() < since
      ) {
        return count;
      }
      count += 1;
    }
    nextToken = page.nextToken;
  } while (nextToken);
  return count;
}

/** Queues, workflows, schedules and jobs of the context's environment. */
export async function status(
  context: OpsContext,
  options: { readonly now?: Date } = {},
): Promise<EnvironmentStatus> {
  const now = options.now ?? new Date();
  const since = now.getTime() - DAY_MS;
  const [queues, workflows, schedules, jobs] = await Promise.all([
    queueStatuses(context, now),
    Promise.all(
      WORKFLOWS.map(async (workflow) => {
        const arn = await stateMachineArn(context, workflow);
        const [running, failed24h, succeeded24h] = await Promise.all([
          countExecutions(context, arn, 'RUNNING', since),
          countExecutions(context, arn, 'FAILED', since),
          countExecutions(context, arn, 'SUCCEEDED', since),
        ]);
        return { workflow, running, failed24h, succeeded24h };
      }),
    ),
    listSchedules(context, { now }),
    jobsStatus(context, now),
  ]);
  return { environment: context.environment, queues, workflows, schedules, jobs };
}

/** The ledger's job counts; null (with a warning) when the ledger does not answer: the rest still shows. */
async function jobsStatus(context: OpsContext, now: Date): Promise<JobsStatus | null> {
  try {
    return await (await context.ledger()).countJobs(new Date(now.getTime() - DAY_MS));
  } catch (error) {
    context.warn(`jobs ledger not reachable: ${describeCause(error)}`);
    return null;
  }
}
