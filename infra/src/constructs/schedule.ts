import { CloudwatchEventRule } from '@cdktn/provider-aws/lib/cloudwatch-event-rule/index.js';
import { CloudwatchEventTarget } from '@cdktn/provider-aws/lib/cloudwatch-event-target/index.js';
import { LambdaPermission } from '@cdktn/provider-aws/lib/lambda-permission/index.js';
import { SchedulerSchedule } from '@cdktn/provider-aws/lib/scheduler-schedule/index.js';
import { resourceName } from '@sidestep/manifest';
import { InvalidScheduleError, nextFireTimes } from '@sidestep/workflows';
import { Construct } from 'constructs';
import { InfraConfigError } from '../errors.ts';
import type { EventBus } from './event-bus.ts';
import { GrantableRole, statementId } from './grantable-role.ts';
import type { ScheduleGroup } from './schedule-group.ts';
import type { ServiceFunction } from './service-function.ts';
import type { WorkflowQueue } from './workflow-queue.ts';

/** What a schedule delivers to: a message on a queue, or an invocation of a service's function. */
export type ScheduleTarget =
  | { readonly queue: WorkflowQueue; readonly function?: undefined }
  | { readonly function: ServiceFunction; readonly queue?: undefined };

/** Props of {@link Schedule}. */
export interface ScheduleProps {
  /** Environment name (`staging`); the schedule, its role and its rule are `sidestep-<env>-<name>...`. */
  readonly environment: string;
  /** Schedule name (`nightly-export`), as declared in `SCHEDULES` and fired by `pnpm fire-schedule <name>`. */
  readonly name: string;
  /** What the schedule does, shown in the console. @default none */
  readonly description?: string;
  /** `cron(0 3 * * ? *)`, `rate(15 minutes)` or `at(...)`, in EventBridge Scheduler's syntax. */
  readonly expression: string;
  /** IANA time zone the expression is evaluated in (`Asia/Tokyo`); DST is Scheduler's business. */
  readonly timezone: string;
  /** Where each firing goes. */
  readonly target: ScheduleTarget;
  /**
   * The firing's input as JSON text: the SQS message body, or the Lambda payload. May contain
   * Scheduler's context attributes (`<aws.scheduler.scheduled-time>`, ...); the operator rule fills
   * them from the operator event ({@link operatorRuleInput}).
   */
  readonly input: string;
  /** How long and how often Scheduler retries an undelivered firing before dead-lettering it. */
  readonly retry: {
    /** 0-185. */
    readonly maximumRetryAttempts: number;
    /** 60-86400 seconds. */
    readonly maximumEventAgeSeconds: number;
  };
  /** The group (and shared dead-letter queue) the schedule belongs to. */
  readonly group: ScheduleGroup;
  /**
   * The bus operators put `Schedule Fired` events on, and the rule pattern matching this schedule's
   * (`operatorEventPattern(name)` from `@sidestep/workflows`): the rule delivers to the same target with
   * the same input, so a manual run is an event (archived, replayable), not a side door.
   */
  readonly operator: { readonly bus: EventBus; readonly eventPattern: object };
  /** Account of the schedule; scopes its role's trust policy. */
  readonly accountId: string;
  /** Region of the schedule; scopes its role's trust policy. */
  readonly region: string;
}

/**
 * The most characters of an IAM role name (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html)
 * and of an EventBridge rule name (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html).
 */
const MAX_NAME_LENGTH = 64;

/** Scheduler context attributes filled from the operator event by the rule's input transformer. */
const EVENT_ATTRIBUTES: Readonly<Record<string, { readonly placeholder: string; readonly path: string }>> = {
  // The event's time (ISO 8601, seconds) in the format Scheduler gives the scheduled time.
  '<aws.scheduler.scheduled-time>': { placeholder: 'time', path: '$.time' },
  // One id per operator event: two manual runs are two runs, the same event replayed is the same run.
  '<aws.scheduler.execution-id>': { placeholder: 'id', path: '$.id' },
};

/**
 * The operator rule's version of a schedule's input, as the local cloud computes it: Scheduler's
 * context attributes become the operator event's `time` (`<aws.scheduler.scheduled-time>`) and `id`
 * (`<aws.scheduler.execution-id>`) through an input transformer, `<aws.scheduler.attempt-number>`
 * becomes `1` and `<aws.scheduler.schedule-arn>` the schedule's ARN. An input without attributes is
 * passed as the rule's constant `input`; an unknown attribute fails with {@link InfraConfigError}
 * naming `field`.
 */
