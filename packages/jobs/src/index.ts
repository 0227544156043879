/**
 * @sidestep/jobs — the jobs ledger: the job state machine, the one place that moves a job in the
 * `jobs` table (`fireJobEvent`, with its audit row in `job_transitions`), the status a step reports,
 * and the ledger's errors. The status-updater (a workflow's steps) and the job-sweeper (jobs stuck
 * past their deadline) both move jobs through it, so both obey the same table and leave the same
 * audit trail.
 */

export { completionMail } from './completion-mail.ts';
export {
  ExportResultMissingError,
  InvalidTransitionError,
  JobLedgerError,
  JobLedgerUnavailableError,
  JobNotFoundError,
  ledgerError,
  RowCountsMissingError,
} from './errors.ts';
export { escapeNul } from './escape-nul.ts';
export {
  attemptKey,
  type FailedJobMailFacts,
  failureMail,
  failureMailId,
  jobMailKey,
  SWEEP_MAIL_PENDING,
} from './failure-mail.ts';
export {
  type CaughtError,
  failureReason,
  MAX_REASON_LENGTH,
  UNKNOWN_FAILURE_REASON,
} from './failure-reason.ts';
export { fileNameOf, MAX_FILE_NAME_LENGTH, type SourceIdentity, sourceIdentity } from './job-source.ts';
export {
  assertFinishable,
  deadlineMissedReason,
  HAND_OVER_DEADLINE_SECONDS,
  handOverMissedReason,
  JOB_DEADLINE_SECONDS,
  JOB_TRANSITIONS,
  type JobTransition,
  nextState,
  startDeadlineSeconds,
  TERMINAL_STATES,
} from './job-state-machine.ts';
export {
  type FireJobEventOptions,
  fireJobEvent,
  JOB_COLUMNS,
  type JobRow,
  lockJob,
  recordedOutput,
  recordTransition,
  rejectedSamplesOf,
  snapshot,
} from './jobs-ledger.ts';
export { completeOutput, type JobSnapshot, statusOutput } from './status-output.ts';
