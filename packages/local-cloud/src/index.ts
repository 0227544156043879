/**
 * @sidestep/local-cloud: the embedded local cloud `pnpm start` runs. SQS and S3 on one endpoint
 * (fauxqs), job queues and DLQs from the service manifests, each service as warm sandboxes behind
 * the Lambda Runtime API, an SQS event source mapping emulator, an SMTP sink and PostgreSQL; S3
 * "Object Created" events routed by EventBridge rules to Step Functions workflows (run with
 * aws-local-stepfunctions from the deployed definition, the Step Functions API on the same
 * endpoint), and Fargate tasks as child processes.
 */
export {
  type AwsEndpoint,
  type AwsEndpointOptions,
  AwsValidationError,
  type JsonApiHandler,
  JsonBodyError,
  LOCAL_ACCOUNT_ID,
  LOCAL_REGION,
  type QueuedMessage,
  startAwsEndpoint,
  UnknownOperationError,
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
  EVENT_BRIDGE_TARGET_PREFIX,
  type EventBridgeApiOptions,
  eventBridgeApi,
} from './event-bridge-api.ts';
export {
  compileEventPattern,
  type EventMatcher,
  type EventPattern,
  InvalidEventPatternError,
  matchesEventPattern,
} from './event-pattern.ts';
export {
  createEventRouter,
  DEFAULT_EVENT_BUS,
  type EventBridgeEvent,
  type EventRouter,
  type EventRouterOptions,
  type EventRule,
} from './event-router.ts';
export {
  type EventSourceMapping,
  type EventSourceMappingOptions,
  type FunctionInvocationResult,
  type InvokeFunction,
  startEventSourceMapping,
} from './event-source-mapping.ts';
export {
  type ContainerOverride,
  type FargateTask,
  type FargateTaskOptions,
  type FargateTaskResult,
  startFargateTask,
  UnknownContainerError,
} from './fargate-task.ts';
export {
  FUNCTION_URL_PATH_PREFIX,
  type FunctionUrlRequest,
  type FunctionUrlResponse,
  functionUrlEvent,
  functionUrlResponse,
} from './function-url.ts';
export {
  LOCAL_ENVIRONMENT,
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
  MissingTaskBundleError,
  startLocalCloud,
  UnknownQueueError,
  UnknownServiceError,
} from './local-cloud.ts';
export type { LocalCloudEvent, LocalCloudReporter } from './local-cloud-event.ts';
export { type LocalDatabase, type LocalDatabaseOptions, startLocalDatabase } from './local-database.ts';
export {
  type ObjectCreatedEvent,
  type ObjectCreatedReason,
  type ObjectWrite,
  objectCreatedEvent,
} from './object-created-event.ts';
export {
  createPipeSourceQueue,
  type Pipe,
  type PipeOptions,
  type PipeSourceQueue,
  type PipeSqsRecord,
  startPipe,
} from './pipe.ts';
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
  deliverFiring,
  type OperatorRulesOptions,
  operatorRules,
  type ScheduleDeliveryContext,
  UnknownScheduleTargetError,
} from './schedule-delivery.ts';
export {
  type ClockTimer,
  createVirtualClock,
  type NextFireTimes,
  REAL_CLOCK,
  SCHEDULER_CONTEXT_ATTRIBUTES,
  type ScheduleDefinition,
  type ScheduleFiring,
  type Scheduler,
  type SchedulerClock,
  type SchedulerOptions,
  scheduleFiring,
  startScheduler,
  type VirtualClock,
} from './scheduler.ts';
export {
  exportsBucketName,
  importsBucketName,
  LOCAL_MAIL_FROM,
  type LocalResources,
  MissingLocalResourceError,
  needsDatabase,
  serviceEnvironment,
  taskEnvironment,
} from './service-environment.ts';
export { type DeliveredMail, type SmtpSink, type SmtpSinkOptions, startSmtpSink } from './smtp-sink.ts';
export {
  MalformedMessageError,
  type QueueLocation,
  type SqsEvent,
  type SqsEventRecord,
  toSqsEvent,
} from './sqs-event.ts';
export {
  createLocalStepFunctions,
  ExecutionAlreadyExistsError,
  ExecutionDoesNotExistError,
  type ExecutionRecord,
  type ExecutionStatus,
  type HistoryEvent,
  InvalidExecutionInputError,
  InvalidNameError,
  type LocalStateMachine,
  type LocalStepFunctions,
  type LocalStepFunctionsOptions,
  StateMachineDoesNotExistError,
  type StateMachineSpec,
  StepFunctionsStoppedError,
  UnsupportedIntegrationError,
} from './step-functions.ts';
export {
  STEP_FUNCTIONS_TARGET_PREFIX,
  stepFunctionsApi,
} from './step-functions-api.ts';
export {
  ECS_RUN_TASK_SYNC,
  EcsInvalidParameterError,
  ecsRunTaskSync,
  LAMBDA_INVOKE,
  lambdaInvoke,
  type RunTaskOutcome,
  type RunTaskRequest,
  SQS_SEND_MESSAGE,
  StatesTaskError,
  sqsSendMessage,
  type TaskCall,
  type TaskIntegration,
} from './task-integrations.ts';
