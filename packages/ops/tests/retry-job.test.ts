import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  RedriveExecutionCommand,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { describe, expect, it } from '@jest/globals';
import { describeEachDatabase, suiteDatabase } from '@sidestep/db/testing';
import { type JobDetail, JobStateError, type Ledger, LedgerInvokeError, SqlLedger } from '@sidestep/ledger';
import { describeJob, failJob, redriveExecution, retryJob } from '../src/index.ts';
import { retryExecutionName } from '../src/jobs.ts';
import { acceptMail, stagingContext } from './staging-context.ts';

const machine = 'arn:aws:states:ap-northeast-1:123456789012:stateMachine:sidestep-staging-import';
const first = 'arn:aws:states:ap-northeast-1:123456789012:execution:sidestep-staging-import:imp_1';
const named = (name: string) => `${machine.replace(':stateMachine:', ':execution:')}:${name}`;
const input = '{"detail":{"bucket":{"name":"uploads"},"object":{"key":"imports/a.csv"}}}';

const taken = () => new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} });
const missing = () => new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} });

/** A ledger holding failed job imp_1 (attempt 1), recording the hand-overs and take-backs asked. */
function failedJobLedger() {
  const calls: string[] = [];
  const ledger = {
    describeJob: async () =>
      ({
        id: 'imp_1',
        state: 'failed',
        attempt: 1,
        executionId: first,
        error: 'boom',
        transitions: [],
      }) as unknown as JobDetail,
    handOverJob: async (handOver: { executionArn: string }) =>
      void calls.push(`hand-over ${handOver.executionArn}`),
    takeBackJob: async (takeBack: { executionArn: string }) =>
      void calls.push(`take-back ${takeBack.executionArn}`),
    appendAudit: async () => undefined,
  } as unknown as Ledger;
  return { ledger, calls };
}

/** A retry of imp_1, whose last execution ended `previousStatus`; no retry's name exists unless stubbed. */
function retryContext(previousStatus: 'FAILED' | 'RUNNING' | 'PENDING_REDRIVE' = 'FAILED') {
  const staged = stagingContext();
  staged.sfn.on(DescribeExecutionCommand).rejects(missing());
  staged.sfn
    .on(DescribeExecutionCommand, { executionArn: first })
    .resolves({ executionArn: first, stateMachineArn: machine, status: previousStatus, input });
  const { ledger, calls } = failedJobLedger();
  return { ...staged, context: { ...staged.context, ledger: async () => ledger }, calls };
}

