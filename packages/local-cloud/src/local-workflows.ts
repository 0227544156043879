import { access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { eventsAuthorization } from '@sidestep/iam';
import type { InvokeResult } from '@sidestep/lambda-runtime';
import { fargateVcpus } from '@sidestep/manifest';
import { FARGATE_RUN_TASK_RATE, FARGATE_VCPU_LIMIT_REASON } from '@sidestep/workflows';
import pLimit from 'p-limit';
import type { AwsEndpoint } from './aws-endpoint.ts';
import { openExecutionStore } from './execution-store.ts';
import {
  assertContainerOverrides,
  type ContainerOverride,
  type FargateTask,
  OverridesTooLongError,
  startFargateTask,
  UnknownContainerError,
} from './fargate-task.ts';
import { parseFunctionName } from './lambda-invoke.ts';
import type { LocalCloudReporter } from './local-cloud-event.ts';
import { LocalCloudStartError } from './local-cloud-start-error.ts';
import type { LocalTask, LocalWorkflow, LocalWorkflowResources } from './local-definitions.ts';
import { LOCAL_ROLES, type LocalIam } from './local-iam.ts';
import {
  LOCAL_ACCOUNT_ID,
  LOCAL_ENVIRONMENT,
  LOCAL_REGION,
  localClusterArn,
  localName,
  localTaskArn,
} from './local-names.ts';
import { createRateBucket } from './rate-bucket.ts';
import { type LocalResources, taskEnvironment } from './service-environment.ts';
import { type Started, startPhase } from './start-phase.ts';
import { createLocalStepFunctions, type LocalStepFunctions } from './step-functions.ts';
import { STEP_FUNCTIONS_TARGET_PREFIX, stepFunctionsApi } from './step-functions-api.ts';
import {
  authorizeTask,
  ECS_RUN_TASK_SYNC,
  EcsInvalidParameterError,
  ecsRunTaskSync,
  LAMBDA_INVOKE,
  lambdaInvoke,
  type RunTaskOutcome,
  type RunTaskRequest,
  SQS_SEND_MESSAGE,
  type StartedTask,
  StatesTaskError,
  sqsSendMessage,
  type TaskAuthorizer,
  type TaskCall,
} from './task-integrations.ts';

/** A task's bundle directory (or the script its command runs) does not exist: it was not built. */
export class MissingTaskBundleError extends LocalCloudStartError {
  override readonly name = 'MissingTaskBundleError';
  readonly task: string;
  readonly path: string;
  constructor(task: string, path: string) {
    super(`task ${task}: ${path} does not exist; build the task's bundle first (its package's build script)`);
    this.task = task;
    this.path = path;
  }
}

/**
 * Fails with {@link MissingTaskBundleError} for a task whose bundle was not built. A task runs only
 * when a workflow reaches it: this checks its bundle at start, not minutes into an import.
 */
export async function checkTaskBundles(tasks: readonly LocalTask[], rootDir: string): Promise<void> {
  for (const task of tasks) {
    const bundleDir = resolve(rootDir, task.bundleDir);
    const [command, script] = task.manifest.command;
    const required =
      command === 'node' && script && !script.startsWith('-') ? join(bundleDir, script) : bundleDir;
    try {
      await access(required);
    } catch {
      throw new MissingTaskBundleError(task.manifest.name, required);
    }
  }
}

/** Options of {@link startLocalWorkflows}. */
export interface LocalWorkflowsOptions {
  readonly workflows: readonly LocalWorkflow[];
  readonly tasks: readonly LocalTask[];
  readonly rootDir: string;
  /** Serves the Step Functions API. */
  readonly endpoint: AwsEndpoint;
  readonly sqs: SQSClient;
  /** A queue's URL by name, for the definitions. */
  queueUrl(name: string): string;
  /** Invokes a running service; `undefined` when the cloud does not run it. */
  invoke(service: string, payload: unknown): Promise<InvokeResult> | undefined;
  /** What a task's environment points at. */
  readonly resources: LocalResources;
  /** See {@link LocalCloudOptions.retryIntervalMs}. */
  readonly retryIntervalMs?: number;
  /** How long stopping lets running tasks exit after SIGTERM. */
  readonly stopGraceMs: number;
  /** Checks each Task state's call as its state machine's role. */
  readonly iam: LocalIam;
  readonly reporter: LocalCloudReporter;
  /**
   * The file executions are kept in across restarts (see {@link openExecutionStore}).
   * @default executions live as long as the process
   */
  readonly executionsFile?: string;
  /**
   * How many Fargate tasks run at once; the others wait their turn, first come first served, as
   * tasks wait for a small capacity. The embedded database serves one session at a time, so a second
   * long import transaction would only queue behind the first inside the database, holding its
   * socket and starving the status-updater's short transactions. @default no limit
   */
  readonly taskCapacity?: number;
  /** See {@link LocalCloudOptions.fargateVcpuQuota}. @default no limit */
  readonly fargateVcpuQuota?: number;
}

/** The task's execution was stopped while the task waited for capacity: it never started. */
export class TaskNotStartedError extends Error {
  override readonly name = 'TaskNotStartedError';
  constructor(executionArn: string) {
    super(`the execution ${executionArn} was stopped before its task got capacity to start`);
  }
}

/**
 * Runs tasks through `runNow`, at most `capacity` at once (all at once when undefined), the others
 * waiting in the order they came (p-limit's FIFO). On AWS RunTask starts a task at once; here one may
 * wait for a slot, which its state's TimeoutSeconds must not count: the wait is told to Step Functions
 * through the call's `deferStart`. One stopped while it waited fails at once with
 * {@link TaskNotStartedError}, as ECS stops a task that was still provisioning (and gives back what it
 * held: {@link withVcpuQuota}'s vCPUs), and never starts when its turn comes.
 */
export function queuedTasks<R extends { readonly call: TaskCall }, T>(
  capacity: number | undefined,
  runNow: (request: R) => Promise<T>,
): (request: R) => Promise<T> {
  if (capacity === undefined) return runNow;
  const slots = pLimit(capacity);
  return (request) => {
    const { signal, executionArn } = request.call;
    const start = request.call.deferStart?.();
    let started = false;
    const turn = slots(() => {
      if (signal.aborted) return Promise.reject(new TaskNotStartedError(executionArn));
      started = true;
      start?.();
      return runNow(request);
    });
    const stoppedWhileWaiting = new Promise<never>((_, reject) => {
      const onAbort = () => {
        if (!started) reject(new TaskNotStartedError(executionArn));
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      void turn.then(
        () => signal.removeEventListener('abort', onAbort),
        () => signal.removeEventListener('abort', onAbort),
      );
    });
    return Promise.race([turn, stoppedWhileWaiting]);
  };
}

/**
 * RunTask under the account's Fargate vCPU quota: a task whose vCPUs (its task definition's `cpu`,
 * 1024 units a vCPU) do not fit beside those of the tasks already started starts nothing. ECS then
 * answers 200 with a `Failures` entry, {@link FARGATE_VCPU_LIMIT_REASON}, and the `.sync` integration
 * fails the state with `AmazonECS.Unknown` (https://docs.aws.amazon.com/step-functions/latest/dg/connect-ecs.html);
 * the cause is RunTask's answer, as JSON. A task counts from RunTask's answer until it stops, a local
 * wait for a slot ({@link queuedTasks}) included, as Fargate counts a task from PROVISIONING. A
 * request for a task definition the cloud does not have passes on, to be refused by `run`.
 */
export function withVcpuQuota<T>(
  quota: number | undefined,
  tasks: readonly LocalTask[],
  run: (request: RunTaskRequest) => Promise<T>,
): (request: RunTaskRequest) => Promise<T> {
  if (quota === undefined) return run;
  let inUse = 0;
  return async (request) => {
    const task = taskOf(request, tasks);
    const vcpus = task === undefined ? 0 : fargateVcpus(task.manifest.cpu);
    if (inUse + vcpus > quota) {
      const Failures = [{ Arn: taskDefinitionArnOf(request), Reason: FARGATE_VCPU_LIMIT_REASON }];
      throw new StatesTaskError('AmazonECS.Unknown', JSON.stringify({ Failures, Tasks: [] }));
    }
    inUse += vcpus;
    try {
      return await run(request);
    } finally {
      inUse -= vcpus;
    }
  };
}

/** The task family a RunTask request names, by ARN or `family[:revision]`. */
function familyOf(request: RunTaskRequest): string {
  return (request.taskDefinition.split('task-definition/').pop() ?? '').split(':')[0] ?? '';
}

/** The local task a RunTask request names, if the cloud has it. */
function taskOf(request: RunTaskRequest, tasks: readonly LocalTask[]): LocalTask | undefined {
  const family = familyOf(request);
  return tasks.find((task) => localName(task.manifest.name) === family);
}

/** The ARN of the task definition a RunTask request names (the cloud has one revision of each). */
function taskDefinitionArnOf(request: RunTaskRequest): string {
  return `arn:aws:ecs:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:task-definition/${familyOf(request)}:1`;
}

/**
 * Step Functions with each workflow's state machine `sidestep-local-<name>`, built from its deployed
 * definition; Task states run through the local integrations (Lambda invoke, ECS RunTask as a child
 * process, SQS SendMessage); the Step Functions API answers on the endpoint.
 */
export function startLocalWorkflows(options: LocalWorkflowsOptions): Promise<
  Started<{
    readonly stepFunctions: LocalStepFunctions;
    readonly interruptTask: (taskArn: string) => Promise<boolean>;
  }>
> {
  const { reporter } = options;
  return startPhase(reporter, (defer) => {
    const runningTasks = new Set<FargateTask>();
    defer(() => Promise.all([...runningTasks].map((task) => task.stop(options.stopGraceMs))));
    // A Task state calls as its state machine's role: `arn:...:execution:<state machine>:<name>`.
    const { iam } = options;
    const authorize: TaskAuthorizer = (call, checks) =>
      iam.assertAuthorized(iam.role(call.executionArn.split(':')[6] ?? ''), checks);
    const context: TaskRunContext = {
      tasks: options.tasks,
      rootDir: options.rootDir,
      environment: options.resources,
      reporter,
      runningTasks,
      authorize,
    };
    const runAccepted = queuedTasks(options.taskCapacity, (accepted: AcceptedTask) =>
      runAcceptedTask(accepted, context),
    );
    // RunTask answers once it accepted the task (PROVISIONING): before a wait for the local slot.
    const runTask = withVcpuQuota(options.fargateVcpuQuota, options.tasks, (request) => {
      const accepted = acceptRunTask(request, context);
      request.started?.(accepted.task);
      return runAccepted(accepted);
    });
    const runTaskRate = createRateBucket(FARGATE_RUN_TASK_RATE, () => performance.now());
    const resources: LocalWorkflowResources = {
      environment: LOCAL_ENVIRONMENT,
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT_ID,
      functionArn: (service) =>
        `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${localName(service)}`,
      taskDefinitionArn: (task) =>
        `arn:aws:ecs:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:task-definition/${localName(task)}:1`,
      clusterArn: localClusterArn,
      subnetIds: ['subnet-local'],
      securityGroupIds: ['sg-local'],
      queueUrl: options.queueUrl,
    };
    const store =
      options.executionsFile === undefined ? undefined : openExecutionStore(options.executionsFile);
    if (store) defer(() => store.close());
    if (store?.unreadable) {
      reporter({
        type: 'error',
        source: 'step functions',
        message: `${store.unreadable.lines} line(s) of ${options.executionsFile} could not be read and were left out (the executions or history they held are gone); the file as it was is kept in ${store.unreadable.copy}`,
      });
    }
    const stepFunctions = createLocalStepFunctions({
      stateMachines: options.workflows.map((workflow) => ({
        name: localName(workflow.name),
        definition: workflow.definition(resources),
      })),
      integrations: {
        [LAMBDA_INVOKE]: lambdaInvoke(
          (functionName, payload) => options.invoke(functionService(functionName), payload),
          authorize,
        ),
        [ECS_RUN_TASK_SYNC]: ecsRunTaskSync(runTask, () => runTaskRate.admit()),
        [SQS_SEND_MESSAGE]: sqsSendMessage(options.sqs, authorize),
      },
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT_ID,
      reporter,
      ...(options.retryIntervalMs !== undefined ? { retryIntervalMs: options.retryIntervalMs } : {}),
      ...(store ? { store } : {}),
    });
    // Runs before the task stopper above (a stack unwinds in reverse): aborting an execution sends
    // SIGTERM to its task, which the task stopper then waits for.
    defer(() => stepFunctions.stop());
    options.endpoint.serveJsonApi(STEP_FUNCTIONS_TARGET_PREFIX, stepFunctionsApi(stepFunctions));
    const interruptTask = async (taskArn: string): Promise<boolean> => {
      const task = [...runningTasks].find((running) => running.taskArn === taskArn);
      if (!task) return false;
      // Fargate Spot's warning: SIGTERM, then SIGKILL at the task's stop timeout (the warning comes
      // two minutes before the capacity goes, but the container gets only its stop timeout:
      // https://repost.aws/knowledge-center/fargate-spot-termination-notice), stop code SpotInterruption.
      await task.stop(undefined, 'SpotInterruption');
      return true;
    };
    return { stepFunctions, interruptTask };
  });
}

/**
 * The service a Lambda `FunctionName` names (as Invoke reads it: {@link parseFunctionName}):
 * `sidestep-local-<service>` -> `<service>`; a name Lambda would refuse is kept as it is, so the
 * invocation fails as for an unknown function.
 */
function functionService(functionName: string): string {
  const name = parseFunctionName(functionName)?.name ?? functionName;
  const prefix = localName('');
  return name.startsWith(prefix) ? name.slice(prefix.length) : name;
}

/** What {@link acceptRunTask} and {@link runAcceptedTask} need from the running cloud. */
interface TaskRunContext {
  readonly tasks: readonly LocalTask[];
  readonly rootDir: string;
  readonly environment: LocalResources;
  readonly reporter: LocalCloudReporter;
  readonly runningTasks: Set<FargateTask>;
  readonly authorize: TaskAuthorizer;
}

/** A RunTask request ECS accepted: its local task, and what ECS says of it. */
interface AcceptedTask {
  readonly call: TaskCall;
  readonly overrides: readonly ContainerOverride[];
  readonly entry: LocalTask;
  readonly task: StartedTask;
}

/**
 * RunTask's checks, before it answers: resolves the task definition (ARN or `family[:revision]`) to
 * a task manifest, checks the container overrides and the caller's permissions, and names the task.
 * A request ECS refuses throws (InvalidParameterException, AccessDeniedException) and starts nothing.
 */
function acceptRunTask(request: RunTaskRequest, context: TaskRunContext): AcceptedTask {
  const family = familyOf(request);
  const entry = taskOf(request, context.tasks);
  if (!entry) {
    throw new EcsInvalidParameterError(
      `TaskDefinition not found: ${request.taskDefinition} (local task definitions: ${
        context.tasks.map((task) => localName(task.manifest.name)).join(', ') || 'none'
      })`,
    );
  }
  const { manifest } = entry;
  const clusterArn = request.cluster.startsWith('arn:')
    ? request.cluster
    : `arn:aws:ecs:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:cluster/${request.cluster}`;
  const taskDefinitionArn = taskDefinitionArnOf(request);
  const taskArn = localTaskArn(clusterArn);
  authorizeRunTask(context.authorize, request.call, manifest.name, {
    taskDefinitionArn,
    clusterArn,
    taskArn,
  });
  try {
    assertContainerOverrides(manifest, request.overrides);
  } catch (error) {
    // ECS refuses both as InvalidParameterException; Step Functions fails the state with it.
    if (error instanceof UnknownContainerError || error instanceof OverridesTooLongError) {
      throw new EcsInvalidParameterError(error.message);
    }
    throw error;
  }
  return {
    call: request.call,
    overrides: request.overrides,
    entry,
    task: {
      taskArn,
      clusterArn,
      taskDefinitionArn,
      family,
      containerName: manifest.containerName,
      cpu: manifest.cpu,
      memoryMb: manifest.memoryMb,
    },
  };
}

/**
 * `ecs:runTask.sync` locally, for a task RunTask accepted: runs its container as a child process and
 * waits for it; stops it (SIGTERM) when the execution is stopped, as Step Functions calls StopTask.
 */
async function runAcceptedTask(accepted: AcceptedTask, context: TaskRunContext): Promise<RunTaskOutcome> {
  const { call, entry } = accepted;
  const { manifest } = entry;
  const task = await startFargateTask({
    task: manifest,
    bundleDir: resolve(context.rootDir, entry.bundleDir),
    environment: taskEnvironment(manifest, context.environment),
    overrides: accepted.overrides,
    region: LOCAL_REGION,
    taskArn: accepted.task.taskArn,
    onLog: (line) =>
      context.reporter({ type: 'log', service: manifest.name, line, taskArn: accepted.task.taskArn }),
  });
  context.runningTasks.add(task);
  const started = performance.now();
  const executionName = call.executionArn.split(':').pop();
  context.reporter({
    type: 'task-started',
    task: manifest.name,
    taskArn: task.taskArn,
    ...(task.pid === undefined ? {} : { pid: task.pid }),
    ...(executionName ? { execution: executionName } : {}),
  });
  // Step Functions stops the task when its execution is stopped; ECS gives it its stop timeout.
  const onAbort = () => void task.stop();
  // An abort while the task was starting has fired already: no listener would hear it.
  if (call.signal.aborted) onAbort();
  else call.signal.addEventListener('abort', onAbort, { once: true });
  const result = await task.result;
  call.signal.removeEventListener('abort', onAbort);
  context.runningTasks.delete(task);
  context.reporter({
    type: 'task-stopped',
    task: manifest.name,
    taskArn: task.taskArn,
    ...(executionName ? { execution: executionName } : {}),
    exitCode: result.exitCode,
    signal: result.signal,
    durationMs: performance.now() - started,
    stoppedReason: result.stoppedReason,
  });
  return { ...result, ...accepted.task };
}

/**
 * The rule Step Functions keeps in the account to hear that a task of a `.sync` integration stopped
 * (https://docs.aws.amazon.com/step-functions/latest/dg/ecs-iam.html).
 */
const ECS_TASK_EVENTS_RULE = 'StepFunctionsGetEventsForECSTaskRule';

/**
 * What Step Functions needs to run a task and wait for it (`ecs:runTask.sync`), as its ECS
 * integration's policy lists it (https://docs.aws.amazon.com/step-functions/latest/dg/ecs-iam.html):
 * ecs:RunTask on the task definition in that cluster; iam:PassRole on the task's execution and task
 * roles, passed to ECS tasks; ecs:DescribeTasks and ecs:StopTask on the task (it polls the task and
 * stops it when the execution stops); events:PutTargets, events:PutRule and events:DescribeRule on
 * the managed rule {@link ECS_TASK_EVENTS_RULE} that tells it the task stopped. All are checked
 * before the task starts, so a role missing one fails the state naming it, whichever call would
 * have needed it first. `ecs:cluster` is the task's cluster for the ECS actions on a task
 * (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerservice.html).
 */
function authorizeRunTask(
  authorize: TaskAuthorizer,
  call: TaskCall,
  task: string,
  arns: { readonly taskDefinitionArn: string; readonly clusterArn: string; readonly taskArn: string },
): void {
  const roleArn = (name: string) => `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/${name}`;
  const passedToEcs = { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' };
  const inCluster = { 'ecs:cluster': arns.clusterArn };
  const onTaskEventsRule = (operation: string) =>
    eventsAuthorization(operation, {
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT_ID,
      ruleName: ECS_TASK_EVENTS_RULE,
    });
  authorizeTask(
    authorize,
    call,
    [
      { action: 'ecs:RunTask', resource: arns.taskDefinitionArn, context: inCluster },
      { action: 'iam:PassRole', resource: roleArn(LOCAL_ROLES.taskExecution(task)), context: passedToEcs },
      { action: 'iam:PassRole', resource: roleArn(LOCAL_ROLES.task(task)), context: passedToEcs },
      { action: 'ecs:DescribeTasks', resource: arns.taskArn, context: inCluster },
      { action: 'ecs:StopTask', resource: arns.taskArn, context: inCluster },
      ...onTaskEventsRule('PutTargets'),
      ...onTaskEventsRule('PutRule'),
      ...onTaskEventsRule('DescribeRule'),
    ],
    'ECS',
    'AccessDeniedException',
  );
}
