import { createHash, randomUUID } from 'node:crypto';
import { constants } from 'node:os';
import { type MessageAttributeValue, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type AuthorizationCheck, lambdaAuthorization, sqsAuthorization } from '@sidestep/iam';
import type { InvokeResult } from '@sidestep/lambda-runtime';
import type { ContainerOverride, FargateTaskResult } from './fargate-task.ts';
import { lambdaErrorPayload } from './lambda-invoke.ts';
import { AccessDeniedError } from './local-iam.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from './local-names.ts';
import { TooManyRequestsError } from './too-many-requests-error.ts';

/** The Task state a service integration runs for. */
export interface TaskCall {
  readonly executionArn: string;
  readonly stateName: string;
  /** Aborted when the execution is stopped or the state times out: the integration should stop its work. */
  readonly signal: AbortSignal;
  /**
   * For an integration whose work waits its turn before it starts (the local cloud's task capacity):
   * called before the integration's first `await`, it returns what to call when the work starts, and
   * the state's `TimeoutSeconds` counts from then, as Step Functions counts it from the task's start
   * (https://docs.aws.amazon.com/step-functions/latest/dg/state-task.html). Not called: from the call.
   */
  readonly deferStart?: () => () => void;
  /**
   * For an integration that submits work and waits for it (`.sync`): called once the service took the
   * work (ECS RunTask answered with the task it started), with the service's answer, which Step
   * Functions records as `TaskSubmitted` between `TaskStarted` and the attempt's outcome
   * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_TaskSubmittedEventDetails.html).
   * A refused RunTask (its `Failures`) submits nothing. Not called: nothing was submitted.
   */
  readonly submitted?: (output: unknown) => void;
}

/**
 * A service integration: gets the state's effective parameters (after `Parameters` and its `.$`
 * paths were resolved) and returns the raw result Step Functions would get from the service, or
 * throws a {@link StatesTaskError} carrying the `Error` / `Cause` Step Functions would report.
 */
export type TaskIntegration = (parameters: Record<string, unknown>, call: TaskCall) => Promise<unknown>;

/**
 * Checks a task's call as the execution's state machine role; throws AccessDeniedError.
 * @default nothing is checked
 */
export type TaskAuthorizer = (call: TaskCall, checks: readonly AuthorizationCheck[]) => void;

/**
 * Runs the checks of a task's call; a refusal fails the task as Step Functions reports a service's
 * 403: `<Service>.<error>` with AWS's AccessDenied message and the service's status line as Cause
 * (Lambda: `Lambda.AWSLambdaException`; ECS: `ECS.AccessDeniedException`).
 */
export function authorizeTask(
  authorize: TaskAuthorizer | undefined,
  call: TaskCall,
  checks: readonly AuthorizationCheck[],
  service: 'Lambda' | 'ECS' | 'SQS',
  error: string,
): void {
  try {
    authorize?.(call, checks);
  } catch (denied) {
    if (!(denied instanceof AccessDeniedError)) throw denied;
    throw new StatesTaskError(
      `${service}.${error}`,
      `${denied.message} (Service: ${service}, Status Code: 403, Error Code: AccessDeniedException, Request ID: ${randomUUID()})`,
    );
  }
}

const SCOPE = { region: LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID };

/** `Resource` of the optimized Lambda integration (request-response). */
export const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';
/** `Resource` of the ECS RunTask integration that waits for the task to stop ("Run a Job"). */
export const ECS_RUN_TASK_SYNC = 'arn:aws:states:::ecs:runTask.sync';
/** `Resource` of the SQS SendMessage integration. */
export const SQS_SEND_MESSAGE = 'arn:aws:states:::sqs:sendMessage';

/**
 * A task failure as Step Functions reports it. `name` is not fixed: it IS the `Error` a `Retry`
 * or `Catch` matches (the Lambda `errorType`, `States.TaskFailed`, `SQS.<code>`), and the message
 * is the `Cause`. aws-local-stepfunctions matches retriers and catchers on `error.name` and uses
 * the message as `Cause` (never `error.cause`, which it would prefer, so none is set).
 */
