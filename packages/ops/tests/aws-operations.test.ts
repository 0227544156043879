import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetMetricDataCommand, type GetMetricDataCommandInput } from '@aws-sdk/client-cloudwatch';
import { GetScheduleCommand, UpdateScheduleCommand } from '@aws-sdk/client-scheduler';
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  ExecutionNotRedrivable,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  RedriveExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import {
  ChangeMessageVisibilityBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListMessageMoveTasksCommand,
  type Message,
  ReceiveMessageCommand,
  type ReceiveMessageCommandInput,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  createOpsContext,
  DRY_RUN_LIMIT,
  followMoveTask,
  JobStateError,
  type Ledger,
  listDeadLetters,
  listSchedules,
  MessageMoveTaskError,
  NoRedriveSourceError,
  pauseSchedule,
  queueStatuses,
  redriveDeadLetters,
  redriveExecution,
  resumeSchedule,
  STOP_CAUSE_MAX_LENGTH,
  STOPPED_BY_OPERATOR,
  stepsOf,
  stopExecution,
  UnsupportedLocallyError,
} from '../src/index.ts';
import { runningUntilStopped, stagingContext } from './staging-context.ts';

// The calls the local cloud cannot stand in for (Scheduler, STS) and ListMessageMoveTasks progress,
// against stubbed SDK clients, as `--env staging` makes them.
describe('pauseSchedule / resumeSchedule', () => {
  it('writes the schedule back with only its State changed (UpdateSchedule replaces the whole schedule)', async () => {
    const { context, scheduler, warnings } = stagingContext();
    scheduler.on(GetScheduleCommand).resolves({
      Name: 'sidestep-staging-nightly-export',
      GroupName: 'sidestep-staging',
      ScheduleExpression: 'cron(0 3 * * ? *)',
      ScheduleExpressionTimezone: 'Asia/Tokyo',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: {
        Arn: 'arn:aws:sqs:ap-northeast-1:123456789012:sidestep-staging-export-requests',
        RoleArn: 'arn:role',
      },
      State: 'ENABLED',
    });
    scheduler.on(UpdateScheduleCommand).resolves({ ScheduleArn: 'arn:schedule' });

    const paused = await pauseSchedule(context, 'nightly-export');

    expect(paused).toEqual({ schedule: 'nightly-export', state: 'DISABLED', previousState: 'ENABLED' });
    expect(scheduler.commandCalls(GetScheduleCommand)[0]?.args[0].input).toEqual({
      Name: 'sidestep-staging-nightly-export',
      GroupName: 'sidestep-staging',
    });
    const update = scheduler.commandCalls(UpdateScheduleCommand)[0]?.args[0].input;
    expect(update).toMatchObject({
      Name: 'sidestep-staging-nightly-export',
      GroupName: 'sidestep-staging',
      ScheduleExpression: 'cron(0 3 * * ? *)',
      ScheduleExpressionTimezone: 'Asia/Tokyo',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: { RoleArn: 'arn:role' },
      State: 'DISABLED',
    });
    // No ledger reachable from here: the action still happens, and the operator is told it went unaudited.
    expect(warnings.join('\n')).toMatch(/not recorded in the audit trail.*schedule-pause nightly-export/);

    await resumeSchedule(context, 'nightly-export');
    expect(scheduler.commandCalls(UpdateScheduleCommand)[1]?.args[0].input.State).toBe('ENABLED');
  });

  it('refuses an undeclared schedule before calling Scheduler', async () => {
    const { context, scheduler } = stagingContext();
    await expect(pauseSchedule(context, 'nightly-exports')).rejects.toMatchObject({
      name: 'UnknownNameError',
      field: 'schedule',
    });
    expect(scheduler.calls()).toHaveLength(0);
  });

  it('says pause is unsupported with --env local instead of calling a Scheduler the local cloud lacks', async () => {
    const context = createOpsContext({ environment: 'local', env: {} });
    await expect(pauseSchedule(context, 'nightly-export')).rejects.toBeInstanceOf(UnsupportedLocallyError);
    await context.close();
  });
});

describe('listSchedules on AWS', () => {
  // A DISABLED schedule does not invoke its target
  // (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_UpdateSchedule.html#scheduler-UpdateSchedule-request-State).
  it('shows no next fire time for a paused (DISABLED) schedule, and one for an enabled one', async () => {
    const { context, scheduler } = stagingContext();
    scheduler.on(GetScheduleCommand).resolves({ State: 'DISABLED' });
    const paused = await listSchedules(context, { now: new Date('2026-12-05T00:00:00Z') });
    expect(paused.length).toBeGreaterThan(0);
    for (const schedule of paused) {
      expect(schedule).toMatchObject({ state: 'DISABLED', nextFire: null, nextFireLocal: null });
    }
    scheduler.on(GetScheduleCommand).resolves({ State: 'ENABLED' });
    const enabled = await listSchedules(context, { now: new Date('2026-12-05T00:00:00Z') });
    expect(enabled.every((schedule) => schedule.nextFire instanceof Date)).toBe(true);
  });
});

describe('OpsContext on AWS', () => {
  it('names the operator and the account by STS GetCallerIdentity, asking once', async () => {
    const { context, sts } = stagingContext();
    expect(await context.operator()).toBe('arn:aws:sts::123456789012:assumed-role/operator/alice');
    expect(await context.accountId()).toBe('123456789012');
    expect(sts.commandCalls(GetCallerIdentityCommand)).toHaveLength(1);
    expect(await context.region()).toBe('ap-northeast-1');
  });

  it('reads the ledger of an AWS environment through its ops-ledger function, without a database URL', async () => {
    const { context } = stagingContext();
    expect((await context.ledger()).constructor.name).toBe('LambdaLedger');
  });

  // DATABASE_URL is what developers export for `npm start` against a server of their own: taken for
  // --env production, production's jobs would be read from it and its audit trail written there.
  it('does not take DATABASE_URL for an AWS environment, and says so; --database-url it does take', async () => {
    const url = 'postgres://postgres@127.0.0.1:1/postgres';
    const { context, warnings } = stagingContext({ DATABASE_URL: url });
    expect((await context.ledger()).constructor.name).toBe('LambdaLedger');
    expect(warnings).toEqual([
      'DATABASE_URL is not read for --env staging: its jobs ledger is read through its ops-ledger function (--database-url reads a database directly)',
    ]);
    const explicit = stagingContext({}, { databaseUrl: url });
    expect((await explicit.context.ledger()).constructor.name).toBe('SqlLedger');
    expect(explicit.warnings).toEqual([]);
    await explicit.context.close();
  });

  describe('without AWS_REGION', () => {
    const saved = { ...process.env };
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'ops-region-'));
      for (const name of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'AWS_CONFIG_FILE']) {
        delete process.env[name];
      }
      process.env.AWS_EC2_METADATA_DISABLED = 'true';
    });
    afterEach(async () => {
      process.env = { ...saved };
      await rm(dir, { recursive: true, force: true });
    });

    // An operator with AWS_PROFILE=sidestep-staging has the region in that profile; the SDK reads
    // it from the shared config file (https://docs.aws.amazon.com/sdkref/latest/guide/feature-region.html),
    // where the context took us-east-1 for every client and ARN.
    it("operates in the profile's region, as the SDK resolves it", async () => {
      const config = join(dir, 'config');
      await writeFile(config, '[profile sidestep-staging]\nregion = eu-west-1\n');
      process.env.AWS_CONFIG_FILE = config;
      process.env.AWS_PROFILE = 'sidestep-staging';
      const context = createOpsContext({ environment: 'staging', env: {}, warn: () => undefined });
      expect(await context.region()).toBe('eu-west-1');
      expect(await context.clients.sqs.config.region()).toBe('eu-west-1');
      await context.close();
    });

    it('refuses to guess a region when neither the environment nor the profile has one, naming the field', async () => {
      const config = join(dir, 'config');
      await writeFile(config, '[default]\n');
      process.env.AWS_CONFIG_FILE = config;
      const context = createOpsContext({ environment: 'staging', env: {}, warn: () => undefined });
      await expect(context.region()).rejects.toMatchObject({ name: 'InvalidOptionError', field: 'region' });
      await context.close();
    });
  });
});

