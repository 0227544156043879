import { describe, expect, it } from '@jest/globals';
import {
  type AuthorizationDecision,
  evaluateRequest,
  loadStackPolicies,
  type Policy,
  parsePolicy,
  type SynthesizedTerraformJson,
} from '@sidestep/iam';
import {
  DeployStack,
  environmentBucketName,
  environmentConfigs,
  environmentTags,
  permissionsBoundaryArn,
  pipelineCalls,
  providerCalls,
  synthStack,
  withTestingApp,
} from '@sidestep/infra';
import { Testing } from 'cdktn';

// The deploy role as `pnpm --filter @sidestep/infra run synth` writes it, for staging in a VPC and for
// staging with every optional setting on (a created network admitted to the database, DNS records in a
// hosted zone, an alarm email).
const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const BASE = {
  SIDESTEP_GITHUB_REPOSITORY: 'acme/sidestep',
  SIDESTEP_STAGING_ACCOUNT_ID: ACCOUNT,
  SIDESTEP_STAGING_REGION: REGION,
  SIDESTEP_STAGING_STATE_BUCKET: 'acme-terraform-state',
  SIDESTEP_STAGING_DATABASE_SECRET_ARN: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:db/sidestep-AbCdEf`,
  // The deploy stack of an account refuses placeholders (the mail defaults are example.com).
  SIDESTEP_STAGING_MAIL_DOMAIN: 'staging.mail.acme.dev',
  SIDESTEP_STAGING_MAIL_FROM: 'no-reply@staging.mail.acme.dev',
  SIDESTEP_STAGING_NOTIFY_ADDRESS: 'ops@acme.dev',
};
const VARIANTS = {
  'in a VPC': {
    ...BASE,
    SIDESTEP_STAGING_SUBNET_IDS: 'subnet-0a1b2c3d',
    SIDESTEP_STAGING_SECURITY_GROUP_IDS: 'sg-0a1b2c3d',
  },
  'with every optional setting': {
    ...BASE,
    SIDESTEP_STAGING_NETWORK: 'create',
    SIDESTEP_STAGING_DATABASE_SECURITY_GROUP_ID: 'sg-0d47ab45e',
    SIDESTEP_STAGING_HOSTED_ZONE_ID: 'Z0123456789ABC',
    SIDESTEP_STAGING_ALARM_EMAIL: 'alarms@mail.acme.dev',
    SIDESTEP_STAGING_MAIL_DOMAIN: 'mail.acme.dev',
    SIDESTEP_STAGING_MAIL_FROM: 'no-reply@mail.acme.dev',
    SIDESTEP_STAGING_DATABASE_SECRET_KMS_KEY_ARN: `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`,
  },
};
type Terraform = SynthesizedTerraformJson & {
  resource: Record<string, Record<string, Record<string, unknown>>>;
};
const PREFIX = 'sidestep-staging';
const BOUNDARY = permissionsBoundaryArn(ACCOUNT, PREFIX);

/** The deploy and environment stacks of one variant, and the deploy role's policies (inline and attached). */
function synthesize(env: Record<string, string>) {
  const config = environmentConfigs(env).staging;
  const deploy = JSON.parse(
    withTestingApp((app) => Testing.synth(new DeployStack(app, 'sidestep-staging-deploy', { config }))),
  ) as Terraform;
  const environment = JSON.parse(synthStack({}, config)) as Terraform;
  // The OIDC provider's ARN is known only after apply; the trust is not what these tests read.
  const loaded = loadStackPolicies(deploy, {
    accountId: ACCOUNT,
    resolve: (reference) =>
      reference.startsWith('aws_iam_openid_connect_provider.')
        ? `arn:aws:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com`
        : undefined,
  });
  const deployRole = loaded.roles.get('sidestep-deploy-staging');
  /** Customer-managed policies of the deploy stack attached to the deploy role (the loader reads inline ones). */
  const attached: Policy[] = Object.values(deploy.resource.aws_iam_role_policy_attachment ?? {}).flatMap(
    (attachment) => {
      const target = /^\$\{aws_iam_policy\.([^.]+)\.arn\}$/.exec(String(attachment.policy_arn))?.[1];
      const policy = target ? deploy.resource.aws_iam_policy?.[target] : undefined;
      return policy ? [parsePolicy(JSON.parse(String(policy.policy)), String(policy.name))] : [];
    },
  );
  const ask = (
    action: string,
    resource: string,
    context: Readonly<Record<string, string>> = {},
  ): AuthorizationDecision => {
    if (!deployRole) throw new Error('no deploy role');
    return evaluateRequest(
      { principal: { type: 'role', roleArn: deployRole.arn }, action, resource, context: { ...context } },
      { identityPolicies: [...deployRole.policies, ...attached] },
    );
  };
  const scope = {
    accountId: ACCOUNT,
    region: REGION,
    prefix: PREFIX,
    bucketName: environmentBucketName(config, 'imports'),
    mailIdentity: config.mail.domain ?? config.mail.fromAddress,
    databaseSecretArn: config.databaseSecretArn,
    ...(config.databaseSecretKmsKeyArn ? { databaseSecretKmsKeyArn: config.databaseSecretKmsKeyArn } : {}),
    ...(config.mail.hostedZoneId ? { hostedZoneId: config.mail.hostedZoneId } : {}),
    ...(config.network?.database ? { databaseSecurityGroupId: config.network.database.securityGroupId } : {}),
  };
  return { config, deploy, environment, loaded, deployRole, attached, ask, scope };
}

const variants = Object.entries(VARIANTS).map(([label, env]) => [label, synthesize(env)] as const);
const [, inVpc] = variants[0] ?? [];
if (!inVpc) throw new Error('no variant');
const { deploy, environment, ask } = inVpc;

describe.each(variants)('the deploy role against the provider’s calls (%s)', (_label, variant) => {
  it('loads the inline policy, and the managed policies the loader leaves to this test', () => {
    expect(variant.deployRole?.policies).toHaveLength(1);
    const attachments = Object.keys(variant.deploy.resource.aws_iam_role_policy_attachment ?? {});
    expect(variant.attached).toHaveLength(attachments.length);
    expect(attachments.length).toBeLessThanOrEqual(10);
    expect(variant.loaded.warnings).toEqual(
      attachments.map((id) =>
        expect.stringContaining(`aws_iam_role_policy_attachment.${id}: managed policy`),
      ),
    );
  });

  it('allows every call the provider makes for every resource type of the stack', () => {
    const calls = providerCalls(variant.scope);
    expect(calls.length).toBeGreaterThan(150);
    const denied = calls
      .filter((call) => variant.ask(call.action, call.resource, call.context).decision !== 'allow')
      .map((call) => `${call.resourceType}: ${call.action} on ${call.resource}`);
    expect(denied).toEqual([]);
  });

  it('allows every call of the pipeline’s own steps (preflight, migration, wait, smoke check)', () => {
    const calls = pipelineCalls(variant.scope);
    expect(new Set(calls.map((call) => call.step))).toEqual(
      new Set(['preflight', 'migrate', 'wait', 'smoke check']),
    );
    const denied = calls
      .filter((call) => variant.ask(call.action, call.resource, call.context).decision !== 'allow')
      .map((call) => `${call.step}: ${call.action} on ${call.resource}`);
    expect(denied).toEqual([]);
  });

  it('allows none of them in production', () => {
    const production = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:sidestep-production-mail-dispatcher`;
    expect(variant.ask('lambda:UpdateFunctionConfiguration', production).decision).toBe('implicit-deny');
  });
});

