import { describe, expect, it } from '@jest/globals';
import {
  evaluateRequest,
  parsePolicy,
  type RequestContext,
  s3Authorization,
  s3BucketArn,
  s3ReadsObject,
} from '@sidestep/iam';
import { TerraformStack, Testing } from 'cdktn';
import {
  checkSecurityPolicy,
  DeployRole,
  DeployStack,
  type EnvironmentConfig,
  environmentConfigs,
  GrantableRole,
  INLINE_POLICIES_MAX_CHARACTERS,
  InfraConfigError,
  MANAGED_POLICY_MAX_CHARACTERS,
  permissionsBoundaryArn,
  SidestepStack,
  type SynthesizedTerraform,
  UNSCOPABLE_ACTIONS,
} from '../src/index.ts';
import { STAGING_SETTINGS } from './environment-fixture.ts';
import { one } from './terraform-json.ts';

type Resources = Record<string, Record<string, Record<string, unknown>>>;
interface Statement {
  readonly Sid: string;
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: string | string[];
  readonly Condition?: Record<string, Record<string, string | string[]>>;
}

const ENV = STAGING_SETTINGS;
const configs = environmentConfigs(ENV);

function synth(stack: TerraformStack): { resource: Resources; removed?: unknown } & SynthesizedTerraform {
  return JSON.parse(Testing.synth(stack, true));
}

function only<T>(resources: Record<string, T> | undefined): T {
  const values = Object.values(resources ?? {});
  expect(values).toHaveLength(1);
  return values[0] as T;
}

const deploy = synth(new DeployStack(Testing.app(), 'sidestep-staging-deploy', { config: configs.staging }));
const role = only(deploy.resource.aws_iam_role) as { name: string; assume_role_policy: string };
const trust = JSON.parse(role.assume_role_policy) as { Statement: Statement[] };
interface PolicyJson {
  Statement: Statement[];
}
/** The role's statements: its inline policy and its apply policies (customer-managed, attached). */
function deployPolicies(synthesized: { resource: Resources }): { inline: PolicyJson; managed: PolicyJson[] } {
  const inline = JSON.parse((only(synthesized.resource.aws_iam_role_policy) as { policy: string }).policy);
  const attached = new Set(
    Object.values(synthesized.resource.aws_iam_role_policy_attachment ?? {}).map((a) => String(a.policy_arn)),
  );
  const managed = Object.entries(synthesized.resource.aws_iam_policy ?? {})
    .filter(([id]) => attached.has(`\${aws_iam_policy.${id}.arn}`))
    .map(([, p]) => JSON.parse(String(p.policy)) as PolicyJson);
  return { inline, managed };
}
const policies = deployPolicies(deploy);
const policy: PolicyJson = {
  Statement: [...policies.inline.Statement, ...policies.managed.flatMap((p) => p.Statement)],
};
const statement = (sid: string): Statement => {
  const found = policy.Statement.find((s) => s.Sid === sid);
  if (!found) throw new Error(`no statement ${sid}`);
  return found;
};
const list = (value: string | string[]): string[] => (Array.isArray(value) ? value : [value]);

/** IAM's StringLike / ArnLike: `*` any run of characters, `?` one character, everything else literal. */
function globMatches(pattern: string, value: string): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replaceAll('*', '.*')
    .replaceAll('?', '.');
  return new RegExp(`^${source}$`).test(value);
}

/**
 * Evaluates a trust statement's conditions against a token's claims as STS does for the operators the
 * trust may use: every operator and key must hold, a key holds when any listed value matches.
 */
function trusted(claims: Readonly<Record<string, string>>, document = trust): boolean {
  const [allow] = document.Statement;
  if (!allow) return false;
  return Object.entries(allow.Condition ?? {}).every(([operator, keys]) =>
    Object.entries(keys).every(([key, expected]) => {
      const claim = claims[key];
      if (claim === undefined) return false;
      if (operator === 'StringEquals') return list(expected).includes(claim);
      if (operator === 'StringLike') return list(expected).some((pattern) => globMatches(pattern, claim));
      throw new Error(`operator ${operator} is not evaluated by this test`);
    }),
  );
}
const token = (sub: string, aud = 'sts.amazonaws.com') => ({
  'token.actions.githubusercontent.com:sub': sub,
  'token.actions.githubusercontent.com:aud': aud,
});

