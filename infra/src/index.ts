export {
  type EnvironmentConfig,
  environmentConfigs,
  type GitHubConfig,
  PLACEHOLDER,
  type PlaceholderSetting,
  placeholderSettings,
  type StateBackendConfig,
  validateEnvironmentConfig,
} from './config.ts';
export { BatchTask, type BatchTaskProps, type TaskNetworkConfig } from './constructs/batch-task.ts';
export { MAX_MESSAGE_SIZE_BYTES } from './constructs/dead-lettered-queue.ts';
export {
  DEPLOY_BRANCH,
  DeployRole,
  type DeployRoleProps,
  GITHUB_OIDC_AUDIENCE,
  GITHUB_OIDC_ISSUER,
} from './constructs/deploy-role.ts';
export { EventBus, type EventBusProps } from './constructs/event-bus.ts';
export { ExportDownload, type ExportDownloadProps } from './constructs/export-download.ts';
export {
  EXPORT_PART_TAG,
  EXPORTS_PREFIX,
  ExportsBucket,
  type ExportsBucketProps,
} from './constructs/exports-bucket.ts';
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
export { MailIdentity, type MailIdentityProps } from './constructs/mail-identity.ts';
export type { PermissionTarget, PermissionTargets } from './constructs/manifest-permissions.ts';
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
export { Workflow, type WorkflowProps } from './constructs/workflow.ts';
export { WorkflowQueue, type WorkflowQueueProps } from './constructs/workflow-queue.ts';
export { InfraConfigError } from './errors.ts';
export {
  checkSecurityPolicy,
  SECURITY_RULES,
  type SecurityRule,
  type SecurityViolation,
  type SynthesizedTerraform,
  UNSCOPABLE_ACTIONS,
} from './security-policy.ts';
export { SERVICES, TASKS } from './services.ts';
export { DeployStack, type DeployStackProps, SMOKE_CHECK_SERVICE } from './stacks/deploy-stack.ts';
export { EnvironmentStack, TERRAFORM_TARGET_VERSIONS } from './stacks/environment-stack.ts';
export { SidestepStack, type SidestepStackProps } from './stacks/sidestep-stack.ts';
export { synthStack } from './synth-stack.ts';
