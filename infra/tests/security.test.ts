import { CloudwatchEventTarget } from '@cdktn/provider-aws/lib/cloudwatch-event-target/index.js';
import { CloudwatchLogGroup } from '@cdktn/provider-aws/lib/cloudwatch-log-group/index.js';
import { EcrRepository } from '@cdktn/provider-aws/lib/ecr-repository/index.js';
import { EcsCluster } from '@cdktn/provider-aws/lib/ecs-cluster/index.js';
import { EcsTaskDefinition } from '@cdktn/provider-aws/lib/ecs-task-definition/index.js';
import { IamPolicy } from '@cdktn/provider-aws/lib/iam-policy/index.js';
import { IamPolicyAttachment } from '@cdktn/provider-aws/lib/iam-policy-attachment/index.js';
import { IamRole } from '@cdktn/provider-aws/lib/iam-role/index.js';
import { IamRolePolicy } from '@cdktn/provider-aws/lib/iam-role-policy/index.js';
import { IamRolePolicyAttachment } from '@cdktn/provider-aws/lib/iam-role-policy-attachment/index.js';
import { LambdaFunction } from '@cdktn/provider-aws/lib/lambda-function/index.js';
import { LambdaPermission } from '@cdktn/provider-aws/lib/lambda-permission/index.js';
import { PipesPipe } from '@cdktn/provider-aws/lib/pipes-pipe/index.js';
import { AwsProvider } from '@cdktn/provider-aws/lib/provider/index.js';
import { S3Bucket } from '@cdktn/provider-aws/lib/s3-bucket/index.js';
import { S3BucketPolicy } from '@cdktn/provider-aws/lib/s3-bucket-policy/index.js';
import { S3BucketPublicAccessBlock } from '@cdktn/provider-aws/lib/s3-bucket-public-access-block/index.js';
import { S3BucketServerSideEncryptionConfigurationA } from '@cdktn/provider-aws/lib/s3-bucket-server-side-encryption-configuration/index.js';
import { S3BucketVersioningA } from '@cdktn/provider-aws/lib/s3-bucket-versioning/index.js';
import { SchedulerSchedule } from '@cdktn/provider-aws/lib/scheduler-schedule/index.js';
import { SfnStateMachine } from '@cdktn/provider-aws/lib/sfn-state-machine/index.js';
import { SqsQueue } from '@cdktn/provider-aws/lib/sqs-queue/index.js';
import { describe, expect, it } from '@jest/globals';
import { defineService } from '@sidestep/manifest';
import { TerraformStack, Testing } from 'cdktn';
import {
  checkSecurityPolicy,
  DeployStack,
  environmentConfigs,
  SECURITY_RULES,
  SERVICES,
  type SecurityRule,
  SidestepStack,
  type SynthesizedTerraform,
} from '../src/index.ts';
import { addNetworkAndKeyViolations } from './network-violations.ts';

const secondService = defineService({
  name: 'report-builder',
  description: 'Builds reports',
  handler: 'index.handler',
  memoryMb: 256,
  timeoutSeconds: 60,
  queue: {
    name: 'reports',
    jobTypes: ['report.build'],
    batchSize: 5,
    maximumBatchingWindowSeconds: 0,
    maximumConcurrency: 2,
    maxReceiveCount: 3,
  },
  permissions: [{ resource: 'database-secret', actions: ['secretsmanager:GetSecretValue'] }],
});

const configs = environmentConfigs({
  // One environment in a VPC, so the ENI statements (resource "*") are walked too.
  SIDESTEP_PRODUCTION_SUBNET_IDS: 'subnet-1',
  SIDESTEP_PRODUCTION_SECURITY_GROUP_IDS: 'sg-1',
  SIDESTEP_PRODUCTION_ALARM_TOPIC_ARN: 'arn:aws:sns:ap-northeast-1:222222222222:alarms',
});
const stacks = Object.values(configs).map((config) => {
  const stack = new SidestepStack(Testing.app(), `sidestep-${config.name}`, {
    config,
    services: [...SERVICES, secondService],
  });
  return [config.name, JSON.parse(Testing.synth(stack, true)) as SynthesizedTerraform] as const;
});

