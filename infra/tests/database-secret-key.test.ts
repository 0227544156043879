import { describe, expect, it } from '@jest/globals';
import {
  type AuthorizationDecision,
  evaluateRequest,
  loadStackPolicies,
  parsePolicy,
  type SynthesizedTerraformJson,
} from '@sidestep/iam';
import { Testing } from 'cdktn';
import { DeployStack, environmentConfigs, InfraConfigError, SidestepStack } from '../src/index.ts';
import { STAGING_SETTINGS } from './environment-fixture.ts';
import { all, type Json } from './terraform-json.ts';

// A database secret encrypted with a customer-managed KMS key: GetSecretValue decrypts it with the
// caller's permissions, so every role that reads the secret needs kms:Decrypt on that key, and the key
// policy or an IAM policy must allow it; the AWS-managed aws/secretsmanager key needs nothing.
// https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html
const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const OTHER_KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/9999abcd-12ab-34cd-56ef-1234567890ab`;
const SECRET = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:db/sidestep-AbCdEf`;
const BASE = { ...STAGING_SETTINGS, SIDESTEP_STAGING_DATABASE_SECRET_ARN: SECRET };
const VIA_SECRETS_MANAGER = { 'kms:ViaService': `secretsmanager.${REGION}.amazonaws.com` };

/** The environment and deploy stacks of staging with `env`, and an evaluator of their roles under the boundary. */
function synthesize(env: Record<string, string>) {
  const config = environmentConfigs(env).staging;
  const environment = JSON.parse(
    Testing.synth(new SidestepStack(Testing.app(), 'sidestep-staging', { config })),
  ) as Json;
  const deploy = JSON.parse(
    Testing.synth(new DeployStack(Testing.app(), 'sidestep-staging-deploy', { config })),
  ) as Json;
  const [, boundaryDocument] =
    all(deploy, 'aws_iam_policy').find(([, policy]) => policy.name === 'sidestep-staging-boundary') ?? [];
  const boundary = parsePolicy(JSON.parse(String(boundaryDocument?.policy)), 'boundary');
  const roles = loadStackPolicies(environment as SynthesizedTerraformJson, { accountId: ACCOUNT }).roles;
  const deployRoles = loadStackPolicies(deploy as SynthesizedTerraformJson, {
    accountId: ACCOUNT,
    resolve: (reference) =>
      reference.startsWith('aws_iam_openid_connect_provider.')
        ? `arn:aws:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com`
        : undefined,
  }).roles;
  /** What IAM decides for role `name` of the environment stack (its inline policy under the boundary). */
  const ask = (
    name: string,
    action: string,
    resource: string,
    context: Record<string, string> = {},
  ): AuthorizationDecision['decision'] => {
    const role = roles.get(name) ?? deployRoles.get(name);
    if (!role) throw new Error(`no role ${name}`);
    return evaluateRequest(
      { principal: { type: 'role', roleArn: role.arn }, action, resource, context },
      { identityPolicies: role.policies, ...(roles.has(name) ? { permissionsBoundary: boundary } : {}) },
    ).decision;
  };
  const readers = [...roles.keys()]
    .filter((name) => ask(name, 'secretsmanager:GetSecretValue', SECRET) === 'allow')
    .sort();
  return { config, environment, deploy, roles, ask, readers, boundaryDocument };
}

