import { STATUS_UPDATE_INPUT_SUBJECT } from '@sidestep/contracts';
import type { StateMachineDefinition } from './asl.ts';
import { type BatchWorkerProps, batchTask, checkJobWorkflowProps, jobDeadlineSeconds } from './batch-task.ts';
import { catchAll } from './catch-all.ts';
import { failurePath, MARK_FAILED } from './failure-path.ts';
import { INTEGRATION } from './integration.ts';
import { type MailLocaleSource, type MailRecipient, mailEnvelope, sendMail } from './mail-envelope.ts';
import { REGISTRATION_FAILED, registerJob } from './register-job.ts';
import { retry, TRANSIENT_EXPORT_FINALIZER_ERRORS, TRANSIENT_LAMBDA_ERRORS } from './retry.ts';
import { statusUpdate } from './status-update.ts';
import { successPath } from './success-path.ts';

/** Where the export workflow's tasks run. Every value may be a Terraform token: it is copied verbatim. */
export interface ExportWorkflowProps {
  /** ARN (or name) of the status-updater Lambda function (`arn:aws:states:::lambda:invoke`). */
  readonly statusUpdaterFunctionArn: string;
  /** The Fargate task that writes the parts (`arn:aws:states:::ecs:runTask.sync`, `MODE=export`). */
  readonly batchWorker: BatchWorkerProps;
  /** ARN (or name) of the export-finalizer Lambda function (`arn:aws:states:::lambda:invoke`). */
  readonly exportFinalizerFunctionArn: string;
  /** Name of the exports bucket (`sidestep-<env>-exports`): the worker writes parts there, the finalizer the file. */
  readonly exportsBucket: string;
  /** URL of the mail job queue the `export.ready` / `export.failed` mails go to (`sqs:sendMessage`). */
  readonly mailQueueUrl: string;
}

/**
 * The queue export requests arrive on, whose EventBridge Pipe starts one export workflow per message.
 * Infra deploys it and the local cloud creates it with these settings: a received message stays
 * invisible 60 s while the pipe starts the execution (StartExecution takes milliseconds; a minute
 * leaves room for the pipe's own retries), and goes to the DLQ after 5 receives.
 */
export const EXPORT_REQUESTS_QUEUE = {
  /** Without prefix: `sidestep-<env>-export-requests`. */
  name: 'export-requests',
  visibilityTimeoutSeconds: 60,
  maxReceiveCount: 5,
} as const;

/**
 * The file name of a request without one: `users-<YYYY-MM-DD>` of the execution's start time (UTC,
 * `$$.Execution.StartTime` is ISO 8601 in UTC), the same rule as `defaultExportFileName` in
 * @sidestep/contracts. The start time, not the clock, so a redriven execution names the same file.
 */
const DEFAULT_FILE_NAME =
  "States.Format('users-{}', States.ArrayGetItem(States.StringSplit($$.Execution.StartTime, 'T'), 0))";

/** The export's requester: the mails go to who asked. */
const REQUESTER: MailRecipient = { path: '$.request.payload.requestedBy' };

/** The mails' language: the request's `locale`, `en` unless it names one (ApplyDefaults). */
const REQUEST_LOCALE: MailLocaleSource = { path: '$.request.payload.locale' };

/**
 * How the status-updater's `InvalidInputError` begins (`invalid <subject>: <field>: <why>`, its
 * task's subject in createTaskHandler of @sidestep/runtime): the message's first field follows it.
 */
const STATUS_UPDATE_INPUT_REFUSED = `invalid ${STATUS_UPDATE_INPUT_SUBJECT}`;

function checkProps(props: ExportWorkflowProps): void {
  checkJobWorkflowProps(props, [
    ['exportFinalizerFunctionArn', props.exportFinalizerFunctionArn],
    ['exportsBucket', props.exportsBucket],
    ['mailQueueUrl', props.mailQueueUrl],
  ]);
}

