import { describe, expect, it } from '@jest/globals';
import {
  defaultExportFileName,
  FinalizeExportInput,
  type FinalizeExportOutput,
  FinalizeExportOutput as FinalizeExportOutputSchema,
  MAIL_NOT_QUEUED_ERROR,
  MailSendJob,
  TRANSIENT_FAILURE_EXIT_CODE,
  validate,
} from '@sidestep/contracts';
import { failureMail } from '@sidestep/jobs';
import { ExecutionError } from 'aws-local-stepfunctions';
import { type ExportWorkflowProps, exportWorkflow } from '../src/index.ts';
import { lambdaError, lambdaServiceError } from './status-updater-fake.ts';
import { localWiring, WorkflowCloud, type WorkflowCloudOptions, workflowExecutor } from './workflow-cloud.ts';
import {
  environmentOf,
  namedError,
  type RunTaskInput,
  stoppedTask,
  unsentMail,
  type WorkflowRun,
} from './workflow-run.ts';

const props: ExportWorkflowProps = {
  ...localWiring,
  exportFinalizerFunctionArn:
    'arn:aws:lambda:us-east-1:000000000000:function:sidestep-local-export-finalizer',
  exportsBucket: 'sidestep-local-exports',
};
const run = workflowExecutor('export', exportWorkflow(props));

const MESSAGE_ID = '059f36b4-87a3-44ab-83d2-661975830a7d';

/**
 * What an EventBridge Pipe with an SQS source (batch size 1) gives a Step Functions target: an array
 * of one SQS record (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-sqs.html).
 * `messageId` is SQS's for the message, the same on every delivery of it.
 */
function pipeInput(envelope: unknown, messageId = MESSAGE_ID) {
  const body = typeof envelope === 'string' ? envelope : JSON.stringify(envelope);
  return [
    {
      messageId,
      receiptHandle: 'AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...',
      body,
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: '1545082649183',
        SenderId: 'AIDAIENQZJOLO23YVJ4VO',
        ApproximateFirstReceiveTimestamp: '1545082649185',
      },
      messageAttributes: {},
      md5OfBody: 'e4e68fb7bd0e697a0ae8f1bb342846b3',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:sidestep-local-export-requests',
      awsRegion: 'us-east-1',
    },
  ];
}

function request(id: string, payload: Record<string, unknown> = {}) {
  return {
    type: 'export.requested',
    version: 1,
    id,
    createdAt: '2026-11-24T09:00:00.000Z',
    payload: { requestedBy: 'analyst@example.com', ...payload },
  };
}

function finalized(input: FinalizeExportInput): FinalizeExportOutput {
  return {
    jobId: input.jobId,
    bucket: input.bucket,
    key: `exports/${input.jobId}/${input.fileName}.csv.gz`,
    rows: 1000,
    bytes: 31_234,
    crc64nvme: 'rosUhgp5mIg=',
    manifestKey: `exports/${input.jobId}/manifest.json`,
    downloadUrl: `http://127.0.0.1:4566/_sidestep/exports/${input.jobId}?token=t0k3n`,
    downloadExpiresAt: '2026-12-01T09:00:00.000Z',
  };
}

/**
 * A run that RegisterJob refused with `error` ends through the rejection mail at RegistrationRejected
 * with that error and a cause containing `cause`; `described` are the states between the check and the mail.
 */
function expectRejected(run: WorkflowRun, error: string, cause: string, ...described: string[]): void {
  const states = [
    'RegisterJob',
    'ReadRejection',
    'CheckRejection',
    ...described,
    'ComposeRejectedMail',
    'NotifyRejected',
    'RegistrationRejected',
  ];
  expect(run.statesEntered.slice(-states.length)).toEqual(states);
  expect(run.end).toMatchObject({
    type: 'ExecutionFailed',
    Error: error,
    Cause: expect.stringContaining(cause),
  });
}

/** The workflow cloud and the export finalizer. */
class ExportCloud extends WorkflowCloud {
  readonly finalizations: FinalizeExportInput[] = [];
  /** What the finalizer answers for a valid input. */
  readonly finalizer: (input: FinalizeExportInput) => FinalizeExportOutput;

  constructor({
    finalizer = finalized,
    ...options
  }: Partial<WorkflowCloudOptions & Pick<ExportCloud, 'finalizer'>>) {
    super({ worker: () => undefined, ...options });
    this.finalizer = finalizer;
  }
}

