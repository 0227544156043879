import { IamRole } from '@cdktn/provider-aws/lib/iam-role/index.js';
import { IamRolePolicy } from '@cdktn/provider-aws/lib/iam-role-policy/index.js';
import { Lazy } from 'cdktn';
import { Construct } from 'constructs';
import { InfraConfigError } from '../errors.ts';

/**
 * One statement for a role's policy: exact actions on exact resources, allowed unless `effect` says Deny.
 *
 * @example
 * ```ts
 * role.addToPolicy({ sid: 'ConsumeMailQueue', actions: ['sqs:ReceiveMessage'], resources: [queue.arn] });
 * ```
 */
export interface PolicyStatement {
  /** Statement id: alphanumeric, says what the statement is for. */
  readonly sid: string;
  /** Exact IAM actions (`service:Action`); wildcards are rejected. */
  readonly actions: readonly string[];
  /** Exact resource ARNs (Terraform references allowed). `*` only with {@link unscopableReason}. */
  readonly resources: readonly string[];
  /**
   * Why these actions cannot be scoped to a resource (the service reference lists no resource type
   * for them). Required when `resources` is `['*']`, forbidden otherwise.
   * @default none: the statement must name exact resources
   */
  readonly unscopableReason?: string;
  /**
   * `Deny` takes the actions away whatever else allows them (guard rails such as keeping a permissions
   * boundary in place).
   * @default 'Allow'
   */
  readonly effect?: 'Allow' | 'Deny';
  /**
   * Who the statement lets act, in a resource policy (a log group's, a topic's, a repository's), e.g.
   * `{ Service: 'events.amazonaws.com' }`; an identity policy (a role's) names none.
   * @default none
   */
  readonly principal?: { readonly Service: string };
  /**
   * IAM conditions narrowing the statement further, e.g. `iam:PassedToService` on `iam:PassRole`.
   * @default none
   */
  readonly conditions?: PolicyConditions;
}

/** IAM condition block: operator -> key -> one value or any of several (`StringLike`, `ArnLike`, ...). */
export type PolicyConditions = Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;

/** Something that holds its own inline policy and can be granted statements: a function's role, a workflow's role. */
export interface PolicyGrantee {
  /** Adds an exact statement to the grantee's own inline policy. */
  addToPolicy(statement: PolicyStatement): void;
}

/** Props of {@link GrantableRole}. */
export interface GrantableRoleProps {
  /** IAM role name, e.g. `sidestep-staging-mail-dispatcher`. */
  readonly roleName: string;
  /**
   * Who assumes the role: a service principal (`lambda.amazonaws.com`, with `sts:AssumeRole`) or an
   * OIDC identity provider (`{ federated: <provider ARN> }`, with `sts:AssumeRoleWithWebIdentity`;
   * then `assumeRoleConditions` must say which tokens, or any token the provider issues would do).
   */
  readonly assumedBy: string | { readonly federated: string };
  /**
   * Description shown in the IAM console.
   * @default none
   */
  readonly description?: string;
  /**
   * Conditions on the trust policy, e.g. `aws:SourceArn` / `aws:SourceAccount`, so the service can
   * assume the role only on behalf of the resource it belongs to (confused deputy prevention).
   * https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html
   * @default none
   */
  readonly assumeRoleConditions?: PolicyConditions;
}

/**
 * Builds an IAM statement id from words: `statementId('consume', 'mail-jobs')` -> `ConsumeMailJobs`
 * (Sids are alphanumeric).
 */
export function statementId(...words: readonly string[]): string {
  return words
    .join('-')
    .replace(/(^|[-_\s])([a-zA-Z0-9])/g, (_match, _separator, letter: string) => letter.toUpperCase());
}

const ACTION = /^[a-z0-9-]+:[A-Za-z0-9]+$/;
const SID = /^[A-Za-z0-9]+$/;

/**
 * An IAM role whose permissions live in exactly one inline policy, built from the statements granted
 * to it. No managed policies and no `aws_iam_policy_attachment`: what the role may do is readable in
 * one document next to the role (STYLE.md, "Constructs").
 */
export class GrantableRole extends Construct implements PolicyGrantee {
  /** The role resource. */
  readonly resource: IamRole;
  /** The role's single inline policy; depend on it when AWS checks permissions at create time. */
  readonly policy: IamRolePolicy;
  /** Role ARN. */
  readonly roleArn: string;
  /** Role name. */
  readonly roleName: string;
  readonly #statements: PolicyStatement[] = [];