/**
 * The export workflow: an `export.requested` message in, one `.csv.gz` in the exports bucket and a
 * mail with its download link out.
 *
 * ```
 * ReadRequest -> CheckRequest -> CheckRequestType -> ApplyDefaults -> RegisterJob -> CheckDuplicate -(duplicate)-> AlreadyRegistered (Succeed)
 *   └-> StartJob -> ExportRows -> FinalizeExport -> FinishJob -> ComposeReadyMail -> NotifyReady -> Exported
 * any error in StartJob / ExportRows / FinalizeExport / FinishJob -> MarkFailed -> ComposeFailedMail -> NotifyFailed -> ExportFailed (Fail)
 * RegisterJob -(RequestConflictError, InvalidInputError)-> ReadRejection -> CheckRejection -> [UseDefaultLocale] -> [DescribeInvalidRequest] -> ComposeRejectedMail -> NotifyRejected -> RegistrationRejected (Fail)
 * ```
 *
 * - Input is what an EventBridge Pipe with an SQS source delivers to a Step Functions target: an
 *   ARRAY of SQS records, also for a batch size of 1 (`[{ messageId, receiptHandle, body, attributes,
 *   messageAttributes, md5OfBody, eventSource, eventSourceARN, awsRegion }]`,
 *   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-batching-concurrency.html).
 *   The pipe has a batch size of 1: only the first record is read. Its `body` is parsed with
 *   `States.StringToJson`.
 * - A pipe starts Standard workflows fire-and-forget and cannot name the execution, so a message
 *   delivered twice starts two executions. `RegisterJob` registers the job by the envelope `id`; the
 *   status-updater answers `duplicate: true` to every execution but the first, which ends early.
 * - Missing optional fields get their defaults before anything reads them (`fileName`:
 *   `users-<date of the execution's start>`, `filter`: `{}` = everyone, `byteOrderMark`: true,
 *   `locale`: `en`, the language of every mail the request gets), so every step sees the same
 *   values and a path is never absent. The values themselves are validated by the status-updater
 *   at `RegisterJob` (`ExportJobRequest`): an invalid request (`InvalidInputError`) whose
 *   `requestedBy` and `id` are valid is refused like a conflicting one, by the `export.failed` mail
 *   naming the field, and ends at `RegistrationRejected`; one whose address or id is invalid cannot
 *   be mailed and ends at `RegistrationFailed`, as does any other error of the register (the ledger
 *   unavailable past its retries).
 * - Retries, the failure path and the mails are the import workflow's (shared building blocks);
 *   the mails go to the requester.
 *
 * @returns the ASL definition, plain JSON (`JSON.stringify` it for Terraform or the local engine).
 */