describe('DeployStack trust', () => {
  it('trusts web identities of the GitHub OIDC provider, with the STS audience only', () => {
    const provider = only(deploy.resource.aws_iam_openid_connect_provider) as Record<string, unknown>;
    expect(provider.url).toBe('https://token.actions.githubusercontent.com');
    expect(provider.client_id_list).toEqual(['sts.amazonaws.com']);
    expect(trust.Statement).toHaveLength(1);
    const [allow] = trust.Statement as [Statement];
    expect(allow.Effect).toBe('Allow');
    expect(allow.Action).toBe('sts:AssumeRoleWithWebIdentity');
    expect((allow as unknown as { Principal: unknown }).Principal).toEqual({
      Federated: expect.stringMatching(/^\$\{aws_iam_openid_connect_provider\.[^.]+\.arn\}$/),
    });
    expect(allow.Condition?.StringEquals?.['token.actions.githubusercontent.com:aud']).toBe(
      'sts.amazonaws.com',
    );
  });

  it("accepts this repository's main branch and its staging environment", () => {
    expect(trusted(token('repo:acme/sidestep:ref:refs/heads/main'))).toBe(true);
    expect(trusted(token('repo:acme/sidestep:environment:staging'))).toBe(true);
  });

  it.each([
    ['a fork', 'repo:mallory/sidestep:ref:refs/heads/main'],
    ['a repository sharing the prefix', 'repo:acme/sidestep-fork:ref:refs/heads/main'],
    ['another branch', 'repo:acme/sidestep:ref:refs/heads/feature'],
    ['a branch named like main', 'repo:acme/sidestep:ref:refs/heads/main-hotfix'],
    ['a tag', 'repo:acme/sidestep:ref:refs/tags/main'],
    ['a pull request', 'repo:acme/sidestep:pull_request'],
    ['the production environment', 'repo:acme/sidestep:environment:production'],
    ['an environment sharing the prefix', 'repo:acme/sidestep:environment:staging-preview'],
  ])('rejects %s', (_label, sub) => {
    expect(trusted(token(sub))).toBe(false);
  });

  it('trusts production only through its environment: a main job without one would skip the approval', () => {
    const production = environmentConfigs({
      ...ENV,
      SIDESTEP_PRODUCTION_STATE_BUCKET: 'acme-terraform-state',
    }).production;
    const synthesized = synth(
      new DeployStack(Testing.app(), 'sidestep-production-deploy', { config: production }),
    );
    const productionTrust = JSON.parse(
      (only(synthesized.resource.aws_iam_role) as { assume_role_policy: string }).assume_role_policy,
    ) as { Statement: Statement[] };
    expect(trusted(token('repo:acme/sidestep:environment:production'), productionTrust)).toBe(true);
    expect(trusted(token('repo:acme/sidestep:ref:refs/heads/main'), productionTrust)).toBe(false);
    expect(trusted(token('repo:acme/sidestep:environment:staging'), productionTrust)).toBe(false);
    expect(trusted(token('repo:mallory/sidestep:environment:production'), productionTrust)).toBe(false);
  });

  it('rejects a token for another audience', () => {
    expect(trusted(token('repo:acme/sidestep:ref:refs/heads/main', 'https://github.com/acme'))).toBe(false);
  });

  it('is named outside sidestep-<env>-*, so the role cannot rewrite itself', () => {
    expect(role.name).toBe('sidestep-deploy-staging');
    expect(
      globMatches(
        list(statement('ApplyRoles').Resource)[0] as string,
        `arn:aws:iam::123456789012:role/${role.name}`,
      ),
    ).toBe(false);
  });

  it('reuses an existing provider when the account has one', () => {
    const arn = 'arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com';
    const config = environmentConfigs({ ...ENV, SIDESTEP_STAGING_GITHUB_OIDC_PROVIDER_ARN: arn }).staging;
    const synthesized = synth(new DeployStack(Testing.app(), 'reuse', { config }));
    expect(synthesized.resource.aws_iam_openid_connect_provider).toBeUndefined();
    const reused = only(synthesized.resource.aws_iam_role) as { assume_role_policy: string };
    expect(JSON.parse(reused.assume_role_policy).Statement[0].Principal).toEqual({ Federated: arn });
  });

  it('refuses a federated role without conditions (any repository on GitHub could assume it)', () => {
    const stack = new TerraformStack(Testing.app(), 'open');
    expect(
      () => new GrantableRole(stack, 'open', { roleName: 'open', assumedBy: { federated: 'arn:x' } }),
    ).toThrow(InfraConfigError);
  });
});