export class StatesTaskError extends Error {
  constructor(error: string, cause: string) {
    super(cause);
    this.name = error;
  }
}

/**
 * A `States.Runtime` failure of a task (a required parameter missing): Step Functions neither
 * retries nor catches it, `States.ALL` included
 * (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html). The library
 * does not export its own `StatesRuntimeError`; it reads `isRetryable` / `isCatchable` off any
 * error (a missing one counts as true), which these two set to false.
 */
export class StatesRuntimeTaskError extends StatesTaskError {
  readonly isRetryable = false;
  readonly isCatchable = false;
  constructor(cause: string) {
    super('States.Runtime', cause);
  }
}

/**
 * `arn:aws:states:::lambda:invoke`: calls the local function and returns what the optimized
 * integration returns (`{ ExecutedVersion, Payload, SdkHttpMetadata, SdkResponseMetadata,
 * StatusCode }`). A function error fails the task with `Error` = the error type and `Cause` = the
 * JSON error document the Node.js runtime produced (`{"errorType","errorMessage","trace"}`), as on
 * AWS (https://docs.aws.amazon.com/step-functions/latest/dg/connect-lambda.html).
 * `invoke` resolves a function name, partial ARN or ARN (with or without a qualifier) or returns
 * `undefined` for an unknown function.
 */
export function lambdaInvoke(
  invoke: (functionName: string, payload: unknown) => Promise<InvokeResult> | undefined,
  authorize?: TaskAuthorizer,
): TaskIntegration {
  return async (parameters, call) => {
    const functionName = parameters.FunctionName;
    if (typeof functionName !== 'string' || functionName === '') {
      throw new StatesRuntimeTaskError('lambda:invoke: the parameter FunctionName is required');
    }
    const qualifier = typeof parameters.Qualifier === 'string' ? { qualifier: parameters.Qualifier } : {};
    authorizeTask(
      authorize,
      call,
      lambdaAuthorization('Invoke', { ...SCOPE, functionName, ...qualifier }),
      'Lambda',
      'AWSLambdaException',
    );
    const payload = parameters.Payload ?? {};
    const pending = invoke(functionName, payload);
    if (!pending) {
      throw new StatesTaskError(
        'Lambda.ResourceNotFoundException',
        `Function not found: ${functionName} (Service: Lambda, Status Code: 404, Request ID: ${randomUUID()})`,
      );
    }
    if (parameters.InvocationType === 'Event') {
      // Asynchronous invocation: Lambda accepts the event and Step Functions moves on.
      pending.catch(() => undefined);
      return { Payload: '', StatusCode: 202, SdkResponseMetadata: { RequestId: randomUUID() } };
    }
    const result = await pending.catch((error: unknown) => {
      // Past the account's concurrency: the integration fails as Lambda's 429 reaches it
      // (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html).
      if (!(error instanceof TooManyRequestsError)) throw error;
      throw new StatesTaskError(
        `Lambda.${error.name}`,
        `${error.message} (Service: AWSLambda; Status Code: ${error.statusCode}; Error Code: ${error.name}; Request ID: ${randomUUID()})`,
      );
    });
    if (!result.ok) {
      throw new StatesTaskError(result.error.errorType, JSON.stringify(lambdaErrorPayload(result.error)));
    }
    return {
      ExecutedVersion: '$LATEST',
      Payload: result.payload,
      SdkHttpMetadata: {
        HttpHeaders: { 'Content-Type': 'application/json', 'x-amzn-RequestId': result.requestId },
        HttpStatusCode: 200,
      },
      SdkResponseMetadata: { RequestId: result.requestId },
      StatusCode: 200,
    };
  };
}

/** What {@link ecsRunTaskSync} needs from the local cloud to run one task. */
export interface RunTaskRequest {
  readonly cluster: string;
  readonly taskDefinition: string;
  readonly overrides: readonly ContainerOverride[];
  readonly call: TaskCall;
  /** Called once ECS accepted the task (RunTask's answer: the task PROVISIONING), with what ECS says of it. */
  readonly started?: (task: StartedTask) => void;
}

