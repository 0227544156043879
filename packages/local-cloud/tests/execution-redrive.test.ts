import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  RedriveExecutionCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { type AwsEndpoint, startAwsEndpoint } from '../src/aws-endpoint.ts';
import { createCollectingReporter } from '../src/collecting-reporter.ts';
import { redriveByToken, redriveStatusOf, withRedriveToken } from '../src/execution-redrive.ts';
import type { ExecutionStatusChangeEvent } from '../src/execution-status-event.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from '../src/local-names.ts';
import { createLocalStepFunctions, type LocalStepFunctions } from '../src/step-functions.ts';
import { STEP_FUNCTIONS_TARGET_PREFIX, stepFunctionsApi } from '../src/step-functions-api.ts';
import { LAMBDA_INVOKE, StatesTaskError } from '../src/task-integrations.ts';
import { errorNameOf } from './error-name-of.ts';
import { localClientConfig } from './fixtures/sqs-endpoint.ts';

const invoke = (name: string, next: string | undefined, extra: object = {}) => ({
  Type: 'Task',
  Resource: LAMBDA_INVOKE,
  Parameters: { FunctionName: name, 'Payload.$': '$' },
  ResultSelector: { 'result.$': '$.Payload' },
  ResultPath: `$.${name}`,
  ...(next ? { Next: next } : { End: true }),
  ...extra,
});

/** Prepare, then Work (fails while `failing` says so), then Done. */
const sequential = {
  StartAt: 'Prepare',
  States: { Prepare: invoke('prepare', 'Work'), Work: invoke('work', 'Done'), Done: { Type: 'Succeed' } },
};
/** Prepare, then a Parallel whose second branch fails while `failing` says so. */
const parallel = {
  StartAt: 'Prepare',
  States: {
    Prepare: invoke('prepare', 'Fan'),
    Fan: {
      Type: 'Parallel',
      Branches: [
        { StartAt: 'Left', States: { Left: invoke('left', undefined) } },
        { StartAt: 'Right', States: { Right: invoke('work', undefined) } },
      ],
      End: true,
    },
  },
};

/** Prepare, then Work, which is handed the context object's Execution node (fails while `failing` says so). */
const contextual = {
  StartAt: 'Prepare',
  States: {
    Prepare: invoke('prepare', 'Work'),
    Work: invoke('work', undefined, { Parameters: { FunctionName: 'work', 'Payload.$': '$$.Execution' } }),
  },
};

let endpoint: AwsEndpoint;
let sfnLocal: LocalStepFunctions;
let sfn: SFNClient;
const calls: string[] = [];
/** The payloads `work` was called with. */
const workPayloads: unknown[] = [];
let failing = true;
/** A function that waits for `until` before it answers. */
let held: { name: string; until: Promise<void> } | undefined;

/** Holds calls of `name` until the returned function is called. */
function holdCalls(name: string): () => void {
  const until = Promise.withResolvers<void>();
  held = { name, until: until.promise };
  return () => until.resolve();
}

beforeAll(async () => {
  endpoint = await startAwsEndpoint({ port: 0 });
  sfnLocal = createLocalStepFunctions({
    stateMachines: [
      { name: 'redrive-sequential', definition: sequential },
      { name: 'redrive-parallel', definition: parallel },
      { name: 'redrive-context', definition: contextual },
    ],
    integrations: {
      // A flaky local service: `work` throws while `failing` is set, as a service down for a while.
      [LAMBDA_INVOKE]: async (parameters) => {
        const name = String(parameters.FunctionName);
        calls.push(name);
        if (name === 'work') workPayloads.push(parameters.Payload);
        if (held?.name === name) await held.until;
        if (name === 'work' && failing) throw new StatesTaskError('ServiceDown', 'the mail relay is down');
        return { Payload: `${name} ok`, StatusCode: 200 };
      },
    },
    region: LOCAL_REGION,
    accountId: LOCAL_ACCOUNT_ID,
    reporter: createCollectingReporter().reporter,
    retryIntervalMs: 0,
  });
  endpoint.serveJsonApi(STEP_FUNCTIONS_TARGET_PREFIX, stepFunctionsApi(sfnLocal));
  sfn = new SFNClient(localClientConfig(endpoint.url));
});

