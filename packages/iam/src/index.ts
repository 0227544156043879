/**
 * @sidestep/iam — IAM policy evaluation for the local cloud: the evaluator, the loader that reads a
 * stack's roles and resource policies from its synthesized Terraform, and the mapping from each
 * request the local endpoint serves to the IAM action and resource AWS checks.
 */

export type { ArnScope, AuthorizationCheck } from './authorization-check.ts';
export { cloudWatchAuthorization } from './cloudwatch-authorization.ts';
export type { ContextValue, RequestContext } from './condition-match.ts';
export { AuthorizationInputError, IamPolicyError, UnknownOperationError } from './errors.ts';
export {
  type ApplicablePolicies,
  type AuthorizationDecision,
  type AuthorizationRequest,
  accessDeniedMessage,
  evaluateRequest,
  type MatchedStatement,
  type PolicyType,
  principalDisplayName,
  type RequestPrincipal,
} from './evaluate-request.ts';
export {
  type EventsRequestTarget,
  eventBusArn,
  eventRuleArn,
  eventsAuthorization,
} from './events-authorization.ts';
export { type LambdaRequestTarget, lambdaAuthorization, lambdaFunctionArn } from './lambda-authorization.ts';
export {
  type LoadStackPoliciesOptions,
  loadStackPolicies,
  type ReferenceResolver,
  resourcePolicyFor,
  type StackPolicies,
  type StackRole,
  type SynthesizedTerraformJson,
} from './load-stack-policies.ts';
export { type LogsRequestTarget, logGroupArn, logsAuthorization } from './logs-authorization.ts';
export {
  type ConditionClause,
  type Policy,
  type PolicyDocument,
  type PolicyStatementDocument,
  parsePolicy,
  type Statement,
} from './policy.ts';
export {
  type S3RequestTarget,
  s3Authorization,
  s3BucketArn,
  s3ObjectArn,
  s3ReadsObject,
} from './s3-authorization.ts';
export {
  type SchedulerRequestTarget,
  scheduleArn,
  schedulerAuthorization,
} from './scheduler-authorization.ts';
export {
  type SecretsManagerRequestTarget,
  secretArn,
  secretsManagerAuthorization,
} from './secretsmanager-authorization.ts';
export { type SqsRequestTarget, sqsAuthorization, sqsQueueArn, sqsTargetOf } from './sqs-authorization.ts';
export { type StatesRequestTarget, statesAuthorization } from './states-authorization.ts';
export { tlsOnlyBucketPolicy } from './tls-only-policy.ts';
export { arnMatch, wildcardMatch } from './wildcard-match.ts';
