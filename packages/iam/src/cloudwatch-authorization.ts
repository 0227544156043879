import { type AuthorizationCheck, ServiceOperations } from './authorization-check.ts';

// Actions, resource types and condition keys for Amazon CloudWatch:
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html
// GetMetricData lists no resource type: a policy grants it on `*`.
const OPERATIONS = new ServiceOperations<'*'>('cloudwatch', { GetMetricData: '*' });

/** What a CloudWatch API call needs authorized. */
export function cloudWatchAuthorization(operation: string): AuthorizationCheck[] {
  OPERATIONS.lookup(operation);
  return [{ action: `cloudwatch:${operation}`, resource: '*' }];
}
