import { describe, expect, it } from '@jest/globals';
import { Testing } from 'cdktn';
import { environmentConfigs, PROVIDER_ACTIONS, SidestepStack } from '../src/index.ts';

// The environment stacks the deploy role applies, with the defaults, with functions in a VPC and a
// configured alarm topic, and with every optional setting on (a created network admitted to the
// database, DNS records in a hosted zone, an alarm email): together they synthesize every resource type
// the stacks can make. The deploy stack itself is applied by an administrator (infra/README.md,
// "Bootstrap"), so its types are not the role's business.
const PROVIDER_ACTION_VARIANTS = {
  default: {},
  'in a VPC, with an alarm topic': {
    SIDESTEP_STAGING_SUBNET_IDS: 'subnet-0a1b2c3d',
    SIDESTEP_STAGING_SECURITY_GROUP_IDS: 'sg-0a1b2c3d',
    SIDESTEP_STAGING_ALARM_TOPIC_ARN: 'arn:aws:sns:ap-northeast-1:111111111111:alarms',
  },
  'with every optional setting': {
    SIDESTEP_STAGING_NETWORK: 'create',
    SIDESTEP_STAGING_DATABASE_SECURITY_GROUP_ID: 'sg-0d47ab45e',
    SIDESTEP_STAGING_HOSTED_ZONE_ID: 'Z0123456789ABC',
    SIDESTEP_STAGING_ALARM_EMAIL: 'alarms@mail.acme.dev',
    SIDESTEP_STAGING_MAIL_DOMAIN: 'mail.acme.dev',
    SIDESTEP_STAGING_MAIL_FROM: 'no-reply@mail.acme.dev',
  },
};
/** Resource types, and data source types as `data.<type>`. */
const synthesized = Object.entries(PROVIDER_ACTION_VARIANTS).map(([label, env]) => {
  const config = environmentConfigs(env).staging;
  const json = JSON.parse(Testing.synth(new SidestepStack(Testing.app(), 'sidestep-staging', { config })));
  const types = [
    ...Object.keys(json.resource ?? {}),
    ...Object.keys(json.data ?? {}).map((type) => `data.${type}`),
  ];
  return [label, types] as const;
});

describe('PROVIDER_ACTIONS', () => {
  it.each(synthesized)(
    'lists the provider calls of every resource type of the stack (%s)',
    (_label, types) => {
      expect(types.length).toBeGreaterThan(30);
      expect(types.filter((type) => !(type in PROVIDER_ACTIONS))).toEqual([]);
    },
  );

  it('covers the optional settings’ resource types', () => {
    const [, types] = synthesized.find(([label]) => label === 'with every optional setting') ?? ['', []];
    expect(types).toEqual(
      expect.arrayContaining([
        'aws_vpc',
        'aws_vpc_endpoint',
        'aws_default_security_group',
        'aws_route53_record',
        'aws_sesv2_email_identity_mail_from_attributes',
        'aws_sns_topic_subscription',
        'aws_kms_key',
        'data.aws_availability_zones',
      ]),
    );
  });

  it('lists no resource type the stacks do not make', () => {
    const made = new Set(synthesized.flatMap(([, types]) => types));
    expect(Object.keys(PROVIDER_ACTIONS).filter((type) => !made.has(type))).toEqual([]);
  });

  it('names exact IAM actions', () => {
    for (const [type, entry] of Object.entries(PROVIDER_ACTIONS)) {
      for (const call of entry.calls) {
        const action = typeof call === 'string' ? call : call.action;
        expect([type, action]).toEqual([type, expect.stringMatching(/^[a-z0-9-]+:[A-Za-z0-9]+$/)]);
      }
    }
  });
});
