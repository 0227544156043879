import { type JobKind, MAX_JOB_DEADLINE_SECONDS, TRANSIENT_FAILURE_EXIT_CODE } from '@sidestep/contracts';
import type { ChoiceTest, Json, State, TaskState } from './asl.ts';
import { catchAll } from './catch-all.ts';
import { INTEGRATION } from './integration.ts';
import { InvalidWorkflowPropsError } from './invalid-workflow-props-error.ts';
import { requireStrings } from './require-strings.ts';
import { ECS_CAPACITY_RETRY, ECS_START_RETRY, retryWaitSeconds } from './retry.ts';

/** The batch-worker's Fargate task (`arn:aws:states:::ecs:runTask.sync`). Every value may be a Terraform token. */
export interface BatchWorkerProps {
  readonly clusterArn: string;
  /** Task definition ARN; with or without revision. */
  readonly taskDefinitionArn: string;
  /** The container the overrides apply to (the task manifest's `containerName`). */
  readonly containerName: string;
  readonly subnetIds: readonly string[];
  readonly securityGroupIds: readonly string[];
  /** Whether the task gets a public IP (needed in public subnets without a NAT gateway). @default false */
  readonly assignPublicIp?: boolean;
  /**
   * Where the task runs: `FARGATE` (the launch type) or `FARGATE_SPOT` (a capacity provider strategy;
   * the cluster must offer it). Spot capacity can be interrupted, which the workflow answers by
   * running the task again ({@link INTERRUPTED_TASK_STOP_CODES}).
   * @default 'FARGATE'
   */
  readonly capacityProvider?: 'FARGATE' | 'FARGATE_SPOT';
  /**
   * Seconds the workflow waits for the task before failing the job with `States.Timeout`
   * (Step Functions then stops the task). Pass the task manifest's `timeoutSeconds`.
   * @default 3600
   */
  readonly timeoutSeconds?: number;
}

/**
 * One container environment variable: a fixed `Value`, or `Value.$`, a path or intrinsic function.
 * ECS environment values must be strings.
 */
export type TaskEnvironmentVariable = { readonly Name: string } & (
  | { readonly Value: string }
  | { readonly 'Value.$': string }
);

/**
 * Refuses batch-worker props that would fail at run time (an empty subnet list fails every RunTask),
 * naming the field as `batchWorker.<field>`.
 */
export function checkBatchWorker(batchWorker: BatchWorkerProps): void {
  requireStrings([
    ['batchWorker.clusterArn', batchWorker.clusterArn],
    ['batchWorker.taskDefinitionArn', batchWorker.taskDefinitionArn],
    ['batchWorker.containerName', batchWorker.containerName],
  ]);
  for (const field of ['subnetIds', 'securityGroupIds'] as const) {
    const ids = batchWorker[field];
    if (ids.length === 0 || ids.some((id) => typeof id !== 'string' || id === '')) {
      throw new InvalidWorkflowPropsError(`batchWorker.${field}`, 'must be a non-empty list of ids');
    }
  }
  const capacity = batchWorker.capacityProvider;
  if (capacity !== undefined && capacity !== 'FARGATE' && capacity !== 'FARGATE_SPOT') {
    throw new InvalidWorkflowPropsError('batchWorker.capacityProvider', 'must be FARGATE or FARGATE_SPOT');
  }
  const timeout = batchWorker.timeoutSeconds;
  if (timeout !== undefined && (!Number.isInteger(timeout) || timeout < 60)) {
    throw new InvalidWorkflowPropsError('batchWorker.timeoutSeconds', 'must be an integer of at least 60');
  }
  if (timeout !== undefined && timeout > MAX_BATCH_TASK_TIMEOUT_SECONDS) {
    throw new InvalidWorkflowPropsError(
      'batchWorker.timeoutSeconds',
      `must be at most ${MAX_BATCH_TASK_TIMEOUT_SECONDS} (about ${Math.floor(MAX_BATCH_TASK_TIMEOUT_SECONDS / 3600)} h): ` +
        `the job's deadline covers every run of the task and may be at most ${MAX_JOB_DEADLINE_SECONDS} s (7 days)`,
    );
  }
}

