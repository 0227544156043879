import type { Catcher, PayloadTemplate, Retrier, StateMachineDefinition, TaskState } from './asl.ts';
import { InvalidWorkflowPropsError } from './invalid-workflow-props-error.ts';

/** Where the import workflow's tasks run. Every value may be a Terraform token (`${aws_lambda_function.x.arn}`): it is copied verbatim. */
export interface ImportWorkflowProps {
  /** ARN (or name) of the status-updater Lambda function, invoked with `arn:aws:states:::lambda:invoke`. */
  readonly statusUpdaterFunctionArn: string;
  /** The Fargate task that imports the rows (`arn:aws:states:::ecs:runTask.sync`). */
  readonly batchWorker: {
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
     * Seconds the workflow waits for the task before failing the import with `States.Timeout`
     * (Step Functions then stops the task). Pass the task manifest's `timeoutSeconds`.
     * @default 3600
     */
    readonly timeoutSeconds?: number;
  };
  /** URL of the mail job queue the `import.completed` / `import.failed` mails go to (`sqs:sendMessage`). */
  readonly mailQueueUrl: string;
  /** Who receives the import mails. */
  readonly notifyAddress: string;
}

/** Resource ARNs of the optimized service integrations the import workflow uses. */
export const INTEGRATION = {
  lambdaInvoke: 'arn:aws:states:::lambda:invoke',
  ecsRunTaskSync: 'arn:aws:states:::ecs:runTask.sync',
  sqsSendMessage: 'arn:aws:states:::sqs:sendMessage',
} as const;

/**
 * Errors of the Lambda service itself (the function did not run, or its result was lost), retried.
 * The list the AWS CDK's `LambdaInvoke` retries by default, plus throttling. Errors the
 * status-updater throws (`InvalidTransitionError`, `UnexpectedStateError`, validation errors) are
 * deliberately absent: they are permanent, and retrying cannot change their outcome.
 * https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html
 */
export const TRANSIENT_LAMBDA_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'Lambda.ClientExecutionTimeoutException',
] as const;

/**
 * Errors the status-updater itself reports as transient: its ledger (PostgreSQL) could not be reached
 * and nothing was committed, so the same step retried is safe. Everything else it throws is permanent.
 */
export const TRANSIENT_STATUS_UPDATER_ERRORS = ['JobLedgerUnavailableError'] as const;

/**
 * ECS API errors while starting the task (capacity, throttling, service faults), retried. A task that
 * ran and stopped with a non-zero exit fails with `States.TaskFailed` and is NOT retried: the worker
 * exits non-zero for bad input (a bad header, too many rejected rows), which a retry cannot fix.
 */
export const TRANSIENT_ECS_ERRORS = [
  'ECS.AmazonECSException',
  'ECS.ServerException',
  'ECS.ThrottlingException',
] as const;

/**
 * SQS errors a later attempt can get past (throttling, network faults), retried. Not the catch-all
 * `SQS.AmazonSQSException`, which also stands for access denied and other permanent errors.
 */
export const TRANSIENT_SQS_ERRORS = [
  'SQS.SdkClientException',
  'SQS.RequestThrottledException',
  'SQS.ThrottlingException',
  'SQS.KmsThrottledException',
] as const;

/** Backoff with full jitter, so the executions of a burst of uploads do not retry in lockstep. */
function retry(errors: readonly string[], intervalSeconds: number, maxAttempts: number): Retrier {
  return {
    ErrorEquals: [...errors],
    IntervalSeconds: intervalSeconds,
    MaxAttempts: maxAttempts,
    BackoffRate: 2,
    MaxDelaySeconds: 60,
    JitterStrategy: 'FULL',
  };
}

/** Any error of a task after its retries: keep the input, add the error as `$.error` (`{ Error, Cause }`). */
function catchAll(next: string, resultPath = '$.error'): Catcher[] {
  return [{ ErrorEquals: ['States.ALL'], Next: next, ResultPath: resultPath }];
}

/** The Step Functions execution ARN: the status-updater records it on the job and its transitions. */
const EXECUTION_ID = { 'executionId.$': '$$.Execution.Id' };

