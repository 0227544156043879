import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  DescribeStateMachineCommand,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  ListStateMachinesCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { TaskManifest } from '@sidestep/manifest';
import { sampleTask } from '@sidestep/manifest/testing';
import { createCollectingReporter } from '../src/collecting-reporter.ts';
import { type LocalCloud, type LocalWorkflowResources, startLocalCloud } from '../src/local-cloud.ts';
import { echoService, fixtureDir, queuelessService } from './fixtures/manifests.ts';
import { localClientConfig } from './fixtures/sqs-endpoint.ts';

// The workflow machinery of the local cloud with fixtures: S3 upload -> "Object Created" ->
// the event rule -> a Step Functions execution -> a Lambda step, a Fargate task (child process)
// and an SQS message, watched through the unchanged @aws-sdk/client-sfn.

/** Shows what the workflow sent to SQS. */
const echo = echoService();

const stepService = queuelessService('step-service', 'A workflow step');

/** The sample task as the worker-task fixture bundle: the input it reads, the setting it echoes, no database. */
const workerTask: TaskManifest = {
  ...sampleTask,
  name: 'worker-task',
  containerName: 'worker-task',
  inputs: { SOURCE_KEY: 'the object key' },
  permissions: [{ resource: 'imports-bucket', actions: ['s3:GetObject'] }],
  environment: { STATIC_SETTING: 'from-the-manifest' },
};

const BUCKET = 'sidestep-local-imports';

function definition(resources: LocalWorkflowResources) {
  const notify = (body: Record<string, unknown>, next: { Next: string } | { End: true }) => ({
    Type: 'Task',
    Resource: 'arn:aws:states:::sqs:sendMessage',
    Parameters: { QueueUrl: resources.queueUrl('echo'), MessageBody: body },
    ResultPath: null,
    ...next,
  });
  const catchAll = [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'NotifyBroken' }];
  return {
    StartAt: 'Register',
    States: {
      Register: {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke',
        Parameters: {
          FunctionName: resources.functionArn('step-service'),
          Payload: { 'key.$': '$.detail.object.key', 'executionId.$': '$$.Execution.Id' },
        },
        ResultSelector: { 'jobId.$': '$.Payload.jobId', 'executionId.$': '$.Payload.executionId' },
        ResultPath: '$.job',
        Catch: catchAll,
        Next: 'Import',
      },
      Import: {
        Type: 'Task',
        Resource: 'arn:aws:states:::ecs:runTask.sync',
        Parameters: {
          Cluster: resources.clusterArn('worker-task'),
          TaskDefinition: resources.taskDefinitionArn('worker-task'),
          LaunchType: 'FARGATE',
          NetworkConfiguration: {
            AwsvpcConfiguration: { Subnets: resources.subnetIds, SecurityGroups: resources.securityGroupIds },
          },
          Overrides: {
            ContainerOverrides: [
              {
                Name: 'worker-task',
                Environment: [
                  { Name: 'MODE', Value: 'import' },
                  { Name: 'SOURCE_KEY', 'Value.$': '$.detail.object.key' },
                ],
              },
            ],
          },
        },
        ResultSelector: { 'exitCode.$': '$.Containers[0].ExitCode' },
        ResultPath: '$.task',
        Catch: catchAll,
        Next: 'Notify',
      },
      Notify: notify({ 'say.$': "States.Format('done {}', $.detail.object.key)" }, { End: true }),
      NotifyBroken: notify(
        { 'say.$': "States.Format('broken {} {}', $.detail.object.key, $.error.Error)" },
        {
          Next: 'Broken',
        },
      ),
      Broken: { Type: 'Fail', Error: 'ImportBroken', CausePath: '$.error.Cause' },
    },
  };
}

const report = createCollectingReporter();
let rootDir: string;
let cloud: LocalCloud;
let s3: S3Client;
let sfn: SFNClient;
let stateMachineArn: string;

beforeAll(async () => {
  rootDir = await mkdtemp(join(tmpdir(), 'local-cloud-workflows-'));
  // Nothing of the host environment may reach a task.
  process.env.HOST_ONLY = 'leaked';
  cloud = await startLocalCloud({
    rootDir,
    port: 0,
    smtpPort: 0,
    reporter: report.reporter,
    services: [
      { manifest: echo, bundleDir: fixtureDir('echo-service') },
      { manifest: stepService, bundleDir: fixtureDir('step-service') },
    ],
    tasks: [{ manifest: workerTask, bundleDir: fixtureDir('worker-task') }],
    workflows: [
      {
        name: 'import',
        definition,
        triggers: [
          {
            bucketName: BUCKET,
            eventPattern: {
              source: ['aws.s3'],
              'detail-type': ['Object Created'],
              detail: { bucket: { name: [BUCKET] }, object: { key: [{ wildcard: 'imports/*.csv' }] } },
            },
          },
        ],
      },
    ],
    retryIntervalMs: 0,
  });
  const clientConfig = localClientConfig(cloud.endpoint);
  s3 = new S3Client({ ...clientConfig, forcePathStyle: true });
  sfn = new SFNClient(clientConfig);
  stateMachineArn = cloud.stepFunctions.stateMachineArn('sidestep-local-import');
}, 30_000);

