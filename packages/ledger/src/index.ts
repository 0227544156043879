/**
 * @sidestep/ledger — the jobs ledger as operators read it and act on it: the {@link Ledger} port,
 * its SQL adapter (`SqlLedger`), and both ends of the `ops-ledger` function's wire (the request
 * answerer the function runs, the result decoder `@sidestep/ops`' Lambda adapter uses). Shared by
 * the function and the operator tools, which is why it is not part of `@sidestep/ops` (the registry
 * lists the function, and ops reads the registry).
 */
export { type AnswerOptions, answerLedgerRequest, parseLedgerRequest } from './answer-ledger-request.ts';
export {
  JobNotFoundError,
  JobStateError,
  LedgerError,
  LedgerInvokeError,
  LedgerRequestError,
  LedgerSchemaError,
  MailRecordNotReleasableError,
} from './errors.ts';
export type {
  AuditEntry,
  ExportProgress,
  FailedJob,
  ImportStaging,
  JobCounts,
  JobDetail,
  JobPage,
  JobSummary,
  JobTransitionEntry,
  Ledger,
  MailRecord,
  RejectedRow,
  RejectedRowPage,
  ReleasedMail,
  SweepMail,
} from './ledger.ts';
export { ledgerResult } from './ledger-wire.ts';
export {
  type DeletedJobs,
  deleteAuditEntries,
  deleteFinishedJobs,
  JOBS_FINISHED_INDEX,
} from './retention.ts';
export { idempotencyRecordHash, jobMailKeys, latestRedriveCount, SqlLedger } from './sql-ledger.ts';
