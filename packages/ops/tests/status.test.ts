import { GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { GetScheduleCommand, ListSchedulesCommand } from '@aws-sdk/client-scheduler';
import { ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { GetQueueAttributesCommand, GetQueueUrlCommand, SQSServiceException } from '@aws-sdk/client-sqs';
import { describe, expect, it } from '@jest/globals';
import { listExecutions } from '../src/executions.ts';
import { FUNCTIONS } from '../src/names.ts';
import { functionStatuses, status, workflowStatus } from '../src/status.ts';
import { stagingContext } from './staging-context.ts';

// Step Functions publishes ExecutionsFailed, ExecutionsTimedOut, ExecutionsAborted and
// ExecutionsSucceeded per state machine (https://docs.aws.amazon.com/step-functions/latest/dg/procedure-cw-metrics.html).
describe('workflowStatus', () => {
  const now = new Date('2026-12-05T12:00:00Z');

  // The local cloud answers GetMetricData from its executions (packages/local-cloud,
  // local-cloudwatch.ts): the same reads, no listing of the ended executions there either.
  it('reads the ended executions from CloudWatch locally too, listing only the running ones (local)', async () => {
    const { sfn, cloudWatch, context: staging } = stagingContext();
    const context = { ...staging, environment: 'local' as const };
    sfn.on(ListExecutionsCommand).resolves({ executions: [] });
    cloudWatch.on(GetMetricDataCommand).resolves({
      MetricDataResults: [
        { Id: 'm0', Values: [1] },
        { Id: 'm2', Values: [2] },
      ],
    });
    expect(await workflowStatus(context, 'import', now)).toEqual({
      workflow: 'import',
      running: 0,
      failed24h: 3,
      succeeded24h: 0,
    });
    expect(sfn.commandCalls(ListExecutionsCommand).map((call) => call.args[0].input.statusFilter)).toEqual([
      'RUNNING',
    ]);
    expect(
      cloudWatch.commandCalls(GetMetricDataCommand)[0]?.args[0].input.MetricDataQueries?.[0]?.MetricStat
        ?.Metric,
    ).toMatchObject({
      Namespace: 'AWS/States',
      Dimensions: [
        { Name: 'StateMachineArn', Value: expect.stringMatching(/:stateMachine:sidestep-local-import$/) },
      ],
    });
  });

  it('counts the last 24 hours from CloudWatch in one GetMetricData, listing only the running executions', async () => {
    const { context, sfn, cloudWatch } = stagingContext();
    sfn.on(ListExecutionsCommand, { statusFilter: 'RUNNING' }).resolves({
      executions: [{ executionArn: 'r', stateMachineArn: 'm', name: 'r', status: 'RUNNING', startDate: now }],
    });
    cloudWatch
      .on(GetMetricDataCommand)
      .callsFake(
        (input: { MetricDataQueries: { Id: string; MetricStat: { Metric: { MetricName: string } } }[] }) => ({
          MetricDataResults: input.MetricDataQueries.map((query) => ({
            Id: query.Id,
            // The day split over two aligned periods.
            Values: {
              ExecutionsFailed: [2, 1],
              ExecutionsTimedOut: [1],
              ExecutionsAborted: [],
              ExecutionsSucceeded: [40, 2],
            }[query.MetricStat.Metric.MetricName],
          })),
        }),
      );
    expect(await workflowStatus(context, 'import', now)).toEqual({
      workflow: 'import',
      running: 1,
      failed24h: 4,
      succeeded24h: 42,
    });
    expect(sfn.commandCalls(ListExecutionsCommand).map((call) => call.args[0].input.statusFilter)).toEqual([
      'RUNNING',
    ]);
    const [call] = cloudWatch.commandCalls(GetMetricDataCommand);
    expect(call?.args[0].input).toMatchObject({
      StartTime: new Date('2026-12-04T12:00:00Z'),
      EndTime: now,
    });
    expect(
      call?.args[0].input.MetricDataQueries?.map((query) => query.MetricStat?.Metric?.Dimensions),
    ).toEqual(
      Array(4).fill([
        { Name: 'StateMachineArn', Value: expect.stringMatching(/:stateMachine:sidestep-staging-import$/) },
      ]),
    );
  });
});

// Lambda publishes Throttles per function (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html).
describe('functionStatuses', () => {
  const now = new Date('2026-12-08T03:00:00Z');

  it("sums each function's throttles of the last 24 hours from CloudWatch, in one GetMetricData", async () => {
    const { context, cloudWatch } = stagingContext();
    cloudWatch
      .on(GetMetricDataCommand)
      .callsFake(
        (input: {
          MetricDataQueries: { Id: string; MetricStat: { Metric: { Dimensions: { Value: string }[] } } }[];
        }) => ({
          MetricDataResults: input.MetricDataQueries.flatMap((query) => {
            const values = {
              'sidestep-staging-status-updater': [3, 4],
              'sidestep-staging-export-download': [1],
            }[query.MetricStat.Metric.Dimensions[0]?.Value ?? ''];
            // A function with no data point has no result values.
            return values ? [{ Id: query.Id, Values: values }] : [{ Id: query.Id, Values: [] }];
          }),
        }),
      );
    const statuses = await functionStatuses(context, now);
    expect(statuses).toEqual(
      FUNCTIONS.map((name) => ({
        function: name,
        throttled24h: name === 'status-updater' ? 7 : name === 'export-download' ? 1 : 0,
      })),
    );
    expect(FUNCTIONS).toEqual(
      expect.arrayContaining(['status-updater', 'mail-dispatcher', 'export-download']),
    );
    const calls = cloudWatch.commandCalls(GetMetricDataCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toMatchObject({
      StartTime: new Date('2026-12-07T03:00:00Z'),
      EndTime: now,
    });
    expect(calls[0]?.args[0].input.MetricDataQueries?.[0]?.MetricStat).toEqual({
      Metric: {
        Namespace: 'AWS/Lambda',
        MetricName: 'Throttles',
        Dimensions: [{ Name: 'FunctionName', Value: `sidestep-staging-${FUNCTIONS[0]}` }],
      },
      Period: 86_400,
      Stat: 'Sum',
    });
  });
});

describe('status', () => {
  // The environment's apply brings the job-sweeper's on-failure queue and its grant in the operator
  // policy; until then (or after a rollback) GetQueueUrl on it answers AccessDenied
  // (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/CommonErrors.html).
  it('shows the rest of the environment when the caller may not read an on-failure queue, with a warning', async () => {
    const { context, sqs, sfn, cloudWatch, scheduler, warnings } = stagingContext();
    sqs.on(GetQueueUrlCommand).callsFake((input: { QueueName: string }) => {
      if (input.QueueName.endsWith('-async-failures'))
        throw new SQSServiceException({
          name: 'AccessDenied',
          $fault: 'client',
          $metadata: {},
          message: `not authorized to perform: sqs:getqueueurl on resource: ${input.QueueName}`,
        });
      return { QueueUrl: `https://sqs.ap-northeast-1.amazonaws.com/123456789012/${input.QueueName}` };
    });
    sqs.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: '3' } });
    sfn.on(ListExecutionsCommand).resolves({ executions: [] });
    cloudWatch.on(GetMetricDataCommand).resolves({ MetricDataResults: [] });
    scheduler.on(ListSchedulesCommand).resolves({ Schedules: [] });
    scheduler.on(GetScheduleCommand).resolves({});
    const environment = await status(context);
    expect(environment.asyncFailures).toEqual([]);
    expect(environment.queues.length).toBeGreaterThan(0);
    expect(environment.queues.every((queue) => queue.visible === 3)).toBe(true);
    expect(environment.workflows.length).toBeGreaterThan(0);
    expect(warnings).toContainEqual(
      expect.stringContaining('queue sidestep-staging-job-sweeper-async-failures'),
    );
  });
});