export function operatorRuleInput(
  input: string,
  field: string,
  scheduleArn: string,
):
  | { readonly input: string }
  | { readonly inputPaths: Record<string, string>; readonly inputTemplate: string } {
  const used = [...new Set(input.match(/<aws\.scheduler\.[a-z-]+>/g) ?? [])];
  const inputPaths: Record<string, string> = {};
  let text = input;
  for (const attribute of used) {
    const fromEvent = EVENT_ATTRIBUTES[attribute];
    if (fromEvent) {
      inputPaths[fromEvent.placeholder] = fromEvent.path;
      text = text.replaceAll(attribute, `<${fromEvent.placeholder}>`);
    } else if (attribute === '<aws.scheduler.attempt-number>') {
      // A rule delivers an operator event once per attempt of its own; the run is a first attempt.
      text = text.replaceAll(attribute, '1');
    } else if (attribute === '<aws.scheduler.schedule-arn>') {
      text = text.replaceAll(attribute, scheduleArn);
    } else {
      throw new InfraConfigError(field, `${attribute} is not an EventBridge Scheduler context attribute`);
    }
  }
  return Object.keys(inputPaths).length === 0 ? { input: text } : { inputPaths, inputTemplate: text };
}

/**
 * One EventBridge Scheduler schedule (in its group, time zone set, flexible window off, retry policy and
 * the group's dead-letter queue) with its own role, allowed exactly the one action that delivers to the
 * target (`sqs:SendMessage` on the queue or `lambda:InvokeFunction` on the function) plus sending to the
 * dead-letter queue; and the operator rule on sidestep's bus that delivers a hand-fired run to the same
 * target with the same input, retried and dead-lettered the same way.
 */
export class Schedule extends Construct {
  /** The schedule. */
  readonly schedule: SchedulerSchedule;
  /** `sidestep-<env>-<name>`. */
  readonly scheduleName: string;
  /** The name of {@link role}, `sidestep-<env>-<name>-schedule`: known at synth time, for policies naming it. */
  readonly roleName: string;
  /** The role Scheduler delivers with. */
  readonly role: GrantableRole;
  /** The rule that routes the operator's `Schedule Fired` event for this schedule. */
  readonly operatorRule: CloudwatchEventRule;
  /** The rule's target. */
  readonly operatorTarget: CloudwatchEventTarget;

