import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { InvokeCommand, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import { GetScheduleCommand, SchedulerClient, UpdateScheduleCommand } from '@aws-sdk/client-scheduler';
import {
  DescribeExecutionCommand,
  DescribeStateMachineCommand,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  RedriveExecutionCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
  SQSServiceException,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { describe, expect, it } from '@jest/globals';
import {
  type AuthorizationCheck,
  evaluateRequest,
  eventsAuthorization,
  lambdaAuthorization,
  parsePolicy,
  schedulerAuthorization,
  sqsAuthorization,
  statesAuthorization,
} from '@sidestep/iam';
import { type EnvironmentConfig, synthStack } from '@sidestep/infra';
import { mailEventLogGroupName } from '@sidestep/manifest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  asyncFailureStatuses,
  createOpsContext,
  describeExecution,
  describeJob,
  failJob,
  findMail,
  fireSchedule,
  listAsyncFailures,
  listAudit,
  listDeadLetters,
  listExecutions,
  listJobs,
  listRejectedRows,
  listSchedules,
  MAIL_EVENT_RETENTION_DAYS,
  pauseSchedule,
  redriveDeadLetters,
  redriveExecution,
  reinvokeAsyncFailures,
  releaseMail,
  resumeSchedule,
  retryJob,
  startExecution,
  status,
  stopExecution,
  workflowDefinition,
} from '../src/index.ts';
import { runningUntilStopped } from './staging-context.ts';

// Every `sidestep` command run against stubbed SDK clients as `--env staging` runs it; each SDK call
// it made is turned into the IAM checks AWS makes for it (@sidestep/iam's request -> action mapping,
// the one the local cloud enforces) and evaluated against the synthesized `sidestep-staging-operator`
// policy. Fails for a call the policy does not allow, and for an action the policy grants that no
// command uses.
const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';
const scope = { region: REGION, accountId: ACCOUNT };
const CONFIG: EnvironmentConfig = {
  name: 'staging',
  region: REGION,
  accountId: ACCOUNT,
  mail: {
    fromAddress: 'no-reply@mail.example.com',
    domain: 'mail.example.com',
    notifyAddress: 'ops@example.com',
  },
  databaseSecretArn: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:sidestep-staging-db-AbCdEf`,
  vpc: { subnetIds: ['subnet-a'], securityGroupIds: ['sg-1'] },
  logRetentionDays: 90,
  backend: { bucket: 'tfstate', key: 'sidestep/staging.tfstate', region: REGION },
};

function operatorPolicy() {
  const tf = JSON.parse(synthStack({}, CONFIG));
  const [document] = Object.values(
    tf.resource.aws_iam_policy as Record<string, { name: string; policy: string }>,
  )
    .filter((policy) => policy.name === 'sidestep-staging-operator')
    .map((policy) => policy.policy);
  return {
    policy: parsePolicy(document, 'sidestep-staging-operator'),
    document: JSON.parse(document ?? '{}'),
  };
}

const queueUrl = (name: string) => `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${name}`;
const queueArn = (name: string) => `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`;
const MACHINE = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:sidestep-staging-import`;
const EXECUTION = `arn:aws:states:${REGION}:${ACCOUNT}:execution:sidestep-staging-import:e-1`;
const payload = (body: unknown) =>
  new TextEncoder().encode(JSON.stringify(body)) as unknown as InvokeCommandOutput['Payload'];

/** A staging context whose stubbed clients answer every command well enough to run to its end. */
function stubbedStaging() {
  const sqs = mockClient(SQSClient);
  const sfn = mockClient(SFNClient);
  const scheduler = mockClient(SchedulerClient);
  const eventBridge = mockClient(EventBridgeClient);
  const sts = mockClient(STSClient);
  const lambda = mockClient(LambdaClient);
  const cloudWatch = mockClient(CloudWatchClient);
  const logs = mockClient(CloudWatchLogsClient);
  logs.on(FilterLogEventsCommand).resolves({ events: [] });
  cloudWatch.on(GetMetricDataCommand).resolves({ MetricDataResults: [{ Id: 'q0', Values: [42] }] });
  sts
    .on(GetCallerIdentityCommand)
    .resolves({ Account: ACCOUNT, Arn: `arn:aws:sts::${ACCOUNT}:assumed-role/operator/alice` });
  sqs
    .on(GetQueueUrlCommand)
    .callsFake((input: { QueueName: string }) => ({ QueueUrl: queueUrl(input.QueueName) }));
  sqs.on(GetQueueAttributesCommand).callsFake((input: { QueueUrl: string }) => ({
    Attributes: {
      QueueArn: queueArn(input.QueueUrl.split('/').at(-1) ?? ''),
      ApproximateNumberOfMessages: '1',
    },
  }));
  sqs
    .on(ReceiveMessageCommand)
    .resolvesOnce({ Messages: [{ MessageId: 'm-1', ReceiptHandle: 'r-1', Body: '{}', Attributes: {} }] })
    .resolves({ Messages: [] });
  sqs.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [{ Id: '0' }], Failed: [] });
  sqs.on(DeleteMessageCommand).resolves({});
  sqs.on(StartMessageMoveTaskCommand).resolves({ TaskHandle: 'h-1' });
  sqs
    .on(ListMessageMoveTasksCommand)
    .resolves({ Results: [{ TaskHandle: 'h-1', Status: 'COMPLETED', ApproximateNumberOfMessagesMoved: 1 }] });
  sqs
    .on(SendMessageBatchCommand)
    .resolves({ Successful: [{ Id: '0', MessageId: 'm-2', MD5OfMessageBody: 'x' }], Failed: [] });
  sfn.on(ListExecutionsCommand).resolves({ executions: [] });
  sfn.on(DescribeExecutionCommand).resolves({
    executionArn: EXECUTION,
    stateMachineArn: MACHINE,
    name: 'e-1',
    status: 'FAILED',
    input: '{}',
    startDate: new Date(),
  });
  sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
  sfn.on(RedriveExecutionCommand).resolves({ redriveDate: new Date() });
  sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: new Date() });
  sfn.on(StopExecutionCommand).resolves({ stopDate: new Date() });
  sfn.on(DescribeStateMachineCommand).resolves({ definition: '{"StartAt":"A","States":{}}' });
  scheduler.on(GetScheduleCommand).callsFake((input: { Name: string; GroupName: string }) => ({
    Name: input.Name,
    GroupName: input.GroupName,
    ScheduleExpression: 'rate(15 minutes)',
    FlexibleTimeWindow: { Mode: 'OFF' },
    Target: { Arn: 'arn:target', RoleArn: `arn:aws:iam::${ACCOUNT}:role/${input.Name}-schedule` },
    State: 'ENABLED',
  }));
  scheduler.on(UpdateScheduleCommand).resolves({ ScheduleArn: 'arn:schedule' });
  eventBridge.on(PutEventsCommand).resolves({ Entries: [{ EventId: 'ev-1' }], FailedEntryCount: 0 });
  const job = {
    id: 'imp_1',
    kind: 'import',
    state: 'failed',
    attempt: 1,
    executionId: EXECUTION,
    error: 'boom',
    createdAt: '2026-11-24T10:00:00Z',
  };
  lambda.on(InvokeCommand).callsFake((input: { Payload: Uint8Array }) => {
    const request = JSON.parse(new TextDecoder().decode(input.Payload)) as { op: string };
    const results: Record<string, unknown> = {
      'jobs.list': { jobs: [job], next: null },
      'job.describe': {
        ...job,
        transitions: [],
        executions: [EXECUTION],
        // Its failure mail, claimed an hour ago: `mail find` and `mail release` search since then.
        mails: [
          {
            idempotencyKey: 'import.failed:imp_1',
            recordId: 'sidestep-staging-mail-dispatcher#x',
            status: 'INPROGRESS',
            createdAt: new Date(Date.now() - 3_600_000).toISOString(),
          },
        ],
        rowErrors: [],
        workerError: null,
      },
      'job.rejected-rows': { jobId: 'imp_1', rowsRejected: 0, rows: [], next: null },
      'jobs.status': { running: 0, registered: 0, failed24h: 1, succeeded24h: 0 },
      'audit.list': [],
      'job.fail': {
        jobId: 'imp_1',
        kind: 'import',
        state: 'failed',
        reason: 'r',
        attempt: 1,
        fileName: 'u.csv',
        requestedBy: null,
        recipient: 'ops@example.com',
      },
      'mail.release': { idempotencyKey: 'k', recordId: 'x#y', released: 'deleted INPROGRESS record' },
    };
    return {
      StatusCode: 200,
      Payload: payload({ ok: true, result: results[request.op] ?? null }),
      $metadata: {},
    };
  });
  const context = createOpsContext({
    environment: 'staging',
    env: { AWS_REGION: REGION },
    clients: {
      sqs: new SQSClient({}),
      sfn: new SFNClient({}),
      scheduler: new SchedulerClient({}),
      eventBridge: new EventBridgeClient({}),
      sts: new STSClient({}),
      lambda: new LambdaClient({}),
      cloudWatch: new CloudWatchClient({}),
      logs: new CloudWatchLogsClient({}),
    },
    warn: () => {},
  });
  return { context, mocks: { sqs, sfn, scheduler, eventBridge, sts, lambda, cloudWatch, logs } };
}