/** A status-updater call (`lambda:invoke`) with the given payload; the Payload shape is `StatusUpdateInput`. */
function statusUpdate(
  functionArn: string,
  payload: PayloadTemplate,
  step: Pick<TaskState, 'Comment' | 'ResultSelector' | 'ResultPath' | 'Catch'> & { readonly Next: string },
): TaskState {
  return {
    Type: 'Task',
    Resource: INTEGRATION.lambdaInvoke,
    Parameters: { FunctionName: functionArn, Payload: { ...payload, ...EXECUTION_ID } },
    Retry: [retry(TRANSIENT_LAMBDA_ERRORS, 2, 6), retry(TRANSIENT_STATUS_UPDATER_ERRORS, 2, 4)],
    ...step,
  };
}

/**
 * A `mail.send` v1 envelope (see `MailSendJob` in @sidestep/contracts) as a payload template. Its `id`
 * and `idempotencyKey` are `<template>:<jobId>`: a retried or redriven step sends the same envelope,
 * and the mail-dispatcher sends once per key.
 */
function mailEnvelope(
  template: 'import.completed' | 'import.failed',
  to: string,
  params: PayloadTemplate,
): PayloadTemplate {
  const key = `States.Format('${template}:{}', $.job.jobId)`;
  return {
    type: 'mail.send',
    version: 1,
    'id.$': key,
    payload: { template, to, 'jobId.$': '$.job.jobId', 'idempotencyKey.$': key, params },
  };
}

/** Sends the envelope at `$.mail` to the mail queue. `MessageBody` must be a string: the envelope as JSON. */
function sendMail(queueUrl: string, next: string, onError: Catcher[]): TaskState {
  return {
    Type: 'Task',
    Resource: INTEGRATION.sqsSendMessage,
    Parameters: { QueueUrl: queueUrl, 'MessageBody.$': 'States.JsonToString($.mail)' },
    ResultSelector: { 'messageId.$': '$.MessageId' },
    ResultPath: '$.notification',
    Retry: [retry(TRANSIENT_SQS_ERRORS, 1, 5)],
    Catch: onError,
    Next: next,
  };
}

/**
 * Refuses props that would give a definition Step Functions accepts but that fails at run time
 * (an empty subnet list fails every RunTask). Values are not parsed further: they may be tokens.
 */
function checkProps(props: ImportWorkflowProps): void {
  const required: [string, string][] = [
    ['statusUpdaterFunctionArn', props.statusUpdaterFunctionArn],
    ['batchWorker.clusterArn', props.batchWorker.clusterArn],
    ['batchWorker.taskDefinitionArn', props.batchWorker.taskDefinitionArn],
    ['batchWorker.containerName', props.batchWorker.containerName],
    ['mailQueueUrl', props.mailQueueUrl],
    ['notifyAddress', props.notifyAddress],
  ];
  for (const [field, value] of required) {
    if (typeof value !== 'string' || value.trim() === '') {
      throw new InvalidWorkflowPropsError(field, 'must be a non-empty string');
    }
  }
  for (const field of ['subnetIds', 'securityGroupIds'] as const) {
    const ids = props.batchWorker[field];
    if (ids.length === 0 || ids.some((id) => typeof id !== 'string' || id === '')) {
      throw new InvalidWorkflowPropsError(`batchWorker.${field}`, 'must be a non-empty list of ids');
    }
  }
  const timeout = props.batchWorker.timeoutSeconds;
  if (timeout !== undefined && (!Number.isInteger(timeout) || timeout < 60)) {
    throw new InvalidWorkflowPropsError('batchWorker.timeoutSeconds', 'must be an integer of at least 60');
  }
}