describe('retryJob', () => {
  it('refuses a failed job that has no execution, saying so rather than that retry needs failed', async () => {
    const { context, calls } = retryContext();
    const ledger = await context.ledger();
    const withoutExecution = {
      ...ledger,
      describeJob: async (jobId: string) => ({ ...(await ledger.describeJob(jobId)), executionId: null }),
    } as Ledger;
    await expect(
      retryJob({ ...context, ledger: async () => withoutExecution }, 'imp_1'),
    ).rejects.toMatchObject({
      name: 'JobStateError',
      field: 'jobId',
      message: 'jobId: job imp_1 is failed, but it has no execution to retry the input of',
    });
    expect(calls).toEqual([]);
  });

  // PENDING_REDRIVE: a redrive of it was accepted and is about to run it again
  // (https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html).
  it.each(['RUNNING', 'PENDING_REDRIVE'] as const)(
    'refuses while the previous execution is still %s, naming jobId, before handing the job over',
    async (status) => {
      const { context, sfn, calls } = retryContext(status);
      await expect(retryJob(context, 'imp_1')).rejects.toMatchObject({
        name: 'ExecutionStillRunningError',
        field: 'jobId',
        message: expect.stringMatching(new RegExp(`still ${status}.*stop it first`)),
      });
      expect(calls).toEqual([]);
      expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
    },
  );

  // StartExecution answers success for a RUNNING execution of the same name and input (idempotent),
  // ExecutionAlreadyExists otherwise (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html).
  it('starts under the next name when the attempt’s name exists with this job’s input, even running: that execution (a start whose answer was lost) may be past its RegisterJob', async () => {
    for (const status of ['RUNNING', 'FAILED'] as const) {
      const { context, sfn, calls } = retryContext();
      sfn
        .on(DescribeExecutionCommand, { executionArn: named('imp_1-attempt-2') })
        .resolves({ executionArn: named('imp_1-attempt-2'), status, input });
      sfn.on(StartExecutionCommand).resolves({ executionArn: named('imp_1-attempt-2-2') });
      expect(await retryJob(context, 'imp_1')).toMatchObject({
        attempt: 2,
        executionArn: named('imp_1-attempt-2-2'),
      });
      expect(calls).toEqual([`hand-over ${named('imp_1-attempt-2-2')}`]);
      expect(sfn.commandCalls(StartExecutionCommand).map((call) => call.args[0].input.name)).toEqual([
        'imp_1-attempt-2-2',
      ]);
    }
  });

  it('takes the job back and tries the next name when the name was made between the look and the start', async () => {
    const { context, sfn, calls } = retryContext();
    sfn.on(StartExecutionCommand, { name: 'imp_1-attempt-2' }).rejects(taken());
    sfn
      .on(StartExecutionCommand, { name: 'imp_1-attempt-2-2' })
      .resolves({ executionArn: named('imp_1-attempt-2-2') });
    expect(await retryJob(context, 'imp_1')).toMatchObject({ executionArn: named('imp_1-attempt-2-2') });
    expect(calls).toEqual([
      `hand-over ${named('imp_1-attempt-2')}`,
      `take-back ${named('imp_1-attempt-2')}`,
      `hand-over ${named('imp_1-attempt-2-2')}`,
    ]);
  });

  it('takes the job back and fails with the error when StartExecution fails otherwise (AccessDenied is not a name taken)', async () => {
    const { context, sfn, calls } = retryContext();
    const denied = Object.assign(new Error('not authorized to perform: states:StartExecution'), {
      name: 'AccessDeniedException',
    });
    sfn.on(StartExecutionCommand).rejects(denied);
    await expect(retryJob(context, 'imp_1')).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(1);
    expect(calls).toEqual([`hand-over ${named('imp_1-attempt-2')}`, `take-back ${named('imp_1-attempt-2')}`]);
  });

  // The take-back failing too (the ops-ledger throttled, the database blipping) must not hide why the
  // retry failed, and must say the job may be left registered to an execution that never started.
  it('fails with StartExecution’s error, warning that the job may be left registered, when the take-back fails too', async () => {
    const { context, sfn, calls, warnings } = retryContext();
    const denied = Object.assign(new Error('not authorized to perform: states:StartExecution'), {
      name: 'AccessDeniedException',
    });
    sfn.on(StartExecutionCommand).rejects(denied);
    const ledger = await context.ledger();
    ledger.takeBackJob = async (takeBack) => {
      calls.push(`take-back ${takeBack.executionArn}`);
      throw new LedgerInvokeError('sidestep-staging-ops-ledger failed (TooManyRequestsException)');
    };
    await expect(retryJob(context, 'imp_1')).rejects.toBe(denied);
    expect(calls).toEqual([`hand-over ${named('imp_1-attempt-2')}`, `take-back ${named('imp_1-attempt-2')}`]);
    expect(warnings).toEqual([
      expect.stringMatching(
        /^job imp_1 may be left registered to a retry that never started \(its take-back failed: .*TooManyRequestsException/,
      ),
    ]);
  });

  it('tries no other name once the take-back of a name taken meanwhile failed (the job may still be handed over)', async () => {
    const { context, sfn, calls, warnings } = retryContext();
    sfn
      .on(StartExecutionCommand)
      .rejects(Object.assign(new Error('Execution Already Exists'), { name: 'ExecutionAlreadyExists' }));
    const ledger = await context.ledger();
    ledger.takeBackJob = async (takeBack) => {
      calls.push(`take-back ${takeBack.executionArn}`);
      throw new LedgerInvokeError('sidestep-staging-ops-ledger failed (Unhandled): socket hang up');
    };
    await expect(retryJob(context, 'imp_1')).rejects.toMatchObject({ name: 'ExecutionAlreadyExists' });
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(1);
    expect(warnings).toHaveLength(1);
  });

  it('takes the job back, and starts nothing, when the hand-over fails without an answer (it may have been made)', async () => {
    const { context, sfn, calls } = retryContext();
    const ledger = await context.ledger();
    const lost = new LedgerInvokeError('sidestep-staging-ops-ledger failed (Unhandled): socket hang up');
    ledger.handOverJob = async (handOver) => {
      calls.push(`hand-over ${handOver.executionArn}`);
      throw lost;
    };
    await expect(retryJob(context, 'imp_1')).rejects.toBe(lost);
    expect(calls).toEqual([`hand-over ${named('imp_1-attempt-2')}`, `take-back ${named('imp_1-attempt-2')}`]);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('takes nothing back when the ledger refuses the hand-over (it answered: nothing changed)', async () => {
    const { context, sfn, calls } = retryContext();
    const ledger = await context.ledger();
    ledger.handOverJob = async () => {
      throw new JobStateError('imp_1', 'registered', 'retry', ['failed']);
    };
    await expect(retryJob(context, 'imp_1')).rejects.toMatchObject({ name: 'JobStateError' });
    expect(calls).toEqual([]);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it("fails naming jobId, without handing the job over, when the name is another input's execution", async () => {
    const { context, sfn, calls } = retryContext();
    sfn
      .on(DescribeExecutionCommand, { executionArn: named('imp_1-attempt-2') })
      .resolves({ executionArn: named('imp_1-attempt-2'), status: 'RUNNING', input: '{}' });
    await expect(retryJob(context, 'imp_1')).rejects.toMatchObject({
      name: 'RetryExecutionNameTakenError',
      field: 'jobId',
      message: expect.stringContaining(named('imp_1-attempt-2')),
    });
    expect(calls).toEqual([]);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });
});

// An execution name is 1-80 characters without `:` (StartExecution's name); a job id may be 128
// characters with `:` (an export's id is its request's envelope id).
describe('retryExecutionName', () => {
  it('is <jobId>-attempt-<n>[-<take>] for a job id that fits', () => {
    expect(retryExecutionName('imp_1', 2, 1)).toBe('imp_1-attempt-2');
    expect(retryExecutionName('imp_1', 2, 3)).toBe('imp_1-attempt-2-3');
  });

  it('fits a long job id, or one with characters Step Functions refuses, into 80 characters, keeping two such ids apart', () => {
    const long = `exp-${'a'.repeat(124)}`;
    const colons = 'orders:2026-12-05:nightly';
    for (const jobId of [long, `${long.slice(0, -1)}b`, colons, colons.replaceAll(':', '_')]) {
      for (const take of [1, 5]) {
        const name = retryExecutionName(jobId, 12, take);
        expect(name.length).toBeLessThanOrEqual(80);
        expect(name).toMatch(/^[A-Za-z0-9._-]+$/);
        expect(name).toMatch(take === 1 ? /-attempt-12$/ : /-attempt-12-5$/);
      }
    }
    expect(retryExecutionName(long, 2, 1)).not.toBe(retryExecutionName(`${long.slice(0, -1)}b`, 2, 1));
    expect(retryExecutionName(colons, 2, 1)).not.toBe(retryExecutionName(colons.replaceAll(':', '_'), 2, 1));
    expect(retryExecutionName(colons, 2, 1)).toMatch(/^orders_2026-12-05_nightly-[0-9a-f]{8}-attempt-2$/);
  });
});

describeEachDatabase('a redrive and a retry of one job at once', (open) => {
  const db = suiteDatabase(open);

  /** Failed job `jobId` of execution `first`, a context on the SQL ledger, and `first` as Step Functions has it. */
  async function racing(jobId: string) {
    const arn = named(`${jobId}-first`);
    await db().query(
      `INSERT INTO jobs (id, kind, state, request_id, requested_by, file_name, execution_id, error)
       VALUES ($1, 'export', 'failed', $2, 'a@example.com', 'f', $3, 'boom')`,
      [jobId, `req-${jobId}`, arn],
    );
    const staged = stagingContext();
    const ledger = new SqlLedger(db(), { notifyAddress: 'ops@example.com' });
    const context = { ...staged.context, ledger: async () => ledger };
    const execution = { status: 'FAILED', redriveCount: 0 };
    staged.sfn.on(DescribeExecutionCommand).rejects(missing());
    staged.sfn.on(DescribeExecutionCommand, { executionArn: arn }).callsFake(async () => ({
      executionArn: arn,
      stateMachineArn: machine,
      ...execution,
      redriveStatus: 'REDRIVABLE',
      input: JSON.stringify({ jobId }),
    }));
    staged.sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    staged.sfn.on(StartExecutionCommand).callsFake(async ({ name }) => ({ executionArn: named(name) }));
    const audit = async () =>
      (
        await db().query<{ action: string; result: string }>(
          `SELECT action, result FROM operator_audit WHERE target IN ($1, $2) ORDER BY id`,
          [jobId, arn],
        )
      ).rows;
    const owner = async () =>
      (await db().query<{ execution_id: string }>('SELECT execution_id FROM jobs WHERE id = $1', [jobId]))
        .rows[0]?.execution_id;
    /** Asserts that the redrive alone went through: the job still `arn`'s, no retry started, the retry audited `error`. */
    const onlyRedriveRan = async () => {
      expect(staged.sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
      expect(staged.sfn.commandCalls(RedriveExecutionCommand)).toHaveLength(1);
      expect(await owner()).toBe(arn);
      expect((await audit()).sort((a, b) => a.action.localeCompare(b.action))).toMatchObject([
        { action: 'execution-redrive', result: 'ok' },
        { action: 'job-retry', result: 'error' },
      ]);
    };
    return { arn, staged, context, execution, audit, owner, onlyRedriveRan };
  }

  it('refuses the retry when it comes between the redrive’s look at the ledger and its RedriveExecution', async () => {
    const { arn, staged, context, execution, onlyRedriveRan } = await racing('exp_redrive_first');
    let retried: Promise<unknown> = Promise.resolve();
    staged.sfn.on(RedriveExecutionCommand).callsFake(async () => {
      retried = retryJob(context, 'exp_redrive_first').catch((error: unknown) => error);
      await retried;
      Object.assign(execution, { status: 'RUNNING', redriveCount: 1 });
      return { redriveDate: new Date() };
    });
    await expect(redriveExecution(context, arn)).resolves.toMatchObject({ executionArn: arn });
    expect(await retried).toBeInstanceOf(JobStateError);
    await onlyRedriveRan();
  });

  it('refuses the retry whose look at the execution came before a redrive that ran before its hand-over', async () => {
    const { arn, staged, context, execution, onlyRedriveRan } = await racing('exp_redrive_between');
    staged.sfn.on(RedriveExecutionCommand).callsFake(async () => {
      Object.assign(execution, { status: 'RUNNING', redriveCount: 1 });
      return { redriveDate: new Date() };
    });
    // The retry looks (FAILED, redrive count 0); the redrive runs before its hand-over.
    staged.sfn
      .on(DescribeExecutionCommand, { executionArn: named('exp_redrive_between-attempt-2') })
      .callsFake(async () => {
        await redriveExecution(context, arn);
        throw missing();
      });
    await expect(retryJob(context, 'exp_redrive_between')).rejects.toBeInstanceOf(JobStateError);
    await onlyRedriveRan();
  });

  it('refuses the redrive, without RedriveExecution, when the retry handed the job over first; retries once that redrive has ended', async () => {
    const { arn, staged, context, execution, audit, owner } = await racing('exp_retry_first');
    staged.sfn.on(RedriveExecutionCommand).resolves({ redriveDate: new Date() });
    Object.assign(execution, { redriveCount: 1 }); // redriven once before, and failed again: no claim stands
    await db().query(
      `INSERT INTO job_transitions (job_id, event, from_state, to_state, execution_id, data)
       VALUES ('exp_retry_first', 'redrive', 'failed', 'failed', $1, '{"redrive":{"redriveCount":0}}')`,
      [arn],
    );
    await expect(retryJob(context, 'exp_retry_first')).resolves.toMatchObject({ attempt: 2 });
    await expect(redriveExecution(context, arn)).rejects.toMatchObject({ field: 'execution' });
    expect(staged.sfn.commandCalls(RedriveExecutionCommand)).toHaveLength(0);
    expect(await owner()).toBe(named('exp_retry_first-attempt-2'));
    expect(await audit()).toMatchObject([
      { action: 'job-retry', result: 'ok' },
      { action: 'execution-redrive', result: 'error' },
    ]);
  });
});

// A retry cut between its hand-over and StartExecution, its take-back failing too, leaves the job
// registered to an execution that never started; the operator fails it (or the job-sweeper does, past
// the hand-over's deadline). The job's execution is then one Step Functions never had.
describeEachDatabase('a retry of a job whose last retry never started', (open) => {
  const db = suiteDatabase(open);

  /** Failed export `jobId` of execution `<jobId>-first` (as Step Functions has it unless `gone`), handed over to attempt 2, which never started. */
  async function handedOverToNothing(jobId: string, options: { readonly gone?: boolean } = {}) {
    const firstArn = named(`${jobId}-first`);
    const neverStarted = named(`${jobId}-attempt-2`);
    await db().query(
      `INSERT INTO jobs (id, kind, state, request_id, requested_by, file_name, execution_id, error)
       VALUES ($1, 'export', 'failed', $2, 'a@example.com', 'f', $3, 'boom')`,
      [jobId, `req-${jobId}`, firstArn],
    );
    const staged = stagingContext();
    acceptMail(staged.sqs);
    const ledger = new SqlLedger(db(), { notifyAddress: 'ops@example.com' });
    const context = { ...staged.context, ledger: async () => ledger };
    const firstInput = JSON.stringify({ jobId });
    staged.sfn.on(DescribeExecutionCommand).rejects(missing());
    if (!options.gone) {
      staged.sfn
        .on(DescribeExecutionCommand, { executionArn: firstArn })
        .resolves({ executionArn: firstArn, stateMachineArn: machine, status: 'FAILED', input: firstInput });
    }
    staged.sfn.on(StartExecutionCommand).callsFake(async ({ name }) => ({ executionArn: named(name) }));
    await ledger.handOverJob({
      jobId,
      fromExecutionArn: firstArn,
      executionArn: neverStarted,
      attempt: 2,
      operator: 'arn:aws:sts::123456789012:assumed-role/operator/alice',
    });
    return { ...staged, context, ledger, firstArn, neverStarted, firstInput };
  }

  it("shows the job, its execution's status unknown, and fails it", async () => {
    const { context, neverStarted, warnings } = await handedOverToNothing('exp_shown');
    expect(await describeJob(context, 'exp_shown')).toMatchObject({
      state: 'registered',
      executionId: neverStarted,
      latestExecution: { executionArn: neverStarted, status: null },
    });
    expect(warnings).toEqual([
      expect.stringContaining(`cannot read execution ${neverStarted} of job exp_shown`),
    ]);
    expect(await failJob(context, 'exp_shown', 'its retry never started')).toMatchObject({ state: 'failed' });
  });

  it('retries it with the input and state machine of its last execution that exists, handed over from the one that never started', async () => {
    const { context, ledger, sfn, firstInput, neverStarted } = await handedOverToNothing('exp_again');
    await failJob(context, 'exp_again', 'its retry never started');

    expect(await retryJob(context, 'exp_again')).toEqual({
      jobId: 'exp_again',
      attempt: 3,
      executionArn: named('exp_again-attempt-3'),
      previousExecutionArn: neverStarted,
    });
    expect(sfn.commandCalls(StartExecutionCommand).map((call) => call.args[0].input)).toEqual([
      { stateMachineArn: machine, name: 'exp_again-attempt-3', input: firstInput },
    ]);
    expect(await ledger.describeJob('exp_again')).toMatchObject({
      state: 'registered',
      attempt: 3,
      executionId: named('exp_again-attempt-3'),
    });
  });

  it('refuses, naming the job, when none of its executions exists, and leaves it failed', async () => {
    const { context, ledger, sfn, firstArn, neverStarted } = await handedOverToNothing('exp_gone', {
      gone: true,
    });
    await failJob(context, 'exp_gone', 'its retry never started');

    await expect(retryJob(context, 'exp_gone')).rejects.toMatchObject({
      name: 'RetryInputNotFoundError',
      field: 'jobId',
      jobId: 'exp_gone',
      executionArns: [neverStarted, firstArn],
      message: `jobId: cannot retry exp_gone: none of its executions exists to take the input of (${neverStarted}, ${firstArn}); the job is as it was`,
    });
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
    expect(await ledger.describeJob('exp_gone')).toMatchObject({
      state: 'failed',
      executionId: neverStarted,
    });
  });
});