type Mocks = ReturnType<typeof stubbedStaging>['mocks'];

/** The IAM checks of every SDK call the stubbed clients received. */
function checksOf(mocks: Mocks): AuthorizationCheck[] {
  const calls = (mock: Mocks[keyof Mocks]) =>
    mock.calls().map((call) => {
      const command = call.args[0] as unknown as {
        constructor: { name: string };
        input: Record<string, unknown>;
      };
      return { operation: command.constructor.name.replace(/Command$/, ''), input: command.input };
    });
  const lastSegment = (value: unknown) => String(value).split(/[/:]/).at(-1) ?? '';
  return [
    ...calls(mocks.sqs).flatMap(({ operation, input }) =>
      sqsAuthorization(operation, {
        ...scope,
        queueName: lastSegment(input.QueueUrl ?? input.QueueName ?? input.SourceArn),
        ...(input.DestinationArn ? { destinationQueueName: lastSegment(input.DestinationArn) } : {}),
      }),
    ),
    ...calls(mocks.sfn).flatMap(({ operation, input }) =>
      statesAuthorization(operation, {
        ...(input.stateMachineArn ? { stateMachineArn: String(input.stateMachineArn) } : {}),
        ...(input.executionArn ? { executionArn: String(input.executionArn) } : {}),
      }),
    ),
    ...calls(mocks.scheduler).flatMap(({ operation, input }) =>
      schedulerAuthorization(operation, {
        ...scope,
        scheduleName: String(input.Name),
        groupName: String(input.GroupName),
        ...((input.Target as { RoleArn?: string } | undefined)?.RoleArn
          ? { targetRoleArn: (input.Target as { RoleArn: string }).RoleArn }
          : {}),
      }),
    ),
    ...calls(mocks.eventBridge).flatMap(({ operation, input }) =>
      (input.Entries as { EventBusName: string }[]).flatMap((entry) =>
        eventsAuthorization(operation, { ...scope, eventBusName: entry.EventBusName }),
      ),
    ),
    // CloudWatch is not in @sidestep/iam (the local cloud serves none): GetMetricData has no resource type.
    ...calls(mocks.cloudWatch).map(({ operation }) => ({ action: `cloudwatch:${operation}`, resource: '*' })),
    // Nor is CloudWatch Logs: FilterLogEvents is authorized on the log group, by its ARN
    // (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html;
    // the Service Authorization Reference for CloudWatch Logs gives its resource type, log-group).
    ...calls(mocks.logs).map(({ operation, input }) => ({
      action: `logs:${operation}`,
      resource: `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${String(input.logGroupName)}`,
    })),
    ...calls(mocks.lambda).flatMap(({ operation, input }) =>
      lambdaAuthorization(operation, {
        ...scope,
        functionName: String(input.FunctionName),
        ...(input.Qualifier ? { qualifier: String(input.Qualifier) } : {}),
      }),
    ),
  ];
}

