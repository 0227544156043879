import { AwsProvider } from '@cdktn/provider-aws/lib/provider/index.js';
import { describe, expect, it } from '@jest/globals';
import { TerraformStack, Testing } from 'cdktn';
import { checkSecurityPolicy, type SecurityRule } from '../src/index.ts';
import { addNetworkAndKeyViolations } from './network-violations.ts';

describe('security policy: topics, keys and networks', () => {
  it('fails a plain topic, an unrotated key, an internet-wide ingress and an open default group', () => {
    const stack = new TerraformStack(Testing.app(), 'bad');
    new AwsProvider(stack, 'aws', { region: 'eu-west-1' });
    addNetworkAndKeyViolations(stack);
    const violations = checkSecurityPolicy(JSON.parse(Testing.synth(stack)));
    const at = (rule: SecurityRule) =>
      violations.filter((v) => v.rule === rule).map((v) => v.address.split('.')[0]);
    expect(at('sns-encrypted')).toEqual(['aws_sns_topic']);
    expect(at('kms-rotation')).toEqual(['aws_kms_key']);
    expect(at('sg-no-public-ingress').sort()).toEqual([
      'aws_security_group',
      'aws_vpc_security_group_ingress_rule',
    ]);
    // Neither VPC has a default group without rules.
    expect(at('vpc-default-sg-closed')).toEqual(['aws_vpc', 'aws_vpc']);
  });
});
