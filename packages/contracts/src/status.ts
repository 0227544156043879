import * as z from 'zod/mini';
import { EmailAddress } from './email-address.ts';
import { EnvelopeId } from './envelope.ts';
import { ExportFileName, ExportFilter } from './export.ts';
import { lazySchema } from './lazy-schema.ts';
import { MAX_REJECTED_SAMPLES, MailLocaleSchema, RejectedRowSample } from './mail.ts';

/** What a job does: an import (S3 CSV -> users) or an export. */
export const JobKind = /* @__PURE__ */ lazySchema(() => z.enum(['import', 'export']));
export type JobKind = z.infer<typeof JobKind>;

/** Where a job is. Only the status-updater changes it, by firing a {@link JobEvent}. */
export const JobState = /* @__PURE__ */ lazySchema(() =>
  z.enum(['registered', 'running', 'succeeded', 'failed']),
);
export type JobState = z.infer<typeof JobState>;

/** The state events the status-updater fires on a job. */
export const JobEvent = /* @__PURE__ */ lazySchema(() => z.enum(['register', 'start', 'finish', 'fail']));
export type JobEvent = z.infer<typeof JobEvent>;

/** A job id as the status-updater makes them (`imp_<uuid>`); the mail contracts accept the same. */
const JobId = /* @__PURE__ */ lazySchema(() =>
  z.string().check(z.minLength(1), z.maxLength(128), z.regex(/^[A-Za-z0-9._:-]+$/)),
);

/** The Step Functions execution ARN (`$$.Execution.Id`), which owns the job it registered. */
const ExecutionId = /* @__PURE__ */ lazySchema(() => z.string().check(z.minLength(1), z.maxLength(2048)));

/**
 * The state the caller expects the job to be in once the event is applied. Any state is accepted
 * here, not only the one the event leads to: the comparison is the status-updater's guard (a
 * workflow whose step names the wrong expected state fails with `UnexpectedStateError`), as in the
 * seeds' `UpdateAudienceStatusToImporting(event, expectedState)` step.
 */
const ExpectedState = JobState;

/** What every event input carries: the state the job should be in after it, and the sending execution. */
const StepFields = { expectedState: ExpectedState, executionId: ExecutionId };

/** What every event on a registered job carries: the job, then {@link StepFields}. */
const JobStepFields = { jobId: JobId, ...StepFields };

/** The longest deadline a start may set: 7 days. */
export const MAX_JOB_DEADLINE_SECONDS = 7 * 24 * 60 * 60;

/**
 * The S3 object an import reads: from the EventBridge "Object Created" event's `detail`. Its
 * identity is `(bucket, key, versionId ?? sequencer ?? etag)`: the upload, not its bytes. S3 may
 * deliver one event twice (same version id, same sequencer), and registering the same identity
 * again finds the job made the first time; every new PUT, even of the same bytes, is a new job.
 */
export const JobSource = /* @__PURE__ */ lazySchema(() =>
  z.object({
    bucket: z.string().check(z.minLength(3), z.maxLength(63)),
    key: z.string().check(z.minLength(1), z.maxLength(1024)),
    /** Present when the bucket is versioned; preferred over the ETag as the object's version. */
    versionId: z.optional(z.string().check(z.minLength(1), z.maxLength(1024))),
    etag: z.optional(z.string().check(z.minLength(1), z.maxLength(1024))),
    /**
     * The event's `detail.object.sequencer`: S3 gives every write of a key a greater one, and a
     * redelivered event keeps its own. Identifies the upload in an unversioned bucket.
     */
    sequencer: z.optional(z.string().check(z.minLength(1), z.maxLength(1024))),
    /** Bytes, recorded on the job. */
    size: z.optional(z.int().check(z.minimum(0))),
  }),
);
export type JobSource = z.infer<typeof JobSource>;

// Step Functions builds these payloads from its own state, so fields this version does not know are
// ignored rather than refused (z.object, not strictObject): a workflow can add context for its logs
// without a lock-step deploy. Every field this version reads is still validated and named.

/**
 * An import's register: the job is the S3 object's (see {@link JobSource}).
 *
 * @example { "event": "register", "kind": "import", "expectedState": "registered", "executionId": "arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:1", "source": { "bucket": "sidestep-local-imports", "key": "imports/users.csv", "etag": "\"9b2cf535f27731c974343645a3985328\"", "size": 1024 } }
 */
