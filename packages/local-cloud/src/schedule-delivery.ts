import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type AuthorizationCheck, eventRuleArn, lambdaAuthorization, sqsAuthorization } from '@sidestep/iam';
import type { EventRetryPolicy } from '@sidestep/workflows';
import type { EventBridgeEvent, EventRule } from './event-router.ts';
import type { LocalCloudReporter } from './local-cloud-event.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_ENVIRONMENT, LOCAL_REGION, localName } from './local-names.ts';
import { UnknownQueueError } from './local-queues.ts';
import { createDeadLetterQueue, queueArn } from './queues.ts';
import {
  deliverOrDeadLetter,
  type RuleTargetDeadLetter,
  RuleTargetNotFoundError,
} from './rule-dead-letter.ts';
import {
  type ScheduleDeadLetter,
  type ScheduleDefinition,
  type ScheduleFiring,
  scheduleFiring,
} from './scheduler.ts';

/** A schedule names a function the local cloud does not run. */
export class UnknownScheduleTargetError extends Error {
  override readonly name = 'UnknownScheduleTargetError';
  readonly schedule: string;
  readonly field = 'target';
  constructor(schedule: string, target: string) {
    super(`schedule ${schedule}: target ${target} is not running in the local cloud`);
    this.schedule = schedule;
  }
}

/** What delivering a firing needs from the running cloud. */
export interface ScheduleDeliveryContext {
  readonly sqs: SQSClient;
  /** A queue's URL by manifest name (`export-requests`); throws for an unknown one. */
  queueUrl(name: string): string;
  /** Invokes a running service asynchronously (Lambda's retries); `false` when the cloud does not run it. */
  invokeAsync(service: string, payload: unknown): boolean;
  readonly reporter: LocalCloudReporter;
  /**
   * Checks the delivery's call (SendMessage, InvokeFunction) as whoever delivers it: the schedule's
   * role, or EventBridge for an operator rule; throws AccessDeniedError. @default nothing is checked
   */
  readonly authorize?: (checks: readonly AuthorizationCheck[]) => void;
}

const SCOPE = { region: LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID };

/**
 * Delivers one firing to its target as EventBridge Scheduler's templated targets do: SendMessage
 * with the input as the body, or an asynchronous Lambda invoke (Scheduler does not wait for the
 * function's result; Lambda retries a function error, then keeps the event in the function's
 * `-async-failures` queue).
 */
export async function deliverFiring(firing: ScheduleFiring, context: ScheduleDeliveryContext): Promise<void> {
  const { target, name } = firing.schedule;
  if (target.kind === 'queue') {
    const queueUrl = context.queueUrl(target.queue);
    context.authorize?.(
      sqsAuthorization('SendMessage', { ...SCOPE, queueName: queueUrl.split('/').pop() ?? '' }),
    );
    await context.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: firing.input }));
    return;
  }
  context.authorize?.(lambdaAuthorization('Invoke', { ...SCOPE, functionName: localName(target.service) }));
  if (!context.invokeAsync(target.service, JSON.parse(firing.input))) {
    throw new UnknownScheduleTargetError(name, `function ${target.service}`);
  }
}

/**
 * The schedule group's dead-letter queue, `sidestep-<env>-schedules-dlq`, as infra's ScheduleGroup
 * names it: one for every schedule of the group.
 */
export const SCHEDULES_DEAD_LETTER_QUEUE = `sidestep-${LOCAL_ENVIRONMENT}-schedules-dlq`;

/**
 * Creates {@link SCHEDULES_DEAD_LETTER_QUEUE} with the attributes every DLQ of infra has (no redrive
 * allow policy: it has no source queue), or finds it kept from an earlier start; its URL.
 */
export function createSchedulesDeadLetterQueue(sqs: SQSClient): Promise<string> {
  return createDeadLetterQueue(sqs, SCHEDULES_DEAD_LETTER_QUEUE);
}

/** What dead-lettering a firing needs from the running cloud. */
export interface ScheduleDeadLetterContext {
  readonly sqs: SQSClient;
  /** The URL of {@link SCHEDULES_DEAD_LETTER_QUEUE}. */
  readonly queueUrl: string;
  /** Checks the SendMessage as the schedule's role; throws AccessDeniedError. @default nothing is checked */
  readonly authorize?: (checks: readonly AuthorizationCheck[]) => void;
}

/**
 * Sends a firing Scheduler gave up on to the schedule group's DLQ as Scheduler does: with the
 * schedule's execution role (infra's `grantDeadLetter` lets it send), the target's input as the body,
 * and the message attributes of Scheduler's dead-letter event: `ERROR_CODE`, `ERROR_MESSAGE`,
 * `EXHAUSTED_RETRY_CONDITION`, `RETRY_ATTEMPTS`, `SCHEDULE_ARN`, `TARGET_ARN`.
 * https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html
 */
