import type { Construct } from 'constructs';
import { GrantableRole } from './grantable-role.ts';

/**
 * The execution role every sidestep function starts from: assumed by Lambda, allowed to write its own
 * log group's streams and X-Ray traces (functions run with active tracing), and, for a function in a VPC,
 * to manage its network interfaces. Created in `scope` under the id `execution-role`, so the Terraform
 * addresses of the functions' roles do not move.
 *
 * The trust names no aws:SourceArn / aws:SourceAccount: Lambda documents no confused-deputy condition
 * for execution roles (its service principal assumes the role for the function the role is configured
 * on, and only an identity allowed iam:PassRole on the role can configure that), and a condition Lambda
 * does not set would stop every invocation.
 */
export function createLambdaExecutionRole(
  scope: Construct,
  props: {
    /** The role name, the function's name. */
    readonly roleName: string;
    readonly description: string;
    /** ARN of the function's log group. */
    readonly logGroupArn: string;
    /** The function runs in a VPC (has a `vpc_config`). @default false */
    readonly inVpc?: boolean;
  },
): GrantableRole {
  const role = new GrantableRole(scope, 'execution-role', {
    roleName: props.roleName,
    assumedBy: 'lambda.amazonaws.com',
    description: props.description,
  });
  role.addToPolicy({
    sid: 'WriteOwnLogs',
    actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    resources: [`${props.logGroupArn}:log-stream:*`],
  });
  role.addToPolicy({
    sid: 'WriteTraces',
    actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'],
    resources: ['*'],
    unscopableReason: 'X-Ray defines no resource types for these actions',
  });
  if (props.inVpc) {
    // The actions of AWSLambdaVPCAccessExecutionRole, inline: Lambda creates, describes and deletes the
    // function's ENIs with the execution role, and checks its subnets.
    // https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSLambdaVPCAccessExecutionRole.html
    role.addToPolicy({
      sid: 'ManageVpcNetworkInterfaces',
      actions: [
        'ec2:CreateNetworkInterface',
        'ec2:DescribeNetworkInterfaces',
        'ec2:DescribeSubnets',
        'ec2:DeleteNetworkInterface',
        'ec2:AssignPrivateIpAddresses',
        'ec2:UnassignPrivateIpAddresses',
      ],
      resources: ['*'],
      unscopableReason:
        'Lambda ENI management: Describe has no resource type, ENI ids are unknown before creation',
    });
  }
  return role;
}