describe('DeployStack permissions', () => {
  const main = synth(new SidestepStack(Testing.app(), 'sidestep-staging', { config: configs.staging }));
  const names = (type: string, attribute: string): string[] =>
    Object.values(main.resource[type] ?? {}).map((resource) => String(resource[attribute]));
  const arn = (service: string, resource: string) => `arn:aws:${service}:eu-west-1:123456789012:${resource}`;
  const allows = (action: string, resource: string): boolean =>
    policy.Statement.some(
      (s) =>
        s.Effect === 'Allow' &&
        list(s.Action).includes(action) &&
        list(s.Resource).some((pattern) => globMatches(pattern, resource)),
    );

  it('passes the security policy', () => {
    expect(checkSecurityPolicy(deploy)).toEqual([]);
  });

  it('grants no wildcard action, and "*" resources only to unscopable actions', () => {
    for (const s of policy.Statement) {
      // Denies only take away (the guard rails, checked in scripts/tests/deploy-role-policy.test.ts).
      if (s.Effect === 'Deny') continue;
      // The one exception to the name scope: mapping ARNs are UUIDs and these calls carry no
      // lambda:FunctionArn; none of them changes what a mapping does.
      if (s.Sid === 'ReadEventSourceMappings') {
        expect(list(s.Action).sort()).toEqual([
          'lambda:GetEventSourceMapping',
          'lambda:ListTags',
          'lambda:TagResource',
          'lambda:UntagResource',
        ]);
        expect(s.Resource).toBe(arn('lambda', 'event-source-mapping:*'));
        continue;
      }
      // And the account's aws/ecr key (shared by every environment's repositories, its id unknown here):
      // only to retire grants, only in ECR's requests (DeleteRepository of the environment's repositories).
      if (s.Sid === 'RetireRepositoryKeyGrants') {
        expect(s.Action).toEqual(['kms:RetireGrant']);
        expect(s.Condition).toEqual({ StringEquals: { 'kms:ViaService': 'ecr.eu-west-1.amazonaws.com' } });
        continue;
      }
      // And the calls the provider makes on a key it has just created, before its tags authorize
      // (up to five minutes: KMS developer guide, "Use tags to control access to KMS keys"): reads, and
      // rotation on, of the region's keys; nothing that uses, disables, deletes or re-policies a key.
      if (s.Sid === 'ReadNewKeys') {
        expect(list(s.Action).sort()).toEqual([
          'kms:DescribeKey',
          'kms:EnableKeyRotation',
          'kms:GetKeyPolicy',
          'kms:GetKeyRotationStatus',
          'kms:ListResourceTags',
        ]);
        expect(s.Resource).toBe('arn:aws:kms:eu-west-1:123456789012:key/*');
        expect(s.Condition).toBeUndefined();
        continue;
      }
      expect(s.Effect).toBe('Allow');
      for (const action of list(s.Action)) expect(action).not.toContain('*');
      const resources = list(s.Resource);
      if (resources.includes('*')) {
        for (const action of list(s.Action)) expect(UNSCOPABLE_ACTIONS.has(action)).toBe(true);
      } else {
        // Every resource names the environment or the state bucket (or, for event source mappings named
        // by UUID, the condition names the functions; for EC2 and KMS resources, whose ids are random,
        // the condition names the environment's tags; the SES identity is the mail domain; the preflight
        // reads ECS's service-linked role and the account's Fargate quotas): nothing else.
        const scope = JSON.stringify(s.Condition ?? {});
        for (const resource of resources) {
          expect(`${resource} ${scope}`).toMatch(
            /sidestep-staging(\b|-)|^arn:aws:s3:::acme-terraform-state[/ ]|:identity\/staging\.mail\.acme\.dev |"aws:(Request|Resource)Tag\/environment":"staging"|:role\/aws-service-role\/ecs\.amazonaws\.com\/AWSServiceRoleForECS |^arn:aws:servicequotas:eu-west-1:123456789012:fargate\/\* /,
          );
        }
      }
    }
  });

  it('manages exactly the buckets of the environment stack, by their account-suffixed names', () => {
    expect(list(statement('ApplyBuckets').Resource).sort()).toEqual(
      names('aws_s3_bucket', 'bucket')
        .map((name) => `arn:aws:s3:::${name}`)
        .sort(),
    );
    // The old global names, and any other bucket of the environment's prefix, are not the stack's.
    for (const name of ['sidestep-staging-imports', 'sidestep-staging-exports', 'sidestep-staging-other']) {
      expect(allows('s3:CreateBucket', `arn:aws:s3:::${name}`)).toBe(false);
    }
  });

  it('pushes to exactly the repositories of the environment stack', () => {
    const pushable = list(statement('PushImages').Resource).sort();
    expect(pushable).toEqual(
      names('aws_ecr_repository', 'name')
        .map((name) => arn('ecr', `repository/${name}`))
        .sort(),
    );
    expect(list(statement('PushImages').Action)).toContain('ecr:PutImage');
  });

  it('invokes only the smoke check function, and rolls out every function', () => {
    expect(statement('InvokeSmokeCheck').Resource).toBe(
      arn('lambda', 'function:sidestep-staging-job-sweeper'),
    );
    expect(allows('lambda:InvokeFunction', arn('lambda', 'function:sidestep-staging-mail-dispatcher'))).toBe(
      false,
    );
    for (const name of names('aws_lambda_function', 'function_name')) {
      expect(allows('lambda:UpdateFunctionCode', arn('lambda', `function:${name}`))).toBe(true);
      expect(allows('lambda:GetFunction', arn('lambda', `function:${name}`))).toBe(true);
    }
  });

  it("reads and writes exactly the environment's state object and its lock file", () => {
    const state = 'arn:aws:s3:::acme-terraform-state/sidestep/staging/terraform.tfstate';
    expect(statement('TerraformState').Resource).toBe(state);
    expect(statement('TerraformLock').Resource).toBe(`${state}.tflock`);
    expect(list(statement('TerraformLock').Action)).toContain('s3:DeleteObject');
    expect(list(statement('TerraformState').Action)).not.toContain('s3:DeleteObject');
    // Its own state (deploy.tfstate) is not granted: the role cannot change the stack that defines it.
    expect(allows('s3:PutObject', 'arn:aws:s3:::acme-terraform-state/sidestep/staging/deploy.tfstate')).toBe(
      false,
    );
    expect(
      allows('s3:PutObject', 'arn:aws:s3:::acme-terraform-state/sidestep/production/terraform.tfstate'),
    ).toBe(false);
  });

  // Before the first apply there is no state object. The S3 backend reads it with HeadObject/GetObject
  // and takes only NotFound for "no state yet"; S3 answers a missing key 404 only to a caller with
  // s3:ListBucket on the bucket, 403 otherwise (API_HeadObject, "Permissions"), and that check is of a
  // request that names a key, not a prefix: a grant conditioned on s3:prefix does not count there.
  it('lets S3 answer 404 for a state object not yet written: s3:ListBucket on the state bucket, for a request without s3:prefix', () => {
    const documents = [policies.inline, ...policies.managed];
    const identityPolicies = documents.map((document, i) => parsePolicy(document, `deploy-${i}`));
    const decide = (action: string, resource: string, context: RequestContext = {}) =>
      evaluateRequest(
        {
          principal: { type: 'role', roleArn: 'arn:aws:iam::123456789012:role/sidestep-deploy-staging' },
          action,
          resource,
          context,
        },
        { identityPolicies },
      ).decision;
    const bucket = 'acme-terraform-state';
    for (const key of ['sidestep/staging/terraform.tfstate', 'sidestep/staging/terraform.tfstate.tflock']) {
      for (const operation of ['HeadObject', 'GetObject']) {
        expect(s3ReadsObject(operation)).toBe(true);
        for (const check of s3Authorization(operation, { bucket, key })) {
          expect([operation, key, check.action, decide(check.action, check.resource)]).toEqual([
            operation,
            key,
            check.action,
            'allow',
          ]);
        }
      }
    }
    expect(decide('s3:ListBucket', s3BucketArn(bucket))).toBe('allow');
    // The workspaces listing (ListObjectsV2 under the default workspace_key_prefix `env:/`) too.
    for (const check of s3Authorization('ListObjectsV2', { bucket, prefix: 'env:/' })) {
      expect(decide(check.action, check.resource, check.context)).toBe('allow');
    }
    // Listing shows names only: the other states stay unreadable.
    for (const other of ['sidestep/production/terraform.tfstate', 'sidestep/staging/deploy.tfstate']) {
      expect(decide('s3:GetObject', `arn:aws:s3:::${bucket}/${other}`)).toBe('implicit-deny');
    }
  });

  it('may apply every named resource of the environment stack, and nothing of production', () => {
    const covered: Array<[string, string, string]> = [
      ...names('aws_lambda_function', 'function_name').map(
        (n) => ['lambda:CreateFunction', arn('lambda', `function:${n}`), n] as [string, string, string],
      ),
      ...names('aws_sqs_queue', 'name').map(
        (n) => ['sqs:CreateQueue', arn('sqs', n), n] as [string, string, string],
      ),
      ...names('aws_s3_bucket', 'bucket').map(
        (n) => ['s3:CreateBucket', `arn:aws:s3:::${n}`, n] as [string, string, string],
      ),
      ...names('aws_iam_role', 'name').map(
        (n) => ['iam:CreateRole', `arn:aws:iam::123456789012:role/${n}`, n] as [string, string, string],
      ),
      ...names('aws_iam_role', 'name').map(
        (n) => ['iam:PutRolePolicy', `arn:aws:iam::123456789012:role/${n}`, n] as [string, string, string],
      ),
      ...names('aws_cloudwatch_log_group', 'name').map(
        (n) => ['logs:CreateLogGroup', arn('logs', `log-group:${n}`), n] as [string, string, string],
      ),
      ...names('aws_cloudwatch_metric_alarm', 'alarm_name').map(
        (n) => ['cloudwatch:PutMetricAlarm', arn('cloudwatch', `alarm:${n}`), n] as [string, string, string],
      ),
      ...names('aws_sfn_state_machine', 'name').map(
        (n) =>
          ['states:CreateStateMachine', arn('states', `stateMachine:${n}`), n] as [string, string, string],
      ),
      ...names('aws_ecs_cluster', 'name').map(
        (n) => ['ecs:CreateCluster', arn('ecs', `cluster/${n}`), n] as [string, string, string],
      ),
      ...names('aws_pipes_pipe', 'name').map(
        (n) => ['pipes:CreatePipe', arn('pipes', `pipe/${n}`), n] as [string, string, string],
      ),
      ...names('aws_secretsmanager_secret', 'name').map(
        (n) =>
          ['secretsmanager:CreateSecret', arn('secretsmanager', `secret:${n}-AbCdEf`), n] as [
            string,
            string,
            string,
          ],
      ),
      ...names('aws_scheduler_schedule', 'name').map(
        (n) =>
          ['scheduler:CreateSchedule', arn('scheduler', `schedule/sidestep-staging/${n}`), n] as [
            string,
            string,
            string,
          ],
      ),
      ...names('aws_cloudwatch_event_rule', 'name').map(
        (n) => ['events:PutRule', arn('events', `rule/${n}`), n] as [string, string, string],
      ),
      ...names('aws_sesv2_email_identity', 'email_identity').map(
        (n) => ['ses:CreateEmailIdentity', arn('ses', `identity/${n}`), n] as [string, string, string],
      ),
    ];
    expect(covered.length).toBeGreaterThan(40);
    for (const [action, resource, name] of covered) {
      expect([name, allows(action, resource)]).toEqual([name, true]);
      expect([name, allows(action, resource.replaceAll('staging', 'production'))]).toEqual([name, false]);
    }
  });

  it('fits the 10,240 characters IAM allows a role inline, with a 63-character state bucket and a long mail domain', () => {
    const longBucket = environmentConfigs({
      ...ENV,
      SIDESTEP_STAGING_STATE_BUCKET: 'b'.repeat(63),
      SIDESTEP_STAGING_MAIL_DOMAIN: `${'m'.repeat(53)}.acme.dev`,
      SIDESTEP_STAGING_REGION: 'ap-southeast-5',
    }).staging;
    const synthesized = synth(new DeployStack(Testing.app(), 'long', { config: longBucket }));
    const document = (only(synthesized.resource.aws_iam_role_policy) as { policy: string }).policy;
    // IAM counts the policy without whitespace.
    expect(document.replace(/\s/g, '').length).toBeLessThanOrEqual(INLINE_POLICIES_MAX_CHARACTERS);
    const managed = deployPolicies(synthesized).managed.map(
      (p) => JSON.stringify(p).replace(/\s/g, '').length,
    );
    expect(managed.length).toBeGreaterThan(0);
    for (const size of managed) expect(size).toBeLessThanOrEqual(MANAGED_POLICY_MAX_CHARACTERS);
    // The role's managed policies stay within IAM's default of 10 per role.
    expect(managed.length).toBeLessThanOrEqual(10);
  });

  it('attaches only its own apply policies, with aws_iam_role_policy_attachment', () => {
    expect(deploy.resource.aws_iam_policy_attachment).toBeUndefined();
    const attachments = Object.values(deploy.resource.aws_iam_role_policy_attachment ?? {});
    expect(attachments.length).toBe(policies.managed.length);
    for (const attachment of attachments) {
      expect(attachment.role).toMatch(/^\$\{aws_iam_role\.deploy-role_[^.]+\.name\}$/);
      expect(attachment.policy_arn).toMatch(
        /^\$\{aws_iam_policy\.deploy-role_apply-policy-\d+_[^.]+\.arn\}$/,
      );
    }
  });

  it('reads and tags event source mappings without a lambda:FunctionArn condition they do not carry', () => {
    const mappings = arn('lambda', 'event-source-mapping:*');
    for (const action of ['lambda:GetEventSourceMapping', 'lambda:ListTags', 'lambda:TagResource']) {
      const granting = policy.Statement.filter(
        (s) => s.Effect === 'Allow' && list(s.Action).includes(action) && list(s.Resource).includes(mappings),
      );
      expect([action, granting.length]).toEqual([action, 1]);
      expect(granting[0]?.Condition).toBeUndefined();
    }
    // Update and Delete carry it, and keep it.
    const update = policy.Statement.find((s) => list(s.Action).includes('lambda:UpdateEventSourceMapping'));
    expect(update?.Condition?.ArnLike?.['lambda:FunctionArn']).toBe(
      arn('lambda', 'function:sidestep-staging-*'),
    );
  });

  // Since hashicorp/aws 5.67 the plan of a changed aws_sfn_state_machine definition calls
  // ValidateStateMachineDefinition (CustomizeDiff), which IAM checks against `stateMachine:*` whatever the
  // machine (https://github.com/hashicorp/terraform-provider-aws/issues/39472): without it the plan of the
  // first deploy that changes a workflow fails with AccessDenied.
  it('may validate a changed state machine definition at plan time, on any state machine ARN', () => {
    expect(allows('states:ValidateStateMachineDefinition', arn('states', 'stateMachine:*'))).toBe(true);
    const granting = policy.Statement.filter((s) =>
      list(s.Action).includes('states:ValidateStateMachineDefinition'),
    );
    expect(granting.map((s) => s.Resource)).toEqual(['*']);
  });

  // The repositories are encrypted with the AWS-managed aws/ecr key, on which ECR creates grants for each
  // repository; deleting one retires them with the caller's permissions, so DeleteRepository also needs
  // kms:RetireGrant ("Required IAM permissions" of
  // https://docs.aws.amazon.com/AmazonECR/latest/userguide/encryption-at-rest.html). The key's id is the
  // account's, unknown here: any key of the account, only through ECR.
  it('may retire the KMS grants of a repository it deletes, through ECR only', () => {
    expect(allows('ecr:DeleteRepository', arn('ecr', 'repository/sidestep-staging-mail-dispatcher'))).toBe(
      true,
    );
    const granting = policy.Statement.filter(
      (s) => s.Effect === 'Allow' && list(s.Action).some((action) => action.startsWith('kms:RetireGrant')),
    );
    expect(granting).toEqual([
      expect.objectContaining({
        Action: ['kms:RetireGrant'],
        Resource: arn('kms', 'key/*'),
        Condition: { StringEquals: { 'kms:ViaService': 'ecr.eu-west-1.amazonaws.com' } },
      }),
    ]);
  });

  it('may describe the network Lambda checks for functions in a VPC', () => {
    for (const action of ['ec2:DescribeSecurityGroups', 'ec2:DescribeSubnets', 'ec2:DescribeVpcs']) {
      expect([action, allows(action, '*')]).toEqual([action, true]);
    }
  });
});