  constructor(scope: Construct, id: string, props: ScheduleProps) {
    super(scope, id);
    const { environment, name, group, target } = props;
    const field = (path: string) => `schedules.${name}.${path}`;
    if (!/^[a-z][a-z0-9-]{1,40}$/.test(name)) throw new InfraConfigError(field('name'), 'must be kebab-case');
    this.scheduleName = resourceName(environment, name);
    this.roleName = `${this.scheduleName}-schedule`;
    const ruleName = `${this.scheduleName}-operator`;
    // The role's and the rule's names grow with the environment's and the schedule's: IAM and
    // EventBridge refuse a long one only at apply time (the schedule's own name is shorter than either).
    for (const [kind, resource] of [
      ['IAM role', this.roleName],
      ['EventBridge rule', ruleName],
    ] as const) {
      if (resource.length > MAX_NAME_LENGTH) {
        throw new InfraConfigError(
          field('name'),
          `makes the ${kind} name "${resource}" ${resource.length} characters, over the ${MAX_NAME_LENGTH} allowed`,
        );
      }
    }
    // The expression and time zone as the local scheduler reads them: nextFireTimes refuses what
    // Scheduler refuses at apply time (a cron without its `?`, day-of-week 0, minute 61, `rate(5 minute)`,
    // an at() that names no real date, a zone that is no IANA name;
    // https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html), so what synthesizes
    // also runs locally, and the other way round.
    try {
      nextFireTimes(props.expression, props.timezone, new Date(0), 1);
    } catch (error) {
      if (!(error instanceof InvalidScheduleError)) throw error;
      // Its message without its own `<field>: ` prefix, which InfraConfigError writes as the schedule's.
      const reason = error.message.slice(`${error.field}: `.length);
      throw new InfraConfigError(field(error.field), reason, { cause: error });
    }
    try {
      JSON.parse(props.input);
    } catch (error) {
      throw new InfraConfigError(field('input'), 'must be JSON text', { cause: error });
    }
    const { maximumRetryAttempts, maximumEventAgeSeconds } = props.retry;
    // The limits Scheduler and EventBridge targets share.
    if (!Number.isInteger(maximumRetryAttempts) || maximumRetryAttempts < 0 || maximumRetryAttempts > 185) {
      throw new InfraConfigError(field('retry.maximumRetryAttempts'), 'must be an integer between 0 and 185');
    }
    if (
      !Number.isInteger(maximumEventAgeSeconds) ||
      maximumEventAgeSeconds < 60 ||
      maximumEventAgeSeconds > 86_400
    ) {
      throw new InfraConfigError(field('retry.maximumEventAgeSeconds'), 'must be between 60 and 86400');
    }
    // The pattern must single out this schedule: a pattern for another name would never fire this one.
    if (!JSON.stringify(props.operator.eventPattern).includes(JSON.stringify(name))) {
      throw new InfraConfigError(field('operator.eventPattern'), `does not name the schedule "${name}"`);
    }
    const targetArn = target.queue ? target.queue.queueArn : target.function.functionArn;
    const scheduleArn = `arn:aws:scheduler:${props.region}:${props.accountId}:schedule/${group.groupName}/${this.scheduleName}`;
    const ruleInput = operatorRuleInput(props.input, field('input'), scheduleArn);

    this.role = new GrantableRole(this, 'role', {
      roleName: this.roleName,
      assumedBy: 'scheduler.amazonaws.com',
      description: `EventBridge Scheduler fires ${this.scheduleName} with this role`,
      // https://docs.aws.amazon.com/scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html
      assumeRoleConditions: {
        StringEquals: {
          'aws:SourceAccount': props.accountId,
          'aws:SourceArn': `arn:aws:scheduler:${props.region}:${props.accountId}:schedule-group/${group.groupName}`,
        },
      },
    });
    if (target.queue) target.queue.grantSendMessages(this.role);
    else target.function.grantInvoke(this.role);
    group.grantDeadLetter(this.role);

    const retryPolicy = { maximumRetryAttempts, maximumEventAgeInSeconds: maximumEventAgeSeconds };
    this.schedule = new SchedulerSchedule(this, 'schedule', {
      name: this.scheduleName,
      description: props.description,
      groupName: group.group.name,
      scheduleExpression: props.expression,
      scheduleExpressionTimezone: props.timezone,
      // Fire at the stated time: a nightly export is expected at 03:00, not somewhere in a window.
      flexibleTimeWindow: { mode: 'OFF' },
      target: {
        arn: targetArn,
        roleArn: this.role.roleArn,
        input: props.input,
        retryPolicy,
        deadLetterConfig: { arn: group.deadLetterQueueArn },
      },
      // CreateSchedule checks only that Scheduler may assume the role (the provider retries that refusal
      // while IAM propagates the new role); what the role may do is checked when the schedule fires,
      // and the first firing must not race the policy.
      dependsOn: [this.role.policy],
      // Paused and resumed by operators (`sidestep pause|resume`, UpdateSchedule's State), not by a
      // deploy: the provider's `state` defaults to ENABLED, so without this every apply after a pause
      // would enable the schedule again. A new schedule is created ENABLED.
      lifecycle: { ignoreChanges: ['state'] },
    });

    this.operatorRule = new CloudwatchEventRule(this, 'operator-rule', {
      name: ruleName,
      description: `Runs ${this.scheduleName} now when an operator fires it (pnpm fire-schedule ${name})`,
      eventBusName: props.operator.bus.bus.name,
      eventPattern: JSON.stringify(props.operator.eventPattern),
    });
    // EventBridge delivers to SQS and Lambda with its service principal and a resource policy, not a role.
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html
    if (target.queue) {
      target.queue.allowSendFromRule(this.operatorRule.arn);
    } else {
      new LambdaPermission(this, 'operator-rule-permission', {
        statementId: statementId('operator', 'rule', name),
        action: 'lambda:InvokeFunction',
        functionName: target.function.function.functionName,
        principal: 'events.amazonaws.com',
        sourceArn: this.operatorRule.arn,
      });
    }
    group.allowDeadLetterFromRule(this.operatorRule.arn);
    this.operatorTarget = new CloudwatchEventTarget(this, 'operator-target', {
      rule: this.operatorRule.name,
      eventBusName: props.operator.bus.bus.name,
      arn: targetArn,
      ...('input' in ruleInput ? { input: ruleInput.input } : { inputTransformer: ruleInput }),
      retryPolicy,
      deadLetterConfig: { arn: group.deadLetterQueueArn },
    });
  }
}