describe('a database secret encrypted with a customer-managed KMS key', () => {
  const withKey = synthesize({ ...BASE, SIDESTEP_STAGING_DATABASE_SECRET_KMS_KEY_ARN: KEY });
  const withoutKey = synthesize(BASE);

  it('is read by the four database services and the batch task', () => {
    expect(withKey.readers).toEqual([
      'sidestep-staging-batch-worker-task',
      'sidestep-staging-job-sweeper',
      'sidestep-staging-mail-dispatcher',
      'sidestep-staging-ops-ledger',
      'sidestep-staging-status-updater',
    ]);
  });

  it('lets every role that reads the secret decrypt with the key, through Secrets Manager only, within the boundary', () => {
    expect(withKey.config.databaseSecretKmsKeyArn).toBe(KEY);
    for (const reader of withKey.readers) {
      expect([reader, withKey.ask(reader, 'kms:Decrypt', KEY, VIA_SECRETS_MANAGER)]).toEqual([
        reader,
        'allow',
      ]);
      // Not directly, not through another service, not another key.
      expect([reader, withKey.ask(reader, 'kms:Decrypt', KEY)]).not.toEqual([reader, 'allow']);
      expect([
        reader,
        withKey.ask(reader, 'kms:Decrypt', KEY, { 'kms:ViaService': `sqs.${REGION}.amazonaws.com` }),
      ]).not.toEqual([reader, 'allow']);
      expect([reader, withKey.ask(reader, 'kms:Decrypt', OTHER_KEY, VIA_SECRETS_MANAGER)]).not.toEqual([
        reader,
        'allow',
      ]);
    }
  });

  it('grants the key as one exact statement with the kms:ViaService condition', () => {
    const grants = all(withKey.environment, 'aws_iam_role_policy').flatMap(([, policy]) =>
      (JSON.parse(policy.policy).Statement as Json[]).filter((s) =>
        [s.Action].flat().includes('kms:Decrypt'),
      ),
    );
    expect(grants).toHaveLength(withKey.readers.length);
    for (const grant of grants) {
      expect(grant).toEqual({
        Sid: expect.any(String),
        Effect: 'Allow',
        Action: ['kms:Decrypt'],
        Resource: KEY,
        Condition: { StringEquals: VIA_SECRETS_MANAGER },
      });
    }
  });

  it('lets no other role of the stack use the key', () => {
    const others = [...withKey.roles.keys()].filter((name) => !withKey.readers.includes(name));
    expect(others.length).toBeGreaterThan(5);
    for (const other of others) {
      expect([other, withKey.ask(other, 'kms:Decrypt', KEY, VIA_SECRETS_MANAGER)]).not.toEqual([
        other,
        'allow',
      ]);
    }
  });

  it('lets the deploy role decrypt it for the preflight’s GetSecretValue, through Secrets Manager only', () => {
    expect(withKey.ask('sidestep-deploy-staging', 'kms:Decrypt', KEY, VIA_SECRETS_MANAGER)).toBe('allow');
    expect(withKey.ask('sidestep-deploy-staging', 'kms:Decrypt', KEY)).not.toBe('allow');
    expect(withoutKey.ask('sidestep-deploy-staging', 'kms:Decrypt', KEY, VIA_SECRETS_MANAGER)).not.toBe(
      'allow',
    );
  });

  it('grants no key use at all when none is configured (aws/secretsmanager needs none)', () => {
    expect(withoutKey.config.databaseSecretKmsKeyArn).toBeUndefined();
    expect(withoutKey.readers).toEqual(withKey.readers);
    for (const reader of withoutKey.readers) {
      expect([reader, withoutKey.ask(reader, 'kms:Decrypt', KEY, VIA_SECRETS_MANAGER)]).not.toEqual([
        reader,
        'allow',
      ]);
    }
    expect(String(withoutKey.boundaryDocument?.policy)).not.toContain('kms:');
  });

  it.each([
    ['an alias (IAM grants a key by its key ARN)', `arn:aws:kms:${REGION}:${ACCOUNT}:alias/sidestep-db`],
    ['a bare key id', '1234abcd-12ab-34cd-56ef-1234567890ab'],
    ['a secret ARN', SECRET],
  ])('refuses %s as the key, naming the variable', (_label, value) => {
    const configure = () =>
      environmentConfigs({ ...BASE, SIDESTEP_STAGING_DATABASE_SECRET_KMS_KEY_ARN: value });
    expect(configure).toThrow(InfraConfigError);
    expect(configure).toThrow(
      expect.objectContaining({
        field: 'staging.databaseSecretKmsKeyArn',
        message: expect.stringContaining('SIDESTEP_STAGING_DATABASE_SECRET_KMS_KEY_ARN'),
      }),
    );
  });

  it('leaves the export download key on aws/secretsmanager, which needs no grant', () => {
    const secrets = all(withKey.environment, 'aws_secretsmanager_secret');
    expect(secrets.map(([, secret]) => secret.name)).toEqual(['sidestep-staging-export-download-key']);
    for (const [, secret] of secrets) expect(secret.kms_key_id).toBeUndefined();
  });
});