export const RegisterImportJobInput = /* @__PURE__ */ lazySchema(() =>
  z.object({
    event: z.literal('register'),
    kind: z.literal('import'),
    ...StepFields,
    source: JobSource.check(
      z.refine((source) => source.versionId !== undefined || source.etag !== undefined, {
        // The sequencer identifies the upload (the job); the worker reads the object by version id or ETag.
        message: 'versionId or etag is required: it identifies the version of the object to import',
        path: ['versionId'],
      }),
    ),
    /**
     * The language of the job's mails: the environment's notify locale, as the import workflow
     * writes it into them. Kept on the job (`jobs.locale`) for the failure mail the job-sweeper or an
     * operator's `sidestep job fail` sends in the workflow's place; absent: `en`.
     */
    locale: z.optional(MailLocaleSchema),
  }),
);

/**
 * The export request a job is registered for, from the `export.requested` envelope: its `id` is the
 * job's identity (a message delivered twice registers one job), the rest is what to export and who
 * gets the mail. `fileName` is required here: the workflow applies the default
 * (`defaultExportFileName` of the execution's start) before registering, so every step agrees on it.
 * `filter` may be null or absent (everyone): a workflow passing an absent JSON field cannot omit it.
 * Strict, as `ExportRequestedPayload` is: the workflow registers the whole payload, so a key the
 * contract does not know (a misspelt `filter`, which would export everyone) is refused naming it,
 * whoever sent the message (a raw SQS send skips the producer's validation).
 */
export const ExportJobRequest = /* @__PURE__ */ lazySchema(() =>
  z.strictObject({
    id: EnvelopeId,
    requestedBy: EmailAddress,
    fileName: ExportFileName,
    filter: z.optional(z.nullable(ExportFilter)),
    /**
     * The mails' language (`ExportRequestedPayload.locale`), validated here so a request in a locale
     * no template is written in is refused naming `request.locale`, not dead-lettered by the
     * mail-dispatcher after its job ran. Kept on the job (`jobs.locale`) for the failure mail the
     * job-sweeper or an operator's `sidestep job fail` sends in the workflow's place.
     */
    locale: z.optional(MailLocaleSchema),
    /** `ExportRequestedPayload.byteOrderMark`, checked here so a request whose mark is no boolean is refused before a task runs. */
    byteOrderMark: z.optional(z.boolean()),
  }),
);
export type ExportJobRequest = z.infer<typeof ExportJobRequest>;

/**
 * An export's register, keyed by the request's id.
 *
 * @example { "event": "register", "kind": "export", "expectedState": "registered", "executionId": "arn:aws:states:us-east-1:000000000000:execution:sidestep-local-export:1", "request": { "id": "req-2026-11-24-0001", "requestedBy": "ops@example.com", "fileName": "users-2026-11-24", "filter": { "emailDomain": "example.com" } } }
 */
export const RegisterExportJobInput = /* @__PURE__ */ lazySchema(() =>
  z.object({
    event: z.literal('register'),
    kind: z.literal('export'),
    ...StepFields,
    request: ExportJobRequest,
  }),
);

/** `register`, one shape per job kind: an import names its S3 object, an export its request. */
export const RegisterJobInput = /* @__PURE__ */ lazySchema(() =>
  z.discriminatedUnion('kind', [RegisterImportJobInput, RegisterExportJobInput]),
);
export type RegisterJobInput = z.infer<typeof RegisterJobInput>;

/** @example { "event": "start", "jobId": "imp_0193...", "expectedState": "running", "executionId": "arn:aws:states:..." } */
export const StartJobInput = /* @__PURE__ */ lazySchema(() =>
  z.object({
    event: z.literal('start'),
    ...JobStepFields,
    /**
     * How long the job may stay running before the job-sweeper fails it (`deadline_at`): the longest
     * the workflow may wait for it, every rerun of its batch task included. From 60 s to 7 days;
     * without it, the ledger's `JOB_DEADLINE_SECONDS` of the job's kind.
     */
    deadlineSeconds: z.optional(z.int().check(z.minimum(60), z.maximum(MAX_JOB_DEADLINE_SECONDS))),
  }),
);
/**
 * What an export produced, from the export-finalizer's output (`FinalizeExportOutput`; pass it
 * whole, fields this version does not read are ignored). Stored on the job when it finishes.
 */
