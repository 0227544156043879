import {
  type AuthorizationCheck,
  type AuthorizationDecision,
  accessDeniedMessage,
  evaluateRequest,
  loadStackPolicies,
  principalDisplayName,
  type RequestContext,
  type RequestPrincipal,
  resourcePolicyFor,
  type StackPolicies,
  type StackRole,
  type SynthesizedTerraformJson,
  s3BucketArn,
} from '@sidestep/iam';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION, localName, localSecretArn } from './local-names.ts';
import { firstHeaderValue } from './request-parts.ts';
import { isPresignedQuery } from './s3-presigned-url.ts';

/**
 * Who calls the local cloud: a role of the local stack (every service, task, workflow, pipe,
 * schedule and rule), an AWS service acting for a rule (`events.amazonaws.com` delivering to a
 * queue or function), an unsigned caller (a public function URL), or the operator: anyone whose
 * credentials name no role of the stack (the README's `local`/`local`, the AWS CLI's defaults),
 * who may do everything, as an administrator may on AWS.
 */
export type LocalCaller = RequestPrincipal | { readonly type: 'operator' };

/** EventBridge delivering a rule's event to a queue or function (their resource policies must allow it). */
export const EVENTBRIDGE: LocalCaller = { type: 'service', service: 'events.amazonaws.com' };

/** The operator: full access. */
export const OPERATOR: LocalCaller = { type: 'operator' };

/** An unsigned request: no identity, so only what a resource policy grants everyone. */
export const ANONYMOUS: LocalCaller = { type: 'anonymous' };

/** The access key id of the operator's local credentials (`local`/`local`, as the README gives them). */
export const LOCAL_OPERATOR_ACCESS_KEY_ID = 'local';

/**
 * The headers of the local cloud's own in-process calls to its endpoint (`app.inject`: an object's
 * existence for IAM's 404-or-403, the metadata of a written object for its event, a message move
 * task's sends): signed as the operator, as AWS's own work inside a service is not its callers'.
 * Only the key id is read (signatures are not verified).
 */
export const IN_PROCESS_CALL_HEADERS: Readonly<Record<string, string>> = {
  authorization: `AWS4-HMAC-SHA256 Credential=${LOCAL_OPERATOR_ACCESS_KEY_ID}/20260101/${LOCAL_REGION}/local/aws4_request, SignedHeaders=host, Signature=0`,
};

/** A request the policies refuse, with what AWS says about it. */
export interface AccessDenial {
  readonly caller: LocalCaller;
  /** The first check refused. */
  readonly action: string;
  readonly resource: string;
  /** AWS's sentence: `User: <session ARN> is not authorized to perform: <action> on resource: <arn> because ...`. */
  readonly message: string;
  /** The evaluator's decision, naming the statement that decided (for the console). */
  readonly decision: AuthorizationDecision | undefined;
}

/**
 * A call the policies refuse, thrown by in-process callers (a workflow's Lambda task, a pipe
 * starting an execution). `message` is AWS's AccessDenied text, so it names the role, the action
 * and the resource.
 */
export class AccessDeniedError extends Error {
  override readonly name = 'AccessDeniedException';
  readonly action: string;
  readonly resource: string;
  constructor(denial: AccessDenial) {
    super(denial.message);
    this.action = denial.action;
    this.resource = denial.resource;
  }
}

/** An identity the local cloud hands out that is not a role of the stack it enforces. */
export class UnknownLocalRoleError extends Error {
  override readonly name = 'UnknownLocalRoleError';
  readonly role: string;
  readonly field = 'stack';
  constructor(role: string, known: readonly string[]) {
    super(
      `the local cloud runs a caller as role ${role}, which the synthesized stack does not define (its roles: ${known.join(', ') || 'none'}); synthesize the stack from the same manifests`,
    );
    this.role = role;
  }
}

/**
 * An AWS service taking on a role of the stack to run a component (a function, a task, a state
 * machine, a rule's target, a pipe, a schedule): sts:AssumeRole by the service principal, with the
 * condition keys the service sets, which the role's trust policy (`assume_role_policy`) must allow.
 */
