import { DescribeExecutionCommand, ExecutionAlreadyExists, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { describe, expect, it } from '@jest/globals';
import { type JobDetail, type Ledger, retryJob } from '../src/index.ts';
import { stagingContext } from './staging-context.ts';

const machine = 'arn:aws:states:ap-northeast-1:123456789012:stateMachine:sidestep-staging-import';
const first = 'arn:aws:states:ap-northeast-1:123456789012:execution:sidestep-staging-import:imp_1';
const named = (name: string) => `${machine.replace(':stateMachine:', ':execution:')}:${name}`;
const input = '{"detail":{"bucket":{"name":"uploads"},"object":{"key":"imports/a.csv"}}}';

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
      }) as unknown as JobDetail,
    handOverJob: async (handOver: { executionArn: string }) =>
      void calls.push(`hand-over ${handOver.executionArn}`),
    takeBackJob: async (takeBack: { executionArn: string }) =>
      void calls.push(`take-back ${takeBack.executionArn}`),
    appendAudit: async () => undefined,
  } as unknown as Ledger;
  return { ledger, calls };
}

function retryContext(previousStatus: 'FAILED' | 'RUNNING' = 'FAILED') {
  const staged = stagingContext();
  staged.sfn
    .on(DescribeExecutionCommand, { executionArn: first })
    .resolves({ executionArn: first, stateMachineArn: machine, status: previousStatus, input });
  const { ledger, calls } = failedJobLedger();
  return { ...staged, context: { ...staged.context, ledger: async () => ledger }, calls };
}

const taken = () => new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} });

describe('retryJob', () => {
  it('refuses while the previous execution is still RUNNING, naming jobId, before handing the job over', async () => {
    const { context, sfn, calls } = retryContext('RUNNING');
    await expect(retryJob(context, 'imp_1')).rejects.toMatchObject({
      name: 'ExecutionStillRunningError',
      field: 'jobId',
      message: expect.stringMatching(/still RUNNING.*stop it first/),
    });
    expect(calls).toEqual([]);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  // StartExecution is idempotent only for a RUNNING execution of the same name and input; otherwise
  // ExecutionAlreadyExists (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html).
  it("adopts the retry's execution when its name exists with this job's input and runs (a start whose answer was lost)", async () => {
    const { context, sfn, calls } = retryContext();
    sfn.on(StartExecutionCommand).rejects(taken());
    sfn
      .on(DescribeExecutionCommand, { executionArn: named('imp_1-attempt-2') })
      .resolves({ executionArn: named('imp_1-attempt-2'), status: 'RUNNING', input });
    expect(await retryJob(context, 'imp_1')).toMatchObject({
      attempt: 2,
      executionArn: named('imp_1-attempt-2'),
    });
    expect(calls).toEqual([`hand-over ${named('imp_1-attempt-2')}`]);
  });

  it("starts under a new name when the attempt's name is spent by an ended execution of this job", async () => {
    const { context, sfn, calls } = retryContext();
    sfn.on(StartExecutionCommand, { name: 'imp_1-attempt-2' }).rejects(taken());
    sfn
      .on(StartExecutionCommand, { name: 'imp_1-attempt-2-2' })
      .resolves({ executionArn: named('imp_1-attempt-2-2') });
    sfn
      .on(DescribeExecutionCommand, { executionArn: named('imp_1-attempt-2') })
      .resolves({ executionArn: named('imp_1-attempt-2'), status: 'FAILED', input });
    expect(await retryJob(context, 'imp_1')).toMatchObject({
      attempt: 2,
      executionArn: named('imp_1-attempt-2-2'),
    });
    expect(calls).toEqual([
      `hand-over ${named('imp_1-attempt-2')}`,
      `take-back ${named('imp_1-attempt-2')}`,
      `hand-over ${named('imp_1-attempt-2-2')}`,
    ]);
  });

  it("takes the job back and fails naming jobId when the name is another input's execution", async () => {
    const { context, sfn, calls } = retryContext();
    sfn.on(StartExecutionCommand).rejects(taken());
    sfn
      .on(DescribeExecutionCommand, { executionArn: named('imp_1-attempt-2') })
      .resolves({ executionArn: named('imp_1-attempt-2'), status: 'RUNNING', input: '{}' });
    await expect(retryJob(context, 'imp_1')).rejects.toMatchObject({
      name: 'RetryExecutionNameTakenError',
      field: 'jobId',
      message: expect.stringContaining(named('imp_1-attempt-2')),
    });
    expect(calls).toEqual([`hand-over ${named('imp_1-attempt-2')}`, `take-back ${named('imp_1-attempt-2')}`]);
  });
});
