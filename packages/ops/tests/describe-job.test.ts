import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  GetExecutionHistoryCommand,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { describe, expect, it } from '@jest/globals';
import type { JobDetail, Ledger } from '@sidestep/ledger';
import { sampleJobDetail } from '@sidestep/ledger/testing';
import { FARGATE_VCPU_LIMIT_REASON } from '@sidestep/workflows';
import {
  describeJob,
  executionRunsJob,
  type JobExecution,
  ROOM_WAIT_EVENTS,
  roomWaitOf,
} from '../src/index.ts';
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
      waitingForRoom: null,
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
      waitingForRoom: null,
    });
    expect(warnings).toEqual([expect.stringContaining(`cannot read execution ${execution}`)]);
  });
});

/** RunTask's answer when it started no task, as the `.sync` integration's cause holds it. */
const REFUSED = JSON.stringify({
  Failures: [
    {
      Arn: 'arn:aws:ecs:ap-northeast-1:123456789012:task-definition/sidestep-staging-batch-worker:3',
      Reason: FARGATE_VCPU_LIMIT_REASON,
    },
  ],
  Tasks: [],
});
const at = (second: number) => new Date(Date.UTC(2026, 11, 7, 10, 0, second));
/** A history, oldest first, as events numbered from 1. */
const history = (...events: Omit<HistoryEvent, 'id'>[]): HistoryEvent[] =>
  events.map((event, index) => ({ id: index + 1, ...event }) as HistoryEvent);
const entered = (second: number, name: string): Omit<HistoryEvent, 'id'> => ({
  type: 'TaskStateEntered',
  timestamp: at(second),
  stateEnteredEventDetails: { name },
});
/** One attempt of a Task: scheduled, started, and failed with `error` (or still running). */
const attempt = (second: number, error?: string, cause = REFUSED): Omit<HistoryEvent, 'id'>[] => [
  { type: 'TaskScheduled', timestamp: at(second) } as Omit<HistoryEvent, 'id'>,
  { type: 'TaskStarted', timestamp: at(second) } as Omit<HistoryEvent, 'id'>,
  ...(error
    ? [
        {
          type: 'TaskFailed',
          timestamp: at(second),
          taskFailedEventDetails: { resourceType: 'ecs', resource: 'runTask.sync', error, cause },
        } as Omit<HistoryEvent, 'id'>,
      ]
    : []),
];
const newestFirst = (events: HistoryEvent[]) => [...events].reverse();

