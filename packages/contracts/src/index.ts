export { type ContractIssue, ContractValidationError } from './contract-validation-error.ts';
export { EnvelopeId, envelope, SingleLine } from './envelope.ts';
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
  MAIL_LOCALES,
  MAIL_TEMPLATE_NAMES,
  type MailLocale,
  MailSendJob,
  type MailSendJobInput,
  MailSendPayload,
  type MailSendPayloadInput,
  type MailTemplateName,
  MailTemplateParams,
  type MailTemplateParamsOf,
} from './mail.ts';
export {
  FailJobInput,
  FinishJobInput,
  JobEvent,
  JobKind,
  JobRows,
  JobSource,
  JobState,
  RegisterJobInput,
  StartJobInput,
  StatusUpdateInput,
  type StatusUpdateInputOf,
  StatusUpdateOutput,
} from './status.ts';