afterAll(async () => {
  delete process.env.HOST_ONLY;
  s3?.destroy();
  sfn?.destroy();
  await cloud?.stop();
  await rm(rootDir, { recursive: true, force: true });
});

async function upload(key: string): Promise<void> {
  await s3.send(
    new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'external_id,email\n1,a@example.com\n' }),
  );
}

async function executionFor(key: string) {
  const started = await report.waitFor('execution-started', (event) => {
    const execution = cloud.stepFunctions.describeExecution(event.executionArn);
    return JSON.parse(execution.input).detail.object.key === key;
  });
  await report.waitFor('execution-finished', (event) => event.executionArn === started.executionArn, 20_000);
  return started.executionArn;
}

/** The JSON line the worker fixture printed for a key. */
function workerReport(key: string): Record<string, unknown> | undefined {
  const line = report
    .ofType('log')
    .filter((event) => event.service === 'worker-task')
    .map((event) => JSON.parse(event.line) as Record<string, unknown>)
    .find((entry) => entry.key === key);
  return line;
}

describe('workflows in the local cloud', () => {
  it('creates the trigger bucket with EventBridge notifications, and the claim-check bucket without', () => {
    expect(cloud.buckets).toEqual([BUCKET, 'sidestep-local-claims']);
    expect(report.ofType('bucket-created')).toEqual([
      { type: 'bucket-created', bucket: BUCKET, eventBridge: true },
      { type: 'bucket-created', bucket: 'sidestep-local-claims', eventBridge: false },
    ]);
  });

  it('runs an upload through the rule, the Lambda step, the Fargate task and SQS to SUCCEEDED', async () => {
    await upload('imports/users.csv');
    const executionArn = await executionFor('imports/users.csv');

    const routed = report
      .ofType('event-routed')
      .find((event) => event.subject === `${BUCKET}/imports/users.csv`);
    expect(routed?.rules).toEqual(['sidestep-local-import-trigger']);
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(described.status).toBe('SUCCEEDED');
    expect(described.stateMachineArn).toBe(stateMachineArn);
    expect(described.startDate).toBeInstanceOf(Date);

    // The execution input is the S3 event as EventBridge delivers it.
    const input = JSON.parse(described.input ?? '{}');
    expect(input).toMatchObject({
      source: 'aws.s3',
      'detail-type': 'Object Created',
      account: '000000000000',
      region: 'us-east-1',
      resources: [`arn:aws:s3:::${BUCKET}`],
      detail: {
        version: '0',
        bucket: { name: BUCKET },
        object: { key: 'imports/users.csv', size: 34, etag: expect.stringMatching(/^[0-9a-f]{32}$/) },
        reason: 'PutObject',
        requester: '000000000000',
      },
    });
    expect(input.detail.object.sequencer).toMatch(/^[0-9A-F]+$/);

    // The Lambda step got the execution id from the context object; its result shape is the
    // optimized integration's.
    const output = JSON.parse(described.output ?? '{}');
    expect(output.job).toEqual({ jobId: 'job-imports/users.csv', executionId: executionArn });
    expect(output.task).toEqual({ exitCode: 0 });

    // The task: manifest environment + local resources + overrides, nothing from the host, only TMPDIR writable.
    expect(workerReport('imports/users.csv')).toEqual({
      worker: 'started',
      key: 'imports/users.csv',
      mode: 'import',
      env: {
        STATIC_SETTING: 'from-the-manifest',
        AWS_ENDPOINT_URL: cloud.endpoint,
        AWS_S3_FORCE_PATH_STYLE: 'true',
        AWS_EXECUTION_ENV: 'AWS_ECS_FARGATE',
        IMPORTS_BUCKET: BUCKET,
      },
      writes: { cwd: false, tmp: true },
    });

    // The SQS message reached its consumer.
    await report.waitFor(
      'mail-delivered',
      (event) => event.subject === 'processed {"say":"done imports/users.csv"}',
    );

    const { events = [] } = await sfn.send(new GetExecutionHistoryCommand({ executionArn }));
    expect(events[0]?.type).toBe('ExecutionStarted');
    expect(events.at(-1)?.type).toBe('ExecutionSucceeded');
    const ecs = events.find(
      (event) => event.type === 'TaskSucceeded' && event.taskSucceededEventDetails?.resourceType === 'ecs',
    );
    const task = JSON.parse(ecs?.taskSucceededEventDetails?.output ?? '{}');
    expect(task).toMatchObject({
      LastStatus: 'STOPPED',
      StopCode: 'EssentialContainerExited',
      TaskDefinitionArn: 'arn:aws:ecs:us-east-1:000000000000:task-definition/sidestep-local-worker-task:1',
      Containers: [{ ExitCode: 0, Name: 'worker-task' }],
    });
    expect(events.map((event) => event.id)).toEqual(events.map((_, index) => index + 1));
  }, 30_000);

  it('fails the task on a non-zero exit code with the task description as the cause', async () => {
    await upload('imports/exit-3.csv');
    const executionArn = await executionFor('imports/exit-3.csv');
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(described.status).toBe('FAILED');
    expect(described.error).toBe('ImportBroken');
    const cause = JSON.parse(described.cause ?? '{}');
    expect(cause).toMatchObject({ LastStatus: 'STOPPED', Containers: [{ ExitCode: 3 }] });
    await report.waitFor(
      'mail-delivered',
      (event) => event.subject === 'processed {"say":"broken imports/exit-3.csv States.TaskFailed"}',
    );
  }, 30_000);

  it("gives a Lambda error's name as Error and the runtime's error document as Cause", async () => {
    await upload('imports/throw.csv');
    const executionArn = await executionFor('imports/throw.csv');
    const { events = [] } = await sfn.send(new GetExecutionHistoryCommand({ executionArn }));
    const failed = events.find((event) => event.type === 'TaskFailed')?.taskFailedEventDetails;
    expect(failed?.error).toBe('InvalidTransitionError');
    expect(failed?.resourceType).toBe('lambda');
    const cause = JSON.parse(failed?.cause ?? '{}');
    expect(cause).toMatchObject({
      errorType: 'InvalidTransitionError',
      errorMessage: 'cannot register imports/throw.csv',
      trace: expect.arrayContaining([expect.stringContaining('InvalidTransitionError')]),
    });
  }, 30_000);

  it('starts nothing for an object the rule does not match', async () => {
    await upload('exports/users.csv');
    const routed = await report.waitFor(
      'event-routed',
      (event) => event.subject === `${BUCKET}/exports/users.csv`,
    );
    expect(routed.rules).toEqual([]);
  });

  it('answers the Step Functions API for the state machine and its executions', async () => {
    const { stateMachines = [] } = await sfn.send(new ListStateMachinesCommand({}));
    expect(stateMachines.map((machine) => machine.name)).toEqual(['sidestep-local-import']);
    const machine = await sfn.send(new DescribeStateMachineCommand({ stateMachineArn }));
    expect(JSON.parse(machine.definition ?? '{}').StartAt).toBe('Register');
    expect(machine.type).toBe('STANDARD');

    const event = { detail: { object: { key: 'imports/by-hand.csv' }, bucket: { name: BUCKET } } };
    const started = await sfn.send(
      new StartExecutionCommand({ stateMachineArn, name: 'by-hand', input: JSON.stringify(event) }),
    );
    expect(started.executionArn).toBe(
      'arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:by-hand',
    );
    await report.waitFor('execution-finished', (e) => e.executionArn === started.executionArn, 20_000);
    const { executions = [] } = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn, statusFilter: 'SUCCEEDED', maxResults: 1 }),
    );
    expect(executions[0]?.name).toBe('by-hand');

    await expect(
      sfn.send(new DescribeExecutionCommand({ executionArn: `${started.executionArn}-nope` })),
    ).rejects.toBeInstanceOf(ExecutionDoesNotExist);
  }, 30_000);

  it('refuses to start with a task whose bundle was not built, naming it', async () => {
    await expect(
      startLocalCloud({
        rootDir,
        // A state dir of its own: the cloud of the other tests holds rootDir's.
        stateDir: join(rootDir, 'not-built-state'),
        port: 0,
        smtpPort: 0,
        reporter: () => undefined,
        services: [],
        tasks: [{ manifest: workerTask, bundleDir: join(rootDir, 'not-built') }],
      }),
    ).rejects.toMatchObject({ name: 'MissingTaskBundleError', task: 'worker-task' });
  });

  it('stops the task of an execution stopped through the API, and ends it ABORTED', async () => {
    await upload('imports/slow-1.csv');
    await report.waitFor('log', (event) => event.line.includes('"key":"imports/slow-1.csv"'));
    const started = report.ofType('task-started').at(-1);
    const execution = report.ofType('execution-started').at(-1);
    await sfn.send(new StopExecutionCommand({ executionArn: execution?.executionArn, error: 'ByHand' }));
    const stopped = await report.waitFor('task-stopped', (event) => event.taskArn === started?.taskArn);
    expect(stopped).toMatchObject({ exitCode: 143, stoppedReason: 'Task stopped by user' });
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn: execution?.executionArn }));
    expect(described).toMatchObject({ status: 'ABORTED', error: 'ByHand' });
  }, 30_000);

  it('stops a running task with SIGTERM when the cloud stops', async () => {
    await upload('imports/slow-2.csv');
    await report.waitFor('log', (event) => event.line.includes('"key":"imports/slow-2.csv"'));
    const started = report.ofType('task-started').at(-1);
    await cloud.stop();
    const stopped = await report.waitFor('task-stopped', (event) => event.taskArn === started?.taskArn);
    expect(stopped.exitCode).toBe(143);
    expect(report.ofType('log').filter((event) => event.line === 'SIGTERM received')).toHaveLength(2);
    const finished = await report.waitFor(
      'execution-finished',
      (event) => event.status === 'ABORTED' && event.error !== 'ByHand',
    );
    expect(finished.error).toBe('LocalCloudStopped');
  }, 30_000);
});
