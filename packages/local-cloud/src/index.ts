/**
 * @sidestep/local-cloud: the embedded local cloud `pnpm start` runs. SQS and S3 on one endpoint
 * (fauxqs), job queues and DLQs from the service manifests, each service as warm sandboxes behind
 * the Lambda Runtime API, an SQS event source mapping emulator, an SMTP sink and PostgreSQL.
 */
export {
  type AwsEndpoint,
  type AwsEndpointOptions,
  LOCAL_ACCOUNT_ID,
  LOCAL_REGION,
  type QueuedMessage,
  startAwsEndpoint,
} from './aws-endpoint.ts';
export { type BatchVerdict, judgeBatchResponse } from './batch-response.ts';
export {
  type CollectingReporter,
  createCollectingReporter,
  ReportTimeoutError,
} from './collecting-reporter.ts';
export { type ConsoleReporterOptions, createConsoleReporter } from './console-reporter.ts';
export {
  type DeadLetterWatchOptions,
  ERROR_MESSAGE_ATTRIBUTE,
  ERROR_TYPE_ATTRIBUTE,
  SOURCE_MESSAGE_ID_ATTRIBUTE,
  watchDeadLetterQueue,
} from './dead-letter-watch.ts';
export {
  type EventSourceMapping,
  type EventSourceMappingOptions,
  type FunctionInvocationResult,
  type InvokeFunction,
  startEventSourceMapping,
} from './event-source-mapping.ts';
export {
  LOCAL_ENVIRONMENT,
  type LocalCloud,
  type LocalCloudOptions,
  type LocalService,
  startLocalCloud,
  UnknownQueueError,
  UnknownServiceError,
} from './local-cloud.ts';
export type { LocalCloudEvent, LocalCloudReporter } from './local-cloud-event.ts';
export { type LocalDatabase, type LocalDatabaseOptions, startLocalDatabase } from './local-database.ts';
export {
  createJobQueue,
  DEAD_LETTER_RETENTION_SECONDS,
  deadLetterQueueAttributes,
  type JobQueue,
  jobQueueAttributes,
  MAXIMUM_MESSAGE_SIZE_BYTES,
  MissingQueueError,
  type QueueAddress,
  type QueueScope,
  queueArn,
} from './queues.ts';
export {
  LOCAL_MAIL_FROM,
  type LocalResources,
  MissingLocalResourceError,
  needsDatabase,
  serviceEnvironment,
} from './service-environment.ts';
export { type DeliveredMail, type SmtpSink, type SmtpSinkOptions, startSmtpSink } from './smtp-sink.ts';
export {
  MalformedMessageError,
  type QueueLocation,
  type SqsEvent,
  type SqsEventRecord,
  toSqsEvent,
} from './sqs-event.ts';
