import { isMailLocale, MAIL_LOCALES, type MailLocale } from '@sidestep/contracts';
import type { StateMachineDefinition } from './asl.ts';
import { type BatchWorkerProps, batchTask, checkJobWorkflowProps, jobDeadlineSeconds } from './batch-task.ts';
import { catchAll } from './catch-all.ts';
import { failurePath, MARK_FAILED } from './failure-path.ts';
import { InvalidWorkflowPropsError } from './invalid-workflow-props-error.ts';
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
  /**
   * The language of the import mails (`import.completed`, `import.failed`): the mail-dispatcher
   * renders that locale's template. @default 'en'
   */
  readonly notifyLocale?: MailLocale;
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
  const locale: unknown = props.notifyLocale;
  if (locale !== undefined && !isMailLocale(locale)) {
    throw new InvalidWorkflowPropsError(
      'notifyLocale',
      `must be one of ${MAIL_LOCALES.join(', ')}, not ${JSON.stringify(locale)}`,
    );
  }
}

/**
 * The import workflow: an S3 "Object Created" EventBridge event in, the object's rows in `users` and a
 * mail out.
 *
 * ```
 * ReadUpload -> RegisterJob -> CheckDuplicate -(duplicate)-> AlreadyRegistered (Succeed)
 *                                   ├-(duplicate of a failed job)-> DescribeFailedDuplicate -> AlreadyFailed (Fail)
 *                                   └-> StartJob -> ImportRows -> FinishJob -> ComposeCompletedMail -> NotifyCompleted -> Imported
 * any error in StartJob / ImportRows / FinishJob -> MarkFailed -> CheckFailure -> ComposeFailedMail -> NotifyFailed -> ImportFailed (Fail)
 *                                                     CheckFailure -(job succeeded)-> ReadCommittedImport -> ComposeCompletedMail
 * ```
 *
 * - The rows and the job's `succeeded` commit together (the batch-worker finishes the job in the
 *   transaction that commits the rows). A task killed after that COMMIT, or a FinishJob whose answer
 *   was lost, still reaches MarkFailed; the status-updater then answers with the succeeded job
 *   instead of failing it, and the workflow mails `import.completed` and ends SUCCEEDED.
 *
 * - S3 delivers events at least once and an EventBridge target cannot name the execution, so two
 *   executions can start for one object. `RegisterJob` registers the job for that exact object
 *   (bucket, key, version id or the event's sequencer: every PUT is a new job, a redelivered event is
 *   not); the status-updater answers `duplicate: true` to every execution but the first, which then
 *   ends early: successfully, unless the job failed, which it then names with how to retry it.
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
  const locale = props.notifyLocale ?? 'en';
  const object = '$.detail.object';
  const source = {
    'bucket.$': '$.detail.bucket.name',
    'key.$': `${object}.key`,
    'etag.$': `${object}.etag`,
    // The upload's identity in an unversioned bucket: every PUT has its own (see sourceIdentity).
    'sequencer.$': `${object}.sequencer`,
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
        // The notify locale, kept on the job for the failure mail the job-sweeper or `sidestep job
        // fail` sends in this workflow's place: the same payload as FailJob's under the same key.
        origin: { 'source.$': '$.upload.source', locale },
        registerComment:
          'Registers the job for this exact object, idempotently; another execution gets duplicate: true',
        job: {
          'jobId.$': '$.Payload.jobId',
          // The mails' key (mailEnvelope): the job id qualified by attempt.
          'attemptKey.$': '$.Payload.attemptKey',
          'fileName.$': '$.Payload.fileName',
          'duplicate.$': '$.Payload.duplicate',
        },
        duplicateComment: 'A duplicate S3 event: another execution owns the import of this object',
        retryHint: 'upload the file again: every PUT is a new import',
        next: 'ImportRows',
        deadlineSeconds: jobDeadlineSeconds(batchWorker.timeoutSeconds),
      }),
      ...batchTask(
        batchWorker,
        'import',
        [
          { Name: 'SOURCE_BUCKET', 'Value.$': '$.upload.source.bucket' },
          { Name: 'SOURCE_KEY', 'Value.$': '$.upload.source.key' },
          { Name: 'SOURCE_VERSION_ID', 'Value.$': '$.upload.sourceVersionId' },
          // The worker reads exactly the registered object: by version id, else only if the ETag
          // still matches (If-Match; a later PUT to the key is its own job, and fails this one).
          { Name: 'SOURCE_ETAG', 'Value.$': '$.upload.source.etag' },
        ],
        {
          Comment: 'batch-worker import mode on Fargate; its inputs are the container overrides below',
          name: 'ImportRows',
          onFailure: MARK_FAILED,
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
      ReadCommittedImport: {
        Type: 'Pass',
        Comment:
          'The batch-worker committed the rows and the job before the error (a task killed after its COMMIT, a lost FinishJob answer): the import completed',
        Parameters: {
          'rows.$': '$.failure.rows',
          'rejectedSamples.$': '$.failure.rejectedSamples',
          'fileName.$': '$.failure.fileName',
        },
        ResultPath: '$.finished',
        Next: 'ComposeCompletedMail',
      },
      ...successPath({
        mailQueueUrl,
        mail: 'Completed',
        envelope: mailEnvelope('import.completed', { address: notifyAddress }, locale, {
          'jobId.$': '$.job.jobId',
          'fileName.$': '$.finished.fileName',
          'rows.$': '$.finished.rows.imported',
          // How many of them changed anything: null for a job completed before the ledger kept it.
          'usersWritten.$': '$.finished.rows.written',
          // The rows left out and the first of them, so the uploader learns what was not imported.
          'rejectedRows.$': '$.finished.rows.rejected',
          'rejectedSamples.$': '$.finished.rejectedSamples',
        }),
        succeedState: 'Imported',
        notSentComment:
          'The rows are imported and the job succeeded, but the mail could not be queued: the job-sweeper queues it (the Cause) again',
      }),
      ...failurePath({
        statusUpdaterFunctionArn: fn,
        mailQueueUrl,
        template: 'import.failed',
        to: { address: notifyAddress },
        locale,
        params: {
          'jobId.$': '$.job.jobId',
          'fileName.$': '$.failure.fileName',
          'reason.$': '$.failure.reason',
        },
        failure: {
          'reason.$': '$.Payload.reason',
          'fileName.$': '$.Payload.fileName',
          // Present when the worker committed the rows after all (see ReadCommittedImport).
          'rows.$': '$.Payload.rows',
          'rejectedSamples.$': '$.Payload.rejectedSamples',
        },
        committed: 'ReadCommittedImport',
        failState: 'ImportFailed',
        failComment:
          'The job is failed and the import.failed mail queued; Error is what failed, Cause the reason',
      }),
      ...REGISTRATION_FAILED,
    },
  };
}