/** Every command of the CLI, as `sidestep <command>` calls @sidestep/ops. */
const COMMANDS: Readonly<
  Record<string, (context: ReturnType<typeof stubbedStaging>['context'], mocks: Mocks) => Promise<unknown>>
> = {
  status: (context) => status(context),
  'dlq show': (context) => listDeadLetters(context, 'mail'),
  'dlq show schedules': (context) => listDeadLetters(context, 'schedules'),
  'dlq show import-trigger': (context) => listDeadLetters(context, 'import-trigger'),
  'dlq show workflow-ended': (context) => listDeadLetters(context, 'workflow-ended'),
  'dlq show mail-events': (context) => listDeadLetters(context, 'mail-events'),
  'dlq redrive': (context) => redriveDeadLetters(context, 'mail', { pollMs: 1 }),
  'async-failures show': (context) => listAsyncFailures(context, 'job-sweeper'),
  // One invocation record: the job-sweeper invoked again with its event, the record deleted.
  'async-failures reinvoke': (context, mocks) => {
    mocks.sqs
      .on(ReceiveMessageCommand)
      .resolvesOnce({
        Messages: [
          {
            MessageId: 'm-1',
            ReceiptHandle: 'r-1',
            Body: JSON.stringify({ requestContext: { requestId: 'req-1' }, requestPayload: {} }),
          },
        ],
      })
      .resolves({ Messages: [] });
    return reinvokeAsyncFailures(context, 'job-sweeper', { all: true });
  },
  executions: (context) => listExecutions(context, 'import'),
  execution: (context) => describeExecution(context, EXECUTION),
  redrive: (context) => redriveExecution(context, EXECUTION),
  start: (context) => startExecution(context, 'import', {}),
  // Only a RUNNING execution is stopped.
  stop: (context, mocks) => {
    runningUntilStopped(mocks.sfn, EXECUTION);
    return stopExecution(context, EXECUTION, 'wrong file');
  },
  jobs: (context) => listJobs(context),
  job: (context) => describeJob(context, 'imp_1'),
  // A job that has not ended: its latest execution is described too, and while that runs, its newest
  // history events (whether its batch step waits for room).
  'job (running)': async (context, mocks) => {
    mocks.sfn
      .on(DescribeExecutionCommand)
      .resolves({ executionArn: EXECUTION, stateMachineArn: MACHINE, name: 'e-1', status: 'RUNNING' });
    const ledger = await context.ledger();
    const running = Object.assign(Object.create(ledger), {
      describeJob: async (jobId: string) => ({ ...(await ledger.describeJob(jobId)), state: 'running' }),
    });
    return describeJob({ ...context, ledger: async () => running }, 'imp_1');
  },
  'job rejected': (context) => listRejectedRows(context, 'imp_1'),
  'job retry': (context, mocks) => {
    // The retry's name is free (its look-up finds no execution).
    mocks.sfn
      .on(DescribeExecutionCommand, {
        executionArn: `${MACHINE.replace(':stateMachine:', ':execution:')}:imp_1-attempt-2`,
      })
      .rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));
    return retryJob(context, 'imp_1');
  },
  'job fail': (context) => failJob(context, 'imp_1', 'task gone'),
  // Its search first (as `mail find`), which finds nothing and nothing in the mail-events DLQ: released.
  'mail release': (context, mocks) => {
    mocks.sqs.on(ReceiveMessageCommand).resolves({ Messages: [] });
    mocks.sqs.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: '0' } });
    return releaseMail(context, 'import.failed:imp_1');
  },
  // The log group's records of the key (FilterLogEvents), its claim in the ledger, the rule's DLQ and its counts.
  'mail find': (context) => findMail(context, 'import.failed:imp_1'),
  schedules: (context) => listSchedules(context),
  fire: (context) => fireSchedule(context, 'stale-job-sweeper'),
  pause: (context) => pauseSchedule(context, 'stale-job-sweeper'),
  resume: (context) => resumeSchedule(context, 'stale-job-sweeper'),
  audit: (context) => listAudit(context),
  // The console's Workflows page and execution pages draw each workflow from its definition.
  'console workflows': (context) => workflowDefinition(context, 'import'),
};

