import { DefaultSecurityGroup } from '@cdktn/provider-aws/lib/default-security-group/index.js';
import { KmsKey } from '@cdktn/provider-aws/lib/kms-key/index.js';
import { SecurityGroup } from '@cdktn/provider-aws/lib/security-group/index.js';
import { SnsTopic } from '@cdktn/provider-aws/lib/sns-topic/index.js';
import { Vpc } from '@cdktn/provider-aws/lib/vpc/index.js';
import { VpcSecurityGroupIngressRule } from '@cdktn/provider-aws/lib/vpc-security-group-ingress-rule/index.js';
import type { TerraformStack } from 'cdktn';

/**
 * Adds a plain topic, an unrotated key, two internet-wide ingresses (an inline one and a rule) and two
 * VPCs without a closed default security group: one violation each of the topic, key and network rules.
 */
export function addNetworkAndKeyViolations(stack: TerraformStack): void {
  new SnsTopic(stack, 'plain-topic', { name: 'plain' });
  new KmsKey(stack, 'static-key', { description: 'never rotated' });
  const vpc = new Vpc(stack, 'vpc', { cidrBlock: '10.0.0.0/16' });
  const group = new SecurityGroup(stack, 'world', {
    vpcId: vpc.id,
    ingress: [{ fromPort: 22, toPort: 22, protocol: 'tcp', cidrBlocks: ['0.0.0.0/0'] }],
  });
  new VpcSecurityGroupIngressRule(stack, 'world-v6', {
    securityGroupId: group.id,
    ipProtocol: 'tcp',
    fromPort: 443,
    toPort: 443,
    cidrIpv6: '::/0',
  });
  const other = new Vpc(stack, 'other-vpc', { cidrBlock: '10.1.0.0/16' });
  new DefaultSecurityGroup(stack, 'other-default', {
    vpcId: other.id,
    egress: [{ fromPort: 0, toPort: 0, protocol: '-1', cidrBlocks: ['10.0.0.0/8'] }],
  });
}