describe('followMoveTask', () => {
  it('polls ListMessageMoveTasks until the task leaves RUNNING and reports every step', async () => {
    const { context, sqs } = stagingContext();
    sqs
      .on(ListMessageMoveTasksCommand)
      .resolvesOnce({
        Results: [
          {
            TaskHandle: 'h1',
            Status: 'RUNNING',
            ApproximateNumberOfMessagesMoved: 1,
            ApproximateNumberOfMessagesToMove: 3,
          },
        ],
      })
      .resolvesOnce({
        Results: [
          {
            TaskHandle: 'h1',
            Status: 'RUNNING',
            ApproximateNumberOfMessagesMoved: 2,
            ApproximateNumberOfMessagesToMove: 3,
          },
        ],
      })
      .resolves({
        Results: [
          { Status: 'COMPLETED', ApproximateNumberOfMessagesMoved: 3, ApproximateNumberOfMessagesToMove: 3 },
        ],
      });
    const seen: number[] = [];

    const done = await followMoveTask(
      context,
      'arn:aws:sqs:ap-northeast-1:123456789012:sidestep-staging-mail-dlq',
      'h1',
      {
        pollMs: 1,
        onProgress: (progress) => seen.push(progress.moved),
      },
    );

    expect(done).toMatchObject({ status: 'COMPLETED', moved: 3, toMove: 3 });
    expect(seen).toEqual([1, 2, 3]);
    expect(sqs.commandCalls(ListMessageMoveTasksCommand)[0]?.args[0].input.SourceArn).toBe(
      'arn:aws:sqs:ap-northeast-1:123456789012:sidestep-staging-mail-dlq',
    );
  });

  it('returns a FAILED task with its reason', async () => {
    const { context, sqs } = stagingContext();
    sqs.on(ListMessageMoveTasksCommand).resolves({
      Results: [
        {
          TaskHandle: 'h2',
          Status: 'FAILED',
          FailureReason: 'AccessDenied',
          ApproximateNumberOfMessagesMoved: 0,
        },
      ],
    });
    expect(await followMoveTask(context, 'arn:dlq', 'h2', { pollMs: 1 })).toMatchObject({
      status: 'FAILED',
      failureReason: 'AccessDenied',
    });
  });
});

// https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html: a firing
// Scheduler gave up on is in sidestep-<env>-schedules-dlq with ERROR_CODE and ERROR_MESSAGE.
describe("the schedule group's dead-letter queue on AWS", () => {
  /**
   * A staging context whose DLQ `queueName` holds one message (`body`, with `attributes` as string
   * message attributes), received once, then none; answers the queue's URL.
   */
  function holding(queueName: string, body: string, attributes: Record<string, string>) {
    const staged = stagingContext();
    const url = `https://sqs.ap-northeast-1.amazonaws.com/123456789012/${queueName}`;
    staged.sqs.on(GetQueueUrlCommand, { QueueName: queueName }).resolves({ QueueUrl: url });
    staged.sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({
        Messages: [
          {
            MessageId: 'm-1',
            ReceiptHandle: 'r-1',
            Body: body,
            Attributes: { SentTimestamp: '1795543200000', ApproximateReceiveCount: '1' },
            MessageAttributes: Object.fromEntries(
              Object.entries(attributes).map(([name, value]) => [
                name,
                { DataType: 'String', StringValue: value },
              ]),
            ),
          },
        ],
      })
      .resolves({ Messages: [] });
    staged.sqs.on(ChangeMessageVisibilityBatchCommand).resolves({ Failed: [] });
    return { ...staged, url };
  }

  it('lists the firings in sidestep-staging-schedules-dlq with why each failed', async () => {
    const { context, sqs, url } = holding(
      'sidestep-staging-schedules-dlq',
      '{"id":"nightly-export:2026-11-24T18:00:00Z"}',
      {
        ERROR_CODE: 'QueueDoesNotExist',
        ERROR_MESSAGE: 'queue is gone',
        EXHAUSTED_RETRY_CONDITION: 'MaximumEventAgeInSeconds',
      },
    );
    const listed = await listDeadLetters(context, 'schedules');
    expect(listed).toEqual([
      expect.objectContaining({
        messageId: 'm-1',
        id: 'nightly-export:2026-11-24T18:00:00Z',
        errorType: 'QueueDoesNotExist',
        errorMessage: 'queue is gone',
      }),
    ]);
    expect(sqs.commandCalls(ReceiveMessageCommand)[0]?.args[0].input.QueueUrl).toBe(url);
  });

  // The rules' targets' DLQs are such queues too (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html).
  it.each([
    ['import-trigger', 'sidestep-staging-import-trigger-dlq'],
    ['workflow-ended', 'sidestep-staging-workflow-ended-dlq'],
    ['mail-events', 'sidestep-staging-mail-events-dlq'],
  ])('reads the %s rule target DLQ, %s, too', async (name, queueName) => {
    const { context, sqs, url } = holding(
      queueName,
      '{"source":"aws.states","detail-type":"Step Functions Execution Status Change","detail":{}}',
      { ERROR_CODE: 'NO_PERMISSIONS', ERROR_MESSAGE: 'not authorized' },
    );
    expect(await listDeadLetters(context, name)).toEqual([
      expect.objectContaining({
        messageId: 'm-1',
        errorType: 'NO_PERMISSIONS',
        errorMessage: 'not authorized',
      }),
    ]);
    expect(sqs.commandCalls(ReceiveMessageCommand)[0]?.args[0].input.QueueUrl).toBe(url);
    await expect(redriveDeadLetters(context, name)).rejects.toMatchObject({
      name: 'NoRedriveSourceError',
      queue: name,
    });
  });

  it('refuses a redrive, naming the queue, before any call: it has no source queue', async () => {
    const { context, sqs } = stagingContext();
    for (const queue of ['schedules', 'schedules-dlq']) {
      await expect(redriveDeadLetters(context, queue)).rejects.toMatchObject({
        name: 'NoRedriveSourceError',
        field: 'queue',
        queue: 'schedules',
      });
      await expect(redriveDeadLetters(context, queue, { dryRun: true })).rejects.toBeInstanceOf(
        NoRedriveSourceError,
      );
    }
    expect(sqs.calls()).toHaveLength(0);
  });
});

