import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { TRANSIENT_LAMBDA_ERRORS } from '@sidestep/workflows';
import pLimit from 'p-limit';
import { createCollectingReporter } from '../src/collecting-reporter.ts';
import {
  createLocalStepFunctions,
  ExecutionAlreadyExistsError,
  ExecutionDoesNotExistError,
  InvalidExecutionInputError,
  StateMachineDoesNotExistError,
  StepFunctionsStoppedError,
  UnsupportedIntegrationError,
} from '../src/step-functions.ts';
import { STEP_FUNCTIONS_API_QUOTAS, stepFunctionsApi } from '../src/step-functions-api.ts';
import {
  ECS_RUN_TASK_SYNC,
  LAMBDA_INVOKE,
  lambdaInvoke,
  SQS_SEND_MESSAGE,
  StatesTaskError,
  type TaskIntegration,
} from '../src/task-integrations.ts';
import { TooManyRequestsError } from '../src/too-many-requests-error.ts';

const FN = 'arn:aws:lambda:us-east-1:000000000000:function:sidestep-local-status-updater';

/** A small workflow shaped like the import: a Lambda step with retries, a Choice, a catch-all. */
const definition = {
  StartAt: 'Register',
  States: {
    Register: {
      Type: 'Task',
      Resource: LAMBDA_INVOKE,
      Parameters: { FunctionName: FN, 'Payload.$': '$', 'executionId.$': '$$.Execution.Id' },
      ResultSelector: { 'job.$': '$.Payload' },
      Retry: [
        { ErrorEquals: ['Lambda.ServiceException'], IntervalSeconds: 1, MaxAttempts: 2, BackoffRate: 2 },
      ],
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Failed' }],
      Next: 'Duplicate?',
    },
    'Duplicate?': {
      Type: 'Choice',
      Choices: [{ Variable: '$.job.duplicate', BooleanEquals: true, Next: 'Done' }],
      Default: 'Done',
    },
    Done: { Type: 'Succeed' },
    Failed: { Type: 'Fail', Error: 'ImportFailed', CausePath: '$.error.Cause' },
  },
};

function cloud(integration: TaskIntegration, retryIntervalMs = 0) {
  const report = createCollectingReporter();
  const sfn = createLocalStepFunctions({
    stateMachines: [{ name: 'sidestep-local-import', definition }],
    integrations: { [LAMBDA_INVOKE]: integration },
    region: 'us-east-1',
    accountId: '000000000000',
    reporter: report.reporter,
    retryIntervalMs,
  });
  return { sfn, report, arn: sfn.stateMachineArn('sidestep-local-import') };
}

/** A Task state running a task of definition `t` in cluster `c` and waiting for it (`ecs:runTask.sync`). */
function runTaskState(parameters: Record<string, unknown> = {}) {
  return {
    Type: 'Task',
    Resource: ECS_RUN_TASK_SYNC,
    Parameters: { Cluster: 'c', TaskDefinition: 't', ...parameters },
  };
}

/** Local Step Functions running one state machine, `name`, with `integrations`. */
function oneMachine(
  name: string,
  machine: { StartAt: string; States: Record<string, unknown> },
  integrations: Readonly<Record<string, TaskIntegration>> = {},
) {
  return createLocalStepFunctions({
    stateMachines: [{ name, definition: machine }],
    integrations,
    region: 'us-east-1',
    accountId: '000000000000',
    reporter: () => undefined,
  });
}

