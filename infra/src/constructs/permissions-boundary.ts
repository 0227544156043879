import { IamPolicy } from '@cdktn/provider-aws/lib/iam-policy/index.js';
import { IamRole } from '@cdktn/provider-aws/lib/iam-role/index.js';
import { Aspects, type IAspect } from 'cdktn';
import { Construct, type IConstruct } from 'constructs';
import { policyDocument, secretKeyStatement } from './grantable-role.ts';

/**
 * Services the environment stack's roles act on (functions, the Fargate task, workflows, pipes, schedules,
 * rules): the boundary allows these and nothing else, so a role the deploy role writes can never hold
 * more, whatever its inline policy says. `ec2` is for Lambda's network interfaces in a VPC. No `sns` or
 * `kms`: alarms publish to the alarm topic, and use its key, as CloudWatch's service principal (the
 * topic and key policies allow it), never through a role of the stack. The one KMS use of a role, a
 * customer-managed key of the database secret, is allowed on that key alone
 * ({@link PermissionsBoundaryPolicyProps.databaseSecretKey}).
 */
export const BOUNDARY_SERVICES = [
  'ec2',
  'ecr',
  'ecs',
  'events',
  'lambda',
  'logs',
  's3',
  'secretsmanager',
  'ses',
  'sqs',
  'states',
  'xray',
] as const;

/**
 * IAM changes no role under the boundary may make, however its inline policy reads: IAM writes (a role
 * that could write roles could write itself out of the boundary), and organization or account changes.
 */
export const BOUNDARY_DENIED_ACTIONS = [
  'iam:Add*',
  'iam:Attach*',
  'iam:Change*',
  'iam:Create*',
  'iam:Delete*',
  'iam:Detach*',
  'iam:Put*',
  'iam:Remove*',
  'iam:Set*',
  'iam:Tag*',
  'iam:Untag*',
  'iam:Update*',
  'iam:Upload*',
  'organizations:*',
  'account:*',
] as const;

/** `sidestep-<env>-boundary`: the boundary policy's name. */
export function permissionsBoundaryName(prefix: string): string {
  return `${prefix}-boundary`;
}

/** ARN of the boundary of the environment whose names start with `prefix` (`sidestep-staging`). */
export function permissionsBoundaryArn(accountId: string, prefix: string): string {
  return `arn:aws:iam::${accountId}:policy/${permissionsBoundaryName(prefix)}`;
}

/** Props of {@link PermissionsBoundaryPolicy}. */
export interface PermissionsBoundaryPolicyProps {
  /** `sidestep-<env>`: the policy is `<prefix>-boundary`, the roles it lets pass `<prefix>-*`. */
  readonly prefix: string;
  readonly accountId: string;
  /**
   * The customer-managed key the database secret is encrypted with (`SIDESTEP_<ENV>_DATABASE_SECRET_KMS_KEY_ARN`),
   * and the region its Secrets Manager is in: the boundary allows `kms:Decrypt` on exactly that key
   * through Secrets Manager, which the roles reading the secret are granted.
   * @default none: no `kms` action at all
   */
  readonly databaseSecretKey?: { readonly keyArn: string; readonly region: string };
}

/**
 * The customer-managed policy every role of an environment stack carries as its permissions boundary
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html). A boundary grants
 * nothing; it caps what the role's own policy can grant. So it names whole services (the roles' inline
 * policies name exact actions and resources) and denies IAM writes outright. Created by the deploy stack,
 * which an administrator applies, so the deploy role can neither create nor change it.
 */
export class PermissionsBoundaryPolicy extends Construct {
  readonly policy: IamPolicy;
  /** `arn:aws:iam::<account>:policy/<prefix>-boundary`, known before apply. */
  readonly policyArn: string;

  constructor(scope: Construct, id: string, props: PermissionsBoundaryPolicyProps) {
    super(scope, id);
    const name = permissionsBoundaryName(props.prefix);
    this.policyArn = permissionsBoundaryArn(props.accountId, props.prefix);
    this.policy = new IamPolicy(this, 'policy', {
      name,
      description: `Permissions boundary of every ${props.prefix}-* role: the services the stack uses, no IAM writes`,
      policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'ServicesOfTheStack',
            Effect: 'Allow',
            Action: BOUNDARY_SERVICES.map((service) => `${service}:*`),
            Resource: '*',
          },
          ...(props.databaseSecretKey
            ? (
                policyDocument([
                  {
                    sid: 'DecryptDatabaseSecret',
                    ...secretKeyStatement(props.databaseSecretKey.keyArn, props.databaseSecretKey.region),
                  },
                ]) as { Statement: object[] }
              ).Statement
            : []),
          {
            // Workflows pass the task roles to ECS; only roles of the environment.
            Sid: 'PassEnvironmentRoles',
            Effect: 'Allow',
            Action: 'iam:PassRole',
            Resource: `arn:aws:iam::${props.accountId}:role/${props.prefix}-*`,
          },
          {
            Sid: 'NoIamOrAccountChanges',
            Effect: 'Deny',
            Action: [...BOUNDARY_DENIED_ACTIONS],
            Resource: '*',
          },
        ],
      }),
    });
  }
}

/** Sets `permissions_boundary` on every `aws_iam_role` in the scope it is added to. */
class PermissionsBoundaryAspect implements IAspect {
  readonly #policyArn: string;
  constructor(policyArn: string) {
    this.#policyArn = policyArn;
  }

  visit(node: IConstruct): void {
    if (node instanceof IamRole) node.permissionsBoundary = this.#policyArn;
  }
}

/**
 * Puts the boundary on every role created under `scope` (as aws-cdk-lib's `PermissionsBoundary.of`): one
 * line in a stack instead of a prop threaded through every construct that makes a role, and a role added
 * later cannot be forgotten.
 */
export function applyPermissionsBoundary(scope: IConstruct, policyArn: string): void {
  Aspects.of(scope).add(new PermissionsBoundaryAspect(policyArn));
}