describe('a dry-run redrive on AWS', () => {
  /** A DLQ of `held` dead letters, received 10 at a time as SQS gives them. */
  function deadLetterQueue(held: number) {
    const staged = stagingContext();
    let received = 0;
    staged.sqs.on(GetQueueUrlCommand).callsFake((input: { QueueName: string }) => ({
      QueueUrl: `https://sqs.ap-northeast-1.amazonaws.com/123456789012/${input.QueueName}`,
    }));
    staged.sqs.on(ReceiveMessageCommand).callsFake((input: ReceiveMessageCommandInput) => {
      const count = Math.min(input.MaxNumberOfMessages ?? 1, held - received);
      return {
        Messages: Array.from({ length: count }, (): Message => {
          received += 1;
          return {
            MessageId: `m-${received}`,
            ReceiptHandle: `r-${received}`,
            Body: '{}',
            Attributes: { ApproximateReceiveCount: '1' },
          };
        }),
      };
    });
    staged.sqs.on(ChangeMessageVisibilityBatchCommand).resolves({ Failed: [] });
    // Whatever the dry run's peek left in flight counts too: the sum is the queue's depth.
    staged.sqs.on(GetQueueAttributesCommand).resolves({
      Attributes: {
        ApproximateNumberOfMessages: String(Math.max(0, held - 1001)),
        ApproximateNumberOfMessagesNotVisible: String(Math.min(held, 1001)),
        ApproximateNumberOfMessagesDelayed: '0',
      },
    });
    return staged;
  }

  // StartMessageMoveTask moves the queue, not the messages the dry run read: a preview of 1,000 of
  // 2,500 reported as "1000 message(s)" hid 1,500 a redrive moves unchecked.
  it('says how many dead letters it left unchecked, from the queue’s approximate count', async () => {
    const { context } = deadLetterQueue(2_500);
    const result = await redriveDeadLetters(context, 'mail', { dryRun: true });
    if (!result.dryRun) throw new Error('not a dry run');
    expect([result.checks.length, result.total]).toEqual([DRY_RUN_LIMIT, 2_500]);
  });

  it('counts a queue it read whole by what it read, asking for no count', async () => {
    const { context, sqs } = deadLetterQueue(37);
    const result = await redriveDeadLetters(context, 'mail', { dryRun: true });
    if (!result.dryRun) throw new Error('not a dry run');
    expect([result.checks.length, result.total]).toEqual([37, 37]);
    expect(sqs.commandCalls(GetQueueAttributesCommand)).toHaveLength(0);
  });
});

describe('redriveDeadLetters on AWS', () => {
  // StartMessageMoveTask moves from SourceArn, the dead-letter queue, to DestinationArn
  // (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html).
  it("moves the queue's dead letters from its DLQ back to it, and follows the task by the DLQ's ARN", async () => {
    const { context, sqs } = stagingContext();
    const arn = (name: string) => `arn:aws:sqs:ap-northeast-1:123456789012:${name}`;
    sqs.on(GetQueueUrlCommand).callsFake((input: { QueueName: string }) => ({
      QueueUrl: `https://sqs.ap-northeast-1.amazonaws.com/123456789012/${input.QueueName}`,
    }));
    sqs.on(GetQueueAttributesCommand).callsFake((input: { QueueUrl: string }) => ({
      Attributes: { QueueArn: arn(input.QueueUrl.split('/').at(-1) ?? '') },
    }));
    sqs.on(StartMessageMoveTaskCommand).resolves({ TaskHandle: 'h-1' });
    sqs.on(ListMessageMoveTasksCommand).resolves({
      Results: [{ TaskHandle: 'h-1', Status: 'COMPLETED', ApproximateNumberOfMessagesMoved: 2 }],
    });
    const ledger = { appendAudit: async () => undefined } as unknown as Ledger;

    const result = await redriveDeadLetters({ ...context, ledger: async () => ledger }, 'mail', {
      pollMs: 1,
    });

    expect(result).toMatchObject({
      dryRun: false,
      queue: 'mail',
      progress: { status: 'COMPLETED', moved: 2 },
    });
    expect(sqs.commandCalls(StartMessageMoveTaskCommand).map((call) => call.args[0].input)).toEqual([
      { SourceArn: arn('sidestep-staging-mail-dlq'), DestinationArn: arn('sidestep-staging-mail') },
    ]);
    expect(sqs.commandCalls(ListMessageMoveTasksCommand)[0]?.args[0].input.SourceArn).toBe(
      arn('sidestep-staging-mail-dlq'),
    );
  });
});

