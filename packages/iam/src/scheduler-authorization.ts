import {
  type ArnScope,
  type AuthorizationCheck,
  required,
  ServiceOperations,
} from './authorization-check.ts';

// Actions and resource types for Amazon EventBridge Scheduler:
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoneventbridgescheduler.html
const OPERATIONS = new ServiceOperations<'schedule' | 'schedule-group' | 'none'>('scheduler', {
  CreateSchedule: 'schedule',
  GetSchedule: 'schedule',
  UpdateSchedule: 'schedule',
  DeleteSchedule: 'schedule',
  CreateScheduleGroup: 'schedule-group',
  GetScheduleGroup: 'schedule-group',
  DeleteScheduleGroup: 'schedule-group',
  ListSchedules: 'none',
  ListScheduleGroups: 'none',
});

export interface SchedulerRequestTarget extends ArnScope {
  readonly scheduleName?: string;
  /** @default 'default' */
  readonly groupName?: string;
  /**
   * CreateSchedule and UpdateSchedule: the target's `RoleArn`. Scheduler then also needs
   * iam:PassRole on it, passed to `scheduler.amazonaws.com`.
   */
  readonly targetRoleArn?: string;
}

/** `arn:aws:scheduler:<region>:<account>:schedule/<group>/<name>`. */
export function scheduleArn(scope: ArnScope, name: string, group = 'default'): string {
  return OPERATIONS.arn(scope, `schedule/${group}/${name}`);
}

/** What an EventBridge Scheduler API call needs authorized. */
export function schedulerAuthorization(
  operation: string,
  target: SchedulerRequestTarget,
): AuthorizationCheck[] {
  const on = OPERATIONS.lookup(operation);
  const action = `scheduler:${operation}`;
  const group = target.groupName ?? 'default';
  if (on === 'none') return [{ action, resource: '*' }];
  if (on === 'schedule-group') {
    return [{ action, resource: OPERATIONS.arn(target, `schedule-group/${group}`) }];
  }
  const name = required(target.scheduleName, 'scheduleName', operation);
  const checks: AuthorizationCheck[] = [{ action, resource: scheduleArn(target, name, group) }];
  if (
    target.targetRoleArn !== undefined &&
    (operation === 'CreateSchedule' || operation === 'UpdateSchedule')
  ) {
    checks.push({
      action: 'iam:PassRole',
      resource: target.targetRoleArn,
      context: { 'iam:PassedToService': 'scheduler.amazonaws.com' },
    });
  }
  return checks;
}