describe('DeployStack bootstrap resources', () => {
  it('creates the ECS service-linked role unless the account already has it', () => {
    const role = only(deploy.resource.aws_iam_service_linked_role) as Record<string, unknown>;
    expect(role.aws_service_name).toBe('ecs.amazonaws.com');
    const config = environmentConfigs({
      ...ENV,
      SIDESTEP_STAGING_ECS_SERVICE_LINKED_ROLE_EXISTS: 'true',
    }).staging;
    const shared = synth(new DeployStack(Testing.app(), 'shared', { config }));
    expect(shared.resource.aws_iam_service_linked_role).toBeUndefined();
  });

  // With staging and production in one account, production's deploy role trusts the provider that
  // staging's deploy stack created, and ECS keeps using the one service-linked role: a destroy of
  // staging's deploy stack must not delete them. Terraform refuses it at plan time:
  // https://developer.hashicorp.com/terraform/language/meta-arguments/lifecycle
  it('protects the account-wide GitHub OIDC provider and ECS service-linked role from destroy, in teardown mode too', () => {
    for (const teardown of ['false', 'true']) {
      const config = environmentConfigs({ ...ENV, SIDESTEP_STAGING_TEARDOWN: teardown }).staging;
      const tf = synth(new DeployStack(Testing.app(), 'sidestep-staging-deploy', { config }));
      for (const type of ['aws_iam_openid_connect_provider', 'aws_iam_service_linked_role']) {
        expect([teardown, type, only(tf.resource[type]).lifecycle]).toEqual([
          teardown,
          type,
          { prevent_destroy: true },
        ]);
      }
    }
  });

  // prevent_destroy lives in the resource block: a resource that leaves the configuration is destroyed,
  // however it was protected. The deploy stack that created the provider (or the role) is told the
  // account has it when it is applied again (README, bootstrap step 4), so it must forget them instead:
  // a `removed` block with `destroy = false` (Terraform >= 1.7; one for an address not in the state does
  // nothing). https://developer.hashicorp.com/terraform/language/state/remove
  it.each([
    [
      'SIDESTEP_STAGING_GITHUB_OIDC_PROVIDER_ARN',
      'arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com',
      'aws_iam_openid_connect_provider',
    ],
    ['SIDESTEP_STAGING_ECS_SERVICE_LINKED_ROLE_EXISTS', 'true', 'aws_iam_service_linked_role'],
  ])(
    'forgets the account-wide resource it created, never destroying it, once %s says the account has it',
    (variable, value, type) => {
      const created = synth(
        new DeployStack(Testing.app(), 'sidestep-staging-deploy', { config: configs.staging }),
      );
      const [address, body] = one(created, type);
      expect(body.lifecycle).toEqual({ prevent_destroy: true });
      expect(created.removed).toBeUndefined();

      const config = environmentConfigs({ ...ENV, [variable]: value }).staging;
      const existing = synth(new DeployStack(Testing.app(), 'sidestep-staging-deploy', { config }));
      expect(existing.resource[type]).toBeUndefined();
      expect(existing.removed).toEqual([{ from: address, lifecycle: { destroy: false } }]);
    },
  );

  it('creates the permissions boundary of the environment, at the ARN the environment stack names', () => {
    const boundary = Object.values(deploy.resource.aws_iam_policy ?? {}).filter(
      (p) => p.name === 'sidestep-staging-boundary',
    );
    expect(boundary).toHaveLength(1);
    const expected = permissionsBoundaryArn('123456789012', 'sidestep-staging');
    expect(expected).toBe('arn:aws:iam::123456789012:policy/sidestep-staging-boundary');
    expect(
      (deploy as unknown as { output: Record<string, { value: string }> }).output.permissions_boundary_arn
        ?.value,
    ).toBe(expected);
    const environment = synth(
      new SidestepStack(Testing.app(), 'sidestep-staging', { config: configs.staging }),
    );
    for (const role of Object.values(environment.resource.aws_iam_role ?? {})) {
      expect(role.permissions_boundary).toBe(expected);
    }
    // The local stack is never deployed by the role: no boundary (the local cloud evaluates its roles as written).
    const local = synth(new SidestepStack(Testing.app(), 'sidestep-local', { config: configs.local }));
    for (const role of Object.values(local.resource.aws_iam_role ?? {})) {
      expect(role.permissions_boundary).toBeUndefined();
    }
  });
});

