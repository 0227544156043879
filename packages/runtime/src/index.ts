/**
 * @sidestep/runtime — what every sidestep Lambda service is built on: typed errors, the SQS batch
 * handler with dead-lettering, the task handler for Step Functions and scheduled tasks, isolation
 * between warm invocations, and configuration from the environment.
 */

export { ClaimCheckStore } from './claim-check.ts';
export {
  DATABASE_ENVIRONMENT,
  databaseSource,
  databaseUrlSource,
  type Environment,
  type ResolveDatabaseUrlOptions,
  readConfig,
  resolveDatabaseUrl,
} from './config.ts';
export {
  createSqsHandler,
  defaultMetrics,
  METRICS_NAMESPACE,
  type RecordContext,
  SQS_HANDLER_METRICS,
  type SqsBatchHandler,
  type SqsHandlerOptions,
} from './create-sqs-handler.ts';
export {
  createTaskHandler,
  type TaskContext,
  type TaskHandler,
  type TaskHandlerOptions,
  type TaskResult,
} from './create-task-handler.ts';
export {
  DEAD_LETTER_ATTRIBUTES,
  type DeadLetterResult,
  MAX_ERROR_MESSAGE_LENGTH,
  MAX_MESSAGE_ATTRIBUTES,
  sendToDeadLetterQueue,
} from './dead-letter-queue.ts';
export {
  ClaimCheckMissingError,
  ClaimCheckUnavailableError,
  ConfigError,
  DeadLetterSendError,
  describeCause,
  InvalidInputError,
  InvalidJsonError,
  isDeferredError,
  isPermanentError,
  isTransientError,
  PermanentError,
  type SchemaIssue,
  SchemaViolationError,
  SecretUnavailableError,
  SidestepError,
  type SidestepErrorOptions,
  TransientError,
} from './errors.ts';
export {
  type InvocationHandler,
  type InvocationState,
  type IsolateOptions,
  invocationState,
  isolate,
} from './isolate.ts';
export { type DatabaseErrorFields, isDatabaseError, loggableError } from './loggable-error.ts';
export { shellQuote } from './shell-quote.ts';