export interface RoleAssumption {
  /** The role's name, `sidestep-local-mail-dispatcher`. */
  readonly role: string;
  /** The service principal that assumes it, `lambda.amazonaws.com`. */
  readonly principal: string;
  /** What runs as the role, for the error: `function sidestep-local-mail-dispatcher`. */
  readonly component: string;
  /** The condition keys the service sends with the call (`aws:SourceArn`, `aws:SourceAccount`). */
  readonly context: RequestContext;
}

/**
 * A role's trust policy does not let the service that runs a component assume it: on AWS the
 * component would not run (Lambda's CreateFunction: "The role defined for the function cannot be
 * assumed by Lambda"; EventBridge's PutTargets: "Provided role ... cannot be assumed by principal
 * 'events.amazonaws.com'"), so the local cloud does not start it either.
 */
export class RoleNotAssumableError extends Error {
  override readonly name = 'RoleNotAssumableError';
  readonly role: string;
  readonly principal: string;
  readonly component: string;
  readonly field = 'stack';
  /** @param decision the evaluation of the trust policy; `undefined` when the role has none. */
  constructor(assumption: RoleAssumption, decision: AuthorizationDecision | undefined) {
    const sent = Object.entries(assumption.context).map(([key, value]) => `${key} ${String(value)}`);
    const why = !decision
      ? 'the stack gives the role no trust policy the local cloud can read'
      : decision.decision === 'explicit-deny'
        ? decision.reason
        : `no statement of its trust policy allows sts:AssumeRole by ${assumption.principal} ${
            sent.length > 0 ? `with ${sent.join(', ')}` : 'without a source key'
          }`;
    super(
      `role ${assumption.role} cannot be assumed by ${assumption.principal}, so AWS would not run ${assumption.component}: ${why}; fix the role's assume_role_policy`,
    );
    this.role = assumption.role;
    this.principal = assumption.principal;
    this.component = assumption.component;
  }
}

/** Options of {@link createLocalIam}. */
export interface LocalIamOptions {
  /** The synthesized Terraform JSON of the `sidestep-local` stack: the policies that deploy. */
  readonly stack: SynthesizedTerraformJson;
  /** Called with each refusal {@link LocalIam.assertAuthorized} throws for. */
  readonly onDenied?: (denial: AccessDenial) => void;
}

/** The local cloud's IAM: who a caller is and whether the stack's policies let it do something. */
export interface LocalIam {
  /** Whether calls are checked (false: `iam: false`, everyone acts as the operator). */
  readonly enforced: boolean;
  /** The stack's role names (the access key ids that act as a role). */
  readonly roleNames: readonly string[];
  /** What the loader could not read or resolve (those statements fail closed). */
  readonly warnings: readonly string[];
  /**
   * The caller an access key id stands for: the role of that name, the operator for any other key,
   * and anonymous for an unsigned request (`undefined`): S3 answers an unsigned request to a bucket
   * that blocks public access, as every sidestep bucket does, with 403 AccessDenied
   * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/access-control-block-public-access.html).
   * Locally the key id IS the identity: signatures are not verified (the secret key is never
   * checked), as every caller on a developer's loopback is trusted to say who it is; what is
   * enforced is what each role may do.
   */
  callerFor(accessKeyId: string | undefined): LocalCaller;
  /** The role of that name as a caller; throws {@link UnknownLocalRoleError} when enforcing and unknown. */
  role(name: string): LocalCaller;
  /**
   * Evaluates the service's sts:AssumeRole against the role's trust policy, as AWS does before the
   * service runs anything as the role; throws {@link RoleNotAssumableError} when it is not allowed
   * and {@link UnknownLocalRoleError} for a role the stack does not define.
   */
  assertAssumable(assumption: RoleAssumption): void;
  /** The first check the policies refuse, or `undefined` when all are allowed. */
  authorize(
    caller: LocalCaller,
    checks: readonly AuthorizationCheck[],
    context?: RequestContext,
  ): AccessDenial | undefined;
  /** {@link authorize}, throwing {@link AccessDeniedError} for a refusal. */
  assertAuthorized(
    caller: LocalCaller,
    checks: readonly AuthorizationCheck[],
    context?: RequestContext,
  ): void;
  /**
   * The bucket policy the stack attaches to a bucket and {@link authorize} enforces, as the JSON
   * document GetBucketPolicy answers (its Version and Statement, references resolved); `undefined`
   * when the bucket has none.
   */
  bucketPolicy(bucket: string): string | undefined;
}

