export {
  type ContractIssue,
  ContractValidationError,
  contractIssuesOf,
} from './contract-validation-error.ts';
export { EnvelopeId, envelope, SingleLine } from './envelope.ts';
export { SidestepError, type SidestepErrorOptions } from './errors.ts';
export {
  defaultExportFileName,
  ExportFileName,
  ExportFilter,
  ExportRequestedJob,
  type ExportRequestedJobInput,
  ExportRequestedPayload,
  ExportWorkerManifest,
  ExportWorkerPart,
  FinalizeExportInput,
  FinalizeExportOutput,
  MAX_EXPORT_PARTS,
} from './export.ts';
export {
  contractFor,
  createJob,
  JOB_CONTRACTS,
  type Job,
  type JobInput,
  type JobPayloadInput,
  type JobType,
  type JobVersion,
  parseJob,
  validate,
} from './jobs.ts';
export {
  AuditRecord,
  LedgerAction,
  LedgerQuery,
  LedgerRequest,
  type LedgerResponse,
} from './ledger-request.ts';
export {
  MAIL_LOCALES,
  MAIL_TEMPLATE_NAMES,
  MAX_REJECTED_SAMPLES,
  type MailLocale,
  MailSendJob,
  type MailSendJobInput,
  MailSendPayload,
  type MailSendPayloadInput,
  type MailTemplateName,
  MailTemplateParams,
  type MailTemplateParamsOf,
  RejectedRowSample,
} from './mail.ts';
export {
  ExportJobRequest,
  ExportJobResult,
  FailJobInput,
  FinishJobInput,
  JobEvent,
  JobKind,
  JobRows,
  JobSource,
  JobState,
  RegisterExportJobInput,
  RegisterImportJobInput,
  RegisterJobInput,
  StartJobInput,
  StatusUpdateInput,
  type StatusUpdateInputOf,
  StatusUpdateOutput,
  SweepStaleJobsInput,
  SweepStaleJobsOutput,
  SweptJob,
} from './status.ts';