describe('a redrive whose move task does not complete', () => {
  // ListMessageMoveTasks reports a task FAILED with its FailureReason, or CANCELLED
  // (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ListMessageMoveTasksResultEntry.html).
  it.each([
    ['FAILED', 'AWS.SimpleQueueService.NonExistentQueue', ' (AWS.SimpleQueueService.NonExistentQueue)'],
    ['CANCELLED', undefined, ''],
  ])('throws a MessageMoveTaskError for a task %s, audited as an error', async (status, reason, said) => {
    const { context, sqs } = stagingContext();
    sqs.on(GetQueueUrlCommand).callsFake((input: { QueueName: string }) => ({
      QueueUrl: `https://sqs.ap-northeast-1.amazonaws.com/123456789012/${input.QueueName}`,
    }));
    sqs.on(GetQueueAttributesCommand).resolves({ Attributes: {} });
    sqs.on(StartMessageMoveTaskCommand).resolves({ TaskHandle: 'h-1' });
    sqs.on(ListMessageMoveTasksCommand).resolves({
      Results: [
        {
          TaskHandle: 'h-1',
          Status: status,
          ...(reason ? { FailureReason: reason } : {}),
          ApproximateNumberOfMessagesMoved: 1,
          ApproximateNumberOfMessagesToMove: 3,
        },
      ],
    });
    const entries: Parameters<Ledger['appendAudit']>[0][] = [];
    const ledger = { appendAudit: async (entry) => void entries.push(entry) } as Ledger;

    const redrive = redriveDeadLetters({ ...context, ledger: async () => ledger }, 'mail', { pollMs: 1 });

    const message = `queue: the redrive of mail ended ${status}${said} after moving 1 of 3 message(s); those not moved are still in its dead-letter queue`;
    await expect(redrive).rejects.toThrow(MessageMoveTaskError);
    await expect(redrive).rejects.toMatchObject({
      field: 'queue',
      queue: 'mail',
      message,
      progress: { status, moved: 1, toMove: 3, failureReason: reason ?? null },
    });
    expect(entries).toEqual([
      expect.objectContaining({
        action: 'dlq-redrive',
        target: 'mail',
        result: 'error',
        error: `MessageMoveTaskError: ${message}`,
      }),
    ]);
  });

  // A finished task has no TaskHandle (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ListMessageMoveTasksResultEntry.html):
  // while the new one is not listed yet, the most recent listed may be an earlier redrive's.
  it("does not take an earlier redrive's task for the one it started", async () => {
    const { context, sqs } = stagingContext();
    sqs.on(GetQueueUrlCommand).callsFake((input: { QueueName: string }) => ({
      QueueUrl: `https://sqs.ap-northeast-1.amazonaws.com/123456789012/${input.QueueName}`,
    }));
    sqs.on(GetQueueAttributesCommand).resolves({ Attributes: {} });
    sqs.on(StartMessageMoveTaskCommand).resolves({ TaskHandle: 'h-new' });
    const earlier = {
      Status: 'COMPLETED',
      ApproximateNumberOfMessagesMoved: 5,
      StartedTimestamp: Date.now() - 3_600_000,
    };
    sqs
      .on(ListMessageMoveTasksCommand)
      .resolvesOnce({ Results: [earlier] })
      .resolvesOnce({ Results: [earlier] })
      .resolves({
        Results: [
          { Status: 'COMPLETED', ApproximateNumberOfMessagesMoved: 3, StartedTimestamp: Date.now() },
          earlier,
        ],
      });
    const ledger = { appendAudit: async () => undefined } as unknown as Ledger;
    await expect(
      redriveDeadLetters({ ...context, ledger: async () => ledger }, 'mail', { pollMs: 1 }),
    ).resolves.toMatchObject({ progress: { status: 'COMPLETED', moved: 3 } });
  });

  // Another operator may start a redrive of the same queue once this one's task has finished; the
  // finished task has lost its handle, so the newest listed is theirs, not this one's.
  it.each([
    ['seen running with its handle first', true],
    ['finished before it was ever listed', false],
  ])(
    "reports and audits its own task, not a later redrive's, when its task was %s",
    async (_, seenRunning) => {
      const { context, sqs } = stagingContext();
      sqs.on(GetQueueUrlCommand).callsFake((input: { QueueName: string }) => ({
        QueueUrl: `https://sqs.ap-northeast-1.amazonaws.com/123456789012/${input.QueueName}`,
      }));
      sqs.on(GetQueueAttributesCommand).resolves({ Attributes: {} });
      sqs.on(StartMessageMoveTaskCommand).resolves({ TaskHandle: 'h-mine' });
      const startedAt = Date.now();
      const mine = {
        ApproximateNumberOfMessagesMoved: 3,
        ApproximateNumberOfMessagesToMove: 3,
        StartedTimestamp: startedAt,
      };
      const theirs = {
        Status: 'FAILED',
        FailureReason: 'AWS.SimpleQueueService.AccessDenied',
        ApproximateNumberOfMessagesMoved: 0,
        ApproximateNumberOfMessagesToMove: 7,
        StartedTimestamp: startedAt + 500,
      };
      const finished = { Results: [theirs, { ...mine, Status: 'COMPLETED' }] };
      if (seenRunning) {
        sqs
          .on(ListMessageMoveTasksCommand)
          .resolvesOnce({
            Results: [
              { ...mine, TaskHandle: 'h-mine', Status: 'RUNNING', ApproximateNumberOfMessagesMoved: 1 },
            ],
          })
          .resolves(finished);
      } else {
        sqs.on(ListMessageMoveTasksCommand).resolves(finished);
      }
      const entries: Parameters<Ledger['appendAudit']>[0][] = [];
      const ledger = { appendAudit: async (entry) => void entries.push(entry) } as Ledger;

      const result = await redriveDeadLetters({ ...context, ledger: async () => ledger }, 'mail', {
        pollMs: 1,
      });

      expect(result).toMatchObject({ progress: { status: 'COMPLETED', moved: 3, toMove: 3 } });
      expect(entries).toEqual([
        expect.objectContaining({
          action: 'dlq-redrive',
          target: 'mail',
          result: 'ok',
          details: expect.objectContaining({ status: 'COMPLETED', moved: 3, toMove: 3 }),
        }),
      ]);
    },
  );

  // ListMessageMoveTasks may not list a task StartMessageMoveTask has just started: the redrive waits
  // for it rather than calling the redrive failed.
  it('waits for a task not listed yet, and fails naming it only when it never is', async () => {
    const { context, sqs } = stagingContext();
    sqs.on(GetQueueUrlCommand).callsFake((input: { QueueName: string }) => ({
      QueueUrl: `https://sqs.ap-northeast-1.amazonaws.com/123456789012/${input.QueueName}`,
    }));
    sqs.on(GetQueueAttributesCommand).resolves({ Attributes: {} });
    sqs.on(StartMessageMoveTaskCommand).resolves({ TaskHandle: 'h-1' });
    sqs
      .on(ListMessageMoveTasksCommand)
      .resolvesOnce({ Results: [] })
      .resolvesOnce({ Results: [] })
      .resolves({ Results: [{ Status: 'COMPLETED', ApproximateNumberOfMessagesMoved: 3 }] });
    const ledger = { appendAudit: async () => undefined } as unknown as Ledger;
    const withLedger = { ...context, ledger: async () => ledger };
    await expect(redriveDeadLetters(withLedger, 'mail', { pollMs: 1 })).resolves.toMatchObject({
      progress: { status: 'COMPLETED', moved: 3 },
    });

    sqs.on(ListMessageMoveTasksCommand).resolves({ Results: [] });
    await expect(redriveDeadLetters(withLedger, 'mail', { pollMs: 1 })).rejects.toMatchObject({
      name: 'MessageMoveTaskError',
      progress: { status: 'UNKNOWN' },
      message: expect.stringContaining('no move task of mail was listed'),
    });
  });
});

