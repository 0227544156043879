import { DescribeExecutionCommand, ExecutionDoesNotExist } from '@aws-sdk/client-sfn';
import { describe, expect, it } from '@jest/globals';
import type { JobDetail, Ledger } from '@sidestep/ledger';
import { sampleJobDetail } from '@sidestep/ledger/testing';
import { describeJob, executionRunsJob, type JobExecution } from '../src/index.ts';
import { stagingContext } from './staging-context.ts';

const execution = 'arn:aws:states:ap-northeast-1:123456789012:execution:sidestep-staging-import:imp_1';

/** describeJob on a staging context whose ledger holds `job` and whose Step Functions is stubbed. */
function jobContext(job: JobDetail) {
  const staged = stagingContext();
  const ledger = { describeJob: async () => job } as unknown as Ledger;
  return { ...staged, context: { ...staged.context, ledger: async () => ledger } };
}

// DescribeExecution's status, stopDate and redriveStatus/redriveStatusReason:
// https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html
describe('describeJob', () => {
  it("describes a running job's latest execution with one DescribeExecution (status, stop, whether it can be redriven)", async () => {
    const { context, sfn } = jobContext(sampleJobDetail({ id: 'imp_1', executionId: execution }));
    const stopDate = new Date('2026-12-05T01:00:00Z');
    sfn.on(DescribeExecutionCommand, { executionArn: execution }).resolves({
      executionArn: execution,
      name: 'imp_1',
      status: 'ABORTED',
      stopDate,
      redriveStatus: 'REDRIVABLE',
    });
    expect((await describeJob(context, 'imp_1')).latestExecution).toEqual({
      executionArn: execution,
      name: 'imp_1',
      status: 'ABORTED',
      stopDate,
      redriveStatus: 'REDRIVABLE',
      redriveStatusReason: null,
    });
    expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(1);
  });

  it('describes nothing for a job that ended or has no execution', async () => {
    for (const job of [
      sampleJobDetail({ state: 'succeeded', executionId: execution }),
      sampleJobDetail({ state: 'failed', executionId: execution }),
      sampleJobDetail({ executionId: null }),
    ]) {
      const { context, sfn } = jobContext(job);
      expect((await describeJob(context, job.id)).latestExecution).toBeNull();
      expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(0);
    }
  });

  it('gives an execution it cannot read no status, and says why in a warning, rather than failing the job', async () => {
    const { context, sfn, warnings } = jobContext(sampleJobDetail({ executionId: execution }));
    sfn
      .on(DescribeExecutionCommand)
      .rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));
    expect((await describeJob(context, 'imp_sample')).latestExecution).toEqual({
      executionArn: execution,
      name: 'imp_1',
      status: null,
      stopDate: null,
      redriveStatus: null,
      redriveStatusReason: null,
    });
    expect(warnings).toEqual([expect.stringContaining(`cannot read execution ${execution}`)]);
  });
});

describe('executionRunsJob', () => {
  const latest = (status: string | null): JobExecution => ({
    executionArn: execution,
    name: 'imp_1',
    status,
    stopDate: null,
    redriveStatus: null,
    redriveStatusReason: null,
  });

  // A redriven execution is PENDING_REDRIVE until it runs again (DescribeExecution's status:
  // https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html).
  it('says a RUNNING or PENDING_REDRIVE execution runs its job, an ended one not, and an unread or missing one nothing', () => {
    expect(
      ['RUNNING', 'PENDING_REDRIVE', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'].map((status) =>
        executionRunsJob(latest(status)),
      ),
    ).toEqual([true, true, false, false, false, false]);
    expect([executionRunsJob(latest(null)), executionRunsJob(null), executionRunsJob(undefined)]).toEqual([
      null,
      null,
      null,
    ]);
  });
});
