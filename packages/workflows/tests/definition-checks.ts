import { expect } from '@jest/globals';
import { HAND_OVER_DEADLINE_SECONDS, JOB_DEADLINE_SECONDS } from '@sidestep/jobs';
import {
  DEFAULT_BATCH_TASK_TIMEOUT_SECONDS,
  ECS_CAPACITY_ERRORS,
  ECS_CAPACITY_WAIT_SECONDS,
  type ImportWorkflowProps,
  jobDeadlineSeconds,
  type Retrier,
  retryWaitSeconds,
  type StateMachineDefinition,
  type TaskState,
  TRANSIENT_ECS_ERRORS,
  TRANSIENT_LAMBDA_ERRORS,
  TRANSIENT_SQS_ERRORS,
  TRANSIENT_STATUS_UPDATER_ERRORS,
} from '../src/index.ts';

/**
 * The props every job workflow has, as infra passes them: Terraform tokens, which the definition
 * must carry verbatim.
 */
export const jobWorkflowTokens: Pick<ImportWorkflowProps, 'statusUpdaterFunctionArn' | 'batchWorker'> = {
  statusUpdaterFunctionArn: `\${aws_lambda_function.status-updater.arn}`,
  batchWorker: {
    clusterArn: `\${aws_ecs_cluster.batch.arn}`,
    taskDefinitionArn: `\${aws_ecs_task_definition.batch-worker.arn_without_revision}`,
    containerName: 'batch-worker',
    subnetIds: [`\${var.private_subnet_a}`, `\${var.private_subnet_b}`],
    securityGroupIds: [`\${aws_security_group.batch-worker.id}`],
    assignPublicIp: true,
    timeoutSeconds: 7200,
  },
};

/** The Task states of a definition's top level, with their names. */
export function tasksOf(definition: StateMachineDefinition): [string, TaskState][] {
  return Object.entries(definition.States).filter(
    (entry): entry is [string, TaskState] => entry[1].Type === 'Task',
  );
}

/**
 * Every task catches every error (`States.ALL`, last), so no failure leaves a job `running`; a batch
 * task catches `States.TaskFailed` before it, to rerun an interrupted task, and a task may catch other
 * named errors before it (`catchesFirst`: the export's RegisterJob, RequestConflictError).
 */
export function expectEveryTaskCatchesAll(
  tasks: readonly [string, TaskState][],
  catchesFirst: Readonly<Record<string, readonly string[]>> = {},
): void {
  for (const [name, state] of tasks) {
    const batch = state.Resource === 'arn:aws:states:::ecs:runTask.sync';
    expect({ name, catch: state.Catch?.flatMap((catcher) => catcher.ErrorEquals) }).toEqual({
      name,
      catch: [...(catchesFirst[name] ?? []), ...(batch ? ['States.TaskFailed'] : []), 'States.ALL'],
    });
  }
}

/** The errors a throttled call fails with (ECS's RunTask "Rate exceeded" is `ECS.AmazonECSException`). */
const THROTTLES: readonly string[] = [
  'ECS.AmazonECSException',
  'ECS.ThrottlingException',
  'Lambda.TooManyRequestsException',
  'SQS.RequestThrottledException',
  'SQS.ThrottlingException',
  'SQS.KmsThrottledException',
];

/**
 * Every task retries, only transient errors — the Lambda service's, the status-updater's, ECS's,
 * SQS's, and the workflow's `extra` ones — with capped exponential backoff, jittered but for the
 * ledger's (which must last a set time); and no task retries a catch-all or an error that is
 * permanent by nature.
 */
