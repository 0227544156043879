/**
 * IAM policy evaluation for the requests the local cloud serves, after AWS's evaluation logic
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
 *
 * Written here rather than taken from a library: @cloud-copilot/iam-simulate is AGPL-3.0, which
 * sidestep's users may not accept, and pbac (MIT, last released years ago) reads only the first key
 * of each condition operator, returns the key's name for an absent key instead of failing the
 * condition, matches actions case-sensitively, and has no permissions boundaries and no split
 * between identity and resource policies. sidestep's policies use a small subset of the language;
 * this evaluator implements that subset with AWS's semantics and rejects the rest at load time.
 */
import {
  conditionClauseMatches,
  type NormalizedContext,
  normalizeContext,
  type RequestContext,
} from './condition-match.ts';
import type { ConditionClause, Policy, PolicyStatementDocument, PrincipalSet, Statement } from './policy.ts';
import { arnMatch, wildcardMatch } from './wildcard-match.ts';

/** Who makes the request. */
export type RequestPrincipal =
  /** A session of an IAM role (every sidestep service, task, workflow, pipe and schedule). */
  | {
      readonly type: 'role';
      /** `arn:aws:iam::<account>:role/<path><name>`. */
      readonly roleArn: string;
      /** The session's name; the session ARN is `arn:aws:sts::<account>:assumed-role/<name>/<session>`. */
      readonly sessionName?: string;
    }
  /** An AWS service acting on its own behalf (EventBridge delivering to a queue: `events.amazonaws.com`). */
  | { readonly type: 'service'; readonly service: string }
  /** An unsigned request (a public function URL). */
  | { readonly type: 'anonymous' };

/** One authorization question: may this principal perform this action on this resource? */
export interface AuthorizationRequest {
  readonly principal: RequestPrincipal;
  /** `service:Action`, e.g. `sqs:SendMessage`. */
  readonly action: string;
  /** The resource's ARN, or `*` for actions without a resource type. */
  readonly resource: string;
  /**
   * The account that owns the resource. Defaults to the account in the resource ARN, or, for ARNs
   * without one (S3), the principal's own account.
   */
  readonly resourceAccount?: string;
  /** Condition keys of the request (`aws:SecureTransport`, `aws:SourceArn`, `s3:prefix`, ...). */
  readonly context?: RequestContext;
}

/** The policies that apply to a request. */
export interface ApplicablePolicies {
  /** The role's identity-based policies (inline and managed). */
  readonly identityPolicies?: readonly Policy[];
  /** The role's permissions boundary, when it has one. */
  readonly permissionsBoundary?: Policy;
  /** The resource's policy (bucket policy, queue policy, function policy), when it has one. */
  readonly resourcePolicy?: Policy;
}

export type PolicyType = 'identity' | 'resource' | 'permissions-boundary';

/** The statement that decided a request. */
export interface MatchedStatement {
  readonly policy: string;
  readonly policyType: PolicyType;
  readonly sid?: string;
  readonly index: number;
  readonly statement: PolicyStatementDocument;
}

export interface AuthorizationDecision {
  readonly decision: 'allow' | 'explicit-deny' | 'implicit-deny';
  /** The Allow that granted, or the Deny that refused; absent for an implicit deny. */
  readonly matchedStatement?: MatchedStatement;
  /** For an implicit deny: the kind of policy that has no Allow for the request. */
  readonly missingAllow?: PolicyType;
  /** A sentence naming the principal, action, resource and the policy that decided. */
  readonly reason: string;
}

/**
 * How a resource policy's `Principal` names the caller: its session, its role (`entity`), its account
 * (the account id or `:root`, which delegates to the account's identity-based policies), a service,
 * or everyone (`*`).
 */
type PrincipalMatch = 'session' | 'entity' | 'account' | 'service' | 'everyone';

function accountOf(arn: string): string | undefined {
  return arn.split(':')[4] || undefined;
}

function roleName(roleArn: string): string {
  return roleArn.slice(roleArn.lastIndexOf('/') + 1);
}

