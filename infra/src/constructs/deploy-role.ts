import { IamOpenidConnectProvider } from '@cdktn/provider-aws/lib/iam-openid-connect-provider/index.js';
import { IamPolicy } from '@cdktn/provider-aws/lib/iam-policy/index.js';
import { IamRolePolicyAttachment } from '@cdktn/provider-aws/lib/iam-role-policy-attachment/index.js';
import type { EnvironmentName } from '@sidestep/manifest';
import { Construct } from 'constructs';
import type { GitHubConfig, StateBackendConfig } from '../config.ts';
import { InfraConfigError } from '../errors.ts';
import { NETWORK_DESCRIBE_ACTIONS, VENDED_LOG_DELIVERY_ACTIONS } from '../security-policy.ts';
import { batchTaskNames } from './batch-task.ts';
import { ForgottenResource } from './forgotten-resource.ts';
import {
  checkStatement,
  GrantableRole,
  type PolicyStatement,
  policyDocument,
  secretKeyStatement,
  viaService,
} from './grantable-role.ts';
import { permissionsBoundaryArn } from './permissions-boundary.ts';

/** The issuer of GitHub Actions' OIDC tokens (without `https://`, as IAM condition keys name it). */
export const GITHUB_OIDC_ISSUER = 'token.actions.githubusercontent.com';
/** The audience aws-actions/configure-aws-credentials requests. */
export const GITHUB_OIDC_AUDIENCE = 'sts.amazonaws.com';
/** The branch merges deploy from. */
export const DEPLOY_BRANCH = 'main';
/** IAM's limit on all inline policies of one role together, counted without whitespace. */
export const INLINE_POLICIES_MAX_CHARACTERS = 10_240;
/** IAM's limit on one customer-managed policy, counted without whitespace. */
export const MANAGED_POLICY_MAX_CHARACTERS = 6_144;

/** Props of {@link DeployRole}. */
export interface DeployRoleProps {
  /** `staging` or `production`: the role may manage only `sidestep-<environment>-*` resources. */
  readonly environment: Exclude<EnvironmentName, 'local'>;
  /** The account the environment lives in. */
  readonly accountId: string;
  /** The environment's region. */
  readonly region: string;
  /** The repository whose workflows may assume the role. */
  readonly github: GitHubConfig;
  /**
   * GitHub environments (Settings > Environments) whose jobs may assume the role.
   * @default [environment]
   */
  readonly githubEnvironments?: readonly string[];
  /**
   * Also trust jobs on `main` that name no environment (`repo:<owner>/<repo>:ref:refs/heads/main`).
   * Such a job skips the environment's protection rules (required reviewers), so `DeployStack` turns
   * this on for staging only: production is reachable only through its approved environment.
   * @default false
   */
  readonly trustDeployBranch?: boolean;
  /** The environment stack's state (its object and its `.tflock`; the deploy stack's own state is not granted). */
  readonly state: StateBackendConfig;
  /** ECR repositories the pipeline pushes to, e.g. `sidestep-staging-mail-dispatcher`. */
  readonly repositoryNames: readonly string[];
  /** Functions the pipeline rolls to their new image, e.g. `sidestep-staging-mail-dispatcher`. */
  readonly functionNames: readonly string[];
  /** The functions the smoke check invokes after the apply (one of `functionNames`), e.g. `sidestep-staging-job-sweeper`. */
  readonly smokeCheckFunctionNames: readonly string[];
  /**
   * The buckets the stack manages, by their exact names (`environmentBucketName`): S3 names are global,
   * so a `sidestep-<env>-*` pattern would also cover buckets the stack does not own.
   */
  readonly bucketNames: readonly string[];
  /** The SES identity the stack manages (the mail domain, else the from address). */
  readonly mailIdentity: string;
  /**
   * The Fargate task (manifest name, e.g. `batch-worker`) the pipeline runs once per deploy to migrate
   * the database: `ecs:RunTask` of its family in its cluster, and its two roles passed to ECS.
   * @default none: no task is run
   */
  readonly migrationTask?: string;
  /** The database secret the preflight reads (its shape). @default none: the preflight cannot look */
  readonly databaseSecretArn?: string;
  /**
   * The customer-managed key the database secret is encrypted with: the preflight's GetSecretValue
   * decrypts with it (`kms:Decrypt` through Secrets Manager). @default none: `aws/secretsmanager`
   */
  readonly databaseSecretKmsKeyArn?: string;
  /** The hosted zone the stack writes the mail domain's records to. @default none: no Route 53 rights */
  readonly hostedZoneId?: string;
  /** The database security group a created network admits the workload to. @default none */
  readonly databaseSecurityGroupId?: string;
  /** A configured alarm topic (not the stack's) the alarm email subscribes to. @default the stack's own */
  readonly alarmTopicArn?: string;
}

/** The EC2 calls that create what a `Network` makes; the request carries the environment's tags. */
const NETWORK_CREATE_ACTIONS = [
  'ec2:CreateVpc',
  'ec2:CreateSubnet',
  'ec2:CreateRouteTable',
  'ec2:CreateSecurityGroup',
  'ec2:CreateVpcEndpoint',
] as const;
/** The EC2 resource types a `Network` makes. */
const NETWORK_RESOURCE_TYPES = [
  'vpc',
  'subnet',
  'route-table',
  'security-group',
  'security-group-rule',
  'vpc-endpoint',
] as const;
/** ECS's service-linked role (the preflight checks it exists). */
const ECS_SERVICE_LINKED_ROLE_PATH = 'aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS';

/** The provider's default tags (`SidestepStack`) as `aws:RequestTag/<key>` or `aws:ResourceTag/<key>` conditions. */
function tagConditions(kind: 'RequestTag' | 'ResourceTag', environment: string): Record<string, string> {
  return { [`aws:${kind}/project`]: 'sidestep', [`aws:${kind}/environment`]: environment };
}