// A RunTask past the account's Fargate vCPU quota starts nothing and fails the state with
// AmazonECS.Unknown (https://docs.aws.amazon.com/step-functions/latest/dg/connect-ecs.html); the batch
// step's capacity retrier waits, and until its next try the newest event is that TaskFailed.
describe('roomWaitOf', () => {
  it('finds a step waiting for room: the refusals in a row since the first, ECS’s reason, and about when it gives up', () => {
    const events = history(
      entered(0, 'StartJob'),
      entered(1, 'ImportRows'),
      ...attempt(1, 'AmazonECS.Unknown'),
      ...attempt(11, 'AmazonECS.Unknown'),
      ...attempt(31, 'AmazonECS.Unknown'),
    );
    expect(roomWaitOf(newestFirst(events))).toEqual({
      state: 'ImportRows',
      since: at(1),
      refusals: 3,
      reason: `AmazonECS.Unknown: ECS started no task: ${FARGATE_VCPU_LIMIT_REASON}`,
      // The capacity retrier's waits: 10 s doubling to a minute, 62 of them, 3,610 s.
      givesUpAt: new Date(at(1).getTime() + 3610_000),
    });
  });

  it('counts only the refusals since the step’s last other outcome (a throttled RunTask)', () => {
    const events = history(
      entered(0, 'ExportRows'),
      ...attempt(0, 'AmazonECS.Unknown'),
      ...attempt(10, 'ECS.ThrottlingException', 'Rate exceeded'),
      ...attempt(12, 'AmazonECS.Unknown'),
      ...attempt(22, 'AmazonECS.Unknown'),
    );
    expect(roomWaitOf(newestFirst(events))).toMatchObject({
      state: 'ExportRows',
      since: at(12),
      refusals: 2,
      // The capacity retrier's count runs over the state's whole run: its hour from the first refusal.
      givesUpAt: new Date(at(0).getTime() + 3610_000),
    });
  });

  it('counts a refused attempt’s TaskSubmitFailed, should Step Functions record one, as part of that refusal', () => {
    const submitFailed = { type: 'TaskSubmitFailed', timestamp: at(1) } as Omit<HistoryEvent, 'id'>;
    const events = history(
      entered(1, 'ImportRows'),
      ...attempt(1).slice(0, 2),
      submitFailed,
      ...attempt(1, 'AmazonECS.Unknown').slice(2),
      ...attempt(11).slice(0, 2),
      submitFailed,
      ...attempt(11, 'AmazonECS.Unknown').slice(2),
    );
    expect(roomWaitOf(newestFirst(events))).toMatchObject({ state: 'ImportRows', refusals: 2, since: at(1) });
  });

  it('counts a RunTask in flight after refusals as still waiting: ECS has not answered with a task', () => {
    const trying = history(entered(1, 'ImportRows'), ...attempt(1, 'AmazonECS.Unknown'), ...attempt(11));
    expect(roomWaitOf(newestFirst(trying))).toMatchObject({ state: 'ImportRows', refusals: 1, since: at(1) });
  });

  it('finds no wait once a task started, after another error, or in a step that never met one', () => {
    // ECS answered with a task (TaskSubmitted): it runs.
    const running = history(entered(1, 'ImportRows'), ...attempt(1, 'AmazonECS.Unknown'), ...attempt(11), {
      type: 'TaskSubmitted',
      timestamp: at(11),
    } as Omit<HistoryEvent, 'id'>);
    const throttled = history(
      entered(1, 'ImportRows'),
      ...attempt(1, 'ECS.ThrottlingException', 'Rate exceeded'),
    );
    const fresh = history(entered(0, 'StartJob'), ...attempt(0));
    // A first RunTask in flight: no refusal in this state (an earlier state's events are not its).
    const first = history(...attempt(0, 'AmazonECS.Unknown'), entered(1, 'ImportRows'), ...attempt(1));
    expect([running, throttled, fresh, first, []].map((events) => roomWaitOf(newestFirst(events)))).toEqual([
      null,
      null,
      null,
      null,
      null,
    ]);
  });

  it('names no step when the events read stop before its entry', () => {
    const events = history(...attempt(1, 'AmazonECS.Unknown'), ...attempt(11, 'AmazonECS.Unknown'));
    expect(roomWaitOf(newestFirst(events))).toMatchObject({ state: null, refusals: 2, since: at(1) });
  });
});

describe('describeJob of a running job', () => {
  it('says its batch step waits for room, from one GetExecutionHistory page read newest first', async () => {
    const { context, sfn } = jobContext(sampleJobDetail({ id: 'imp_1', executionId: execution }));
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: execution, name: 'imp_1', status: 'RUNNING' });
    sfn.on(GetExecutionHistoryCommand).resolves({
      events: newestFirst(history(entered(1, 'ImportRows'), ...attempt(1, 'AmazonECS.Unknown'))),
    });
    const { latestExecution } = await describeJob(context, 'imp_1');
    expect(latestExecution?.waitingForRoom).toMatchObject({ state: 'ImportRows', refusals: 1, since: at(1) });
    expect(sfn.commandCalls(GetExecutionHistoryCommand).map((call) => call.args[0].input)).toEqual([
      { executionArn: execution, reverseOrder: true, maxResults: ROOM_WAIT_EVENTS },
    ]);
  });

  it('shows no wait, and says why, when the history cannot be read', async () => {
    const { context, sfn, warnings } = jobContext(sampleJobDetail({ id: 'imp_1', executionId: execution }));
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: execution, name: 'imp_1', status: 'RUNNING' });
    sfn
      .on(GetExecutionHistoryCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    const { latestExecution } = await describeJob(context, 'imp_1');
    expect(latestExecution).toMatchObject({ status: 'RUNNING', waitingForRoom: null });
    expect(warnings).toEqual([expect.stringContaining(`cannot read the history of execution ${execution}`)]);
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
    waitingForRoom: null,
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