function sessionArn(principal: Extract<RequestPrincipal, { type: 'role' }>): string | undefined {
  if (principal.sessionName === undefined) return undefined;
  const partition = principal.roleArn.split(':')[1] ?? 'aws';
  return `arn:${partition}:sts::${accountOf(principal.roleArn) ?? ''}:assumed-role/${roleName(principal.roleArn)}/${principal.sessionName}`;
}

/** How AWS names the caller in an AccessDenied message. */
export function principalDisplayName(principal: RequestPrincipal): string {
  if (principal.type === 'role') return sessionArn(principal) ?? principal.roleArn;
  if (principal.type === 'service') return principal.service;
  return 'anonymous';
}

/** The global condition keys AWS sets from the principal itself. */
function principalContext(principal: RequestPrincipal): RequestContext {
  if (principal.type === 'role') {
    return {
      'aws:PrincipalArn': principal.roleArn,
      'aws:PrincipalAccount': accountOf(principal.roleArn),
      'aws:PrincipalType': 'AssumedRole',
      'aws:PrincipalIsAWSService': false,
    };
  }
  if (principal.type === 'service') {
    return { 'aws:PrincipalServiceName': principal.service, 'aws:PrincipalIsAWSService': true };
  }
  return {};
}

/**
 * Substitutes policy variables (`${aws:username}`, `${aws:PrincipalTag/team, 'none'}`) in a
 * 2012-10-17 policy. A variable the request lacks, with no default, makes the value `undefined`,
 * which matches nothing, as in IAM.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
 */
function substitute(value: string, version: string, context: NormalizedContext): string | undefined {
  if (version !== '2012-10-17' || !value.includes('${')) return value;
  let missing = false;
  const out = value.replace(/\$\{([^}]*)\}/g, (whole, inner: string) => {
    // ${*}, ${?} and ${$} stand for the character itself; here they keep their wildcard meaning,
    // which no sidestep policy relies on.
    if (inner === '*' || inner === '?' || inner === '$') return inner;
    const m = /^\s*([^,\s]+)\s*(?:,\s*'([^']*)'\s*)?$/.exec(inner);
    if (!m?.[1]?.includes(':')) return whole;
    const found = context.get(m[1].toLowerCase());
    if (found?.length === 1 && found[0] !== undefined) return found[0];
    if (m[2] !== undefined) return m[2];
    missing = true;
    return '';
  });
  return missing ? undefined : out;
}

function principalMatch(set: PrincipalSet, principal: RequestPrincipal): PrincipalMatch | undefined {
  if (set === '*' || set.AWS?.includes('*')) return 'everyone';
  if (principal.type === 'service') return set.Service?.includes(principal.service) ? 'service' : undefined;
  if (principal.type !== 'role') return undefined;
  const aws = set.AWS ?? [];
  const session = sessionArn(principal);
  if (session !== undefined && aws.includes(session)) return 'session';
  const account = accountOf(principal.roleArn) ?? '';
  const partition = principal.roleArn.split(':')[1] ?? 'aws';
  if (aws.includes(principal.roleArn)) return 'entity';
  if (aws.includes(account) || aws.includes(`arn:${partition}:iam::${account}:root`)) return 'account';
  return undefined;
}

/**
 * Whether a `NotPrincipal` list exempts the principal. AWS evaluates a role session together with its
 * role and its account, so a session is exempt only when the session ARN, the role ARN and the account
 * are all listed (IAM User Guide, "NotPrincipal"); listing the role alone does not exempt its sessions.
 */
function notPrincipalExempts(set: PrincipalSet, principal: RequestPrincipal): boolean {
  if (set === '*' || set.AWS?.includes('*')) return true;
  if (principal.type === 'service') return set.Service?.includes(principal.service) ?? false;
  if (principal.type !== 'role') return false;
  const aws = set.AWS ?? [];
  const account = accountOf(principal.roleArn) ?? '';
  const partition = principal.roleArn.split(':')[1] ?? 'aws';
  const session = sessionArn(principal);
  return (
    (session === undefined || aws.includes(session)) &&
    aws.includes(principal.roleArn) &&
    (aws.includes(account) || aws.includes(`arn:${partition}:iam::${account}:root`))
  );
}