describe('stepsOf', () => {
  it("folds a history into steps with retries, the last attempt's error and durations", () => {
    const at = (seconds: number) => new Date(Date.UTC(2026, 11, 3, 10, 0, seconds));
    const steps = stepsOf([
      { type: 'ExecutionStarted', id: 1, timestamp: at(0) },
      {
        type: 'TaskStateEntered',
        id: 2,
        timestamp: at(0),
        stateEnteredEventDetails: { name: 'RegisterJob', input: '{}' },
      },
      { type: 'TaskScheduled', id: 3, timestamp: at(0) },
      {
        type: 'TaskStateExited',
        id: 4,
        timestamp: at(1),
        stateExitedEventDetails: { name: 'RegisterJob', output: '{"job":{"jobId":"imp_1"}}' },
      },
      { type: 'TaskStateEntered', id: 5, timestamp: at(1), stateEnteredEventDetails: { name: 'RunImport' } },
      { type: 'TaskScheduled', id: 6, timestamp: at(1) },
      {
        type: 'TaskFailed',
        id: 7,
        timestamp: at(2),
        taskFailedEventDetails: {
          resourceType: 'ecs',
          resource: 'runTask.sync',
          error: 'States.TaskFailed',
          cause: 'exit 1',
        },
      },
      { type: 'TaskScheduled', id: 8, timestamp: at(3) },
      {
        type: 'TaskFailed',
        id: 9,
        timestamp: at(4),
        taskFailedEventDetails: {
          resourceType: 'ecs',
          resource: 'runTask.sync',
          error: 'States.TaskFailed',
          cause: 'exit 2',
        },
      },
      { type: 'ExecutionFailed', id: 10, timestamp: at(4), executionFailedEventDetails: { error: 'X' } },
    ]);
    expect(
      steps.map((step) => [step.name, step.status, step.retries, step.error, step.cause, step.durationMs]),
    ).toEqual([
      ['RegisterJob', 'succeeded', 0, null, null, 1000],
      ['RunImport', 'failed', 1, 'States.TaskFailed', 'exit 2', null],
    ]);
  });

  const at = (seconds: number) => new Date(Date.UTC(2026, 11, 5, 0, 0, seconds));
  const running: HistoryEvent[] = [
    { type: 'ExecutionStarted', id: 1, timestamp: at(0) },
    { type: 'TaskStateEntered', id: 2, timestamp: at(1), stateEnteredEventDetails: { name: 'ImportRows' } },
    { type: 'TaskScheduled', id: 3, timestamp: at(1) },
    { type: 'TaskStarted', id: 4, timestamp: at(2) },
  ];

  it.each([
    [
      'ABORTED',
      { type: 'ExecutionAborted', executionAbortedEventDetails: { error: 'StoppedByOperator', cause: 'x' } },
      'StoppedByOperator',
      'x',
    ],
    [
      'ABORTED without a reason',
      { type: 'ExecutionAborted', executionAbortedEventDetails: {} },
      'ExecutionAborted',
      null,
    ],
    ['TIMED_OUT', { type: 'ExecutionTimedOut', executionTimedOutEventDetails: {} }, 'States.Timeout', null],
    [
      'FAILED (States.Runtime)',
      { type: 'ExecutionFailed', executionFailedEventDetails: { error: 'States.Runtime', cause: 'c' } },
      'States.Runtime',
      'c',
    ],
  ] as [string, Omit<HistoryEvent, 'id' | 'timestamp'>, string, string | null][])(
    'ends the open step of an execution that ended %s with its error, not running',
    (_, end, error, cause) => {
      const steps = stepsOf([...running, { ...end, id: 5, timestamp: at(60) }]);
      expect(steps.map((step) => [step.name, step.status, step.error, step.cause, step.durationMs])).toEqual([
        ['ImportRows', 'failed', error, cause, 59_000],
      ]);
    },
  );

  it('keeps the open step of a running execution running', () => {
    expect(stepsOf(running).map((step) => step.status)).toEqual(['running']);
  });

  // A Retry's wait (for room under the Fargate vCPU quota: up to an hour) is part of the step: the
  // state has neither exited nor failed the execution, and tries again after it.
  it('keeps a step running while it waits for its Retry, with the failed attempt’s error and cause', () => {
    const refused: HistoryEvent = {
      type: 'TaskFailed',
      id: 5,
      timestamp: at(3),
      taskFailedEventDetails: {
        resourceType: 'ecs',
        resource: 'runTask.sync',
        error: 'AmazonECS.Unknown',
        cause: '{"Failures":[{"Reason":"no room"}],"Tasks":[]}',
      },
    };
    const waiting = stepsOf([...running, refused]);
    expect(
      waiting.map((step) => [step.status, step.retries, step.error, step.cause, step.durationMs]),
    ).toEqual([['running', 0, 'AmazonECS.Unknown', '{"Failures":[{"Reason":"no room"}],"Tasks":[]}', null]]);
    // The same failure ends the step once the execution failed with it (no Retry left, no Catch).
    const ended = stepsOf([
      ...running,
      refused,
      {
        type: 'ExecutionFailed',
        id: 6,
        timestamp: at(4),
        executionFailedEventDetails: { error: 'AmazonECS.Unknown' },
      },
    ]);
    expect(ended.map((step) => [step.status, step.error])).toEqual([['failed', 'AmazonECS.Unknown']]);
    // Or once the execution succeeded all the same (a branch's failure its Map or Parallel caught).
    const caughtAbove = stepsOf([
      ...running,
      refused,
      { type: 'ExecutionSucceeded', id: 6, timestamp: at(4) },
    ]);
    expect(caughtAbove.map((step) => step.status)).toEqual(['failed']);
  });

  // Each attempt of a Task is TaskScheduled, TaskStarted, then TaskFailed or TaskSucceeded
  // (https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html).
  it('counts a step retried after a failure and then succeeded as succeeded with one retry', () => {
    const steps = stepsOf([
      ...running,
      {
        type: 'TaskFailed',
        id: 5,
        timestamp: at(3),
        taskFailedEventDetails: { resourceType: 'ecs', resource: 'runTask.sync', error: 'States.TaskFailed' },
      },
      { type: 'TaskScheduled', id: 6, timestamp: at(4) },
      { type: 'TaskStarted', id: 7, timestamp: at(4) },
      { type: 'TaskSucceeded', id: 8, timestamp: at(5) },
      { type: 'TaskStateExited', id: 9, timestamp: at(5), stateExitedEventDetails: { name: 'ImportRows' } },
      { type: 'ExecutionSucceeded', id: 10, timestamp: at(6) },
    ]);
    expect(steps.map((step) => [step.status, step.retries])).toEqual([['succeeded', 1]]);
  });
});

describe('queue oldest message age on AWS', () => {
  it('reads ApproximateAgeOfOldestMessage from CloudWatch for every queue and DLQ in one call; no data is empty', async () => {
    const { context, sqs, cloudWatch } = stagingContext();
    sqs.on(GetQueueUrlCommand).callsFake((input: { QueueName: string }) => ({
      QueueUrl: `https://sqs.ap-northeast-1.amazonaws.com/123456789012/${input.QueueName}`,
    }));
    sqs.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: '3' } });
    cloudWatch.on(GetMetricDataCommand).callsFake((input: GetMetricDataCommandInput) => ({
      MetricDataResults: (input.MetricDataQueries ?? []).map((query) => ({
        Id: query.Id,
        // Only the mail queue has data: 95 s old, newest first.
        Values: query.MetricStat?.Metric?.Dimensions?.[0]?.Value === 'sidestep-staging-mail' ? [95, 60] : [],
      })),
    }));

    const now = new Date('2026-11-24T10:00:00Z');
    const statuses = await queueStatuses(context, now);

    expect(statuses.find((queue) => queue.queue === 'mail')).toMatchObject({
      visible: 3,
      oldestAgeSeconds: 95,
      deadLetterOldestAgeSeconds: null,
    });
    const calls = cloudWatch.commandCalls(GetMetricDataCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]?.args[0].input;
    expect(input?.MetricDataQueries?.[0]?.MetricStat).toMatchObject({
      Metric: { Namespace: 'AWS/SQS', MetricName: 'ApproximateAgeOfOldestMessage' },
      Stat: 'Maximum',
    });
    expect(
      input?.MetricDataQueries?.map((query) => query.MetricStat?.Metric?.Dimensions?.[0]?.Value),
    ).toEqual([
      'sidestep-staging-mail',
      'sidestep-staging-mail-dlq',
      'sidestep-staging-export-requests',
      'sidestep-staging-export-requests-dlq',
    ]);
    expect(input?.EndTime).toEqual(now);
  });
});