/** The checks an operator role with only `policy` is not allowed. */
function denied(policy: ReturnType<typeof operatorPolicy>['policy'], checks: readonly AuthorizationCheck[]) {
  return checks.filter(
    (check) =>
      evaluateRequest(
        {
          principal: { type: 'role', roleArn: `arn:aws:iam::${ACCOUNT}:role/operator` },
          action: check.action,
          resource: check.resource,
          ...(check.context ? { context: check.context } : {}),
        },
        { identityPolicies: [policy] },
      ).decision !== 'allow',
  );
}

/**
 * What the README's operator procedures run with the AWS CLI rather than a `sidestep` command, as the
 * IAM checks of their calls: the search of SES's event records of the mails for an idempotency key
 * before `mail release` ("Mail whose outcome is unknown": `aws logs filter-log-events`; FilterLogEvents
 * is authorized on the log group, per the Service Authorization Reference for CloudWatch Logs).
 */
const AWS_CLI_PROCEDURES: Readonly<Record<string, readonly AuthorizationCheck[]>> = {
  'aws logs filter-log-events --log-group-name /aws/events/sidestep-staging-mail-events': [
    {
      action: 'logs:FilterLogEvents',
      resource: `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/events/sidestep-staging-mail-events`,
    },
  ],
};

describe('the operator policy against the CLI’s own calls', () => {
  const { policy, document } = operatorPolicy();
  const used = new Set<string>();

  it.each(Object.keys(COMMANDS))('allows every call of `sidestep %s`', async (command) => {
    const { context, mocks } = stubbedStaging();
    await COMMANDS[command]?.(context, mocks);
    // STS GetCallerIdentity (who the operator is) needs no permission, so it is not mapped.
    const checks = checksOf(mocks);
    expect(checks.length).toBeGreaterThan(0);
    expect(denied(policy, checks)).toEqual([]);
    for (const check of checks) used.add(check.action);
    await context.close();
  });

  it.each(Object.keys(AWS_CLI_PROCEDURES))('allows every call of `%s`', (procedure) => {
    const checks = AWS_CLI_PROCEDURES[procedure] ?? [];
    expect(denied(policy, checks)).toEqual([]);
    for (const check of checks) used.add(check.action);
  });

  it('grants no action that no command uses', () => {
    const granted = (document.Statement as { Action: string[] }[]).flatMap((statement) => statement.Action);
    expect(granted.filter((action) => !used.has(action))).toEqual([]);
  });
});