function actionMatches(statement: Statement, action: string): boolean {
  // Actions are case-insensitive (`SQS:sendmessage` is `sqs:SendMessage`).
  if (statement.action) return statement.action.some((p) => wildcardMatch(p, action, true));
  return !(statement.notAction ?? []).some((p) => wildcardMatch(p, action, true));
}

function resourceMatches(
  statement: Statement,
  policy: Policy,
  resource: string,
  context: NormalizedContext,
  implicitResource: boolean,
): boolean {
  const matches = (patterns: readonly string[]): boolean =>
    patterns.some((p) => {
      const pattern = substitute(p, policy.version, context);
      return pattern !== undefined && arnMatch(pattern, resource);
    });
  if (statement.resource) return matches(statement.resource);
  if (statement.notResource) return !matches(statement.notResource);
  // A resource-based policy may leave Resource out: it is the resource it is attached to.
  return implicitResource;
}

function conditionsMatch(
  clauses: readonly ConditionClause[],
  policy: Policy,
  context: NormalizedContext,
): boolean {
  return clauses.every((clause) =>
    conditionClauseMatches(
      clause,
      clause.values.map((v) => substitute(v, policy.version, context)),
      context,
    ),
  );
}

interface Found {
  readonly policy: Policy;
  readonly statement: Statement;
  readonly principalMatch?: PrincipalMatch;
}

function find(
  policies: readonly Policy[],
  effect: 'Allow' | 'Deny',
  request: AuthorizationRequest,
  context: NormalizedContext,
  resourcePolicy: boolean,
  hasBoundary = false,
  accept: (match: PrincipalMatch) => boolean = () => true,
): Found | undefined {
  for (const policy of policies) {
    for (const statement of policy.statements) {
      if (statement.effect !== effect || !actionMatches(statement, request.action)) continue;
      // Unresolved references fail closed: an Allow never grants, a Deny applies on its action alone.
      if (statement.unresolved.length > 0) {
        if (effect === 'Deny') return { policy, statement };
        continue;
      }
      let matched: PrincipalMatch | undefined;
      if (resourcePolicy) {
        if (statement.principal) {
          matched = principalMatch(statement.principal, request.principal);
          if (!matched || !accept(matched)) continue;
        } else if (statement.notPrincipal) {
          // A Deny with NotPrincipal always denies a principal that has a permissions boundary
          // (IAM User Guide, "Permissions boundaries for IAM entities").
          if (!hasBoundary && notPrincipalExempts(statement.notPrincipal, request.principal)) continue;
          matched = 'everyone';
        } else {
          continue;
        }
      }
      if (!resourceMatches(statement, policy, request.resource, context, resourcePolicy)) continue;
      if (!conditionsMatch(statement.conditions, policy, context)) continue;
      return { policy, statement, ...(matched ? { principalMatch: matched } : {}) };
    }
  }
  return undefined;
}

function matched(found: Found, policyType: PolicyType): MatchedStatement {
  return {
    policy: found.policy.name,
    policyType,
    ...(found.statement.sid !== undefined ? { sid: found.statement.sid } : {}),
    index: found.statement.index,
    statement: found.statement.source,
  };
}

function statementName(found: Found): string {
  const id = found.statement.sid ?? `#${found.statement.index}`;
  return `statement ${id} of ${found.policy.name}`;
}

const POLICY_TYPE_TEXT: Record<PolicyType, string> = {
  identity: 'identity-based policy',
  resource: 'resource-based policy',
  'permissions-boundary': 'permissions boundary',
};

/**
 * The message AWS gives for a denied request, naming the principal, action, resource and the kind
 * of policy that denied (IAM User Guide, "Access denied error messages").
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
 */
export function accessDeniedMessage(request: AuthorizationRequest, decision: AuthorizationDecision): string {
  const who = `User: ${principalDisplayName(request.principal)} is not authorized to perform: ${request.action} on resource: ${request.resource}`;
  if (decision.decision === 'explicit-deny' && decision.matchedStatement) {
    return `${who} with an explicit deny in a ${POLICY_TYPE_TEXT[decision.matchedStatement.policyType]}`;
  }
  const missing = decision.missingAllow ?? 'identity';
  return `${who} because no ${POLICY_TYPE_TEXT[missing]} allows the ${request.action} action`;
}

