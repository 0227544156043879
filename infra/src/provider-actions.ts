/**
 * What the AWS provider (hashicorp/aws 6.x) asks IAM for when `terraform apply` creates, reads, updates,
 * deletes and tags each resource type the environment stacks synthesize: the deploy role (`DeployRole`)
 * must allow all of it. A test synthesizes the stacks and fails for a resource type without an entry
 * here, and evaluates every call below against the deploy role's synthesized policy.
 *
 * Sources: the provider's resource code (github.com/hashicorp/terraform-provider-aws,
 * `internal/service/<service>/<resource>.go`: the SDK calls of each Create/Read/Update/Delete function
 * and its tagging interceptor, which tags on create where the API takes tags and reads them back with
 * the service's ListTags call), and the Service Authorization Reference for the IAM action, resource
 * type and condition keys of each call
 * (https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html).
 * Where a list is not certain, its `note` says what is unsure.
 */
import { serviceEndpoint } from './constructs/grantable-role.ts';
import { permissionsBoundaryArn } from './constructs/permissions-boundary.ts';
import { VENDED_LOG_DELIVERY_ACTIONS } from './security-policy.ts';

/** An environment's account, region and name prefix (`sidestep-<env>`), from which sample ARNs are built. */
export interface ArnScope {
  readonly accountId: string;
  readonly region: string;
  /** `sidestep-<env>`. */
  readonly prefix: string;
  /**
   * One of the environment's buckets (`sidestep-<env>-imports-<account id or suffix>`): the deploy role's
   * S3 rights name the stack's exact buckets, since bucket names are global.
   */
  readonly bucketName: string;
  /** The SES identity the environment sends from (its mail domain, else its from address). */
  readonly mailIdentity: string;
  /** The Route 53 hosted zone of the mail domain, when configured (`SIDESTEP_<ENV>_HOSTED_ZONE_ID`). */
  readonly hostedZoneId?: string;
  /**
   * The database's security group a created network admits the workload to, when configured
   * (`SIDESTEP_<ENV>_DATABASE_SECURITY_GROUP_ID`). Not the stack's: it carries no tags of the environment.
   */
  readonly databaseSecurityGroupId?: string;
}

/** One authorization IAM makes for a call of the provider. */
export interface ProviderCall {
  /** `service:Action`. */
  readonly action: string;
  /**
   * The ARN IAM checks: `*` for actions without a resource type.
   * @default the resource type's own {@link ProviderActions.arn}
   */
  readonly on?: (at: ArnScope) => string;
  /** Condition keys the request carries that the deploy role's conditions test. @default none */
  readonly context?: (at: ArnScope) => Readonly<Record<string, string>>;
  /** Made only for an environment with this setting. @default always */
  readonly when?: (at: ArnScope) => boolean;
}

/** The calls of one Terraform resource type. */
export interface ProviderActions {
  /** A sample ARN of such a resource in the environment: what IAM checks the calls against. */
  readonly arn: (at: ArnScope) => string;
  /** Every authorization of create, read, update, delete and tagging. */
  readonly calls: readonly (string | ProviderCall)[];
  /** What the list is based on, where it is more than the provider file of the resource. */
  readonly note?: string;
}

const regional =
  (service: string, resource: (prefix: string) => string) =>
  (at: ArnScope): string =>
    `arn:aws:${service}:${at.region}:${at.accountId}:${resource(at.prefix)}`;

const unscoped = (action: string): ProviderCall => ({ action, on: () => '*' });
const roleArn = (at: ArnScope): string => `arn:aws:iam::${at.accountId}:role/${at.prefix}-example`;
const passRole = (service: string): ProviderCall => ({
  action: 'iam:PassRole',
  on: roleArn,
  context: () => ({ 'iam:PassedToService': service }),
});
const withBoundary = (action: string): ProviderCall => ({
  action,
  context: (at) => ({ 'iam:PermissionsBoundary': permissionsBoundaryArn(at.accountId, at.prefix) }),
});

const functionArn = regional('lambda', (prefix) => `function:${prefix}-example`);
const queueArn = regional('sqs', (prefix) => `${prefix}-example`);
const bucketArn = (at: ArnScope): string => `arn:aws:s3:::${at.bucketName}`;
const repositoryArn = regional('ecr', (prefix) => `repository/${prefix}-example`);
const ruleArn = regional('events', (prefix) => `rule/${prefix}/${prefix}-example`);
const busArn = regional('events', (prefix) => `event-bus/${prefix}`);
/** With a mapping's function (Lambda sets `lambda:FunctionArn` on the mapping calls that take one). */
const onFunction = (action: string, on?: ProviderCall['on']): ProviderCall => ({
  action,
  ...(on ? { on } : {}),
  context: (at) => ({ 'lambda:FunctionArn': functionArn(at) }),
});
/** Bucket sub-resources: one Get and one Put action on the bucket (the delete calls are Put actions too). */
const bucketSetting = (get: string, put: string, note?: string): ProviderActions => ({
  arn: bucketArn,
  calls: [get, put],
  ...(note ? { note } : {}),
});