/**
 * The GitHub Actions OIDC provider (unless the account already has one: `github.oidcProviderArn`) and
 * the role the deploy workflow assumes with it: no access keys. Trusted only for tokens of this
 * repository's GitHub environment (`repo:<owner>/<repo>:environment:<env>`) and, with
 * `trustDeployBranch`, of its `main` branch (`repo:<owner>/<repo>:ref:refs/heads/main`), with the STS
 * audience; allowed what the deploy does:
 * push to the service repositories, read and write the stack's state and lock file, apply the stack,
 * roll the functions and invoke the smoke check.
 *
 * Applying the stack needs create/update/delete rights on what it manages. They are scoped by name to
 * `sidestep-<env>-*` per service, never `service:*` actions; what IAM cannot scope is listed where it
 * is granted. The role itself is named `sidestep-deploy-<env>`, outside that prefix, so it cannot
 * rewrite its own policy or trust. Every role it writes must carry the environment's permissions
 * boundary (`PermissionsBoundaryPolicy`), so it cannot grant a role more than the boundary allows.
 *
 * The pipeline's own rights (push, state, smoke check) and the guard rails are the role's inline policy;
 * the `terraform apply` rights do not fit in the 10,240 characters IAM allows a role's inline policies,
 * so they are customer-managed policies `sidestep-deploy-<env>-apply-<n>` (6,144 characters each) of
 * this construct, attached with `aws_iam_role_policy_attachment` (which, unlike
 * `aws_iam_policy_attachment`, does not claim the policy's attachments account-wide).
 */
export class DeployRole extends Construct {
  /** The role. */
  readonly role: GrantableRole;
  /** ARN of the role, for `role-to-assume`. */
  readonly roleArn: string;
  /** ARN of the OIDC provider the role trusts. */
  readonly oidcProviderArn: string;
  /** The `sub` claims the trust accepts (exact; matched with `StringEquals`). */
  readonly subjects: readonly string[];
  /** The customer-managed policies with the `terraform apply` rights, attached to the role. */
  readonly applyPolicies: readonly IamPolicy[];

  constructor(scope: Construct, id: string, props: DeployRoleProps) {
    super(scope, id);
    const { environment, github } = props;
    const field = (name: string): string => `${environment}.deploy.${name}`;
    if (props.repositoryNames.length === 0)
      throw new InfraConfigError(field('repositoryNames'), 'must not be empty');
    if (props.functionNames.length === 0)
      throw new InfraConfigError(field('functionNames'), 'must not be empty');
    const prefix = `sidestep-${environment}`;
    for (const name of props.smokeCheckFunctionNames) {
      if (!props.functionNames.includes(name))
        throw new InfraConfigError(field('smokeCheckFunctionNames'), `"${name}" is not one of functionNames`);
    }
    for (const [list, names] of [
      ['repositoryNames', props.repositoryNames],
      ['functionNames', props.functionNames],
      ['bucketNames', props.bucketNames],
    ] as const) {
      for (const name of names) {
        if (!name.startsWith(`${prefix}-`) || /[*?]/.test(name))
          throw new InfraConfigError(field(list), `"${name}" is not an exact ${prefix}-* name`);
      }
    }
    const githubEnvironments = props.githubEnvironments ?? [environment];
    for (const name of githubEnvironments) {
      // `:` would let one environment name forge another claim shape; wildcards would widen the trust.
      if (!/^[A-Za-z0-9._-]+$/.test(name))
        throw new InfraConfigError(field('githubEnvironments'), `"${name}" is not a plain environment name`);
    }

    if (github.oidcProviderArn) {
      this.oidcProviderArn = github.oidcProviderArn;
      // Given the ARN, a stack that created the provider before forgets it: without the resource block,
      // its prevent_destroy is gone too, and the apply would delete the provider another environment's
      // deploy role trusts. A stack that never created it has no such address; the block does nothing.
      new ForgottenResource(this, 'github-oidc', { resourceType: IamOpenidConnectProvider.tfResourceType });
    } else {
      // No thumbprint: IAM trusts GitHub's issuer through its own root CAs since 2023, and the
      // provider (hashicorp/aws 6.x) makes thumbprint_list optional.
      // Account-wide: another environment's deploy role in the account may trust it by ARN
      // (`oidcProviderArn`), so a destroy of this stack must not delete it, in teardown mode neither
      // (README, "Tearing an environment down": set the ARN and apply, which forgets it, first).
      const provider = new IamOpenidConnectProvider(this, 'github-oidc', {
        url: `https://${GITHUB_OIDC_ISSUER}`,
        clientIdList: [GITHUB_OIDC_AUDIENCE],
        lifecycle: { preventDestroy: true },
      });
      this.oidcProviderArn = provider.arn;
    }

    const repo = `repo:${github.owner}/${github.repository}`;
    this.subjects = [
      // A job with `environment:` gets this claim instead of its ref. The environment's protection rules
      // decide whether such a job runs at all: deployment branches = main (else any branch could claim
      // the environment), production also required reviewers (infra/README.md, "Bootstrap").
      ...githubEnvironments.map((name) => `${repo}:environment:${name}`),
      ...(props.trustDeployBranch ? [`${repo}:ref:refs/heads/${DEPLOY_BRANCH}`] : []),
    ];
    this.role = new GrantableRole(this, 'role', {
      roleName: `sidestep-deploy-${environment}`,
      description: `GitHub Actions deploys of ${github.owner}/${github.repository} to ${environment}`,
      assumedBy: { federated: this.oidcProviderArn },
      assumeRoleConditions: {
        // StringEquals, not StringLike: the subjects are exact, so no pattern can match a fork, a
        // pull request (`:pull_request`) or another branch.
        StringEquals: {
          [`${GITHUB_OIDC_ISSUER}:aud`]: GITHUB_OIDC_AUDIENCE,
          [`${GITHUB_OIDC_ISSUER}:sub`]: this.subjects,
        },
      },
    });
    this.roleArn = this.role.roleArn;
    for (const statement of deployStatements(props, prefix)) this.role.addToPolicy(statement);
    this.applyPolicies = packStatements(applyStatements(props, prefix), field('applyPolicies')).map(
      (statements, i) => {
        const name = `sidestep-deploy-${environment}-apply-${i + 1}`;
        for (const statement of statements) checkStatement(`${field(name)}.${statement.sid}`, statement);
        const policy = new IamPolicy(this, `apply-policy-${i + 1}`, {
          name,
          description: `terraform apply of ${prefix} by ${this.role.node.path} (part ${i + 1})`,
          policy: JSON.stringify(policyDocument(statements)),
        });
        new IamRolePolicyAttachment(this, `apply-policy-${i + 1}-attachment`, {
          role: this.role.roleName,
          policyArn: policy.arn,
        });
        return policy;
      },
    );
  }
}

