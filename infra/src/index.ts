export {
  BATCH_CAPACITIES,
  type BatchCapacity,
  batchTaskArchitecture,
  type TaskArchitecture,
} from './batch-capacity.ts';
export {
  type EnvironmentConfig,
  environmentBucketName,
  environmentBucketSuffix,
  environmentConfigs,
  environmentMailMaxSendRate,
  type GitHubConfig,
  mailMaxSendRateSetting,
  PLACEHOLDER,
  type PlaceholderSetting,
  placeholderSettings,
  type StateBackendConfig,
  validateEnvironmentConfig,
} from './config.ts';
export { AlarmTopic, type AlarmTopicProps } from './constructs/alarm-topic.ts';
export { BatchTask, type BatchTaskProps, type TaskNetworkConfig } from './constructs/batch-task.ts';
export { ClaimCheckBucket, type ClaimCheckBucketProps } from './constructs/claim-check-bucket.ts';
export { MAX_MESSAGE_SIZE_BYTES } from './constructs/dead-lettered-queue.ts';
export {
  applyDeletionProtection,
  DATA_RESOURCE_TYPES,
  type DeletionProtectionOptions,
} from './constructs/deletion-protection.ts';
export {
  DEPLOY_BRANCH,
  DeployRole,
  type DeployRoleProps,
  GITHUB_OIDC_AUDIENCE,
  GITHUB_OIDC_ISSUER,
  INLINE_POLICIES_MAX_CHARACTERS,
  MANAGED_POLICY_MAX_CHARACTERS,
} from './constructs/deploy-role.ts';
export { EventBus, type EventBusProps } from './constructs/event-bus.ts';
export { ExportDownload, type ExportDownloadProps } from './constructs/export-download.ts';
export {
  EXPORT_PART_TAG,
  EXPORTS_PREFIX,
  ExportsBucket,
  type ExportsBucketProps,
} from './constructs/exports-bucket.ts';
export { FunctionAlarms, type FunctionAlarmsProps } from './constructs/function-alarms.ts';
export {
  GrantableRole,
  type GrantableRoleProps,
  type PolicyConditions,
  type PolicyGrantee,
  type PolicyStatement,
  statementId,
} from './constructs/grantable-role.ts';
export { ImageRepository, type ImageRepositoryProps } from './constructs/image-repository.ts';
export { JobQueue, type JobQueueProps } from './constructs/job-queue.ts';
export {
  CLOUDWATCH_RETENTION_DAYS,
  MAIL_EVENT_TYPES,
  MailEventLog,
  type MailEventLogProps,
  retentionDaysCovering,
} from './constructs/mail-event-log.ts';
export { MailIdentity, type MailIdentityProps } from './constructs/mail-identity.ts';
export type { PermissionTarget, PermissionTargets } from './constructs/manifest-permissions.ts';
export {
  NETWORK_INTERFACE_ENDPOINTS,
  Network,
  type NetworkProps,
  type NetworkSettings,
} from './constructs/network.ts';
export {
  applyPermissionsBoundary,
  BOUNDARY_DENIED_ACTIONS,
  BOUNDARY_SERVICES,
  PermissionsBoundaryPolicy,
  type PermissionsBoundaryPolicyProps,
  permissionsBoundaryArn,
  permissionsBoundaryName,
} from './constructs/permissions-boundary.ts';
export { S3Trigger, type S3TriggerProps, type TriggerTarget } from './constructs/s3-trigger.ts';
export {
  operatorRuleInput,
  Schedule,
  type ScheduleProps,
  type ScheduleTarget,
} from './constructs/schedule.ts';
export { ScheduleGroup, type ScheduleGroupProps } from './constructs/schedule-group.ts';
export {
  type FunctionVpcConfig,
  ServiceFunction,
  type ServiceFunctionProps,
} from './constructs/service-function.ts';
export {
  WORKFLOW_LOG_LEVELS,
  Workflow,
  type WorkflowLogSettings,
  type WorkflowProps,
} from './constructs/workflow.ts';
export { WorkflowEndedRule, type WorkflowEndedRuleProps } from './constructs/workflow-ended-rule.ts';
export { WorkflowQueue, type WorkflowQueueProps } from './constructs/workflow-queue.ts';
export { InfraConfigError } from './errors.ts';
export {
  checkFunctionEnvironments,
  type FunctionEnvironmentSize,
  functionEnvironmentSizes,
} from './function-environment.ts';
export {
  type PipelineCall,
  type PipelineScope,
  type PipelineStep,
  pipelineCalls,
} from './pipeline-actions.ts';
export {
  type ArnScope,
  environmentTags,
  PROVIDER_ACTIONS,
  type ProviderActions,
  type ProviderCall,
  providerCalls,
  type ResolvedProviderCall,
} from './provider-actions.ts';
export {
  checkSecurityPolicy,
  SECURITY_RULES,
  type SecurityRule,
  type SecurityViolation,
  type SynthesizedTerraform,
  UNSCOPABLE_ACTIONS,
} from './security-policy.ts';
export { SERVICES, TASKS } from './services.ts';
export {
  DeployStack,
  type DeployStackProps,
  MIGRATION_TASK,
  SMOKE_CHECK_SERVICE,
} from './stacks/deploy-stack.ts';
export { EnvironmentStack, TERRAFORM_TARGET_VERSIONS } from './stacks/environment-stack.ts';
export { SidestepStack, type SidestepStackProps } from './stacks/sidestep-stack.ts';
export { synthStack, withTestingApp } from './synth-stack.ts';