export function expectOnlyTransientRetries(
  tasks: readonly [string, TaskState][],
  extra: readonly string[] = [],
): void {
  const transient = new Set<string>([
    ...TRANSIENT_LAMBDA_ERRORS,
    ...TRANSIENT_STATUS_UPDATER_ERRORS,
    ...TRANSIENT_ECS_ERRORS,
    ...TRANSIENT_SQS_ERRORS,
    ...extra,
  ]);
  for (const [name, state] of tasks) {
    expect({ name, retry: state.Retry?.length ?? 0 }).not.toEqual({ name, retry: 0 });
    for (const retrier of state.Retry ?? []) {
      for (const error of retrier.ErrorEquals)
        expect({ name, error, transient: transient.has(error) }).toEqual({ name, error, transient: true });
      // Jittered, but for the ledger's outages and a batch task's wait for ECS capacity, whose
      // retriers must last a set time (ledger-outage.test.ts, import-workflow-execution.test.ts).
      const lastsSetTime = retrier.ErrorEquals.some((error) =>
        [...TRANSIENT_STATUS_UPDATER_ERRORS, ...ECS_CAPACITY_ERRORS].includes(error as never),
      );
      expect({ name, error: retrier.ErrorEquals, JitterStrategy: retrier.JitterStrategy }).toEqual({
        name,
        error: retrier.ErrorEquals,
        JitterStrategy: lastsSetTime ? 'NONE' : 'FULL',
      });
      // A throttle is retried jittered whatever else its retrier is for: executions throttled in the
      // same second must not call again in the same second (RunTask's 20 a second, Lambda's 429).
      for (const error of retrier.ErrorEquals.filter((e) => THROTTLES.includes(e))) {
        expect({ name, error, JitterStrategy: retrier.JitterStrategy }).toEqual({
          name,
          error,
          JitterStrategy: 'FULL',
        });
      }
      expect(retrier).toMatchObject({ BackoffRate: 2, MaxDelaySeconds: 60 });
      expect(retrier.IntervalSeconds).toBeGreaterThan(0);
    }
  }
  const retried = tasks.flatMap(([, state]) => state.Retry ?? []).flatMap((retrier) => retrier.ErrorEquals);
  for (const permanent of [
    'States.ALL',
    'States.TaskFailed',
    'States.Timeout',
    'InvalidTransitionError',
    'UnexpectedStateError',
    'InvalidInputError',
    'ContractValidationError',
    'SQS.AmazonSQSException',
  ]) {
    expect(retried).not.toContain(permanent);
  }
}

/**
 * The job's deadline, which StartJob sends (`deadlineSeconds`; past it the job-sweeper fails a job
 * still running), is past the longest the definition itself may keep the job running: every run of
 * `batchTask` it may make (the first, and as many reruns as its two `...RerunsLeft` choices allow),
 * each up to the task's TimeoutSeconds after every retry of its start at its longest wait (ECS with
 * no room for it, ECS API errors), and the waits before its transient reruns at their longest (the
 * backoff plus up to the backoff again, the backoff doubling). Read from the definition, so a rerun
 * or a longer wait added to it without the deadline fails this.
 */
export function expectDeadlineCoversEveryRun(definition: StateMachineDefinition, batchTask: string): number {
  const states = definition.States as unknown as Record<string, Record<string, unknown> | undefined>;
  // NaN for anything not found, which fails the comparison at the end.
  const number = (value: unknown) => (typeof value === 'number' ? value : Number.NaN);
  const rerunsAllowed = (choice: string) =>
    number((states[choice]?.Choices as { NumericLessThan?: unknown }[] | undefined)?.[0]?.NumericLessThan);
  const timeout = number(states[batchTask]?.TimeoutSeconds);
  const taskReruns = rerunsAllowed(`${batchTask}RerunsLeft`);
  const transientReruns = rerunsAllowed(`${batchTask}TransientRerunsLeft`);
  let backoff = number(
    (states[`${batchTask}FirstTransientRerun`]?.Parameters as { backoffSeconds?: unknown } | undefined)
      ?.backoffSeconds,
  );
  let waits = 0;
  for (let rerun = 0; rerun < transientReruns; rerun++, backoff *= 2) waits += 2 * backoff;
  const startWaits = ((states[batchTask]?.Retry ?? []) as Retrier[])
    .map(retryWaitSeconds)
    .reduce((sum, seconds) => sum + seconds, 0);
  expect(startWaits).toBeGreaterThan(ECS_CAPACITY_WAIT_SECONDS);
  const longest = (1 + taskReruns + transientReruns) * (timeout + startWaits) + waits;
  const deadline = number(
    (states.StartJob?.Parameters as { Payload?: { deadlineSeconds?: unknown } } | undefined)?.Payload
      ?.deadlineSeconds,
  );
  expect(deadline).toBeGreaterThan(longest);
  return deadline;
}