/** Resources of the types the rules look at, so a passing suite is known not to have walked nothing. */
const CHECKED_TYPES = [
  'aws_sqs_queue',
  'aws_cloudwatch_log_group',
  'aws_lambda_function',
  'aws_ecr_repository',
  'aws_iam_role',
  'aws_iam_role_policy',
  'aws_ecr_repository_policy',
  'aws_s3_bucket',
  'aws_s3_bucket_policy',
  'aws_ecs_task_definition',
  'aws_ecs_cluster',
  'aws_sfn_state_machine',
  'aws_cloudwatch_event_target',
  'aws_pipes_pipe',
  'aws_scheduler_schedule',
  'aws_sqs_queue_policy',
  'aws_lambda_permission',
];

/** The deploy stacks main.ts synthesizes next to the environments (their own gate run). */
const deployStacks = [configs.staging, configs.production].map((config) => {
  const stack = new DeployStack(Testing.app(), `sidestep-${config.name}-deploy`, { config });
  return [stack.node.id, JSON.parse(Testing.synth(stack, true)) as SynthesizedTerraform] as const;
});

describe('security policy', () => {
  it.each(deployStacks)('holds for the deploy role of %s', (_name, synthesized) => {
    // The gate walked the role's inline policy (a stack without one would pass vacuously).
    for (const type of ['aws_iam_role', 'aws_iam_role_policy']) {
      expect(Object.keys(synthesized.resource?.[type] ?? {}).length).toBe(1);
    }
    expect(checkSecurityPolicy(synthesized)).toEqual([]);
  });

  it.each(stacks)('holds for every resource of the %s stack', (_name, synthesized) => {
    for (const type of CHECKED_TYPES) {
      expect(Object.keys(synthesized.resource?.[type] ?? {}).length).toBeGreaterThan(0);
    }
    expect(checkSecurityPolicy(synthesized)).toEqual([]);
  });

  // Confused deputy prevention (https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html):
  // a service may assume a role only for a resource of this account. Lambda documents no such condition
  // for execution roles (lambda-execution-role.ts says why), so its trust is the one without.
  it.each(stacks)('scopes every service trust of the %s stack to its source', (_name, synthesized) => {
    const roles = Object.values(synthesized.resource?.aws_iam_role ?? {});
    const services = new Set<string>();
    for (const role of roles) {
      const [statement] = JSON.parse(String(role.assume_role_policy)).Statement;
      const service = statement.Principal.Service as string;
      services.add(service);
      const keys = Object.values(statement.Condition ?? {}).flatMap((clause) =>
        Object.keys(clause as object),
      );
      if (service === 'lambda.amazonaws.com') expect([role.name, keys]).toEqual([role.name, []]);
      else
        expect([
          role.name,
          keys.some((key) => key === 'aws:SourceArn' || key === 'aws:SourceAccount'),
        ]).toEqual([role.name, true]);
    }
    expect([...services].sort()).toEqual([
      'ecs-tasks.amazonaws.com',
      'events.amazonaws.com',
      'lambda.amazonaws.com',
      'pipes.amazonaws.com',
      'scheduler.amazonaws.com',
      'states.amazonaws.com',
    ]);
  });

  it('fails a stack that breaks every rule, at the offending address', () => {
    const stack = new TerraformStack(Testing.app(), 'bad');
    new AwsProvider(stack, 'aws', { region: 'eu-west-1' });
    new SqsQueue(stack, 'plain', { name: 'plain', sqsManagedSseEnabled: false });
    new CloudwatchLogGroup(stack, 'forever', { name: 'forever' });
    new EcrRepository(stack, 'mutable', { name: 'mutable', imageTagMutability: 'MUTABLE' });
    const role = new IamRole(stack, 'admin', {
      name: 'admin',
      assumeRolePolicy: JSON.stringify({ Version: '2012-10-17', Statement: [] }),
      managedPolicyArns: ['arn:aws:iam::aws:policy/AdministratorAccess'],
    });
    new LambdaFunction(stack, 'untraced', { functionName: 'untraced', role: role.arn, packageType: 'Image' });
    const policy = (id: string, statement: object) =>
      new IamRolePolicy(stack, id, {
        role: role.name,
        policy: JSON.stringify({ Version: '2012-10-17', Statement: [statement] }),
      });
    policy('star', { Sid: 'Star', Effect: 'Allow', Action: '*', Resource: 'arn:aws:s3:::b' });
    policy('service-star', {
      Sid: 'ServiceStar',
      Effect: 'Allow',
      Action: ['s3:*'],
      Resource: 'arn:aws:s3:::b',
    });
    policy('not-action', {
      Sid: 'NotAction',
      Effect: 'Allow',
      NotAction: 'iam:PassRole',
      Resource: 'arn:aws:s3:::b',
    });
    // NotResource allows every resource but the ones named: a wildcard resource by another name.
    policy('not-resource', {
      Sid: 'AllButPrivate',
      Effect: 'Allow',
      Action: ['s3:GetObject'],
      NotResource: 'arn:aws:s3:::b/private/*',
    });
    policy('any-resource', { Sid: 'AnyResource', Effect: 'Allow', Action: ['s3:GetObject'], Resource: '*' });
    policy('mixed', {
      Sid: 'XrayAndS3',
      Effect: 'Allow',
      Action: ['xray:PutTraceSegments', 's3:PutObject'],
      Resource: ['*'],
    });
    new IamRolePolicy(stack, 'opaque', {
      role: role.name,
      policy: `\${data.aws_iam_policy_document.x.json}`,
    });
    new IamPolicyAttachment(stack, 'attachment', {
      name: 'attachment',
      policyArn: 'arn:aws:iam::aws:policy/ReadOnlyAccess',
      roles: [role.name],
    });
    new IamRolePolicyAttachment(stack, 'aws-managed', {
      role: role.name,
      policyArn: 'arn:aws:iam::aws:policy/ReadOnlyAccess',
    });
    // A boundary (named by a role's permissions_boundary) may allow whole services, but not everything,
    // IAM or STS (sts:* would let the bounded role assume roles the boundary does not limit).
    const boundary = new IamPolicy(stack, 'boundary', {
      name: 'boundary',
      policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Sid: 'Wide', Effect: 'Allow', Action: ['sqs:*', '*', 'iam:*', 'sts:*'], Resource: '*' },
        ],
      }),
    });
    new IamRole(stack, 'bounded', {
      name: 'bounded',
      assumeRolePolicy: JSON.stringify({ Version: '2012-10-17', Statement: [] }),
      permissionsBoundary: boundary.arn,
    });
    // A bucket with no settings at all, and one with each setting present but wrong.
    new S3Bucket(stack, 'bare', { bucket: 'bare-bucket' });
    const loose = new S3Bucket(stack, 'loose', { bucket: 'loose-bucket' });
    new S3BucketPublicAccessBlock(stack, 'loose-access', {
      bucket: loose.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: false,
    });
    new S3BucketServerSideEncryptionConfigurationA(stack, 'loose-encryption', {
      bucket: loose.id,
      rule: [{ bucketKeyEnabled: true }],
    });
    new S3BucketVersioningA(stack, 'loose-versioning', {
      bucket: loose.id,
      versioningConfiguration: { status: 'Suspended' },
    });
    new S3BucketPolicy(stack, 'loose-policy', {
      bucket: loose.id,
      // TLS is only required for objects, not for bucket operations.
      policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Deny',
            Principal: '*',
            Action: 's3:*',
            Resource: [`${loose.arn}/*`],
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          },
        ],
      }),
    });
    new EcsCluster(stack, 'dark', { name: 'dark' });
    new EcsTaskDefinition(stack, 'unsafe', {
      family: 'unsafe',
      containerDefinitions: JSON.stringify([
        { name: 'app', image: 'app:1', privileged: true, logConfiguration: { logDriver: 'json-file' } },
      ]),
    });
    new SchedulerSchedule(stack, 'fragile', {
      name: 'fragile',
      scheduleExpression: 'rate(1 hour)',
      flexibleTimeWindow: { mode: 'OFF' },
      target: { arn: 'arn:aws:sqs:eu-west-1:123456789012:q', roleArn: role.arn },
    });
    new CloudwatchEventTarget(stack, 'lossy', { rule: 'r', arn: 'arn:aws:sqs:eu-west-1:123456789012:q' });
    // Retries alone still drop the event once they run out: without a DLQ it is lost unseen.
    new CloudwatchEventTarget(stack, 'retried', {
      rule: 'r',
      arn: 'arn:aws:sqs:eu-west-1:123456789012:q',
      retryPolicy: { maximumRetryAttempts: 3, maximumEventAgeInSeconds: 3600 },
    });
    new PipesPipe(stack, 'mute', {
      name: 'mute',
      roleArn: role.arn,
      source: 'arn:aws:sqs:eu-west-1:123456789012:q',
      target: 'arn:aws:states:eu-west-1:123456789012:stateMachine:m',
      logConfiguration: { level: 'OFF' },
    });
    // A log group to write to, and level OFF: nothing is written to it.
    new PipesPipe(stack, 'off', {
      name: 'off',
      roleArn: role.arn,
      source: 'arn:aws:sqs:eu-west-1:123456789012:q',
      target: 'arn:aws:states:eu-west-1:123456789012:stateMachine:m',
      logConfiguration: {
        level: 'OFF',
        cloudwatchLogsLogDestination: { logGroupArn: 'arn:aws:logs:eu-west-1:123456789012:log-group:off' },
      },
    });
    const untraced = stack.node.findChild('untraced') as LambdaFunction;
    new LambdaPermission(stack, 'open', {
      action: 'lambda:InvokeFunction',
      functionName: untraced.functionName,
      principal: '*',
    });
    new LambdaPermission(stack, 'any-rule', {
      action: 'lambda:InvokeFunction',
      functionName: untraced.functionName,
      principal: 'events.amazonaws.com',
    });
    new SfnStateMachine(stack, 'silent', {
      name: 'silent',
      roleArn: role.arn,
      definition: '{}',
      loggingConfiguration: { level: 'OFF' },
    });
    addNetworkAndKeyViolations(stack);
    const violations = checkSecurityPolicy(JSON.parse(Testing.synth(stack)));
    const found = (rule: SecurityRule) =>
      violations
        .filter((v) => v.rule === rule)
        .map(
          (v) =>
            `${v.address}${v.message.includes(': ') ? ` ${v.message.split(': ').slice(1).join(': ')}` : ''}`,
        )
        .sort();

    expect(found('sqs-encrypted')).toEqual(['aws_sqs_queue.plain']);
    expect(found('sqs-redrive')).toEqual(['aws_sqs_queue.plain']);
    expect(found('log-retention')).toEqual(['aws_cloudwatch_log_group.forever']);
    expect(found('lambda-tracing')).toEqual(['aws_lambda_function.untraced']);
    expect(found('ecr-immutable')).toEqual(['aws_ecr_repository.mutable']);
    expect(found('ecr-scan-on-push')).toEqual(['aws_ecr_repository.mutable']);
    expect(found('iam-wildcard-action')).toEqual([
      'aws_iam_role_policy.not-action NotAction: NotAction',
      'aws_iam_role_policy.service-star ServiceStar: s3:*',
      'aws_iam_role_policy.star Star: *',
    ]);
    expect(found('iam-wildcard-resource')).toEqual([
      'aws_iam_role_policy.any-resource AnyResource: * for s3:GetObject',
      'aws_iam_role_policy.mixed XrayAndS3: * for s3:PutObject',
      'aws_iam_role_policy.not-resource AllButPrivate: NotResource',
    ]);
    expect(found('iam-managed-attachment')).toEqual([
      'aws_iam_policy_attachment.attachment',
      'aws_iam_role.admin managed_policy_arns',
      'aws_iam_role_policy_attachment.aws-managed',
    ]);
    expect(found('iam-boundary-scope')).toEqual([
      'aws_iam_policy.boundary Wide: *',
      'aws_iam_policy.boundary Wide: iam:*',
      'aws_iam_policy.boundary Wide: sts:*',
    ]);
    expect(found('iam-policy-literal')).toEqual([
      `aws_iam_role_policy.opaque \${data.aws_iam_policy_document.x.json}`,
    ]);
    expect(found('s3-public-access-block')).toEqual([
      'aws_s3_bucket.bare block_public_acls, block_public_policy, ignore_public_acls, restrict_public_buckets',
      'aws_s3_bucket.loose restrict_public_buckets',
    ]);
    expect(found('s3-encrypted')).toEqual(['aws_s3_bucket.bare', 'aws_s3_bucket.loose']);
    expect(found('s3-versioning')).toEqual(['aws_s3_bucket.bare', 'aws_s3_bucket.loose']);
    expect(found('s3-tls-only')).toEqual(['aws_s3_bucket.bare', 'aws_s3_bucket.loose']);
    expect(found('ecs-readonly-root')).toEqual(['aws_ecs_task_definition.unsafe container app']);
    expect(found('ecs-not-privileged')).toEqual(['aws_ecs_task_definition.unsafe container app']);
    expect(found('ecs-awslogs')).toEqual(['aws_ecs_task_definition.unsafe container app']);
    expect(found('ecs-container-insights')).toEqual(['aws_ecs_cluster.dark']);
    expect(found('sfn-logging')).toEqual(['aws_sfn_state_machine.silent']);
    expect(found('sfn-tracing')).toEqual(['aws_sfn_state_machine.silent']);
    expect(found('scheduler-dlq')).toEqual(['aws_scheduler_schedule.fragile']);
    expect(found('event-target-dlq')).toEqual([
      'aws_cloudwatch_event_target.lossy',
      'aws_cloudwatch_event_target.retried',
    ]);
    expect(found('pipe-logging')).toEqual(['aws_pipes_pipe.mute', 'aws_pipes_pipe.off']);
    expect(found('lambda-permission-scoped')).toEqual([
      'aws_lambda_permission.any-rule events.amazonaws.com',
      'aws_lambda_permission.open *',
    ]);
    // Every rule of the policy is exercised by this fixture.
    expect(new Set(violations.map((v) => v.rule))).toEqual(new Set(Object.keys(SECURITY_RULES)));
  });

  it('accepts unscopable actions on * and wildcards in Deny statements', () => {
    const stack = new TerraformStack(Testing.app(), 'fine');
    new AwsProvider(stack, 'aws', { region: 'eu-west-1' });
    const role = new IamRole(stack, 'role', { name: 'role', assumeRolePolicy: '{}' });
    new IamRolePolicy(stack, 'policy', {
      role: role.name,
      policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: ['xray:PutTraceSegments', 'ec2:DescribeNetworkInterfaces'],
            Resource: '*',
          },
          { Effect: 'Deny', Action: 'sqs:*', Resource: '*' },
        ],
      }),
    });
    const dlq = new SqsQueue(stack, 'dlq', { name: 'dlq', sqsManagedSseEnabled: true });
    new SqsQueue(stack, 'queue', {
      name: 'queue',
      kmsMasterKeyId: 'alias/aws/sqs',
      redrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 3 }),
    });
    // A customer-managed policy of the same stack, attached to one role, is checked like an inline one.
    const own = new IamPolicy(stack, 'own', {
      name: 'own',
      policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: 'arn:aws:sqs:eu-west-1:1:q' }],
      }),
    });
    new IamRolePolicyAttachment(stack, 'own-attachment', { role: role.name, policyArn: own.arn });
    expect(checkSecurityPolicy(JSON.parse(Testing.synth(stack)))).toEqual([]);
  });
});
