import { describe, expect, it } from '@jest/globals';
import { createCollectingReporter } from '../src/collecting-reporter.ts';
import { requestAuthorization } from '../src/endpoint-authorization.ts';
import { executionMetricSamples } from '../src/execution-metrics.ts';
import {
  CLOUDWATCH_TARGET_PREFIX,
  createLocalCloudWatch,
  type MetricSample,
} from '../src/local-cloudwatch.ts';
import { queueAgeSamples } from '../src/queue-metrics.ts';
import { createLocalStepFunctions } from '../src/step-functions.ts';
import { LAMBDA_INVOKE, StatesTaskError } from '../src/task-integrations.ts';

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 11, 7, 12, 0, 0);
const seconds = (ms: number) => ms / 1000;

/** A GetMetricData query of `metricName` (namespace `Test`), Period and Stat as given. */
const query = (id: string, metricName: string, Period = 60, Stat = 'Sum', extra: object = {}) => ({
  Id: id,
  MetricStat: { Metric: { Namespace: 'Test', MetricName: metricName, Dimensions: [] }, Period, Stat },
  ...extra,
});

type Results = { MetricDataResults: { Id: string; Label: string; Timestamps: number[]; Values: number[] }[] };

describe('createLocalCloudWatch: GetMetricData', () => {
  // Samples at 12:00:10, 12:00:50 (one minute) and 12:02:30 (another).
  const samples: Record<string, MetricSample[]> = {
    Jobs: [
      { at: T0 + 10_000, value: 2 },
      { at: T0 + 50_000, value: 4 },
      { at: T0 + 2 * MINUTE + 30_000, value: 9 },
    ],
  };
  const cloudWatch = createLocalCloudWatch(() => async (metric) => samples[metric.metricName] ?? []);
  const ask = (input: object) =>
    cloudWatch.api('GetMetricData', input as Record<string, unknown>) as Promise<Results>;

  it('aggregates each period’s samples with the statistic asked, newest first, periods without samples left out', async () => {
    const answer = await ask({
      StartTime: seconds(T0 + 5_000),
      EndTime: seconds(T0 + 10 * MINUTE),
      MetricDataQueries: [
        query('sum', 'Jobs'),
        query('count', 'Jobs', 60, 'SampleCount'),
        query('avg', 'Jobs', 60, 'Average', { Label: 'average jobs' }),
        query('most', 'Jobs', 300, 'Maximum'),
        query('least', 'Jobs', 60, 'Minimum', { ReturnData: false }),
        query('none', 'Nothing'),
      ],
    });
    // StartTime 12:00:05 is rounded down to 12:00:00, where the periods start.
    expect(answer.MetricDataResults).toEqual([
      {
        Id: 'sum',
        Label: 'Jobs',
        Timestamps: [seconds(T0 + 2 * MINUTE), seconds(T0)],
        Values: [9, 6],
        StatusCode: 'Complete',
      },
      {
        Id: 'count',
        Label: 'Jobs',
        Timestamps: [seconds(T0 + 2 * MINUTE), seconds(T0)],
        Values: [1, 2],
        StatusCode: 'Complete',
      },
      {
        Id: 'avg',
        Label: 'average jobs',
        Timestamps: [seconds(T0 + 2 * MINUTE), seconds(T0)],
        Values: [9, 3],
        StatusCode: 'Complete',
      },
      { Id: 'most', Label: 'Jobs', Timestamps: [seconds(T0)], Values: [9], StatusCode: 'Complete' },
      { Id: 'none', Label: 'Nothing', Timestamps: [], Values: [], StatusCode: 'Complete' },
    ]);
    const ascending = await ask({
      StartTime: seconds(T0),
      EndTime: seconds(T0 + 2 * MINUTE),
      ScanBy: 'TimestampAscending',
      MetricDataQueries: [query('sum', 'Jobs')],
    });
    // EndTime excludes 12:02:30.
    expect(ascending.MetricDataResults[0]).toMatchObject({ Timestamps: [seconds(T0)], Values: [6] });
  });

  it('refuses what CloudWatch refuses, naming the field', async () => {
    const refused = async (input: object) => {
      const error = (await ask(input).catch((caught: unknown) => caught)) as Error & { field?: string };
      return { name: error.name, field: error.field };
    };
    const window = { StartTime: seconds(T0), EndTime: seconds(T0 + MINUTE) };
    expect(await refused({ ...window })).toEqual({
      name: 'MissingRequiredParameterException',
      field: 'MetricDataQueries',
    });
    expect(
      await refused({
        StartTime: seconds(T0),
        EndTime: seconds(T0),
        MetricDataQueries: [query('a', 'Jobs')],
      }),
    ).toEqual({
      name: 'InvalidParameterValueException',
      field: 'StartTime',
    });
    expect(await refused({ ...window, MetricDataQueries: [query('A', 'Jobs')] })).toEqual({
      name: 'InvalidParameterValueException',
      field: 'MetricDataQueries.member.1.Id',
    });
    expect(await refused({ ...window, MetricDataQueries: [query('a', 'Jobs'), query('a', 'Jobs')] })).toEqual(
      {
        name: 'InvalidParameterValueException',
        field: 'MetricDataQueries.member.2.Id',
      },
    );
    expect(await refused({ ...window, MetricDataQueries: [query('a', 'Jobs', 90)] })).toEqual({
      name: 'InvalidParameterValueException',
      field: 'MetricDataQueries.member.1.MetricStat.Period',
    });
    expect(await refused({ ...window, MetricDataQueries: [query('a', 'Jobs', 60, 'p99')] })).toEqual({
      name: 'InvalidParameterValueException',
      field: 'MetricDataQueries.member.1.MetricStat.Stat',
    });
    expect(
      await refused({ ...window, MetricDataQueries: [{ Id: 'm', Expression: 'SUM(METRICS())' }] }),
    ).toEqual({
      name: 'InvalidParameterValueException',
      field: 'MetricDataQueries.member.1.Expression',
    });
    expect(
      await refused({
        ...window,
        MetricDataQueries: Array.from({ length: 501 }, (_, i) => query(`q${i}`, 'Jobs')),
      }),
    ).toEqual({ name: 'InvalidParameterValueException', field: 'MetricDataQueries' });
  });

  it('is authorized as cloudwatch:GetMetricData on *, which lists no resource type', () => {
    const authorization = requestAuthorization(
      {
        method: 'POST',
        url: '/',
        headers: { 'x-amz-target': `${CLOUDWATCH_TARGET_PREFIX}.GetMetricData` },
        body: '{}',
      },
      new URLSearchParams(),
      { secretArn: () => undefined },
    );
    expect(authorization).toEqual({
      api: 'cloudwatch',
      operation: 'GetMetricData',
      checks: [{ action: 'cloudwatch:GetMetricData', resource: '*' }],
    });
  });
});