/** A task ECS started: what it says of it whatever its status. */
export interface StartedTask {
  readonly taskArn: string;
  readonly clusterArn: string;
  readonly taskDefinitionArn: string;
  readonly family: string;
  readonly containerName: string;
  readonly cpu: number;
  readonly memoryMb: number;
}

/** A finished task plus what its description reports. */
export interface RunTaskOutcome extends FargateTaskResult, StartedTask {}

/**
 * A RunTask request ECS refuses: its task definition does not exist locally, its container overrides
 * name another container, or they are over the 8192 characters allowed.
 */
export class EcsInvalidParameterError extends StatesTaskError {
  constructor(message: string) {
    // ECS's own error code, prefixed as Step Functions prefixes service errors.
    super('ECS.InvalidParameterException', message);
  }
}

/**
 * `arn:aws:states:::ecs:runTask.sync`: runs the task, waits for it to stop and returns its
 * description (PascalCase, as the integration returns DescribeTasks' task). A non-zero exit code
 * of the essential container fails the task with `States.TaskFailed` and the description as the
 * `Cause`, as Step Functions does when the task stops with a failure
 * (https://docs.aws.amazon.com/step-functions/latest/dg/connect-ecs.html). A call `admit` refuses
 * (the local cloud's `FARGATE_RUN_TASK_RATE`, @sidestep/workflows) starts nothing and fails as a throttled RunTask
 * does, `ECS.AmazonECSException` "Rate exceeded", before anything else is looked at.
 */
export function ecsRunTaskSync(
  run: (request: RunTaskRequest) => Promise<RunTaskOutcome>,
  admit: () => boolean = () => true,
): TaskIntegration {
  return async (parameters, call) => {
    if (!admit()) {
      throw new StatesTaskError(
        'ECS.AmazonECSException',
        'Rate exceeded (Service: AmazonECS; Status Code: 400; Error Code: ThrottlingException)',
      );
    }
    const taskDefinition = parameters.TaskDefinition;
    if (typeof taskDefinition !== 'string' || taskDefinition === '') {
      throw new StatesRuntimeTaskError('ecs:runTask.sync: the parameter TaskDefinition is required');
    }
    const overrides = (parameters.Overrides as { ContainerOverrides?: ContainerOverride[] } | undefined)
      ?.ContainerOverrides;
    const outcome = await run({
      cluster: typeof parameters.Cluster === 'string' ? parameters.Cluster : 'default',
      taskDefinition,
      overrides: overrides ?? [],
      call,
      started: (task) => call.submitted?.(runTaskAnswer(task, parameters)),
    });
    const description = taskDescription(outcome, parameters);
    if (outcome.exitCode !== 0) throw new StatesTaskError('States.TaskFailed', JSON.stringify(description));
    return description;
  };
}

/**
 * The container's `ExitCode` and `Reason` as ECS reports them. A container ended by a signal
 * exits with 128 + the signal's number (137 for SIGKILL, 143 for SIGTERM), as Docker and ECS
 * report it; the reason names the signal, so the failure says what killed the task.
 */
function exitOf(outcome: RunTaskOutcome): { ExitCode?: number; Reason?: string } {
  if (outcome.exitCode !== null) return { ExitCode: outcome.exitCode };
  if (!outcome.signal) return {};
  return {
    ExitCode: 128 + constants.signals[outcome.signal],
    Reason: `container terminated by ${outcome.signal}`,
  };
}

/**
 * RunTask's answer for the task it started: no `Failures`, and the task as it is then, PROVISIONING
 * (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html), in the SDK's PascalCase
 * as Step Functions records it in `TaskSubmitted`.
 */
function runTaskAnswer(task: StartedTask, parameters: Record<string, unknown>): Record<string, unknown> {
  return {
    Failures: [],
    Tasks: [
      {
        ...ecsTask(task, parameters, { LastStatus: 'PENDING' }),
        DesiredStatus: 'RUNNING',
        LastStatus: 'PROVISIONING',
      },
    ],
  };
}