describe('stopExecution', () => {
  const arn = 'arn:aws:states:ap-northeast-1:123456789012:execution:sidestep-staging-import:imp-1';

  it("stops the execution with the operator's cause under StoppedByOperator, and audits the cause", async () => {
    const { context, sfn } = stagingContext();
    runningUntilStopped(sfn, arn, new Date('2026-12-04T01:00:00Z'));
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] }); // stopped before RegisterJob
    const audit: unknown[] = [];
    const ledger = { appendAudit: async (entry: unknown) => void audit.push(entry) } as unknown as Ledger;
    const stopped = await stopExecution(
      { ...context, ledger: async () => ledger },
      arn,
      'wrong file uploaded',
    );

    expect(stopped).toEqual({
      executionArn: arn,
      stopDate: new Date('2026-12-04T01:00:00Z'),
      jobId: null,
      jobOutcome: 'none',
      job: expect.stringContaining('no job found'),
    });
    expect(sfn.commandCalls(StopExecutionCommand).map((call) => call.args[0].input)).toEqual([
      {
        executionArn: arn,
        error: STOPPED_BY_OPERATOR,
        cause: 'arn:aws:sts::123456789012:assumed-role/operator/alice: wrong file uploaded',
      },
    ]);
    expect(audit).toEqual([
      expect.objectContaining({
        action: 'execution-stop',
        target: arn,
        result: 'ok',
        details: {
          executionArn: arn,
          stopDate: new Date('2026-12-04T01:00:00Z'),
          cause: 'wrong file uploaded',
        },
      }),
    ]);
  });

  // API_StopExecution: cause "Maximum length of 32768"; a longer one is a ValidationException. The
  // operator's name goes before the cause, so what is left for it depends on who stops.
  it("refuses a cause too long for StopExecution with the operator's name before it, naming cause, and stops nothing", async () => {
    const { context, sfn } = stagingContext();
    runningUntilStopped(sfn, arn, new Date('2026-12-04T01:00:00Z'));
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    const ledger = { appendAudit: async () => undefined } as unknown as Ledger;
    const operator = 'arn:aws:sts::123456789012:assumed-role/operator/alice';
    const room = STOP_CAUSE_MAX_LENGTH - operator.length - 2;
    await expect(
      stopExecution({ ...context, ledger: async () => ledger }, arn, 'x'.repeat(room + 1)),
    ).rejects.toMatchObject({
      name: 'InvalidOptionError',
      field: 'cause',
      message: expect.stringContaining(`at most ${room.toLocaleString('en')}`),
    });
    expect(sfn.commandCalls(StopExecutionCommand)).toHaveLength(0);
    await stopExecution({ ...context, ledger: async () => ledger }, arn, 'x'.repeat(room));
    expect(sfn.commandCalls(StopExecutionCommand)[0]?.args[0].input.cause).toHaveLength(
      STOP_CAUSE_MAX_LENGTH,
    );
  });

  /** The execution's history: RegisterJob's output names job `jobId`. */
  function registered(sfn: ReturnType<typeof stagingContext>['sfn'], jobId: string) {
    sfn.on(GetExecutionHistoryCommand).resolves({
      events: [
        {
          id: 1,
          timestamp: new Date(),
          type: 'TaskStateExited',
          stateExitedEventDetails: { name: 'RegisterJob', output: JSON.stringify({ job: { jobId } }) },
        },
      ],
    });
  }

  // The batch-worker commits an import's job `succeeded` with its rows, before the workflow's
  // FinishJob and NotifyCompleted: a stop then fails nothing, and saying it does would be false.
  /** A stop of running import `imp_1` whose ledger answers `describeJob` so; `again` stops it once more. */
  async function stopWith(describeJob: (jobId: string) => Promise<unknown>) {
    const { context, sfn } = stagingContext();
    registered(sfn, 'imp_1');
    const stop = (read: (jobId: string) => Promise<unknown>) => {
      runningUntilStopped(sfn, arn, new Date('2026-12-04T01:00:00Z'));
      const ledger = { appendAudit: async () => undefined, describeJob: read } as unknown as Ledger;
      return stopExecution({ ...context, ledger: async () => ledger }, arn, 'wrong file');
    };
    return { stopped: await stop(describeJob), again: stop };
  }
  const jobIn = (state: string) => async (jobId: string) => ({ jobId, kind: 'import', state, error: null });

  it('tells a stop whose job had already succeeded that its result stands and its success mail is sent, not that it fails', async () => {
    const { stopped } = await stopWith(jobIn('succeeded'));
    expect(stopped).toMatchObject({ jobId: 'imp_1', jobOutcome: 'succeeded' });
    expect(stopped.job).toMatch(/^imp_1 had already succeeded: its result stands/);
    expect(stopped.job).toContain('import.completed');
    expect(stopped.job).not.toMatch(/fails/);
  });

  it('tells a stop whose job was running that the job fails and is mailed, and one whose ledger cannot be read what happens either way', async () => {
    const { stopped, again } = await stopWith(jobIn('running'));
    expect(stopped).toMatchObject({
      jobId: 'imp_1',
      jobOutcome: 'fails',
      job: expect.stringMatching(/^imp_1 fails: /),
    });

    const unread = await again(async () => {
      throw new Error('connect ETIMEDOUT');
    });
    expect(unread.jobOutcome).toBe('unread');
    expect(unread.job).toMatch(/^imp_1 not read \(Error: connect ETIMEDOUT\): /);
    expect(unread.job).toContain('unless it had already succeeded');
  });

  it.each([
    [
      'another environment',
      'arn:aws:states:ap-northeast-1:123456789012:execution:sidestep-production-import:imp-1',
    ],
    ['another account', 'arn:aws:states:ap-northeast-1:222222222222:execution:sidestep-staging-import:imp-1'],
    ['another region', 'arn:aws:states:us-east-1:123456789012:execution:sidestep-staging-import:imp-1'],
    ['another state machine', 'arn:aws:states:ap-northeast-1:123456789012:execution:payroll:imp-1'],
    [
      'a state machine, not an execution',
      'arn:aws:states:ap-northeast-1:123456789012:stateMachine:sidestep-staging-import',
    ],
  ])('refuses the ARN of %s, naming execution, before stopping or redriving anything', async (_, other) => {
    const { context, sfn } = stagingContext();
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: other, status: 'RUNNING' });
    const ledger = { appendAudit: async () => undefined } as unknown as Ledger;
    const scoped = { ...context, ledger: async () => ledger };
    for (const act of [
      () => stopExecution(scoped, other, 'wrong env'),
      () => redriveExecution(scoped, other),
    ]) {
      await expect(act()).rejects.toMatchObject({ name: 'InvalidOptionError', field: 'execution' });
    }
    expect(sfn.commandCalls(StopExecutionCommand)).toHaveLength(0);
    expect(sfn.commandCalls(RedriveExecutionCommand)).toHaveLength(0);
  });

  // An ended execution is not stopped: the audit trail must not record a stop that stopped nothing.
  it('refuses to stop an execution that is not RUNNING, naming execution, and audits the refusal', async () => {
    const { context, sfn } = stagingContext();
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: arn, status: 'SUCCEEDED' });
    const audit: { result: string }[] = [];
    const ledger = {
      appendAudit: async (entry: { result: string }) => void audit.push(entry),
    } as unknown as Ledger;
    await expect(
      stopExecution({ ...context, ledger: async () => ledger }, arn, 'late'),
    ).rejects.toMatchObject({
      name: 'InvalidOptionError',
      field: 'execution',
      message: expect.stringContaining('SUCCEEDED'),
    });
    expect(sfn.commandCalls(StopExecutionCommand)).toHaveLength(0);
    expect(audit).toEqual([expect.objectContaining({ result: 'error' })]);
  });

  // The API reference lists no error for a StopExecution of an execution already closed
  // (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StopExecution.html), and the
  // local cloud answers one with a stopDate: only the execution's status after the stop tells.
  it.each<[string, Partial<DescribeExecutionCommandOutput>]>([
    ['ended SUCCEEDED before the stop', { status: 'SUCCEEDED' }],
    [
      'was stopped by another stop (StoppedByOperator: bob: dup)',
      { status: 'ABORTED', error: 'StoppedByOperator', cause: 'bob: dup' },
    ],
  ])(
    'reports an execution that %s as not stopped, naming execution, and audits error',
    async (how, ended) => {
      const { context, sfn } = stagingContext();
      let described: Partial<DescribeExecutionCommandOutput> = { status: 'RUNNING' };
      sfn.on(DescribeExecutionCommand).callsFake(async () => {
        const answer = { executionArn: arn, ...described };
        described = ended; // it ends right after the stop's look
        return answer;
      });
      sfn.on(StopExecutionCommand).resolves({ stopDate: new Date('2026-12-04T01:00:00Z') });
      const audit: { result: string; error: string | null }[] = [];
      const ledger = {
        appendAudit: async (entry: { result: string; error: string | null }) => void audit.push(entry),
      } as unknown as Ledger;
      const message = `execution: ${arn} ${how}: this stop stopped nothing`;
      await expect(
        stopExecution({ ...context, ledger: async () => ledger }, arn, 'wrong file'),
      ).rejects.toMatchObject({ name: 'InvalidOptionError', field: 'execution', message });
      expect(sfn.commandCalls(StopExecutionCommand)).toHaveLength(1);
      expect(audit).toEqual([
        expect.objectContaining({
          action: 'execution-stop',
          result: 'error',
          error: expect.stringContaining(how),
        }),
      ]);
    },
  );

  // DescribeExecution "is eventually consistent. The results are best effort and may not reflect
  // very recent updates and changes"
  // (https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html): a
  // stop that worked may still read RUNNING right after it, and must not be reported as stopping
  // nothing (a second stop would then be refused, the execution no longer RUNNING).
  it('reads the execution again while it still reads RUNNING after the stop, and reports the stop once it reads ABORTED', async () => {
    const { context, sfn } = stagingContext();
    runningUntilStopped(sfn, arn, new Date('2026-12-04T01:00:00Z'), { staleReads: 1 });
    const audit: { result: string }[] = [];
    const ledger = {
      appendAudit: async (entry: { result: string }) => void audit.push(entry),
    } as unknown as Ledger;
    const waited: number[] = [];
    const stopped = await stopExecution({ ...context, ledger: async () => ledger }, arn, 'wrong file', {
      sleep: async (ms) => void waited.push(ms),
    });

    expect(stopped).toMatchObject({ executionArn: arn, stopDate: new Date('2026-12-04T01:00:00Z') });
    expect(waited).toEqual([200]);
    // The look before the stop, the stale RUNNING after it, then ABORTED.
    expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(3);
    expect(sfn.commandCalls(StopExecutionCommand)).toHaveLength(1);
    expect(audit).toEqual([expect.objectContaining({ action: 'execution-stop', result: 'ok' })]);
  });

  it('reports an execution still RUNNING after the reads of about 5 s as not stopped, and audits error', async () => {
    const { context, sfn } = stagingContext();
    runningUntilStopped(sfn, arn, new Date('2026-12-04T01:00:00Z'), { staleReads: Infinity });
    const audit: { result: string; error: string | null }[] = [];
    const ledger = {
      appendAudit: async (entry: { result: string; error: string | null }) => void audit.push(entry),
    } as unknown as Ledger;
    const waited: number[] = [];
    await expect(
      stopExecution({ ...context, ledger: async () => ledger }, arn, 'wrong file', {
        sleep: async (ms) => void waited.push(ms),
      }),
    ).rejects.toMatchObject({
      name: 'InvalidOptionError',
      field: 'execution',
      message: `execution: ${arn} is still RUNNING after the stop: this stop stopped nothing`,
    });
    // 200 ms doubling, the last wait cut to 5 s in all.
    expect(waited).toEqual([200, 400, 800, 1600, 2000]);
    expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(1 + 1 + waited.length);
    expect(audit).toEqual([
      expect.objectContaining({
        action: 'execution-stop',
        result: 'error',
        error: expect.stringContaining('is still RUNNING after the stop'),
      }),
    ]);
  });

  // Only RUNNING is unsettled: an execution that ended otherwise is told at once, without waiting.
  it('does not wait when the read after the stop is not RUNNING', async () => {
    const { context, sfn } = stagingContext();
    let described: Partial<DescribeExecutionCommandOutput> = { status: 'RUNNING' };
    sfn.on(DescribeExecutionCommand).callsFake(async () => {
      const answer = { executionArn: arn, ...described };
      described = { status: 'FAILED' };
      return answer;
    });
    sfn.on(StopExecutionCommand).resolves({ stopDate: new Date('2026-12-04T01:00:00Z') });
    const ledger = { appendAudit: async () => undefined } as unknown as Ledger;
    const waited: number[] = [];
    await expect(
      stopExecution({ ...context, ledger: async () => ledger }, arn, 'wrong file', {
        sleep: async (ms) => void waited.push(ms),
      }),
    ).rejects.toMatchObject({ message: expect.stringContaining('ended FAILED before the stop') });
    expect(waited).toEqual([]);
    expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(2);
  });

  it('refuses an empty cause, naming the field, before calling Step Functions', async () => {
    const { context, sfn } = stagingContext();
    await expect(stopExecution(context, arn, '  ')).rejects.toMatchObject({
      name: 'InvalidOptionError',
      field: 'cause',
    });
    expect(sfn.calls()).toHaveLength(0);
  });
});