/** The status-updater's function timeout (`timeoutSeconds` of services/status-updater/service.ts). */
const STATUS_UPDATER_TIMEOUT_SECONDS = 30;

/**
 * The longest task state `name` of `definition` may take: its first attempt and every retry each up to
 * `attemptSeconds`, and every retrier's waits at their longest (FULL jitter waits up to the backoff).
 * https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html#error-handling-retrying-after-an-error
 */
function longestTaskSeconds(
  definition: StateMachineDefinition,
  name: string,
  attemptSeconds: number,
): number {
  const retriers = ((definition.States[name] as TaskState | undefined)?.Retry ?? []) as readonly Retrier[];
  let seconds = attemptSeconds;
  for (const retrier of retriers)
    seconds += retryWaitSeconds(retrier) + (retrier.MaxAttempts ?? 3) * attemptSeconds;
  return seconds;
}

/**
 * The deadline a retry's hand-over gives its job (HAND_OVER_DEADLINE_SECONDS of @sidestep/jobs) covers
 * the longest an execution that started takes to reach StartJob: only Pass and Choice states before
 * RegisterJob, then RegisterJob and StartJob with their retries, so the job-sweeper never fails a
 * handed-over job whose execution is alive.
 */
function expectHandOverDeadlineCoversRegistration(definition: StateMachineDefinition): void {
  // Reached from StartAt through Pass and Choice states alone (no wait, no task before it).
  const reached = new Set<string>();
  const next = [definition.StartAt];
  for (let state = next.pop(); state !== undefined; state = next.pop()) {
    const at = definition.States[state] as
      | { Type: string; Next?: string; Default?: string; Choices?: { Next: string }[] }
      | undefined;
    if (reached.has(state) || (at?.Type !== 'Pass' && at?.Type !== 'Choice')) {
      reached.add(state);
      continue;
    }
    reached.add(state);
    next.push(
      ...[at.Next, at.Default, ...(at.Choices ?? []).map((choice) => choice.Next)].filter(
        (s) => s !== undefined,
      ),
    );
  }
  expect(reached).toContain('RegisterJob');
  const longest = ['RegisterJob', 'StartJob']
    .map((name) => longestTaskSeconds(definition, name, STATUS_UPDATER_TIMEOUT_SECONDS))
    .reduce((sum, seconds) => sum + seconds, 0);
  expect(longest).toBeGreaterThan(20 * 60);
  expect(HAND_OVER_DEADLINE_SECONDS).toBeGreaterThanOrEqual(longest);
}

/**
 * A job workflow's deadlines ({@link expectDeadlineCoversEveryRun}) with a 2-hour task and with the
 * default one, built by `build`; the ledger's default for a start without `deadlineSeconds` (an
 * execution of a definition from before it) covers a workflow with the default task; and a retry's
 * hand-over gives its execution time enough to take the job
 * ({@link expectHandOverDeadlineCoversRegistration}).
 */
export function expectJobDeadlines(
  kind: 'import' | 'export',
  build: (timeoutSeconds: number | undefined) => StateMachineDefinition,
  batchTask: string,
): void {
  expect(expectDeadlineCoversEveryRun(build(7200), batchTask)).toBe(jobDeadlineSeconds(7200));
  expect(expectDeadlineCoversEveryRun(build(undefined), batchTask)).toBe(jobDeadlineSeconds());
  expect(JOB_DEADLINE_SECONDS[kind]).toBeGreaterThanOrEqual(
    jobDeadlineSeconds(DEFAULT_BATCH_TASK_TIMEOUT_SECONDS),
  );
  expectHandOverDeadlineCoversRegistration(build(undefined));
}
