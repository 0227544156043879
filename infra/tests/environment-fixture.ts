import type { ServiceManifest } from '@sidestep/manifest';
import { executionStatusRule, SCHEDULES } from '@sidestep/workflows';
import { Testing } from 'cdktn';
import { type EnvironmentConfig, SidestepStack } from '../src/index.ts';
import type { Json } from './terraform-json.ts';

/** A complete staging config with real-looking ids; tests override what they are about. */
export const STAGING: EnvironmentConfig = {
  name: 'staging',
  region: 'eu-west-1',
  accountId: '123456789012',
  mail: {
    fromAddress: 'no-reply@mail.example.com',
    domain: 'mail.example.com',
    notifyAddress: 'ops@example.com',
  },
  databaseSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:sidestep-staging-db-AbCdEf',
  vpc: { subnetIds: ['subnet-a', 'subnet-b'], securityGroupIds: ['sg-1'] },
  logRetentionDays: 90,
  backend: { bucket: 'acme-sidestep-tfstate', key: 'sidestep/staging.tfstate', region: 'eu-west-1' },
};

/**
 * Every staging `SIDESTEP_*` setting (README, "First deploy", step 2) at a real-looking value, no
 * placeholder left: what the deploy stack of an environment given its account needs to synthesize.
 */
export const STAGING_SETTINGS: Readonly<Record<string, string>> = {
  SIDESTEP_GITHUB_REPOSITORY: 'acme/sidestep',
  SIDESTEP_STAGING_ACCOUNT_ID: '123456789012',
  SIDESTEP_STAGING_REGION: 'eu-west-1',
  SIDESTEP_STAGING_STATE_BUCKET: 'acme-terraform-state',
  SIDESTEP_STAGING_DATABASE_SECRET_ARN:
    'arn:aws:secretsmanager:eu-west-1:123456789012:secret:sidestep-staging-database-AbCdEf',
  SIDESTEP_STAGING_TASK_SUBNET_IDS: 'subnet-0a1b2c3d',
  SIDESTEP_STAGING_TASK_SECURITY_GROUP_IDS: 'sg-0a1b2c3d',
  SIDESTEP_STAGING_MAIL_FROM: 'no-reply@staging.mail.acme.dev',
  SIDESTEP_STAGING_MAIL_DOMAIN: 'staging.mail.acme.dev',
  SIDESTEP_STAGING_NOTIFY_ADDRESS: 'ops@acme.dev',
};

/**
 * The services rules and schedules invoke asynchronously (each gets its event invoke config and
 * async-failures queue): the workflow-ended rule's target and every schedule's service target, so a
 * service or schedule added changes what the tests expect without editing them.
 */
export const ASYNC_INVOKED_SERVICES: readonly string[] = [
  ...new Set([
    executionStatusRule(['arn:aws:states:eu-west-1:123456789012:stateMachine:any']).service,
    ...SCHEDULES.flatMap(({ target }) => (target.kind === 'function' ? [target.service] : [])),
  ]),
];

/** The synthesized Terraform JSON of the whole environment stack for `config` (its services' manifests replaced by `services`). */
export function synthStack(config: EnvironmentConfig, services?: readonly ServiceManifest[]): Json {
  return JSON.parse(
    Testing.synth(
      new SidestepStack(Testing.app(), `sidestep-${config.name}`, {
        config,
        ...(services ? { services } : {}),
      }),
    ),
  );
}