// ListExecutions' maxResults goes up to 1,000 (API_ListExecutions): the CLI's limit + 1 (101) in one call.
describe('listExecutions', () => {
  it('asks for the whole limit in one page, up to ListExecutions’ 1,000', async () => {
    const { context, sfn } = stagingContext();
    sfn.on(ListExecutionsCommand).resolves({ executions: [] });
    await listExecutions(context, 'import', { limit: 101 });
    await listExecutions(context, 'import', { limit: 5_000 });
    expect(sfn.commandCalls(ListExecutionsCommand).map((call) => call.args[0].input.maxResults)).toEqual([
      101, 1_000,
    ]);
  });

  // API_ListExecutions, statusFilter: "If you provide a PENDING_REDRIVE statusFilter, you must specify
  // mapRunArn" (a Distributed Map's child executions); a state machine's list refuses it.
  it('refuses the PENDING_REDRIVE filter, naming status and why, without calling ListExecutions', async () => {
    const { context, sfn } = stagingContext();
    sfn.on(ListExecutionsCommand).resolves({ executions: [] });
    await expect(listExecutions(context, 'import', { status: 'pending_redrive' })).rejects.toMatchObject({
      name: 'InvalidOptionError',
      field: 'status',
      message: expect.stringContaining('mapRunArn'),
    });
    expect(sfn.commandCalls(ListExecutionsCommand)).toHaveLength(0);
    await listExecutions(context, 'import', { status: 'aborted' });
    expect(sfn.commandCalls(ListExecutionsCommand)[0]?.args[0].input.statusFilter).toBe('ABORTED');
  });
});