/** Characters IAM counts for a policy document (it ignores whitespace). */
function policySize(statements: readonly PolicyStatement[]): number {
  return JSON.stringify(policyDocument(statements)).replace(/\s/g, '').length;
}

/** Splits statements, in order, into as few policies as fit {@link MANAGED_POLICY_MAX_CHARACTERS}. */
function packStatements(statements: readonly PolicyStatement[], field: string): PolicyStatement[][] {
  const policies: PolicyStatement[][] = [];
  let current: PolicyStatement[] = [];
  for (const statement of statements) {
    if (policySize([statement]) > MANAGED_POLICY_MAX_CHARACTERS)
      throw new InfraConfigError(field, `statement ${statement.sid} alone exceeds a managed policy`);
    if (current.length > 0 && policySize([...current, statement]) > MANAGED_POLICY_MAX_CHARACTERS) {
      policies.push(current);
      current = [];
    }
    current.push(statement);
  }
  if (current.length > 0) policies.push(current);
  return policies;
}

/** The role's inline statements: the pipeline's own steps in the order it takes them, then the guard rails. */
function deployStatements(props: DeployRoleProps, prefix: string): PolicyStatement[] {
  const { accountId, region, state } = props;
  const at = (service: string, resource: string): string =>
    `arn:aws:${service}:${region}:${accountId}:${resource}`;
  const stateObject = `arn:aws:s3:::${state.bucket}/${state.key}`;
  const lockObject = `${stateObject}.tflock`;
  return [
    {
      sid: 'EcrLogin',
      actions: ['ecr:GetAuthorizationToken'],
      resources: ['*'],
      unscopableReason: 'the registry token is account-wide; ECR lists no resource type for it',
    },
    {
      sid: 'PushImages',
      actions: [
        'ecr:BatchCheckLayerAvailability',
        'ecr:InitiateLayerUpload',
        'ecr:UploadLayerPart',
        'ecr:CompleteLayerUpload',
        'ecr:PutImage',
        'ecr:BatchGetImage',
        'ecr:DescribeImages',
      ],
      resources: props.repositoryNames.map((name) => at('ecr', `repository/${name}`)),
    },
    {
      // The S3 backend reads the state with HeadObject/GetObject and takes only NotFound for "no state
      // yet" (the first run). S3 answers a missing key 404 only to a caller with s3:ListBucket on the
      // bucket, 403 otherwise (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html,
      // "Permissions"), and that check is of a request naming a key, not a prefix: a grant conditioned
      // on s3:prefix does not count there (a condition on a key absent from the request is false), and
      // the first `terraform` run failed with "Unable to access object ... 403". No condition, then; it
      // also covers the backend's workspace listing (ListObjectsV2 under `env:/`). The bucket holds
      // only state: listing shows the names of the other states (the other environment's, the deploy
      // stacks'), not their content, which TerraformState and TerraformLock keep out of reach.
      sid: 'ListTerraformState',
      actions: ['s3:ListBucket'],
      resources: [`arn:aws:s3:::${state.bucket}`],
    },
    { sid: 'TerraformState', actions: ['s3:GetObject', 's3:PutObject'], resources: [stateObject] },
    {
      sid: 'TerraformLock',
      actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
      resources: [lockObject],
    },
    // No smoke check function (a stack without the job-sweeper): no invoke right at all.
    ...(props.smokeCheckFunctionNames.length === 0
      ? []
      : [
          {
            // The deploy's own step after apply: the smoke check, and only on its function(s). Rolling each
            // function to its new image and waiting for the update (lambda:UpdateFunctionCode, GetFunction,
            // GetFunctionConfiguration) are in ApplyFunctions; repeating them per function would only spend
            // the 10,240 characters IAM allows a role's inline policies.
            sid: 'InvokeSmokeCheck',
            actions: ['lambda:InvokeFunction'],
            resources: props.smokeCheckFunctionNames.map((name) => at('lambda', `function:${name}`)),
          },
        ]),
    ...migrationStatements(props),
    ...preflightStatements(props),
    ...guardRails(props, prefix),
  ];
}

/**
 * The deploy's migration (.github/workflows/deploy-environment.yml, "Migrate the database"): one run of
 * the task's family in its own cluster, watched until it stops. Its roles are passed to ECS by name.
 */
function migrationStatements(props: DeployRoleProps): PolicyStatement[] {
  if (!props.migrationTask) return [];
  const names = batchTaskNames(props.environment, props.migrationTask);
  const ecs = `arn:aws:ecs:${props.region}:${props.accountId}`;
  return [
    {
      sid: 'RunMigration',
      actions: ['ecs:RunTask'],
      resources: [`${ecs}:task-definition/${names.family}:*`],
      conditions: { ArnEquals: { 'ecs:cluster': `${ecs}:cluster/${names.cluster}` } },
    },
    { sid: 'WatchMigration', actions: ['ecs:DescribeTasks'], resources: [`${ecs}:task/${names.cluster}/*`] },
    {
      sid: 'PassMigrationRoles',
      actions: ['iam:PassRole'],
      resources: [names.executionRole, names.taskRole].map(
        (role) => `arn:aws:iam::${props.accountId}:role/${role}`,
      ),
      conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    },
  ];
}