describe('createLocalStepFunctions', () => {
  it('runs an execution to SUCCEEDED with the execution id in the context and a full history', async () => {
    const calls: unknown[] = [];
    const { sfn, arn, report } = cloud(async (parameters, call) => {
      calls.push({ parameters, call });
      return { Payload: { duplicate: false, jobId: 'imp_1' }, StatusCode: 200 };
    });
    const { executionArn } = sfn.startExecution({ stateMachineArn: arn, name: 'first', input: '{"a":1}' });
    expect(executionArn).toBe('arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:first');
    expect(sfn.describeExecution(executionArn).status).toBe('RUNNING');
    const done = await sfn.waitForExecution(executionArn);
    expect(done.status).toBe('SUCCEEDED');
    expect(JSON.parse(done.output ?? '')).toEqual({ job: { duplicate: false, jobId: 'imp_1' } });
    expect(calls).toEqual([
      {
        parameters: { FunctionName: FN, Payload: { a: 1 }, executionId: executionArn },
        call: {
          executionArn,
          stateName: 'Register',
          signal: expect.any(AbortSignal),
          deferStart: expect.any(Function),
          submitted: expect.any(Function),
        },
      },
    ]);
    expect(done.history.map((event) => event.type)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskSucceeded',
      'TaskStateExited',
      'ChoiceStateEntered',
      'ChoiceStateExited',
      'SucceedStateEntered',
      'SucceedStateExited',
      'ExecutionSucceeded',
    ]);
    expect(done.history.map((event) => event.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(report.ofType('execution-finished')).toEqual([
      expect.objectContaining({ execution: 'first', status: 'SUCCEEDED', executionArn }),
    ]);
  });

  it('retries only the errors a retrier names, then catches into a FAILED execution', async () => {
    let attempts = 0;
    const { sfn, arn, report } = cloud(async () => {
      attempts += 1;
      throw new StatesTaskError('Lambda.ServiceException', '{"errorMessage":"try again"}');
    });
    const { executionArn } = sfn.startExecution({ stateMachineArn: arn, input: '{}' });
    const done = await sfn.waitForExecution(executionArn);
    expect(attempts).toBe(3);
    expect(report.ofType('state-retried')).toHaveLength(2);
    expect(done.status).toBe('FAILED');
    expect(done.error).toBe('ImportFailed');
    expect(done.cause).toBe('{"errorMessage":"try again"}');
    const failed = done.history.find((event) => event.type === 'TaskFailed');
    expect(failed?.taskFailedEventDetails).toEqual({
      resourceType: 'lambda',
      resource: 'invoke',
      error: 'Lambda.ServiceException',
      cause: '{"errorMessage":"try again"}',
    });
    expect(done.history.at(-1)?.type).toBe('ExecutionFailed');
    // Three attempts, each failed; the Catch ends the state without a success
    // (https://docs.aws.amazon.com/step-functions/latest/apireference/API_TaskSucceededEventDetails.html).
    expect(
      done.history
        .map((event) => event.type)
        .filter((type) => type.startsWith('Task'))
        .join(' '),
    ).toBe(
      'TaskStateEntered TaskScheduled TaskStarted TaskFailed TaskScheduled TaskStarted TaskFailed TaskScheduled TaskStarted TaskFailed TaskStateExited',
    );
  });

  it('does not retry an error no retrier names', async () => {
    let attempts = 0;
    const { sfn, arn } = cloud(async () => {
      attempts += 1;
      throw new StatesTaskError('InvalidTransitionError', '{"errorMessage":"no"}');
    });
    const done = await sfn.waitForExecution(sfn.startExecution({ stateMachineArn: arn }).executionArn);
    expect(attempts).toBe(1);
    expect(done.status).toBe('FAILED');
  });

  it('lists executions newest first, filtered by status', async () => {
    const { sfn, arn } = cloud(async () => ({ Payload: { duplicate: true } }));
    const a = sfn.startExecution({ stateMachineArn: arn, name: 'a' });
    const b = sfn.startExecution({ stateMachineArn: arn, name: 'b' });
    await sfn.waitForExecution(a.executionArn);
    await sfn.waitForExecution(b.executionArn);
    expect(sfn.listExecutions(arn).map((e) => e.name)).toEqual(['b', 'a']);
    expect(sfn.listExecutions(arn, 'FAILED')).toEqual([]);
  });

  it('treats a repeated name as idempotent while running with the same input, else refuses it', async () => {
    const { promise, resolve } = Promise.withResolvers<unknown>();
    const { sfn, arn } = cloud(() => promise);
    const first = sfn.startExecution({ stateMachineArn: arn, name: 'same', input: '{"x":1}' });
    expect(sfn.startExecution({ stateMachineArn: arn, name: 'same', input: '{"x":1}' })).toEqual(first);
    expect(() => sfn.startExecution({ stateMachineArn: arn, name: 'same', input: '{"x":2}' })).toThrow(
      ExecutionAlreadyExistsError,
    );
    resolve({ Payload: {} });
    await sfn.waitForExecution(first.executionArn);
    expect(() => sfn.startExecution({ stateMachineArn: arn, name: 'same', input: '{"x":1}' })).toThrow(
      ExecutionAlreadyExistsError,
    );
  });

  it('aborts a running execution on stopExecution', async () => {
    const { sfn, arn } = cloud(() => new Promise(() => undefined));
    const { executionArn } = sfn.startExecution({ stateMachineArn: arn });
    sfn.stopExecution(executionArn, { error: 'Operator', cause: 'by hand' });
    const done = await sfn.waitForExecution(executionArn);
    expect(done.status).toBe('ABORTED');
    expect(done.error).toBe('Operator');
    expect(done.history.at(-1)?.type).toBe('ExecutionAborted');
  });

  // The API reference lists no error for a StopExecution of an execution already closed (only
  // ExecutionDoesNotExist, InvalidArn, ValidationException and KMS errors:
  // https://docs.aws.amazon.com/step-functions/latest/apireference/API_StopExecution.html), so the
  // local answer stays a stopDate; the execution keeps its status, which ops' `stop` reads after the
  // stop to tell a stop that happened from one that came too late.
  it('leaves an execution that already ended as it ended on stopExecution', async () => {
    const sfn = oneMachine('sidestep-local-done', { StartAt: 'Done', States: { Done: { Type: 'Succeed' } } });
    const { executionArn } = sfn.startExecution({
      stateMachineArn: sfn.stateMachineArn('sidestep-local-done'),
    });
    await sfn.waitForExecution(executionArn);
    expect(sfn.stopExecution(executionArn, { error: 'StoppedByOperator', cause: 'late' })).toHaveProperty(
      'stopDate',
    );
    expect(sfn.describeExecution(executionArn)).toMatchObject({ status: 'SUCCEEDED' });
    expect(sfn.describeExecution(executionArn).error).toBeUndefined();
    await sfn.stop();
  });

  // StopExecution "Stops an execution" (API_StopExecution): a Task waiting out its Retry interval
  // is not run again once its execution is ABORTED (aws-local-stepfunctions ends the wait on the
  // abort and then ran the state once more).
  it('runs no retry of a Task whose execution is stopped while it waits to retry', async () => {
    let attempts = 0;
    const sfn = oneMachine(
      'sidestep-local-retrying',
      {
        StartAt: 'Call',
        States: {
          Call: {
            Type: 'Task',
            Resource: LAMBDA_INVOKE,
            Parameters: { FunctionName: FN },
            Retry: [{ ErrorEquals: ['Lambda.ServiceException'], IntervalSeconds: 1, MaxAttempts: 3 }],
            End: true,
          },
        },
      },
      {
        [LAMBDA_INVOKE]: async () => {
          attempts += 1;
          throw new StatesTaskError('Lambda.ServiceException', '{"errorMessage":"try again"}');
        },
      },
    );
    const { executionArn } = sfn.startExecution({
      stateMachineArn: sfn.stateMachineArn('sidestep-local-retrying'),
    });
    while (attempts === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    // Stopped in the middle of the 1 s wait.
    await new Promise((resolve) => setTimeout(resolve, 300));
    sfn.stopExecution(executionArn, { error: 'Operator', cause: 'by hand' });
    const done = await sfn.waitForExecution(executionArn);
    // Past the interval the retry would have run at.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(done.status).toBe('ABORTED');
    expect(attempts).toBe(1);
  });

  // https://docs.aws.amazon.com/step-functions/latest/dg/ecs-iam.html: a `.sync` task's role may
  // ecs:StopTask; Step Functions stops the task when its state times out, as when its execution is
  // stopped, rather than leave it running for a job the workflow already failed.
  it('tells a task to stop when its state times out, and catches the timeout as States.Timeout, not States.TaskFailed', async () => {
    let stopped = false;
    const sfn = createLocalStepFunctions({
      stateMachines: [
        {
          name: 'sidestep-local-batch',
          definition: {
            StartAt: 'Run',
            States: {
              Run: {
                ...runTaskState(),
                TimeoutSeconds: 1,
                Catch: [
                  { ErrorEquals: ['States.TaskFailed'], Next: 'TaskFailed' },
                  { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'TimedOut' },
                ],
                End: true,
              },
              TaskFailed: { Type: 'Fail', Error: 'TaskFailed' },
              TimedOut: { Type: 'Succeed' },
            },
          },
        },
      ],
      integrations: {
        [ECS_RUN_TASK_SYNC]: (_parameters, call) =>
          new Promise((resolve, reject) => {
            const finished = setTimeout(() => resolve({ StopCode: 'EssentialContainerExited' }), 4000);
            call.signal.addEventListener('abort', () => {
              clearTimeout(finished);
              stopped = true;
              reject(new StatesTaskError('States.TaskFailed', 'stopped'));
            });
          }),
      },
      region: 'us-east-1',
      accountId: '000000000000',
      reporter: createCollectingReporter().reporter,
    });
    const { executionArn } = sfn.startExecution({
      stateMachineArn: sfn.stateMachineArn('sidestep-local-batch'),
    });
    const done = await sfn.waitForExecution(executionArn);
    expect(done.status).toBe('SUCCEEDED');
    expect(JSON.parse(done.output ?? '{}').error).toMatchObject({ Error: 'States.Timeout' });
    expect(stopped).toBe(true);
  });

  // A `.sync` task's attempt, as AWS records one: TaskScheduled, TaskStarted, TaskSubmitted with the
  // service's answer (RunTask's, the task PROVISIONING), then its outcome
  // (https://docs.aws.amazon.com/step-functions/latest/apireference/API_TaskSubmittedEventDetails.html).
  // An attempt whose RunTask started nothing (refused: AmazonECS.Unknown) submitted nothing.
  it('records TaskSubmitted with the answer when a .sync task was submitted, and none for an attempt that submitted nothing', async () => {
    const answer = { Failures: [], Tasks: [{ TaskArn: 'arn:aws:ecs:us-east-1:000000000000:task/c/1' }] };
    let attempts = 0;
    const sfn = oneMachine(
      'sidestep-local-batch',
      {
        StartAt: 'Run',
        States: {
          Run: {
            ...runTaskState(),
            Retry: [{ ErrorEquals: ['AmazonECS.Unknown'], IntervalSeconds: 1, MaxAttempts: 1 }],
            End: true,
          },
        },
      },
      {
        [ECS_RUN_TASK_SYNC]: async (_parameters, call) => {
          attempts += 1;
          if (attempts === 1)
            throw new StatesTaskError('AmazonECS.Unknown', '{"Failures":[{"Reason":"no room"}]}');
          call.submitted?.(answer);
          await new Promise((resolve) => setTimeout(resolve, 10));
          return { StopCode: 'EssentialContainerExited' };
        },
      },
    );
    const { executionArn } = sfn.startExecution({
      stateMachineArn: sfn.stateMachineArn('sidestep-local-batch'),
      input: '{}',
    });
    const done = await sfn.waitForExecution(executionArn);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.history.map((event) => event.type)).toEqual([
      'ExecutionStarted',
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskFailed',
      'TaskScheduled',
      'TaskStarted',
      'TaskSubmitted',
      'TaskSucceeded',
      'TaskStateExited',
      'ExecutionSucceeded',
    ]);
    expect(done.history.find((event) => event.type === 'TaskSubmitted')).toMatchObject({
      id: 8,
      previousEventId: 7,
      taskSubmittedEventDetails: {
        resourceType: 'ecs',
        resource: 'runTask.sync',
        output: JSON.stringify(answer),
        outputDetails: { truncated: false },
      },
    });
  });

  // https://docs.aws.amazon.com/step-functions/latest/dg/state-task.html, TimeoutSeconds: "The count
  // begins after the task has been started". A local task waiting for a slot (the embedded database's
  // one-at-a-time capacity) has not started: its wait is not counted.
  it("counts a task's TimeoutSeconds from when it starts, not while it waits its turn (deferStart), and still times out a started one", async () => {
    const slot = pLimit(1);
    const run = {
      ...runTaskState({ 'Overrides.$': '$.overrides' }),
      TimeoutSeconds: 2,
      End: true,
    };
    const sfn = oneMachine(
      'sidestep-local-batch',
      { StartAt: 'Run', States: { Run: run } },
      {
        [ECS_RUN_TASK_SYNC]: (parameters, call) => {
          const start = call.deferStart?.();
          const ms = (parameters.Overrides as { ms: number }).ms;
          return slot(() => {
            start?.();
            return new Promise((resolve) =>
              setTimeout(() => resolve({ StopCode: 'EssentialContainerExited' }), ms),
            );
          });
        },
      },
    );
    const stateMachineArn = sfn.stateMachineArn('sidestep-local-batch');
    // Each runs 1.5 s: the second waits 1.5 s for the slot, 3 s in all since its state began.
    const first = sfn.startExecution({ stateMachineArn, input: '{"overrides":{"ms":1500}}' });
    const second = sfn.startExecution({ stateMachineArn, input: '{"overrides":{"ms":1500}}' });
    expect((await sfn.waitForExecution(first.executionArn)).status).toBe('SUCCEEDED');
    expect((await sfn.waitForExecution(second.executionArn)).status).toBe('SUCCEEDED');
    // A started task is still timed: 2.5 s of work fails with States.Timeout.
    const slow = sfn.startExecution({ stateMachineArn, input: '{"overrides":{"ms":2500}}' });
    expect(await sfn.waitForExecution(slow.executionArn)).toMatchObject({
      status: 'FAILED',
      error: 'States.Timeout',
    });
  });

  it("sends Step Functions' Execution Status Change event for a start and an abort, as EventBridge gets them", async () => {
    const { sfn, arn } = cloud(() => new Promise(() => undefined));
    const events: unknown[] = [];
    sfn.onStatusChange((event) => events.push(event));
    const { executionArn } = sfn.startExecution({ stateMachineArn: arn, name: 'stopped', input: '{"a":1}' });
    sfn.stopExecution(executionArn, { error: 'Operator', cause: 'by hand' });
    await sfn.waitForExecution(executionArn);
    const change = (status: string, stopped: boolean, error: string | null, cause: string | null) => ({
      version: '0',
      id: expect.any(String),
      'detail-type': 'Step Functions Execution Status Change',
      source: 'aws.states',
      account: '000000000000',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      region: 'us-east-1',
      resources: [executionArn],
      detail: {
        executionArn,
        stateMachineArn: arn,
        name: 'stopped',
        status,
        startDate: expect.any(Number),
        stopDate: stopped ? expect.any(Number) : null,
        input: '{"a":1}',
        output: null,
        inputDetails: { included: true },
        outputDetails: null,
        error,
        cause,
        redriveCount: 0,
        redriveDate: null,
        redriveStatus: stopped ? 'REDRIVABLE' : 'NOT_REDRIVABLE',
        redriveStatusReason: stopped ? null : 'Execution is RUNNING and cannot be redriven.',
      },
    });
    expect(events).toEqual([
      change('RUNNING', false, null, null),
      change('ABORTED', true, 'Operator', 'by hand'),
    ]);
  });

  it('sends no status change for the executions it aborts because the local cloud stops', async () => {
    const { sfn, arn } = cloud(() => new Promise(() => undefined));
    const statuses: string[] = [];
    sfn.onStatusChange((event) => statuses.push(event.detail.status));
    sfn.startExecution({ stateMachineArn: arn });
    await sfn.stop();
    expect(statuses).toEqual(['RUNNING']);
  });

  it('aborts running executions on stop and starts none afterwards', async () => {
    const { sfn, arn } = cloud(() => new Promise(() => undefined));
    const { executionArn } = sfn.startExecution({ stateMachineArn: arn });
    await sfn.stop();
    expect(sfn.describeExecution(executionArn)).toMatchObject({
      status: 'ABORTED',
      error: 'LocalCloudStopped',
    });
    expect(() => sfn.startExecution({ stateMachineArn: arn })).toThrow(StepFunctionsStoppedError);
  });

  it('refuses unknown state machines, executions, bad input and unsupported resources', () => {
    const { sfn, arn } = cloud(async () => ({}));
    expect(() => sfn.startExecution({ stateMachineArn: `${arn}-nope` })).toThrow(
      StateMachineDoesNotExistError,
    );
    expect(() => sfn.describeExecution(`${arn}:nope`)).toThrow(ExecutionDoesNotExistError);
    expect(() => sfn.startExecution({ stateMachineArn: arn, input: '{oops' })).toThrow(
      InvalidExecutionInputError,
    );
    expect(() =>
      createLocalStepFunctions({
        stateMachines: [{ name: 'x', definition }],
        integrations: {},
        region: 'us-east-1',
        accountId: '000000000000',
        reporter: () => undefined,
      }),
    ).toThrow(UnsupportedIntegrationError);
  });

  it('gives States.JsonToString in task parameters valid JSON, quotes and backslashes included', async () => {
    const sent: unknown[] = [];
    const sfn = oneMachine(
      'mail',
      {
        StartAt: 'Send',
        States: {
          Send: {
            Type: 'Task',
            Resource: SQS_SEND_MESSAGE,
            Parameters: {
              QueueUrl: 'http://q',
              'MessageBody.$': 'States.JsonToString($.mail)',
              Nested: { 'Copy.$': 'States.JsonToString($.mail.payload)' },
            },
            End: true,
          },
        },
      },
      { [SQS_SEND_MESSAGE]: async (parameters) => sent.push(parameters) },
    );
    const mail = { payload: { reason: 'missing "email" in C:\\users.csv' } };
    const { executionArn } = sfn.startExecution({ stateMachineArn: 'mail', input: JSON.stringify({ mail }) });
    expect((await sfn.waitForExecution(executionArn)).status).toBe('SUCCEEDED');
    expect(sent).toEqual([
      {
        QueueUrl: 'http://q',
        MessageBody: JSON.stringify(mail),
        Nested: { Copy: JSON.stringify(mail.payload) },
      },
    ]);
  });

  // States.JsonToString returns escaped JSON text and States.Format keeps its values as they are; only
  // a literal's escapes (\' \{ \} \\) are taken out (https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html).
  // aws-local-stepfunctions 3.0.0 stripped every backslash from the result, in a Pass state too, where
  // the import workflow keeps the mail it could not queue as the execution's Cause (mailNotQueued).
  it('keeps the backslashes of States.JsonToString and States.Format results in a Pass state', async () => {
    const sfn = oneMachine('unsent', {
      StartAt: 'Keep',
      States: {
        Keep: {
          Type: 'Pass',
          Parameters: {
            'envelope.$': 'States.JsonToString($.mail)',
            'said.$': "States.Format('it\\'s \\{\\} {}', $.mail.payload.reason)",
          },
          End: true,
        },
      },
    });
    const mail = {
      payload: { fileName: 'imports/"q3" users\\2026.csv', reason: 'missing "email" in C:\\users' },
    };
    const { executionArn } = sfn.startExecution({
      stateMachineArn: 'unsent',
      input: JSON.stringify({ mail }),
    });
    const done = await sfn.waitForExecution(executionArn);
    expect(done.status).toBe('SUCCEEDED');
    const output = JSON.parse(done.output ?? '') as { envelope: string; said: string };
    expect(JSON.parse(output.envelope)).toEqual(mail);
    expect(output.said).toBe('it\'s {} missing "email" in C:\\users');
  });

  // Step Functions reports an intrinsic function that fails as States.Runtime, whose cause names the
  // state, the event that entered it and the expression (concepts-error-handling, "States.Runtime";
  // intrinsic-functions): not as the JavaScript error the local engine's JSON.parse threw (SyntaxError).
  it('fails an intrinsic function that throws (States.StringToJson of text) with States.Runtime, as AWS words it', async () => {
    const sfn = oneMachine('read', {
      StartAt: 'ReadRequest',
      States: {
        ReadRequest: {
          Type: 'Pass',
          Parameters: { 'envelope.$': 'States.StringToJson($[0].body)' },
          End: true,
        },
      },
    });
    const { executionArn } = sfn.startExecution({
      stateMachineArn: 'read',
      input: JSON.stringify([{ body: 'export please' }]),
    });
    const done = await sfn.waitForExecution(executionArn);
    expect(done).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
    expect(done.cause).toMatch(
      /^An error occurred while executing the state 'ReadRequest' \(entered at the event id #2\)\. The function 'States\.StringToJson\(\$\[0\]\.body\)' had the following error: \S/,
    );
    expect(done.history.at(-1)).toMatchObject({
      type: 'ExecutionFailed',
      executionFailedEventDetails: { error: 'States.Runtime', cause: done.cause },
    });
    expect(done.history.find((event) => event.id === 2)?.type).toBe('PassStateEntered');
  });

  // States.ALL does not catch States.Runtime (concepts-error-handling): a Task whose Parameters fail
  // an intrinsic fails the execution, its catcher never runs and its integration is never called.
  it('does not let a catch-all catch an intrinsic function failing in a Task', async () => {
    const calls: unknown[] = [];
    const sfn = oneMachine(
      'reject',
      {
        StartAt: 'Notify',
        States: {
          Notify: {
            Type: 'Task',
            Resource: SQS_SEND_MESSAGE,
            Parameters: { QueueUrl: 'http://q', 'MessageBody.$': 'States.StringToJson($.cause)' },
            Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }],
            End: true,
          },
          Caught: { Type: 'Succeed' },
        },
      },
      { [SQS_SEND_MESSAGE]: async (parameters) => calls.push(parameters) },
    );
    const { executionArn } = sfn.startExecution({
      stateMachineArn: 'reject',
      input: '{"cause":"{not json"}',
    });
    const done = await sfn.waitForExecution(executionArn);
    expect(done).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
    expect(done.cause).toContain("The function 'States.StringToJson($.cause)' had the following error: ");
    expect(calls).toEqual([]);
  });

  // States.Runtime "can't be retried" and "States.ALL ... does not match States.Runtime"
  // (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html): a Lambda
  // Task without FunctionName fails the execution; its retrier and its catch-all never run.
  it('neither retries nor catches a Task whose integration lacks a required parameter (States.Runtime)', async () => {
    const invoked: string[] = [];
    const sfn = oneMachine(
      'unnamed',
      {
        StartAt: 'Invoke',
        States: {
          Invoke: {
            Type: 'Task',
            Resource: LAMBDA_INVOKE,
            Parameters: { Payload: {} },
            Retry: [{ ErrorEquals: ['States.ALL'], MaxAttempts: 2, IntervalSeconds: 0 }],
            Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Caught' }],
            End: true,
          },
          Caught: { Type: 'Succeed' },
        },
      },
      {
        [LAMBDA_INVOKE]: lambdaInvoke((functionName) => {
          invoked.push(functionName);
          return undefined;
        }),
      },
    );
    const { executionArn } = sfn.startExecution({ stateMachineArn: 'unnamed', input: '{}' });
    const done = await sfn.waitForExecution(executionArn);
    expect(done).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
    expect(done.cause).toContain('the parameter FunctionName is required');
    expect(done.history.filter((event) => event.type === 'TaskStateEntered')).toHaveLength(1);
    expect(done.history.some((event) => event.type === 'SucceedStateEntered')).toBe(false);
    expect(invoked).toEqual([]);
  });

  // The Cause of a Lambda failure is the function's error payload as Lambda returns it: the Node.js
  // runtime's `{errorType, errorMessage, trace}`, and for an error Lambda itself reports (a timeout, a
  // runtime that exited) no `trace` (https://docs.aws.amazon.com/step-functions/latest/dg/connect-lambda.html),
  // as the local Invoke API answers it.
  it("fails a Lambda task with the function's error payload as Cause, with a trace only where the runtime gave one", async () => {
    const definition = {
      StartAt: 'Invoke',
      States: {
        Invoke: {
          Type: 'Task',
          Resource: LAMBDA_INVOKE,
          Parameters: { FunctionName: 'f', 'Payload.$': '$' },
          End: true,
        },
      },
    };
    const failures = {
      timedOut: {
        errorType: 'Sandbox.Timedout',
        errorMessage: 'RequestId: r1 Error: Task timed out after 3.00 seconds',
      },
      thrown: {
        errorType: 'InvalidInputError',
        errorMessage: 'payload.to: not a valid email',
        stackTrace: ['at handler (index.mjs:1:1)'],
      },
    };
    const causes: Record<string, unknown> = {};
    for (const [name, error] of Object.entries(failures)) {
      const machine = oneMachine(`lambda-${name}`, definition, {
        [LAMBDA_INVOKE]: lambdaInvoke(async () => ({ ok: false, requestId: 'r1', durationMs: 1, error })),
      });
      const { executionArn } = machine.startExecution({ stateMachineArn: `lambda-${name}`, input: '{}' });
      const done = await machine.waitForExecution(executionArn);
      expect(done).toMatchObject({ status: 'FAILED', error: error.errorType });
      causes[name] = JSON.parse(done.cause ?? '');
    }
    expect(causes).toEqual({
      timedOut: { errorType: 'Sandbox.Timedout', errorMessage: failures.timedOut.errorMessage },
      thrown: {
        errorType: 'InvalidInputError',
        errorMessage: 'payload.to: not a valid email',
        trace: ['at handler (index.mjs:1:1)'],
      },
    });
  });

  // Lambda's 429 past the account's concurrency reaches Step Functions as Lambda.TooManyRequestsException
  // with the SDK's cause (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html),
  // which the workflows' retrier of transient Lambda errors retries.
  it("fails a throttled Lambda task Lambda.TooManyRequestsException, which the workflows' transient Lambda errors retry", async () => {
    let calls = 0;
    const sfn = createLocalStepFunctions({
      stateMachines: [
        {
          name: 'throttled',
          definition: {
            StartAt: 'Invoke',
            States: {
              Invoke: {
                Type: 'Task',
                Resource: LAMBDA_INVOKE,
                Parameters: { FunctionName: FN, Payload: {} },
                Retry: [{ ErrorEquals: [...TRANSIENT_LAMBDA_ERRORS], IntervalSeconds: 2, MaxAttempts: 6 }],
                End: true,
              },
            },
          },
        },
      ],
      integrations: {
        [LAMBDA_INVOKE]: lambdaInvoke(async () => {
          calls += 1;
          if (calls <= 2) throw new TooManyRequestsError();
          return { ok: true, requestId: 'r3', durationMs: 1, payload: { done: true } };
        }),
      },
      region: 'us-east-1',
      accountId: '000000000000',
      reporter: () => undefined,
      retryIntervalMs: 0,
    });
    const { executionArn } = sfn.startExecution({
      stateMachineArn: sfn.stateMachineArn('throttled'),
      input: '{}',
    });
    const done = await sfn.waitForExecution(executionArn);
    expect(done.status).toBe('SUCCEEDED');
    const failures = done.history.flatMap((event) =>
      event.type === 'TaskFailed'
        ? [event.taskFailedEventDetails as { error?: string; cause?: string } | undefined]
        : [],
    );
    expect(failures.map((failure) => failure?.error)).toEqual([
      'Lambda.TooManyRequestsException',
      'Lambda.TooManyRequestsException',
    ]);
    for (const failure of failures) {
      expect(failure?.cause).toMatch(
        /^Rate Exceeded\. \(Service: AWSLambda; Status Code: 429; Error Code: TooManyRequestsException; Request ID: [0-9a-f-]{36}\)$/,
      );
    }
    expect(calls).toBe(3);
  });

  // States.Hash returns the lowercase hex digest of the data's UTF-8 bytes, for MD5, SHA-1, SHA-256,
  // SHA-384 and SHA-512, of data of at most 10,000 characters
  // (https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html, States.Hash).
  // aws-local-stepfunctions 3.0.0 computed it with its own code, wrong from 56 bytes on: 200 × "a"
  // and 199 × "a" + "b" hashed alike.
  const hashes = [
    ['MD5', 'md5'],
    ['SHA-1', 'sha1'],
    ['SHA-256', 'sha256'],
    ['SHA-384', 'sha384'],
    ['SHA-512', 'sha512'],
  ] as const;
  const hashedData = {
    twoHundredBytes: 'a'.repeat(200),
    lastByteDiffers: `${'a'.repeat(199)}b`,
    multiByte: 'déjà vu ✓ 😀 '.repeat(8),
    docExample: 'input data',
  };

  it.each(hashes)(
    'computes States.Hash with %s as the hex digest of the UTF-8 bytes',
    async (algorithm, nodeName) => {
      const sfn = oneMachine('hash', {
        StartAt: 'Hash',
        States: {
          Hash: {
            Type: 'Pass',
            Parameters: Object.fromEntries(
              Object.keys(hashedData).map((key) => [`${key}.$`, `States.Hash($.data.${key}, $.algorithm)`]),
            ),
            End: true,
          },
        },
      });
      const { executionArn } = sfn.startExecution({
        stateMachineArn: 'hash',
        input: JSON.stringify({ data: hashedData, algorithm }),
      });
      const done = await sfn.waitForExecution(executionArn);
      expect(done.status).toBe('SUCCEEDED');
      expect(JSON.parse(done.output ?? '')).toEqual(
        Object.fromEntries(
          Object.entries(hashedData).map(([key, data]) => [
            key,
            createHash(nodeName).update(data, 'utf8').digest('hex'),
          ]),
        ),
      );
    },
  );

  it('fails States.Hash of more than 10,000 characters, or with an algorithm AWS lacks, with States.Runtime', async () => {
    const sfn = oneMachine('hash', {
      StartAt: 'Hash',
      States: {
        Hash: { Type: 'Pass', Parameters: { 'digest.$': 'States.Hash($.data, $.algorithm)' }, End: true },
      },
    });
    const run = async (data: string, algorithm = 'SHA-256') => {
      const { executionArn } = sfn.startExecution({
        stateMachineArn: 'hash',
        input: JSON.stringify({ data, algorithm }),
      });
      return sfn.waitForExecution(executionArn);
    };
    const atLimit = 'é'.repeat(10_000);
    expect(JSON.parse((await run(atLimit)).output ?? '')).toEqual({
      digest: createHash('sha256').update(atLimit, 'utf8').digest('hex'),
    });
    expect(await run('é'.repeat(10_001))).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
    const unknown = await run('data', 'SHA3-256');
    expect(unknown).toMatchObject({ status: 'FAILED', error: 'States.Runtime' });
    expect(unknown.cause).toContain("Unsupported hash algorithm 'SHA3-256'");
  });

  // States.Base64Encode encodes the string's UTF-8 bytes, States.Base64Decode decodes to UTF-8 and
  // accepts missing padding; both take at most 10,000 characters
  // (https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html, States.Base64Encode
  // and States.Base64Decode). The values marked "AWS" were observed on AWS by ministack
  // (https://github.com/ministackorg/ministack/pull/1360); the others are the UTF-8 bytes' base64.
  // aws-local-stepfunctions 3.0.0 used btoa and atob: "é" encoded as one Latin-1 byte, "✓" failed the
  // execution, and "w6k=" decoded to "Ã©".
  const base64Pairs = {
    ascii: ['hello', 'aGVsbG8='], // AWS (encode)
    sentence: ['Data to encode', 'RGF0YSB0byBlbmNvZGU='], // AWS (decode)
    accentedArrow: ['héllo→', 'aMOpbGxv4oaS'], // AWS (encode)
    latin1: ['é', 'w6k='],
    checkMark: ['✓', '4pyT'],
    emoji: ['😀', '8J+YgA=='],
    empty: ['', ''], // AWS (encode)
  } as const;

  it('encodes the UTF-8 bytes with States.Base64Encode and decodes to UTF-8 with States.Base64Decode', async () => {
    const keys = Object.keys(base64Pairs);
    const sfn = oneMachine('base64', {
      StartAt: 'Base64',
      States: {
        Base64: {
          Type: 'Pass',
          Parameters: {
            encoded: Object.fromEntries(
              keys.map((key) => [`${key}.$`, `States.Base64Encode($.text.${key})`]),
            ),
            decoded: Object.fromEntries(
              keys.map((key) => [`${key}.$`, `States.Base64Decode($.base64.${key})`]),
            ),
            'unpadded.$': "States.Base64Decode('aGVsbG8')",
            'unpaddedEmoji.$': "States.Base64Decode('8J+YgA')",
            'roundTrip.$': 'States.Base64Decode(States.Base64Encode($.text.emoji))',
          },
          End: true,
        },
      },
    });
    const { executionArn } = sfn.startExecution({
      stateMachineArn: 'base64',
      input: JSON.stringify({
        text: Object.fromEntries(Object.entries(base64Pairs).map(([key, [text]]) => [key, text])),
        base64: Object.fromEntries(Object.entries(base64Pairs).map(([key, [, encoded]]) => [key, encoded])),
      }),
    });
    const done = await sfn.waitForExecution(executionArn);
    expect(done.status).toBe('SUCCEEDED');
    expect(JSON.parse(done.output ?? '')).toEqual({
      encoded: Object.fromEntries(Object.entries(base64Pairs).map(([key, [, encoded]]) => [key, encoded])),
      decoded: Object.fromEntries(Object.entries(base64Pairs).map(([key, [text]]) => [key, text])),
      unpadded: 'hello', // AWS
      unpaddedEmoji: '😀',
      roundTrip: '😀',
    });
  });

  it('fails States.Base64Encode and States.Base64Decode of more than 10,000 characters with States.Runtime', async () => {
    const sfn = oneMachine('base64', {
      StartAt: 'Base64',
      States: {
        Base64: { Type: 'Pass', Parameters: { 'out.$': 'States.Base64Encode($.text)' }, End: true },
      },
    });
    const decoder = oneMachine('unbase64', {
      StartAt: 'Base64',
      States: {
        Base64: { Type: 'Pass', Parameters: { 'out.$': 'States.Base64Decode($.text)' }, End: true },
      },
    });
    const run = async (machine: ReturnType<typeof oneMachine>, name: string, text: string) => {
      const { executionArn } = machine.startExecution({
        stateMachineArn: name,
        input: JSON.stringify({ text }),
      });
      return machine.waitForExecution(executionArn);
    };
    const encoded = JSON.parse((await run(sfn, 'base64', 'a'.repeat(10_000))).output ?? '') as {
      out: string;
    };
    expect(encoded.out).toHaveLength(13_336); // AWS
    expect(encoded.out).toBe(`${'YWFh'.repeat(3_333)}YQ==`);
    expect(JSON.parse((await run(sfn, 'base64', 'é'.repeat(10_000))).output ?? '')).toEqual({
      out: `${'w6nDqcOp'.repeat(3_333)}w6k=`, // "ééé" is w6nDqcOp
    });
    expect(await run(sfn, 'base64', 'a'.repeat(10_001))).toMatchObject({
      status: 'FAILED',
      error: 'States.Runtime',
    }); // AWS
    expect(JSON.parse((await run(decoder, 'unbase64', 'w6nDqcOp'.repeat(1_250))).output ?? '')).toEqual({
      out: 'é'.repeat(3_750),
    });
    expect(await run(decoder, 'unbase64', `${'w6nDqcOp'.repeat(1_250)}YWFh`)).toMatchObject({
      status: 'FAILED',
      error: 'States.Runtime',
    });
    expect(await run(decoder, 'unbase64', 'YQ=='.repeat(5_000))).toMatchObject({
      status: 'FAILED',
      error: 'States.Runtime',
    }); // AWS
  });

  // StringMatches: only `*` is special, `\\*` (JSON) is a literal asterisk and `\\\\` a literal
  // backslash; `?` and `[` are plain characters
  // (https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html, StringMatches).
  it.each([
    ['a?c', 'abc', false],
    ['a?c', 'a?c', true],
    ['a[bx]c', 'abc', false],
    ['a[bx]c', 'a[bx]c', true],
    ['a*c', 'abbbc', true],
    ['a*c', 'ac', true],
    ['a*c', 'abcd', false],
    ['a\\*c', 'a*c', true],
    ['a\\*c', 'abbc', false],
    ['a\\\\c', 'a\\c', true],
    ['a\\\\*', 'a\\xyz', true],
    ['log-*.txt', 'log-2026.txt', true],
    ['log-*.txt', 'log-2026xtxt', false],
  ])('StringMatches %j against %j is %s, as AWS matches it', async (pattern, value, matches) => {
    const sfn = oneMachine('match', {
      StartAt: 'Match',
      States: {
        Match: {
          Type: 'Choice',
          Choices: [{ Variable: '$.value', StringMatches: pattern, Next: 'Matched' }],
          Default: 'Unmatched',
        },
        Matched: { Type: 'Pass', Result: 'matched', End: true },
        Unmatched: { Type: 'Pass', Result: 'unmatched', End: true },
      },
    });
    const { executionArn } = sfn.startExecution({
      stateMachineArn: 'match',
      input: JSON.stringify({ value }),
    });
    const done = await sfn.waitForExecution(executionArn);
    expect(done.status).toBe('SUCCEEDED');
    expect(JSON.parse(done.output ?? '')).toBe(matches ? 'matched' : 'unmatched');
  });
});