/** `staging` of `sidestep-staging`. */
const environmentOf = (at: ArnScope): string => at.prefix.replace(/^sidestep-/, '');
/**
 * The provider's default tags (`SidestepStack`: project and environment) as a create request carries
 * them (`aws:RequestTag/<key>`) or as an existing resource of the stack has them (`aws:ResourceTag/<key>`).
 */
export function environmentTags(
  kind: 'RequestTag' | 'ResourceTag',
  environment: string,
): Readonly<Record<string, string>> {
  return { [`aws:${kind}/project`]: 'sidestep', [`aws:${kind}/environment`]: environment };
}
/** A create call: the new resource is tagged in the request. */
const created = (action: string, on?: ProviderCall['on']): ProviderCall => ({
  action,
  ...(on ? { on } : {}),
  context: (at) => environmentTags('RequestTag', environmentOf(at)),
});
/** A call on a resource the stack created (tagged with the environment's default tags). */
const owned = (action: string, on?: ProviderCall['on']): ProviderCall => ({
  action,
  ...(on ? { on } : {}),
  context: (at) => environmentTags('ResourceTag', environmentOf(at)),
});
/** EC2 authorizes tags given on create as `ec2:CreateTags` with `ec2:CreateAction` (EC2 user guide, "Grant permission to tag resources during creation"). */
const tagOnCreate = (createAction: string, on?: ProviderCall['on']): ProviderCall => ({
  action: 'ec2:CreateTags',
  ...(on ? { on } : {}),
  context: (at) => ({
    'ec2:CreateAction': createAction,
    ...environmentTags('RequestTag', environmentOf(at)),
  }),
});
/** Tag updates of an EC2 resource of the stack (default tags changed). */
const ec2Retag = (on?: ProviderCall['on']): ProviderCall[] => [
  owned('ec2:CreateTags', on),
  owned('ec2:DeleteTags', on),
];
const ec2 = (type: string, id: string) => regional('ec2', () => `${type}/${id}`);
const vpcArn = ec2('vpc', 'vpc-0example');
const subnetArn = ec2('subnet', 'subnet-0example');
const routeTableArn = ec2('route-table', 'rtb-0example');
const securityGroupArn = ec2('security-group', 'sg-0example');
const securityGroupRuleArn = ec2('security-group-rule', 'sgr-0example');
const endpointArn = ec2('vpc-endpoint', 'vpce-0example');
/** The configured database security group (not the stack's: no environment tags, exact ARN). */
const databaseGroupArn = (at: ArnScope): string =>
  `arn:aws:ec2:${at.region}:${at.accountId}:security-group/${at.databaseSecurityGroupId}`;
const onDatabaseGroup = (action: string): ProviderCall => ({
  action,
  on: databaseGroupArn,
  when: (at) => at.databaseSecurityGroupId !== undefined,
});
const topicArn = regional('sns', (prefix) => `${prefix}-alarms`);
const keyArn = regional('kms', () => 'key/1234abcd-12ab-34cd-56ef-1234567890ab');
const hostedZoneArn = (at: ArnScope): string => `arn:aws:route53:::hostedzone/${at.hostedZoneId}`;
const identityArn = (at: ArnScope): string =>
  `arn:aws:ses:${at.region}:${at.accountId}:identity/${at.mailIdentity}`;
/** A security group rule resource (`aws_vpc_security_group_<direction>_rule`). */
const securityGroupRule = (direction: 'Ingress' | 'Egress'): ProviderActions => ({
  arn: securityGroupRuleArn,
  calls: [
    // Authorized on the group and, as the rule is tagged on create, on the new rule.
    owned(`ec2:AuthorizeSecurityGroup${direction}`, securityGroupArn),
    created(`ec2:AuthorizeSecurityGroup${direction}`),
    tagOnCreate(`AuthorizeSecurityGroup${direction}`),
    unscoped('ec2:DescribeSecurityGroupRules'),
    owned('ec2:ModifySecurityGroupRules', securityGroupArn),
    owned(`ec2:RevokeSecurityGroup${direction}`, securityGroupArn),
    ...ec2Retag(),
    // With a database security group configured, its rule from the workload is on that group.
    onDatabaseGroup(`ec2:AuthorizeSecurityGroup${direction}`),
    onDatabaseGroup('ec2:ModifySecurityGroupRules'),
    onDatabaseGroup(`ec2:RevokeSecurityGroup${direction}`),
  ],
  note:
    'internal/service/ec2/vpc_security_group_ingress_rule.go (one file for both directions); whether EC2 ' +
    'also checks the referenced group is not documented, and no call above names it',
});