/**
 * The preflight's reads (scripts/src/preflight, PREFLIGHT_ACTIONS) that the apply rights do not already
 * cover (those: bucket ListBucket and GetBucketTagging, GetFunctionConcurrency, GetEmailIdentity).
 */
function preflightStatements(props: DeployRoleProps): PolicyStatement[] {
  return [
    {
      sid: 'PreflightAccount',
      actions: ['lambda:GetAccountSettings', 'ses:GetAccount'],
      resources: ['*'],
      unscopableReason: 'account-level reads: Lambda and SES list no resource type for them',
    },
    {
      // The Fargate vCPU quotas (On-Demand and Spot) the batch task runs under: Service Quotas' quota
      // resource, `<service code>/<quota code>`.
      sid: 'PreflightFargateQuota',
      actions: ['servicequotas:GetServiceQuota'],
      resources: [`arn:aws:servicequotas:${props.region}:${props.accountId}:fargate/*`],
    },
    {
      sid: 'PreflightEcsServiceLinkedRole',
      actions: ['iam:GetRole'],
      resources: [`arn:aws:iam::${props.accountId}:role/${ECS_SERVICE_LINKED_ROLE_PATH}`],
    },
    ...(props.databaseSecretArn
      ? [
          {
            // The value too: the preflight parses it as the services do (it prints only host, port and
            // database). The role can already run the migration, which reads it, so this adds no reach.
            sid: 'PreflightDatabaseSecret',
            actions: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
            resources: [props.databaseSecretArn],
          },
          ...(props.databaseSecretKmsKeyArn
            ? [
                {
                  sid: 'PreflightDatabaseSecretKey',
                  ...secretKeyStatement(props.databaseSecretKmsKeyArn, props.region),
                },
              ]
            : []),
        ]
      : []),
  ];
}

/**
 * Denies that hold whatever the role is allowed: the boundary stays on every role and the boundary
 * policy (and the role's own apply policies) stay as the deploy stack wrote them.
 */
function guardRails(props: DeployRoleProps, prefix: string): PolicyStatement[] {
  const { accountId } = props;
  return [
    {
      sid: 'KeepPermissionsBoundaries',
      effect: 'Deny',
      actions: ['iam:DeleteRolePermissionsBoundary'],
      resources: ['*'],
    },
    {
      sid: 'KeepDeployPolicies',
      effect: 'Deny',
      actions: [
        'iam:CreatePolicyVersion',
        'iam:DeletePolicy',
        'iam:DeletePolicyVersion',
        'iam:SetDefaultPolicyVersion',
      ],
      resources: [
        permissionsBoundaryArn(accountId, prefix),
        `arn:aws:iam::${accountId}:policy/sidestep-deploy-${props.environment}-*`,
      ],
    },
    {
      // Subnets, route tables, groups and endpoints go only into the environment's own VPC (the create
      // grant can test only the new resource's tags, which the request sets).
      sid: 'OnlyOwnVpcs',
      effect: 'Deny',
      actions: NETWORK_CREATE_ACTIONS.filter((action) => action !== 'ec2:CreateVpc'),
      resources: [`arn:aws:ec2:${props.region}:${accountId}:vpc/*`],
      conditions: { StringNotEquals: { 'aws:ResourceTag/environment': props.environment } },
    },
    {
      // Tags decide what the EC2 and KMS grants reach: a resource tagged as another environment's (or
      // another project's) is never retagged into this one.
      sid: 'KeepOtherTags',
      effect: 'Deny',
      actions: ['ec2:CreateTags', 'ec2:DeleteTags', 'kms:TagResource', 'kms:UntagResource'],
      resources: [
        `arn:aws:ec2:${props.region}:${accountId}:*`,
        `arn:aws:kms:${props.region}:${accountId}:key/*`,
      ],
      conditions: {
        StringNotEquals: { 'aws:ResourceTag/environment': props.environment },
        Null: { 'aws:ResourceTag/environment': 'false' },
      },
    },
    {
      // A role of the environment could be made to trust this role (UpdateAssumeRolePolicy); assuming it
      // would gain nothing the boundary does not cap, but nothing in the deploy needs it either.
      sid: 'NoAssumeEnvironmentRoles',
      effect: 'Deny',
      actions: ['sts:AssumeRole'],
      resources: [`arn:aws:iam::${accountId}:role/${prefix}-*`],
    },
  ];
}

/**
 * `terraform apply` of the environment stack, which creates, updates and deletes what it manages. Scoped
 * to `sidestep-<env>-*` names; within that prefix the rights are broad. `PROVIDER_ACTIONS`
 * (provider-actions.ts) lists what the provider calls per resource type; a test checks these allow it.
 */