// The deploy role is scoped by the environment's settings (the SES identity of MAIL_DOMAIN, the secret,
// its key, the buckets' suffix, the hosted zone, the database's group): a deploy stack applied with a
// placeholder left grants the role placeholders, and the pipeline, whose synth refuses them, fails at
// its first apply (AccessDenied on ses:CreateEmailIdentity of the real domain).
describe('DeployStack settings', () => {
  const refusal = (env: Record<string, string>): unknown => {
    try {
      new DeployStack(Testing.app(), 'sidestep-staging-deploy', { config: environmentConfigs(env).staging });
      return undefined;
    } catch (error) {
      return error;
    }
  };

  it('refuses a placeholder setting of an environment given its account, naming the variable', () => {
    const { SIDESTEP_STAGING_MAIL_DOMAIN: _domain, ...withoutDomain } = STAGING_SETTINGS;
    const error = refusal(withoutDomain);
    expect(error).toBeInstanceOf(InfraConfigError);
    expect(error).toMatchObject({ field: 'staging.mail.domain' });
    expect(String((error as Error).message)).toContain('SIDESTEP_STAGING_MAIL_DOMAIN');
    expect(String((error as Error).message)).toContain('staging.mail.example.com');
  });

  it.each([
    ['SIDESTEP_STAGING_DATABASE_SECRET_ARN', 'staging.databaseSecretArn'],
    ['SIDESTEP_STAGING_STATE_BUCKET', 'staging.backend.bucket'],
    ['SIDESTEP_STAGING_TASK_SUBNET_IDS', 'staging.taskNetwork.subnetIds'],
    ['SIDESTEP_STAGING_NOTIFY_ADDRESS', 'staging.mail.notifyAddress'],
    ['SIDESTEP_GITHUB_REPOSITORY', 'staging.github'],
  ])('refuses %s left unset', (variable, field) => {
    const { [variable]: _unset, ...env } = STAGING_SETTINGS;
    expect(refusal(env)).toMatchObject({ name: 'InfraConfigError', field });
  });

  it('synthesizes with every setting of the environment given', () => {
    expect(refusal(STAGING_SETTINGS)).toBeUndefined();
  });

  it("synthesizes an environment given no account as a sample (CI's synth, which terraform validates), which no account accepts", () => {
    expect(refusal({})).toBeUndefined();
    const sample = synth(
      new DeployStack(Testing.app(), 'sidestep-production-deploy', { config: configs.production }),
    ) as unknown as { provider: { aws: Array<{ allowed_account_ids: string[] }> } };
    expect(sample.provider.aws[0]?.allowed_account_ids).toEqual(['222222222222']);
  });
});