/** How a caller is named in the console: a role's session ARN, a service, `anonymous`, `operator`. */
export function callerName(caller: LocalCaller): string {
  return caller.type === 'operator' ? 'operator' : principalDisplayName(caller);
}

/**
 * The local stand-in for the TLS endpoint of AWS: the local endpoint is plain HTTP on loopback,
 * yet it plays the part of `https://sqs.<region>.amazonaws.com`, so every request is evaluated with
 * `aws:SecureTransport` true; otherwise the deployed bucket policies (deny when
 * `aws:SecureTransport` is false) would refuse every local S3 call that succeeds on AWS.
 */
const TRANSPORT_CONTEXT: RequestContext = { 'aws:SecureTransport': true };

/** Everyone acts as the operator: `iam: false`, or no stack given. */
export const UNENFORCED_IAM: LocalIam = {
  enforced: false,
  roleNames: [],
  warnings: [],
  callerFor: () => OPERATOR,
  role: () => OPERATOR,
  assertAssumable: () => undefined,
  authorize: () => undefined,
  assertAuthorized: () => undefined,
  bucketPolicy: () => undefined,
};

/**
 * Checks a call EventBridge makes for a rule to a target that has no role (a function, a queue, the
 * target's dead-letter queue): as `events.amazonaws.com`, on the target's resource policy, with the
 * rule's ARN and account as `aws:SourceArn` / `aws:SourceAccount`
 * (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html); throws
 * {@link AccessDeniedError}.
 */
export function assertAuthorizedForRule(
  iam: LocalIam,
  ruleArn: string,
  checks: readonly AuthorizationCheck[],
): void {
  iam.assertAuthorized(EVENTBRIDGE, checks, {
    'aws:SourceArn': ruleArn,
    'aws:SourceAccount': LOCAL_ACCOUNT_ID,
  });
}

/**
 * Loads the stack's roles and resource policies (queue, bucket and function policies) with the
 * local cloud's account and region, resolving the references only a deployment knows: a secret's
 * ARN, whose random suffix Secrets Manager picks, becomes `<name>-local` ({@link localSecretArn}),
 * the ARN the local Secrets Manager gives the secret it creates for it (local-secrets.ts).
 */