  constructor(scope: Construct, id: string, props: GrantableRoleProps) {
    super(scope, id);
    const federated = typeof props.assumedBy === 'string' ? undefined : props.assumedBy.federated;
    if (federated !== undefined && !props.assumeRoleConditions) {
      // A web identity trust without conditions trusts every token of the provider: every GitHub repository.
      throw new InfraConfigError(
        `${this.node.path}.assumeRoleConditions`,
        'a federated principal needs conditions',
      );
    }
    this.resource = new IamRole(this, 'role', {
      name: props.roleName,
      description: props.description,
      assumeRolePolicy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Principal: federated === undefined ? { Service: props.assumedBy } : { Federated: federated },
            Action: federated === undefined ? 'sts:AssumeRole' : 'sts:AssumeRoleWithWebIdentity',
            ...(props.assumeRoleConditions ? { Condition: props.assumeRoleConditions } : {}),
          },
        ],
      }),
    });
    this.roleArn = this.resource.arn;
    this.roleName = this.resource.name;
    // Lazy: grants arrive after construction (a queue grants its consumer), the document is rendered at synth.
    this.policy = new IamRolePolicy(this, 'policy', {
      name: props.roleName,
      role: this.resource.name,
      policy: Lazy.stringValue({ produce: () => JSON.stringify(this.policyDocument()) }),
    });
  }

  /** Adds an exact statement to this role's inline policy; identical statements are added once. */
  addToPolicy(statement: PolicyStatement): void {
    const field = `${this.node.path}.policy.${statement.sid}`;
    checkStatement(field, statement);
    const existing = this.#statements.find((s) => s.sid === statement.sid);
    if (existing) {
      if (JSON.stringify(existing) === JSON.stringify(statement)) return;
      throw new InfraConfigError(field, 'a different statement with this sid was already granted');
    }
    this.#statements.push(statement);
  }

  private policyDocument(): object {
    return policyDocument(this.#statements);
  }
}

/**
 * Throws {@link InfraConfigError} at `field` unless the statement is exact: alphanumeric sid, exact
 * actions, resources, and `*` only for an Allow with an {@link PolicyStatement.unscopableReason} (a Deny
 * on `*` only takes permissions away).
 */
export function checkStatement(field: string, statement: PolicyStatement): void {
  if (!SID.test(statement.sid)) throw new InfraConfigError(field, 'sid must be alphanumeric');
  if (statement.actions.length === 0) throw new InfraConfigError(field, 'actions must not be empty');
  for (const action of statement.actions) {
    if (!ACTION.test(action)) throw new InfraConfigError(field, `"${action}" is not an exact IAM action`);
  }
  if (statement.resources.length === 0) throw new InfraConfigError(field, 'resources must not be empty');
  const wildcard = statement.resources.includes('*');
  if (statement.effect === 'Deny') {
    if (statement.unscopableReason) throw new InfraConfigError(field, 'a Deny needs no unscopableReason');
    return;
  }
  if (wildcard && (statement.resources.length !== 1 || !statement.unscopableReason)) {
    throw new InfraConfigError(field, 'resource "*" needs an unscopableReason and no other resources');
  }
  if (!wildcard && statement.unscopableReason) {
    throw new InfraConfigError(field, 'unscopableReason is only for resource "*"');
  }
}

/**
 * The condition that keeps a KMS permission to the requests `service` makes on the caller's behalf in
 * `region` (`kms:ViaService`, e.g. `secretsmanager.eu-west-1.amazonaws.com`): a role may decrypt a
 * secret it reads, but not call KMS with the key directly.
 * https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
 */
export function viaService(service: string, region: string): PolicyConditions {
  return { StringEquals: { 'kms:ViaService': serviceEndpoint(service, region) } };
}

/** `<service>.<region>.amazonaws.com`: the value of `kms:ViaService` in a request `service` makes. */
export function serviceEndpoint(service: string, region: string): string {
  return `${service}.${region}.amazonaws.com`;
}

/**
 * `kms:Decrypt` on exactly `keyArn` through Secrets Manager only: what reading a secret encrypted with
 * a customer-managed key needs besides `secretsmanager:GetSecretValue` (Secrets Manager decrypts with
 * the caller's permissions; the AWS-managed `aws/secretsmanager` key needs no grant).
 * https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html
 */
export function secretKeyStatement(keyArn: string, region: string): Omit<PolicyStatement, 'sid'> {
  return { actions: ['kms:Decrypt'], resources: [keyArn], conditions: viaService('secretsmanager', region) };
}

/** The IAM policy document of the statements, in their order. */
export function policyDocument(statements: readonly PolicyStatement[]): object {
  return {
    Version: '2012-10-17',
    Statement: statements.map((s) => ({
      Sid: s.sid,
      Effect: s.effect ?? 'Allow',
      ...(s.principal ? { Principal: s.principal } : {}),
      Action: [...s.actions],
      Resource: s.resources.length === 1 ? s.resources[0] : [...s.resources],
      ...(s.conditions ? { Condition: s.conditions } : {}),
    })),
  };
}