export const ExportJobResult = /* @__PURE__ */ lazySchema(() =>
  z.object({
    /** `exports/<jobId>/<fileName>.csv.gz`. */
    key: z.string().check(z.minLength(1), z.maxLength(1024)),
    rows: z.int().check(z.minimum(0)),
    bytes: z.int().check(z.minimum(0)),
    downloadUrl: z.url({ protocol: /^https?$/ }),
    /**
     * When `downloadUrl` stops working: kept on the job (`download_expires_at`) so that an
     * `export.ready` mail the job-sweeper sends in NotifyReady's place is the workflow's very
     * payload. Optional: a finish from before it was kept still validates.
     */
    downloadExpiresAt: z.optional(z.iso.datetime({ offset: true })),
  }),
);
export type ExportJobResult = z.infer<typeof ExportJobResult>;

/**
 * An import's row counts are not sent: they come from the ledger, where the batch-worker wrote them.
 * An export's `result` is required (the finalizer's output): the job stores its rows, bytes, key and
 * download link, which the `export.ready` mail reports.
 */
export const FinishJobInput = /* @__PURE__ */ lazySchema(() =>
  z.object({
    event: z.literal('finish'),
    ...JobStepFields,
    result: z.optional(ExportJobResult),
  }),
);
/**
 * `error` is the Catch output of the failed state (`ResultPath`), `{ Error, Cause }`. The job's
 * reason is the worker's own `worker_error` when it recorded one, else derived from these.
 */
export const FailJobInput = /* @__PURE__ */ lazySchema(() =>
  z.object({
    event: z.literal('fail'),
    ...JobStepFields,
    error: z.optional(
      z.object({
        Error: z.optional(z.string()),
        Cause: z.optional(z.string()),
      }),
    ),
  }),
);

/**
 * What the status-updater calls its input in an invalid one's message (`invalid <subject>: <field>: ...`,
 * createTaskHandler of @sidestep/runtime): the export workflow tells a refused request from its own
 * faults by it.
 */
export const STATUS_UPDATE_INPUT_SUBJECT = 'status update input';

/**
 * The status-updater's input (the `Payload` of its `lambda:invoke` task), one shape per event.
 *
 * @example
 * ```json
 * { "event": "fail", "jobId": "imp_0193...", "expectedState": "failed",
 *   "executionId": "arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:1",
 *   "error": { "Error": "States.TaskFailed", "Cause": "{\"StoppedReason\":\"Essential container in task exited\"}" } }
 * ```
 */
export const StatusUpdateInput = /* @__PURE__ */ lazySchema(() =>
  z.discriminatedUnion('event', [RegisterJobInput, StartJobInput, FinishJobInput, FailJobInput]),
);
export type StatusUpdateInput = z.infer<typeof StatusUpdateInput>;
export type StatusUpdateInputOf<E extends JobEvent> = Extract<StatusUpdateInput, { event: E }>;

/**
 * A job's row counts as the batch-worker recorded them (an export's rows are all in `total`).
 * `written`: the users a completed import's merge wrote, new or changed (a row equal to its user
 * writes nothing, and of a key's rows in one file only the last counts); null for exports, for an
 * import not completed, and for one completed before the ledger kept it.
 */
export const JobRows = /* @__PURE__ */ lazySchema(() =>
  z.object({
    total: z.int().check(z.minimum(0)),
    imported: z.int().check(z.minimum(0)),
    rejected: z.int().check(z.minimum(0)),
    written: z.nullable(z.int().check(z.minimum(0))),
  }),
);
export type JobRows = z.infer<typeof JobRows>;

/**
 * The status-updater's result, the same for every event; re-running a step returns it again.
 *
 * @example
 * ```json
 * { "jobId": "imp_0193...", "kind": "import", "state": "succeeded",
 *   "executionId": "arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:1",
 *   "attemptKey": "imp_0b9f...", "duplicate": false, "fileName": "users.csv",
 *   "rows": { "total": 1000, "imported": 1000, "rejected": 0, "written": 12 }, "rejectedSamples": [], "reason": null,
 *   "requestedBy": null, "downloadUrl": null, "resultKey": null, "bytes": 2048 }
 * ```
 *
 * For an export, `fileName` is the export's file name (without `.csv.gz`) and `rows.total` the rows
 * exported (`imported` and `rejected` are 0, `written` null).
 */