function applyStatements(props: DeployRoleProps, prefix: string): PolicyStatement[] {
  const { accountId, region } = props;
  const at = (service: string, resource: string): string =>
    `arn:aws:${service}:${region}:${accountId}:${resource}`;
  const functionPattern = at('lambda', `function:${prefix}-*`);
  const rolePattern = `arn:aws:iam::${accountId}:role/${prefix}-*`;
  return [
    {
      sid: 'ApplyEcrRepositories',
      actions: [
        'ecr:CreateRepository',
        'ecr:DeleteRepository',
        'ecr:DescribeRepositories',
        'ecr:PutImageTagMutability',
        'ecr:PutImageScanningConfiguration',
        'ecr:SetRepositoryPolicy',
        'ecr:GetRepositoryPolicy',
        'ecr:DeleteRepositoryPolicy',
        'ecr:PutLifecyclePolicy',
        'ecr:GetLifecyclePolicy',
        'ecr:DeleteLifecyclePolicy',
        'ecr:ListTagsForResource',
        'ecr:TagResource',
        'ecr:UntagResource',
      ],
      resources: [at('ecr', `repository/${prefix}-*`)],
    },
    {
      // The repositories are KMS-encrypted with the AWS-managed aws/ecr key, on which ECR makes grants per
      // repository; DeleteRepository retires them with the caller's permissions ("Required IAM
      // permissions", https://docs.aws.amazon.com/AmazonECR/latest/userguide/encryption-at-rest.html). The
      // key's id is the account's own, so any key of the account, and only in ECR's requests.
      sid: 'RetireRepositoryKeyGrants',
      actions: ['kms:RetireGrant'],
      resources: [at('kms', 'key/*')],
      conditions: viaService('ecr', region),
    },
    {
      sid: 'ApplyFunctions',
      actions: [
        'lambda:CreateFunction',
        'lambda:DeleteFunction',
        'lambda:GetFunction',
        'lambda:GetFunctionConfiguration',
        'lambda:UpdateFunctionCode',
        'lambda:UpdateFunctionConfiguration',
        'lambda:ListVersionsByFunction',
        'lambda:GetFunctionCodeSigningConfig',
        'lambda:GetFunctionConcurrency',
        'lambda:PutFunctionConcurrency',
        'lambda:DeleteFunctionConcurrency',
        'lambda:GetFunctionRecursionConfig',
        'lambda:AddPermission',
        'lambda:RemovePermission',
        'lambda:GetPolicy',
        'lambda:CreateAlias',
        'lambda:GetAlias',
        'lambda:UpdateAlias',
        'lambda:DeleteAlias',
        'lambda:CreateFunctionUrlConfig',
        'lambda:GetFunctionUrlConfig',
        'lambda:UpdateFunctionUrlConfig',
        'lambda:DeleteFunctionUrlConfig',
        // Asynchronous invocation configs (AsyncInvocation): retries, event age, on-failure destination.
        'lambda:PutFunctionEventInvokeConfig',
        'lambda:GetFunctionEventInvokeConfig',
        'lambda:DeleteFunctionEventInvokeConfig',
        'lambda:ListTags',
        'lambda:TagResource',
        'lambda:UntagResource',
      ],
      resources: [functionPattern],
    },
    {
      // Mappings are named by a UUID, so the resource cannot carry the prefix: the function they feed can.
      // Update and Delete carry lambda:FunctionArn (Service Authorization Reference, AWS Lambda).
      sid: 'ApplyEventSourceMappings',
      actions: ['lambda:UpdateEventSourceMapping', 'lambda:DeleteEventSourceMapping'],
      resources: [at('lambda', 'event-source-mapping:*')],
      conditions: { ArnLike: { 'lambda:FunctionArn': functionPattern } },
    },
    {
      // Get and the tag calls carry no lambda:FunctionArn (a condition on it would deny them): the
      // provider tags mappings on create (default tags) and reads them back. The narrowest scope left is
      // the mappings of this account and region; none of these changes what a mapping does.
      sid: 'ReadEventSourceMappings',
      actions: [
        'lambda:GetEventSourceMapping',
        'lambda:ListTags',
        'lambda:TagResource',
        'lambda:UntagResource',
      ],
      resources: [at('lambda', 'event-source-mapping:*')],
    },
    {
      sid: 'CreateEventSourceMappings',
      actions: ['lambda:CreateEventSourceMapping'],
      resources: ['*'],
      unscopableReason:
        'Lambda lists no resource type for CreateEventSourceMapping; the lambda:FunctionArn condition scopes it',
      conditions: { ArnLike: { 'lambda:FunctionArn': functionPattern } },
    },
    {
      // Creating or updating a function with a VPC config: Lambda checks the caller may describe the
      // subnets, security groups and VPC (Lambda developer guide, "Giving Lambda functions access to
      // resources in an Amazon VPC").
      // The same and the rest of what the provider reads of a created network (`Network`).
      sid: 'DescribeNetwork',
      actions: [
        'ec2:DescribeSecurityGroups',
        'ec2:DescribeSubnets',
        'ec2:DescribeVpcs',
        ...NETWORK_DESCRIBE_ACTIONS,
        'ec2:DescribeNetworkInterfaces',
      ],
      resources: ['*'],
      unscopableReason: 'EC2 Describe actions support no resource-level permissions',
    },
    ...networkStatements(props),
    {
      sid: 'ApplyQueues',
      actions: [
        'sqs:CreateQueue',
        'sqs:DeleteQueue',
        'sqs:GetQueueUrl',
        'sqs:GetQueueAttributes',
        'sqs:SetQueueAttributes',
        'sqs:ListQueueTags',
        'sqs:TagQueue',
        'sqs:UntagQueue',
      ],
      resources: [at('sqs', `${prefix}-*`)],
    },
    {
      // Bucket configuration only: no object actions, so the role cannot read imports or exports.
      sid: 'ApplyBuckets',
      actions: [
        's3:CreateBucket',
        's3:DeleteBucket',
        's3:ListBucket',
        's3:GetBucketAcl',
        's3:GetBucketCORS',
        's3:GetBucketWebsite',
        's3:GetBucketVersioning',
        's3:PutBucketVersioning',
        's3:GetAccelerateConfiguration',
        's3:GetBucketRequestPayment',
        's3:GetBucketLogging',
        's3:GetReplicationConfiguration',
        's3:GetBucketObjectLockConfiguration',
        's3:GetLifecycleConfiguration',
        's3:PutLifecycleConfiguration',
        's3:GetEncryptionConfiguration',
        's3:PutEncryptionConfiguration',
        's3:GetBucketPolicy',
        's3:PutBucketPolicy',
        's3:DeleteBucketPolicy',
        's3:GetBucketPublicAccessBlock',
        's3:PutBucketPublicAccessBlock',
        's3:GetBucketNotification',
        's3:PutBucketNotification',
        's3:GetBucketOwnershipControls',
        's3:GetBucketTagging',
        's3:PutBucketTagging',
        // The provider sends the tags in CreateBucket, which needs s3:TagResource ("You must have the
        // s3:TagResource permission to create a general purpose bucket with tags":
        // https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateBucketConfiguration.html), and reads
        // and changes them through S3 Control's ListTagsForResource / TagResource / UntagResource; it
        // falls back to the Put/GetBucketTagging calls above only after an access denied on each.
        's3:TagResource',
        's3:UntagResource',
        's3:ListTagsForResource',
      ],
      resources: props.bucketNames.map((name) => `arn:aws:s3:::${name}`),
    },
    {
      sid: 'ApplyStateMachines',
      actions: [
        'states:CreateStateMachine',
        'states:UpdateStateMachine',
        'states:DeleteStateMachine',
        'states:DescribeStateMachine',
        'states:ListStateMachineVersions',
        'states:ListTagsForResource',
        'states:TagResource',
        'states:UntagResource',
      ],
      resources: [at('states', `stateMachine:${prefix}-*`)],
    },
    {
      sid: 'ValidateStateMachines',
      actions: ['states:ValidateStateMachineDefinition'],
      resources: ['*'],
      unscopableReason:
        'the plan of a changed definition validates it (hashicorp/aws >= 5.67, CustomizeDiff) and IAM checks the call against stateMachine:*, not the machine (hashicorp/terraform-provider-aws#39472); it only checks a definition given in the request',
    },
    {
      sid: 'ApplyClusters',
      actions: [
        'ecs:CreateCluster',
        'ecs:UpdateCluster',
        // The clusters' FARGATE and FARGATE_SPOT capacity providers (aws_ecs_cluster_capacity_providers).
        'ecs:PutClusterCapacityProviders',
        'ecs:DeleteCluster',
        'ecs:DescribeClusters',
        'ecs:ListTagsForResource',
        'ecs:TagResource',
        'ecs:UntagResource',
      ],
      resources: [at('ecs', `cluster/${prefix}-*`), at('ecs', `task-definition/${prefix}-*:*`)],
    },
    {
      sid: 'ApplyTaskDefinitions',
      actions: ['ecs:RegisterTaskDefinition', 'ecs:DeregisterTaskDefinition', 'ecs:DescribeTaskDefinition'],
      resources: ['*'],
      unscopableReason:
        'ECS lists no resource type for task definition registration, deregistration or describe',
    },
    {
      // A role the deploy writes can hold any inline policy, so every write that could add permissions
      // requires the environment's permissions boundary on the role: the role never exceeds it. Managed
      // policies are never attached (iam:AttachRolePolicy is not granted at all).
      sid: 'WriteBoundedRoles',
      actions: ['iam:CreateRole', 'iam:PutRolePolicy', 'iam:PutRolePermissionsBoundary'],
      resources: [rolePattern],
      conditions: { StringEquals: { 'iam:PermissionsBoundary': permissionsBoundaryArn(accountId, prefix) } },
    },
    {
      // `sidestep-<env>-operator` (OperatorPolicy): its document only. Nothing here attaches a managed
      // policy to anything (no iam:Attach*), so it grants what an administrator attaches it to.
      sid: 'ApplyOperatorPolicy',
      actions: [
        'iam:CreatePolicy',
        'iam:GetPolicy',
        'iam:GetPolicyVersion',
        'iam:ListPolicyVersions',
        'iam:CreatePolicyVersion',
        'iam:DeletePolicyVersion',
        'iam:DeletePolicy',
        'iam:TagPolicy',
        'iam:UntagPolicy',
      ],
      resources: [`arn:aws:iam::${accountId}:policy/${prefix}-operator`],
    },
    {
      sid: 'ApplyRoles',
      actions: [
        'iam:DeleteRole',
        'iam:GetRole',
        'iam:UpdateRole',
        'iam:UpdateRoleDescription',
        'iam:UpdateAssumeRolePolicy',
        'iam:TagRole',
        'iam:UntagRole',
        'iam:ListRolePolicies',
        'iam:ListAttachedRolePolicies',
        'iam:ListInstanceProfilesForRole',
        'iam:GetRolePolicy',
        'iam:DeleteRolePolicy',
      ],
      resources: [rolePattern],
    },
    {
      sid: 'PassRoles',
      actions: ['iam:PassRole'],
      resources: [rolePattern],
      conditions: {
        StringEquals: {
          'iam:PassedToService': [
            'lambda.amazonaws.com',
            'ecs-tasks.amazonaws.com',
            'states.amazonaws.com',
            'events.amazonaws.com',
            'scheduler.amazonaws.com',
            'pipes.amazonaws.com',
          ],
        },
      },
    },
    {
      sid: 'ApplyLogGroups',
      actions: [
        'logs:CreateLogGroup',
        'logs:DeleteLogGroup',
        'logs:PutRetentionPolicy',
        'logs:DeleteRetentionPolicy',
        'logs:ListTagsForResource',
        'logs:ListTagsLogGroup',
        'logs:TagResource',
        'logs:UntagResource',
      ],
      // One pattern for /aws/lambda/, /ecs/, /aws/pipes/ and /aws/vendedlogs/states/ groups: the four
      // exact prefixes would cost 200 characters of the 10,240 IAM allows a role's inline policies.
      resources: [at('logs', `log-group:*/${prefix}-*`)],
    },
    {
      // Creating or updating a state machine with logging makes the caller set up a vended log delivery
      // (the Step Functions developer guide, "IAM policies for logging to CloudWatch Logs"); the
      // provider reads log groups through DescribeLogGroups.
      sid: 'VendedLogDelivery',
      actions: [...VENDED_LOG_DELIVERY_ACTIONS],
      resources: ['*'],
      unscopableReason:
        'CloudWatch Logs lists no resource type for log deliveries, resource policies or DescribeLogGroups',
    },
    {
      // The account's resource policy that lets EventBridge write SES's mail events to their log group
      // (`MailEventLog`): Put and Describe are granted above; an account-level policy has no resource type.
      sid: 'DeleteLogResourcePolicies',
      actions: ['logs:DeleteResourcePolicy'],
      resources: ['*'],
      unscopableReason: 'CloudWatch Logs lists no resource type for an account-level resource policy',
    },
    {
      sid: 'ApplyEventBus',
      actions: [
        'events:CreateEventBus',
        'events:UpdateEventBus',
        'events:DeleteEventBus',
        'events:DescribeEventBus',
        'events:PutRule',
        'events:DeleteRule',
        'events:DescribeRule',
        'events:EnableRule',
        'events:DisableRule',
        'events:PutTargets',
        'events:RemoveTargets',
        'events:ListTargetsByRule',
        'events:CreateArchive',
        'events:UpdateArchive',
        'events:DeleteArchive',
        'events:DescribeArchive',
        'events:ListTagsForResource',
        'events:TagResource',
        'events:UntagResource',
      ],
      resources: [
        at('events', `event-bus/${prefix}`),
        // Rules on the default bus (S3 notifications) and on the stack's bus.
        at('events', `rule/${prefix}-*`),
        at('events', `rule/${prefix}/*`),
        at('events', `archive/${prefix}-*`),
      ],
    },
    {
      sid: 'ApplySchedules',
      actions: [
        'scheduler:CreateScheduleGroup',
        'scheduler:GetScheduleGroup',
        'scheduler:DeleteScheduleGroup',
        'scheduler:CreateSchedule',
        'scheduler:GetSchedule',
        'scheduler:UpdateSchedule',
        'scheduler:DeleteSchedule',
        'scheduler:ListTagsForResource',
        'scheduler:TagResource',
        'scheduler:UntagResource',
      ],
      resources: [at('scheduler', `schedule-group/${prefix}`), at('scheduler', `schedule/${prefix}/*`)],
    },
    {
      sid: 'ApplyPipes',
      actions: [
        'pipes:CreatePipe',
        'pipes:UpdatePipe',
        'pipes:DeletePipe',
        'pipes:DescribePipe',
        'pipes:ListTagsForResource',
        'pipes:TagResource',
        'pipes:UntagResource',
      ],
      resources: [at('pipes', `pipe/${prefix}-*`)],
    },
    {
      // Metadata only: the values are set by operators, never by Terraform, so no GetSecretValue.
      sid: 'ApplySecrets',
      actions: [
        'secretsmanager:CreateSecret',
        'secretsmanager:DeleteSecret',
        'secretsmanager:DescribeSecret',
        'secretsmanager:UpdateSecret',
        'secretsmanager:GetResourcePolicy',
        'secretsmanager:TagResource',
        'secretsmanager:UntagResource',
      ],
      resources: [at('secretsmanager', `secret:${prefix}-*`)],
    },
    {
      sid: 'ApplyMailIdentity',
      actions: [
        'ses:CreateEmailIdentity',
        'ses:DeleteEmailIdentity',
        'ses:GetEmailIdentity',
        'ses:PutEmailIdentityConfigurationSetAttributes',
        'ses:PutEmailIdentityMailFromAttributes',
        'ses:CreateConfigurationSet',
        'ses:DeleteConfigurationSet',
        'ses:GetConfigurationSet',
        'ses:PutConfigurationSetSendingOptions',
        'ses:PutConfigurationSetReputationOptions',
        'ses:PutConfigurationSetDeliveryOptions',
        // The set's event destination (SES's records of the mails to EventBridge: `MailEventLog`).
        'ses:CreateConfigurationSetEventDestination',
        'ses:GetConfigurationSetEventDestinations',
        'ses:UpdateConfigurationSetEventDestination',
        'ses:DeleteConfigurationSetEventDestination',
        'ses:ListTagsForResource',
        'ses:TagResource',
        'ses:UntagResource',
      ],
      resources: [at('ses', `identity/${props.mailIdentity}`), at('ses', `configuration-set/${prefix}-*`)],
    },
    {
      sid: 'ApplyAlarms',
      actions: [
        'cloudwatch:PutMetricAlarm',
        'cloudwatch:DeleteAlarms',
        'cloudwatch:DescribeAlarms',
        'cloudwatch:ListTagsForResource',
        'cloudwatch:TagResource',
        'cloudwatch:UntagResource',
      ],
      resources: [at('cloudwatch', `alarm:${prefix}-*`)],
    },
    ...alarmTopicStatements(props, prefix),
    ...(props.hostedZoneId
      ? [
          {
            // The mail domain's DKIM and MAIL FROM records (`MailIdentity`), in the configured zone only.
            sid: 'ApplyMailRecords',
            actions: [
              'route53:GetHostedZone',
              'route53:ChangeResourceRecordSets',
              'route53:ListResourceRecordSets',
            ],
            resources: [`arn:aws:route53:::hostedzone/${props.hostedZoneId}`],
          },
          {
            // Change ids are Route 53's, known only once the change is made.
            sid: 'WaitForMailRecords',
            actions: ['route53:GetChange'],
            resources: ['arn:aws:route53:::change/*'],
          },
        ]
      : []),
  ];
}