/**
 * The import workflow: an S3 "Object Created" EventBridge event in, the object's rows in `users` and a
 * mail out.
 *
 * ```
 * ReadUpload -> RegisterJob -> CheckDuplicate -(duplicate)-> AlreadyRegistered (Succeed)
 *                                   └-> StartJob -> ImportRows -> FinishJob -> ComposeCompletedMail -> NotifyCompleted -> Imported
 * any error in StartJob / ImportRows / FinishJob -> MarkFailed -> ComposeFailedMail -> NotifyFailed -> ImportFailed (Fail)
 * ```
 *
 * - S3 delivers events at least once and an EventBridge target cannot name the execution, so two
 *   executions can start for one object. `RegisterJob` registers the job for that exact object
 *   (bucket, key, version or ETag); the status-updater answers `duplicate: true` to every execution but
 *   the first, which then ends early and successfully.
 * - Every task retries only transient service errors, with backoff; everything else is caught, the
 *   job marked `failed` with the reason, the `import.failed` mail sent, and the execution ends FAILED
 *   so it is visible (and redrivable) in the console.
 * - State data stays small: `$.upload` (where the object is), `$.job` (job id, file name),
 *   `$.finished` / `$.failure` (what the status-updater reported), `$.mail` (the envelope sent).
 *
 * @returns the ASL definition, plain JSON (`JSON.stringify` it for Terraform or the local engine).
 */