describe('redriveExecution', () => {
  const arn = 'arn:aws:states:ap-northeast-1:123456789012:execution:sidestep-staging-import:imp-1';

  // Only executions that did not complete successfully in the last 14 days are redriven
  // (https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html):
  // DescribeExecution's redriveStatus says so, with redriveStatusReason.
  /**
   * A context whose execution `arn` DescribeExecution describes as `described` (FAILED), whose history
   * says its RegisterJob answered job imp_1, whose redrive is accepted, and whose ledger appends audit
   * entries and answers `describeJob` with `describeJob` (when given).
   */
  function redriveContext(
    described: Partial<DescribeExecutionCommandOutput>,
    describeJob?: () => Promise<unknown>,
  ) {
    const { context, sfn } = stagingContext();
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: arn, status: 'FAILED', ...described });
    sfn.on(GetExecutionHistoryCommand).resolves({
      events: [
        {
          id: 1,
          type: 'TaskStateEntered',
          timestamp: new Date(),
          stateEnteredEventDetails: { name: 'RegisterJob' },
        },
        {
          id: 2,
          type: 'TaskStateExited',
          timestamp: new Date(),
          stateExitedEventDetails: { name: 'RegisterJob', output: '{"job":{"jobId":"imp_1"}}' },
        },
      ],
    });
    sfn.on(RedriveExecutionCommand).resolves({ redriveDate: new Date() });
    // The claim refuses, as the SQL ledger's does, an execution that no longer owns the job.
    const claimRedrive = async (claim: { executionArn: string }) => {
      const job = (await describeJob?.()) as { executionId?: string } | undefined;
      if (job && job.executionId !== claim.executionArn) {
        throw new JobStateError('imp_1', 'failed', 'redrive', ['failed'], 'it was retried');
      }
    };
    const ledger = {
      appendAudit: async () => undefined,
      claimRedrive,
      releaseRedrive: async () => undefined,
      ...(describeJob ? { describeJob } : {}),
    } as unknown as Ledger;
    return { sfn, context: { ...context, ledger: async () => ledger } };
  }

  it("refuses an execution DescribeExecution says is NOT_REDRIVABLE, naming execution, with Step Functions' reason", async () => {
    const { context, sfn } = redriveContext({
      redriveStatus: 'NOT_REDRIVABLE',
      redriveStatusReason: 'Execution redrivable period exceeded.',
    });
    await expect(redriveExecution(context, arn)).rejects.toMatchObject({
      name: 'InvalidOptionError',
      field: 'execution',
      message: expect.stringContaining('Execution redrivable period exceeded.'),
    });
    expect(sfn.commandCalls(RedriveExecutionCommand)).toHaveLength(0);
  });

  // A retried job (sidestep job retry) is handed to the retry's execution: redriving the execution it
  // left would run the job's steps and batch task again beside the retry's (an export's task would
  // restart the file's upload under the retry).
  it('refuses an execution whose job was handed to a retry since, naming both, and redrives one that still runs its job', async () => {
    const retry = `${arn}-attempt-2`;
    for (const [owner, refused] of [
      [retry, true],
      [arn, false],
    ] as const) {
      const { context, sfn } = redriveContext(
        {
          stateMachineArn: 'arn:aws:states:ap-northeast-1:123456789012:stateMachine:sidestep-staging-import',
          redriveStatus: 'REDRIVABLE',
        },
        async () => ({ jobId: 'imp_1', state: 'failed', attempt: 2, executionId: owner }),
      );
      const redriving = redriveExecution(context, arn);
      if (refused) {
        await expect(redriving).rejects.toMatchObject({
          name: 'InvalidOptionError',
          field: 'execution',
          message: `execution: ${arn} no longer runs job imp_1: the job was retried as ${retry} (attempt 2); redrive that execution, or retry the job again`,
        });
        expect(sfn.commandCalls(RedriveExecutionCommand)).toHaveLength(0);
      } else {
        await expect(redriving).resolves.toMatchObject({ executionArn: arn });
        expect(sfn.commandCalls(RedriveExecutionCommand)).toHaveLength(1);
      }
    }
  });

  it("withdraws the job's claim when Step Functions refuses the redrive (it did not run), and keeps it when no answer came (it may have)", async () => {
    for (const [error, withdrawn] of [
      [new ExecutionNotRedrivable({ message: 'Execution is RUNNING', $metadata: {} }), true],
      [Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }), false],
    ] as const) {
      const { context, sfn } = redriveContext({ redriveStatus: 'REDRIVABLE' }, async () => ({
        jobId: 'imp_1',
        executionId: arn,
      }));
      const claimed: unknown[] = [];
      const released: unknown[] = [];
      const ledger = await context.ledger();
      Object.assign(ledger, {
        claimRedrive: async (claim: { requestId?: string }) => void claimed.push(claim.requestId),
        releaseRedrive: async (release: unknown) => void released.push(release),
      });
      sfn.on(RedriveExecutionCommand).rejects(error);
      await expect(redriveExecution(context, arn)).rejects.toBe(error);
      // The release names its own claim (the claim's id), not any claim of the count.
      expect(claimed).toEqual([expect.any(String)]);
      expect(released).toEqual(
        withdrawn ? [{ jobId: 'imp_1', executionArn: arn, redriveCount: 0, claimRequestId: claimed[0] }] : [],
      );
    }
  });

  it('redrives when the ledger cannot be read, saying what it could not check', async () => {
    const { context } = redriveContext({ redriveStatus: 'REDRIVABLE' }, async () => {
      throw new Error('ops-ledger: no answer');
    });
    const warnings: string[] = [];
    await expect(
      redriveExecution({ ...context, warn: (line) => warnings.push(line) }, arn),
    ).resolves.toMatchObject({ executionArn: arn });
    expect(warnings).toContainEqual(
      `cannot check that ${arn} still runs job imp_1 (a job retry may have taken it over): Error: ops-ledger: no answer`,
    );
  });
});

