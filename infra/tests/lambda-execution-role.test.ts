import { describe, expect, it } from '@jest/globals';
import { Testing } from 'cdktn';
import { environmentConfigs, SidestepStack } from '../src/index.ts';
import { all, type Json } from './terraform-json.ts';

/** The actions of AWS's managed policy AWSLambdaVPCAccessExecutionRole (its current version, with DescribeSubnets). */
const VPC_ACCESS_ACTIONS = [
  'ec2:AssignPrivateIpAddresses',
  'ec2:CreateNetworkInterface',
  'ec2:DeleteNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:UnassignPrivateIpAddresses',
];

function synth(env: Record<string, string>): Json {
  const config = environmentConfigs(env).staging;
  return JSON.parse(Testing.synth(new SidestepStack(Testing.app(), 'sidestep-staging', { config })));
}

/** The ec2 actions of the inline policy of each function's execution role, by function name. */
function ec2ActionsByFunction(tf: Json): Record<string, string[]> {
  const policies = Object.fromEntries(
    all(tf, 'aws_iam_role_policy').map(([, policy]) => [policy.name, JSON.parse(policy.policy).Statement]),
  );
  return Object.fromEntries(
    all(tf, 'aws_lambda_function').map(([, fn]) => {
      const roleName = all(tf, 'aws_iam_role').find(([address]) => fn.role === `\${${address}.arn}`)?.[1]
        .name;
      const statements: Json[] = policies[roleName] ?? [];
      const actions = statements
        .flatMap((s) => s.Action as string[])
        .filter((action) => action.startsWith('ec2:'))
        .sort();
      return [fn.function_name, actions];
    }),
  );
}

describe('the execution role of a function', () => {
  it('may manage its network interfaces and describe its subnets when the function is in a VPC', () => {
    const tf = synth({
      SIDESTEP_STAGING_SUBNET_IDS: 'subnet-1',
      SIDESTEP_STAGING_SECURITY_GROUP_IDS: 'sg-1',
    });
    const inVpc = all(tf, 'aws_lambda_function').filter(([, fn]) => fn.vpc_config);
    expect(inVpc.length).toBeGreaterThan(3);
    const actions = ec2ActionsByFunction(tf);
    for (const [, fn] of all(tf, 'aws_lambda_function')) {
      const expected = fn.vpc_config ? VPC_ACCESS_ACTIONS : [];
      expect([fn.function_name, actions[fn.function_name]]).toEqual([fn.function_name, expected]);
    }
  });

  it('has no ec2 action when no function is in a VPC', () => {
    const actions = ec2ActionsByFunction(synth({}));
    expect(Object.keys(actions).length).toBeGreaterThan(3);
    for (const [name, list] of Object.entries(actions)) expect([name, list]).toEqual([name, []]);
  });
});
