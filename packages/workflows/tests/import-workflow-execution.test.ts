import { describe, expect, it } from '@jest/globals';
import { MAIL_NOT_QUEUED_ERROR, type MailSendJob, TRANSIENT_FAILURE_EXIT_CODE } from '@sidestep/contracts';
import { failureMail, failureReason } from '@sidestep/jobs';
import { ExecutionError } from 'aws-local-stepfunctions';
import {
  MAX_TRANSIENT_RERUNS,
  TRANSIENT_BACKOFF_SECONDS,
  TRANSIENT_FAILURE_ERROR,
} from '../src/batch-task.ts';
import {
  ECS_CAPACITY_RETRY,
  ECS_CAPACITY_WAIT_SECONDS,
  FARGATE_VCPU_LIMIT_REASON,
  type ImportWorkflowProps,
  importWorkflow,
  retryWaitSeconds,
} from '../src/index.ts';
import { lambdaError, lambdaServiceError } from './status-updater-fake.ts';
import {
  localWiring,
  type Worker,
  WorkflowCloud,
  type WorkflowCloudOptions,
  workflowExecutor,
} from './workflow-cloud.ts';
import {
  type EventLog,
  environmentOf,
  namedError,
  type RunTaskInput,
  stoppedTask,
  unsentMail,
} from './workflow-run.ts';

/** What ImportRowsTransientWait reads: the rerun's number, its backoff and its jittered wait. */
interface ConflictReruns {
  readonly count: number;
  readonly backoffSeconds: number;
  readonly waitSeconds: number;
}

const props: ImportWorkflowProps = { ...localWiring, notifyAddress: 'ops@example.com' };
const run = workflowExecutor('import', importWorkflow(props));

/** The EventBridge event S3 sends for an upload (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html). */
function objectCreated(key: string, options: { versionId?: string; etag?: string; sequencer?: string } = {}) {
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
        sequencer: options.sequencer ?? '00617F08299329D189',
      },
      'request-id': 'N4N7GDK58NMKJ12R',
      requester: '000000000000',
      'source-ip-address': '127.0.0.1',
      reason: 'PutObject',
    },
  };
}

/** A cloud whose worker imports 1000 of 1002 rows (12 users new or changed), unless `options` says otherwise. */
function cloud(options: Partial<WorkflowCloudOptions> = {}): WorkflowCloud {
  return new WorkflowCloud({
    worker: (jobId, status) =>
      status.recordWorker(jobId, { rows: { total: 1002, imported: 1000, rejected: 2, written: 12 } }),
    ...options,
  });
}

