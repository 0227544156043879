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

/** The synthesized Terraform JSON of the whole environment stack for `config`. */
export function synthStack(config: EnvironmentConfig): Json {
  return JSON.parse(Testing.synth(new SidestepStack(Testing.app(), `sidestep-${config.name}`, { config })));
}