describe('executionMetricSamples: AWS/States execution counts from the local executions', () => {
  it('counts each start, each end by how it ended and each redrive, a redriven execution’s every attempt', async () => {
    let failing = true;
    const stepFunctions = createLocalStepFunctions({
      stateMachines: [
        {
          name: 'counted',
          definition: {
            StartAt: 'Work',
            States: {
              Work: {
                Type: 'Task',
                Resource: LAMBDA_INVOKE,
                Parameters: { FunctionName: 'work' },
                End: true,
              },
            },
          },
        },
      ],
      integrations: {
        [LAMBDA_INVOKE]: async () => {
          if (failing) throw new StatesTaskError('Lambda.Unknown', 'broken');
          return { Payload: 'ok', StatusCode: 200 };
        },
      },
      region: 'us-east-1',
      accountId: '000000000000',
      reporter: createCollectingReporter().reporter,
      retryIntervalMs: 0,
    });
    const stateMachineArn = stepFunctions.stateMachineArn('counted');
    const run = async (name: string) => {
      const { executionArn } = stepFunctions.startExecution({ stateMachineArn, name });
      return stepFunctions.waitForExecution(executionArn);
    };
    const failed = await run('fails-then-redriven');
    failing = false;
    await stepFunctions.redriveExecution(failed.executionArn);
    await stepFunctions.waitForExecution(failed.executionArn);
    await run('succeeds');
    const count = (
      metricName: string,
      dimensions: Record<string, string> = { StateMachineArn: stateMachineArn },
    ) => executionMetricSamples(stepFunctions, { namespace: 'AWS/States', metricName, dimensions }).length;
    expect({
      started: count('ExecutionsStarted'),
      succeeded: count('ExecutionsSucceeded'),
      failed: count('ExecutionsFailed'),
      redriven: count('ExecutionsRedriven'),
      redrivenSucceeded: count('RedrivenExecutionsSucceeded'),
      redrivenFailed: count('RedrivenExecutionsFailed'),
      aborted: count('ExecutionsAborted'),
    }).toEqual({
      started: 2,
      succeeded: 2,
      failed: 1,
      redriven: 1,
      redrivenSucceeded: 1,
      redrivenFailed: 0,
      aborted: 0,
    });
    // Each at the time of its event: the failure at the first attempt's end.
    const [failure] = executionMetricSamples(stepFunctions, {
      namespace: 'AWS/States',
      metricName: 'ExecutionsFailed',
      dimensions: { StateMachineArn: stateMachineArn },
    });
    expect(failure).toEqual({ at: failed.stopDate?.getTime(), value: 1 });
    // Another state machine, other dimensions, another metric: nothing.
    expect(count('ExecutionsStarted', { StateMachineArn: `${stateMachineArn}-other` })).toBe(0);
    expect(count('ExecutionsStarted', { StateMachineArn: stateMachineArn, Version: '1' })).toBe(0);
    expect(count('ExecutionTime')).toBe(0);
    await stepFunctions.stop();
  });
});

describe('queueAgeSamples: AWS/SQS ApproximateAgeOfOldestMessage', () => {
  it('is the age of the oldest message, at the start of the current minute, or the last before EndTime; none for an empty or unknown queue', async () => {
    const now = T0 + 90_000;
    const sent = (sentTimestamp: number) => ({
      messageId: String(sentTimestamp),
      body: '{}',
      messageAttributes: {},
      approximateReceiveCount: 0,
      sentTimestamp,
    });
    const queues: Record<string, ReturnType<typeof sent>[]> = {
      busy: [sent(now - 5_000), sent(now - 42_400)],
      empty: [],
    };
    const peek = async (name: string) => queues[name];
    const age = (QueueName: string, metricName = 'ApproximateAgeOfOldestMessage', to = now + 1) =>
      queueAgeSamples(peek, { namespace: 'AWS/SQS', metricName, dimensions: { QueueName } }, now, to);
    expect(await age('busy')).toEqual([{ at: T0 + MINUTE, value: 42 }]);
    // A caller whose clock said 12:00:59 asked up to then, this clock at 12:01:30: its minute is 12:00.
    expect(await age('busy', undefined, T0 + 59_000)).toEqual([{ at: T0, value: 42 }]);
    expect(await age('empty')).toEqual([]);
    expect(await age('unknown')).toEqual([]);
    expect(await age('busy', 'NumberOfMessagesSent')).toEqual([]);
  });
});