describe('listDeadLetters on AWS', () => {
  // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-short-and-long-polling.html:
  // a short poll (WaitTimeSeconds 0) samples a subset of the SQS servers, so with few messages in the
  // queue it may return none of them; a long poll queries all the servers.
  it('long-polls, so a dead-letter queue of a few messages is not listed empty by a short poll that sampled none', async () => {
    const { context, sqs } = stagingContext();
    sqs.on(GetQueueUrlCommand).resolves({ QueueUrl: 'https://sqs.example/sidestep-staging-mail-dlq' });
    const dead: Message[] = [
      { MessageId: 'm1', ReceiptHandle: 'r1', Body: '{"type":"mail.send","id":"a"}', Attributes: {} },
      { MessageId: 'm2', ReceiptHandle: 'r2', Body: '{"type":"mail.send","id":"b"}', Attributes: {} },
    ];
    // SQS as the guide describes it: a short poll's sample misses both, a long poll finds them once.
    let handedOut = false;
    sqs.on(ReceiveMessageCommand).callsFake((input: ReceiveMessageCommandInput) => {
      if (!input.WaitTimeSeconds || handedOut) return { Messages: [] };
      handedOut = true;
      return { Messages: dead };
    });
    sqs.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [], Failed: [] });

    const listed = await listDeadLetters(context, 'mail');

    expect(listed.map((letter) => letter.messageId)).toEqual(['m1', 'm2']);
    for (const call of sqs.commandCalls(ReceiveMessageCommand)) {
      expect(call.args[0].input.WaitTimeSeconds).toBeGreaterThanOrEqual(1);
    }
    // Both made visible again: listing moves and deletes nothing.
    expect(
      sqs
        .commandCalls(ChangeMessageVisibilityBatchCommand)
        .flatMap((call) => call.args[0].input.Entries ?? []),
    ).toEqual([
      { Id: '0', ReceiptHandle: 'r1', VisibilityTimeout: 0 },
      { Id: '1', ReceiptHandle: 'r2', VisibilityTimeout: 0 },
    ]);
  });
});
