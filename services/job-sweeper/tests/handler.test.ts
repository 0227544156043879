import { Logger } from '@aws-lambda-powertools/logger';
import { SFNClient } from '@aws-sdk/client-sfn';
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import {
  type ExecutionStatusChange,
  type ExportJobResult,
  MAIL_NOT_QUEUED_ERROR,
  MailSendJob,
  type SweepStaleJobsOutput,
  validate,
} from '@sidestep/contracts';
import type { Database } from '@sidestep/db/postgres';
import { describeEachDatabase } from '@sidestep/db/testing';
import { PostgresPersistenceLayer } from '@sidestep/idempotency';
import { failureMail, fireJobEvent, lockJob } from '@sidestep/jobs';
import { SqlLedger } from '@sidestep/ledger';
import { idempotencyRecordSeconds } from '@sidestep/manifest';
import { Producer } from '@sidestep/producer';
import { createTaskHandler, type TaskHandler } from '@sidestep/runtime';
import { type LocalSqs, startLocalSqs } from '@sidestep/runtime/testing';
import type { Context } from 'aws-lambda';
import { ProducerMailQueue } from '../src/adapters/mail-queue.ts';
import { StepFunctionsWorkflowExecutions } from '../src/adapters/step-functions.ts';
import {
  END_WINDOW_MS,
  LISTED_SINCE_MS,
  type WorkflowExecutions,
} from '../src/reconcile-ended-executions.ts';
import { type SweepTaskOptions, sweepTask } from '../src/sweep-task.ts';
import { expiredRecords } from './expired-records.ts';

const silent = new Logger({ logLevel: 'SILENT' });
/** The job-sweeper's handler as `handler.ts` builds it, logging nothing. */
const sweeperHandler = (options: SweepTaskOptions) =>
  createTaskHandler({ ...sweepTask(options), logger: silent });
/** An invocation's context; `remainingMs` is what `getRemainingTimeInMillis` answers (the timeout is 60 s). */
const context = (requestId: string, remainingMs = 59_000) =>
  ({
    awsRequestId: requestId,
    functionName: 'sidestep-test-job-sweeper',
    getRemainingTimeInMillis: () => remainingMs,
  }) as unknown as Context;

let local: LocalSqs;
beforeAll(async () => {
  local = await startLocalSqs();
});
afterAll(() => local?.stop());

/** Every mail job queued, parsed. */
async function receiveAll(queueUrl: string): Promise<unknown[]> {
  return (await local.receiveAll(queueUrl)).map((body) => JSON.parse(body));
}

