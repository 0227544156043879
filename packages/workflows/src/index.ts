export type {
  Branch,
  Catcher,
  ChoiceState,
  ChoiceTest,
  FailState,
  Json,
  MapState,
  ParallelState,
  PassState,
  PayloadTemplate,
  Retrier,
  State,
  StateMachineDefinition,
  SucceedState,
  TaskState,
  WaitState,
} from './asl.ts';
export {
  type BatchWorkerProps,
  DEFAULT_BATCH_TASK_TIMEOUT_SECONDS,
  jobDeadlineSeconds,
  MAX_BATCH_TASK_TIMEOUT_SECONDS,
} from './batch-task.ts';
export {
  EVENTBRIDGE_DEFAULT_RETRY_POLICY,
  type EventRetryPolicy,
  S3_TRIGGER_RETRY_POLICY,
} from './event-retry-policy.ts';
export {
  type ExecutionStatusEventPattern,
  type ExecutionStatusRule,
  executionStatusRule,
} from './execution-status-rule.ts';
export { EXPORT_REQUESTS_QUEUE, type ExportWorkflowProps, exportWorkflow } from './export-workflow.ts';
export {
  type ImportEventPattern,
  type ImportTrigger,
  type ImportTriggerOptions,
  importTrigger,
} from './import-trigger.ts';
export { type ImportWorkflowProps, importWorkflow } from './import-workflow.ts';
export { INTEGRATION } from './integration.ts';
export { InvalidScheduleError } from './invalid-schedule-error.ts';
export { InvalidWorkflowPropsError } from './invalid-workflow-props-error.ts';
export { nextFireTimes } from './next-fire-times.ts';
export {
  ECS_CAPACITY_ERRORS,
  ECS_CAPACITY_RETRY,
  ECS_CAPACITY_WAIT_SECONDS,
  ECS_START_ERRORS,
  ECS_START_RETRY,
  FARGATE_RUN_TASK_RATE,
  FARGATE_VCPU_LIMIT_REASON,
  retryWaitSeconds,
  TRANSIENT_ECS_ERRORS,
  TRANSIENT_EXPORT_FINALIZER_ERRORS,
  TRANSIENT_LAMBDA_ERRORS,
  TRANSIENT_SQS_ERRORS,
  TRANSIENT_STATUS_UPDATER_ERRORS,
} from './retry.ts';
export {
  defineSchedules,
  LOCAL_NOTIFY_ADDRESS,
  OPERATOR_EVENT_SOURCE,
  type OperatorEventPattern,
  operatorEventPattern,
  SCHEDULE_FIRED,
  SCHEDULES,
  type ScheduleDefinition,
  type ScheduleOptions,
  type ScheduleTarget,
} from './schedules.ts';
export {
  type WorkflowIntegration,
  WorkflowIntegrationError,
  workflowIntegrations,
} from './workflow-integrations.ts';