/** The props every job workflow has: the status-updater that keeps the ledger, and the batch-worker. */
export interface JobWorkflowProps {
  readonly statusUpdaterFunctionArn: string;
  readonly batchWorker: BatchWorkerProps;
}

/**
 * Refuses a job workflow's props that would fail at run time, naming the first bad field in order:
 * `statusUpdaterFunctionArn`, then the batch-worker's ({@link checkBatchWorker}), then the
 * workflow's own `fields`, each of which must be a non-empty string.
 */
export function checkJobWorkflowProps(
  props: JobWorkflowProps,
  fields: readonly (readonly [field: string, value: unknown])[],
): void {
  requireStrings([['statusUpdaterFunctionArn', props.statusUpdaterFunctionArn]]);
  checkBatchWorker(props.batchWorker);
  requireStrings(fields);
}

/**
 * The ECS stop codes of a task stopped under it, not by its own failure: a Fargate Spot interruption,
 * a task retired for maintenance (`TerminationNotice`), and a task that never started (image pull,
 * ENI or secrets not ready). The same task run again can succeed, so the workflow reruns it.
 * `EssentialContainerExited` (the worker's own non-zero exit: bad input, a failed import) and
 * `UserInitiated` (an operator's or Step Functions' StopTask) are not retried.
 * https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html
 */
export const INTERRUPTED_TASK_STOP_CODES = [
  'SpotInterruption',
  'TerminationNotice',
  'TaskFailedToStart',
] as const;

/** How many times an interrupted batch task is run again before the job fails. */
export const MAX_TASK_RERUNS = 3;

/**
 * How many times a batch task that exited {@link TRANSIENT_FAILURE_EXIT_CODE} (a database conflict,
 * or the database or S3 unreachable, past the worker's own retries) is run again before the job
 * fails with {@link TRANSIENT_FAILURE_ERROR}.
 */
export const MAX_TRANSIENT_RERUNS = 3;

/**
 * The backoff before the first rerun after a transient failure; it doubles for each later one. Each wait is
 * the backoff plus a random part of up to the backoff again (30-60 s, 60-120 s, 120-240 s), so two
 * imports that collided are not run again in lockstep.
 */
export const TRANSIENT_BACKOFF_SECONDS = 30;

/** The batch task's timeout when `BatchWorkerProps.timeoutSeconds` gives none. */
export const DEFAULT_BATCH_TASK_TIMEOUT_SECONDS = 3600;

/**
 * Allowed beyond the task's runs and waits: the steps after the task (the finalizer, the
 * status-updater) with their Lambda retries.
 */
const AFTER_TASK_RUNS_SECONDS = 60 * 60;

/** Every run of the batch task a job workflow may make: the first and each rerun. */
const TASK_RUNS = 1 + MAX_TASK_RERUNS + MAX_TRANSIENT_RERUNS;

/**
 * The longest a run of the batch task may wait to start: every retry of its start, while ECS has no
 * room for it ({@link ECS_CAPACITY_RETRY}, an hour) and after ECS API errors ({@link ECS_START_RETRY},
 * 5 min 10 s), each at its longest.
 */
const START_WAITS_SECONDS = retryWaitSeconds(ECS_CAPACITY_RETRY) + retryWaitSeconds(ECS_START_RETRY);

/** The waits before the transient reruns at their longest: each backoff plus a random part of up to it again. */
const RERUN_WAITS_SECONDS = Array.from(
  { length: MAX_TRANSIENT_RERUNS },
  (_, rerun) => 2 * TRANSIENT_BACKOFF_SECONDS * 2 ** rerun,
).reduce((sum, wait) => sum + wait, 0);