describe('the deploy role’s reach beyond its own resources', () => {
  const [, full] = variants[1] ?? [];
  if (!full) throw new Error('no variant');
  const ec2 = (resource: string) => `arn:aws:ec2:${REGION}:${ACCOUNT}:${resource}`;
  const own = environmentTags('ResourceTag', 'staging');
  const production = environmentTags('ResourceTag', 'production');
  const creating = environmentTags('RequestTag', 'staging');

  it('runs only the migration task, in its own cluster, and passes only its roles', () => {
    const ecs = `arn:aws:ecs:${REGION}:${ACCOUNT}`;
    const definition = `${ecs}:task-definition/sidestep-staging-batch-worker:3`;
    expect(
      full.ask('ecs:RunTask', definition, { 'ecs:cluster': `${ecs}:cluster/sidestep-staging-batch-worker` })
        .decision,
    ).toBe('allow');
    expect(full.ask('ecs:RunTask', definition, { 'ecs:cluster': `${ecs}:cluster/other` }).decision).not.toBe(
      'allow',
    );
    expect(
      full.ask('ecs:RunTask', `${ecs}:task-definition/sidestep-production-batch-worker:3`, {
        'ecs:cluster': `${ecs}:cluster/sidestep-production-batch-worker`,
      }).decision,
    ).not.toBe('allow');
    expect(full.ask('ecs:DescribeTasks', `${ecs}:task/other/0123`).decision).not.toBe('allow');
    expect(
      full.ask('iam:PassRole', `arn:aws:iam::${ACCOUNT}:role/sidestep-production-batch-worker-task`, {
        'iam:PassedToService': 'ecs-tasks.amazonaws.com',
      }).decision,
    ).not.toBe('allow');
  });

  it('reads only the configured database secret', () => {
    const other = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:db/other-AbCdEf`;
    expect(full.ask('secretsmanager:GetSecretValue', full.config.databaseSecretArn).decision).toBe('allow');
    expect(full.ask('secretsmanager:GetSecretValue', other).decision).not.toBe('allow');
  });

  it('changes network resources only when they carry the environment’s tags, or the configured database group', () => {
    const group = ec2('security-group/sg-0123');
    expect(full.ask('ec2:AuthorizeSecurityGroupIngress', group, own).decision).toBe('allow');
    expect(full.ask('ec2:AuthorizeSecurityGroupIngress', group, production).decision).not.toBe('allow');
    expect(full.ask('ec2:AuthorizeSecurityGroupIngress', group).decision).not.toBe('allow');
    expect(full.ask('ec2:AuthorizeSecurityGroupIngress', ec2('security-group/sg-0d47ab45e')).decision).toBe(
      'allow',
    );
    expect(full.ask('ec2:DeleteVpc', ec2('vpc/vpc-0123'), production).decision).not.toBe('allow');
    // Creates need the environment's tags on the request.
    expect(full.ask('ec2:CreateVpc', ec2('vpc/vpc-0123')).decision).not.toBe('allow');
  });

  it('creates subnets only in the environment’s VPC', () => {
    expect(full.ask('ec2:CreateSubnet', ec2('vpc/vpc-0123'), { ...creating, ...own }).decision).toBe('allow');
    expect(full.ask('ec2:CreateSubnet', ec2('vpc/vpc-0123'), { ...creating, ...production }).decision).toBe(
      'explicit-deny',
    );
    expect(full.ask('ec2:CreateSubnet', ec2('vpc/vpc-0123'), creating).decision).toBe('explicit-deny');
  });

  it('never retags another environment’s network or key into its own', () => {
    const key = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234`;
    for (const [action, resource] of [
      ['ec2:CreateTags', ec2('security-group/sg-0123')],
      ['kms:TagResource', key],
    ] as const) {
      expect([action, full.ask(action, resource, { ...creating, ...production }).decision]).toEqual([
        action,
        'explicit-deny',
      ]);
    }
    expect(full.ask('kms:PutKeyPolicy', key, production).decision).not.toBe('allow');
    expect(full.ask('kms:PutKeyPolicy', key).decision).not.toBe('allow');
  });

  it('writes records only in the configured hosted zone', () => {
    expect(
      full.ask('route53:ChangeResourceRecordSets', 'arn:aws:route53:::hostedzone/Z0123456789ABC').decision,
    ).toBe('allow');
    expect(
      full.ask('route53:ChangeResourceRecordSets', 'arn:aws:route53:::hostedzone/ZOTHER').decision,
    ).not.toBe('allow');
    expect(
      inVpc?.ask('route53:ChangeResourceRecordSets', 'arn:aws:route53:::hostedzone/Z0123456789ABC').decision,
    ).not.toBe('allow');
  });
});

