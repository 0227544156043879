import { DescribeExecutionCommand, ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { expect, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { endedExecutions } from './start-path-cloud.ts';

// The path tests' wait for executions (start-path-cloud.ts), against a Step Functions whose 20
// executions run for three of its rounds: it describes each execution once running and once ended,
// not every execution every round. Describing all of them every 250 ms passed DescribeExecution's
// quota (bucket 300, 15 a second), which the local cloud enforces: import-burst failed with
// ThrottlingException in a fresh clone's run.
it('waits for 20 executions to end describing each only when the list shows it changed', async () => {
  const sfn = new SFNClient({ region: 'us-east-1' });
  const mock = mockClient(sfn);
  const arns = Array.from(
    { length: 20 },
    (_, n) => `arn:aws:states:us-east-1:000000000000:execution:import:e${n}`,
  );
  let round = 0;
  const status = () => (round > 3 ? 'SUCCEEDED' : 'RUNNING');
  mock.on(ListExecutionsCommand).callsFake(() => {
    round += 1;
    return { executions: arns.map((executionArn) => ({ executionArn, status: status(), redriveCount: 0 })) };
  });
  mock.on(DescribeExecutionCommand).callsFake(({ executionArn }: { executionArn: string }) => ({
    executionArn,
    status: status(),
    redriveCount: 0,
    input: JSON.stringify({ key: `run-1/${executionArn.split(':').at(-1)}` }),
  }));
  try {
    const ended = await endedExecutions(
      sfn,
      'arn:aws:states:us-east-1:000000000000:stateMachine:import',
      (input) => input.includes('run-1/'),
      { count: 20 },
    );
    expect(ended.map((execution) => execution.status)).toEqual(arns.map(() => 'SUCCEEDED'));
    expect(round).toBe(4);
    expect(mock.commandCalls(DescribeExecutionCommand)).toHaveLength(40);
  } finally {
    mock.restore();
    sfn.destroy();
  }
});