export const StatusUpdateOutput = /* @__PURE__ */ lazySchema(() =>
  z.object({
    jobId: JobId,
    kind: JobKind,
    /** The job's state after the event (for a duplicate register: the job's state as it is). */
    state: JobState,
    /** The execution that owns the job: the one that registered it. */
    executionId: ExecutionId,
    /**
     * The job id qualified by its attempt: `<jobId>` for the first, `<jobId>:<n>` for attempt n (an
     * operator's retry). The workflows key the job's mails by it (`<template>:<attemptKey>`), so each
     * attempt's outcome is mailed once and a retry's is not taken for the first attempt's.
     */
    attemptKey: z.string().check(z.minLength(1), z.maxLength(140), z.regex(/^[A-Za-z0-9._:-]+$/)),
    /**
     * Register only: the same object was already registered by ANOTHER execution, so this execution
     * should end early and successfully. Always false for the other events.
     */
    duplicate: z.boolean(),
    /** The last segment of the source key (imports); null when the job has no source. */
    fileName: z.nullable(z.string()),
    /** The worker's counts; null until it recorded them. */
    rows: z.nullable(JobRows),
    /**
     * Imports: the first rows the worker rejected (at most {@link MAX_REJECTED_SAMPLES}), for the
     * `import.completed` mail; empty when none was rejected, and for exports.
     */
    rejectedSamples: z.array(RejectedRowSample).check(z.maxLength(MAX_REJECTED_SAMPLES)),
    /** Why the job failed (one to 2,000 characters, what the `import.failed` mail shows); null unless failed. */
    reason: z.nullable(z.string()),
    /** Exports: who asked, the address of the `export.ready` / `export.failed` mail; null for imports. */
    requestedBy: z.nullable(z.string()),
    /** Exports, once finished: the link the `export.ready` mail carries; else null. */
    downloadUrl: z.nullable(z.string()),
    /** Exports, once finished: the combined object's key; else null. */
    resultKey: z.nullable(z.string()),
    /** Bytes: an import's source object, an export's combined file; null when unknown. */
    bytes: z.nullable(z.int().check(z.minimum(0))),
  }),
);
export type StatusUpdateOutput = z.infer<typeof StatusUpdateOutput>;

/**
 * The job-sweeper's input: what its schedule (and the operator rule that fires it by hand) passes,
 * `{}`. Fields this version does not know are ignored. The sweeper reads the clock itself.
 */
export const SweepStaleJobsInput = /* @__PURE__ */ lazySchema(() => z.object({}));
export type SweepStaleJobsInput = z.infer<typeof SweepStaleJobsInput>;