describe('the permissions boundary', () => {
  const role = `arn:aws:iam::${ACCOUNT}:role/${PREFIX}-mail-dispatcher`;
  const withBoundary = { 'iam:PermissionsBoundary': BOUNDARY };

  it.each(['iam:CreateRole', 'iam:PutRolePolicy', 'iam:PutRolePermissionsBoundary'])(
    'allows %s only with the boundary',
    (action) => {
      expect(ask(action, role, withBoundary).decision).toBe('allow');
      expect(ask(action, role).decision).not.toBe('allow');
      expect(
        ask(action, role, { 'iam:PermissionsBoundary': `arn:aws:iam::${ACCOUNT}:policy/${PREFIX}-other` })
          .decision,
      ).not.toBe('allow');
    },
  );

  it('never attaches managed policies, with or without the boundary', () => {
    const admin = { ...withBoundary, 'iam:PolicyARN': 'arn:aws:iam::aws:policy/AdministratorAccess' };
    expect(ask('iam:AttachRolePolicy', role, admin).decision).not.toBe('allow');
  });

  it('denies removing the boundary and changing the boundary policy', () => {
    expect(ask('iam:DeleteRolePermissionsBoundary', role).decision).toBe('explicit-deny');
    for (const action of [
      'iam:CreatePolicyVersion',
      'iam:DeletePolicy',
      'iam:DeletePolicyVersion',
      'iam:SetDefaultPolicyVersion',
    ]) {
      expect([action, ask(action, BOUNDARY).decision]).toEqual([action, 'explicit-deny']);
    }
  });

  it('is on every role of the environment stack', () => {
    const roles = Object.values(environment.resource.aws_iam_role ?? {});
    expect(roles.length).toBeGreaterThan(10);
    for (const r of roles) expect([r.name, r.permissions_boundary]).toEqual([r.name, BOUNDARY]);
  });

  it('caps no action a role of the environment stack is granted, and denies IAM writes to all of them', () => {
    const document = Object.values(deploy.resource.aws_iam_policy ?? {}).find(
      (policy) => policy.name === `${PREFIX}-boundary`,
    );
    const boundary = parsePolicy(JSON.parse(String(document?.policy)), 'boundary');
    const stack = loadStackPolicies(environment, { accountId: ACCOUNT });
    const capped: string[] = [];
    for (const role of stack.roles.values()) {
      for (const statement of role.policies.flatMap((policy) => policy.statements)) {
        for (const action of statement.action ?? []) {
          for (const resource of statement.resource ?? []) {
            const decision = evaluateRequest(
              { principal: { type: 'role', roleArn: role.arn }, action, resource },
              { identityPolicies: role.policies, permissionsBoundary: boundary },
            ).decision;
            // Conditions of the role's own statements may not hold without their context: only the
            // boundary's refusals count here.
            const refusedByBoundary =
              decision !== 'allow' &&
              evaluateRequest(
                { principal: { type: 'role', roleArn: role.arn }, action, resource },
                { identityPolicies: [boundary] },
              ).decision !== 'allow';
            if (refusedByBoundary) capped.push(`${role.name}: ${action} on ${resource}`);
          }
        }
      }
      const escalate = evaluateRequest(
        { principal: { type: 'role', roleArn: role.arn }, action: 'iam:PutRolePolicy', resource: role.arn },
        {
          identityPolicies: [
            parsePolicy({ Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }, 'admin'),
          ],
          permissionsBoundary: boundary,
        },
      );
      expect([role.name, escalate.decision]).toEqual([role.name, 'explicit-deny']);
    }
    expect(capped).toEqual([]);
  });
});
