import { GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { ListExecutionsCommand } from '@aws-sdk/client-sfn';
import type { JobCounts } from '@sidestep/ledger';
import { describeCause } from '@sidestep/runtime';
import { type AsyncFailureStatus, asyncFailureStatuses } from './async-failures.ts';
import { stateMachineArn, WORKFLOWS } from './names.ts';
import type { OpsContext } from './ops-context.ts';
import {
  type QueueStatus,
  queueStatuses,
  type RuleDeadLetterStatus,
  ruleDeadLetterStatuses,
} from './queues.ts';
import { listSchedules, type ScheduleSummary } from './schedules.ts';

/** A workflow's executions: running now, and failed (or timed out, or aborted) / succeeded in the last 24 hours. */
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
  /** The failed asynchronous invocations kept for each service invoked asynchronously. */
  readonly asyncFailures: readonly AsyncFailureStatus[];
  /** What the dead-letter queues without a source queue hold (the schedules' and the rules'). */
  readonly ruleDeadLetters: readonly RuleDeadLetterStatus[];
  readonly workflows: readonly WorkflowStatus[];
  readonly schedules: readonly ScheduleSummary[];
  readonly jobs: JobsStatus | null;
}

const DAY_MS = 86_400_000;

/** How many executions of state machine `arn` are running: ListExecutions with `statusFilter`, paged. */
async function countRunning(context: OpsContext, arn: string): Promise<number> {
  let count = 0;
  let nextToken: string | undefined;
  do {
    const page = await context.clients.sfn.send(
      new ListExecutionsCommand({
        stateMachineArn: arn,
        statusFilter: 'RUNNING',
        maxResults: 1000,
        ...(nextToken ? { nextToken } : {}),
      }),
    );
    count += page.executions?.length ?? 0;
    nextToken = page.nextToken;
  } while (nextToken);
  return count;
}

/** The Step Functions metrics of executions that ended, by the status they ended in. */
const ENDED_METRICS = {
  failed: ['ExecutionsFailed', 'ExecutionsTimedOut', 'ExecutionsAborted'],
  succeeded: ['ExecutionsSucceeded'],
} as const;

/**
 * How many executions of state machine `arn` ended unsuccessfully and successfully in the 24 hours
 * before `now`, from CloudWatch: the AWS/States metrics Step Functions publishes per state machine
 * (https://docs.aws.amazon.com/step-functions/latest/dg/procedure-cw-metrics.html), in one
 * GetMetricData. Listing the executions instead took four ListExecutions listings per workflow, paged
 * back a week, at every refresh of the console's overview (every 3 s per open tab), against the
 * account's ListExecutions throttling quota, which every operator tool shares. CloudWatch's data
 * arrives a few minutes late.
 */
async function endedInTheLastDay(
  context: OpsContext,
  arn: string,
  now: Date,
): Promise<{ failed: number; succeeded: number }> {
  const metrics: readonly string[] = [...ENDED_METRICS.failed, ...ENDED_METRICS.succeeded];
  const answer = await context.clients.cloudWatch.send(
    new GetMetricDataCommand({
      StartTime: new Date(now.getTime() - DAY_MS),
      EndTime: now,
      MetricDataQueries: metrics.map((metric, index) => ({
        Id: `m${index}`,
        MetricStat: {
          Metric: {
            Namespace: 'AWS/States',
            MetricName: metric,
            Dimensions: [{ Name: 'StateMachineArn', Value: arn }],
          },
          Period: DAY_MS / 1000,
          Stat: 'Sum',
        },
      })),
    }),
  );
  // The day may come back as two periods (CloudWatch aligns them): every value is summed.
  const sums = new Map(
    (answer.MetricDataResults ?? []).map((result) => [
      result.Id,
      (result.Values ?? []).reduce((total, value) => total + value, 0),
    ]),
  );
  const total = (names: readonly string[]) =>
    names.reduce((sum, metric) => sum + (sums.get(`m${metrics.indexOf(metric)}`) ?? 0), 0);
  return { failed: total(ENDED_METRICS.failed), succeeded: total(ENDED_METRICS.succeeded) };
}

/**
 * `workflow`'s executions running now (listed), and those that ended in the 24 hours before `now`
 * (CloudWatch, {@link endedInTheLastDay}, the local cloud's too): failed counts every unsuccessful end
 * (FAILED, TIMED_OUT, ABORTED).
 */
export async function workflowStatus(
  context: OpsContext,
  workflow: string,
  now: Date,
): Promise<WorkflowStatus> {
  const arn = await stateMachineArn(context, workflow);
  const [running, ended] = await Promise.all([
    countRunning(context, arn),
    endedInTheLastDay(context, arn, now),
  ]);
  return { workflow, running, failed24h: ended.failed, succeeded24h: ended.succeeded };
}

/** Queues, failed asynchronous invocations, workflows, schedules and jobs of the context's environment. */
export async function status(
  context: OpsContext,
  options: { readonly now?: Date } = {},
): Promise<EnvironmentStatus> {
  const now = options.now ?? new Date();
  const [queues, asyncFailures, ruleDeadLetters, workflows, schedules, jobs] = await Promise.all([
    queueStatuses(context, now),
    asyncFailureStatuses(context, now),
    ruleDeadLetterStatuses(context, now),
    Promise.all(WORKFLOWS.map((workflow) => workflowStatus(context, workflow, now))),
    listSchedules(context, { now }),
    jobsStatus(context, now),
  ]);
  return {
    environment: context.environment,
    queues,
    asyncFailures,
    ruleDeadLetters,
    workflows,
    schedules,
    jobs,
  };
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
