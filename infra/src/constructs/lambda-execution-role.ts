import type { Construct } from 'constructs';
import { GrantableRole } from './grantable-role.ts';

/**
 * The execution role every sidestep function starts from: assumed by Lambda, allowed to write its own
 * log group's streams and X-Ray traces (functions run with active tracing). Created in `scope` under
 * the id `execution-role`, so the Terraform addresses of the functions' roles do not move.
 */
export function createLambdaExecutionRole(
  scope: Construct,
  props: {
    /** The role name, the function's name. */
    readonly roleName: string;
    readonly description: string;
    /** ARN of the function's log group. */
    readonly logGroupArn: string;
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
  return role;
}