describe('the mail-events log group `mail find` searches', () => {
  it("is the stack's, by name, and kept as long as mail find takes its retention to be", () => {
    const tf = JSON.parse(synthStack({}, CONFIG));
    const groups = Object.values(
      tf.resource.aws_cloudwatch_log_group as Record<string, { name: string; retention_in_days: number }>,
    ).filter((group) => group.name === mailEventLogGroupName('staging'));
    expect(groups).toEqual([expect.objectContaining({ retention_in_days: MAIL_EVENT_RETENTION_DAYS })]);
  });
});

describe('the warning of `status` for an on-failure queue it may not read', () => {
  it('names the statement of this policy that grants reading that queue', async () => {
    const { document } = operatorPolicy();
    const { context, mocks } = stubbedStaging();
    const warnings: string[] = [];
    mocks.sqs
      .on(GetQueueUrlCommand)
      .rejects(new SQSServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: {} }));
    await asyncFailureStatuses({ ...context, warn: (message) => warnings.push(message) });
    const statements = document.Statement as { Sid: string; Action: string[]; Resource: string[] }[];
    const named = statements.filter((statement) => warnings[0]?.includes(`statement ${statement.Sid} of`));
    expect(named).toEqual([
      expect.objectContaining({
        Action: expect.arrayContaining(['sqs:GetQueueUrl', 'sqs:GetQueueAttributes']),
        Resource: expect.arrayContaining([queueArn('sidestep-staging-job-sweeper-async-failures')]),
      }),
    ]);
    expect(warnings[0]).toContain('sidestep-staging-operator');
    await context.close();
  });
});
