/**
 * @sidestep/local-cloud: the embedded local cloud `pnpm start` runs. SQS and S3 on one endpoint
 * (fauxqs), job queues and DLQs from the service manifests, each service as warm sandboxes behind
 * the Lambda Runtime API, an SQS event source mapping emulator, an SMTP sink and PostgreSQL; S3
 * "Object Created" events routed by EventBridge rules to Step Functions workflows (run with
 * aws-local-stepfunctions from the deployed definition, the Step Functions API on the same
 * endpoint), and Fargate tasks as child processes.
 *
 * The public API is {@link startLocalCloud}, its options and result types, and the few parts other
 * packages' tests run on their own (the SQS + S3 endpoint, the SMTP sink, Step Functions, the
 * reporters, a virtual clock). Everything else is internal: the package's own tests import it by
 * relative path.
 */

// Parts other packages' tests start on their own.
export { type AwsEndpoint, type AwsEndpointOptions, startAwsEndpoint } from './aws-endpoint.ts';
export { type CollectingReporter, createCollectingReporter } from './collecting-reporter.ts';
export { type ConsoleReporterOptions, createConsoleReporter } from './console-reporter.ts';
// What a start refuses to start on: a damaged state file, a state dir it cannot write.
export { CorruptStateError } from './corrupt-state-error.ts';
// Step Functions' "Execution Status Change" event of an execution (what the workflow-ended rule delivers).
export { type ExecutionStatusChangeEvent, executionStatusChangeEvent } from './execution-status-event.ts';
// The local cloud: what `pnpm start` and the end-to-end tests start.
export {
  type LocalCloud,
  type LocalCloudOptions,
  type LocalFunctionUrl,
  type LocalPipe,
  type LocalSchedules,
  type LocalService,
  type LocalServiceUrls,
  type LocalTask,
  type LocalWorkflow,
  type LocalWorkflowResources,
  type LocalWorkflowTrigger,
  MissingServiceBundleError,
  MissingTaskBundleError,
  RoleNotAssumableError,
  startLocalCloud,
  UnknownQueueError,
  UnknownServiceError,
} from './local-cloud.ts';
// What the local cloud reports, and two reporters: the console's and one tests wait on.
export type { LocalCloudEvent, LocalCloudReporter } from './local-cloud-event.ts';
export { LocalCloudStartError } from './local-cloud-start-error.ts';
export {
  DatabasePortInUseError,
  DatabaseUrlError,
  DEFAULT_DATABASE_PORT,
  type LocalDatabase,
  type LocalDatabaseOptions,
  startLocalDatabase,
} from './local-database.ts';
export {
  clearLocalCloudState,
  hasLocalCloudState,
  LOCAL_STATE,
  lockStateDir,
  STATE_DIR_LOCK,
  StateDirInUseError,
  type StateDirLock,
} from './local-state.ts';
export type { PipeSourceQueue } from './pipe.ts';
// Types the local cloud's options and result name.
export type { JobQueue } from './queues.ts';
export type {
  NextFireTimes,
  ScheduleDefinition,
  Scheduler,
  SchedulerClock,
  VirtualClock,
} from './scheduler.ts';
export { createVirtualClock } from './scheduler.ts';
export { claimCheckBucketName, exportsBucketName } from './service-environment.ts';
export {
  type DeliveredMail,
  type SmtpSink,
  type SmtpSinkOptions,
  startSmtpSink,
  type ThrottledMail,
} from './smtp-sink.ts';
// The event Lambda's SQS event source mapping builds from received messages (also for benchmarks).
export { type QueueLocation, type SqsEvent, toSqsEvent } from './sqs-event.ts';
export { StateDirNotWritableError } from './state-dir.ts';
export {
  createLocalStepFunctions,
  type LocalStepFunctions,
  type LocalStepFunctionsOptions,
} from './step-functions.ts';
export { STEP_FUNCTIONS_TARGET_PREFIX } from './step-functions-api.ts';