/**
 * A created network (`Network`): EC2 resource ids are known only after create, so creates are scoped by
 * the tags the request gives the new resource (the provider's default tags) and everything after by
 * the tags the resource carries. `OnlyOwnVpcs` and `KeepOtherTags` (guard rails) close the gaps tags
 * leave: a create's parent VPC and retagging another environment's resource.
 */
function networkStatements(props: DeployRoleProps): PolicyStatement[] {
  const { accountId, region, environment } = props;
  const ec2 = (type: string): string => `arn:aws:ec2:${region}:${accountId}:${type}/*`;
  const own = NETWORK_RESOURCE_TYPES.map(ec2);
  return [
    {
      sid: 'CreateNetwork',
      actions: [...NETWORK_CREATE_ACTIONS],
      resources: [ec2('vpc'), ec2('subnet'), ec2('route-table'), ec2('security-group'), ec2('vpc-endpoint')],
      conditions: { StringEquals: tagConditions('RequestTag', environment) },
    },
    {
      // A rule resource is created (and tagged) by authorizing it; the group it joins must be the stack's.
      sid: 'CreateSecurityGroupRules',
      actions: ['ec2:AuthorizeSecurityGroupIngress', 'ec2:AuthorizeSecurityGroupEgress'],
      resources: [ec2('security-group-rule')],
      conditions: { StringEquals: tagConditions('RequestTag', environment) },
    },
    {
      sid: 'TagNetworkOnCreate',
      actions: ['ec2:CreateTags'],
      resources: own,
      conditions: {
        StringEquals: {
          'ec2:CreateAction': [
            ...NETWORK_CREATE_ACTIONS.map((action) => action.replace('ec2:', '')),
            'AuthorizeSecurityGroupIngress',
            'AuthorizeSecurityGroupEgress',
          ],
          ...tagConditions('RequestTag', environment),
        },
      },
    },
    {
      // The VPC's default group exists untagged until the provider adopts and tags it; only the request's
      // tags can be tested then (`KeepOtherTags` keeps groups tagged as others' out of reach).
      sid: 'TagDefaultSecurityGroup',
      actions: ['ec2:CreateTags'],
      resources: [ec2('security-group')],
      conditions: { StringEquals: tagConditions('RequestTag', environment) },
    },
    {
      sid: 'ApplyNetwork',
      actions: [
        ...NETWORK_CREATE_ACTIONS.filter((action) => action !== 'ec2:CreateVpc'),
        'ec2:ModifyVpcAttribute',
        'ec2:DeleteVpc',
        'ec2:ModifySubnetAttribute',
        'ec2:DeleteSubnet',
        'ec2:AssociateRouteTable',
        'ec2:DisassociateRouteTable',
        'ec2:ReplaceRouteTableAssociation',
        'ec2:DeleteRouteTable',
        'ec2:AuthorizeSecurityGroupIngress',
        'ec2:AuthorizeSecurityGroupEgress',
        'ec2:RevokeSecurityGroupIngress',
        'ec2:RevokeSecurityGroupEgress',
        'ec2:ModifySecurityGroupRules',
        'ec2:DeleteSecurityGroup',
        'ec2:ModifyVpcEndpoint',
        'ec2:DeleteVpcEndpoints',
        'ec2:CreateTags',
        'ec2:DeleteTags',
      ],
      resources: own,
      conditions: { StringEquals: tagConditions('ResourceTag', environment) },
    },
    ...(props.databaseSecurityGroupId
      ? [
          {
            // The database's group is not the stack's (no environment tags): its exact ARN.
            sid: 'AdmitWorkloadToDatabase',
            actions: [
              'ec2:AuthorizeSecurityGroupIngress',
              'ec2:AuthorizeSecurityGroupEgress',
              'ec2:RevokeSecurityGroupIngress',
              'ec2:RevokeSecurityGroupEgress',
              'ec2:ModifySecurityGroupRules',
            ],
            resources: [`arn:aws:ec2:${region}:${accountId}:security-group/${props.databaseSecurityGroupId}`],
          },
        ]
      : []),
  ];
}