afterAll(async () => {
  sfn?.destroy();
  await sfnLocal?.stop();
  await endpoint?.stop();
});

beforeEach(() => {
  calls.length = 0;
  workPayloads.length = 0;
  failing = true;
  held = undefined;
});

const machineArn = (name: string) =>
  `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:stateMachine:${name}`;

async function settled(executionArn: string) {
  await sfnLocal.waitForExecution(executionArn);
  return sfn.send(new DescribeExecutionCommand({ executionArn }));
}

// Only executions that did not complete successfully in the last 14 days are redriven
// (https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html); past
// that DescribeExecution says "Execution redrivable period exceeded."
// (https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html).
describe('redriveStatusOf', () => {
  const now = new Date('2026-12-20T00:00:00Z');
  const daysAgo = (days: number) => new Date(now.getTime() - days * 86_400_000);

  it('redrives a FAILED, TIMED_OUT or ABORTED execution that ended within 14 days', () => {
    for (const status of ['FAILED', 'TIMED_OUT', 'ABORTED']) {
      expect(redriveStatusOf(status, daysAgo(13.9), now)).toEqual({ status: 'REDRIVABLE' });
    }
  });

  it('does not redrive one that ended more than 14 days ago, saying why', () => {
    expect(redriveStatusOf('FAILED', daysAgo(14.1), now)).toEqual({
      status: 'NOT_REDRIVABLE',
      reason: 'Execution redrivable period exceeded.',
    });
  });

  it('does not redrive a RUNNING or SUCCEEDED execution, whenever it ended', () => {
    expect(redriveStatusOf('SUCCEEDED', daysAgo(1), now)).toEqual({
      status: 'NOT_REDRIVABLE',
      reason: 'Execution is SUCCEEDED and cannot be redriven.',
    });
    expect(redriveStatusOf('RUNNING', undefined, now).status).toBe('NOT_REDRIVABLE');
  });
});

// "The API will return idempotent responses for the last 10 client tokens used to successfully
// redrive the execution. These client tokens are valid for up to 15 minutes after they are first
// used." (https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html)
describe('redriveByToken', () => {
  const first = new Date('2026-12-20T00:00:00Z');
  const minutesLater = (minutes: number) => new Date(first.getTime() + minutes * 60_000);
  const used = [{ clientToken: 'tok-1', redriveDate: first }];

  it('answers a token used within the last 15 minutes with its redrive', () => {
    expect(redriveByToken(used, 'tok-1', minutesLater(14.9))).toEqual(used[0]);
  });

  it('forgets a token 15 minutes after its first use, and knows no other token', () => {
    expect(redriveByToken(used, 'tok-1', minutesLater(15.1))).toBeUndefined();
    expect(redriveByToken(used, 'tok-2', minutesLater(1))).toBeUndefined();
    expect(redriveByToken(used, undefined, minutesLater(1))).toBeUndefined();
  });

  it('answers a token used again after its 15 minutes with its latest redrive', () => {
    // The token's first use expired; used again (a new redrive), its retry gets that redrive's answer.
    const again = withRedriveToken(used, { clientToken: 'tok-1', redriveDate: minutesLater(20) });
    expect(redriveByToken(again, 'tok-1', minutesLater(21))?.redriveDate).toEqual(minutesLater(20));
  });

  it('keeps the last 10 tokens', () => {
    let tokens: ReturnType<typeof withRedriveToken> = [];
    for (let n = 1; n <= 11; n += 1) {
      tokens = withRedriveToken(tokens, { clientToken: `tok-${n}`, redriveDate: minutesLater(n / 10) });
    }
    expect(tokens).toHaveLength(10);
    expect(redriveByToken(tokens, 'tok-1', minutesLater(2))).toBeUndefined();
    expect(redriveByToken(tokens, 'tok-2', minutesLater(2))?.redriveDate).toEqual(minutesLater(0.2));
    expect(redriveByToken(tokens, 'tok-11', minutesLater(2))?.redriveDate).toEqual(minutesLater(1.1));
  });
});