/**
 * Decides one request with AWS's evaluation logic: an explicit Deny in any applicable policy wins;
 * within one account an Allow in the identity policies or in the resource policy suffices; a
 * permissions boundary must also allow, except for a resource policy that names the role session
 * itself (a resource policy naming the role or the account is limited by the boundary, one naming
 * the session is not); across accounts both sides must allow; otherwise the request is implicitly
 * denied. Services and anonymous callers have no identity policies: only the resource policy can
 * grant them anything.
 */
export function evaluateRequest(
  request: AuthorizationRequest,
  policies: ApplicablePolicies,
): AuthorizationDecision {
  const { principal } = request;
  const context = normalizeContext(principalContext(principal), request.context);
  const isRole = principal.type === 'role';
  const identity = isRole ? (policies.identityPolicies ?? []) : [];
  const boundary = isRole ? policies.permissionsBoundary : undefined;
  const resource = policies.resourcePolicy ? [policies.resourcePolicy] : [];
  const subject = `${principalDisplayName(principal)} performing ${request.action} on ${request.resource}`;

  const denies: [Found | undefined, PolicyType][] = [
    [find(identity, 'Deny', request, context, false), 'identity'],
    [boundary ? find([boundary], 'Deny', request, context, false) : undefined, 'permissions-boundary'],
    [find(resource, 'Deny', request, context, true, boundary !== undefined), 'resource'],
  ];
  for (const [found, policyType] of denies) {
    if (!found) continue;
    const unresolved = found.statement.unresolved;
    return {
      decision: 'explicit-deny',
      matchedStatement: matched(found, policyType),
      reason: `${subject} is explicitly denied by ${statementName(found)}${
        unresolved.length > 0 ? ` (its references ${unresolved.join(', ')} could not be resolved)` : ''
      }`,
    };
  }

  const identityAllow = find(identity, 'Allow', request, context, false);
  const boundaryAllows = !boundary || find([boundary], 'Allow', request, context, false) !== undefined;
  // Each path below scans the resource policy once, for the Allow it counts.
  const resourceAllow = () => find(resource, 'Allow', request, context, true);
  const allow = (found: Found, policyType: PolicyType): AuthorizationDecision => ({
    decision: 'allow',
    matchedStatement: matched(found, policyType),
    reason: `${subject} is allowed by ${statementName(found)}`,
  });
  const implicit = (missingAllow: PolicyType, why: string): AuthorizationDecision => ({
    decision: 'implicit-deny',
    missingAllow,
    reason: `${subject} is implicitly denied: ${why}`,
  });

  if (!isRole) {
    const found = resourceAllow();
    return found ? allow(found, 'resource') : implicit('resource', 'no resource-based policy allows it');
  }
  const principalAccount = accountOf(principal.roleArn);
  const resourceAccount = request.resourceAccount ?? accountOf(request.resource) ?? principalAccount;
  const boundaryText = boundary ? `the permissions boundary ${boundary.name} does not allow it` : '';

  if (resourceAccount !== principalAccount) {
    if (!identityAllow) return implicit('identity', 'no identity-based policy allows it (cross-account)');
    if (!boundaryAllows) return implicit('permissions-boundary', boundaryText);
    if (!resourceAllow()) return implicit('resource', 'no resource-based policy allows it (cross-account)');
    return allow(identityAllow, 'identity');
  }
  // In the account, a resource policy grants on its own only where it names the caller (its role or
  // session) or everyone: one that names the account delegates to the account's identity-based
  // policies ("delegates authority to the account",
  // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-accounts).
  const resourceGrant = find(resource, 'Allow', request, context, true, false, (m) => m !== 'account');
  if (resourceGrant && (resourceGrant.principalMatch === 'session' || boundaryAllows)) {
    return allow(resourceGrant, 'resource');
  }
  if (identityAllow && boundaryAllows) return allow(identityAllow, 'identity');
  if (identityAllow || resourceGrant) return implicit('permissions-boundary', boundaryText);
  return implicit(
    'identity',
    policies.resourcePolicy
      ? `neither the identity-based policies nor ${policies.resourcePolicy.name} allow it`
      : 'no identity-based policy allows it',
  );
}