/** A cloud whose worker writes its parts and whose finalizer succeeds, unless `options` says otherwise. */
function cloud(options: Partial<WorkflowCloudOptions & Pick<ExportCloud, 'finalizer'>> = {}): ExportCloud {
  return new ExportCloud(options);
}

function execute(input: unknown, env: ExportCloud) {
  return run(input, {
    ...env.handlers({ batchTask: 'ExportRows', mails: ['NotifyReady', 'NotifyFailed', 'NotifyRejected'] }),
    FinalizeExport: (task) => {
      const { FunctionName, Payload } = task as { FunctionName: string; Payload: unknown };
      expect(FunctionName).toBe(props.exportFinalizerFunctionArn);
      const input = validate(FinalizeExportInput, Payload);
      env.finalizations.push(input);
      return { Payload: validate(FinalizeExportOutputSchema, env.finalizer(input)), StatusCode: 200 };
    },
  });
}

describe('export workflow execution (aws-local-stepfunctions)', () => {
  it('registers, starts, exports, finalizes, finishes and mails export.ready to the requester', async () => {
    const env = cloud();
    const before = defaultExportFileName(new Date());
    const run = await execute(pipeInput(request('req-1')), env);
    const after = defaultExportFileName(new Date());

    expect(run.failure).toBeUndefined();
    expect(run.statesEntered).toEqual([
      'ReadRequest',
      'CheckRequest',
      'CheckRequestType',
      'ApplyDefaults',
      'RegisterJob',
      'CheckDuplicate',
      'StartJob',
      'ExportRows',
      'FinalizeExport',
      'FinishJob',
      'ComposeReadyMail',
      'NotifyReady',
      'Exported',
    ]);
    const [job] = env.status.jobs.values();
    expect(job?.state).toBe('succeeded');
    const jobId = job?.id ?? '';
    // The default name is the execution's start date (UTC), as defaultExportFileName makes it.
    const fileName = env.finalizations[0]?.fileName;
    expect([before, after]).toContain(fileName);
    const executionId = 'arn:aws:states:us-east-1:000000000000:execution:sidestep-local-export:exec-1';
    expect(env.status.calls).toEqual([
      {
        event: 'register',
        kind: 'export',
        expectedState: 'registered',
        executionId,
        request: {
          id: 'req-1',
          requestedBy: 'analyst@example.com',
          fileName,
          filter: {},
          locale: 'en',
          byteOrderMark: true,
        },
      },
      { event: 'start', jobId, expectedState: 'running', executionId, deadlineSeconds: 56_660 },
      {
        event: 'finish',
        jobId,
        expectedState: 'succeeded',
        executionId,
        result: expect.objectContaining({
          key: `exports/${jobId}/${fileName}.csv.gz`,
          rows: 1000,
          bytes: 31_234,
          downloadUrl: `http://127.0.0.1:4566/_sidestep/exports/${jobId}?token=t0k3n`,
        }),
      },
    ]);

    expect(env.tasks).toHaveLength(1);
    expect(env.tasks[0]).toMatchObject({
      Cluster: props.batchWorker.clusterArn,
      TaskDefinition: props.batchWorker.taskDefinitionArn,
      LaunchType: 'FARGATE',
    });
    expect(environmentOf(env.tasks[0] as RunTaskInput)).toEqual({
      MODE: 'export',
      JOB_ID: jobId,
      // The execution's ARN ($$.Execution.Id), on every log line of the task.
      EXECUTION_ID: executionId,
      EXPORTS_BUCKET: 'sidestep-local-exports',
      // The worker uploads into the file the finalizer completes: both get the same name.
      EXPORT_FILE_NAME: fileName,
      EXPORT_FILTER: '{}',
      EXPORT_BYTE_ORDER_MARK: 'true',
    });
    expect(env.finalizations).toEqual([
      {
        jobId,
        bucket: 'sidestep-local-exports',
        manifestKey: `exports/${jobId}/parts/manifest.json`,
        fileName,
      },
    ]);

    expect(env.mailJobs()).toEqual([
      {
        type: 'mail.send',
        version: 1,
        id: `export.ready:${jobId}`,
        payload: {
          template: 'export.ready',
          to: 'analyst@example.com',
          locale: 'en',
          jobId,
          idempotencyKey: `export.ready:${jobId}`,
          params: {
            jobId,
            rows: 1000,
            downloadUrl: `http://127.0.0.1:4566/_sidestep/exports/${jobId}?token=t0k3n`,
            downloadExpiresAt: '2026-12-01T09:00:00.000Z',
          },
        },
      },
    ]);
  });

  it('passes the requested file name and filter to the job, the worker and the finalizer', async () => {
    const env = cloud();
    const filter = { updatedSince: '2026-11-01T00:00:00Z', emailDomain: 'example.com' };
    const run = await execute(pipeInput(request('req-2', { fileName: 'november', filter })), env);

    expect(run.failure).toBeUndefined();
    expect(env.status.calls[0]).toMatchObject({ request: { id: 'req-2', fileName: 'november', filter } });
    expect(JSON.parse(environmentOf(env.tasks[0] as RunTaskInput).EXPORT_FILTER ?? '')).toEqual(filter);
    expect(env.finalizations[0]?.fileName).toBe('november');
  });

  it("retries a failed export into the file its job registered, not one named after the retry's own start date", async () => {
    const env = cloud({ worker: WorkflowCloud.failingWorker('database unavailable') });
    await execute(pipeInput(request('req-retry')), env);
    const [job] = env.status.jobs.values();
    if (!job) throw new Error('no job registered');
    // The first attempt ran on an earlier day: its file is users-<that day>, its parts are in it.
    job.fileName = 'users-2026-11-24';
    job.handedOver = true;
    const retried = await execute(pipeInput(request('req-retry')), env);

    expect(retried.statesEntered).toContain('ExportRows');
    expect(environmentOf(env.tasks[1] as RunTaskInput).EXPORT_FILE_NAME).toBe('users-2026-11-24');
  });

  it("mails a retried job's failure again, under the retry's key (<template>:<jobId>:<attempt>)", async () => {
    const env = cloud({ worker: WorkflowCloud.failingWorker('database unavailable') });
    await execute(pipeInput(request('req-retry-mail')), env);
    const [job] = env.status.jobs.values();
    if (!job) throw new Error('no job registered');
    job.handedOver = true;
    await execute(pipeInput(request('req-retry-mail')), env);

    expect(env.mailJobs().map((mail) => [mail.id, mail.payload.idempotencyKey, mail.payload.jobId])).toEqual([
      [`export.failed:${job.id}`, `export.failed:${job.id}`, job.id],
      [`export.failed:${job.id}:2`, `export.failed:${job.id}:2`, job.id],
    ]);
  });

  it('passes a request’s byteOrderMark: false to the worker (the default is true)', async () => {
    const env = cloud();
    const run = await execute(pipeInput(request('req-bom', { byteOrderMark: false })), env);
    expect(run.failure).toBeUndefined();
    expect(environmentOf(env.tasks[0] as RunTaskInput).EXPORT_BYTE_ORDER_MARK).toBe('false');
  });

  it('ends a second execution for the same request early and successfully, exporting nothing', async () => {
    const env = cloud();
    const first = await execute(pipeInput(request('req-3')), env);
    const second = await execute(pipeInput(request('req-3')), env);

    expect(first.failure).toBeUndefined();
    expect(second.failure).toBeUndefined();
    expect(second.statesEntered.slice(-3)).toEqual(['RegisterJob', 'CheckDuplicate', 'AlreadyRegistered']);
    expect(env.status.jobs.size).toBe(1);
    expect(env.tasks).toHaveLength(1);
    expect(env.finalizations).toHaveLength(1);
    expect(env.mails).toHaveLength(1);
  });

  it('ends a second execution for a request whose export failed FAILED, naming the job and how to retry', async () => {
    const env = cloud({ worker: WorkflowCloud.failingWorker('database unavailable') });
    await execute(pipeInput(request('req-3f')), env);
    const again = await execute(pipeInput(request('req-3f')), env);

    const [job] = env.status.jobs.values();
    expect(again.end).toMatchObject({ type: 'ExecutionFailed', Error: 'DuplicateOfFailedJobError' });
    expect((again.end as { Cause: string }).Cause).toBe(
      `job ${job?.id} is an export that already failed: database unavailable. This execution changed nothing; to retry, send a new export request with a new envelope id.`,
    );
    expect(env.tasks).toHaveLength(1);
  });

  it('mails export.ready when FinishJob committed but its answer was lost on every attempt', async () => {
    const env = cloud();
    env.status.loseAnswer.finish = [lambdaServiceError('Sandbox.Timedout')];
    env.status.failNext.finish = Array.from({ length: 6 }, () => lambdaServiceError('Sandbox.Timedout'));
    const run = await execute(pipeInput(request('req-lost')), env);

    expect(run.failure).toBeUndefined();
    expect(run.statesEntered.slice(-5)).toEqual([
      'MarkFailed',
      'CheckFailure',
      'ComposeReadyMail',
      'NotifyReady',
      'Exported',
    ]);
    expect([...env.status.jobs.values()][0]?.state).toBe('succeeded');
    expect(env.mailJobs().map((mail) => mail.payload.template)).toEqual(['export.ready']);
  });

  it('refuses a request that reuses another requester’s request id, mailing the reason to its own requester', async () => {
    const env = cloud();
    const first = await execute(pipeInput(request('req-conflict')), env);
    const second = await execute(
      pipeInput(request('req-conflict', { requestedBy: 'someone-else@example.com' })),
      env,
    );
    expect(first.failure).toBeUndefined();
    expectRejected(second, 'RequestConflictError', 'was already used by another export request');
    expect(env.status.jobs.size).toBe(1);
    expect(env.tasks).toHaveLength(1);
    const rejected = env.mailJobs().find((mail) => mail.payload.to === 'someone-else@example.com');
    expect(rejected).toMatchObject({
      id: `export.failed:refused:${MESSAGE_ID}`,
      payload: {
        template: 'export.failed',
        params: { jobId: 'req-conflict', reason: expect.stringContaining('send this request with a new id') },
      },
    });
    // The mail job is valid for the mail-dispatcher.
    expect(() => validate(MailSendJob, rejected)).not.toThrow();
  });

  it('keys each refusal by its own message: apart from the job’s mails and other refusals of the id, the same when delivered again', async () => {
    const env = cloud({ worker: WorkflowCloud.failingWorker('database unavailable') });
    // A registers the id and fails; B reuses the id (another requester) and is delivered twice; C
    // reuses it too (a third requester); D reuses it and breaks its contract.
    // Each message has its own SQS message id; B's redelivery has B's.
    await execute(pipeInput(request('req-keys'), 'a0000000-0000-4000-8000-000000000000'), env);
    const conflicting = pipeInput(
      request('req-keys', { requestedBy: 'someone-else@example.com' }),
      'b0000000-0000-4000-8000-000000000000',
    );
    const b = await execute(conflicting, env);
    const bAgain = await execute(conflicting, env);
    await execute(
      pipeInput(
        request('req-keys', { requestedBy: 'third@example.com' }),
        'c0000000-0000-4000-8000-000000000000',
      ),
      env,
    );
    await execute(
      pipeInput(request('req-keys', { fileName: 'ユーザー一覧' }), 'd0000000-0000-4000-8000-000000000000'),
      env,
    );

    expectRejected(b, 'RequestConflictError', 'was already used by another export request');
    expectRejected(bAgain, 'RequestConflictError', 'was already used by another export request');
    const [job] = env.status.jobs.values();
    const mails = env.mailJobs();
    // The mail-dispatcher sends once per key and refuses a key reused for another mail: B's second
    // delivery is the same mail under the same key (sent once), every other mail has a key of its own.
    expect(mails).toHaveLength(5);
    expect(mails[2]).toEqual(mails[1]);
    expect(new Set(mails.map((mail) => mail.id)).size).toBe(4);
    // The job's mails keep their keys; a refusal's is its own.
    expect(mails.map((mail) => [mail.payload.to, mail.id])).toEqual([
      ['analyst@example.com', `export.failed:${job?.id}`],
      ['someone-else@example.com', 'export.failed:refused:b0000000-0000-4000-8000-000000000000'],
      ['someone-else@example.com', 'export.failed:refused:b0000000-0000-4000-8000-000000000000'],
      ['third@example.com', 'export.failed:refused:c0000000-0000-4000-8000-000000000000'],
      ['analyst@example.com', 'export.failed:refused:d0000000-0000-4000-8000-000000000000'],
    ]);
    for (const mail of mails) {
      expect(mail.payload.idempotencyKey).toBe(mail.id);
      expect(() => validate(MailSendJob, mail)).not.toThrow();
    }
  });

  it('exports a request with another id as a new job', async () => {
    const env = cloud();
    await execute(pipeInput(request('req-4a')), env);
    await execute(pipeInput(request('req-4b')), env);

    expect(env.status.jobs.size).toBe(2);
    expect(env.tasks).toHaveLength(2);
  });

  it('marks the job failed with the worker reason, mails export.failed to the requester and ends FAILED', async () => {
    const reason = 'database unavailable: connection refused';
    const env = cloud({ worker: WorkflowCloud.failingWorker(reason) });
    const run = await execute(pipeInput(request('req-5')), env);

    expect(run.failure).toBeInstanceOf(ExecutionError);
    expect(run.end).toMatchObject({ type: 'ExecutionFailed', Error: 'States.TaskFailed', Cause: reason });
    expect(run.statesEntered.slice(-7)).toEqual([
      'ExportRows',
      'ExportRowsStopped',
      'MarkFailed',
      'CheckFailure',
      'ComposeFailedMail',
      'NotifyFailed',
      'ExportFailed',
    ]);
    expect(env.tasks).toHaveLength(1);
    expect(env.finalizations).toHaveLength(0);
    const [job] = env.status.jobs.values();
    expect(job?.state).toBe('failed');
    expect(env.mailJobs()).toEqual([
      {
        type: 'mail.send',
        version: 1,
        id: `export.failed:${job?.id}`,
        payload: {
          template: 'export.failed',
          to: 'analyst@example.com',
          locale: 'en',
          jobId: job?.id,
          idempotencyKey: `export.failed:${job?.id}`,
          params: { jobId: job?.id, reason },
        },
      },
    ]);
  });

  it('runs the task again after a wait when it exited 75 (S3 unreachable past its retries), then finalizes and mails export.ready', async () => {
    let attempts = 0;
    const env = cloud({
      worker: (jobId, status) => {
        attempts += 1;
        if (attempts > 1) return;
        status.recordWorker(jobId, {
          workerError:
            'cannot write s3://sidestep-local-exports/exports/x/parts/part-00004.csv.gz: Error: connect ECONNREFUSED',
        });
        throw stoppedTask(TRANSIENT_FAILURE_EXIT_CODE);
      },
    });
    const run = await execute(pipeInput(request('req-transient')), env);

    expect(run.failure).toBeUndefined();
    expect(env.tasks).toHaveLength(2);
    const rerun = run.statesEntered.indexOf('ExportRowsStopped');
    expect(run.statesEntered.slice(rerun - 1, rerun + 4)).toEqual([
      'ExportRows',
      'ExportRowsStopped',
      'ExportRowsFirstTransientRerun',
      'ExportRowsTransientWait',
      'ExportRows',
    ]);
    expect(env.finalizations).toHaveLength(1);
    expect(env.mailJobs().map((mail) => mail.payload.template)).toEqual(['export.ready']);
    expect([...env.status.jobs.values()][0]?.state).toBe('succeeded');
  });

  it('does not retry a permanent finalizer error and fails the job with its cause', async () => {
    const env = cloud({
      finalizer: () => {
        throw lambdaError('PartChecksumMismatchError', 'parts[1]: sha256 does not match the manifest');
      },
    });
    const run = await execute(pipeInput(request('req-6')), env);

    expect(env.finalizations).toHaveLength(1);
    expect(run.events.some((event) => event.type === 'StateRetried')).toBe(false);
    expect(run.end).toMatchObject({
      type: 'ExecutionFailed',
      Error: 'PartChecksumMismatchError',
      // The reason the status-updater records for a Lambda error: `<errorType>: <errorMessage>`.
      Cause: 'PartChecksumMismatchError: parts[1]: sha256 does not match the manifest',
    });
    const [job] = env.status.jobs.values();
    expect(env.status.eventsOf(job?.id ?? '')).toEqual(['start', 'fail']);
    expect(env.mailJobs().map((mail) => mail.payload.template)).toEqual(['export.failed']);
  });

  it('ends FAILED without the ready mail when the job-sweeper fails the job while the finalizer runs: FinishJob is refused', async () => {
    const reason = 'no progress before the deadline (2026-11-24T18:00:00.000Z)';
    const env: ExportCloud = cloud({
      finalizer: (input) => {
        // The sweep commits after the finalizer's checks and before FinishJob.
        env.status.sweep(input.jobId, reason);
        return finalized(input);
      },
    });
    const run = await execute(pipeInput(request('req-swept')), env);

    expect(run.statesEntered).not.toContain('ComposeReadyMail');
    expect(run.end).toMatchObject({
      type: 'ExecutionFailed',
      Error: 'InvalidTransitionError',
      Cause: reason,
    });
    const [job] = env.status.jobs.values();
    expect(job).toMatchObject({ state: 'failed', reason, result: null });
    expect(env.status.eventsOf(job?.id ?? '')).toEqual(['start', 'finish', 'fail']);
    // The failure mail only, under the key of the sweeper's own (the mail-dispatcher sends it once).
    expect(env.mailJobs().map((mail) => mail.payload.template)).toEqual(['export.failed']);
  });

  /** A finalizer that throws `errors` on its first attempts, one each, then finalizes. */
  const failingFirst =
    (...errors: Error[]) =>
    (input: FinalizeExportInput): FinalizeExportOutput => {
      const error = errors.shift();
      if (error) throw error;
      return finalized(input);
    };

  it('retries a transient Lambda error and S3 being unavailable in the finalizer, then exports', async () => {
    const env = cloud({
      finalizer: failingFirst(
        lambdaServiceError('Lambda.TooManyRequestsException'),
        lambdaError(
          'ExportStorageUnavailableError',
          'S3 UploadPartCopy failed: SlowDown: Please reduce your request rate',
        ),
      ),
    });
    const run = await execute(pipeInput(request('req-7')), env);

    expect(run.failure).toBeUndefined();
    expect(env.finalizations).toHaveLength(3);
    expect(env.mailJobs().map((mail) => mail.payload.template)).toEqual(['export.ready']);
  });

  it("retries the finalizer's signing key being unavailable (Secrets Manager throttled or unreachable), then exports", async () => {
    const env = cloud({
      // What resolving DOWNLOAD_SIGNING_KEY_SECRET_ARN throws (the finalizer's config), before any S3 work.
      finalizer: failingFirst(
        lambdaError(
          'SecretUnavailableError',
          'DOWNLOAD_SIGNING_KEY_SECRET_ARN: the download signing secret arn:aws:secretsmanager:us-east-1:000000000000:secret:sidestep-download-key could not be fetched',
        ),
      ),
    });
    const run = await execute(pipeInput(request('req-7b')), env);

    expect(run.failure).toBeUndefined();
    expect(env.finalizations).toHaveLength(2);
    expect(env.mailJobs().map((mail) => mail.payload.template)).toEqual(['export.ready']);
  });

  it('retries an ECS API error while starting the task', async () => {
    let attempts = 0;
    const env = cloud({
      worker: () => {
        attempts += 1;
        if (attempts === 1) throw namedError('ECS.ThrottlingException', 'Rate exceeded');
      },
    });
    const run = await execute(pipeInput(request('req-8')), env);

    expect(run.failure).toBeUndefined();
    expect(env.tasks).toHaveLength(2);
  });

  it('rejects a message that is not an export.requested v1 envelope before registering anything', async () => {
    const cases = [
      { type: 'mail.send', version: 1, id: 'm-1', payload: { requestedBy: 'a@example.com' } },
      { ...request('req-9'), version: 2 },
      { type: 'export.requested', version: 1, id: 'req-9', payload: {} },
      { type: 'export.requested', version: 1, payload: { requestedBy: 'a@example.com' } },
    ];
    for (const envelope of cases) {
      const env = cloud();
      const run = await execute(pipeInput(envelope), env);
      expect({ envelope, end: run.end }).toMatchObject({
        envelope,
        end: { type: 'ExecutionFailed', Error: 'InvalidExportRequestError' },
      });
      expect(env.status.calls).toHaveLength(0);
    }
  });

  it('fails a body that is not JSON before registering anything', async () => {
    const env = cloud();
    const run = await execute(pipeInput('export please'), env);

    expect(run.failure).toBeInstanceOf(ExecutionError);
    // As Step Functions reports an intrinsic function that fails: States.Runtime, which no Catch takes.
    expect(run.end).toMatchObject({ type: 'ExecutionFailed', Error: 'States.Runtime' });
    expect(run.statesEntered).toEqual(['ReadRequest']);
    expect(env.status.calls).toHaveLength(0);
  });

  it('ends FAILED without a job or mail when the status-updater refuses the request', async () => {
    const env = cloud();
    const run = await execute(pipeInput(request('req-10', { requestedBy: 'not-an-address' })), env);

    expect(run.statesEntered.at(-1)).toBe('RegistrationFailed');
    expect(run.end).toMatchObject({ type: 'ExecutionFailed', Error: 'InvalidInputError' });
    expect(env.status.jobs.size).toBe(0);
    expect(env.tasks).toHaveLength(0);
    expect(env.mails).toHaveLength(0);
  });

  it('mails export.failed naming the field to the requester of a request that breaks its contract (a Japanese fileName)', async () => {
    const env = cloud();
    const run = await execute(pipeInput(request('req-ja', { fileName: 'ユーザー一覧' })), env);

    expectRejected(
      run,
      'InvalidInputError',
      'request.fileName: must start with a letter or digit',
      'DescribeInvalidRequest',
    );
    // No job, no task: one mail.
    expect([env.status.jobs.size, env.tasks.length, env.mails.length]).toEqual([0, 0, 1]);
    const mail: unknown = JSON.parse(env.mails[0] ?? '');
    expect(mail).toEqual({
      type: 'mail.send',
      version: 1,
      id: `export.failed:refused:${MESSAGE_ID}`,
      payload: {
        template: 'export.failed',
        to: 'analyst@example.com',
        locale: 'en',
        jobId: 'req-ja',
        idempotencyKey: `export.failed:refused:${MESSAGE_ID}`,
        params: {
          jobId: 'req-ja',
          reason:
            'export request req-ja refused, nothing was exported: invalid status update input: request.fileName: must start with a letter or digit and contain only letters, digits, ".", "_", "-" (no "/"). Correct the request and send it again with a new request id',
        },
      },
    });
    expect(() => validate(MailSendJob, mail)).not.toThrow();
  });

  it('mails the requester of a request whose filter breaks its contract', async () => {
    const env = cloud();
    const run = await execute(
      pipeInput(request('req-filter', { filter: { emailDomain: 'not a domain' } })),
      env,
    );

    expect(run.statesEntered.at(-1)).toBe('RegistrationRejected');
    expect(env.mailJobs().map((mail) => [mail.payload.to, mail.payload.params])).toEqual([
      [
        'analyst@example.com',
        expect.objectContaining({ reason: expect.stringContaining('request.filter.emailDomain') }),
      ],
    ]);
  });

  // ExportRequestedPayload is a strict object: a key it does not know (a misspelt `filter`) or a
  // byteOrderMark that is no boolean is refused before anything is exported, naming the field, as
  // the producer and parseJob refuse them (a raw SQS send skips those).
  it.each([
    ['a misspelt key', { filters: { emailDomain: 'example.com' } }, 'request.filters'],
    ['a byteOrderMark that is no boolean', { byteOrderMark: 'no' }, 'request.byteOrderMark'],
  ])(
    'mails the requester of a request with %s, naming it, and exports nothing',
    async (_what, payload, field) => {
      const env = cloud();
      const run = await execute(pipeInput(request('req-strict', payload)), env);

      expect(run.statesEntered.at(-1)).toBe('RegistrationRejected');
      expect([env.status.jobs.size, env.tasks.length]).toEqual([0, 0]);
      expect(env.mailJobs().map((mail) => [mail.payload.template, mail.payload.params])).toEqual([
        ['export.failed', expect.objectContaining({ reason: expect.stringContaining(field) })],
      ]);
    },
  );

  it('mails export.ready, export.failed and a refusal in the request’s locale, English without one', async () => {
    /** The locale each queued envelope names, as queued (not as the contract's default fills it in). */
    const locales = (env: ExportCloud) =>
      env.mails.map((body) => {
        const { payload } = JSON.parse(body) as { payload: { template: string; locale?: string } };
        return [payload.template, payload.locale];
      });
    const ready = cloud();
    await execute(pipeInput(request('req-ja-ready', { locale: 'ja' })), ready);
    const failed = cloud({ worker: WorkflowCloud.failingWorker('database unavailable') });
    await execute(pipeInput(request('req-ja-failed', { locale: 'ja' })), failed);
    const rejected = cloud();
    const refusal = await execute(
      pipeInput(request('req-ja-rejected', { locale: 'ja', fileName: 'ユーザー一覧' })),
      rejected,
    );
    const english = cloud();
    await execute(pipeInput(request('req-en-ready')), english);

    expect([ready, failed, rejected, english].map(locales)).toEqual([
      [['export.ready', 'ja']],
      [['export.failed', 'ja']],
      [['export.failed', 'ja']],
      [['export.ready', 'en']],
    ]);
    expect(refusal.statesEntered.at(-1)).toBe('RegistrationRejected');
    expect(ready.status.calls[0]).toMatchObject({ event: 'register', request: { locale: 'ja' } });
  });

  it("queues the failure mail the job-sweeper and job fail send for the job: its locale the register's, the same payload under the same key", async () => {
    const env = cloud({ worker: WorkflowCloud.failingWorker('database unavailable') });
    await execute(pipeInput(request('req-ja-swept', { locale: 'ja' })), env);
    const register = env.status.calls[0] as {
      request: { requestedBy: string; fileName: string; locale?: string };
    };
    const [queued] = env.mails.map((body) => JSON.parse(body) as MailSendJob);
    if (!queued) throw new Error('no failure mail queued');
    // What the status-updater keeps on the job (jobs.locale), read back by the sweeper and job fail.
    const swept = failureMail(
      {
        jobId: queued.payload.jobId as string,
        kind: 'export',
        attempt: 1,
        fileName: register.request.fileName,
        requestedBy: register.request.requestedBy,
        reason: (queued.payload.params as { reason: string }).reason,
        locale: register.request.locale ?? null,
      },
      'ops@example.com',
    );
    expect(register.request.locale).toBe('ja');
    // The mail-dispatcher's payload check (payloadValidationJmesPath job.payload) compares these.
    expect(swept.payload).toEqual(queued.payload);
    expect(validate(MailSendJob, swept).payload).toEqual(validate(MailSendJob, queued).payload);
  });

  it('refuses a request in a locale no template is written in, mailing the reason in English', async () => {
    const env = cloud();
    const run = await execute(pipeInput(request('req-fr', { locale: 'fr' })), env);

    expectRejected(run, 'InvalidInputError', 'request.locale:', 'UseDefaultLocale', 'DescribeInvalidRequest');
    expect([env.status.jobs.size, env.tasks.length]).toEqual([0, 0]);
    expect(env.mailJobs().map((mail) => [mail.payload.locale, mail.payload.to, mail.payload.params])).toEqual(
      [
        [
          'en',
          'analyst@example.com',
          expect.objectContaining({ reason: expect.stringContaining('request.locale') }),
        ],
      ],
    );
  });

  it('ends FAILED without a mail when an invalid request’s own address or id is invalid too', async () => {
    const cases = [
      request('req-both', { requestedBy: 'not-an-address', fileName: 'ユーザー一覧' }),
      {
        ...request('req id with spaces'),
        payload: { requestedBy: 'analyst@example.com', fileName: 'ユーザー一覧' },
      },
    ];
    for (const envelope of cases) {
      const env = cloud();
      const run = await execute(pipeInput(envelope), env);
      expect({ envelope, last: run.statesEntered.at(-1), end: run.end }).toMatchObject({
        envelope,
        last: 'RegistrationFailed',
        end: { type: 'ExecutionFailed', Error: 'InvalidInputError' },
      });
      expect(env.mails).toHaveLength(0);
    }
  });

  it('keeps a succeeded job succeeded when its ready mail cannot be queued', async () => {
    const env = cloud({
      sendMailErrors: [namedError('SQS.QueueDoesNotExistException', 'The specified queue does not exist')],
    });
    const run = await execute(pipeInput(request('req-11')), env);

    const [job] = env.status.jobs.values();
    expect(job?.state).toBe('succeeded');
    expect(run.statesEntered.slice(-2)).toEqual(['UnsentReadyMail', 'ReadyMailNotSent']);
    expect(run.end).toMatchObject({ type: 'ExecutionFailed', Error: MAIL_NOT_QUEUED_ERROR });
    expect(unsentMail(run)).toMatchObject({
      type: 'mail.send',
      id: `export.ready:${job?.id}`,
      payload: { template: 'export.ready', jobId: job?.id },
    });
  });
});
