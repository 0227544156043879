import { describe, expect, it } from '@jest/globals';
import {
  DeployStack,
  environmentConfigs,
  permissionsBoundaryArn,
  providerCalls,
  SidestepStack,
} from '@sidestep/infra';
import { Testing } from 'cdktn';
import {
  type AuthorizationDecision,
  evaluateRequest,
  loadStackPolicies,
  type Policy,
  parsePolicy,
  type SynthesizedTerraformJson,
} from '../src/index.ts';

// The deploy role as `pnpm --filter @sidestep/infra run synth` writes it, for staging in a VPC.
const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const config = environmentConfigs({
  SIDESTEP_GITHUB_REPOSITORY: 'acme/sidestep',
  SIDESTEP_STAGING_ACCOUNT_ID: ACCOUNT,
  SIDESTEP_STAGING_REGION: REGION,
  SIDESTEP_STAGING_STATE_BUCKET: 'acme-terraform-state',
  SIDESTEP_STAGING_SUBNET_IDS: 'subnet-0a1b2c3d',
  SIDESTEP_STAGING_SECURITY_GROUP_IDS: 'sg-0a1b2c3d',
}).staging;
type Terraform = SynthesizedTerraformJson & {
  resource: Record<string, Record<string, Record<string, unknown>>>;
};
const deploy = JSON.parse(
  Testing.synth(new DeployStack(Testing.app(), 'sidestep-staging-deploy', { config })),
) as Terraform;
const environment = JSON.parse(
  Testing.synth(new SidestepStack(Testing.app(), 'sidestep-staging', { config })),
) as Terraform;
const PREFIX = 'sidestep-staging';
const BOUNDARY = permissionsBoundaryArn(ACCOUNT, PREFIX);

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

function ask(action: string, resource: string, context: Record<string, string> = {}): AuthorizationDecision {
  if (!deployRole) throw new Error('no deploy role');
  return evaluateRequest(
    { principal: { type: 'role', roleArn: deployRole.arn }, action, resource, context },
    { identityPolicies: [...deployRole.policies, ...attached] },
  );
}

describe('the deploy role against the provider’s calls', () => {
  it('loads the inline policy, and the managed policies the loader leaves to this test', () => {
    expect(deployRole?.policies).toHaveLength(1);
    const attachments = Object.keys(deploy.resource.aws_iam_role_policy_attachment ?? {});
    expect(attached).toHaveLength(attachments.length);
    expect(loaded.warnings).toEqual(
      attachments.map((id) =>
        expect.stringContaining(`aws_iam_role_policy_attachment.${id}: managed policy`),
      ),
    );
  });

  it('allows every call the provider makes for every resource type of the stack', () => {
    const calls = providerCalls({
      accountId: ACCOUNT,
      region: REGION,
      prefix: PREFIX,
      mailIdentity: config.mail.domain ?? config.mail.fromAddress,
    });
    expect(calls.length).toBeGreaterThan(150);
    const denied = calls
      .filter((call) => ask(call.action, call.resource, call.context).decision !== 'allow')
      .map((call) => `${call.resourceType}: ${call.action} on ${call.resource}`);
    expect(denied).toEqual([]);
  });

  it('allows none of them in production', () => {
    const production = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:sidestep-production-mail-dispatcher`;
    expect(ask('lambda:UpdateFunctionConfiguration', production).decision).toBe('implicit-deny');
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