/** Runs one execution against the fakes; resolves with its outcome and its event log. */
/** The `import.failed` mail the workflow queues for job `jobId` to the notify address, in English. */
function importFailedMail(jobId: string | undefined, fileName: string, reason: string) {
  return {
    type: 'mail.send',
    version: 1,
    id: `import.failed:${jobId}`,
    payload: {
      template: 'import.failed',
      to: 'ops@example.com',
      locale: 'en',
      jobId,
      idempotencyKey: `import.failed:${jobId}`,
      params: { jobId, fileName, reason },
    },
  };
}

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
        // The notify locale ('en' unless set), kept on the job for the sweeper's failure mail.
        locale: 'en',
        source: {
          bucket: 'sidestep-local-imports',
          key: 'imports/2026/users.csv',
          etag: 'b1946ac92492d2347c6235b4d2611184',
          size: 48_213,
          sequencer: '00617F08299329D189',
        },
      },
      // The default 1-hour task's: every run the workflow may make, and the waits between.
      { event: 'start', jobId: job?.id, expectedState: 'running', executionId, deadlineSeconds: 56_660 },
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
      // The execution's ARN ($$.Execution.Id), on every log line of the task.
      EXECUTION_ID: executionId,
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
        params: {
          jobId: job?.id,
          fileName: 'users.csv',
          rows: 1000,
          usersWritten: 12,
          rejectedRows: 2,
          rejectedSamples: [],
        },
      },
    });
  });

  it('tells in the completion mail how many rows were rejected and which, with their lines and reasons', async () => {
    const env = cloud({
      worker: (jobId, status) =>
        status.recordWorker(jobId, {
          rows: { total: 300, imported: 299, rejected: 1, written: 299 },
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
    // Every write of a key gets a greater sequencer.
    await execute(objectCreated('imports/users.csv', { etag: 'aaaa', sequencer: '0062A1B2C3D4E5F601' }), env);
    const second = await execute(
      objectCreated('imports/users.csv', { etag: 'bbbb', sequencer: '0062A1B2C3D4E5F602' }),
      env,
    );

    expect(second.statesEntered).toContain('Imported');
    expect(env.status.jobs.size).toBe(2);
    expect(env.tasks).toHaveLength(2);
  });

  it('imports a re-upload of the same bytes to the same key (a new PUT, a new sequencer) as a new job', async () => {
    const env = cloud();
    await execute(objectCreated('imports/users.csv', { sequencer: '0062A1B2C3D4E5F601' }), env);
    const again = await execute(objectCreated('imports/users.csv', { sequencer: '0062A1B2C3D4E5F602' }), env);

    expect(again.statesEntered.at(-1)).toBe('Imported');
    expect(env.status.jobs.size).toBe(2);
    expect(env.mailJobs().map((mail) => mail.payload.template)).toEqual([
      'import.completed',
      'import.completed',
    ]);
  });

  it('ends a run of the same event as a failed job FAILED, naming the job, its state and how to retry', async () => {
    const env = cloud({ worker: WorkflowCloud.failingWorker('line 1: missing required column email') });
    const event = objectCreated('imports/users.csv');
    await execute(event, env);
    const again = await execute(event, env);

    const [job] = env.status.jobs.values();
    expect(again.statesEntered.slice(-3)).toEqual([
      'CheckDuplicate',
      'DescribeFailedDuplicate',
      'AlreadyFailed',
    ]);
    expect(again.end).toMatchObject({ type: 'ExecutionFailed', Error: 'DuplicateOfFailedJobError' });
    const cause = (again.end as { Cause: string }).Cause;
    expect(cause).toContain(`job ${job?.id}`);
    expect(cause).toContain('failed: line 1: missing required column email');
    expect(cause).toContain('upload the file again');
    expect(env.tasks).toHaveLength(1);
    expect(env.mailJobs().map((mail) => mail.payload.template)).toEqual(['import.failed']);
  });

  it('marks the job failed with the worker reason, queues import.failed and ends FAILED when the task fails', async () => {
    const reason = 'line 1: missing required column email (header: external_id,name)';
    const env = cloud({ worker: WorkflowCloud.failingWorker(reason) });
    const run = await execute(objectCreated('imports/bad-header.csv'), env);

    expect(run.failure).toBeInstanceOf(ExecutionError);
    expect(run.end).toMatchObject({ type: 'ExecutionFailed', Error: 'States.TaskFailed', Cause: reason });
    expect(run.statesEntered.slice(-5)).toEqual([
      'MarkFailed',
      'CheckFailure',
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

    expect(env.mailJobs()).toEqual([importFailedMail(job?.id, 'bad-header.csv', reason)]);
  });

  it('queues import.completed and import.failed in the notify locale, English when none is set', async () => {
    const japanese = workflowExecutor('import', importWorkflow({ ...props, notifyLocale: 'ja' }));
    const completed = cloud();
    await japanese(
      objectCreated('imports/users.csv'),
      completed.handlers({ batchTask: 'ImportRows', mails: ['NotifyCompleted', 'NotifyFailed'] }),
    );
    const failed = cloud({ worker: WorkflowCloud.failingWorker('line 1: missing required column email') });
    await japanese(
      objectCreated('imports/bad-header.csv'),
      failed.handlers({ batchTask: 'ImportRows', mails: ['NotifyCompleted', 'NotifyFailed'] }),
    );
    // The envelope as queued, not as the contract's default fills it in.
    const queued = [...completed.mails, ...failed.mails].map(
      (body) => (JSON.parse(body) as { payload: { template: string; locale?: string } }).payload,
    );
    expect(queued.map(({ template, locale }) => [template, locale])).toEqual([
      ['import.completed', 'ja'],
      ['import.failed', 'ja'],
    ]);

    const english = cloud();
    await execute(objectCreated('imports/users.csv'), english);
    expect(
      english.mails.map((body) => (JSON.parse(body) as { payload: { locale?: string } }).payload.locale),
    ).toEqual(['en']);
  });

  it("registers the job in the notify locale, so the job-sweeper's and job fail's failure mail is the payload the workflow queues under the same key", async () => {
    const japanese = workflowExecutor('import', importWorkflow({ ...props, notifyLocale: 'ja' }));
    const env = cloud({ worker: WorkflowCloud.failingWorker('line 1: missing required column email') });
    await japanese(
      objectCreated('imports/bad-header.csv'),
      env.handlers({ batchTask: 'ImportRows', mails: ['NotifyCompleted', 'NotifyFailed'] }),
    );
    const register = env.status.calls[0] as { event: string; locale?: string };
    const [queued] = env.mails.map((body) => JSON.parse(body) as MailSendJob);
    if (!queued) throw new Error('no failure mail queued');
    const params = queued.payload.params as { fileName: string; reason: string };
    const swept = failureMail(
      {
        jobId: queued.payload.jobId as string,
        kind: 'import',
        attempt: 1,
        fileName: params.fileName,
        requestedBy: null,
        reason: params.reason,
        locale: register.locale ?? null,
      },
      props.notifyAddress,
    );
    expect(register).toMatchObject({ event: 'register', locale: 'ja' });
    // The mail-dispatcher's payload check (payloadValidationJmesPath job.payload) compares these.
    expect(swept.payload).toEqual(queued.payload);
  });

  it("ends at FailureNotRecorded with the task's failure as the execution's Error and Cause when MarkFailed cannot reach the ledger", async () => {
    // What the workflow-ended rule hands the job-sweeper is the execution's Error and Cause
    // (https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html): it must
    // say why the import failed, not that the ledger was down while recording it.
    const env = cloud({ worker: WorkflowCloud.failingWorker('line 1: the header has no email column') });
    env.status.failNext.fail = Array.from({ length: 20 }, () =>
      lambdaError('JobLedgerUnavailableError', 'the job ledger is unavailable: connect ETIMEDOUT'),
    );
    const run = await execute(objectCreated('imports/users.csv'), env);

    expect(run.statesEntered.slice(-2)).toEqual(['MarkFailed', 'FailureNotRecorded']);
    expect(run.end).toMatchObject({ type: 'ExecutionFailed', Error: 'States.TaskFailed' });
    const { Error: error, Cause: cause } = run.end as { Error: string; Cause: string };
    expect(JSON.parse(cause)).toMatchObject({ Containers: [{ Name: 'batch-worker', ExitCode: 1 }] });
    // The reason the job-sweeper derives from them (when the job has no worker_error) is the task's.
    expect(failureReason(null, { Error: error, Cause: cause })).toBe(
      'States.TaskFailed: batch-worker exited with code 1; Essential container in task exited',
    );
    // The ledger error stays in the Fail state's input, visible in the execution's history.
    const failEntered = run.events.find(
      (event) => event.type === 'StateEntered' && event.state.name === 'FailureNotRecorded',
    ) as { state: { input: { statusError?: { Error: string; Cause: string } } } } | undefined;
    expect(failEntered?.state.input.statusError?.Error).toBe('JobLedgerUnavailableError');
    expect(failEntered?.state.input.statusError?.Cause).toContain('connect ETIMEDOUT');
    const [job] = env.status.jobs.values();
    expect(job?.state).toBe('running');
    expect(env.mails).toHaveLength(0);
  });

  it('reports an import whose task crashed after its commit as completed, with one completed mail', async () => {
    const env = cloud({
      worker: (jobId, status) => {
        // The rows and the job's `succeeded` commit together; then the task is SIGKILLed.
        status.completeByWorker(jobId, { total: 4, imported: 4, rejected: 0, written: 4 });
        throw stoppedTask(137);
      },
    });
    const run = await execute(objectCreated('imports/users.csv'), env);

    expect(run.failure).toBeUndefined();
    const [job] = env.status.jobs.values();
    expect(job?.state).toBe('succeeded');
    expect(run.statesEntered.slice(-6)).toEqual([
      'MarkFailed',
      'CheckFailure',
      'ReadCommittedImport',
      'ComposeCompletedMail',
      'NotifyCompleted',
      'Imported',
    ]);
    expect(env.mailJobs().map((mail) => [mail.payload.template, mail.payload.params])).toEqual([
      [
        'import.completed',
        {
          jobId: job?.id,
          fileName: 'users.csv',
          rows: 4,
          usersWritten: 4,
          rejectedRows: 0,
          rejectedSamples: [],
        },
      ],
    ]);
  });

  it('reports an import as completed when FinishJob keeps failing after the worker committed', async () => {
    const env = cloud({
      worker: (jobId, status) =>
        status.completeByWorker(jobId, { total: 2, imported: 1, rejected: 1, written: 1 }),
    });
    env.status.failNext.finish = Array.from({ length: 7 }, () => lambdaServiceError('Sandbox.Timedout'));
    const run = await execute(objectCreated('imports/users.csv'), env);

    expect(run.failure).toBeUndefined();
    expect([...env.status.jobs.values()][0]?.state).toBe('succeeded');
    expect(run.statesEntered.at(-1)).toBe('Imported');
    expect(env.mailJobs().map((mail) => mail.payload.template)).toEqual(['import.completed']);
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

  /** A worker whose first `times` tasks fail to start with `error`; the next imports 5 rows. */
  const failingToStart = (error: Error, times = 1): Worker => {
    let attempts = 0;
    return (jobId, status) => {
      attempts += 1;
      if (attempts <= times) throw error;
      status.recordWorker(jobId, { rows: { total: 5, imported: 5, rejected: 0, written: 5 } });
    };
  };

  it('retries a RunTask that started no task (its Failures, AmazonECS.Unknown: Spot capacity), then imports', async () => {
    const env = cloud({
      worker: failingToStart(
        namedError('AmazonECS.Unknown', 'Capacity is unavailable at this time. Please try again later.'),
      ),
    });
    const run = await execute(objectCreated('imports/users.csv'), env);

    expect(run.failure).toBeUndefined();
    expect(env.tasks).toHaveLength(2);
    expect(env.mailJobs().map((mail) => mail.payload.template)).toEqual(['import.completed']);
  });

  // A new account's Fargate vCPU quota may fit one or two batch tasks: RunTask then answers 200 with
  // a `Failures` entry and starts nothing ("You've reached the limit on the number of vCPUs you can
  // run concurrently", https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-event-messages-list.html),
  // `AmazonECS.Unknown` to Step Functions. The import waits for a running task to end, up to an hour.
  /** What `ecs:runTask.sync` fails a RunTask that started no task with: RunTask's answer as the Cause. */
  const quotaFull = () =>
    namedError(
      'AmazonECS.Unknown',
      JSON.stringify({
        Failures: [
          {
            Arn: 'arn:aws:ecs:us-east-1:000000000000:task-definition/sidestep-local-batch-worker:1',
            Reason: FARGATE_VCPU_LIMIT_REASON,
          },
        ],
        Tasks: [],
      }),
    );

  it('waits for room under the Fargate vCPU quota (AmazonECS.Unknown) for half an hour, then imports', async () => {
    const env = cloud({
      worker: failingToStart(
        quotaFull(),
        // The first start and 35 retries, about 33 minutes of waits (10, 20, 40, then a minute each).
        35,
      ),
    });
    const run = await execute(objectCreated('imports/users.csv'), env);

    expect(run.failure).toBeUndefined();
    expect(env.tasks).toHaveLength(36);
    expect([...env.status.jobs.values()][0]?.state).toBe('succeeded');
    expect(env.mailJobs().map((mail) => mail.payload.template)).toEqual(['import.completed']);
  });

  it('fails the job when the vCPU quota stays full for an hour, the refusal kept as its reason', async () => {
    const refusal = quotaFull();
    const env = cloud({ worker: failingToStart(refusal, 1000) });
    const run = await execute(objectCreated('imports/users.csv'), env);

    expect(run.failure).toBeInstanceOf(ExecutionError);
    // The first start and every retry of the capacity wait, then no more: 10, 20, 40 s, then 59
    // minutes of a minute each, 1 h 10 s in all.
    expect(env.tasks).toHaveLength(1 + 62);
    expect(ECS_CAPACITY_RETRY).toMatchObject({ IntervalSeconds: 10, MaxAttempts: 62, MaxDelaySeconds: 60 });
    expect(retryWaitSeconds(ECS_CAPACITY_RETRY)).toBe(3610);
    expect(ECS_CAPACITY_WAIT_SECONDS).toBe(3600);
    expect([...env.status.jobs.values()][0]?.state).toBe('failed');
    expect(env.status.calls.find((call) => call.event === 'fail')).toMatchObject({
      error: { Error: 'AmazonECS.Unknown', Cause: refusal.message },
    });
    // What the job's failure mail says (the status-updater's reason): ECS's words.
    expect(failureReason(null, { Error: 'AmazonECS.Unknown', Cause: refusal.message })).toBe(
      `AmazonECS.Unknown: ECS started no task: ${FARGATE_VCPU_LIMIT_REASON}`,
    );
    expect(env.mailJobs().map((mail) => mail.payload.template)).toEqual(['import.failed']);
  });

  it('retries an ECS API error while starting the task, then imports', async () => {
    const env = cloud({
      worker: failingToStart(namedError('ECS.AmazonECSException', 'No Container Instances were found')),
    });
    const run = await execute(objectCreated('imports/users.csv'), env);

    expect(run.failure).toBeUndefined();
    expect(env.tasks).toHaveLength(2);
    expect(env.mailJobs().map((mail) => mail.payload.params)).toEqual([
      {
        jobId: 'imp_0001',
        fileName: 'users.csv',
        rows: 5,
        usersWritten: 5,
        rejectedRows: 0,
        rejectedSamples: [],
      },
    ]);
  });

  // A burst of uploads starts as many tasks at once: Fargate takes 20 RunTask calls a second, burst
  // and sustained (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/throttling.html), and
  // a throttled call is `ECS.AmazonECSException` "Rate exceeded"; the retries outlast a burst of a
  // few hundred (each at most a minute apart, about five minutes in all). RunTask also makes EC2
  // calls for the task's network interface (awsvpc); when EC2 throttles them, ECS answers
  // InvalidParameterException naming the throttle, `ECS.InvalidParameterException` to Step Functions
  // (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/operating-at-scale-dealing-with-throttles.html,
  // "asynchronous throttling").
  it.each([
    {
      what: 'throttled seven times in a row',
      error: namedError(
        'ECS.AmazonECSException',
        'Rate exceeded (Service: AmazonECS; Status Code: 400; Error Code: ThrottlingException)',
      ),
      times: 7,
    },
    {
      what: 'whose network calls EC2 throttled (ECS.InvalidParameterException)',
      error: namedError(
        'ECS.InvalidParameterException',
        'Error retrieving security group information for [sg-0123]: Request limit exceeded. (ErrorCode: RequestLimitExceeded)',
      ),
      times: 1,
    },
  ])('retries a RunTask $what, then imports', async ({ error, times }) => {
    const env = cloud({ worker: failingToStart(error, times) });
    const run = await execute(objectCreated('imports/users.csv'), env);

    expect(run.failure).toBeUndefined();
    expect(env.tasks).toHaveLength(times + 1);
    expect([...env.status.jobs.values()][0]?.state).toBe('succeeded');
    expect(env.mailJobs().map((mail) => mail.payload.template)).toEqual(['import.completed']);
  });

  // A Retry cannot tell a throttled RunTask's InvalidParameterException from one that is wrong for
  // good: the wrong one fails the job after the retries, with ECS's words as its reason.
  it('fails the job after the start retries when RunTask keeps refusing, ECS’s cause kept', async () => {
    const cause = 'subnet-0bad does not exist (Service: AmazonECS; Error Code: InvalidParameterException)';
    const env = cloud({ worker: failingToStart(namedError('ECS.InvalidParameterException', cause), 100) });
    const run = await execute(objectCreated('imports/users.csv'), env);

    expect(run.failure).toBeInstanceOf(ExecutionError);
    // The first start and its 7 retries, then no more.
    expect(env.tasks).toHaveLength(8);
    const [job] = env.status.jobs.values();
    expect(job?.state).toBe('failed');
    expect(env.status.calls.find((call) => call.event === 'fail')).toMatchObject({
      error: { Error: 'ECS.InvalidParameterException', Cause: cause },
    });
    expect(env.mailJobs().map((mail) => mail.payload.template)).toEqual(['import.failed']);
  });

  it.each(['SpotInterruption', 'TerminationNotice', 'TaskFailedToStart'])(
    'runs the task again when ECS stopped it with %s, then imports',
    async (stopCode) => {
      let attempts = 0;
      const env = cloud({
        worker: (jobId, status) => {
          attempts += 1;
          if (attempts < 3) throw stoppedTask(143, stopCode);
          status.recordWorker(jobId, { rows: { total: 5, imported: 5, rejected: 0, written: 5 } });
        },
      });
      const run = await execute(objectCreated('imports/users.csv'), env);

      expect(run.failure).toBeUndefined();
      expect(env.tasks).toHaveLength(3);
      expect(run.statesEntered.filter((state) => state === 'ImportRowsStopped')).toHaveLength(2);
      expect([...env.status.jobs.values()][0]?.state).toBe('succeeded');
      expect(env.mailJobs().map((mail) => mail.payload.template)).toEqual(['import.completed']);
    },
  );

  it('fails the import after the task was interrupted on every run, with the last stop as the reason', async () => {
    const env = cloud({
      worker: () => {
        throw stoppedTask(143, 'SpotInterruption');
      },
    });
    const run = await execute(objectCreated('imports/users.csv'), env);

    // One run and three reruns.
    expect(env.tasks).toHaveLength(4);
    expect([...env.status.jobs.values()][0]?.state).toBe('failed');
    expect(run.end).toMatchObject({ type: 'ExecutionFailed', Error: 'States.TaskFailed' });
    expect(env.mailJobs().map((mail) => mail.payload.template)).toEqual(['import.failed']);
  });

  it('does not run the task again when an operator stopped it or its container failed', async () => {
    for (const stopCode of ['UserInitiated', 'EssentialContainerExited']) {
      const env = cloud({
        worker: () => {
          throw stoppedTask(1, stopCode);
        },
      });
      const run = await execute(objectCreated('imports/users.csv'), env);

      expect(env.tasks).toHaveLength(1);
      expect(run.end).toMatchObject({ type: 'ExecutionFailed', Error: 'States.TaskFailed' });
    }
  });

  /** The `$.transientReruns` each ImportRowsTransientWait was entered with: the rerun count and its wait. */
  const conflictWaits = (events: EventLog[]) =>
    events.flatMap((event) =>
      event.type === 'StateEntered' && event.state.name === 'ImportRowsTransientWait'
        ? [(event.state.input as unknown as { transientReruns: ConflictReruns }).transientReruns]
        : [],
    );
  const conflictReason =
    'PostgreSQL aborted the completing transaction on 5 attempts in a row (40P01: deadlock detected), a conflict with other writers of the same rows; nothing was imported and the staged records are kept for a rerun';

  it('runs the task again after a wait when it exited 75 (a database conflict outlasted its retries), then imports', async () => {
    let attempts = 0;
    const env = cloud({
      worker: (jobId, status) => {
        attempts += 1;
        if (attempts === 1) {
          status.recordWorker(jobId, { workerError: conflictReason });
          throw stoppedTask(TRANSIENT_FAILURE_EXIT_CODE);
        }
        status.recordWorker(jobId, { rows: { total: 5, imported: 5, rejected: 0, written: 5 } });
      },
    });
    const run = await execute(objectCreated('imports/users.csv'), env);

    expect(run.failure).toBeUndefined();
    expect(env.tasks).toHaveLength(2);
    expect(run.statesEntered.slice(5, 10)).toEqual([
      'ImportRows',
      'ImportRowsStopped',
      'ImportRowsFirstTransientRerun',
      'ImportRowsTransientWait',
      'ImportRows',
    ]);
    const [wait] = conflictWaits(run.events);
    expect(wait).toMatchObject({ count: 1, backoffSeconds: TRANSIENT_BACKOFF_SECONDS });
    expect(wait?.waitSeconds).toBeGreaterThanOrEqual(TRANSIENT_BACKOFF_SECONDS);
    // The local engine's States.MathRandom includes its end value: the wait is at most twice the
    // backoff (one run in CI drew exactly 60).
    expect(wait?.waitSeconds).toBeLessThanOrEqual(2 * TRANSIENT_BACKOFF_SECONDS);
    expect([...env.status.jobs.values()][0]?.state).toBe('succeeded');
    expect(env.mailJobs().map((mail) => mail.payload.template)).toEqual(['import.completed']);
  });

  it('fails the job as a transient failure, with the worker reason, when the task exited 75 on every rerun', async () => {
    const env = cloud({
      worker: (jobId, status) => {
        status.recordWorker(jobId, { workerError: conflictReason });
        throw stoppedTask(TRANSIENT_FAILURE_EXIT_CODE);
      },
    });
    const run = await execute(objectCreated('imports/users.csv'), env);

    // One run and MAX_TRANSIENT_RERUNS reruns, each after a longer wait.
    expect(MAX_TRANSIENT_RERUNS).toBe(3);
    expect(env.tasks).toHaveLength(1 + MAX_TRANSIENT_RERUNS);
    const waits = conflictWaits(run.events);
    expect(waits.map(({ count, backoffSeconds }) => [count, backoffSeconds])).toEqual([
      [1, 30],
      [2, 60],
      [3, 120],
    ]);
    for (const { backoffSeconds, waitSeconds } of waits) {
      expect(waitSeconds).toBeGreaterThanOrEqual(backoffSeconds);
      expect(waitSeconds).toBeLessThanOrEqual(2 * backoffSeconds);
    }
    expect(run.statesEntered.slice(-7)).toEqual([
      'ImportRowsTransientRerunsLeft',
      'ImportRowsTransientRerunsExhausted',
      'MarkFailed',
      'CheckFailure',
      'ComposeFailedMail',
      'NotifyFailed',
      'ImportFailed',
    ]);
    expect(run.end).toMatchObject({
      type: 'ExecutionFailed',
      Error: TRANSIENT_FAILURE_ERROR,
      Cause: conflictReason,
    });
    const [job] = env.status.jobs.values();
    expect(job?.state).toBe('failed');
    // The status-updater gets the stopped task as the cause, under the transient failure's name.
    const fail = env.status.calls.find((call) => call.event === 'fail') as {
      error: { Error: string; Cause: string };
    };
    expect(fail.error.Error).toBe(TRANSIENT_FAILURE_ERROR);
    expect(JSON.parse(fail.error.Cause)).toMatchObject({
      Containers: [{ Name: 'batch-worker', ExitCode: TRANSIENT_FAILURE_EXIT_CODE }],
    });
    expect(env.mailJobs().map((mail) => mail.payload.params)).toEqual([
      { jobId: job?.id, fileName: 'users.csv', reason: conflictReason },
    ]);
  });

  it.each([1, 137])('does not run the task again when its container exited %i', async (exitCode) => {
    const env = cloud({
      worker: () => {
        throw stoppedTask(exitCode);
      },
    });
    const run = await execute(objectCreated('imports/users.csv'), env);

    expect(env.tasks).toHaveLength(1);
    expect(run.statesEntered).not.toContain('ImportRowsTransientWait');
    expect(run.end).toMatchObject({ type: 'ExecutionFailed', Error: 'States.TaskFailed' });
    expect([...env.status.jobs.values()][0]?.state).toBe('failed');
  });

  it('counts interruptions and conflicts apart: a Spot interruption does not use up a conflict rerun', async () => {
    const stops = [
      stoppedTask(143, 'SpotInterruption'),
      stoppedTask(TRANSIENT_FAILURE_EXIT_CODE),
      stoppedTask(143, 'SpotInterruption'),
      stoppedTask(TRANSIENT_FAILURE_EXIT_CODE),
      stoppedTask(TRANSIENT_FAILURE_EXIT_CODE),
    ];
    const env = cloud({
      worker: (jobId, status) => {
        const stop = stops.shift();
        if (stop) throw stop;
        status.recordWorker(jobId, { rows: { total: 5, imported: 5, rejected: 0, written: 5 } });
      },
    });
    const run = await execute(objectCreated('imports/users.csv'), env);

    expect(run.failure).toBeUndefined();
    // Five reruns in all, more than either bound alone allows.
    expect(env.tasks).toHaveLength(6);
    expect(conflictWaits(run.events).map(({ count }) => count)).toEqual([1, 2, 3]);
    expect(run.statesEntered.filter((state) => state === 'ImportRowsFirstRerun')).toHaveLength(1);
    expect([...env.status.jobs.values()][0]?.state).toBe('succeeded');
  });

  it('runs the batch task on Fargate Spot through a capacity provider strategy when asked', async () => {
    const spot = workflowExecutor(
      'import',
      importWorkflow({ ...props, batchWorker: { ...props.batchWorker, capacityProvider: 'FARGATE_SPOT' } }),
    );
    const env = cloud();
    const run = await spot(
      objectCreated('imports/users.csv'),
      env.handlers({ batchTask: 'ImportRows', mails: ['NotifyCompleted', 'NotifyFailed'] }),
    );

    expect(run.failure).toBeUndefined();
    const [task] = env.tasks as unknown as Record<string, unknown>[];
    expect(task?.LaunchType).toBeUndefined();
    expect(task?.CapacityProviderStrategy).toEqual([{ CapacityProvider: 'FARGATE_SPOT', Weight: 1 }]);
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
    expect(run.statesEntered.slice(-2)).toEqual(['UnsentCompletedMail', 'CompletedMailNotSent']);
    // The envelope it could not queue is the Cause, for the job-sweeper to queue again.
    expect(run.end).toMatchObject({ type: 'ExecutionFailed', Error: MAIL_NOT_QUEUED_ERROR });
    expect(unsentMail(run)).toMatchObject({
      type: 'mail.send',
      id: `import.completed:${job?.id}`,
      payload: {
        template: 'import.completed',
        jobId: job?.id,
        idempotencyKey: `import.completed:${job?.id}`,
      },
    });
  });

  it('ends FAILED saying the failure mail was not queued, with the mail, when it cannot be queued', async () => {
    const env = cloud({
      worker: () => {
        throw stoppedTask(137);
      },
      sendMailErrors: [namedError('SQS.QueueDoesNotExistException', 'The specified queue does not exist')],
    });
    const run = await execute(objectCreated('imports/users.csv'), env);

    const [job] = env.status.jobs.values();
    expect(job?.state).toBe('failed');
    expect(run.statesEntered.slice(-3)).toEqual(['NotifyFailed', 'UnsentFailedMail', 'FailedMailNotSent']);
    expect(run.end).toMatchObject({ type: 'ExecutionFailed', Error: MAIL_NOT_QUEUED_ERROR });
    expect(unsentMail(run)).toMatchObject({
      type: 'mail.send',
      id: `import.failed:${job?.id}`,
      payload: { template: 'import.failed', params: { jobId: job?.id, reason: job?.reason } },
    });
  });

  it('keeps the quotes and backslashes of the file name and reason in the unsent failure mail (the Cause is the envelope as JSON)', async () => {
    // States.JsonToString returns the value as escaped JSON text
    // (https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-json-manipulate):
    // an S3 key and a worker reason may hold `"` and `\`, and the job-sweeper parses this Cause to
    // queue the mail again. aws-local-stepfunctions 3.0.0 stripped every backslash from it.
    const reason = 'line 1: missing required column "email" (header: C:\\exports\\users)';
    const env = cloud({
      worker: WorkflowCloud.failingWorker(reason),
      sendMailErrors: [namedError('SQS.QueueDoesNotExistException', 'The specified queue does not exist')],
    });
    const run = await execute(objectCreated('imports/"q3" users\\2026.csv'), env);

    const [job] = env.status.jobs.values();
    expect(run.statesEntered.slice(-2)).toEqual(['UnsentFailedMail', 'FailedMailNotSent']);
    expect(run.end).toMatchObject({ type: 'ExecutionFailed', Error: MAIL_NOT_QUEUED_ERROR });
    expect(unsentMail(run)).toEqual(importFailedMail(job?.id, '"q3" users\\2026.csv', reason));
  });

  it('keeps the backslashes of the failed reason in the Cause a duplicate of a failed job ends with', async () => {
    // States.Format keeps its values as they are, backslashes included
    // (https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-generic).
    const env = cloud({ worker: WorkflowCloud.failingWorker('line 1: no such column C:\\users\\email') });
    const event = objectCreated('imports/users.csv');
    await execute(event, env);
    const again = await execute(event, env);

    expect(again.statesEntered.slice(-2)).toEqual(['DescribeFailedDuplicate', 'AlreadyFailed']);
    expect((again.end as { Cause: string }).Cause).toContain(
      'failed: line 1: no such column C:\\users\\email.',
    );
  });
});
