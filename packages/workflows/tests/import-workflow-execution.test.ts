import { describe, expect, it } from '@jest/globals';
import { ExecutionError } from 'aws-local-stepfunctions';
import { type ImportWorkflowProps, importWorkflow } from '../src/index.ts';
import { lambdaError, lambdaServiceError } from './status-updater-fake.ts';
import { localWiring, WorkflowCloud, type WorkflowCloudOptions, workflowExecutor } from './workflow-cloud.ts';
import { environmentOf, namedError, type RunTaskInput, stoppedTask } from './workflow-run.ts';

const props: ImportWorkflowProps = { ...localWiring, notifyAddress: 'ops@example.com' };
const run = workflowExecutor('import', importWorkflow(props));

/** The EventBridge event S3 sends for an upload (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html). */
function objectCreated(key: string, options: { versionId?: string; etag?: string } = {}) {
  return {
    version: '0',
    id: '17793124-05d4-b198-2fde-7ededc63b103',
    'detail-type': 'Object Created',
    source: 'aws.s3',
    account: '000000000000',
    time: '2026-11-24T09:00:00Z',
    region: 'us-east-1',
    resources: ['arn:aws:s3:::sidestep-local-imports'],
    detail: {
      version: '0',
      bucket: { name: 'sidestep-local-imports' },
      object: {
        key,
        size: 48_213,
        etag: options.etag ?? 'b1946ac92492d2347c6235b4d2611184',
        ...(options.versionId ? { 'version-id': options.versionId } : {}),
        sequencer: '00617F08299329D189',
      },
      'request-id': 'N4N7GDK58NMKJ12R',
      requester: '000000000000',
      'source-ip-address': '127.0.0.1',
      reason: 'PutObject',
    },
  };
}

/** A cloud whose worker imports 1000 of 1002 rows, unless `options` says otherwise. */
function cloud(options: Partial<WorkflowCloudOptions> = {}): WorkflowCloud {
  return new WorkflowCloud({
    worker: (jobId, status) =>
      status.recordWorker(jobId, { rows: { total: 1002, imported: 1000, rejected: 2 } }),
    ...options,
  });
}

/** Runs one execution against the fakes; resolves with its outcome and its event log. */
function execute(input: unknown, env: WorkflowCloud) {
  return run(input, env.handlers({ batchTask: 'ImportRows', mails: ['NotifyCompleted', 'NotifyFailed'] }));
}

