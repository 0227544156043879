import type { JobKind } from '@sidestep/contracts';
import type { Catcher, Json, TaskState } from './asl.ts';
import { INTEGRATION } from './integration.ts';
import { InvalidWorkflowPropsError } from './invalid-workflow-props-error.ts';
import { requireStrings } from './require-strings.ts';
import { retry, TRANSIENT_ECS_ERRORS } from './retry.ts';

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
  const timeout = batchWorker.timeoutSeconds;
  if (timeout !== undefined && (!Number.isInteger(timeout) || timeout < 60)) {
    throw new InvalidWorkflowPropsError('batchWorker.timeoutSeconds', 'must be an integer of at least 60');
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
 * Runs the batch-worker on Fargate and waits for it to stop (`ecs:runTask.sync`); its inputs are the
 * container's environment overrides: `MODE`, `JOB_ID` (the job at `$.job.jobId`), then the mode's
 * own `environment`. Bounded by `timeoutSeconds`; retries only ECS API errors; the task description
 * is dropped (`ResultPath: null`): it is large and nothing later needs it.
 */
export function batchTask(
  batchWorker: BatchWorkerProps,
  mode: JobKind,
  environment: readonly TaskEnvironmentVariable[],
  step: { readonly Comment: string; readonly Catch: Catcher[]; readonly Next: string },
): TaskState {
  const overrides: readonly TaskEnvironmentVariable[] = [
    { Name: 'MODE', Value: mode },
    { Name: 'JOB_ID', 'Value.$': '$.job.jobId' },
    ...environment,
  ];
  return {
    Type: 'Task',
    Comment: step.Comment,
    Resource: INTEGRATION.ecsRunTaskSync,
    Parameters: {
      Cluster: batchWorker.clusterArn,
      TaskDefinition: batchWorker.taskDefinitionArn,
      LaunchType: 'FARGATE',
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
    TimeoutSeconds: batchWorker.timeoutSeconds ?? 3600,
    ResultPath: null,
    Retry: [retry(TRANSIENT_ECS_ERRORS, 10, 3)],
    Catch: step.Catch,
    Next: step.Next,
  };
}