/** The alarm topic (`AlarmTopic`): the topic by name, its key by its tags, the email subscription. */
function alarmTopicStatements(props: DeployRoleProps, prefix: string): PolicyStatement[] {
  const { accountId, region, environment } = props;
  return [
    {
      sid: 'ApplyAlarmTopic',
      actions: [
        'sns:CreateTopic',
        'sns:DeleteTopic',
        'sns:GetTopicAttributes',
        'sns:SetTopicAttributes',
        'sns:Subscribe',
        'sns:ListSubscriptionsByTopic',
        'sns:ListTagsForResource',
        'sns:TagResource',
        'sns:UntagResource',
      ],
      resources: [`arn:aws:sns:${region}:${accountId}:${prefix}-*`],
    },
    ...(props.alarmTopicArn
      ? [
          {
            sid: 'SubscribeConfiguredAlarmTopic',
            actions: ['sns:Subscribe', 'sns:ListSubscriptionsByTopic'],
            resources: [props.alarmTopicArn],
          },
        ]
      : []),
    {
      sid: 'ApplyAlarmSubscriptions',
      actions: ['sns:GetSubscriptionAttributes', 'sns:SetSubscriptionAttributes', 'sns:Unsubscribe'],
      resources: ['*'],
      unscopableReason: 'SNS lists no resource type for subscription calls',
    },
    {
      sid: 'CreateKeys',
      actions: ['kms:CreateKey', 'kms:TagResource'],
      resources: ['*'],
      unscopableReason:
        'CreateKey has no resource type, and KMS authorizes tags on create only against every key (KMS developer guide, "Controlling access to tags"); the request must carry the environment tags',
      conditions: { StringEquals: tagConditions('RequestTag', environment) },
    },
    {
      // What the provider calls on a key it has just created (rotation on, then reads of the key), with
      // no retry on AccessDenied, while "it might take up to five minutes for tag and alias changes to
      // affect KMS key authorization" (KMS developer guide, "Use tags to control access to KMS keys"):
      // not by its tags. Reads, and rotation, which changes no use of a key.
      sid: 'ReadNewKeys',
      actions: [
        'kms:DescribeKey',
        'kms:GetKeyPolicy',
        'kms:GetKeyRotationStatus',
        'kms:ListResourceTags',
        'kms:EnableKeyRotation',
      ],
      resources: [`arn:aws:kms:${region}:${accountId}:key/*`],
    },
    {
      // Key ARNs are random: the stack's keys are those carrying its tags (`KeepOtherTags` stops the role
      // from tagging another environment's key into this set).
      sid: 'ApplyKeys',
      actions: [
        'kms:PutKeyPolicy',
        'kms:DisableKeyRotation',
        'kms:UpdateKeyDescription',
        'kms:EnableKey',
        'kms:DisableKey',
        'kms:TagResource',
        'kms:UntagResource',
        'kms:ScheduleKeyDeletion',
      ],
      resources: [`arn:aws:kms:${region}:${accountId}:key/*`],
      conditions: { StringEquals: tagConditions('ResourceTag', environment) },
    },
  ];
}