/** The stopped task's description, DescribeTasks' shape, as the `.sync` integration returns it. */
function taskDescription(
  outcome: RunTaskOutcome,
  parameters: Record<string, unknown>,
): Record<string, unknown> {
  return {
    ...ecsTask(outcome, parameters, { ...exitOf(outcome), LastStatus: 'STOPPED' }),
    Connectivity: 'CONNECTED',
    CreatedAt: outcome.startedAt.getTime(),
    DesiredStatus: 'STOPPED',
    LastStatus: 'STOPPED',
    StartedAt: outcome.startedAt.getTime(),
    StopCode: outcome.stopCode,
    StoppedAt: outcome.stoppedAt.getTime(),
    StoppedReason: outcome.stoppedReason,
  };
}

/** What ECS says of a task whatever its status, with its container's `status` fields. */
function ecsTask(task: StartedTask, parameters: Record<string, unknown>, container: Record<string, unknown>) {
  return {
    Attachments: [],
    Attributes: [{ Name: 'ecs.cpu-architecture', Value: process.arch === 'arm64' ? 'arm64' : 'x86_64' }],
    AvailabilityZone: 'us-east-1a',
    ClusterArn: task.clusterArn,
    Containers: [
      {
        ContainerArn: task.taskArn.replace(':task/', ':container/'),
        ...container,
        Name: task.containerName,
        TaskArn: task.taskArn,
      },
    ],
    Cpu: String(task.cpu),
    Group: `family:${task.family}`,
    LaunchType: typeof parameters.LaunchType === 'string' ? parameters.LaunchType : 'FARGATE',
    Memory: String(task.memoryMb),
    Overrides: parameters.Overrides ?? { ContainerOverrides: [] },
    PlatformVersion: '1.4.0',
    StartedBy: 'AWS Step Functions',
    TaskArn: task.taskArn,
    TaskDefinitionArn: task.taskDefinitionArn,
    Version: 1,
  };
}

/**
 * `arn:aws:states:::sqs:sendMessage`: sends to the local queue. A JSON `MessageBody` is sent as
 * its JSON text, as Step Functions does; SQS errors fail the task as `SQS.<code>`.
 */
export function sqsSendMessage(sqs: SQSClient, authorize?: TaskAuthorizer): TaskIntegration {
  return async (parameters, call) => {
    const { QueueUrl, MessageBody } = parameters;
    if (typeof QueueUrl !== 'string' || MessageBody === undefined) {
      throw new StatesRuntimeTaskError('sqs:sendMessage: QueueUrl and MessageBody are required');
    }
    const queueName = QueueUrl.split('/').pop() ?? '';
    // The SDK's error name for SQS's AccessDenied, prefixed as the other SQS errors below.
    authorizeTask(
      authorize,
      call,
      sqsAuthorization('SendMessage', { ...SCOPE, queueName }),
      'SQS',
      'AccessDenied',
    );
    const body = typeof MessageBody === 'string' ? MessageBody : JSON.stringify(MessageBody);
    try {
      const output = await sqs.send(
        new SendMessageCommand({
          QueueUrl,
          MessageBody: body,
          ...(typeof parameters.DelaySeconds === 'number' ? { DelaySeconds: parameters.DelaySeconds } : {}),
          ...(parameters.MessageAttributes
            ? { MessageAttributes: parameters.MessageAttributes as Record<string, MessageAttributeValue> }
            : {}),
          ...(typeof parameters.MessageGroupId === 'string'
            ? { MessageGroupId: parameters.MessageGroupId }
            : {}),
          ...(typeof parameters.MessageDeduplicationId === 'string'
            ? { MessageDeduplicationId: parameters.MessageDeduplicationId }
            : {}),
        }),
      );
      const requestId = output.$metadata.requestId ?? randomUUID();
      return {
        MD5OfMessageBody: output.MD5OfMessageBody ?? createHash('md5').update(body).digest('hex'),
        MessageId: output.MessageId,
        SdkHttpMetadata: { HttpHeaders: { 'x-amzn-RequestId': requestId }, HttpStatusCode: 200 },
        SdkResponseMetadata: { RequestId: requestId },
      };
    } catch (error) {
      const { name, message } = error as Error;
      throw new StatesTaskError(`SQS.${name}`, message);
    }
  };
}
