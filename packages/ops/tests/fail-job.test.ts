import { DescribeExecutionCommand, ExecutionDoesNotExist } from '@aws-sdk/client-sfn';
import { GetQueueUrlCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { expect, it } from '@jest/globals';
import { MAX_FAILURE_REASON_LENGTH } from '@sidestep/contracts';
import { describeEachDatabase, suiteDatabase } from '@sidestep/db/testing';
import { SWEEP_MAIL_PENDING } from '@sidestep/jobs';
import { type Ledger, SqlLedger } from '@sidestep/ledger';
import { failJob } from '../src/index.ts';
import { acceptMail, stagingContext } from './staging-context.ts';

// The SqlLedger path (the local cloud, `--database-url`): no ledger request validates the reason
// there, and the failure mail takes at most MAX_FAILURE_REASON_LENGTH characters of it. A job failed
// with a longer one would never be mailed: the sweeper's outbox would queue a mail the contract
// refuses, and a second `job fail` finds the job ended.
describeEachDatabase('failJob on the database ledger', (open) => {
  const db = suiteDatabase(open);

  async function runningExport(id: string) {
    await db().query(
      `INSERT INTO jobs (id, kind, state, request_id, requested_by, file_name, execution_id)
       VALUES ($1, 'export', 'running', $2, 'asker@example.com', $1, 'arn:x')`,
      [id, `req-${id}`],
    );
  }

  function ledgerContext() {
    const staged = stagingContext();
    acceptMail(staged.sqs);
    const ledger = new SqlLedger(db(), { notifyAddress: 'ops@example.com' });
    return { ...staged, context: { ...staged.context, ledger: async () => ledger } };
  }

  /** Whether the job's failure mail is owed: the sweeper's outbox claims it on its next run. */
  const mailOwed = async (id: string) =>
    (
      await db().query<{ owed: boolean }>(`SELECT (${SWEEP_MAIL_PENDING}) AS owed FROM jobs WHERE id = $1`, [
        id,
      ])
    ).rows[0]?.owed;

  const stateOf = async (id: string) =>
    (await db().query<{ state: string }>('SELECT state FROM jobs WHERE id = $1', [id])).rows[0]?.state;

  it('refuses a reason longer than the failure mail takes, naming reason, and leaves the job running', async () => {
    await runningExport('exp_long_reason');
    const { context, sqs } = ledgerContext();

    await expect(
      failJob(context, 'exp_long_reason', 'x'.repeat(MAX_FAILURE_REASON_LENGTH + 1)),
    ).rejects.toMatchObject({
      name: 'InvalidOptionError',
      field: 'reason',
      message: `reason: at most ${MAX_FAILURE_REASON_LENGTH} characters (the failure mail's limit), not ${MAX_FAILURE_REASON_LENGTH + 1}`,
    });
    expect(await stateOf('exp_long_reason')).toBe('running');
    expect(sqs.commandCalls(SendMessageBatchCommand)).toHaveLength(0);
  });

  // A job whose execution still runs is not stuck: its task may finish the export and the finalizer
  // complete its file, under a job the ledger would say failed. `job fail` is for a job whose task is
  // gone; a running execution is stopped first (its failure path then fails the job), as for a retry.
  it('refuses a job whose execution is still running, naming it, and leaves the job running', async () => {
    await runningExport('exp_still_running');
    const { context, sfn, sqs } = ledgerContext();
    sfn.on(DescribeExecutionCommand, { executionArn: 'arn:x' }).resolves({ status: 'RUNNING' });

    await expect(failJob(context, 'exp_still_running', 'stuck')).rejects.toMatchObject({
      name: 'ExecutionStillRunningError',
      field: 'jobId',
      message:
        "jobId: exp_still_running's execution arn:x is still RUNNING: stop it first (sidestep stop), then fail it",
    });
    expect(await stateOf('exp_still_running')).toBe('running');
    expect(sqs.commandCalls(SendMessageBatchCommand)).toHaveLength(0);
  });

  it('fails a job whose execution ended or never started', async () => {
    await runningExport('exp_ended');
    await runningExport('exp_never_started');
    const { context, sfn } = ledgerContext();
    sfn.on(DescribeExecutionCommand).resolves({ status: 'FAILED' });
    expect(await failJob(context, 'exp_ended', 'its task is gone')).toMatchObject({ state: 'failed' });
    sfn
      .on(DescribeExecutionCommand)
      .rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));
    expect(await failJob(context, 'exp_never_started', 'never started')).toMatchObject({ state: 'failed' });
  });

  it('fails a job and queues its failure mail with a reason of the longest length', async () => {
    await runningExport('exp_longest_reason');
    const { context } = ledgerContext();

    const failed = await failJob(context, 'exp_longest_reason', 'x'.repeat(MAX_FAILURE_REASON_LENGTH));

    expect(failed).toMatchObject({ state: 'failed', mail: { status: 'queued', to: 'asker@example.com' } });
    expect(await stateOf('exp_longest_reason')).toBe('failed');
  });

  // The CLI queues the failure mail from the operator's process after the fail's commit: killed
  // between the two, it must leave the mail owed in the ledger, which the sweeper's next run queues.
  it("leaves the failure mail owed, in the fail's own commit, when the CLI's send never ends", async () => {
    await runningExport('exp_cli_killed');
    const { context, sfn, sqs } = ledgerContext();
    sfn.on(DescribeExecutionCommand).resolves({ status: 'FAILED' });
    sqs.on(GetQueueUrlCommand).callsFake(() => new Promise(() => undefined)); // the process dies here
    const ledger = await context.ledger();
    let committed: () => void = () => undefined;
    const failCommitted = new Promise<void>((resolve) => {
      committed = resolve;
    });
    const watched = {
      ...ledger,
      describeJob: (jobId: string) => ledger.describeJob(jobId),
      appendAudit: (entry: Parameters<Ledger['appendAudit']>[0]) => ledger.appendAudit(entry),
      failJob: async (...args: Parameters<Ledger['failJob']>) => {
        const failed = await ledger.failJob(...args);
        committed();
        return failed;
      },
    } as Ledger;
    void failJob({ ...context, ledger: async () => watched }, 'exp_cli_killed', 'its task is gone');
    await failCommitted;

    expect(await stateOf('exp_cli_killed')).toBe('failed');
    expect(await mailOwed('exp_cli_killed')).toBe(true);
  });

  it('records the failure mail its own send queued, so the sweeper does not queue it again', async () => {
    await runningExport('exp_cli_mailed');
    const { context, sfn } = ledgerContext();
    sfn.on(DescribeExecutionCommand).resolves({ status: 'FAILED' });

    const failed = await failJob(context, 'exp_cli_mailed', 'its task is gone');

    expect(failed).toMatchObject({ mail: { status: 'queued', id: 'export.failed:exp_cli_mailed' } });
    expect(await mailOwed('exp_cli_mailed')).toBe(false);
  });
});
