import {
  type ArnScope,
  type AuthorizationCheck,
  required,
  ServiceOperations,
} from './authorization-check.ts';

// Actions, resource types and condition keys for Amazon CloudWatch Logs:
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html
// FilterLogEvents acts on one log group (resource type `log-group`,
// `arn:${Partition}:logs:${Region}:${Account}:log-group:${LogGroupName}`).
const OPERATIONS = new ServiceOperations<'log-group'>('logs', { FilterLogEvents: 'log-group' });

export interface LogsRequestTarget extends ArnScope {
  /** The request's `logGroupName` (or the name of its `logGroupIdentifier`). */
  readonly logGroupName?: string;
}

/** `arn:aws:logs:<region>:<account>:log-group:<name>`, the resource type's ARN format. */
export function logGroupArn(scope: ArnScope, logGroupName: string): string {
  return OPERATIONS.arn(scope, `log-group:${logGroupName}`);
}

/** What a CloudWatch Logs API call needs authorized. */
export function logsAuthorization(operation: string, target: LogsRequestTarget): AuthorizationCheck[] {
  OPERATIONS.lookup(operation);
  const logGroupName = required(target.logGroupName, 'logGroupName', operation);
  return [{ action: `logs:${operation}`, resource: logGroupArn(target, logGroupName) }];
}
