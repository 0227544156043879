import { InvokeCommand, type InvokeCommandOutput } from '@aws-sdk/client-lambda';
import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  ExecutionNotRedrivable,
  GetExecutionHistoryCommand,
  RedriveExecutionCommand,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { expect, it } from '@jest/globals';
import { describeEachDatabase, suiteDatabase } from '@sidestep/db/testing';
import { answerLedgerRequest, idempotencyRecordHash, SqlLedger } from '@sidestep/ledger';
import { failJob, redriveExecution, releaseMail, retryJob } from '../src/index.ts';
import { acceptMail, stagingContext } from './staging-context.ts';

const machine = 'arn:aws:states:ap-northeast-1:123456789012:stateMachine:sidestep-staging-export';
const execution = (name: string) => `${machine.replace(':stateMachine:', ':execution:')}:${name}`;

// The CLI's Lambda client sends a synchronous Invoke again when its answer is lost (a reset
// connection, a socket timeout), so the ops-ledger function runs the same request twice: "your
// function may be invoked multiple times" (https://docs.aws.amazon.com/lambda/latest/dg/invocation-retries.html,
// https://repost.aws/knowledge-center/lambda-function-retry-timeout-sdk). Here every action is
// delivered twice to a SqlLedger, the first answer lost, and the operator's command gets the second.
describeEachDatabase('operator actions whose every ledger action is delivered twice', (open) => {
  const db = suiteDatabase(open);

  function twiceContext() {
    const staged = stagingContext();
    const ledger = new SqlLedger(db(), { notifyAddress: 'ops@example.com' });
    const delivered: string[] = [];
    /** Every action as the function received it, for a copy delivered later. */
    const requests: { op: string }[] = [];
    staged.lambda.on(InvokeCommand).callsFake(async (input: { Payload: Uint8Array; Qualifier?: string }) => {
      const request = JSON.parse(new TextDecoder().decode(input.Payload)) as { op: string };
      const options = { actions: input.Qualifier === 'actions' };
      if (options.actions) {
        requests.push(request);
        delivered.push(request.op);
        await answerLedgerRequest(ledger, request, options); // its answer lost
        delivered.push(request.op);
      }
      const answer = await answerLedgerRequest(ledger, request, options);
      const Payload = new TextEncoder().encode(JSON.stringify(answer)) as InvokeCommandOutput['Payload'];
      return { StatusCode: 200, Payload };
    });
    acceptMail(staged.sqs);
    return { ...staged, delivered, requests, ledger };
  }

  async function insertExport(id: string, state: string) {
    await db().query(
      `INSERT INTO jobs (id, kind, state, request_id, requested_by, file_name, execution_id, error)
       VALUES ($1, 'export', $2, $3, 'asker@example.com', $1, $4, 'boom')`,
      [id, state, `req-${id}`, execution('first')],
    );
  }

  const auditRows = async (target: string) =>
    (
      await db().query<{ action: string; result: string }>(
        'SELECT action, result FROM operator_audit WHERE target = $1 ORDER BY id',
        [target],
      )
    ).rows;

  it('fails a job and queues its failure mail, with one audit entry', async () => {
    await insertExport('exp_fail_twice', 'running');
    const { context, delivered } = twiceContext();

    const failed = await failJob(context, 'exp_fail_twice', 'worker task gone');

    expect(delivered).toEqual([
      'job.fail',
      'job.fail',
      'job.fail-mail-queued',
      'job.fail-mail-queued',
      'audit.append',
      'audit.append',
    ]);
    expect(failed).toMatchObject({
      state: 'failed',
      mail: { status: 'queued', id: 'export.failed:exp_fail_twice', to: 'asker@example.com' },
    });
    expect(await auditRows('exp_fail_twice')).toEqual([{ action: 'job-fail', result: 'ok' }]);
    // Owed by the fail, recorded queued by the command: the job-sweeper does not queue it again.
    const { rows } = await db().query(
      'SELECT swept_at IS NOT NULL AS owed, sweep_mail_queued_at IS NOT NULL AS queued FROM jobs WHERE id = $1',
      ['exp_fail_twice'],
    );
    expect(rows).toEqual([{ owed: true, queued: true }]);
  });

  it('releases a mail once, and refuses the command run again, which is a new request, not a duplicate', async () => {
    const key = 'export.failed:exp_release_twice:1';
    // A send cut before the mail was marked sent, its claiming invocation over (its window ended).
    await db().query(
      `INSERT INTO idempotency_records (id, status, expiry_timestamp, in_progress_expiry_timestamp)
       VALUES ($1, 'INPROGRESS', 4102444800, $2)`,
      [`sidestep-staging-mail-dispatcher#${idempotencyRecordHash(key)}`, Date.now() - 60_000],
    );
    const { context, delivered } = twiceContext();

    // Forced: the search for the mail's records that comes first is find-mail.test's; here, the ledger's side.
    const force = { force: true };
    expect(await releaseMail(context, key, force)).toMatchObject({ idempotencyKey: key });
    expect(delivered).toEqual(['mail.release', 'mail.release', 'audit.append', 'audit.append']);
    await expect(releaseMail(context, key, force)).rejects.toMatchObject({
      name: 'MailRecordNotReleasableError',
    });
    expect(await auditRows(key)).toEqual([
      { action: 'mail-release', result: 'ok' },
      { action: 'mail-release', result: 'error' },
    ]);
  });

  it("retries a failed job: the hand-over's duplicate answers as the first, and the retry's execution starts", async () => {
    await insertExport('exp_retry_twice', 'failed');
    const { context, sfn, delivered } = twiceContext();
    sfn.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'no', $metadata: {} }));
    sfn.on(DescribeExecutionCommand, { executionArn: execution('first') }).resolves({
      executionArn: execution('first'),
      stateMachineArn: machine,
      status: 'FAILED',
      input: '{}',
    });
    sfn.on(StartExecutionCommand).resolves({ executionArn: execution('exp_retry_twice-attempt-2') });

    expect(await retryJob(context, 'exp_retry_twice')).toMatchObject({
      attempt: 2,
      executionArn: execution('exp_retry_twice-attempt-2'),
    });

    expect(delivered).toEqual(['job.hand-over', 'job.hand-over', 'audit.append', 'audit.append']);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(1);
    expect(
      (await db().query('SELECT state, attempt, execution_id FROM jobs WHERE id = $1', ['exp_retry_twice']))
        .rows,
    ).toEqual([{ state: 'registered', attempt: 2, execution_id: execution('exp_retry_twice-attempt-2') }]);
    expect(await auditRows('exp_retry_twice')).toEqual([{ action: 'job-retry', result: 'ok' }]);
  });

  // A copy of a refused redrive's release can land later still (Lambda may run one Invoke twice), after
  // the operator's next redrive of the execution claimed the job at the same count: it must leave that
  // claim, or a retry that looked before the redrive ran hands the job over beside it.
  it("withdraws a refused redrive's claim only: a copy of its release after the next redrive's claim leaves that claim, and a retry is refused", async () => {
    await insertExport('exp_redrive_twice', 'failed');
    const { context, sfn, delivered, requests, ledger } = twiceContext();
    sfn.on(DescribeExecutionCommand, { executionArn: execution('first') }).resolves({
      executionArn: execution('first'),
      stateMachineArn: machine,
      status: 'FAILED',
      input: '{"jobId":"exp_redrive_twice"}',
      redriveStatus: 'REDRIVABLE',
      redriveCount: 0,
    });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    sfn
      .on(RedriveExecutionCommand)
      .rejectsOnce(new ExecutionNotRedrivable({ message: 'Execution is RUNNING', $metadata: {} }))
      .resolves({ redriveDate: new Date() });

    await expect(redriveExecution(context, execution('first'))).rejects.toMatchObject({
      name: 'ExecutionNotRedrivable',
    });
    await redriveExecution(context, execution('first'));
    const release = requests.find((request) => request.op === 'job.release-redrive');
    expect(await answerLedgerRequest(ledger, release, { actions: true })).toEqual({ ok: true, result: null });

    expect(delivered.filter((op) => op.endsWith('-redrive'))).toEqual([
      'job.claim-redrive',
      'job.claim-redrive',
      'job.release-redrive',
      'job.release-redrive',
      'job.claim-redrive',
      'job.claim-redrive',
    ]);
    const { rows: claims } = await db().query(
      `SELECT data->'redrive'->>'requestId' AS id FROM job_transitions
         WHERE job_id = 'exp_redrive_twice' AND event = 'redrive'`,
    );
    expect(claims).toHaveLength(2);
    expect(claims[0]).toEqual(claims[1]);
    // A retry whose DescribeExecution was made before the redrive ran (count 0) is refused.
    await expect(retryJob(context, 'exp_redrive_twice')).rejects.toMatchObject({ name: 'JobStateError' });
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });
});