export function createLocalIam(options: LocalIamOptions): LocalIam {
  const secrets = options.stack.resource?.aws_secretsmanager_secret ?? {};
  const stack: StackPolicies = loadStackPolicies(options.stack, {
    accountId: LOCAL_ACCOUNT_ID,
    region: LOCAL_REGION,
    resolve: (reference) => {
      const [type, id, attribute] = reference.split('.');
      const name = type === 'aws_secretsmanager_secret' && id ? secrets[id]?.name : undefined;
      if (typeof name !== 'string' || (attribute !== 'arn' && attribute !== 'id')) return undefined;
      return localSecretArn(name);
    },
  });
  const roleNames = [...stack.roles.keys()];
  const roleCaller = (role: StackRole): LocalCaller => ({
    type: 'role',
    roleArn: role.arn,
    // Lambda names a function's session after the function; the role's name stands in for all.
    sessionName: role.name,
  });
  const roleOf = (caller: LocalCaller): StackRole | undefined =>
    caller.type === 'role'
      ? stack.roles.get(caller.roleArn.slice(caller.roleArn.lastIndexOf('/') + 1))
      : undefined;

  const iam: LocalIam = {
    enforced: true,
    roleNames,
    warnings: stack.warnings,
    callerFor(accessKeyId) {
      if (accessKeyId === undefined) return ANONYMOUS;
      const role = stack.roles.get(accessKeyId);
      return role ? roleCaller(role) : OPERATOR;
    },
    role(name) {
      const role = stack.roles.get(name);
      if (!role) throw new UnknownLocalRoleError(name, roleNames);
      return roleCaller(role);
    },
    assertAssumable(assumption) {
      const role = stack.roles.get(assumption.role);
      if (!role) throw new UnknownLocalRoleError(assumption.role, roleNames);
      // The trust policy is the role's resource policy: for a service principal only it can allow.
      const decision = role.trustPolicy
        ? evaluateRequest(
            {
              principal: { type: 'service', service: assumption.principal },
              action: 'sts:AssumeRole',
              resource: role.arn,
              context: assumption.context,
            },
            { resourcePolicy: role.trustPolicy },
          )
        : undefined;
      if (decision?.decision === 'allow') return;
      throw new RoleNotAssumableError(assumption, decision);
    },
    authorize(caller, checks, context) {
      if (caller.type === 'operator') return undefined;
      const role = roleOf(caller);
      for (const check of checks) {
        const request = {
          principal: caller,
          action: check.action,
          resource: check.resource,
          context: { ...TRANSPORT_CONTEXT, ...context, ...check.context },
        };
        const resourcePolicy = check.resource === '*' ? undefined : resourcePolicyFor(stack, check.resource);
        const decision = evaluateRequest(request, {
          ...(role ? { identityPolicies: role.policies } : {}),
          ...(role?.permissionsBoundary ? { permissionsBoundary: role.permissionsBoundary } : {}),
          ...(resourcePolicy ? { resourcePolicy } : {}),
        });
        if (decision.decision !== 'allow') {
          return {
            caller,
            action: check.action,
            resource: check.resource,
            message: accessDeniedMessage(request, decision),
            decision,
          };
        }
      }
      return undefined;
    },
    assertAuthorized(caller, checks, context) {
      const denial = iam.authorize(caller, checks, context);
      if (!denial) return;
      options.onDenied?.(denial);
      throw new AccessDeniedError(denial);
    },
    bucketPolicy(bucket) {
      const policy = stack.resourcePolicies.get(s3BucketArn(bucket));
      if (!policy) return undefined;
      return JSON.stringify({ Version: policy.version, Statement: policy.statements.map((s) => s.source) });
    },
  };
  return iam;
}

/**
 * The role each local caller acts as: the names infra gives them in the `sidestep-local` stack (a
 * start-up check fails when the stack lacks one, so a rename in infra cannot silently turn a
 * caller into the operator).
 */
export const LOCAL_ROLES = {
  /** A Lambda function's execution role: `sidestep-local-<service>`. */
  service: (name: string) => localName(name),
  /** A Fargate task's task role (what its code calls AWS as): `sidestep-local-<task>-task`. */
  task: (name: string) => `${localName(name)}-task`,
  /** A task's execution role (what ECS pulls the image as), passed with the task role on RunTask. */
  taskExecution: (name: string) => `${localName(name)}-execution`,
  /** A state machine's role: named like the state machine, `sidestep-local-<workflow>`. */
  workflow: (name: string) => localName(name),
  /** An EventBridge rule's role (rules that start a state machine): `<rule name>`. */
  rule: (ruleName: string) => ruleName,
  /** A pipe's role: `sidestep-local-<source queue>-pipe`. */
  pipe: (queue: string) => `${localName(queue)}-pipe`,
  /** A schedule's role: `sidestep-local-<schedule>-schedule`. */
  schedule: (name: string) => `${localName(name)}-schedule`,
} as const;

/**
 * The access key id of a SigV4-signed request: from the `Authorization` header
 * (`AWS4-HMAC-SHA256 Credential=<AKID>/<date>/<region>/<service>/aws4_request, ...`) or a
 * presigned URL's `X-Amz-Credential`, only with every other parameter of one ({@link isPresignedQuery};
 * S3 answers a partial set with 400 AuthorizationQueryParametersError, s3-presigned-url.ts);
 * `undefined` for an unsigned request.
 */
export function accessKeyIdOf(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  query: URLSearchParams,
): string | undefined {
  const header = firstHeaderValue(headers.authorization);
  const fromHeader = header ? /Credential=([^/,\s]+)\//.exec(header)?.[1] : undefined;
  if (fromHeader) return fromHeader;
  const credential = isPresignedQuery(query) ? query.get('X-Amz-Credential') : null;
  return credential ? credential.split('/')[0] || undefined : undefined;
}
