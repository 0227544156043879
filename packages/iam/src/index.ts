/**
 * @sidestep/iam — IAM policy evaluation for the local cloud: the evaluator, the loader that reads a
 * stack's roles and resource policies from its synthesized Terraform, and the mapping from each
 * request the local endpoint serves to the IAM action and resource AWS checks.
 */
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
  type LoadStackPoliciesOptions,
  loadStackPolicies,
  type ReferenceResolver,
  resourcePolicyFor,
  type StackPolicies,
  type StackRole,
  type SynthesizedTerraformJson,
} from './load-stack-policies.ts';
export {
  type ConditionClause,
  type Policy,
  type PolicyDocument,
  type PolicyStatementDocument,
  parsePolicy,
  type Statement,
} from './policy.ts';
export { arnMatch, wildcardMatch } from './wildcard-match.ts';