// "Some Step Functions API actions are throttled using a token bucket scheme" (per account and
// Region; https://docs.aws.amazon.com/step-functions/latest/dg/limits-overview.html): the local
// cloud's Region's buckets, so a caller that polls as no quota allows is refused locally too.
describe('the Step Functions API’s throttling', () => {
  it('answers a bucket’s worth of an action at once, then ThrottlingException until it refills, before looking at the request', async () => {
    const { sfn, arn } = cloud(async () => ({ Payload: { ok: true }, StatusCode: 200 }));
    let clock = 0;
    const api = stepFunctionsApi(sfn, { now: () => clock });
    const { bucket, refill } = STEP_FUNCTIONS_API_QUOTAS.ListExecutions as { bucket: number; refill: number };
    expect({ bucket, refill }).toEqual({ bucket: 200, refill: 5 });
    for (let call = 0; call < bucket; call++) await api('ListExecutions', { stateMachineArn: arn });
    await expect(api('ListExecutions', { stateMachineArn: arn })).rejects.toMatchObject({
      name: 'ThrottlingException',
      message: 'Rate exceeded',
      statusCode: 400,
    });
    // Throttled before the request is looked at: no ValidationException for a request without an ARN.
    await expect(api('ListExecutions', {})).rejects.toMatchObject({ name: 'ThrottlingException' });
    // Each action has its own bucket.
    await expect(
      api('DescribeExecution', { executionArn: `${arn.replace(':stateMachine:', ':execution:')}:none` }),
    ).rejects.toMatchObject({
      name: 'ExecutionDoesNotExist',
    });
    clock += 1_000 / refill;
    await expect(api('ListExecutions', { stateMachineArn: arn })).resolves.toMatchObject({ executions: [] });
    await expect(api('ListExecutions', { stateMachineArn: arn })).rejects.toMatchObject({
      name: 'ThrottlingException',
    });
    await sfn.stop();
  });
});