export async function deadLetterFiring(
  firing: ScheduleFiring,
  failure: ScheduleDeadLetter,
  context: ScheduleDeadLetterContext,
): Promise<void> {
  context.authorize?.(sqsAuthorization('SendMessage', { ...SCOPE, queueName: SCHEDULES_DEAD_LETTER_QUEUE }));
  const text = (value: string) => ({ DataType: 'String', StringValue: value });
  await context.sqs.send(
    new SendMessageCommand({
      QueueUrl: context.queueUrl,
      MessageBody: firing.input,
      MessageAttributes: {
        ERROR_CODE: text(failure.errorCode),
        ERROR_MESSAGE: text(failure.errorMessage),
        EXHAUSTED_RETRY_CONDITION: text(failure.exhaustedRetryCondition),
        RETRY_ATTEMPTS: { DataType: 'Number', StringValue: String(failure.retryAttempts) },
        SCHEDULE_ARN: text(firing.scheduleArn),
        TARGET_ARN: text(targetArn(firing.schedule)),
      },
    }),
  );
}

/** The ARN of a schedule's target: the queue's, or the function's. */
function targetArn(schedule: ScheduleDefinition): string {
  return schedule.target.kind === 'queue'
    ? queueArn({ ...SCOPE, environment: LOCAL_ENVIRONMENT }, localName(schedule.target.queue))
    : `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${localName(schedule.target.service)}`;
}

/** Options of {@link operatorRules}. */
export interface OperatorRulesOptions {
  readonly schedules: readonly ScheduleDefinition[];
  /** The rule pattern for a schedule's operator event (`operatorEventPattern` of the workflows package). */
  readonly operatorEventPattern: (schedule: string) => object;
  /** The bus the operator events go to: `sidestep-<env>`. */
  readonly eventBusName: string;
  /** The rule name of a schedule, e.g. `sidestep-local-nightly-export-operator`. */
  readonly ruleName: (schedule: string) => string;
  readonly scheduleArn: (schedule: string) => string;
  /** Delivers as the rule (`ruleArn`): EventBridge, on the target's resource policy. */
  readonly deliver: (firing: ScheduleFiring, ruleArn: string) => Promise<void>;
  /** The schedule group's DLQ ({@link SCHEDULES_DEAD_LETTER_QUEUE}), the operator targets' DLQ. */
  readonly deadLetter: Pick<RuleTargetDeadLetter, 'queueUrl' | 'sqs' | 'iam' | 'retryDelayMs' | 'signal'>;
  readonly reporter: LocalCloudReporter;
}

/**
 * One EventBridge rule per schedule on the sidestep bus, matching its operator event ("Schedule
 * Fired" from `sidestep.operator` naming the schedule) and sending the schedule's input to the
 * schedule's target, so a manual run takes the path any event takes (auditable, replayable).
 *
 * A rule target cannot use Scheduler's context attributes; the rule's input transformer maps them
 * from the event instead: `<aws.scheduler.scheduled-time>` from the event's `time`,
 * `<aws.scheduler.execution-id>` from its `id` (so two manual runs are two runs, and the same
 * event replayed is the same run), `<aws.scheduler.attempt-number>` as 1.
 *
 * The target has the schedule's retry policy and the schedule group's DLQ, as infra's
 * `operatorTarget`: EventBridge retries a failed delivery, then dead-letters the event
 * ({@link deliverOrDeadLetter}); a refused one (`NO_PERMISSIONS`) or one to a target the cloud does
 * not run (`NO_RESOURCE`) goes to the DLQ unretried.
 */
export function operatorRules(options: OperatorRulesOptions): EventRule[] {
  return options.schedules.map((schedule) => {
    const ruleArn = eventRuleArn(SCOPE, options.ruleName(schedule.name), options.eventBusName);
    const target: RuleTargetDeadLetter = {
      ...options.deadLetter,
      ruleArn,
      targetArn: targetArn(schedule),
      queueName: SCHEDULES_DEAD_LETTER_QUEUE,
      reporter: options.reporter,
      retryPolicy: schedule.retryPolicy ?? NO_RETRIES,
    };
    return {
      name: options.ruleName(schedule.name),
      eventBusName: options.eventBusName,
      eventPattern: options.operatorEventPattern(schedule.name),
      target: async (event: EventBridgeEvent) => {
        options.reporter({
          type: 'schedule-fired',
          schedule: schedule.name,
          scheduledTime: event.time,
          target:
            schedule.target.kind === 'queue'
              ? `queue ${schedule.target.queue}`
              : `function ${schedule.target.service}`,
          trigger: 'operator',
        });
        const firing = scheduleFiring(schedule, {
          scheduleArn: options.scheduleArn(schedule.name),
          scheduledTime: new Date(event.time),
          executionId: event.id,
          attempt: 1,
        });
        await deliverOrDeadLetter(event, target, async () => {
          try {
            await options.deliver(firing, ruleArn);
          } catch (error) {
            if (error instanceof UnknownScheduleTargetError || error instanceof UnknownQueueError) {
              throw new RuleTargetNotFoundError(target.targetArn, error.message, { cause: error });
            }
            throw error;
          }
        });
      },
    };
  });
}

/** A schedule without a retry policy (locally only: infra always sets one) is not retried. */
const NO_RETRIES: EventRetryPolicy = { maximumRetryAttempts: 0, maximumEventAgeSeconds: 60 };
