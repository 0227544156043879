/**
 * @sidestep/ops — operating sidestep: queues and their dead letters, workflow executions, the jobs
 * ledger, mails' send-once records, schedules and failed asynchronous invocations, through the AWS SDK v3 and the ledger's database,
 * so the same calls serve the local cloud and a real account. Every action that changes something
 * is recorded in the `operator_audit` trail. The `sidestep` CLI and the web console sit on it.
 */
export {
  type AuditEntry,
  type ExportProgress,
  type FailedJob,
  type ImportStaging,
  idempotencyRecordHash,
  type JobCounts,
  type JobDetail,
  JobNotFoundError,
  type JobPage,
  JobStateError,
  type JobSummary,
  type JobTransitionEntry,
  type Ledger,
  LedgerError,
  LedgerInvokeError,
  type MailRecord,
  MailRecordNotReleasableError,
  type RejectedRow,
  type RejectedRowPage,
  type ReleasedMail,
  SqlLedger,
  type SweepMail,
} from '@sidestep/ledger';
export {
  type AsyncFailure,
  type AsyncFailureStatus,
  AsyncReinvokeError,
  type AsyncTrigger,
  asyncFailureStatuses,
  describeTrigger,
  listAsyncFailures,
  REINVOKE_LIMIT,
  type ReinvokedFailure,
  type ReinvokeOptions,
  type ReinvokeResult,
  reinvokeAsyncFailures,
} from './async-failures.ts';
export { type AuditAction, audited, listAudit, pageAudit } from './audit.ts';
export {
  ExecutionNotFoundError,
  ExecutionStillRunningError,
  InvalidOptionError,
  MailMaybeSentError,
  MailSearchError,
  OpsError,
  RetryExecutionNameTakenError,
  RetryInputNotFoundError,
  UnknownNameError,
  UnsupportedLocallyError,
} from './errors.ts';
export {
  describeExecution,
  durationMs,
  type ExecutionDetail,
  type ExecutionStep,
  type ExecutionSummary,
  type ListExecutionsOptions,
  listExecutions,
  pageExecutions,
  redriveExecution,
  STOP_CAUSE_MAX_LENGTH,
  STOPPED_BY_OPERATOR,
  type StoppedJob,
  type StoppedJobOutcome,
  startExecution,
  stepsOf,
  stopExecution,
  workflowDefinition,
} from './executions.ts';
export { type QueuedFailureMail, queueFailureMail } from './failure-mail.ts';
export {
  allRejectedRows,
  describeJob,
  executionRunsJob,
  type FailedJobResult,
  failJob,
  type JobExecution,
  type JobView,
  type ListJobsOptions,
  type ListRejectedRowsOptions,
  listJobs,
  listRejectedRows,
  MAX_REJECTED_ROWS_PAGE,
  pageJobs,
  type RetriedJob,
  rejectedRowsCsv,
  retryJob,
} from './jobs.ts';
export { LambdaLedger } from './lambda-ledger.ts';
export {
  type CheckedReleasedMail,
  type FindMailOptions,
  findMail,
  MAIL_EVENT_RETENTION_DAYS,
  MAIL_RECORD_EXPIRED,
  type MailEventRecord,
  type MailSearch,
  type MailSearchCaveat,
  type MailVerdict,
  mailRecordExpired,
  type ReleaseMailOptions,
  releaseMail,
} from './mail.ts';
export { hasRedriveSource, QUEUES, WORKFLOWS } from './names.ts';
export {
  createOpsContext,
  environmentName,
  LOCAL_CLOUD,
  type OpsClients,
  type OpsContext,
  type OpsContextOptions,
  serviceEndpoint,
} from './ops-context.ts';
export {
  isOutboxFile,
  OUTBOX_FILE_NAME,
  type OutboxMailHeaders,
  outboxFiles,
  outboxMailsWithHeader,
} from './outbox.ts';
export type { Page } from './page.ts';
export {
  checkDeadLetter,
  type DeadLetter,
  DRY_RUN_LIMIT,
  followMoveTask,
  listDeadLetters,
  MessageMoveTaskError,
  NoRedriveSourceError,
  oldestMessageAges,
  type QueueStatus,
  queueStatuses,
  type RedriveCheck,
  type RedriveOptions,
  type RedriveProgress,
  type RedriveResult,
  type RuleDeadLetterStatus,
  redriveDeadLetters,
  ruleDeadLetterStatuses,
} from './queues.ts';
export {
  type FiredSchedule,
  fireSchedule,
  listSchedules,
  OperatorEventRejectedError,
  pauseSchedule,
  resumeSchedule,
  type ScheduleSummary,
  scheduleGroupName,
  wallClock,
} from './schedules.ts';
export { type EnvironmentStatus, type JobsStatus, status, type WorkflowStatus } from './status.ts';