/** Terraform resource type -> the authorizations the provider needs for it. */
export const PROVIDER_ACTIONS: Readonly<Record<string, ProviderActions>> = {
  aws_cloudwatch_event_archive: {
    arn: regional('events', (prefix) => `archive/${prefix}-events`),
    calls: [
      'events:CreateArchive',
      'events:DescribeArchive',
      'events:UpdateArchive',
      'events:DeleteArchive',
      // CreateArchive and UpdateArchive also authorize on the bus they archive.
      { action: 'events:CreateArchive', on: busArn },
      { action: 'events:UpdateArchive', on: busArn },
    ],
    note: 'EventBridge creates the archive’s managed rule itself; the docs name no caller permission for it',
  },
  aws_cloudwatch_event_bus: {
    arn: busArn,
    calls: [
      'events:CreateEventBus',
      'events:DescribeEventBus',
      'events:UpdateEventBus',
      'events:DeleteEventBus',
      'events:ListTagsForResource',
      'events:TagResource',
      'events:UntagResource',
    ],
  },
  aws_cloudwatch_event_rule: {
    arn: ruleArn,
    calls: [
      'events:PutRule',
      'events:DescribeRule',
      'events:EnableRule',
      'events:DisableRule',
      'events:DeleteRule',
      'events:ListTagsForResource',
      'events:TagResource',
      'events:UntagResource',
    ],
  },
  aws_cloudwatch_event_target: {
    arn: ruleArn,
    calls: [
      'events:PutTargets',
      'events:ListTargetsByRule',
      'events:RemoveTargets',
      passRole('events.amazonaws.com'),
    ],
  },
  aws_cloudwatch_log_group: {
    arn: regional('logs', (prefix) => `log-group:/aws/lambda/${prefix}-example`),
    calls: [
      'logs:CreateLogGroup',
      'logs:PutRetentionPolicy',
      'logs:DeleteRetentionPolicy',
      'logs:DeleteLogGroup',
      // Read: DescribeLogGroups (no resource type) and the tags by ARN.
      unscoped('logs:DescribeLogGroups'),
      'logs:ListTagsForResource',
      'logs:TagResource',
      'logs:UntagResource',
    ],
  },
  aws_cloudwatch_log_resource_policy: {
    // The account's resource policy by name (`policy_name`): CloudWatch Logs lists no resource type for
    // an account-level resource policy's calls. No tags.
    arn: () => '*',
    calls: [
      unscoped('logs:PutResourcePolicy'),
      unscoped('logs:DescribeResourcePolicies'),
      unscoped('logs:DeleteResourcePolicy'),
    ],
  },
  aws_cloudwatch_metric_alarm: {
    arn: regional('cloudwatch', (prefix) => `alarm:${prefix}-example`),
    calls: [
      'cloudwatch:PutMetricAlarm',
      'cloudwatch:DescribeAlarms',
      'cloudwatch:DeleteAlarms',
      'cloudwatch:ListTagsForResource',
      'cloudwatch:TagResource',
      'cloudwatch:UntagResource',
    ],
  },
  aws_default_security_group: {
    arn: securityGroupArn,
    calls: [
      // Adopted, not created: the provider finds the VPC's default group, tags it (it has no tags yet, so
      // the request's tags are all IAM can test) and then revokes every rule it has.
      unscoped('ec2:DescribeSecurityGroups'),
      created('ec2:CreateTags'),
      owned('ec2:RevokeSecurityGroupIngress'),
      owned('ec2:RevokeSecurityGroupEgress'),
      owned('ec2:DeleteTags'),
    ],
    note: 'internal/service/ec2/vpc_default_security_group.go: destroy only forgets the group (AWS deletes it with the VPC)',
  },
  aws_ecr_lifecycle_policy: {
    arn: repositoryArn,
    calls: ['ecr:PutLifecyclePolicy', 'ecr:GetLifecyclePolicy', 'ecr:DeleteLifecyclePolicy'],
  },
  aws_ecr_repository: {
    arn: repositoryArn,
    calls: [
      'ecr:CreateRepository',
      'ecr:DescribeRepositories',
      'ecr:PutImageTagMutability',
      'ecr:PutImageScanningConfiguration',
      'ecr:DeleteRepository',
      // DeleteRepository retires the grants ECR made on the repository's KMS key (the AWS-managed aws/ecr
      // key: encryption_type KMS without a key), with the caller's permissions.
      {
        action: 'kms:RetireGrant',
        on: regional('kms', () => 'key/abcd1234-a123-456a-a12b-a123b4cd56ef'),
        context: (at) => ({ 'kms:ViaService': serviceEndpoint('ecr', at.region) }),
      },
      'ecr:ListTagsForResource',
      'ecr:TagResource',
      'ecr:UntagResource',
    ],
    note:
      'the ECR user guide, "Encryption at rest", Required IAM permissions: with the AWS-managed key, any ' +
      'principal that may create a repository may enable KMS encryption on it, and the one deleting it ' +
      'needs kms:RetireGrant',
  },
  aws_ecr_repository_policy: {
    arn: repositoryArn,
    calls: ['ecr:SetRepositoryPolicy', 'ecr:GetRepositoryPolicy', 'ecr:DeleteRepositoryPolicy'],
  },
  aws_ecs_cluster: {
    arn: regional('ecs', (prefix) => `cluster/${prefix}-example`),
    calls: [
      'ecs:CreateCluster',
      'ecs:DescribeClusters',
      'ecs:UpdateCluster',
      'ecs:DeleteCluster',
      'ecs:ListTagsForResource',
      'ecs:TagResource',
      'ecs:UntagResource',
    ],
    note:
      'CreateCluster also needs the ECS service-linked role, which a new account lacks: the deploy stack ' +
      'creates it (DeployStack, ecsServiceLinkedRole), so the deploy role needs no iam:CreateServiceLinkedRole',
  },
  aws_ecs_cluster_capacity_providers: {
    // The resource is the cluster's capacity provider list: create, update and destroy all put it
    // (destroy puts an empty one) on the cluster's ARN.
    arn: regional('ecs', (prefix) => `cluster/${prefix}-example`),
    calls: ['ecs:PutClusterCapacityProviders', 'ecs:DescribeClusters'],
  },
  aws_ecs_task_definition: {
    arn: regional('ecs', (prefix) => `task-definition/${prefix}-example:1`),
    calls: [
      unscoped('ecs:RegisterTaskDefinition'),
      unscoped('ecs:DescribeTaskDefinition'),
      unscoped('ecs:DeregisterTaskDefinition'),
      // Tags on register (ecs:CreateAction = RegisterTaskDefinition) and on update, by revision ARN.
      'ecs:TagResource',
      'ecs:UntagResource',
      'ecs:ListTagsForResource',
      passRole('ecs-tasks.amazonaws.com'),
    ],
    note: 'the provider deregisters on destroy; it does not call DeleteTaskDefinitions',
  },
  aws_iam_policy: {
    // The one managed policy of an environment stack: `sidestep-<env>-operator` (OperatorPolicy).
    arn: (at) => `arn:aws:iam::${at.accountId}:policy/${at.prefix}-operator`,
    calls: [
      'iam:CreatePolicy',
      'iam:GetPolicy',
      'iam:GetPolicyVersion',
      // Update: a new default version, the oldest deleted once five exist; delete: every version, then the policy.
      'iam:ListPolicyVersions',
      'iam:CreatePolicyVersion',
      'iam:DeletePolicyVersion',
      'iam:DeletePolicy',
      'iam:TagPolicy',
      'iam:UntagPolicy',
    ],
    note: 'internal/service/iam/policy.go; read is GetPolicy (with tags) and GetPolicyVersion of the default version',
  },
  aws_iam_role: {
    arn: roleArn,
    calls: [
      withBoundary('iam:CreateRole'),
      withBoundary('iam:PutRolePermissionsBoundary'),
      'iam:GetRole',
      'iam:UpdateRole',
      'iam:UpdateRoleDescription',
      'iam:UpdateAssumeRolePolicy',
      'iam:TagRole',
      'iam:UntagRole',
      // Read fills inline_policy and managed_policy_arns; delete removes the role from instance profiles.
      'iam:ListRolePolicies',
      'iam:GetRolePolicy',
      'iam:ListAttachedRolePolicies',
      'iam:ListInstanceProfilesForRole',
      'iam:DeleteRole',
    ],
  },
  aws_iam_role_policy: {
    arn: roleArn,
    calls: [withBoundary('iam:PutRolePolicy'), 'iam:GetRolePolicy', 'iam:DeleteRolePolicy'],
  },
  aws_kms_key: {
    arn: keyArn,
    calls: [
      // CreateKey has no resource type; tags on create need kms:TagResource "in an IAM policy that isn't
      // restricted to particular KMS keys" (KMS developer guide, "Controlling access to tags").
      created('kms:CreateKey', () => '*'),
      created('kms:TagResource', () => '*'),
      // The policy lockout check: the new key's policy (account root) must let the caller PutKeyPolicy.
      owned('kms:PutKeyPolicy'),
      // Right after CreateKey the provider enables rotation and reads the key back, and retries none of
      // it on AccessDenied; "it might take up to five minutes for tag and alias changes to affect KMS
      // key authorization" (KMS developer guide, "Use tags to control access to KMS keys"): these go
      // without the tags (reads, and rotation, which changes no use of a key).
      'kms:DescribeKey',
      'kms:GetKeyPolicy',
      'kms:GetKeyRotationStatus',
      'kms:EnableKeyRotation',
      owned('kms:DisableKeyRotation'),
      owned('kms:UpdateKeyDescription'),
      owned('kms:EnableKey'),
      owned('kms:DisableKey'),
      'kms:ListResourceTags',
      owned('kms:TagResource'),
      owned('kms:UntagResource'),
      owned('kms:ScheduleKeyDeletion'),
    ],
    note:
      'internal/service/kms/key.go; the ARN of a key is known only after CreateKey, so its calls are ' +
      'scoped by the tags it was created with. Whether the lockout check evaluates PutKeyPolicy with the ' +
      'new key’s tags is not documented',
  },
  aws_lambda_event_source_mapping: {
    arn: regional('lambda', () => 'event-source-mapping:a1b2c3d4-5678-90ab-cdef-1234567890ab'),
    calls: [
      // CreateEventSourceMapping has no resource type; Create, Update and Delete carry lambda:FunctionArn,
      // Get and the tag calls do not (Service Authorization Reference, AWS Lambda).
      onFunction('lambda:CreateEventSourceMapping', () => '*'),
      onFunction('lambda:UpdateEventSourceMapping'),
      onFunction('lambda:DeleteEventSourceMapping'),
      'lambda:GetEventSourceMapping',
      // Provider default tags: tagged on create, read back with ListTags.
      'lambda:TagResource',
      'lambda:UntagResource',
      'lambda:ListTags',
    ],
  },
  aws_lambda_function: {
    arn: functionArn,
    calls: [
      'lambda:CreateFunction',
      'lambda:GetFunction',
      'lambda:GetFunctionConfiguration',
      'lambda:GetFunctionCodeSigningConfig',
      'lambda:ListVersionsByFunction',
      'lambda:UpdateFunctionCode',
      'lambda:UpdateFunctionConfiguration',
      'lambda:PutFunctionConcurrency',
      'lambda:DeleteFunctionConcurrency',
      'lambda:DeleteFunction',
      'lambda:ListTags',
      'lambda:TagResource',
      'lambda:UntagResource',
      passRole('lambda.amazonaws.com'),
      // Image functions: Lambda reads the repository policy with the caller's credentials (and adds its
      // own statement when it is missing).
      { action: 'ecr:GetRepositoryPolicy', on: repositoryArn },
      { action: 'ecr:SetRepositoryPolicy', on: repositoryArn },
      // Functions in a VPC: Lambda checks the caller may describe the subnets, security groups and VPC
      // (Lambda developer guide, "Giving Lambda functions access to resources in an Amazon VPC").
      unscoped('ec2:DescribeSecurityGroups'),
      unscoped('ec2:DescribeSubnets'),
      unscoped('ec2:DescribeVpcs'),
    ],
    note:
      'read is GetFunction (which returns the tags) and ListVersionsByFunction; GetFunctionCodeSigningConfig ' +
      'is called for zip packages only (internal/service/lambda/function.go), listed so a zip function would not fail',
  },
  aws_lambda_alias: {
    arn: regional('lambda', (prefix) => `function:${prefix}-example:actions`),
    calls: ['lambda:CreateAlias', 'lambda:GetAlias', 'lambda:UpdateAlias', 'lambda:DeleteAlias'],
  },
  aws_lambda_function_event_invoke_config: {
    arn: functionArn,
    // Create and update are both PutFunctionEventInvokeConfig; Lambda checks the function's role (not the
    // caller) may send to the destination.
    calls: [
      'lambda:PutFunctionEventInvokeConfig',
      'lambda:GetFunctionEventInvokeConfig',
      'lambda:DeleteFunctionEventInvokeConfig',
    ],
    note: 'internal/service/lambda/function_event_invoke_config.go',
  },
  aws_lambda_function_url: {
    arn: functionArn,
    calls: [
      'lambda:CreateFunctionUrlConfig',
      'lambda:GetFunctionUrlConfig',
      'lambda:UpdateFunctionUrlConfig',
      'lambda:DeleteFunctionUrlConfig',
    ],
  },
  aws_lambda_permission: {
    arn: functionArn,
    calls: ['lambda:AddPermission', 'lambda:GetPolicy', 'lambda:RemovePermission'],
  },
  aws_pipes_pipe: {
    arn: regional('pipes', (prefix) => `pipe/${prefix}-example`),
    calls: [
      'pipes:CreatePipe',
      'pipes:DescribePipe',
      'pipes:UpdatePipe',
      'pipes:DeletePipe',
      'pipes:ListTagsForResource',
      'pipes:TagResource',
      'pipes:UntagResource',
      passRole('pipes.amazonaws.com'),
    ],
  },
  aws_route53_record: {
    arn: hostedZoneArn,
    // Create resolves the zone's name, writes the change and waits for it (GetChange on change/*).
    calls: [
      { action: 'route53:GetHostedZone' },
      { action: 'route53:ChangeResourceRecordSets' },
      { action: 'route53:ListResourceRecordSets' },
      { action: 'route53:GetChange', on: () => 'arn:aws:route53:::change/C0EXAMPLE' },
    ].map((call) => ({ ...call, when: (at: ArnScope) => at.hostedZoneId !== undefined })),
    note: 'internal/service/route53/record.go; only with a hosted zone configured',
  },
  aws_route_table: {
    arn: routeTableArn,
    calls: [
      created('ec2:CreateRouteTable'),
      owned('ec2:CreateRouteTable', vpcArn),
      tagOnCreate('CreateRouteTable'),
      unscoped('ec2:DescribeRouteTables'),
      owned('ec2:DeleteRouteTable'),
      ...ec2Retag(),
    ],
    note: 'no inline routes: the S3 gateway endpoint adds its own route',
  },
  aws_route_table_association: {
    arn: routeTableArn,
    calls: [
      owned('ec2:AssociateRouteTable'),
      owned('ec2:AssociateRouteTable', subnetArn),
      unscoped('ec2:DescribeRouteTables'),
      owned('ec2:ReplaceRouteTableAssociation'),
      owned('ec2:DisassociateRouteTable'),
    ],
  },
  aws_s3_bucket: {
    arn: bucketArn,
    calls: [
      's3:CreateBucket',
      // HeadBucket (exists, region) is authorized as s3:ListBucket.
      's3:ListBucket',
      's3:GetBucketAcl',
      's3:GetBucketCORS',
      's3:GetBucketWebsite',
      's3:GetBucketVersioning',
      's3:GetAccelerateConfiguration',
      's3:GetBucketRequestPayment',
      's3:GetBucketLogging',
      's3:GetLifecycleConfiguration',
      's3:GetReplicationConfiguration',
      's3:GetEncryptionConfiguration',
      's3:GetBucketObjectLockConfiguration',
      's3:GetBucketPolicy',
      's3:GetBucketTagging',
      's3:PutBucketTagging',
      // Tags sent with CreateBucket, then read and changed through S3 Control (the legacy tagging calls
      // above are its fallback after an access denied).
      's3:TagResource',
      's3:ListTagsForResource',
      's3:UntagResource',
      's3:DeleteBucket',
    ],
    note: 'the provider reads every legacy bucket setting on refresh; force_destroy is on only in teardown mode, which the pipeline refuses, so no object calls',
  },
  aws_s3_bucket_lifecycle_configuration: bucketSetting(
    's3:GetLifecycleConfiguration',
    's3:PutLifecycleConfiguration',
  ),
  aws_s3_bucket_notification: bucketSetting('s3:GetBucketNotification', 's3:PutBucketNotification'),
  aws_s3_bucket_policy: {
    arn: bucketArn,
    calls: ['s3:PutBucketPolicy', 's3:GetBucketPolicy', 's3:DeleteBucketPolicy'],
  },
  aws_s3_bucket_public_access_block: bucketSetting(
    's3:GetBucketPublicAccessBlock',
    's3:PutBucketPublicAccessBlock',
  ),
  aws_s3_bucket_server_side_encryption_configuration: bucketSetting(
    's3:GetEncryptionConfiguration',
    's3:PutEncryptionConfiguration',
  ),
  aws_s3_bucket_versioning: bucketSetting('s3:GetBucketVersioning', 's3:PutBucketVersioning'),
  aws_scheduler_schedule: {
    arn: regional('scheduler', (prefix) => `schedule/${prefix}/${prefix}-example`),
    calls: [
      'scheduler:CreateSchedule',
      'scheduler:GetSchedule',
      'scheduler:UpdateSchedule',
      'scheduler:DeleteSchedule',
      passRole('scheduler.amazonaws.com'),
    ],
  },
  aws_scheduler_schedule_group: {
    arn: regional('scheduler', (prefix) => `schedule-group/${prefix}`),
    calls: [
      'scheduler:CreateScheduleGroup',
      'scheduler:GetScheduleGroup',
      'scheduler:DeleteScheduleGroup',
      'scheduler:ListTagsForResource',
      'scheduler:TagResource',
      'scheduler:UntagResource',
    ],
  },
  aws_secretsmanager_secret: {
    arn: regional('secretsmanager', (prefix) => `secret:${prefix}-example-AbCdEf`),
    calls: [
      'secretsmanager:CreateSecret',
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetResourcePolicy',
      'secretsmanager:UpdateSecret',
      'secretsmanager:DeleteSecret',
      'secretsmanager:TagResource',
      'secretsmanager:UntagResource',
    ],
  },
  aws_security_group: {
    arn: securityGroupArn,
    calls: [
      created('ec2:CreateSecurityGroup'),
      owned('ec2:CreateSecurityGroup', vpcArn),
      tagOnCreate('CreateSecurityGroup'),
      unscoped('ec2:DescribeSecurityGroups'),
      // After create the provider revokes AWS's default allow-all egress rule.
      owned('ec2:RevokeSecurityGroupEgress'),
      owned('ec2:DeleteSecurityGroup'),
      ...ec2Retag(),
      // Destroy first waits for the network interfaces Lambda left in the group.
      unscoped('ec2:DescribeNetworkInterfaces'),
    ],
    note:
      'internal/service/ec2/vpc_security_group.go; on destroy the provider also deletes ENIs Lambda left ' +
      'behind (ec2:DeleteNetworkInterface, not granted: Lambda deletes its own ENIs, and tearing the ' +
      'network down is not a deploy)',
  },
  aws_sesv2_configuration_set: {
    arn: regional('ses', (prefix) => `configuration-set/${prefix}-mail`),
    calls: [
      'ses:CreateConfigurationSet',
      'ses:GetConfigurationSet',
      'ses:PutConfigurationSetDeliveryOptions',
      'ses:PutConfigurationSetReputationOptions',
      'ses:PutConfigurationSetSendingOptions',
      'ses:DeleteConfigurationSet',
      'ses:ListTagsForResource',
      'ses:TagResource',
      'ses:UntagResource',
    ],
  },
  aws_sesv2_configuration_set_event_destination: {
    arn: regional('ses', (prefix) => `configuration-set/${prefix}-mail`),
    calls: [
      'ses:CreateConfigurationSetEventDestination',
      'ses:GetConfigurationSetEventDestinations',
      'ses:UpdateConfigurationSetEventDestination',
      'ses:DeleteConfigurationSetEventDestination',
    ],
    note: 'no tags; SES checks no right of the caller on the EventBridge bus (the destination is the default bus, which SES publishes to as a service)',
  },
  aws_sesv2_email_identity: {
    arn: (at) => `arn:aws:ses:${at.region}:${at.accountId}:identity/${at.mailIdentity}`,
    calls: [
      'ses:CreateEmailIdentity',
      'ses:GetEmailIdentity',
      'ses:PutEmailIdentityConfigurationSetAttributes',
      'ses:DeleteEmailIdentity',
      'ses:ListTagsForResource',
      'ses:TagResource',
      'ses:UntagResource',
    ],
  },
  aws_sesv2_email_identity_mail_from_attributes: {
    arn: identityArn,
    calls: ['ses:PutEmailIdentityMailFromAttributes', 'ses:GetEmailIdentity'],
    note: 'delete puts empty attributes (PutEmailIdentityMailFromAttributes)',
  },
  aws_sfn_state_machine: {
    arn: regional('states', (prefix) => `stateMachine:${prefix}-example`),
    calls: [
      'states:CreateStateMachine',
      'states:DescribeStateMachine',
      'states:ListStateMachineVersions',
      'states:UpdateStateMachine',
      'states:DeleteStateMachine',
      'states:ListTagsForResource',
      'states:TagResource',
      'states:UntagResource',
      // The plan of a changed definition (CustomizeDiff, provider >= 5.67) validates it; IAM checks the
      // call against `stateMachine:*`, not the machine
      // (https://github.com/hashicorp/terraform-provider-aws/issues/39472).
      { action: 'states:ValidateStateMachineDefinition', on: regional('states', () => 'stateMachine:*') },
      passRole('states.amazonaws.com'),
      // Logging to CloudWatch Logs: the caller sets up the vended log delivery (Step Functions developer
      // guide, "IAM policies for logging to CloudWatch Logs"); none of these has a resource type.
      ...VENDED_LOG_DELIVERY_ACTIONS.map(unscoped),
    ],
  },
  aws_sns_topic: {
    arn: topicArn,
    calls: [
      'sns:CreateTopic',
      'sns:GetTopicAttributes',
      'sns:SetTopicAttributes',
      'sns:DeleteTopic',
      'sns:ListTagsForResource',
      'sns:TagResource',
      'sns:UntagResource',
    ],
    note:
      'internal/service/sns/topic.go: create passes the attributes it can and sets the rest with ' +
      'SetTopicAttributes. SNS does not check the caller may use the topic’s KMS key (the publisher, ' +
      'CloudWatch, must: the key policy allows it)',
  },
  aws_sns_topic_policy: {
    arn: topicArn,
    calls: ['sns:SetTopicAttributes', 'sns:GetTopicAttributes'],
    note: 'delete sets the default policy back (SetTopicAttributes)',
  },
  aws_sns_topic_subscription: {
    arn: topicArn,
    calls: [
      'sns:Subscribe',
      'sns:ListSubscriptionsByTopic',
      // Subscription ARNs are `<topic ARN>:<uuid>`, but SNS lists no resource type for these three.
      unscoped('sns:GetSubscriptionAttributes'),
      unscoped('sns:SetSubscriptionAttributes'),
      unscoped('sns:Unsubscribe'),
    ],
    note:
      'internal/service/sns/topic_subscription.go: an email subscription stays pending until confirmed; ' +
      'the provider finds it again with ListSubscriptionsByTopic',
  },
  aws_sqs_queue: {
    arn: queueArn,
    calls: [
      'sqs:CreateQueue',
      'sqs:GetQueueUrl',
      'sqs:GetQueueAttributes',
      'sqs:SetQueueAttributes',
      'sqs:DeleteQueue',
      'sqs:ListQueueTags',
      'sqs:TagQueue',
      'sqs:UntagQueue',
    ],
  },
  aws_sqs_queue_policy: { arn: queueArn, calls: ['sqs:SetQueueAttributes', 'sqs:GetQueueAttributes'] },
  aws_sqs_queue_redrive_allow_policy: {
    arn: queueArn,
    calls: ['sqs:SetQueueAttributes', 'sqs:GetQueueAttributes'],
  },
  aws_subnet: {
    arn: subnetArn,
    calls: [
      created('ec2:CreateSubnet'),
      owned('ec2:CreateSubnet', vpcArn),
      tagOnCreate('CreateSubnet'),
      unscoped('ec2:DescribeSubnets'),
      owned('ec2:ModifySubnetAttribute'),
      owned('ec2:DeleteSubnet'),
      ...ec2Retag(),
      unscoped('ec2:DescribeNetworkInterfaces'),
    ],
    note:
      'internal/service/ec2/vpc_subnet.go; like aws_security_group, destroy would delete ENIs Lambda ' +
      'left behind (ec2:DeleteNetworkInterface, not granted)',
  },
  aws_vpc: {
    arn: vpcArn,
    calls: [
      created('ec2:CreateVpc'),
      tagOnCreate('CreateVpc'),
      // Read fills the DNS attributes and the default network ACL, route table and security group ids.
      unscoped('ec2:DescribeVpcs'),
      unscoped('ec2:DescribeVpcAttribute'),
      unscoped('ec2:DescribeNetworkAcls'),
      unscoped('ec2:DescribeRouteTables'),
      unscoped('ec2:DescribeSecurityGroups'),
      // enable_dns_hostnames is set after create.
      owned('ec2:ModifyVpcAttribute'),
      owned('ec2:DeleteVpc'),
      ...ec2Retag(),
    ],
    note: 'internal/service/ec2/vpc_.go',
  },
  aws_vpc_endpoint: {
    arn: endpointArn,
    calls: [
      created('ec2:CreateVpcEndpoint'),
      // ...and on what it is placed in: the VPC, the subnets and groups (interface), the route table (gateway).
      owned('ec2:CreateVpcEndpoint', vpcArn),
      owned('ec2:CreateVpcEndpoint', subnetArn),
      owned('ec2:CreateVpcEndpoint', securityGroupArn),
      owned('ec2:CreateVpcEndpoint', routeTableArn),
      tagOnCreate('CreateVpcEndpoint'),
      unscoped('ec2:DescribeVpcEndpoints'),
      // The gateway endpoint's prefix_list_id and cidr_blocks.
      unscoped('ec2:DescribePrefixLists'),
      owned('ec2:ModifyVpcEndpoint'),
      owned('ec2:DeleteVpcEndpoints'),
      ...ec2Retag(),
    ],
    note:
      'internal/service/ec2/vpc_endpoint.go. Private DNS: AWS creates and owns the private hosted zone; ' +
      'the PrivateLink guide names no Route 53 permission for the caller (unconfirmed without an account)',
  },
  aws_vpc_security_group_egress_rule: securityGroupRule('Egress'),
  aws_vpc_security_group_ingress_rule: securityGroupRule('Ingress'),
  // hashicorp/time's sleep between a role's policy and the resource whose create checks it.
  time_sleep: {
    arn: () => '*',
    calls: [],
    note: 'hashicorp/time: a wait in Terraform itself, no AWS call',
  },
  // Data sources are read on every plan: keyed `data.<type>`.
  'data.aws_availability_zones': {
    arn: () => '*',
    calls: ['ec2:DescribeAvailabilityZones'],
    note: 'EC2 Describe actions support no resource-level permissions',
  },
  // The zones each interface endpoint service is offered in (Network keeps its subnets to them).
  'data.aws_vpc_endpoint_service': {
    arn: () => '*',
    calls: ['ec2:DescribeVpcEndpointServices'],
    note: 'internal/service/ec2/vpc_endpoint_service_data_source.go; EC2 Describe actions support no resource-level permissions',
  },
};

/** A call with its ARN and context resolved for one environment. */
export interface ResolvedProviderCall {
  readonly resourceType: string;
  readonly action: string;
  readonly resource: string;
  readonly context: Readonly<Record<string, string>>;
}

/** Every call of every resource type in {@link PROVIDER_ACTIONS}, for one environment. */
export function providerCalls(at: ArnScope): ResolvedProviderCall[] {
  return Object.entries(PROVIDER_ACTIONS).flatMap(([resourceType, entry]) =>
    entry.calls.flatMap((raw) => {
      const call: ProviderCall = typeof raw === 'string' ? { action: raw } : raw;
      if (call.when && !call.when(at)) return [];
      return {
        resourceType,
        action: call.action,
        resource: (call.on ?? entry.arn)(at),
        context: call.context?.(at) ?? {},
      };
    }),
  );
}