export function exportWorkflow(props: ExportWorkflowProps): StateMachineDefinition {
  checkProps(props);
  const { statusUpdaterFunctionArn: fn, batchWorker, mailQueueUrl, exportsBucket } = props;
  const toMarkFailed = catchAll(MARK_FAILED);
  const envelope = '$.envelope';

  return {
    Comment:
      'sidestep export: request -> register -> start -> Fargate export -> finalize -> finish -> mail; any failure -> failed + mail',
    StartAt: 'ReadRequest',
    // No state machine TimeoutSeconds, as in the import workflow: an execution timeout cannot be
    // caught and the job would stay `running` without a mail (the job-sweeper would fail it later).
    States: {
      ReadRequest: {
        Type: 'Pass',
        Comment: 'The pipe delivers an array of SQS records (batch size 1); the body is the envelope as JSON',
        Parameters: {
          'messageId.$': '$[0].messageId',
          'envelope.$': 'States.StringToJson($[0].body)',
          defaults: { 'fileName.$': DEFAULT_FILE_NAME, filter: {}, byteOrderMark: true, locale: 'en' },
        },
        Next: 'CheckRequest',
      },
      // Two Choice states: a comparison on a path that is absent is a run-time error, so presence is
      // established first, then the values.
      CheckRequest: {
        Type: 'Choice',
        Choices: [
          {
            And: [
              { Variable: `${envelope}.type`, IsPresent: true },
              { Variable: `${envelope}.version`, IsPresent: true },
              { Variable: `${envelope}.id`, IsPresent: true },
              { Variable: `${envelope}.payload.requestedBy`, IsPresent: true },
            ],
            Next: 'CheckRequestType',
          },
        ],
        Default: 'RequestRejected',
      },
      CheckRequestType: {
        Type: 'Choice',
        Choices: [
          {
            And: [
              { Variable: `${envelope}.type`, StringEquals: 'export.requested' },
              { Variable: `${envelope}.version`, NumericEquals: 1 },
            ],
            Next: 'ApplyDefaults',
          },
        ],
        Default: 'RequestRejected',
      },
      RequestRejected: {
        Type: 'Fail',
        Comment: 'Not an export.requested v1 envelope: no job exists, and no address is known to mail',
        Error: 'InvalidExportRequestError',
        Cause: 'the message is not an export.requested v1 envelope with an id and payload.requestedBy',
      },
      ApplyDefaults: {
        Type: 'Pass',
        Comment:
          'Request fields over the defaults: fileName users-<start date>, filter {} (everyone), byteOrderMark true, locale en',
        Parameters: {
          'id.$': `${envelope}.id`,
          'payload.$': `States.JsonMerge($.defaults, ${envelope}.payload, false)`,
          // The id as an object, for RegisterJob to merge into the payload it registers.
          identity: { 'id.$': `${envelope}.id` },
        },
        ResultPath: '$.request',
        Next: 'RegisterJob',
      },
      ...registerJob({
        statusUpdaterFunctionArn: fn,
        kind: 'export',
        origin: {
          // The whole request, every key of its payload validated (ExportJobRequest is strict): a
          // locale no template is written in is refused here (request.locale) rather than by the
          // mail-dispatcher after the export ran, a byteOrderMark that is no boolean before a task
          // runs, a misspelt key rather than ignored.
          'request.$': 'States.JsonMerge($.request.payload, $.request.identity, false)',
        },
        registerComment:
          'Registers the job by the request id, idempotently; another execution gets duplicate: true',
        // attemptKey: the mails' key (mailEnvelope), the job id qualified by attempt.
        job: {
          'jobId.$': '$.Payload.jobId',
          'attemptKey.$': '$.Payload.attemptKey',
          'duplicate.$': '$.Payload.duplicate',
          // The job's file as the ledger registered it: an operator's retry (a new execution, maybe
          // on a later day) writes the file the first attempt began, not users-<its own start date>.
          'fileName.$': '$.Payload.fileName',
        },
        duplicateComment: 'A duplicate delivery of the request: another execution owns this export',
        retryHint: 'send a new export request with a new envelope id',
        next: 'ExportRows',
        deadlineSeconds: jobDeadlineSeconds(batchWorker.timeoutSeconds),
        rejected: { errors: ['RequestConflictError', 'InvalidInputError'], next: 'ReadRejection' },
      }),
      // Issue 11.8: a request whose id another request already used (another requester, other users)
      // is refused by the status-updater; its requester is told why, by the export.failed mail about
      // the request's id (there is no job of theirs), and the execution ends FAILED with the error.
      // A request that breaks its contract (a fileName with "/" or Japanese letters, a bad filter:
      // the status-updater's InvalidInputError naming the field) is told the same way, when its
      // requester can be mailed: a raw-SQS producer's request would otherwise end without a word.
      ReadRejection: {
        Type: 'Pass',
        Comment:
          "The status-updater's error document (Cause is its JSON) and the request id as the mail's job",
        // No job of theirs, so no attempt. The mail's key (mailEnvelope's <template>:<attemptKey>) is
        // `export.failed:refused:<SQS message id>`, not the request id's: the mail-dispatcher sends
        // once per key and dead-letters a key reused for another mail (IdempotencyKeyReusedError), and
        // every refusal of one id (another requester's conflict, a third one, a broken contract) would
        // share the request id's key, so all but the first would never be sent. The message id is the
        // refused message's own: SQS keeps it across redeliveries, so a redelivered request (a second
        // execution, the same mail) is sent once, and another message under the id is another key. No
        // job's mail (`<template>:<jobId>[:<attempt>]`, job ids `exp_<uuid>`) starts with `refused:`.
        // Not a hash of the mail's content (States.Hash): aws-local-stepfunctions 3.0.0 hashes only
        // the first 64 bytes of a longer input, so locally two refusals to one requester would collide.
        Parameters: {
          'jobId.$': '$.request.id',
          'attemptKey.$': "States.Format('refused:{}', $.messageId)",
          'cause.$': 'States.StringToJson($.error.Cause)',
        },
        ResultPath: '$.job',
        Next: 'CheckRejection',
      },
      CheckRejection: {
        Type: 'Choice',
        Comment:
          'An invalid request is mailed only when its requestedBy and id are valid (the mail goes to the one, under the other)',
        // Only the two errors RegisterJob's catch names come here: a conflict is mailed as it is; an
        // invalid request is described first (or not mailed at all).
        Choices: [
          { Variable: '$.error.Error', StringEquals: 'RequestConflictError', Next: 'ComposeRejectedMail' },
          {
            // The message names every field at fault (`request.fileName: <why> (and 1 more:
            // request.requestedBy)`); one not in the request is the workflow's own bug.
            Or: [
              { Variable: '$.job.cause.errorMessage', StringMatches: '*request.requestedBy*' },
              { Variable: '$.job.cause.errorMessage', StringMatches: '*request.id*' },
              {
                Not: {
                  Variable: '$.job.cause.errorMessage',
                  StringMatches: `${STATUS_UPDATE_INPUT_REFUSED}: request.*`,
                },
              },
            ],
            Next: 'RegistrationFailed',
          },
          {
            Variable: '$.job.cause.errorMessage',
            StringMatches: '*request.locale*',
            Next: 'UseDefaultLocale',
          },
        ],
        Default: 'DescribeInvalidRequest',
      },
      UseDefaultLocale: {
        Type: 'Pass',
        Comment: 'The requested locale is among the fields refused: the refusal is mailed in English',
        Result: 'en',
        ResultPath: '$.request.payload.locale',
        Next: 'DescribeInvalidRequest',
      },
      DescribeInvalidRequest: {
        Type: 'Pass',
        Comment:
          "The reason the requester reads: what was refused, the status-updater's words naming the field, and to resend under a new request id (the id is the request's identity: one another request registered is refused as a conflict)",
        Parameters: {
          'errorMessage.$': `States.Format('export request {} refused, nothing was exported: {}. Correct the request and send it again with a new request id', $.request.id, $.job.cause.errorMessage)`,
        },
        ResultPath: '$.job.cause',
        Next: 'ComposeRejectedMail',
      },
      ComposeRejectedMail: {
        Type: 'Pass',
        Parameters: mailEnvelope('export.failed', REQUESTER, REQUEST_LOCALE, {
          'jobId.$': '$.job.jobId',
          'reason.$': '$.job.cause.errorMessage',
        }),
        ResultPath: '$.mail',
        Next: 'NotifyRejected',
      },
      NotifyRejected: sendMail(
        mailQueueUrl,
        'RegistrationRejected',
        catchAll('RegistrationRejected', '$.notificationError'),
      ),
      RegistrationRejected: {
        Type: 'Fail',
        Comment:
          'The request reused another request’s id or broke its contract: refused, and its requester mailed the reason',
        ErrorPath: '$.error.Error',
        CausePath: '$.job.cause.errorMessage',
      },
      ...batchTask(
        batchWorker,
        'export',
        [
          { Name: 'EXPORTS_BUCKET', Value: exportsBucket },
          // The file the parts are uploaded into: exports/<jobId>/<fileName>.csv.gz.
          { Name: 'EXPORT_FILE_NAME', 'Value.$': '$.job.fileName' },
          // ECS environment values are strings: the filter as JSON, `{}` for everyone.
          { Name: 'EXPORT_FILTER', 'Value.$': 'States.JsonToString($.request.payload.filter)' },
          // `true` or `false`, as the batch-worker reads it.
          {
            Name: 'EXPORT_BYTE_ORDER_MARK',
            'Value.$': "States.Format('{}', $.request.payload.byteOrderMark)",
          },
        ],
        {
          Comment:
            'batch-worker export mode on Fargate: gzip CSV parts into the multipart upload of exports/<jobId>/<fileName>.csv.gz, and a manifest under exports/<jobId>/parts/',
          name: 'ExportRows',
          onFailure: MARK_FAILED,
          Next: 'FinalizeExport',
        },
      ),
      FinalizeExport: {
        Type: 'Task',
        Comment:
          'export-finalizer: verifies the uploaded parts (ListParts), completes the .csv.gz, returns the download link',
        Resource: INTEGRATION.lambdaInvoke,
        Parameters: {
          FunctionName: props.exportFinalizerFunctionArn,
          // FinalizeExportInput (@sidestep/contracts).
          Payload: {
            'jobId.$': '$.job.jobId',
            bucket: exportsBucket,
            'manifestKey.$': "States.Format('exports/{}/parts/manifest.json', $.job.jobId)",
            'fileName.$': '$.job.fileName',
          },
        },
        // FinalizeExportOutput, less what the job already knows (jobId, bucket).
        ResultSelector: {
          'key.$': '$.Payload.key',
          'rows.$': '$.Payload.rows',
          'bytes.$': '$.Payload.bytes',
          'crc64nvme.$': '$.Payload.crc64nvme',
          'manifestKey.$': '$.Payload.manifestKey',
          'downloadUrl.$': '$.Payload.downloadUrl',
          'downloadExpiresAt.$': '$.Payload.downloadExpiresAt',
        },
        ResultPath: '$.finalized',
        // The Lambda service's errors and S3 being unavailable; the finalizer's other errors (a part
        // missing or corrupt) are permanent and a retry would fail the same way.
        Retry: [retry(TRANSIENT_LAMBDA_ERRORS, 2, 6), retry(TRANSIENT_EXPORT_FINALIZER_ERRORS, 5, 3)],
        Catch: toMarkFailed,
        Next: 'FinishJob',
      },
      FinishJob: statusUpdate(
        fn,
        { event: 'finish', 'jobId.$': '$.job.jobId', expectedState: 'succeeded', 'result.$': '$.finalized' },
        {
          Comment: "Marks the job succeeded with the finalizer's result (rows, bytes, key, download link)",
          ResultPath: null,
          Catch: toMarkFailed,
          Next: 'ComposeReadyMail',
        },
      ),
      ...successPath({
        mailQueueUrl,
        mail: 'Ready',
        envelope: mailEnvelope('export.ready', REQUESTER, REQUEST_LOCALE, {
          'jobId.$': '$.job.jobId',
          'rows.$': '$.finalized.rows',
          'downloadUrl.$': '$.finalized.downloadUrl',
          'downloadExpiresAt.$': '$.finalized.downloadExpiresAt',
        }),
        succeedState: 'Exported',
        notSentComment:
          'The file is ready and the job succeeded, but the mail could not be queued: the job-sweeper queues it (the Cause) again',
      }),
      ...failurePath({
        statusUpdaterFunctionArn: fn,
        mailQueueUrl,
        template: 'export.failed',
        to: REQUESTER,
        locale: REQUEST_LOCALE,
        params: { 'jobId.$': '$.job.jobId', 'reason.$': '$.failure.reason' },
        // Only FinishJob makes an export succeeded, after FinalizeExport wrote `$.finalized`.
        committed: 'ComposeReadyMail',
        failState: 'ExportFailed',
        failComment:
          'The job is failed and the export.failed mail queued; Error is what failed, Cause the reason',
      }),
      ...REGISTRATION_FAILED,
    },
  };
}