/** The statuses of a Step Functions execution (`DescribeExecution`'s `status`). */
export const ExecutionStatus = /* @__PURE__ */ lazySchema(() =>
  z.enum(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE']),
);
export type ExecutionStatus = z.infer<typeof ExecutionStatus>;

/**
 * The EventBridge event Step Functions sends when an execution's status changes ("Step Functions
 * Execution Status Change", on the default bus), as far as the job-sweeper reads it: the rule sends
 * the workflows' ABORTED, TIMED_OUT and FAILED ones, and the sweeper fails the job the execution left
 * behind. `error` and `cause` are null when the execution has none (a StopExecution without them).
 * `redriveCount` is how many times the execution had been redriven when its status changed: a
 * redrive keeps the execution's ARN, so an event of the execution's end before a redrive (delivered
 * late, or again) is told from the redrive's own end by it; an event without one is read as 0.
 * https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html,
 * https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html
 *
 * @example { "version": "0", "id": "315c1398-40ff-a850-213b-158f73ea175d", "detail-type": "Step Functions Execution Status Change", "source": "aws.states", "account": "000000000000", "time": "2026-11-24T09:00:05Z", "region": "us-east-1", "resources": ["arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:exec-1"], "detail": { "executionArn": "arn:aws:states:us-east-1:000000000000:execution:sidestep-local-import:exec-1", "stateMachineArn": "arn:aws:states:us-east-1:000000000000:stateMachine:sidestep-local-import", "name": "exec-1", "status": "ABORTED", "startDate": 1795510800000, "stopDate": 1795510805000, "input": "{}", "output": null, "error": null, "cause": null, "redriveCount": 0 } }
 */
export const ExecutionStatusChange = /* @__PURE__ */ lazySchema(() =>
  z.object({
    source: z.literal('aws.states'),
    'detail-type': z.literal('Step Functions Execution Status Change'),
    detail: z.object({
      executionArn: ExecutionId,
      stateMachineArn: z.string().check(z.minLength(1), z.maxLength(2048)),
      name: z.string().check(z.minLength(1), z.maxLength(80)),
      status: ExecutionStatus,
      error: z.optional(z.nullable(z.string())),
      cause: z.optional(z.nullable(z.string())),
      redriveCount: z.optional(z.int().check(z.minimum(0))),
    }),
  }),
);
export type ExecutionStatusChange = z.infer<typeof ExecutionStatusChange>;

/**
 * The `Error` of a workflow execution that ended FAILED because a mail it had composed (the failure
 * mail, or a succeeded job's completion or ready mail) could not be queued, after its retries: its
 * `Cause` is that mail's `mail.send` envelope as JSON. The workflow-ended rule hands the job-sweeper
 * the execution's status change, and the sweeper queues the envelope again (the mail-dispatcher sends
 * once per key), so a mail the workflow could not queue is sent once the queue takes it, rather than
 * never. A redrive would not resend it: it resumes at the Fail state the execution ended in
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html).
 */
export const MAIL_NOT_QUEUED_ERROR = 'MailNotQueuedError';

/**
 * What the job-sweeper is invoked with: an execution's status change (its rule), or anything else
 * that is not one (its schedule and operator rule pass `{}`): a sweep. An `aws.states` event that
 * breaks the contract is refused rather than taken for a sweep.
 */
export const JobSweeperInput = /* @__PURE__ */ lazySchema(() =>
  z.union([
    ExecutionStatusChange,
    z.object({ source: z.optional(z.string().check(z.refine((source) => source !== 'aws.states'))) }),
  ]),
);
export type JobSweeperInput = z.infer<typeof JobSweeperInput>;

/** One job the sweeper failed, or whose failure mail it queued again. */
export const SweptJob = /* @__PURE__ */ lazySchema(() =>
  z.object({
    jobId: JobId,
    kind: JobKind,
    /**
     * The deadline the job missed (ISO 8601); null for a job failed because its execution ended (it
     * may never have started, so never had one).
     */
    deadlineAt: z.nullable(z.iso.datetime({ offset: true })),
    /** The reason recorded on the job and sent in its failure mail. */
    reason: z.string(),
    /** The failure mail's envelope id (`<template>:<jobId>`, `:<attempt>` after a retry: the key the mail-dispatcher sends once per). */
    mailId: z.string(),
  }),
);
export type SweptJob = z.infer<typeof SweptJob>;

/**
 * How long the ledger keeps a finished job (and the operators' audit entries), in days, unless the
 * job-sweeper's `JOB_RETENTION_DAYS` says otherwise: as long as Step Functions keeps the history of
 * the execution that ran the job ("Execution history data removed after 90 days",
 * https://docs.aws.amazon.com/step-functions/latest/dg/express-at-least-once-execution.html).
 */
export const DEFAULT_JOB_RETENTION_DAYS = 90;

/**
 * The shortest retention a job may have, in days: an execution that failed, aborted or timed out may
 * be redriven for 14 days (https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html),
 * and a redriven execution's steps need its job; a dead-lettered S3 event or mail job is kept 14 days
 * too, and an import event redriven after its job is gone would register the upload again.
 */
export const MIN_JOB_RETENTION_DAYS = 14;

/**
 * A job an execution's status change left as it is because the event is older than the execution's
 * latest redrive: the execution ended before that redrive, whose run the job is now (an event
 * delivered late, by Lambda's retries or an operator's reinvoke).
 *
 * @example { "jobId": "imp_01", "redriveCount": 0, "latestRedriveCount": 1 }
 */
export const StaleEventJob = /* @__PURE__ */ lazySchema(() =>
  z.object({
    jobId: JobId,
    /** The event's `redriveCount` (0 when it has none). */
    redriveCount: z.int().check(z.minimum(0)),
    /** The execution's redrive count after its latest redrive, as the ledger's redrive claims know it. */
    latestRedriveCount: z.int().check(z.minimum(1)),
  }),
);
export type StaleEventJob = z.infer<typeof StaleEventJob>;

/**
 * What a scheduled sweep deleted of what outlived its retention: expired idempotency records, and
 * finished jobs (with their transitions, rejected rows and export progress) and operator audit entries
 * older than `olderThan`. `complete` is false when the sweep stopped at its bound with more to delete:
 * the next sweep goes on.
 */
export const SweepPurged = /* @__PURE__ */ lazySchema(() =>
  z.object({
    olderThan: z.iso.datetime({ offset: true }),
    idempotencyRecords: z.int().check(z.minimum(0)),
    jobs: z.int().check(z.minimum(0)),
    jobTransitions: z.int().check(z.minimum(0)),
    importRejectedRows: z.int().check(z.minimum(0)),
    exportProgress: z.int().check(z.minimum(0)),
    operatorAudit: z.int().check(z.minimum(0)),
    complete: z.boolean(),
  }),
);
export type SweepPurged = z.infer<typeof SweepPurged>;

/**
 * An execution end a scheduled sweep handled in its status change event's place (Step Functions sends
 * those events best effort): the execution, its redrive count and status at the end, the jobs it
 * failed and the ids of the mails it queued (the Cause's unsent mail, or the succeeded jobs' success mails).
 */
export const ReconciledEnd = /* @__PURE__ */ lazySchema(() =>
  z.object({
    executionArn: ExecutionId,
    redriveCount: z.int().check(z.minimum(0)),
    status: ExecutionStatus,
    failed: z.array(z.string()),
    queued: z.array(z.string()),
  }),
);
export type ReconciledEnd = z.infer<typeof ReconciledEnd>;

/**
 * What one sweep did: `failed` the jobs it moved from `running` to `failed` in this sweep, `mailed`
 * every job whose failure mail it queued (this sweep's, and earlier sweeps' whose mail was not
 * queued yet), and, for a scheduled sweep, `purged`: what it deleted past its retention. Sweeping
 * again finds nothing: a job is failed and mailed once, and deleted once.
 *
 * @example { "sweptAt": "2026-11-24T12:15:00.000Z", "failed": [{ "jobId": "exp_01", "kind": "export", "deadlineAt": "2026-11-24T12:00:00.000Z", "reason": "no progress before the deadline (2026-11-24T12:00:00.000Z)", "mailId": "export.failed:exp_01" }], "mailed": [{ "jobId": "exp_01", "kind": "export", "deadlineAt": "2026-11-24T12:00:00.000Z", "reason": "no progress before the deadline (2026-11-24T12:00:00.000Z)", "mailId": "export.failed:exp_01" }] }
 */
export const SweepStaleJobsOutput = /* @__PURE__ */ lazySchema(() =>
  z.object({
    sweptAt: z.iso.datetime({ offset: true }),
    failed: z.array(SweptJob),
    mailed: z.array(SweptJob),
    /**
     * For an execution that ended FAILED with {@link MAIL_NOT_QUEUED_ERROR}: the id of the mail its
     * Cause held, which this invocation queued again.
     */
    requeued: z.optional(z.array(z.string())),
    /**
     * For an execution that ended (stopped, failed) after its job succeeded: the id of each success
     * mail (`import.completed`, `export.ready`) this invocation queued in its Notify step's place,
     * the envelope and key that step sends (the workflow may have queued it first: the
     * mail-dispatcher sends once per key).
     */
    completed: z.optional(z.array(z.string())),
    /** For an execution's status change older than its latest redrive: the jobs it left as they are. */
    ignored: z.optional(z.array(StaleEventJob)),
    purged: z.optional(SweepPurged),
    /** For a scheduled sweep: the ended executions whose end it handled because no event had. */
    reconciled: z.optional(z.array(ReconciledEnd)),
  }),
);
export type SweepStaleJobsOutput = z.infer<typeof SweepStaleJobsOutput>;
