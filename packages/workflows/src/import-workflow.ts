import type { StateMachineDefinition } from './asl.ts';
import { type BatchWorkerProps, batchTask, checkJobWorkflowProps } from './batch-task.ts';
import { catchAll } from './catch-all.ts';
import { failurePath, MARK_FAILED } from './failure-path.ts';
import { mailEnvelope } from './mail-envelope.ts';
import { REGISTRATION_FAILED, registerJob } from './register-job.ts';
import { statusUpdate } from './status-update.ts';
import { successPath } from './success-path.ts';

/** Where the import workflow's tasks run. Every value may be a Terraform token (`${aws_lambda_function.x.arn}`): it is copied verbatim. */
export interface ImportWorkflowProps {
  /** ARN (or name) of the status-updater Lambda function, invoked with `arn:aws:states:::lambda:invoke`. */
  readonly statusUpdaterFunctionArn: string;
  /** The Fargate task that imports the rows (`arn:aws:states:::ecs:runTask.sync`). */
  readonly batchWorker: BatchWorkerProps;
  /** URL of the mail job queue the `import.completed` / `import.failed` mails go to (`sqs:sendMessage`). */
  readonly mailQueueUrl: string;
  /** Who receives the import mails. */
  readonly notifyAddress: string;
}

/**
 * Refuses props that would give a definition Step Functions accepts but that fails at run time
 * (an empty subnet list fails every RunTask). Values are not parsed further: they may be tokens.
 */
function checkProps(props: ImportWorkflowProps): void {
  checkJobWorkflowProps(props, [
    ['mailQueueUrl', props.mailQueueUrl],
    ['notifyAddress', props.notifyAddress],
  ]);
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
  const toMarkFailed = catchAll(MARK_FAILED);

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
      ...registerJob({
        statusUpdaterFunctionArn: fn,
        kind: 'import',
        origin: { 'source.$': '$.upload.source' },
        registerComment:
          'Registers the job for this exact object, idempotently; another execution gets duplicate: true',
        job: {
          'jobId.$': '$.Payload.jobId',
          'fileName.$': '$.Payload.fileName',
          'duplicate.$': '$.Payload.duplicate',
        },
        duplicateComment: 'A duplicate S3 event: another execution owns the import of this object',
        next: 'ImportRows',
      }),
      ImportRows: batchTask(
        batchWorker,
        'import',
        [
          { Name: 'SOURCE_BUCKET', 'Value.$': '$.upload.source.bucket' },
          { Name: 'SOURCE_KEY', 'Value.$': '$.upload.source.key' },
          { Name: 'SOURCE_VERSION_ID', 'Value.$': '$.upload.sourceVersionId' },
          // The worker reads only these bytes (If-Match): an overwrite fails the job instead.
          { Name: 'SOURCE_ETAG', 'Value.$': '$.upload.source.etag' },
        ],
        {
          Comment: 'batch-worker import mode on Fargate; its inputs are the container overrides below',
          Catch: toMarkFailed,
          Next: 'FinishJob',
        },
      ),
      FinishJob: statusUpdate(
        fn,
        { event: 'finish', 'jobId.$': '$.job.jobId', expectedState: 'succeeded' },
        {
          Comment: 'Marks the job succeeded; the row counts come from the ledger the worker wrote',
          ResultSelector: {
            'rows.$': '$.Payload.rows',
            'rejectedSamples.$': '$.Payload.rejectedSamples',
            'fileName.$': '$.Payload.fileName',
          },
          ResultPath: '$.finished',
          Catch: toMarkFailed,
          Next: 'ComposeCompletedMail',
        },
      ),
      ...successPath({
        mailQueueUrl,
        mail: 'Completed',
        envelope: mailEnvelope(
          'import.completed',
          { address: notifyAddress },
          {
            'jobId.$': '$.job.jobId',
            'fileName.$': '$.finished.fileName',
            'rows.$': '$.finished.rows.imported',
            // The rows left out and the first of them, so the uploader learns what was not imported.
            'rejectedRows.$': '$.finished.rows.rejected',
            'rejectedSamples.$': '$.finished.rejectedSamples',
          },
        ),
        succeedState: 'Imported',
        notSentComment: 'The rows are imported and the job succeeded, but the mail could not be queued',
      }),
      ...failurePath({
        statusUpdaterFunctionArn: fn,
        mailQueueUrl,
        template: 'import.failed',
        to: { address: notifyAddress },
        params: {
          'jobId.$': '$.job.jobId',
          'fileName.$': '$.failure.fileName',
          'reason.$': '$.failure.reason',
        },
        failure: { 'reason.$': '$.Payload.reason', 'fileName.$': '$.Payload.fileName' },
        failState: 'ImportFailed',
        failComment:
          'The job is failed and the import.failed mail queued; Error is what failed, Cause the reason',
      }),
      ...REGISTRATION_FAILED,
    },
  };
}
