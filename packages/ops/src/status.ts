import { GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { ListExecutionsCommand } from '@aws-sdk/client-sfn';
import type { JobCounts } from '@sidestep/ledger';
import { resourceName } from '@sidestep/manifest';
import { describeCause } from '@sidestep/runtime';
import { type AsyncFailureStatus, asyncFailureStatuses } from './async-failures.ts';
import { FUNCTIONS, stateMachineArn, WORKFLOWS } from './names.ts';
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

/** A Lambda function's invocations Lambda throttled in the last 24 hours (the account's or its own concurrency in use). */
export interface FunctionStatus {
  /** Without prefix: `sidestep-<env>-<function>`. */
  readonly function: string;
  readonly throttled24h: number;
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
  /** Each function's throttled invocations in the last 24 hours. */
  readonly functions: readonly FunctionStatus[];
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
  const sums = await lastDaySums(
    context,
    now,
    metrics.map((metric, index) => ({
      id: `m${index}`,
      namespace: 'AWS/States',
      metricName: metric,
      dimension: { Name: 'StateMachineArn', Value: arn },
    })),
  );
  const total = (names: readonly string[]) =>
    names.reduce((sum, metric) => sum + (sums.get(`m${metrics.indexOf(metric)}`) ?? 0), 0);
  return { failed: total(ENDED_METRICS.failed), succeeded: total(ENDED_METRICS.succeeded) };
}

/**
 * Each metric's `Sum` over the 24 hours before `now`, by its query's `id`, in one GetMetricData (a
 * period of a day; a metric without data counts 0, a missing id is not in the map).
 */
async function lastDaySums(
  context: OpsContext,
  now: Date,
  metrics: readonly {
    readonly id: string;
    readonly namespace: string;
    readonly metricName: string;
    readonly dimension: { readonly Name: string; readonly Value: string };
  }[],
): Promise<Map<string | undefined, number>> {
  const answer = await context.clients.cloudWatch.send(
    new GetMetricDataCommand({
      StartTime: new Date(now.getTime() - DAY_MS),
      EndTime: now,
      MetricDataQueries: metrics.map((metric) => ({
        Id: metric.id,
        MetricStat: {
          Metric: {
            Namespace: metric.namespace,
            MetricName: metric.metricName,
            Dimensions: [metric.dimension],
          },
          Period: DAY_MS / 1000,
          Stat: 'Sum',
        },
      })),
    }),
  );
  // The day may come back as two periods (CloudWatch aligns them): every value is summed.
  return new Map(
    (answer.MetricDataResults ?? []).map((result) => [
      result.Id,
      (result.Values ?? []).reduce((total, value) => total + value, 0),
    ]),
  );
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

/**
 * Each of sidestep's functions' invocations Lambda throttled in the 24 hours before `now`: the
 * `Throttles` metric Lambda publishes per function (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html),
 * one query per function in one GetMetricData (the local cloud's too, with `--lambda-concurrency`).
 * Throttles mean the account's concurrency (or a function's reserved concurrency) was in use:
 * workflow steps and asynchronous invocations retry them, a queue's batch comes back, but a burst
 * of them is the sign to ask for a higher quota (`npm run preflight` shows it).
 */
export async function functionStatuses(context: OpsContext, now: Date): Promise<FunctionStatus[]> {
  const sums = await lastDaySums(
    context,
    now,
    FUNCTIONS.map((name, index) => ({
      id: `f${index}`,
      namespace: 'AWS/Lambda',
      metricName: 'Throttles',
      dimension: { Name: 'FunctionName', Value: resourceName(context.environment, name) },
    })),
  );
  return FUNCTIONS.map((name, index) => ({ function: name, throttled24h: sums.get(`f${index}`) ?? 0 }));
}

/** Queues, failed asynchronous invocations, workflows, functions, schedules and jobs of the context's environment. */
export async function status(
  context: OpsContext,
  options: { readonly now?: Date } = {},
): Promise<EnvironmentStatus> {
  const now = options.now ?? new Date();
  const [queues, asyncFailures, ruleDeadLetters, workflows, functions, schedules, jobs] = await Promise.all([
    queueStatuses(context, now),
    asyncFailureStatuses(context, now),
    ruleDeadLetterStatuses(context, now),
    Promise.all(WORKFLOWS.map((workflow) => workflowStatus(context, workflow, now))),
    functionStatuses(context, now),
    listSchedules(context, { now }),
    jobsStatus(context, now),
  ]);
  return {
    environment: context.environment,
    queues,
    asyncFailures,
    ruleDeadLetters,
    workflows,
    functions,
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
