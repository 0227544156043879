import { describe, expect, it } from '@jest/globals';
import { Testing } from 'cdktn';
import { environmentConfigs, PROVIDER_ACTIONS, SidestepStack } from '../src/index.ts';

// The environment stacks the deploy role applies, with and without functions in a VPC and an alarm topic:
// together they synthesize every resource type the stacks can make. The deploy stack itself is applied by
// an administrator (infra/README.md, "Bootstrap"), so its types are not the role's business.
const variants = {
  default: {},
  'in a VPC, with an alarm topic': {
    SIDESTEP_STAGING_SUBNET_IDS: 'subnet-0a1b2c3d',
    SIDESTEP_STAGING_SECURITY_GROUP_IDS: 'sg-0a1b2c3d',
    SIDESTEP_STAGING_ALARM_TOPIC_ARN: 'arn:aws:sns:ap-northeast-1:111111111111:alarms',
  },
};
const synthesized = Object.entries(variants).map(([label, env]) => {
  const config = environmentConfigs(env).staging;
  const json = JSON.parse(Testing.synth(new SidestepStack(Testing.app(), 'sidestep-staging', { config })));
  return [label, Object.keys(json.resource ?? {})] as const;
});

describe('PROVIDER_ACTIONS', () => {
  it.each(synthesized)(
    'lists the provider calls of every resource type of the stack (%s)',
    (_label, types) => {
      expect(types.length).toBeGreaterThan(30);
      expect(types.filter((type) => !(type in PROVIDER_ACTIONS))).toEqual([]);
    },
  );

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
