import { describe, expect, it } from '@jest/globals';
import {
  appendHistory,
  type ExecutionEventLog,
  type ExecutionHistoryContext,
  type HistoryEvent,
  historyEventsOf,
  trackCaughtTasks,
} from '../src/execution-history.ts';

const AT = Date.parse('2026-12-01T10:00:00Z');
const context: ExecutionHistoryContext = {
  input: '{"jobId":"j-1"}',
  roleArn: 'arn:aws:iam::000000000000:role/sidestep-local-import',
  taskResources: new Map([['Finalize', 'arn:aws:states:::lambda:invoke']]),
  taskResults: new Map([['Finalize', { Payload: { ok: true }, StatusCode: 200 }]]),
};
const taskState = { name: 'Finalize', type: 'Task' as const, input: { jobId: 'j-1' }, output: { ok: true } };
const passState = { name: 'Prepare', type: 'Pass' as const, input: { a: 1 }, output: { a: 2 } };
const mapState = { name: 'EachFile', type: 'Map' as const, input: [] };

const translate = (event: ExecutionEventLog, more: Partial<ExecutionHistoryContext> = {}) =>
  historyEventsOf(event, { ...context, ...more });

describe('historyEventsOf', () => {
  // Each attempt of a Task is TaskScheduled, TaskStarted, then TaskFailed or TaskSucceeded
  // (https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html), so a
  // history tells a retried-then-succeeded step from a failed one.
  it('records TaskScheduled and TaskStarted for each attempt of a Task: on entering it and on each retry', () => {
    const history: HistoryEvent[] = [];
    const log: ExecutionEventLog[] = [
      { type: 'StateEntered', timestamp: AT, state: taskState },
      { type: 'StateFailed', timestamp: AT, state: taskState, Error: 'States.TaskFailed', Cause: 'exit 75' },
      {
        type: 'StateRetried',
        timestamp: AT,
        state: taskState,
        retry: { retrier: { ErrorEquals: ['States.ALL'] }, attempt: 1 },
      },
      { type: 'StateExited', timestamp: AT, state: taskState },
    ];
    for (const event of log) appendHistory(history, translate(event));
    expect(history.map((event) => event.type)).toEqual([
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskFailed',
      'TaskScheduled',
      'TaskStarted',
      'TaskSucceeded',
      'TaskStateExited',
    ]);
    expect(history[1]).toMatchObject({
      taskScheduledEventDetails: { resourceType: 'lambda', resource: 'invoke' },
    });
    expect(history[2]).toMatchObject({
      taskStartedEventDetails: { resourceType: 'lambda', resource: 'invoke' },
    });
  });

  // API_TaskSucceededEventDetails: "the successful completion of a task state"; a failure a Catch
  // handled ends its attempt in TaskFailed, and the state exits without a success.
  it('records no TaskSucceeded for a Task whose failure a Catch handled, and one again when it is next entered and succeeds', () => {
    const history: HistoryEvent[] = [];
    const caughtTasks = new Set<string>();
    const log: ExecutionEventLog[] = [
      { type: 'StateEntered', timestamp: AT, state: taskState },
      {
        type: 'StateFailed',
        timestamp: AT,
        state: taskState,
        Error: 'States.Timeout',
        Cause: 'States.Timeout',
      },
      {
        type: 'StateCaught',
        timestamp: AT,
        state: taskState,
        catch: { catcher: { ErrorEquals: ['States.ALL'], Next: 'Finalize' } },
      },
      { type: 'StateExited', timestamp: AT, state: taskState },
      { type: 'StateEntered', timestamp: AT, state: taskState },
      { type: 'StateExited', timestamp: AT, state: taskState },
    ];
    for (const event of log) {
      trackCaughtTasks(event, caughtTasks);
      appendHistory(history, translate(event, { caughtTasks }));
    }
    expect(history.map((event) => event.type)).toEqual([
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskFailed',
      'TaskStateExited',
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskSucceeded',
      'TaskStateExited',
    ]);
  });

  it('records the execution input and role on ExecutionStarted', () => {
    expect(translate({ type: 'ExecutionStarted', timestamp: AT, input: { jobId: 'j-1' } })).toEqual([
      {
        timestamp: new Date(AT),
        type: 'ExecutionStarted',
        executionStartedEventDetails: {
          input: '{"jobId":"j-1"}',
          inputDetails: { truncated: false },
          roleArn: context.roleArn,
        },
      },
    ]);
  });

  it('names the entered event after the state type, with the state input as JSON text', () => {
    expect(translate({ type: 'StateEntered', timestamp: AT, state: passState })).toEqual([
      {
        timestamp: new Date(AT),
        type: 'PassStateEntered',
        stateEnteredEventDetails: { name: 'Prepare', input: '{"a":1}', inputDetails: { truncated: false } },
      },
    ]);
  });

  it('records a non-Task state exit as one event with its output', () => {
    expect(translate({ type: 'StateExited', timestamp: AT, state: passState })).toEqual([
      {
        timestamp: new Date(AT),
        type: 'PassStateExited',
        stateExitedEventDetails: { name: 'Prepare', output: '{"a":2}', outputDetails: { truncated: false } },
      },
    ]);
  });

  it('records TaskSucceeded with the raw integration result before a Task state exit', () => {
    const events = translate({ type: 'StateExited', timestamp: AT, state: taskState });
    expect(events.map((event) => event.type)).toEqual(['TaskSucceeded', 'TaskStateExited']);
    expect(events[0]).toEqual({
      timestamp: new Date(AT),
      type: 'TaskSucceeded',
      taskSucceededEventDetails: {
        resourceType: 'lambda',
        resource: 'invoke',
        output: '{"Payload":{"ok":true},"StatusCode":200}',
        outputDetails: { truncated: false },
      },
    });
    expect(events[1]).toMatchObject({ stateExitedEventDetails: { name: 'Finalize', output: '{"ok":true}' } });
  });

  it('gives a state without output null as output text', () => {
    const [exited] = translate({
      type: 'StateExited',
      timestamp: AT,
      state: { ...passState, output: undefined },
    });
    expect(exited).toMatchObject({ stateExitedEventDetails: { output: 'null' } });
  });

  it('records TaskFailed with the resource, error and cause of a failed Task state', () => {
    const event = {
      type: 'StateFailed',
      timestamp: AT,
      state: taskState,
      Error: 'FinalizeError',
      Cause: 'disk full',
    } as const;
    expect(translate(event)).toEqual([
      {
        timestamp: new Date(AT),
        type: 'TaskFailed',
        taskFailedEventDetails: {
          resourceType: 'lambda',
          resource: 'invoke',
          error: 'FinalizeError',
          cause: 'disk full',
        },
      },
    ]);
  });

  it("records nothing for a failed non-Task state, a non-Task state's retry or a catch", () => {
    expect(
      translate({ type: 'StateFailed', timestamp: AT, state: passState, Error: 'E', Cause: 'c' }),
    ).toEqual([]);
    expect(
      translate({
        type: 'StateRetried',
        timestamp: AT,
        state: mapState,
        retry: { retrier: { ErrorEquals: ['States.ALL'] }, attempt: 1 },
      }),
    ).toEqual([]);
    expect(
      translate({
        type: 'StateCaught',
        timestamp: AT,
        state: taskState,
        catch: { catcher: { ErrorEquals: ['States.ALL'], Next: 'Fail' } },
      }),
    ).toEqual([]);
  });

  it('records the execution output on ExecutionSucceeded', () => {
    expect(translate({ type: 'ExecutionSucceeded', timestamp: AT, output: { done: true } })).toEqual([
      {
        timestamp: new Date(AT),
        type: 'ExecutionSucceeded',
        executionSucceededEventDetails: { output: '{"done":true}', outputDetails: { truncated: false } },
      },
    ]);
  });

  it('records the error and the cause as text on ExecutionFailed', () => {
    expect(
      translate({ type: 'ExecutionFailed', timestamp: AT, Error: 'States.TaskFailed', Cause: 42 }),
    ).toEqual([
      {
        timestamp: new Date(AT),
        type: 'ExecutionFailed',
        executionFailedEventDetails: { error: 'States.TaskFailed', cause: '42' },
      },
    ]);
  });

  it('records the StopExecution reason on ExecutionAborted, and no reason when none was given', () => {
    const reason = { error: 'LocalCloudStopped', cause: 'the local cloud was stopped' };
    expect(translate({ type: 'ExecutionAborted', timestamp: AT }, { abortReason: reason })).toEqual([
      { timestamp: new Date(AT), type: 'ExecutionAborted', executionAbortedEventDetails: reason },
    ]);
    expect(translate({ type: 'ExecutionAborted', timestamp: AT })).toEqual([
      { timestamp: new Date(AT), type: 'ExecutionAborted', executionAbortedEventDetails: {} },
    ]);
  });

  it('records a timeout as ExecutionTimedOut', () => {
    expect(translate({ type: 'ExecutionTimeout', timestamp: AT })).toEqual([
      { timestamp: new Date(AT), type: 'ExecutionTimedOut', executionTimedOutEventDetails: {} },
    ]);
  });

  it.each([
    ['MapIterationStarted', 'mapIterationStartedEventDetails'],
    ['MapIterationSucceeded', 'mapIterationSucceededEventDetails'],
  ] as const)('records %s with the Map state name and the iteration index', (type, key) => {
    expect(translate({ type, timestamp: AT, parentState: mapState, index: 3 })).toEqual([
      { timestamp: new Date(AT), type, [key]: { name: 'EachFile', index: 3 } },
    ]);
  });

  it('records MapIterationFailed with the Map state name and the iteration index', () => {
    const event = {
      type: 'MapIterationFailed',
      timestamp: AT,
      parentState: mapState,
      index: 0,
      Error: 'E',
      Cause: 'c',
    } as const;
    expect(translate(event)).toEqual([
      {
        timestamp: new Date(AT),
        type: 'MapIterationFailed',
        mapIterationFailedEventDetails: { name: 'EachFile', index: 0 },
      },
    ]);
  });

  it('records nothing for parallel branches', () => {
    expect(translate({ type: 'ParallelBranchStarted', timestamp: AT, parentState: mapState })).toEqual([]);
  });
});

describe('appendHistory', () => {
  it('numbers events on from the history it appends to, each pointing at the one before', () => {
    const history: HistoryEvent[] = [];
    appendHistory(history, translate({ type: 'ExecutionStarted', timestamp: AT, input: {} }));
    appendHistory(history, translate({ type: 'StateExited', timestamp: AT, state: taskState }));
    expect(history.map(({ id, previousEventId, type }) => ({ id, previousEventId, type }))).toEqual([
      { id: 1, previousEventId: 0, type: 'ExecutionStarted' },
      { id: 2, previousEventId: 1, type: 'TaskSucceeded' },
      { id: 3, previousEventId: 2, type: 'TaskStateExited' },
    ]);
  });
});