/**
 * The longest a job workflow may keep its job running, which its StartJob sends as the job's
 * `deadlineSeconds` (past it the job-sweeper fails the job): every run of the batch task the
 * workflow may make (the first, {@link MAX_TASK_RERUNS} after an interruption and
 * {@link MAX_TRANSIENT_RERUNS} after a transient failure), each up to `timeoutSeconds` after waiting
 * up to {@link START_WAITS_SECONDS} to start, the waits before the transient reruns at their longest,
 * and {@link AFTER_TASK_RUNS_SECONDS}. With the default 1-hour task: 14 h 44 min, plus an hour.
 */
export function jobDeadlineSeconds(timeoutSeconds: number = DEFAULT_BATCH_TASK_TIMEOUT_SECONDS): number {
  return TASK_RUNS * (timeoutSeconds + START_WAITS_SECONDS) + RERUN_WAITS_SECONDS + AFTER_TASK_RUNS_SECONDS;
}

/**
 * The longest `timeoutSeconds` a job workflow takes: the longest whose {@link jobDeadlineSeconds} is
 * within the ledger's {@link MAX_JOB_DEADLINE_SECONDS} (7 days), which its StartJob could not set
 * otherwise (every job would fail at its first step). About 22 h 45 min.
 */
export const MAX_BATCH_TASK_TIMEOUT_SECONDS = Math.floor(
  (MAX_JOB_DEADLINE_SECONDS - RERUN_WAITS_SECONDS - AFTER_TASK_RUNS_SECONDS) / TASK_RUNS -
    START_WAITS_SECONDS,
);

/**
 * The `Error` of a job failed because its task kept exiting {@link TRANSIENT_FAILURE_EXIT_CODE}; what
 * failed (`DatabaseConflictError`, `SourceUnavailableError`, a database error) is the worker's reason
 * on the job (`worker_error`), which the failure mail quotes.
 */
export const TRANSIENT_FAILURE_ERROR = 'TransientTaskFailure';

/** What a batch step needs besides the worker and its inputs. */
export interface BatchStep {
  /** The task state's name (`ImportRows`); its rerun states are named after it. */
  readonly name: string;
  readonly Comment: string;
  /** Where every other failure goes (the failure path's first state), with the error at `$.error`. */
  readonly onFailure: string;
  readonly Next: string;
}

/**
 * Runs the batch-worker on Fargate and waits for it to stop (`ecs:runTask.sync`); its inputs are the
 * container's environment overrides: `MODE`, `JOB_ID` (the job at `$.job.jobId`), `EXECUTION_ID`
 * (the execution's ARN, `$$.Execution.Id`: the task's log lines carry it, as the functions' do, so
 * one query by the execution finds the task's lines too), then the mode's own `environment`. Bounded by `timeoutSeconds`; ECS API errors are retried with backoff; the task
 * description is dropped (`ResultPath: null`): it is large and nothing later needs it.
 *
 * A task ECS stopped under the worker ({@link INTERRUPTED_TASK_STOP_CODES}) is run again, at most
 * {@link MAX_TASK_RERUNS} times. `ecs:runTask.sync` reports every stopped task the same way,
 * `States.TaskFailed` with the task's description (compact JSON) as the `Cause`, so a Retry cannot
 * tell an interruption from a real failure: a Catch keeps the error, a Choice reads the `StopCode`
 * from the cause and counts the reruns at `$.taskReruns`:
 *
 * ```
 * <name> --States.TaskFailed--> <name>Stopped -(interrupted, first)-> <name>FirstRerun -> <name>
 *                                         ├-(interrupted again)-> <name>RerunsLeft -(< max)-> <name>NextRerun -> <name>
 *                                         └-> onFailure                         └-> onFailure
 * <name> --States.ALL--> onFailure
 * ```
 *
 * A task whose container exited {@link TRANSIENT_FAILURE_EXIT_CODE} (75: a transient failure
 * outlasted the worker's own retries: PostgreSQL aborted the import's completing transaction for a
 * deadlock or a serialization failure on each attempt, or the database or S3 stayed unreachable,
 * throttled or failing; nothing was imported, an import's staging and an export's stored parts are
 * kept, so the rerun resumes them) is run again after a growing, jittered
 * Wait, at most {@link MAX_TRANSIENT_RERUNS} times, counted at `$.transientReruns`; then the job fails
 * with {@link TRANSIENT_FAILURE_ERROR} (the task description stays the `Cause`):
 *
 * ```
 * <name>Stopped -(exit 75, first)-> <name>FirstTransientRerun -> <name>TransientWait -> <name>
 *               ├-(exit 75 again)-> <name>TransientRerunsLeft -(< max)-> <name>NextTransientRerun -> <name>TransientWait
 *               │                                            └-> <name>TransientRerunsExhausted -> onFailure
 * ```
 *
 * A rerun is safe: the worker's import commits its rows and the job together, and the rerun of an
 * import that had committed finds the job succeeded (the failure path then reports it completed); an
 * export's rerun resumes after the last part its progress record names.
 */