describeEachDatabase('job-sweeper handler', (open) => {
  let db: Database;
  let queueUrl: string;
  let clock: Date;
  let options: SweepTaskOptions;
  let handler: TaskHandler<SweepStaleJobsOutput>;
  beforeAll(async () => {
    db = await open();
    ({ QueueUrl: queueUrl = '' } = await local.sqs.send(
      new CreateQueueCommand({ QueueName: `sidestep-test-mail-${Math.random().toString(36).slice(2)}` }),
    ));
    clock = new Date();
    options = {
      database: async () => db,
      mailQueue: new ProducerMailQueue(new Producer({ queueUrl, sqs: local.sqs })),
      notifyAddress: 'ops@example.com',
      idempotencyRecords: new PostgresPersistenceLayer({ database: db }),
      now: () => clock, // the virtual clock the schedule's ticks are driven by
    };
    handler = sweeperHandler(options);
  });
  afterAll(() => db.close());

  /** A mail queue that does not exist: no mail can be queued. */
  const missingMailQueue = () =>
    new ProducerMailQueue(
      new Producer({ queueUrl: `${queueUrl}-missing`, sqs: local.sqs, maxAttempts: 1, baseDelayMs: 1 }),
    );
  /** The handler with a mail queue that does not exist. */
  const unqueueableHandler = () => sweeperHandler({ ...options, mailQueue: missingMailQueue() });

  /** Import `imp_<name>` (file `<name>.csv`) of `executionArn`, running, its deadline an hour away unless told. */
  async function runningImport(
    name: string,
    executionArn: string,
    fields: { readonly workerError?: string; readonly deadlineAt?: Date } = {},
  ) {
    await db.query(
      `INSERT INTO jobs (id, kind, state, source_bucket, source_key, source_version, file_name, execution_id, worker_error, deadline_at)
       VALUES ($1, 'import', 'running', 'b', $2, 'v1', $3, $4, $5, $6)`,
      [
        `imp_${name}`,
        `imports/${name}.csv`,
        `${name}.csv`,
        executionArn,
        fields.workerError ?? null,
        fields.deadlineAt ?? new Date(clock.getTime() + 3600_000),
      ],
    );
  }

  it('fails a stuck export once and queues its export.failed mail once, invoked twice per tick', async () => {
    await db.query(
      `INSERT INTO jobs (id, kind, state, request_id, requested_by, file_name, execution_id, started_at, deadline_at)
       VALUES ('exp_h1', 'export', 'running', 'req-h1', 'asker@example.com', 'users-x', 'arn:e:h1', $1, $2)`,
      [clock, new Date(clock.getTime() + 2 * 3600_000)],
    );
    // Before the deadline: nothing to do, however often the schedule fires.
    expect(await handler({}, context('r1'))).toMatchObject({ failed: [], mailed: [] });
    expect(await handler({}, context('r1'))).toMatchObject({ failed: [], mailed: [] });

    clock = new Date(clock.getTime() + 2 * 3600_000 + 15 * 60_000);
    const first = await handler({}, context('r2'));
    const second = await handler({}, context('r2')); // the scheduler's at-least-once delivery
    expect(first.failed.map((job) => job.jobId)).toEqual(['exp_h1']);
    expect(first.mailed.map((job) => job.mailId)).toEqual(['export.failed:exp_h1']);
    expect(second).toMatchObject({ failed: [], mailed: [] });

    const bodies = await receiveAll(queueUrl);
    expect(bodies).toHaveLength(1);
    const mail = validate(MailSendJob, bodies[0]);
    expect(mail).toMatchObject({
      id: 'export.failed:exp_h1',
      payload: { template: 'export.failed', to: 'asker@example.com', idempotencyKey: 'export.failed:exp_h1' },
    });
    expect(mail.payload.params).toMatchObject({
      reason: expect.stringMatching(/^no progress before the deadline \(/),
    });
    const { rows } = await db.query('SELECT execution_id FROM job_transitions WHERE job_id = $1', ['exp_h1']);
    expect(rows).toEqual([{ execution_id: 'job-sweeper:r2' }]);
  });

  /** Step Functions' status change event for execution `name` of the import workflow. */
  function statusChange(
    name: string,
    status: string,
    error: string | null = null,
    cause: string | null = null,
  ) {
    const executionArn = `arn:aws:states:us-east-1:000000000000:execution:sidestep-test-import:${name}`;
    return {
      version: '0',
      id: `event-${name}-${status}`,
      'detail-type': 'Step Functions Execution Status Change',
      source: 'aws.states',
      account: '000000000000',
      time: '2026-11-24T09:00:05Z',
      region: 'us-east-1',
      resources: [executionArn],
      detail: {
        executionArn,
        stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-test-import',
        name,
        status,
        startDate: 1795510800000,
        stopDate: 1795510805000,
        input: '{}',
        output: null,
        error,
        cause,
      },
    };
  }

  it('fails the job of an aborted execution with the reason and mails once, whatever the number of deliveries', async () => {
    const event = statusChange('h3', 'ABORTED', 'Deploy', 'stopped for the release');
    await runningImport('h3', event.detail.executionArn);
    const first = await handler(event, context('r5'));
    const again = await handler(event, context('r6'));
    expect(first.failed).toEqual([
      {
        jobId: 'imp_h3',
        kind: 'import',
        deadlineAt: expect.any(String),
        reason: 'aborted: execution h3 was stopped (Deploy: stopped for the release)',
        mailId: 'import.failed:imp_h3',
      },
    ]);
    expect(first.mailed.map((job) => job.jobId)).toEqual(['imp_h3']);
    expect(again).toMatchObject({ failed: [], mailed: [] });
    const { rows } = await db.query<{ state: string; error: string }>(
      'SELECT state, error FROM jobs WHERE id = $1',
      ['imp_h3'],
    );
    expect(rows[0]).toEqual({ state: 'failed', error: first.failed[0]?.reason });
    const bodies = await receiveAll(queueUrl);
    expect(bodies.map((body) => validate(MailSendJob, body).payload)).toEqual([
      expect.objectContaining({
        template: 'import.failed',
        to: 'ops@example.com',
        params: { jobId: 'imp_h3', fileName: 'h3.csv', reason: first.failed[0]?.reason },
      }),
    ]);
  });

  it('fails a registered job of a timed-out or failed execution, and leaves the state of a job the workflow finished alone', async () => {
    const timedOut = statusChange('h4', 'TIMED_OUT');
    const failed = statusChange('h5', 'FAILED', 'States.Runtime', 'an error in MarkFailed');
    const succeeded = statusChange('h6', 'FAILED', 'SQS.QueueDoesNotExistException', 'no queue');
    for (const [id, state, event] of [
      ['imp_h4', 'registered', timedOut],
      ['imp_h5', 'running', failed],
      ['imp_h6', 'succeeded', succeeded],
    ] as const) {
      await db.query(
        `INSERT INTO jobs (id, kind, state, source_bucket, source_key, source_version, file_name, execution_id,
                           rows_total, rows_imported, rows_rejected)
         VALUES ($1, 'import', $2, 'b', $3, 'v1', 'x.csv', $4, $5, $5, $6)`,
        [
          id,
          state,
          `imports/${id}.csv`,
          event.detail.executionArn,
          state === 'succeeded' ? 3 : null,
          state === 'succeeded' ? 0 : null,
        ],
      );
    }
    expect((await handler(timedOut, context('r7'))).failed).toEqual([
      expect.objectContaining({
        jobId: 'imp_h4',
        deadlineAt: null,
        reason: 'timed out: execution h4 ran past its time limit',
      }),
    ]);
    expect((await handler(failed, context('r8'))).failed).toEqual([
      expect.objectContaining({
        jobId: 'imp_h5',
        reason: 'the workflow failed: States.Runtime: an error in MarkFailed',
      }),
    ]);
    // The job succeeded before the execution failed: it stays succeeded, and its completion mail,
    // which the workflow may not have queued, is.
    expect(await handler(succeeded, context('r9'))).toMatchObject({
      failed: [],
      mailed: [],
      completed: ['import.completed:imp_h6'],
    });
    const { rows } = await db.query('SELECT state FROM jobs WHERE id = $1', ['imp_h6']);
    expect(rows).toEqual([{ state: 'succeeded' }]);
    expect((await receiveAll(queueUrl)).map((body) => validate(MailSendJob, body).id)).toEqual([
      'import.failed:imp_h4',
      'import.failed:imp_h5',
      'import.completed:imp_h6',
    ]);
  });

  // The batch-worker commits an import's job `succeeded` with its rows, before FinishJob and
  // NotifyCompleted: an execution stopped (or failed) between the two ends without the mail.
  it('queues the import.completed mail of a job that succeeded before its execution was stopped, the envelope NotifyCompleted sends, once per key whatever the number of deliveries', async () => {
    const event = statusChange('h20', 'ABORTED', 'StoppedByOperator', 'alice: wrong file');
    await db.query(
      `INSERT INTO jobs (id, kind, state, source_bucket, source_key, source_version, file_name, execution_id,
                         rows_total, rows_imported, rows_rejected, users_written, row_errors, locale, attempt)
       VALUES ('imp_h20', 'import', 'succeeded', 'b', 'imports/h20.csv', 'v1', 'h20.csv', $1,
               300, 299, 1, 12, $2, 'ja', 2)`,
      [
        event.detail.executionArn,
        JSON.stringify([{ line: 152, field: 'email', message: 'not a valid email address' }]),
      ],
    );
    const first = await handler(event, context('r40'));
    const again = await handler(event, context('r41')); // EventBridge delivers at least once
    for (const result of [first, again]) {
      expect(result).toMatchObject({ failed: [], completed: ['import.completed:imp_h20:2'] });
    }
    // What ComposeCompletedMail builds from FinishJob's answer (the status-updater's output of the job).
    const mail = {
      type: 'mail.send',
      version: 1,
      id: 'import.completed:imp_h20:2',
      payload: {
        template: 'import.completed',
        to: 'ops@example.com',
        locale: 'ja',
        jobId: 'imp_h20',
        idempotencyKey: 'import.completed:imp_h20:2',
        params: {
          jobId: 'imp_h20',
          fileName: 'h20.csv',
          rows: 299,
          usersWritten: 12,
          rejectedRows: 1,
          rejectedSamples: [{ line: 152, field: 'email', reason: 'not a valid email address' }],
        },
      },
    };
    const queued = { ...mail, createdAt: expect.any(String) };
    // Twice, one key and one payload: the mail-dispatcher sends it once.
    expect(await receiveAll(queueUrl)).toEqual([queued, queued]);
    const { rows } = await db.query<{ state: string; transitions: string }>(
      `SELECT state, (SELECT count(*) FROM job_transitions WHERE job_id = jobs.id) AS transitions
         FROM jobs WHERE id = 'imp_h20'`,
    );
    expect(rows).toEqual([{ state: 'succeeded', transitions: '0' }]);
  });

  it("queues the export.ready mail, its link and the link's expiry as FinishJob recorded them, of an export whose execution failed after FinishJob", async () => {
    // FinishJob committed, its answer lost; MarkFailed could not reach the ledger either: FAILED.
    const event = statusChange('h21', 'FAILED', 'JobLedgerUnavailableError', 'connect ETIMEDOUT');
    await db.query(
      `INSERT INTO jobs (id, kind, state, request_id, requested_by, file_name, execution_id, started_at, deadline_at, locale)
       VALUES ('exp_h21', 'export', 'running', 'req-h21', 'asker@example.com', 'users-x', $1, $2, $3, 'en')`,
      [event.detail.executionArn, clock, new Date(clock.getTime() + 3600_000)],
    );
    await db.transaction(async (tx) => {
      const job = await lockJob(tx, 'exp_h21');
      if (!job) throw new Error('no job exp_h21');
      // FinishJob's `result`: the finalizer's output, whole.
      await fireJobEvent(tx, job, 'finish', {
        firedBy: event.detail.executionArn,
        result: {
          key: 'exports/exp_h21/users-x.csv.gz',
          rows: 1000,
          bytes: 31234,
          downloadUrl: 'https://downloads.example.com/exports/exp_h21?token=t',
          downloadExpiresAt: '2026-12-01T09:00:00.000Z',
        } as ExportJobResult,
      });
    });
    expect(await handler(event, context('r42'))).toMatchObject({
      failed: [],
      completed: ['export.ready:exp_h21'],
    });
    expect((await receiveAll(queueUrl)).map((body) => validate(MailSendJob, body))).toEqual([
      {
        type: 'mail.send',
        version: 1,
        id: 'export.ready:exp_h21',
        createdAt: expect.any(String),
        payload: {
          template: 'export.ready',
          to: 'asker@example.com',
          locale: 'en',
          jobId: 'exp_h21',
          idempotencyKey: 'export.ready:exp_h21',
          params: {
            jobId: 'exp_h21',
            rows: 1000,
            downloadUrl: 'https://downloads.example.com/exports/exp_h21?token=t',
            downloadExpiresAt: '2026-12-01T09:00:00.000Z',
          },
        },
      },
    ]);
  });

  // Its Cause is the very envelope NotifyCompleted could not queue: queued again, and no other.
  it('queues only the Cause of an execution whose completion mail could not be queued (MailNotQueuedError)', async () => {
    const unsent = {
      type: 'mail.send',
      version: 1,
      id: 'import.completed:imp_h22',
      payload: {
        template: 'import.completed',
        to: 'ops@example.com',
        locale: 'en',
        jobId: 'imp_h22',
        idempotencyKey: 'import.completed:imp_h22',
        params: {
          jobId: 'imp_h22',
          fileName: 'h22.csv',
          rows: 3,
          usersWritten: null,
          rejectedRows: 0,
          rejectedSamples: [],
        },
      },
    };
    const event = statusChange('h22', 'FAILED', MAIL_NOT_QUEUED_ERROR, JSON.stringify(unsent));
    await db.query(
      `INSERT INTO jobs (id, kind, state, source_bucket, source_key, source_version, file_name, execution_id,
                         rows_total, rows_imported, rows_rejected)
       VALUES ('imp_h22', 'import', 'succeeded', 'b', 'imports/h22.csv', 'v1', 'h22.csv', $1, 3, 3, 0)`,
      [event.detail.executionArn],
    );
    const result = await handler(event, context('r43'));
    expect(result).toMatchObject({ requeued: ['import.completed:imp_h22'] });
    expect(result).not.toHaveProperty('completed');
    expect(await receiveAll(queueUrl)).toEqual([{ ...unsent, createdAt: expect.any(String) }]);
  });

  // `sidestep job fail` commits the fail, then queues the failure mail from the operator's process:
  // one killed between the two (Ctrl-C, a lost network, a laptop asleep) must not lose the mail.
  it('queues the failure mail of a job an operator failed whose own send never happened, once, whatever the number of sweeps', async () => {
    await runningImport('h23', 'arn:e:h23');
    const ledger = new SqlLedger(db, { notifyAddress: 'ops@example.com' });
    await ledger.failJob('imp_h23', 'its task is gone', 'alice');
    // Here the CLI would queue the mail; it was killed instead. The next sweeps:
    const first = await handler({}, context('r44'));
    const again = await handler({}, context('r45'));
    expect(first.mailed.map((job) => job.mailId)).toEqual(['import.failed:imp_h23']);
    expect(again.mailed).toEqual([]);
    const mail = failureMail(
      {
        jobId: 'imp_h23',
        kind: 'import',
        attempt: 1,
        fileName: 'h23.csv',
        requestedBy: null,
        reason: 'its task is gone',
        locale: null,
      },
      'ops@example.com',
    );
    expect(await receiveAll(queueUrl)).toEqual([{ ...mail, createdAt: expect.any(String) }]);
  });

  it("fails the job of an execution whose MarkFailed could not reach the ledger with the worker's own reason, and mails it", async () => {
    // The execution ends FAILED at the failure path's end (FailureNotRecorded) with MarkFailed's
    // ledger error as its Error/Cause; the batch-worker had recorded why the import failed.
    const event = statusChange(
      'h8',
      'FAILED',
      'JobLedgerUnavailableError',
      JSON.stringify({
        errorType: 'JobLedgerUnavailableError',
        errorMessage: 'the job ledger is unavailable: connect ETIMEDOUT',
        trace: [],
      }),
    );
    const workerError = 'line 1: the header has no email column';
    await runningImport('h8', event.detail.executionArn, { workerError });
    const result = await handler(event, context('r11'));
    expect(result.failed).toEqual([expect.objectContaining({ jobId: 'imp_h8', reason: workerError })]);
    const { rows } = await db.query('SELECT state, error FROM jobs WHERE id = $1', ['imp_h8']);
    expect(rows).toEqual([{ state: 'failed', error: workerError }]);
    expect((await receiveAll(queueUrl)).map((body) => validate(MailSendJob, body).payload.params)).toEqual([
      { jobId: 'imp_h8', fileName: 'h8.csv', reason: workerError },
    ]);
  });

  /**
   * The JSON lines `handler` logs for `event` (Powertools writes through its own Console bound to
   * stdout and stderr, which Lambda ships to CloudWatch Logs), and what it threw.
   */
  /** The sweeper's options with a ledger that cannot be reached (a blip, or the database down). */
  const unreachableLedger = (): SweepTaskOptions => ({
    ...options,
    database: async () => {
      throw Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:5432'), { code: 'ECONNREFUSED' });
    },
  });

  async function logsOf(options: SweepTaskOptions, event: unknown, requestId: string) {
    const written: string[] = [];
    const spies = [process.stdout, process.stderr].map((stream) =>
      jest.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
        written.push(String(chunk));
        return true;
      }),
    );
    const logger = new Logger({ serviceName: 'job-sweeper-test' });
    const thrown = await createTaskHandler({ ...sweepTask(options), logger })(event, context(requestId)).then(
      () => undefined,
      (error: unknown) => error,
    );
    for (const spy of spies) spy.mockRestore();
    const lines = written
      .join('')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.service === 'job-sweeper-test');
    return { lines, thrown };
  }

  it("names the execution (its ARN and name) and the execution's job on the log lines of a workflow-ended event", async () => {
    const event = statusChange('h9', 'ABORTED', 'Deploy', 'stopped');
    await runningImport('h9', event.detail.executionArn);
    const execution = { executionId: event.detail.executionArn, executionName: 'h9' };
    const handled = await logsOf(options, event, 'r12');
    expect(handled.thrown).toBeUndefined();
    expect(handled.lines).toEqual([
      expect.objectContaining({
        message: 'stale jobs swept',
        ...execution,
        jobId: 'imp_h9',
        failed: ['imp_h9'],
      }),
    ]);
    expect(await receiveAll(queueUrl)).toHaveLength(1);

    // A ledger that cannot be reached: the failure line still names the execution.
    const unreachable = await logsOf(unreachableLedger(), event, 'r13');
    expect(unreachable.thrown).toMatchObject({ name: 'JobLedgerUnavailableError' });
    expect(unreachable.lines).toEqual([
      expect.objectContaining({
        message: 'sweep failed',
        errorName: 'JobLedgerUnavailableError',
        ...execution,
      }),
    ]);
    // A scheduled sweep concerns no execution: its line has no such keys.
    const swept = await logsOf(options, {}, 'r14');
    expect(swept.lines).toEqual([expect.objectContaining({ message: 'stale jobs swept' })]);
    expect(swept.lines[0]).not.toHaveProperty('executionId');
    expect(swept.lines[0]).not.toHaveProperty('jobId');
  });

  // A redrive keeps the execution's ARN, and its job stays `running`; only the event's redriveCount
  // tells an end before the redrive from the redrive's own
  // (https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html).
  it('leaves the job of a redriven execution running when an ABORTED event of before the redrive arrives late, and fails it when the redrive ends', async () => {
    const aborted = statusChange('h10', 'ABORTED', 'Operator', 'stuck');
    const { executionArn } = aborted.detail;
    await runningImport('h10', executionArn);
    // The first delivery meets a ledger blip; Lambda retries it a minute or two later.
    const blip = await logsOf(unreachableLedger(), aborted, 'r30');
    expect(blip.thrown).toMatchObject({ name: 'JobLedgerUnavailableError' });
    // Meanwhile the operator redrives it: ops claims the job at the count DescribeExecution read (0).
    await new SqlLedger(db).claimRedrive({
      jobId: 'imp_h10',
      executionArn,
      redriveCount: 0,
      operator: 'ops@example.com',
    });

    const retried = await logsOf(options, aborted, 'r31');
    expect(retried.thrown).toBeUndefined();
    const ignored = [{ jobId: 'imp_h10', redriveCount: 0, latestRedriveCount: 1 }];
    expect(retried.lines).toEqual([
      expect.objectContaining({
        level: 'WARN',
        message: 'stale execution event ignored',
        jobId: 'imp_h10',
        redriveCount: 0,
        latestRedriveCount: 1,
        why: expect.stringContaining('redriven since'),
      }),
      expect.objectContaining({ message: 'stale jobs swept', failed: [], mailed: [], ignored: ['imp_h10'] }),
    ]);
    // The same again (an operator's reinvoke from the async-failures queue), answered in the output.
    expect(await handler(aborted, context('r32'))).toMatchObject({ failed: [], mailed: [], ignored });
    const { rows } = await db.query('SELECT state, error FROM jobs WHERE id = $1', ['imp_h10']);
    expect(rows).toEqual([{ state: 'running', error: null }]);
    expect(await receiveAll(queueUrl)).toEqual([]);

    // The redrive's own end carries redriveCount 1: the job is failed and mailed.
    const redriveAborted = { ...aborted, detail: { ...aborted.detail, redriveCount: 1 } };
    const ended = await handler(redriveAborted, context('r33'));
    expect(ended.failed.map((job) => job.jobId)).toEqual(['imp_h10']);
    expect(ended).not.toHaveProperty('ignored');
    expect((await receiveAll(queueUrl)).map((body) => validate(MailSendJob, body).id)).toEqual([
      'import.failed:imp_h10',
    ]);
  });

  it("logs a purge that fails on its own line, and keeps the sweep's result or its error", async () => {
    const purgeFails: SweepTaskOptions['idempotencyRecords'] = {
      purgeExpired: async () => {
        throw Object.assign(new Error('canceling statement due to lock timeout'), { code: '55P03' });
      },
    };
    const purgeFailed = expect.objectContaining({
      level: 'ERROR',
      message: 'retention purge failed',
      errorName: 'Error',
      error: expect.objectContaining({ message: 'canceling statement due to lock timeout' }),
    });

    // The sweep fails a stuck job and mails it; the purge throws: the invocation succeeds with what
    // the sweep did (the next scheduled sweep purges), and both are logged.
    await runningImport('h12', 'arn:e:h12', { deadlineAt: new Date(clock.getTime() - 1) });
    const swept = await logsOf({ ...options, idempotencyRecords: purgeFails }, {}, 'r19');
    expect(swept.thrown).toBeUndefined();
    expect(swept.lines).toEqual([
      purgeFailed,
      expect.objectContaining({ message: 'stale jobs swept', failed: ['imp_h12'], mailed: ['imp_h12'] }),
    ]);
    expect(swept.lines[1]).not.toHaveProperty('purged');
    expect(await receiveAll(queueUrl)).toHaveLength(1);

    // The sweep cannot queue a mail and the purge throws too: the sweep's error is the invocation's.
    await runningImport('h13', 'arn:e:h13', { deadlineAt: new Date(clock.getTime() - 1) });
    const bothFail = await logsOf(
      {
        ...options,
        idempotencyRecords: purgeFails,
        mailQueue: missingMailQueue(),
      },
      {},
      'r20',
    );
    expect(bothFail.thrown).toMatchObject({ name: 'FailureMailNotQueuedError', jobIds: ['imp_h13'] });
    expect(bothFail.lines).toEqual([
      purgeFailed,
      expect.objectContaining({ message: 'sweep failed', errorName: 'FailureMailNotQueuedError' }),
    ]);
    await handler({}, context('r21')); // queues the pending mail
    expect(await receiveAll(queueUrl)).toHaveLength(1);
  });

  it('refuses a Step Functions event that breaks the contract instead of taking it for a sweep', async () => {
    const event = statusChange('h7', 'ABORTED');
    await expect(
      handler({ ...event, detail: { ...event.detail, executionArn: undefined } }, context('r10')),
    ).rejects.toMatchObject({ name: 'InvalidInputError', permanent: true });
  });

  it('refuses an input that is not an object as InvalidInputError naming it, and takes no input as {}', async () => {
    await expect(handler('sweep!', context('r3'))).rejects.toMatchObject({
      name: 'InvalidInputError',
      field: '(root)',
      permanent: true,
      message: expect.stringMatching(/^invalid sweep input: \(root\): /),
    });
    await expect(handler(undefined, context('r3'))).resolves.toMatchObject({ failed: [], mailed: [] });
  });

  const IMPORT_FAILED_REASON = 'header: the first line is not a header row';
  /** The failure mail of failed import `imp_<name>`, as its workflow composes it. */
  function importFailedMail(name: string) {
    return failureMail(
      {
        jobId: `imp_${name}`,
        kind: 'import',
        attempt: 1,
        fileName: `${name}.csv`,
        requestedBy: null,
        reason: IMPORT_FAILED_REASON,
        locale: null,
      },
      'ops@example.com',
    );
  }

  it('queues again the mail an execution could not queue (MailNotQueuedError, the envelope its Cause), each delivery the same envelope, leaving the job as it is', async () => {
    const mail = importFailedMail('h11');
    const event = statusChange('h11', 'FAILED', MAIL_NOT_QUEUED_ERROR, JSON.stringify(mail));
    await db.query(
      `INSERT INTO jobs (id, kind, state, source_bucket, source_key, source_version, file_name, execution_id, error)
       VALUES ('imp_h11', 'import', 'failed', 'b', 'imports/h11.csv', 'v1', 'h11.csv', $1, $2)`,
      [event.detail.executionArn, IMPORT_FAILED_REASON],
    );
    const first = await handler(event, context('r30'));
    const again = await handler(event, context('r31')); // EventBridge delivers at least once
    expect(first).toMatchObject({ failed: [], mailed: [], requeued: ['import.failed:imp_h11'] });
    expect(again).toMatchObject({ failed: [], mailed: [], requeued: ['import.failed:imp_h11'] });
    // The same envelope, key and payload (the producer stamps `createdAt`, which is no part of the
    // payload the mail-dispatcher checks): it sends it once.
    const queued = { ...mail, createdAt: expect.any(String) };
    expect(await receiveAll(queueUrl)).toEqual([queued, queued]);
    const { rows } = await db.query<{ state: string; swept_at: Date | null; transitions: string }>(
      `SELECT state, swept_at, (SELECT count(*) FROM job_transitions WHERE job_id = jobs.id) AS transitions
         FROM jobs WHERE id = 'imp_h11'`,
    );
    expect(rows).toEqual([{ state: 'failed', swept_at: null, transitions: '0' }]);
  });

  it('refuses for good, naming the field, an execution whose MailNotQueuedError Cause is not a mail, and queues nothing', async () => {
    await expect(
      handler(
        statusChange('h12', 'FAILED', MAIL_NOT_QUEUED_ERROR, 'SQS.QueueDoesNotExistException'),
        context('r32'),
      ),
    ).rejects.toMatchObject({ name: 'UnsentMailRefusedError', permanent: true, field: 'detail.cause' });
    const { to: _to, ...withoutRecipient } = importFailedMail('h12').payload;
    const broken = { ...importFailedMail('h12'), payload: withoutRecipient };
    await expect(
      handler(statusChange('h12', 'FAILED', MAIL_NOT_QUEUED_ERROR, JSON.stringify(broken)), context('r33')),
    ).rejects.toMatchObject({ name: 'UnsentMailRefusedError', permanent: true, field: 'payload.to' });
    expect(await receiveAll(queueUrl)).toEqual([]);
  });

  it("still queues the sweeper's pending failure mails when the execution's unsent mail is refused", async () => {
    await db.query(
      `INSERT INTO jobs (id, kind, state, source_bucket, source_key, source_version, file_name, execution_id, error, swept_at)
       VALUES ('imp_h14', 'import', 'failed', 'b', 'imports/h14.csv', 'v1', 'h14.csv', 'arn:e:h14', 'stuck', $1)`,
      [clock],
    );
    await expect(
      handler(statusChange('h15', 'FAILED', MAIL_NOT_QUEUED_ERROR, 'not a mail'), context('r35')),
    ).rejects.toMatchObject({ name: 'UnsentMailRefusedError' });
    expect(await receiveAll(queueUrl)).toEqual([expect.objectContaining({ id: 'import.failed:imp_h14' })]);
  });

  it('reports a mail queue it cannot reach as the retryable UnsentMailNotQueuedError, for Lambda to retry and then keep the event', async () => {
    const mail = importFailedMail('h13');
    await expect(
      unqueueableHandler()(
        statusChange('h13', 'FAILED', MAIL_NOT_QUEUED_ERROR, JSON.stringify(mail)),
        context('r34'),
      ),
    ).rejects.toMatchObject({
      name: 'UnsentMailNotQueuedError',
      permanent: false,
      message: expect.stringContaining('import.failed:imp_h13'),
    });
  });

  it('reports a mail queue it cannot reach as the retryable FailureMailNotQueuedError, leaving the mail pending', async () => {
    await runningImport('h2', 'arn:e:h2', { deadlineAt: new Date(clock.getTime() - 1) });
    await expect(unqueueableHandler()({}, context('r4'))).rejects.toMatchObject({
      name: 'FailureMailNotQueuedError',
      permanent: false,
      jobIds: ['imp_h2'],
    });
    const after = await handler({}, context('r5'));
    expect(after).toMatchObject({ failed: [], mailed: [expect.objectContaining({ jobId: 'imp_h2' })] });
    expect(await receiveAll(queueUrl)).toEqual([
      expect.objectContaining({
        id: 'import.failed:imp_h2',
        payload: expect.objectContaining({ to: 'ops@example.com' }),
      }),
    ]);
  });

  it('purges what outlived its retention on a scheduled sweep, even one whose mails cannot be queued, and nothing more when delivered twice', async () => {
    const daysAgo = (days: number) => new Date(clock.getTime() - days * 24 * 3600_000);
    // Finished 91 days ago (90 by default): gone, with its transitions; finished 89 days ago: kept.
    for (const [id, at] of [
      ['exp_h10_old', daysAgo(91)],
      ['exp_h10_kept', daysAgo(89)],
    ] as const) {
      await db.query(
        `INSERT INTO jobs (id, kind, state, request_id, requested_by, file_name, execution_id, updated_at, finished_at)
         VALUES ($1, 'export', 'succeeded', $1, 'someone@example.com', 'users', 'arn:e:' || $1, $2, $2)`,
        [id, at],
      );
      await db.query(
        `INSERT INTO job_transitions (job_id, event, to_state, execution_id) VALUES ($1, 'register', 'registered', 'arn:e')`,
        [id],
      );
    }
    await db.query(
      `INSERT INTO operator_audit (at, operator, environment, action, target, result)
       VALUES ($1, 'someone', 'test', 'job-fail', 'exp_h10_old', 'ok'), ($2, 'someone', 'test', 'job-fail', 'exp_h10_kept', 'ok')`,
      [daysAgo(91), daysAgo(89)],
    );
    // A mail's record that expired a second ago, and one that has not.
    await db.query(
      `INSERT INTO idempotency_records (id, status, expiry_timestamp, data)
       VALUES ('h10-expired', 'COMPLETED', $1, '{"to":"someone@example.com"}'), ('h10-live', 'COMPLETED', $2, NULL)`,
      [Math.floor(clock.getTime() / 1000) - 1, Math.floor(clock.getTime() / 1000) + 3600],
    );
    // A stuck export whose failure mail cannot be queued: the sweep fails, and still purges.
    await db.query(
      `INSERT INTO jobs (id, kind, state, request_id, requested_by, file_name, execution_id, deadline_at)
       VALUES ('exp_h10_stuck', 'export', 'running', 'req-h10', 'asker@example.com', 'users', 'arn:e:h10', $1)`,
      [daysAgo(1)],
    );
    await expect(unqueueableHandler()({}, context('r15'))).rejects.toMatchObject({
      name: 'FailureMailNotQueuedError',
    });
    const left = async (sql: string) => (await db.query<{ id: string }>(sql)).rows.map((row) => row.id);
    expect(await left("SELECT id FROM jobs WHERE id LIKE 'exp_h10%' ORDER BY id")).toEqual([
      'exp_h10_kept',
      'exp_h10_stuck',
    ]);
    expect(await left("SELECT job_id AS id FROM job_transitions WHERE job_id LIKE 'exp_h10%'")).not.toContain(
      'exp_h10_old',
    );
    expect(await left("SELECT target AS id FROM operator_audit WHERE target LIKE 'exp_h10%'")).toEqual([
      'exp_h10_kept',
    ]);
    expect(await left("SELECT id FROM idempotency_records WHERE id LIKE 'h10-%'")).toEqual(['h10-live']);

    // The next tick, delivered twice: the mail goes, nothing is left to purge.
    const nothing = {
      idempotencyRecords: 0,
      jobs: 0,
      jobTransitions: 0,
      importRejectedRows: 0,
      exportProgress: 0,
      operatorAudit: 0,
      complete: true,
    };
    const next = await handler({}, context('r16'));
    const again = await handler({}, context('r16'));
    expect(next).toMatchObject({
      mailed: [expect.objectContaining({ jobId: 'exp_h10_stuck' })],
      purged: nothing,
    });
    expect(next.purged?.olderThan).toBe(daysAgo(90).toISOString());
    expect(again).toMatchObject({ failed: [], mailed: [], purged: nothing });
    expect(await receiveAll(queueUrl)).toHaveLength(1);
    // A workflow-ended event purges nothing.
    expect(await handler(statusChange('h10', 'ABORTED'), context('r17'))).not.toHaveProperty('purged');
  });

  it('gives the retention what the invocation has left less a margin: one batch of each kind when little is left, the whole backlog when enough is', async () => {
    // 250 expired records: 2.5 batches of 100.
    const sweeper = sweeperHandler({ ...options, idempotencyRecords: expiredRecords(250) });
    // 10 s left, under the 15 s margin: no time for the retention, which still takes one batch.
    expect((await sweeper({}, context('r30', 10_000))).purged).toMatchObject({
      idempotencyRecords: 100,
      complete: false,
    });
    // The next tick, with its minute ahead: the rest of the backlog.
    expect((await sweeper({}, context('r31'))).purged).toMatchObject({
      idempotencyRecords: 150,
      complete: true,
    });
  });

  it('reports what a scheduled sweep purged', async () => {
    await db.query(
      `INSERT INTO jobs (id, kind, state, request_id, requested_by, file_name, execution_id, updated_at, finished_at)
       VALUES ('exp_h11', 'export', 'failed', 'req-h11', 'someone@example.com', 'users', 'arn:e:h11', $1, $1)`,
      [new Date(clock.getTime() - 100 * 24 * 3600_000)],
    );
    await db.query(`INSERT INTO export_progress (job_id, rows, parts, bytes) VALUES ('exp_h11', 10, 1, 100)`);
    expect((await handler({}, context('r18'))).purged).toEqual({
      olderThan: expect.any(String),
      idempotencyRecords: 0,
      jobs: 1,
      jobTransitions: 0,
      importRejectedRows: 0,
      exportProgress: 1,
      operatorAudit: 0,
      complete: true,
    });
  });

  it('records a failure mail the contract refuses on its job once, whatever the number of deliveries, and purges the job once it is old', async () => {
    // An export row without a requester (written by hand): its export.failed mail has no `payload.to`.
    await db.query(
      `INSERT INTO jobs (id, kind, state, request_id, file_name, execution_id, deadline_at)
       VALUES ('exp_h12', 'export', 'running', 'req-h12', 'users', 'arn:e:h12', $1)`,
      [new Date(clock.getTime() - 1)],
    );
    // The tick, delivered twice: the first sweep fails the job and records the refusal; the second
    // (the scheduler's duplicate, or Lambda's retry of the failed invocation) finds nothing to do.
    await expect(handler({}, context('r20'))).rejects.toMatchObject({
      name: 'FailureMailRefusedError',
      permanent: true,
      jobIds: ['exp_h12'],
      field: 'payload.to',
    });
    await expect(handler({}, context('r20'))).resolves.toMatchObject({ failed: [], mailed: [] });
    const { rows } = await db.query<Record<string, unknown>>(
      'SELECT state, sweep_mail_queued_at, sweep_mail_refused_at, sweep_mail_error FROM jobs WHERE id = $1',
      ['exp_h12'],
    );
    expect(rows).toEqual([
      {
        state: 'failed',
        sweep_mail_queued_at: null,
        sweep_mail_refused_at: clock,
        sweep_mail_error: expect.stringMatching(/^payload\.to: /),
      },
    ]);
    expect(await receiveAll(queueUrl)).toEqual([]);

    // A finished job like any other: kept for the retention (90 days), then deleted.
    const after = (days: number) =>
      sweeperHandler({ ...options, now: () => new Date(clock.getTime() + days * 24 * 3600_000) });
    await after(89)({}, context('r21'));
    expect((await db.query('SELECT id FROM jobs WHERE id = $1', ['exp_h12'])).rows).toHaveLength(1);
    const purged = await after(91)({}, context('r22'));
    expect(purged.purged?.jobs).toBeGreaterThanOrEqual(1);
    expect((await db.query('SELECT id FROM jobs WHERE id = $1', ['exp_h12'])).rows).toEqual([]);
    expect((await db.query('SELECT id FROM job_transitions WHERE job_id = $1', ['exp_h12'])).rows).toEqual(
      [],
    );
  });

  it('logs each refused mail once, on an ERROR line naming its job and field and no address, whatever the number of deliveries', async () => {
    for (const id of ['exp_h14a', 'exp_h14b']) {
      await db.query(
        `INSERT INTO jobs (id, kind, state, request_id, file_name, execution_id, deadline_at)
         VALUES ($1, 'export', 'running', $1, 'users', 'arn:e:' || $1, $2)`,
        [id, new Date(clock.getTime() - 1)],
      );
    }
    const refusedLine = (jobId: string) =>
      expect.objectContaining({
        level: 'ERROR',
        message: 'failure mail refused',
        jobId,
        field: 'payload.to',
        refusal: expect.stringMatching(/^payload\.to: /),
      });
    const first = await logsOf(options, {}, 'r23');
    expect(first.thrown).toMatchObject({ name: 'FailureMailRefusedError', jobIds: ['exp_h14a', 'exp_h14b'] });
    expect(first.lines).toEqual([
      refusedLine('exp_h14a'),
      refusedLine('exp_h14b'),
      expect.objectContaining({ message: 'expired ledger data purged' }),
      expect.objectContaining({ message: 'sweep failed', errorName: 'FailureMailRefusedError' }),
    ]);
    // The same tick again: the refusals are recorded, nothing is reported twice.
    const again = await logsOf(options, {}, 'r23');
    expect(again.thrown).toBeUndefined();
    expect(again.lines).toEqual([
      expect.objectContaining({ message: 'stale jobs swept', failed: [], mailed: [] }),
    ]);
  });

  it('gives up a mail SQS keeps failing once its job is past the retention, logs it once, and deletes the job', async () => {
    await runningImport('h15', 'arn:e:h15', { deadlineAt: new Date(clock.getTime() - 1) });
    await expect(unqueueableHandler()({}, context('r24'))).rejects.toMatchObject({
      name: 'FailureMailNotQueuedError',
      jobIds: ['imp_h15'],
    });
    // 91 days on (90 by default), SQS still failing: the last try fails, the mail is given up.
    const later = { ...options, now: () => new Date(clock.getTime() + 91 * 24 * 3600_000) };
    const missingQueue = missingMailQueue();
    const givenUp = await logsOf({ ...later, mailQueue: missingQueue }, {}, 'r25');
    expect(givenUp.thrown).toMatchObject({ name: 'FailureMailRefusedError', jobIds: ['imp_h15'] });
    expect(givenUp.lines[0]).toEqual(
      expect.objectContaining({
        level: 'ERROR',
        message: 'failure mail refused',
        jobId: 'imp_h15',
        refusal: expect.stringMatching(/^not queued within 90 days: QueueDoesNotExist: /),
      }),
    );
    expect(givenUp.lines[0]).not.toHaveProperty('field'); // no mail field is at fault
    // Refused for good, the job is past the retention: the same sweep's purge deletes it.
    expect((await db.query('SELECT id FROM jobs WHERE id = $1', ['imp_h15'])).rows).toEqual([]);
    const again = await logsOf({ ...later, mailQueue: missingQueue }, {}, 'r25');
    expect(again.thrown).toBeUndefined();
    expect(again.lines).toEqual([
      expect.objectContaining({ message: 'stale jobs swept', failed: [], mailed: [] }),
    ]);
  });
  describe('the backstop for status change events Step Functions did not deliver', () => {
    const IMPORT_MACHINE = 'arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-test-import';
    /** An execution as the fake Step Functions lists and describes it. */
    interface Listed {
      /** What DescribeExecution answers now. */
      detail: ExecutionStatusChange['detail'];
      /** The status ListExecutions listed it with. @default detail.status */
      listedStatus?: string;
      startDate: Date;
      stopDate: Date;
    }
    /** Step Functions as the test tells it: ListExecutions by machine and status, DescribeExecution (each call in `described`). */
    function stepFunctions(listed: Listed[], described: string[] = []): WorkflowExecutions {
      return {
        ended: async function* (stateMachineArn, status, startedSince) {
          for (const execution of listed) {
            const { detail, startDate } = execution;
            const listedStatus = execution.listedStatus ?? detail.status;
            if (detail.stateMachineArn !== stateMachineArn || listedStatus !== status) continue;
            if (startDate.getTime() < startedSince.getTime()) continue;
            yield { executionArn: detail.executionArn, startDate, stopDate: execution.stopDate };
          }
        },
        describe: async (executionArn) => {
          described.push(executionArn);
          const found = listed.find((execution) => execution.detail.executionArn === executionArn);
          if (!found) throw new Error(`no execution ${executionArn}`);
          return found.detail;
        },
      };
    }
    /**
     * Execution `name` of the import workflow, ended `status` `minutesAgo` minutes ago (by the sweep's
     * clock), started half an hour before unless `startedMinutesAgo` says when.
     */
    function ended(
      name: string,
      status: string,
      minutesAgo: number,
      error?: string,
      cause?: string,
      startedMinutesAgo = minutesAgo + 30,
    ): Listed {
      const { detail } = statusChange(name, status, error ?? null, cause ?? null);
      return {
        detail: { ...detail, status: status as ExecutionStatusChange['detail']['status'], redriveCount: 0 },
        startDate: new Date(clock.getTime() - startedMinutesAgo * 60_000),
        stopDate: new Date(clock.getTime() - minutesAgo * 60_000),
      };
    }
    const stateOf = async (jobId: string) =>
      (await db.query<{ state: string }>('SELECT state FROM jobs WHERE id = $1', [jobId])).rows[0]?.state;
    const sweeping = (listed: Listed[], described?: string[]) =>
      sweeperHandler({
        ...options,
        workflowExecutions: {
          executions: stepFunctions(listed, described),
          stateMachineArns: [IMPORT_MACHINE],
        },
      });
    /** The import.completed mail ComposeCompletedMail builds for `imp_<name>` (3 rows). */
    const completedMail = (name: string) => ({
      type: 'mail.send',
      version: 1,
      id: `import.completed:imp_${name}`,
      payload: {
        template: 'import.completed',
        to: 'ops@example.com',
        locale: 'en',
        jobId: `imp_${name}`,
        idempotencyKey: `import.completed:imp_${name}`,
        params: {
          jobId: `imp_${name}`,
          fileName: `${name}.csv`,
          rows: 3,
          usersWritten: null,
          rejectedRows: 0,
          rejectedSamples: [],
        },
      },
    });
    async function succeededImport(name: string, executionArn: string) {
      await db.query(
        `INSERT INTO jobs (id, kind, state, source_bucket, source_key, source_version, file_name, execution_id,
                           rows_total, rows_imported, rows_rejected)
         VALUES ($1, 'import', 'succeeded', 'b', $2, 'v1', $3, $4, 3, 3, 0)`,
        [`imp_${name}`, `imports/${name}.csv`, `${name}.csv`, executionArn],
      );
    }

    // https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html: Step Functions'
    // "Execution Status Change" events are "Delivery type: Best effort".
    it('handles on a scheduled sweep each end whose event never came as the event would have, once, whatever the number of sweeps', async () => {
      const unsent = completedMail('b1');
      const listed = [
        ended('b1', 'FAILED', 10, MAIL_NOT_QUEUED_ERROR, JSON.stringify(unsent)),
        ended('b2', 'ABORTED', 10, 'Deploy', 'stopped for the release'),
        ended('b3', 'ABORTED', 10, 'Deploy', 'stopped for the release'),
      ];
      await succeededImport('b1', listed[0]?.detail.executionArn ?? '');
      await succeededImport('b2', listed[1]?.detail.executionArn ?? '');
      await runningImport('b3', listed[2]?.detail.executionArn ?? '');
      const handler = sweeping(listed);
      const first = await handler({}, context('r60'));
      const again = await handler({}, context('r60')); // the schedule delivers at least once
      const later = await handler({}, context('r61'));
      const arn = (name: string) =>
        `arn:aws:states:us-east-1:000000000000:execution:sidestep-test-import:${name}`;
      expect(first.reconciled).toEqual([
        {
          executionArn: arn('b1'),
          redriveCount: 0,
          status: 'FAILED',
          failed: [],
          queued: ['import.completed:imp_b1'],
        },
        {
          executionArn: arn('b2'),
          redriveCount: 0,
          status: 'ABORTED',
          failed: [],
          queued: ['import.completed:imp_b2'],
        },
        { executionArn: arn('b3'), redriveCount: 0, status: 'ABORTED', failed: ['imp_b3'], queued: [] },
      ]);
      expect(first.failed).toEqual([]); // the stale-job sweep's own: none past its deadline
      expect(first.mailed.map((job) => job.jobId)).toEqual(['imp_b3']); // the mail of the job failed above
      for (const result of [again, later]) expect(result.reconciled).toBeUndefined();
      const mails = (await receiveAll(queueUrl)).map((body) => validate(MailSendJob, body));
      expect(mails.map((mail) => mail.id).sort()).toEqual([
        'import.completed:imp_b1',
        'import.completed:imp_b2',
        'import.failed:imp_b3',
      ]);
      expect(mails.find((mail) => mail.id === unsent.id)).toEqual({
        ...unsent,
        createdAt: expect.any(String),
      });
      expect(mails.find((mail) => mail.id === 'import.failed:imp_b3')?.payload.params).toEqual({
        jobId: 'imp_b3',
        fileName: 'b3.csv',
        reason: 'aborted: execution b3 was stopped (Deploy: stopped for the release)',
      });
    });

    it('leaves an end its event handled, one still within the grace its event is given, and one redriven since', async () => {
      const handledByEvent = ended('b4', 'ABORTED', 10, 'Deploy', 'stopped');
      const recent = ended('b5', 'ABORTED', 0.5, 'Deploy', 'stopped');
      const redriven = ended('b6', 'FAILED', 10, 'States.TaskFailed', 'the task failed');
      await runningImport('b4', handledByEvent.detail.executionArn);
      await runningImport('b5', recent.detail.executionArn);
      await runningImport('b6', redriven.detail.executionArn);
      // b4's event came; b6 was listed FAILED and redriven before it was described: it runs again.
      const event = statusChange('b4', 'ABORTED', 'Deploy', 'stopped');
      expect((await handler(event, context('r62'))).failed.map((job) => job.jobId)).toEqual(['imp_b4']);
      const described: string[] = [];
      const listedRedriven: Listed = {
        ...redriven,
        listedStatus: 'FAILED',
        detail: { ...redriven.detail, status: 'RUNNING', redriveCount: 1 },
      };
      const handler2 = sweeping([handledByEvent, recent, listedRedriven], described);
      const swept = await handler2({}, context('r63'));
      expect(described).toEqual([listedRedriven.detail.executionArn]);
      expect(swept.reconciled).toBeUndefined();
      expect(await receiveAll(queueUrl)).toHaveLength(1); // b4's failure mail, from its event
      // A minute on, b5's event has had its grace: the sweep handles it.
      const now = clock;
      clock = new Date(clock.getTime() + 60_000);
      try {
        const next = await handler2({}, context('r64'));
        expect(next.reconciled?.map((end) => end.failed)).toEqual([['imp_b5']]);
      } finally {
        clock = now;
      }
      expect(await stateOf('imp_b6')).toBe('running');
      expect(await receiveAll(queueUrl)).toHaveLength(1);
    });

    // ListExecutions keeps a redriven execution's first start; a redrive may come 14 days after the failure.
    it('handles the recent end of an execution started weeks ago and redriven, and leaves an end older than 8 days', async () => {
      const redrivenLate = ended('b10', 'ABORTED', 10, 'Deploy', 'stopped', 30 * 24 * 60);
      const old = ended('b11', 'ABORTED', 9 * 24 * 60, 'Deploy', 'stopped');
      await runningImport('b10', redrivenLate.detail.executionArn);
      await runningImport('b11', old.detail.executionArn);
      const swept = await sweeping([redrivenLate, old])({}, context('r70'));
      expect(swept.reconciled?.map((end) => end.failed)).toEqual([['imp_b10']]);
      expect(await stateOf('imp_b11')).toBe('running');
      expect((await receiveAll(queueUrl)).map((body) => (body as { id: string }).id)).toEqual([
        'import.failed:imp_b10',
      ]);
    });

    it('leaves an end whose event found a Cause no retry can queue, which the event threw, to that event', async () => {
      const refused = ended('b12', 'FAILED', 10, MAIL_NOT_QUEUED_ERROR, 'not a mail');
      const event = statusChange('b12', 'FAILED', MAIL_NOT_QUEUED_ERROR, 'not a mail');
      await expect(handler(event, context('r71'))).rejects.toMatchObject({ name: 'UnsentMailRefusedError' });
      const swept = await sweeping([refused])({}, context('r72'));
      expect(swept.reconciled).toBeUndefined();
      const { rows } = await db.query<{ handled_by: string }>(
        'SELECT handled_by FROM workflow_execution_ends WHERE execution_arn = $1',
        [refused.detail.executionArn],
      );
      expect(rows).toEqual([{ handled_by: 'event job-sweeper:r71' }]);
    });

    // A claim kept for a RedriveExecution that never ran leaves the end's job to its deadline (see the
    // redrive test above): the end is handled as the event's would be, once.
    it("records an end whose job it left to a redrive's claim, and does not describe it again", async () => {
      const claimed = ended('b9', 'FAILED', 10, 'States.TaskFailed', 'the task failed');
      await runningImport('b9', claimed.detail.executionArn);
      await new SqlLedger(db).claimRedrive({
        jobId: 'imp_b9',
        executionArn: claimed.detail.executionArn,
        redriveCount: 0,
        operator: 'ops@example.com',
      });
      const described: string[] = [];
      const handler4 = sweeping([claimed], described);
      const first = await handler4({}, context('r68'));
      expect(first.reconciled).toEqual([expect.objectContaining({ failed: [], queued: [] })]);
      expect((await handler4({}, context('r69'))).reconciled).toBeUndefined();
      expect(described).toEqual([claimed.detail.executionArn]);
      expect(await stateOf('imp_b9')).toBe('running');
    });

    it('reads at most 5,000 executions per workflow and status in a sweep, and says when it stopped there', async () => {
      // Ended 9 days ago: listed, none handled; 1,499 past the cap are not read.
      const many = Array.from({ length: 6_500 }, (_, index) => ended(`old-${index}`, 'ABORTED', 9 * 24 * 60));
      let yielded = 0;
      const executions = stepFunctions(many);
      const counting: WorkflowExecutions = {
        ended: async function* (stateMachineArn, status, startedSince) {
          for await (const execution of executions.ended(stateMachineArn, status, startedSince)) {
            yielded += 1;
            yield execution;
          }
        },
        describe: executions.describe,
      };
      const { thrown, lines } = await logsOf(
        { ...options, workflowExecutions: { executions: counting, stateMachineArns: [IMPORT_MACHINE] } },
        {},
        'r73',
      );
      expect(thrown).toBeUndefined();
      expect(yielded).toBe(5_001);
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: 'WARN',
          message: 'ended executions listed in part',
          stateMachineArn: IMPORT_MACHINE,
          status: 'ABORTED',
        }),
      );
    });

    it("throws WorkflowExecutionsUnavailableError when Step Functions cannot be listed, after the sweep's own work", async () => {
      await runningImport('b7', 'arn:e:b7', { deadlineAt: new Date(clock.getTime() - 1) });
      // Nothing listens on port 1 of the loopback: the real adapter's ListExecutions cannot connect.
      const sfn = new SFNClient({
        endpoint: 'http://127.0.0.1:1',
        region: 'us-east-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        maxAttempts: 1,
      });
      const { thrown, lines } = await logsOf(
        {
          ...options,
          workflowExecutions: {
            executions: new StepFunctionsWorkflowExecutions(sfn),
            stateMachineArns: [IMPORT_MACHINE],
          },
        },
        {},
        'r65',
      );
      sfn.destroy();
      expect(thrown).toMatchObject({
        name: 'WorkflowExecutionsUnavailableError',
        message: expect.stringMatching(
          /^Step Functions ListExecutions of arn:aws:states:.*sidestep-test-import failed: /,
        ),
      });
      // Each failure on a line of its own, and what the stale-job pass did, which the failed
      // invocation's own line does not say.
      expect(lines).toEqual([
        expect.objectContaining({
          level: 'ERROR',
          message: 'ended execution not reconciled',
          errorName: 'WorkflowExecutionsUnavailableError',
        }),
        expect.objectContaining({ level: 'INFO', message: 'expired ledger data purged' }),
        expect.objectContaining({
          level: 'INFO',
          message: 'stale jobs swept',
          failed: ['imp_b7'],
          mailed: ['imp_b7'],
        }),
        expect.objectContaining({ level: 'ERROR', message: 'sweep failed' }),
      ]);
      expect(await stateOf('imp_b7')).toBe('failed');
      expect((await receiveAll(queueUrl)).map((body) => (body as { id: string }).id)).toEqual([
        'import.failed:imp_b7',
      ]);
    });

    // A mail queued again for an end handled before (by an event before the backstop's table) must
    // find its idempotency record, kept for the queue's retention (at least SQS's minimum, 60 s), the
    // DLQ's 14 days and a day: the window of ends stays within it whatever the mail queue's retention.
    it("handles the ends of a job's longest run and a day, within the life of the mail's idempotency record, listing the executions started up to a redrive's 14 days before", () => {
      const day = 24 * 3600_000;
      expect(END_WINDOW_MS).toBe(8 * day);
      expect(END_WINDOW_MS).toBeLessThan(idempotencyRecordSeconds({ messageRetentionSeconds: 60 }) * 1000);
      expect(LISTED_SINCE_MS).toBe(38 * day);
    });

    it('throws a mail no retry can queue once, and records its end, so that the next sweeps go on', async () => {
      const refused = ended('b8', 'FAILED', 10, MAIL_NOT_QUEUED_ERROR, 'not a mail');
      const handler3 = sweeping([refused]);
      await expect(handler3({}, context('r66'))).rejects.toMatchObject({
        name: 'UnsentMailRefusedError',
        field: 'detail.cause',
      });
      expect((await handler3({}, context('r67'))).reconciled).toBeUndefined();
      expect(await receiveAll(queueUrl)).toEqual([]);
    });
  });
});