export function importWorkflow(props: ImportWorkflowProps): StateMachineDefinition {
  checkProps(props);
  const { statusUpdaterFunctionArn: fn, batchWorker, mailQueueUrl, notifyAddress } = props;
  const object = '$.detail.object';
  const source = {
    'bucket.$': '$.detail.bucket.name',
    'key.$': `${object}.key`,
    'etag.$': `${object}.etag`,
    'size.$': `${object}.size`,
  };
  // A hyphen is outside JSONPath's member-name shorthand, so Step Functions requires bracket notation:
  // https://docs.aws.amazon.com/step-functions/latest/dg/amazon-states-language-paths.html
  const versionIdPath = `${object}['version-id']`;
  const toMarkFailed = catchAll('MarkFailed');

  return {
    Comment:
      'sidestep import: S3 upload -> register -> start -> Fargate import -> finish -> mail; any failure -> failed + mail',
    StartAt: 'ReadUpload',
    // No state machine TimeoutSeconds: an execution timeout cannot be caught, so the job would stay
    // `running` without a mail. Each task has its own bound instead (the import's TimeoutSeconds,
    // the Lambda function timeout), and their errors take the failure path.
    States: {
      ReadUpload: {
        Type: 'Choice',
        Comment: 'A versioned bucket names the object version; without versioning the ETag identifies it',
        Choices: [{ Variable: versionIdPath, IsPresent: true, Next: 'ReadVersionedUpload' }],
        Default: 'ReadUnversionedUpload',
      },
      ReadVersionedUpload: {
        Type: 'Pass',
        Parameters: {
          source: { ...source, 'versionId.$': versionIdPath },
          'sourceVersionId.$': versionIdPath,
        },
        ResultPath: '$.upload',
        Next: 'RegisterJob',
      },
      ReadUnversionedUpload: {
        Type: 'Pass',
        // ECS environment values must be strings, so "no version" is the empty SOURCE_VERSION_ID.
        Parameters: { source, sourceVersionId: '' },
        ResultPath: '$.upload',
        Next: 'RegisterJob',
      },
      RegisterJob: statusUpdate(
        fn,
        { event: 'register', kind: 'import', expectedState: 'registered', 'source.$': '$.upload.source' },
        {
          Comment:
            'Registers the job for this exact object, idempotently; another execution gets duplicate: true',
          ResultSelector: {
            'jobId.$': '$.Payload.jobId',
            'fileName.$': '$.Payload.fileName',
            'duplicate.$': '$.Payload.duplicate',
          },
          ResultPath: '$.job',
          // No job exists to mark failed or to name in a mail: end FAILED with the error as it came.
          Catch: catchAll('RegistrationFailed'),
          Next: 'CheckDuplicate',
        },
      ),
      CheckDuplicate: {
        Type: 'Choice',
        Choices: [{ Variable: '$.job.duplicate', BooleanEquals: true, Next: 'AlreadyRegistered' }],
        Default: 'StartJob',
      },
      AlreadyRegistered: {
        Type: 'Succeed',
        Comment: 'A duplicate S3 event: another execution owns the import of this object',
      },
      StartJob: statusUpdate(
        fn,
        { event: 'start', 'jobId.$': '$.job.jobId', expectedState: 'running' },
        { ResultPath: null, Catch: toMarkFailed, Next: 'ImportRows' },
      ),
      ImportRows: {
        Type: 'Task',
        Comment: 'batch-worker import mode on Fargate; its inputs are the container overrides below',
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
                Environment: [
                  { Name: 'MODE', Value: 'import' },
                  { Name: 'JOB_ID', 'Value.$': '$.job.jobId' },
                  { Name: 'SOURCE_BUCKET', 'Value.$': '$.upload.source.bucket' },
                  { Name: 'SOURCE_KEY', 'Value.$': '$.upload.source.key' },
                  { Name: 'SOURCE_VERSION_ID', 'Value.$': '$.upload.sourceVersionId' },
                ],
              },
            ],
          },
        },
        TimeoutSeconds: batchWorker.timeoutSeconds ?? 3600,
        // The task description is large and nothing later needs it.
        ResultPath: null,
        Retry: [retry(TRANSIENT_ECS_ERRORS, 10, 3)],
        Catch: toMarkFailed,
        Next: 'FinishJob',
      },
      FinishJob: statusUpdate(
        fn,
        { event: 'finish', 'jobId.$': '$.job.jobId', expectedState: 'succeeded' },
        {
          Comment: 'Marks the job succeeded; the row counts come from the ledger the worker wrote',
          ResultSelector: { 'rows.$': '$.Payload.rows', 'fileName.$': '$.Payload.fileName' },
          ResultPath: '$.finished',
          Catch: toMarkFailed,
          Next: 'ComposeCompletedMail',
        },
      ),
      ComposeCompletedMail: {
        Type: 'Pass',
        Parameters: mailEnvelope('import.completed', notifyAddress, {
          'jobId.$': '$.job.jobId',
          'fileName.$': '$.finished.fileName',
          'rows.$': '$.finished.rows.imported',
        }),
        ResultPath: '$.mail',
        Next: 'NotifyCompleted',
      },
      // The job is already `succeeded`: a mail that cannot be sent must not turn it `failed`.
      NotifyCompleted: sendMail(mailQueueUrl, 'Imported', catchAll('CompletedMailNotSent')),
      Imported: { Type: 'Succeed' },
      CompletedMailNotSent: {
        Type: 'Fail',
        Comment: 'The rows are imported and the job succeeded, but the mail could not be queued',
        ErrorPath: '$.error.Error',
        CausePath: '$.error.Cause',
      },
      MarkFailed: statusUpdate(
        fn,
        { event: 'fail', 'jobId.$': '$.job.jobId', expectedState: 'failed', 'error.$': '$.error' },
        {
          Comment:
            "Marks the job failed; the reason is the worker's when it recorded one, else the caught error",
          ResultSelector: { 'reason.$': '$.Payload.reason', 'fileName.$': '$.Payload.fileName' },
          ResultPath: '$.failure',
          // `$.error` keeps the original failure; this one says why it could not be recorded.
          Catch: catchAll('FailureNotRecorded', '$.statusError'),
          Next: 'ComposeFailedMail',
        },
      ),
      FailureNotRecorded: {
        Type: 'Fail',
        Comment: 'The import failed and so did marking the job failed: no mail, the job needs an operator',
        ErrorPath: '$.statusError.Error',
        CausePath: '$.statusError.Cause',
      },
      ComposeFailedMail: {
        Type: 'Pass',
        Parameters: mailEnvelope('import.failed', notifyAddress, {
          'jobId.$': '$.job.jobId',
          'fileName.$': '$.failure.fileName',
          'reason.$': '$.failure.reason',
        }),
        ResultPath: '$.mail',
        Next: 'NotifyFailed',
      },
      // Sent or not, the execution ends FAILED with the import's error; a send error is kept beside it.
      NotifyFailed: sendMail(mailQueueUrl, 'ImportFailed', catchAll('ImportFailed', '$.notificationError')),
      ImportFailed: {
        Type: 'Fail',
        Comment:
          'The job is failed and the import.failed mail queued; Error is what failed, Cause the reason',
        ErrorPath: '$.error.Error',
        CausePath: '$.failure.reason',
      },
      RegistrationFailed: {
        Type: 'Fail',
        ErrorPath: '$.error.Error',
        CausePath: '$.error.Cause',
      },
    },
  };
}
