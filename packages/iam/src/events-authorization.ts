import {
  type ArnScope,
  type AuthorizationCheck,
  required,
  ServiceOperations,
} from './authorization-check.ts';

// Actions, resource types and condition keys for Amazon EventBridge:
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoneventbridge.html
const OPERATIONS = new ServiceOperations<'event-bus' | 'rule'>('events', {
  PutEvents: 'event-bus',
  DescribeEventBus: 'event-bus',
  PutRule: 'rule',
  DescribeRule: 'rule',
  DeleteRule: 'rule',
  EnableRule: 'rule',
  DisableRule: 'rule',
  PutTargets: 'rule',
  RemoveTargets: 'rule',
  ListTargetsByRule: 'rule',
});

export interface EventsRequestTarget extends ArnScope {
  /** `EventBusName` (a name or an ARN); absent means the default bus. */
  readonly eventBusName?: string;
  /** The rule, for rule operations. */
  readonly ruleName?: string;
  /** PutEvents: the entries' `Source` values (condition key `events:source`). */
  readonly sources?: readonly string[];
  /** PutEvents: the entries' `DetailType` values (condition key `events:detail-type`). */
  readonly detailTypes?: readonly string[];
}

/** `arn:aws:events:<region>:<account>:event-bus/<name>`; an ARN passed as the name is kept. */
export function eventBusArn(scope: ArnScope, name = 'default'): string {
  return name.startsWith('arn:') ? name : OPERATIONS.arn(scope, `event-bus/${name}`);
}

/** `rule/<name>` on the default bus, `rule/<bus>/<name>` on a custom one. */
export function eventRuleArn(scope: ArnScope, ruleName: string, eventBusName = 'default'): string {
  const bus = eventBusName.startsWith('arn:')
    ? eventBusName.slice(eventBusName.indexOf('/') + 1)
    : eventBusName;
  return OPERATIONS.arn(scope, bus === 'default' ? `rule/${ruleName}` : `rule/${bus}/${ruleName}`);
}

/** What an EventBridge API call needs authorized. */
export function eventsAuthorization(operation: string, target: EventsRequestTarget): AuthorizationCheck[] {
  const on = OPERATIONS.lookup(operation);
  const action = `events:${operation}`;
  if (on === 'rule') {
    const rule = required(target.ruleName, 'ruleName', operation);
    return [{ action, resource: eventRuleArn(target, rule, target.eventBusName) }];
  }
  const context = {
    ...(target.sources ? { 'events:source': target.sources } : {}),
    ...(target.detailTypes ? { 'events:detail-type': target.detailTypes } : {}),
  };
  return [
    {
      action,
      resource: eventBusArn(target, target.eventBusName),
      ...(Object.keys(context).length > 0 ? { context } : {}),
    },
  ];
}