describe('RedriveExecution', () => {
  it('restarts a FAILED execution from the failed state with the same ARN, and it succeeds', async () => {
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn: machineArn('redrive-sequential'),
        input: '{"jobId":"j1"}',
      }),
    );
    const failed = await settled(executionArn as string);
    expect(failed).toMatchObject({
      status: 'FAILED',
      error: 'ServiceDown',
      redriveCount: 0,
      redriveStatus: 'REDRIVABLE',
    });
    expect(calls).toEqual(['prepare', 'work']);

    failing = false;
    const release = holdCalls('work');
    const { redriveDate } = await sfn.send(new RedriveExecutionCommand({ executionArn }));
    expect(redriveDate).toBeInstanceOf(Date);
    const running = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(running).toMatchObject({ status: 'RUNNING', redriveCount: 1 });
    expect(running.stopDate).toBeUndefined();
    expect(running.error).toBeUndefined();
    release();
    const done = await settled(executionArn as string);

    expect(done).toMatchObject({
      executionArn,
      status: 'SUCCEEDED',
      redriveCount: 1,
      redriveDate,
      redriveStatus: 'NOT_REDRIVABLE',
      redriveStatusReason: 'Execution is SUCCEEDED and cannot be redriven.',
    });
    expect(done.error).toBeUndefined();
    // Prepare's result survives from the first attempt; Prepare itself did not run again.
    expect(JSON.parse(done.output ?? '')).toEqual({
      jobId: 'j1',
      prepare: { result: 'prepare ok' },
      work: { result: 'work ok' },
    });
    expect(calls).toEqual(['prepare', 'work', 'work']);

    const { events = [] } = await sfn.send(new GetExecutionHistoryCommand({ executionArn }));
    const types = events.map((event) => event.type);
    expect(types.filter((type) => type === 'ExecutionStarted')).toHaveLength(1);
    const redriven = types.indexOf('ExecutionRedriven');
    expect(types.slice(redriven - 1)).toEqual([
      'ExecutionFailed',
      'ExecutionRedriven',
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskSucceeded',
      'TaskStateExited',
      'SucceedStateEntered',
      'SucceedStateExited',
      'ExecutionSucceeded',
    ]);
    expect(events[redriven]).toMatchObject({ executionRedrivenEventDetails: { redriveCount: 1 } });
    expect(events[redriven + 1]?.stateEnteredEventDetails?.name).toBe('Work');
    expect(events.map((event) => event.id)).toEqual(events.map((_event, index) => index + 1));

    const { executions = [] } = await sfn.send(
      new ListExecutionsCommand({ stateMachineArn: machineArn('redrive-sequential') }),
    );
    expect(executions.find((e) => e.executionArn === executionArn)).toMatchObject({ redriveCount: 1 });
  });

  // The context object's Execution node keeps the execution's StartTime and Input across a redrive and
  // gains RedriveCount and RedriveTime, "only available if you've redriven an execution"
  // (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html): the export
  // workflow names its default file by $$.Execution.StartTime, so a redriven export names the same file.
  it("keeps $$.Execution.StartTime and Input of the execution's start in a redrive, and adds RedriveTime", async () => {
    const input = '{"jobId":"j-context"}';
    const { executionArn, startDate } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: machineArn('redrive-context'), input }),
    );
    await settled(executionArn as string);
    // A redrive a moment later: a StartTime read from the clock would differ.
    await new Promise((resolve) => setTimeout(resolve, 20));
    failing = false;
    const { redriveDate } = await sfn.send(new RedriveExecutionCommand({ executionArn }));
    expect(await settled(executionArn as string)).toMatchObject({ status: 'SUCCEEDED' });

    const [first, redriven] = workPayloads as Record<string, unknown>[];
    expect(first).toEqual({
      Id: executionArn,
      Name: executionArn?.split(':').at(-1),
      RoleArn: expect.any(String),
      Input: { jobId: 'j-context' },
      StartTime: startDate?.toISOString(),
      RedriveCount: 0,
    });
    expect(redriven).toEqual({
      ...first,
      RedriveCount: 1,
      RedriveTime: redriveDate?.toISOString(),
    });
  });

  it('counts every redrive and starts each from the state that failed last', async () => {
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: machineArn('redrive-sequential') }),
    );
    await settled(executionArn as string);
    await sfn.send(new RedriveExecutionCommand({ executionArn }));
    expect(await settled(executionArn as string)).toMatchObject({ status: 'FAILED', redriveCount: 1 });
    failing = false;
    await sfn.send(new RedriveExecutionCommand({ executionArn }));
    expect(await settled(executionArn as string)).toMatchObject({ status: 'SUCCEEDED', redriveCount: 2 });
    expect(calls).toEqual(['prepare', 'work', 'work', 'work']);
  });

  // A redrive restarts an execution that did not complete successfully; one already RUNNING again
  // is not redrivable (https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html).
  it('of two concurrent redrives of a FAILED execution, runs one and refuses the other with ExecutionNotRedrivable', async () => {
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: machineArn('redrive-sequential') }),
    );
    await settled(executionArn as string);
    failing = false;
    // Called in the same tick, as two requests arriving together are: both pass the first check.
    const outcomes = await Promise.allSettled([
      sfnLocal.redriveExecution(executionArn as string),
      sfnLocal.redriveExecution(executionArn as string),
    ]);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    const refused = outcomes.find((outcome) => outcome.status === 'rejected');
    expect(refused?.reason).toMatchObject({ name: 'ExecutionNotRedrivable' });
    expect(await settled(executionArn as string)).toMatchObject({ status: 'SUCCEEDED', redriveCount: 1 });
    expect(calls).toEqual(['prepare', 'work', 'work']);
    const { events = [] } = await sfn.send(new GetExecutionHistoryCommand({ executionArn }));
    expect(events.filter((event) => event.type === 'ExecutionRedriven')).toHaveLength(1);
  });

  // An SDK retry of a RedriveExecution whose answer was lost carries the same clientToken (the SDK
  // generates one when the caller gives none): it gets the first call's answer, and nothing runs again.
  it('answers a retry with the same clientToken with the same redriveDate, without redriving again', async () => {
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: machineArn('redrive-sequential') }),
    );
    await settled(executionArn as string);
    failing = false;
    const release = holdCalls('work');
    const first = await sfn.send(new RedriveExecutionCommand({ executionArn, clientToken: 'redrive-1' }));
    const retried = await sfn.send(new RedriveExecutionCommand({ executionArn, clientToken: 'redrive-1' }));
    expect(retried.redriveDate).toEqual(first.redriveDate);
    // Another token is another request: the execution RUNS again, so it is not redrivable.
    expect(
      await errorNameOf(sfn.send(new RedriveExecutionCommand({ executionArn, clientToken: 'redrive-2' }))),
    ).toBe('ExecutionNotRedrivable');
    release();
    expect(await settled(executionArn as string)).toMatchObject({ status: 'SUCCEEDED', redriveCount: 1 });
    // Still within 15 minutes of its first use, the token answers even once the execution succeeded.
    const late = await sfn.send(new RedriveExecutionCommand({ executionArn, clientToken: 'redrive-1' }));
    expect(late.redriveDate).toEqual(first.redriveDate);
    expect(calls).toEqual(['prepare', 'work', 'work']);
    const { events = [] } = await sfn.send(new GetExecutionHistoryCommand({ executionArn }));
    expect(events.filter((event) => event.type === 'ExecutionRedriven')).toHaveLength(1);
  });

  it('runs one redrive for two concurrent calls with the same clientToken, answering both', async () => {
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: machineArn('redrive-sequential') }),
    );
    await settled(executionArn as string);
    failing = false;
    const [one, two] = await Promise.all([
      sfnLocal.redriveExecution(executionArn as string, { clientToken: 'same' }),
      sfnLocal.redriveExecution(executionArn as string, { clientToken: 'same' }),
    ]);
    expect(two.redriveDate).toEqual(one.redriveDate);
    expect(await settled(executionArn as string)).toMatchObject({ status: 'SUCCEEDED', redriveCount: 1 });
    expect(calls).toEqual(['prepare', 'work', 'work']);
  });

  it('restarts a whole Parallel state when one of its branches failed', async () => {
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: machineArn('redrive-parallel') }),
    );
    expect((await settled(executionArn as string)).status).toBe('FAILED');
    failing = false;
    await sfn.send(new RedriveExecutionCommand({ executionArn }));
    expect((await settled(executionArn as string)).status).toBe('SUCCEEDED');
    // Prepare ran once; both branches ran again (AWS would rerun only the failed branch).
    expect(calls.filter((name) => name === 'prepare')).toHaveLength(1);
    expect(calls.filter((name) => name === 'left')).toHaveLength(2);
  });

  it('restarts an ABORTED execution', async () => {
    const release = holdCalls('prepare');
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: machineArn('redrive-sequential') }),
    );
    await sfn.send(new StopExecutionCommand({ executionArn, error: 'Operator' }));
    release();
    expect((await settled(executionArn as string)).status).toBe('ABORTED');
    held = undefined;
    failing = false;
    await sfn.send(new RedriveExecutionCommand({ executionArn }));
    expect(await settled(executionArn as string)).toMatchObject({ status: 'SUCCEEDED', redriveCount: 1 });
  });

  // Each status change event carries the execution's redriveCount, as DescribeExecution does: 0
  // before a redrive, 1 for the redrive's start and end
  // (https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html).
  it("sends a redriven execution's status changes with its redrive count and date", async () => {
    const events: ExecutionStatusChangeEvent[] = [];
    sfnLocal.onStatusChange((event) => events.push(event));
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: machineArn('redrive-sequential') }),
    );
    await settled(executionArn as string);
    const { redriveDate } = await sfn.send(new RedriveExecutionCommand({ executionArn }));
    await settled(executionArn as string);
    const ours = events.filter((event) => event.detail.executionArn === executionArn);
    expect(ours.map(({ detail }) => [detail.status, detail.redriveCount, detail.redriveDate])).toEqual([
      ['RUNNING', 0, null],
      ['FAILED', 0, null],
      ['RUNNING', 1, redriveDate?.getTime()],
      ['FAILED', 1, redriveDate?.getTime()],
    ]);
    expect(ours.map(({ detail }) => [detail.redriveStatus, detail.redriveStatusReason])).toEqual([
      ['NOT_REDRIVABLE', 'Execution is RUNNING and cannot be redriven.'],
      ['REDRIVABLE', null],
      ['NOT_REDRIVABLE', 'Execution is RUNNING and cannot be redriven.'],
      ['REDRIVABLE', null],
    ]);
  });

  it('refuses a RUNNING or SUCCEEDED execution with ExecutionNotRedrivable, an unknown one with ExecutionDoesNotExist', async () => {
    const release = holdCalls('prepare');
    failing = false;
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn: machineArn('redrive-sequential') }),
    );
    const running = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(running).toMatchObject({
      redriveStatus: 'NOT_REDRIVABLE',
      redriveStatusReason: 'Execution is RUNNING and cannot be redriven.',
    });
    expect(await errorNameOf(sfn.send(new RedriveExecutionCommand({ executionArn })))).toBe(
      'ExecutionNotRedrivable',
    );
    expect(sfnLocal.describeExecution(executionArn as string).status).toBe('RUNNING');
    release();
    expect((await settled(executionArn as string)).status).toBe('SUCCEEDED');
    expect(await errorNameOf(sfn.send(new RedriveExecutionCommand({ executionArn })))).toBe(
      'ExecutionNotRedrivable',
    );
    expect(
      await errorNameOf(
        sfn.send(new RedriveExecutionCommand({ executionArn: `${executionArn as string}-nope` })),
      ),
    ).toBe('ExecutionDoesNotExist');
  });
});