describe('github config', () => {
  const fieldOf = (env: Record<string, string>): string | undefined => {
    try {
      environmentConfigs(env);
      return undefined;
    } catch (error) {
      return error instanceof InfraConfigError ? error.field : `not an InfraConfigError: ${error}`;
    }
  };

  it('reads owner and repository from SIDESTEP_GITHUB_REPOSITORY', () => {
    expect(configs.production.github).toEqual({ owner: 'acme', repository: 'sidestep' });
  });

  it.each([
    ['no slash', 'acme', 'staging.github.repository'],
    ['a wildcard owner', 'ac*me/sidestep', 'staging.github.owner'],
    ['a wildcard repository', 'acme/*', 'staging.github.repository'],
    ['an extra segment', 'acme/side/step', 'staging.github.repository'],
  ])('names the field for %s', (_label, value, field) => {
    expect(fieldOf({ SIDESTEP_GITHUB_REPOSITORY: value })).toBe(field);
  });

  it('refuses a provider ARN of another issuer', () => {
    expect(
      fieldOf({
        SIDESTEP_STAGING_GITHUB_OIDC_PROVIDER_ARN: 'arn:aws:iam::123456789012:oidc-provider/example.com',
      }),
    ).toBe('staging.github.oidcProviderArn');
  });

  it('refuses a state bucket the deploy role could manage as one of the stack buckets', () => {
    expect(fieldOf({ SIDESTEP_STAGING_STATE_BUCKET: 'sidestep-staging-state' })).toBe(
      'staging.backend.bucket',
    );
  });

  it('refuses the local environment, and a smoke check function the role does not roll out', () => {
    expect(() => new DeployStack(Testing.app(), 'x', { config: configs.local })).toThrow(
      expect.objectContaining({ field: 'local.name' }),
    );
    const stack = new TerraformStack(Testing.app(), 'smoke');
    expect(
      () =>
        new DeployRole(stack, 'role', {
          environment: 'staging',
          accountId: '123456789012',
          region: 'eu-west-1',
          github: { owner: 'acme', repository: 'sidestep' },
          state: { bucket: 'acme-terraform-state', key: 'k', region: 'eu-west-1' },
          repositoryNames: ['sidestep-staging-a'],
          functionNames: ['sidestep-staging-a'],
          bucketNames: ['sidestep-staging-a-123456789012'],
          smokeCheckFunctionNames: ['sidestep-staging-b'],
          mailIdentity: 'mail.example.com',
        }),
    ).toThrow(expect.objectContaining({ field: 'staging.deploy.smokeCheckFunctionNames' }));
  });

  it('requires github outside local', () => {
    const { github: _github, ...withoutGithub } = configs.staging;
    expect(() => new DeployStack(Testing.app(), 'x', { config: withoutGithub as EnvironmentConfig })).toThrow(
      expect.objectContaining({ field: 'staging.github' }),
    );
  });
});