describe('import workflow execution (aws-local-stepfunctions)', () => {
  it('registers, starts, imports, finishes and queues an import.completed mail', async () => {
    const env = cloud();
    const run = await execute(objectCreated('imports/2026/users.csv'), env);

    expect(run.failure).toBeUndefined();
    expect(run.statesEntered).toEqual([
      'ReadUpload',
      'ReadUnversionedUpload',
      'RegisterJob',
      'CheckDuplicate',
      'StartJob',
      'ImportRows',
      'FinishJob',
      'ComposeCompletedMail',
      'NotifyCompleted',
      'Imported',
    ]);
    const [job] = env.status.jobs.values();
    expect(job?.state).toBe('succeeded');
    const executionId = 'arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:exec-1';
    expect(env.status.calls).toEqual([
      {
        event: 'register',
        kind: 'import',
        expectedState: 'registered',
        executionId,
        source: {
          bucket: 'sidestep-local-imports',
          key: 'imports/2026/users.csv',
          etag: 'b1946ac92492d2347c6235b4d2611184',
          size: 48_213,
        },
      },
      { event: 'start', jobId: job?.id, expectedState: 'running', executionId },
      { event: 'finish', jobId: job?.id, expectedState: 'succeeded', executionId },
    ]);

    expect(env.tasks).toHaveLength(1);
    const [task] = env.tasks;
    expect(task).toMatchObject({
      Cluster: props.batchWorker.clusterArn,
      TaskDefinition: props.batchWorker.taskDefinitionArn,
      LaunchType: 'FARGATE',
      NetworkConfiguration: {
        AwsvpcConfiguration: {
          Subnets: ['subnet-0123'],
          SecurityGroups: ['sg-0123'],
          AssignPublicIp: 'DISABLED',
        },
      },
    });
    expect(task?.Overrides.ContainerOverrides[0]?.Name).toBe('batch-worker');
    expect(environmentOf(task as RunTaskInput)).toEqual({
      MODE: 'import',
      JOB_ID: job?.id,
      SOURCE_BUCKET: 'sidestep-local-imports',
      SOURCE_KEY: 'imports/2026/users.csv',
      SOURCE_VERSION_ID: '',
      SOURCE_ETAG: 'b1946ac92492d2347c6235b4d2611184',
    });

    const [mail] = env.mailJobs();
    expect(env.mails).toHaveLength(1);
    expect(mail).toEqual({
      type: 'mail.send',
      version: 1,
      id: `import.completed:${job?.id}`,
      payload: {
        template: 'import.completed',
        to: 'ops@example.com',
        locale: 'en',
        jobId: job?.id,
        idempotencyKey: `import.completed:${job?.id}`,
        params: { jobId: job?.id, fileName: 'users.csv', rows: 1000, rejectedRows: 2, rejectedSamples: [] },
      },
    });
  });

  it('tells in the completion mail how many rows were rejected and which, with their lines and reasons', async () => {
    const env = cloud({
      worker: (jobId, status) =>
        status.recordWorker(jobId, {
          rows: { total: 300, imported: 299, rejected: 1 },
          rowErrors: [{ line: 152, field: 'email', message: 'not a valid email address' }],
        }),
    });
    const run = await execute(objectCreated('imports/users.csv'), env);

    expect(run.failure).toBeUndefined();
    const [mail] = env.mailJobs();
    expect(mail?.payload).toMatchObject({
      template: 'import.completed',
      params: {
        rows: 299,
        rejectedRows: 1,
        rejectedSamples: [{ line: 152, field: 'email', reason: 'not a valid email address' }],
      },
    });
  });

  it('identifies a versioned object by its version id, for the job and the worker', async () => {
    const env = cloud();
    const run = await execute(
      objectCreated('imports/users.csv', { versionId: 'IYV3p45BT0ac8hjHg1houSdS1a.Mro8e' }),
      env,
    );

    expect(run.failure).toBeUndefined();
    expect(run.statesEntered).toContain('ReadVersionedUpload');
    expect(env.status.calls[0]).toMatchObject({ source: { versionId: 'IYV3p45BT0ac8hjHg1houSdS1a.Mro8e' } });
    expect(environmentOf(env.tasks[0] as RunTaskInput).SOURCE_VERSION_ID).toBe(
      'IYV3p45BT0ac8hjHg1houSdS1a.Mro8e',
    );
  });

  it('ends a second execution for the same object early and successfully, importing nothing', async () => {
    const env = cloud();
    const event = objectCreated('imports/users.csv');
    const first = await execute(event, env);
    const second = await execute(event, env);

    expect(first.failure).toBeUndefined();
    expect(second.failure).toBeUndefined();
    expect(second.statesEntered).toEqual([
      'ReadUpload',
      'ReadUnversionedUpload',
      'RegisterJob',
      'CheckDuplicate',
      'AlreadyRegistered',
    ]);
    expect(env.status.jobs.size).toBe(1);
    expect(env.tasks).toHaveLength(1);
    expect(env.mails).toHaveLength(1);
  });

  it('imports a new version of the same key as a new job', async () => {
    const env = cloud();
    await execute(objectCreated('imports/users.csv', { etag: 'aaaa' }), env);
    const second = await execute(objectCreated('imports/users.csv', { etag: 'bbbb' }), env);

    expect(second.statesEntered).toContain('Imported');
    expect(env.status.jobs.size).toBe(2);
    expect(env.tasks).toHaveLength(2);
  });

  it('marks the job failed with the worker reason, queues import.failed and ends FAILED when the task fails', async () => {
    const reason = 'line 1: missing required column email (header: external_id,name)';
    const env = cloud({ worker: WorkflowCloud.failingWorker(reason) });
    const run = await execute(objectCreated('imports/bad-header.csv'), env);

    expect(run.failure).toBeInstanceOf(ExecutionError);
    expect(run.end).toMatchObject({ type: 'ExecutionFailed', Error: 'States.TaskFailed', Cause: reason });
    expect(run.statesEntered.slice(-4)).toEqual([
      'MarkFailed',
      'ComposeFailedMail',
      'NotifyFailed',
      'ImportFailed',
    ]);
    const [job] = env.status.jobs.values();
    expect(job?.state).toBe('failed');
    // The task ran once: a stopped task is not a transient error.
    expect(env.tasks).toHaveLength(1);
    const fail = env.status.calls.find((call) => call.event === 'fail');
    expect(fail).toMatchObject({ error: { Error: 'States.TaskFailed' } });
    expect(JSON.parse((fail as { error: { Cause: string } }).error.Cause)).toMatchObject({
      Containers: [{ Name: 'batch-worker', ExitCode: 1 }],
    });
    expect(env.status.eventsOf(job?.id ?? '')).not.toContain('finish');

    expect(env.mailJobs()).toEqual([
      {
        type: 'mail.send',
        version: 1,
        id: `import.failed:${job?.id}`,
        payload: {
          template: 'import.failed',
          to: 'ops@example.com',
          locale: 'en',
          jobId: job?.id,
          idempotencyKey: `import.failed:${job?.id}`,
          params: { jobId: job?.id, fileName: 'bad-header.csv', reason },
        },
      },
    ]);
  });

  it('fails the import when the worker exits 0 without recording row counts', async () => {
    const env = cloud({ worker: () => undefined });
    const run = await execute(objectCreated('imports/users.csv'), env);

    const [job] = env.status.jobs.values();
    expect(env.status.eventsOf(job?.id ?? '')).toEqual(['start', 'finish', 'fail']);
    expect(job?.state).toBe('failed');
    expect(run.end).toMatchObject({ type: 'ExecutionFailed', Error: 'RowCountsMissingError' });
    expect(env.mailJobs().map((mail) => mail.payload.template)).toEqual(['import.failed']);
  });

  it('does not retry an InvalidTransitionError and takes the failure path with its Lambda cause', async () => {
    const env = cloud();
    env.status.failNext.start = [
      lambdaError('InvalidTransitionError', 'event: cannot start job in state failed'),
    ];
    const run = await execute(objectCreated('imports/users.csv'), env);

    const [job] = env.status.jobs.values();
    expect(env.status.eventsOf(job?.id ?? '')).toEqual(['start', 'fail']);
    expect(run.events.some((event) => event.type === 'StateRetried')).toBe(false);
    expect(env.tasks).toHaveLength(0);
    expect(run.end).toMatchObject({
      type: 'ExecutionFailed',
      Error: 'InvalidTransitionError',
      // The reason the status-updater records for a Lambda error: `<errorType>: <errorMessage>`.
      Cause: 'InvalidTransitionError: event: cannot start job in state failed',
    });
    const fail = env.status.calls.find((call) => call.event === 'fail') as {
      error: { Error: string; Cause: string };
    };
    expect(fail.error.Error).toBe('InvalidTransitionError');
    expect(JSON.parse(fail.error.Cause)).toMatchObject({ errorType: 'InvalidTransitionError' });
    expect(env.mailJobs().map((mail) => mail.payload.template)).toEqual(['import.failed']);
  });

  it('does not retry an UnexpectedStateError', async () => {
    const env = cloud();
    env.status.failNext.finish = [lambdaError('UnexpectedStateError', 'expectedState: job would be failed')];
    const run = await execute(objectCreated('imports/users.csv'), env);

    const [job] = env.status.jobs.values();
    expect(env.status.eventsOf(job?.id ?? '').filter((event) => event === 'finish')).toHaveLength(1);
    expect(run.end).toMatchObject({ type: 'ExecutionFailed', Error: 'UnexpectedStateError' });
  });

  it.each([
    {
      name: 'retries transient Lambda and ledger errors and then succeeds',
      start: [
        lambdaServiceError('Lambda.ServiceException'),
        lambdaServiceError('Lambda.TooManyRequestsException'),
      ],
      finish: [lambdaError('JobLedgerUnavailableError', 'the job ledger is unavailable: ECONNRESET')],
      events: ['start', 'start', 'start', 'finish', 'finish'],
      retried: ['StartJob', 'StartJob', 'FinishJob'],
    },
    {
      name: 'retries a step the Lambda service timed out or throttled once, then succeeds',
      start: [lambdaServiceError('Lambda.TooManyRequestsException')],
      finish: [lambdaServiceError('Sandbox.Timedout'), lambdaServiceError('Lambda.Unknown')],
      events: ['start', 'start', 'finish', 'finish', 'finish'],
      retried: ['StartJob', 'FinishJob', 'FinishJob'],
    },
  ])('$name', async ({ start, finish, events, retried }) => {
    const env = cloud();
    env.status.failNext.start = start;
    env.status.failNext.finish = finish;
    const run = await execute(objectCreated('imports/users.csv'), env);

    expect(run.failure).toBeUndefined();
    const [job] = env.status.jobs.values();
    expect(job?.state).toBe('succeeded');
    expect(env.status.eventsOf(job?.id ?? '')).toEqual(events);
    expect(run.events.flatMap((event) => (event.type === 'StateRetried' ? [event.state.name] : []))).toEqual(
      retried,
    );
    expect(env.mailJobs().map((mail) => mail.payload.template)).toEqual(['import.completed']);
  });

  it('gives up on a transient error after its attempts and fails the job', async () => {
    const env = cloud();
    env.status.failNext.start = Array.from({ length: 7 }, () =>
      lambdaServiceError('Lambda.ServiceException'),
    );
    const run = await execute(objectCreated('imports/users.csv'), env);

    const [job] = env.status.jobs.values();
    // One attempt and six retries.
    expect(env.status.eventsOf(job?.id ?? '').filter((event) => event === 'start')).toHaveLength(7);
    expect(job?.state).toBe('failed');
    expect(run.end).toMatchObject({ type: 'ExecutionFailed', Error: 'Lambda.ServiceException' });
  });

  it('ends FAILED without a job or mail when registering fails, without retrying an invalid input', async () => {
    const env = cloud();
    env.status.failNext.register = [
      lambdaError('InvalidInputError', 'invalid status update input: source.key: required'),
    ];
    const run = await execute(objectCreated('imports/users.csv'), env);

    expect(run.failure).toBeInstanceOf(ExecutionError);
    expect(run.statesEntered.at(-1)).toBe('RegistrationFailed');
    expect(run.end).toMatchObject({ type: 'ExecutionFailed', Error: 'InvalidInputError' });
    expect(JSON.parse((run.end as { Cause: string }).Cause)).toMatchObject({
      errorType: 'InvalidInputError',
    });
    expect(env.status.calls.map((call) => call.event)).toEqual(['register']);
    expect(env.status.jobs.size).toBe(0);
    expect(env.tasks).toHaveLength(0);
    expect(env.mails).toHaveLength(0);
  });

  it('retries an ECS API error while starting the task, then imports', async () => {
    let attempts = 0;
    const env = cloud({
      worker: (jobId, status) => {
        attempts += 1;
        if (attempts === 1) throw namedError('ECS.AmazonECSException', 'No Container Instances were found');
        status.recordWorker(jobId, { rows: { total: 5, imported: 5, rejected: 0 } });
      },
    });
    const run = await execute(objectCreated('imports/users.csv'), env);

    expect(run.failure).toBeUndefined();
    expect(env.tasks).toHaveLength(2);
    expect(env.mailJobs().map((mail) => mail.payload.params)).toEqual([
      { jobId: 'imp_0001', fileName: 'users.csv', rows: 5, rejectedRows: 0, rejectedSamples: [] },
    ]);
  });

  it('fails the import, without retrying, when the task runs past its timeout', async () => {
    const env = cloud({
      worker: () => {
        throw namedError('States.Timeout', 'Task timed out after 3600 seconds');
      },
    });
    const run = await execute(objectCreated('imports/users.csv'), env);

    expect(env.tasks).toHaveLength(1);
    expect([...env.status.jobs.values()][0]?.state).toBe('failed');
    expect(run.end).toMatchObject({ type: 'ExecutionFailed', Error: 'States.Timeout' });
    expect(env.mailJobs().map((mail) => mail.payload.template)).toEqual(['import.failed']);
  });

  it('fails an event that does not describe an S3 object before registering anything', async () => {
    const env = cloud();
    const run = await execute(
      { source: 'aws.s3', detail: { bucket: { name: 'sidestep-local-imports' } } },
      env,
    );

    expect(run.failure).toBeInstanceOf(ExecutionError);
    expect(run.end).toMatchObject({ type: 'ExecutionFailed', Error: 'States.Runtime' });
    expect(env.status.calls).toHaveLength(0);
  });

  it('retries a throttled mail send', async () => {
    const env = cloud({ sendMailErrors: [namedError('SQS.RequestThrottledException', 'Rate exceeded')] });
    const run = await execute(objectCreated('imports/users.csv'), env);

    expect(run.failure).toBeUndefined();
    expect(env.mails).toHaveLength(1);
  });

  it('keeps a succeeded job succeeded when its completion mail cannot be queued', async () => {
    const env = cloud({
      sendMailErrors: [namedError('SQS.QueueDoesNotExistException', 'The specified queue does not exist')],
    });
    const run = await execute(objectCreated('imports/users.csv'), env);

    const [job] = env.status.jobs.values();
    expect(job?.state).toBe('succeeded');
    expect(env.status.eventsOf(job?.id ?? '')).not.toContain('fail');
    expect(run.events.some((event) => event.type === 'StateRetried')).toBe(false);
    expect(run.statesEntered.at(-1)).toBe('CompletedMailNotSent');
    expect(run.end).toMatchObject({ type: 'ExecutionFailed', Error: 'SQS.QueueDoesNotExistException' });
  });

  it('ends FAILED with the import error even when the failure mail cannot be queued', async () => {
    const env = cloud({
      worker: () => {
        throw stoppedTask(137);
      },
      sendMailErrors: [namedError('SQS.QueueDoesNotExistException', 'The specified queue does not exist')],
    });
    const run = await execute(objectCreated('imports/users.csv'), env);

    const [job] = env.status.jobs.values();
    expect(job?.state).toBe('failed');
    expect(run.statesEntered.slice(-2)).toEqual(['NotifyFailed', 'ImportFailed']);
    expect(run.end).toMatchObject({
      type: 'ExecutionFailed',
      Error: 'States.TaskFailed',
      Cause: job?.reason,
    });
  });
});