export function batchTask(
  batchWorker: BatchWorkerProps,
  mode: JobKind,
  environment: readonly TaskEnvironmentVariable[],
  step: BatchStep,
): Record<string, State> {
  const overrides: readonly TaskEnvironmentVariable[] = [
    { Name: 'MODE', Value: mode },
    { Name: 'JOB_ID', 'Value.$': '$.job.jobId' },
    { Name: 'EXECUTION_ID', 'Value.$': '$$.Execution.Id' },
    ...environment,
  ];
  const { name } = step;
  const stopped = `${name}Stopped`;
  const firstRerun = `${name}FirstRerun`;
  const nextRerun = `${name}NextRerun`;
  const rerunsLeft = `${name}RerunsLeft`;
  const firstTransientRerun = `${name}FirstTransientRerun`;
  const nextTransientRerun = `${name}NextTransientRerun`;
  const transientRerunsLeft = `${name}TransientRerunsLeft`;
  const transientWait = `${name}TransientWait`;
  const transientRerunsExhausted = `${name}TransientRerunsExhausted`;
  // Step Functions writes the cause as compact JSON; the spaced form is matched too, to be safe.
  const interrupted: ChoiceTest = {
    Or: INTERRUPTED_TASK_STOP_CODES.flatMap((code) => [
      { Variable: '$.error.Cause', StringMatches: `*"StopCode":"${code}"*` },
      { Variable: '$.error.Cause', StringMatches: `*"StopCode": "${code}"*` },
    ]),
  };
  // For `ecs:runTask.sync` a task that stops with a non-zero exit code fails the state with
  // States.TaskFailed, its Cause the stopped task as DescribeTasks describes it, the container's
  // code at `Containers[].ExitCode`
  // (https://docs.aws.amazon.com/step-functions/latest/dg/connect-ecs.html,
  // https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Container.html). Exit codes are
  // 0-255, so `"ExitCode":75` cannot be the start of another code.
  const transient: ChoiceTest = {
    Or: [
      { Variable: '$.error.Cause', StringMatches: `*"ExitCode":${TRANSIENT_FAILURE_EXIT_CODE}*` },
      { Variable: '$.error.Cause', StringMatches: `*"ExitCode": ${TRANSIENT_FAILURE_EXIT_CODE}*` },
    ],
  };
  /** The wait before a rerun: the backoff at `path` plus a random part of up to the backoff again. */
  const jittered = (backoff: string) => `States.MathAdd(${backoff}, States.MathRandom(0, ${backoff}))`;
  const doubled = 'States.MathAdd($.transientReruns.backoffSeconds, $.transientReruns.backoffSeconds)';
  const task: TaskState = {
    Type: 'Task',
    Comment: step.Comment,
    Resource: INTEGRATION.ecsRunTaskSync,
    Parameters: {
      Cluster: batchWorker.clusterArn,
      TaskDefinition: batchWorker.taskDefinitionArn,
      // RunTask takes a launch type or a capacity provider strategy, never both.
      ...(batchWorker.capacityProvider === 'FARGATE_SPOT'
        ? { CapacityProviderStrategy: [{ CapacityProvider: 'FARGATE_SPOT', Weight: 1 }] }
        : { LaunchType: 'FARGATE' }),
      NetworkConfiguration: {
        AwsvpcConfiguration: {
          Subnets: [...batchWorker.subnetIds],
          SecurityGroups: [...batchWorker.securityGroupIds],
          AssignPublicIp: batchWorker.assignPublicIp ? 'ENABLED' : 'DISABLED',
        },
      },
      Overrides: {
        ContainerOverrides: [
          {
            Name: batchWorker.containerName,
            Environment: overrides.map((variable) => ({ ...variable }) as Json),
          },
        ],
      },
    },
    TimeoutSeconds: batchWorker.timeoutSeconds ?? DEFAULT_BATCH_TASK_TIMEOUT_SECONDS,
    ResultPath: null,
    Retry: [ECS_CAPACITY_RETRY, ECS_START_RETRY],
    Catch: [
      { ErrorEquals: ['States.TaskFailed'], ResultPath: '$.error', Next: stopped },
      ...catchAll(step.onFailure),
    ],
    Next: step.Next,
  };
  return {
    [name]: task,
    [stopped]: {
      Type: 'Choice',
      Comment:
        'ECS stopped the task under the worker (Spot interruption, retirement, failed start): run it again',
      // A comparison on an absent path is a run-time error, so the count is read in its own Choice.
      Choices: [
        { And: [interrupted, { Variable: '$.taskReruns', IsPresent: true }], Next: rerunsLeft },
        { ...interrupted, Next: firstRerun },
        { And: [transient, { Variable: '$.transientReruns', IsPresent: true }], Next: transientRerunsLeft },
        { ...transient, Next: firstTransientRerun },
      ],
      Default: step.onFailure,
    },
    [rerunsLeft]: {
      Type: 'Choice',
      Choices: [{ Variable: '$.taskReruns.count', NumericLessThan: MAX_TASK_RERUNS, Next: nextRerun }],
      Default: step.onFailure,
    },
    [firstRerun]: { Type: 'Pass', Parameters: { count: 1 }, ResultPath: '$.taskReruns', Next: name },
    [nextRerun]: {
      Type: 'Pass',
      Parameters: { 'count.$': 'States.MathAdd($.taskReruns.count, 1)' },
      ResultPath: '$.taskReruns',
      Next: name,
    },
    [transientRerunsLeft]: {
      Type: 'Choice',
      Choices: [
        {
          Variable: '$.transientReruns.count',
          NumericLessThan: MAX_TRANSIENT_RERUNS,
          Next: nextTransientRerun,
        },
      ],
      Default: transientRerunsExhausted,
    },
    [firstTransientRerun]: {
      Type: 'Pass',
      Comment: `The worker exited ${TRANSIENT_FAILURE_EXIT_CODE}: a transient failure (database conflict, database or S3 unreachable) outlasted its own retries; nothing was imported, what was staged or stored is kept`,
      Parameters: {
        count: 1,
        backoffSeconds: TRANSIENT_BACKOFF_SECONDS,
        'waitSeconds.$': jittered(String(TRANSIENT_BACKOFF_SECONDS)),
      },
      ResultPath: '$.transientReruns',
      Next: transientWait,
    },
    [nextTransientRerun]: {
      Type: 'Pass',
      Parameters: {
        'count.$': 'States.MathAdd($.transientReruns.count, 1)',
        'backoffSeconds.$': doubled,
        'waitSeconds.$': jittered(doubled),
      },
      ResultPath: '$.transientReruns',
      Next: transientWait,
    },
    [transientWait]: {
      Type: 'Wait',
      Comment:
        'Lets conflicting writers finish or the database or S3 recover before the task runs again and resumes',
      SecondsPath: '$.transientReruns.waitSeconds',
      Next: name,
    },
    [transientRerunsExhausted]: {
      Type: 'Pass',
      Comment: `The task exited ${TRANSIENT_FAILURE_EXIT_CODE} on every rerun: fail the job (the worker recorded why on the job)`,
      Parameters: { Error: TRANSIENT_FAILURE_ERROR, 'Cause.$': '$.error.Cause' },
      ResultPath: '$.error',
      Next: step.onFailure,
    },
  };
}
