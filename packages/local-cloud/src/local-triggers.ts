import type { SQSClient } from '@aws-sdk/client-sqs';
import { eventRuleArn, lambdaAuthorization, lambdaFunctionArn, statesAuthorization } from '@sidestep/iam';
import { deadLetterQueueName } from '@sidestep/manifest';
import { type EventRetryPolicy, S3_TRIGGER_RETRY_POLICY } from '@sidestep/workflows';
import type { AwsEndpoint } from './aws-endpoint.ts';
import { EVENT_BRIDGE_TARGET_PREFIX, eventBridgeApi } from './event-bridge-api.ts';
import { createEventRouter, type EventBridgeEvent, type EventRule } from './event-router.ts';
import type { ExecutionStatusChangeEvent } from './execution-status-event.ts';
import type { LocalCloudReporter } from './local-cloud-event.ts';
import type { LocalExecutionStatusRule, LocalSchedules, LocalWorkflow } from './local-definitions.ts';
import { assertAuthorizedForRule, LOCAL_ROLES, type LocalIam } from './local-iam.ts';
import {
  LOCAL_ACCOUNT_ID,
  LOCAL_ENVIRONMENT,
  LOCAL_EVENT_BUS_NAME,
  LOCAL_REGION,
  localName,
  localScheduleArn,
} from './local-names.ts';
import { createDeadLetterQueue } from './queues.ts';
import {
  deliverOrDeadLetter,
  type RuleTargetDeadLetter,
  RuleTargetNotFoundError,
} from './rule-dead-letter.ts';
import { createSchedulesDeadLetterQueue, operatorRules } from './schedule-delivery.ts';
import type { ScheduleFiring } from './scheduler.ts';
import { type LocalStepFunctions, StateMachineDoesNotExistError } from './step-functions.ts';

/** Options of {@link startLocalTriggers}. */
export interface LocalTriggersOptions {
  /** Receives S3 "Object Created" events and serves the EventBridge API (PutEvents). */
  readonly endpoint: AwsEndpoint;
  /** Sends the events the rules could not deliver to their targets' dead-letter queues. */
  readonly sqs: SQSClient;
  readonly workflows: readonly LocalWorkflow[];
  readonly stepFunctions: LocalStepFunctions;
  /** The schedules whose operator rules fire them by hand. @default none */
  readonly schedules?: LocalSchedules;
  /**
   * The rule for the workflows' ended executions (built from their ARNs): it invokes its service
   * with each matching Step Functions status change event. @default none
   */
  readonly executionStatusRule?: (stateMachineArns: readonly string[]) => LocalExecutionStatusRule;
  /**
   * Which Step Functions status change events are lost on their way to the bus, as AWS allows: Step
   * Functions sends them best effort ("in some rare cases an event might not be delivered",
   * https://docs.aws.amazon.com/eventbridge/latest/ref/event-delivery-level.html). A test drops an
   * execution's to show what the scheduled sweep's backstop does without it. @default none: every
   * event is delivered
   */
  readonly lostStatusChange?: (event: ExecutionStatusChangeEvent) => boolean;
  /**
   * Invokes a running service asynchronously, as EventBridge invokes a Lambda target (Lambda's
   * retries and failure queue); `false` when the cloud does not run it.
   */
  invokeAsync(service: string, payload: unknown): boolean;
  /** Delivers a schedule's firing to its target; `ruleArn`: as that operator rule. */
  deliver(firing: ScheduleFiring, ruleArn: string): Promise<void>;
  /**
   * Checks each rule's StartExecution as the rule's role, and the ended-executions rule's invoke as
   * EventBridge, on the function's policy.
   */
  readonly iam: LocalIam;
  readonly reporter: LocalCloudReporter;
}

/** The local rules' deliveries: {@link LocalTriggers.stop} ends their pending retries. */
export interface LocalTriggers {
  stop(): void;
}

/**
 * EventBridge: each workflow trigger as a rule starting its state machine, each schedule's operator
 * rule on `sidestep-local`, routing the endpoint's S3 "Object Created" events and PutEvents. Every
 * rule's target has its retry policy and DLQ, as infra deploys them ({@link deliverOrDeadLetter});
 * the rules live as long as the endpoint, `stop` ends the retries still waiting.
 */
export async function startLocalTriggers(options: LocalTriggersOptions): Promise<LocalTriggers> {
  const { stepFunctions, reporter, sqs, iam } = options;
  const retries = new AbortController();
  const triggers = options.workflows.flatMap((workflow) =>
    (workflow.triggers ?? []).map((trigger) => ({
      trigger,
      stateMachineArn: stepFunctions.stateMachineArn(localName(workflow.name)),
      name: trigger.ruleName ?? `${localName(workflow.name)}-trigger`,
    })),
  );
  const statusRule = options.executionStatusRule?.(
    options.workflows.map((w) => stepFunctions.stateMachineArn(localName(w.name))),
  );
  // Each rule target's DLQ, created with the rules as infra creates them with the stack (`dlq show`
  // reads them): the workflow triggers', the workflow-ended rule's and the operator rules' (the
  // schedule group's).
  const statusDeadLetters = statusRule && deadLetterQueueName(LOCAL_ENVIRONMENT, statusRule.name);
  const [statusDeadLetterUrl, schedulesDeadLetterUrl, triggerDeadLetterUrls] = await Promise.all([
    statusDeadLetters === undefined ? undefined : createDeadLetterQueue(sqs, statusDeadLetters),
    options.schedules ? createSchedulesDeadLetterQueue(sqs) : undefined,
    Promise.all(triggers.map(({ name }) => createDeadLetterQueue(sqs, `${name}-dlq`))),
    // And the mail-events rule's, which holds SES's records of the mails EventBridge could not write on
    // AWS: none come locally, so `dlq show mail-events` answers "no dead letters", as it does there.
    createDeadLetterQueue(sqs, deadLetterQueueName(LOCAL_ENVIRONMENT, 'mail-events')),
  ]);
  const rules: EventRule[] = triggers.map(({ trigger, stateMachineArn, name }, index) =>
    workflowTriggerRule({
      name,
      eventPattern: trigger.eventPattern,
      stateMachineArn,
      retryPolicy: trigger.retryPolicy ?? S3_TRIGGER_RETRY_POLICY,
      deadLetter: { queueName: `${name}-dlq`, queueUrl: triggerDeadLetterUrls[index] ?? '' },
      stepFunctions,
      sqs,
      iam,
      reporter,
      signal: retries.signal,
    }),
  );
  if (options.schedules && schedulesDeadLetterUrl) {
    rules.push(
      ...operatorRules({
        schedules: options.schedules.definitions,
        operatorEventPattern: options.schedules.operatorEventPattern,
        eventBusName: LOCAL_EVENT_BUS_NAME,
        ruleName: (name) => `${localName(name)}-operator`,
        scheduleArn: localScheduleArn,
        deliver: options.deliver,
        deadLetter: { queueUrl: schedulesDeadLetterUrl, sqs, iam, signal: retries.signal },
        reporter,
      }),
    );
  }
  if (statusRule && statusDeadLetters && statusDeadLetterUrl) {
    rules.push(
      executionStatusTarget(
        statusRule,
        { queueName: statusDeadLetters, queueUrl: statusDeadLetterUrl, signal: retries.signal },
        options,
      ),
    );
  }
  const router = createEventRouter({ rules, reporter, describe: describeEvent });
  options.endpoint.onObjectCreated((event) => void router.put(event));
  // Step Functions sends every execution's status change to the default bus, but those a test loses.
  stepFunctions.onStatusChange((event) => {
    if (options.lostStatusChange?.(event)) {
      reporter({
        type: 'error',
        source: 'step functions',
        message: `the ${event.detail.status} status change of execution ${event.detail.name} was lost on its way to the bus (lostStatusChange)`,
      });
      return;
    }
    void router.put(event);
  });
  options.endpoint.serveJsonApi(
    EVENT_BRIDGE_TARGET_PREFIX,
    eventBridgeApi({ router, region: LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID }),
  );
  return { stop: () => retries.abort() };
}

const SCOPE = { region: LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID };

/**
 * The ended-executions rule as a local rule: its target invokes the service asynchronously with the
 * event, as EventBridge, which the function's policy must allow for the rule (infra's
 * `aws_lambda_permission` with the rule as `source_arn`), checked as the operator rules' deliveries
 * are; a refused invoke goes to the rule's target DLQ, `sidestep-<env>-<rule>-dlq`, unretried
 * ({@link deliverOrDeadLetter}), and so does an invoke of a service that is not running
 * (`NO_RESOURCE`, as for a function that does not exist); once invoked, a function error is Lambda's to retry, not EventBridge's
 * (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-retry-policy.html).
 */
function executionStatusTarget(
  rule: LocalExecutionStatusRule,
  deadLetters: Pick<RuleTargetDeadLetter, 'queueName' | 'queueUrl' | 'signal'>,
  options: Pick<LocalTriggersOptions, 'invokeAsync' | 'iam' | 'sqs' | 'reporter'>,
): EventRule {
  const name = localName(rule.name);
  const functionName = localName(rule.service);
  const target: RuleTargetDeadLetter = {
    ruleArn: eventRuleArn(SCOPE, name),
    targetArn: lambdaFunctionArn(SCOPE, functionName),
    ...deadLetters,
    sqs: options.sqs,
    iam: options.iam,
    reporter: options.reporter,
  };
  return {
    name,
    eventPattern: rule.eventPattern,
    target: (event) =>
      deliverOrDeadLetter(event, target, () => {
        assertAuthorizedForRule(
          options.iam,
          target.ruleArn,
          lambdaAuthorization('Invoke', { ...SCOPE, functionName }),
        );
        if (!options.invokeAsync(rule.service, event)) {
          throw new RuleTargetNotFoundError(target.targetArn, `${functionName} is not running`);
        }
      }),
  };
}

/** What an event is about, for the console: the object, the schedule an operator event fires, ... */
function describeEvent(event: EventBridgeEvent): string {
  const detail = event.detail as {
    bucket?: { name?: string };
    object?: { key?: string };
    schedule?: unknown;
  };
  if (detail.bucket?.name && detail.object?.key) return `${detail.bucket.name}/${detail.object.key}`;
  // An operator event names the schedule it fires.
  if (typeof detail.schedule === 'string') return `schedule ${detail.schedule}`;
  return event.resources[0] ?? event.source;
}

/** Options of {@link workflowTriggerRule}. */
export interface WorkflowTriggerRuleOptions {
  /** The rule name, e.g. `sidestep-local-import-trigger`: its role is named alike. */
  readonly name: string;
  readonly eventPattern: object;
  readonly stateMachineArn: string;
  /** The target's retry policy, as infra's S3Trigger sets it. */
  readonly retryPolicy: EventRetryPolicy;
  /** The target's DLQ, `<rule>-dlq`. */
  readonly deadLetter: Pick<RuleTargetDeadLetter, 'queueName' | 'queueUrl'>;
  readonly stepFunctions: Pick<LocalStepFunctions, 'startExecution'>;
  readonly sqs: SQSClient;
  /** Checks StartExecution as the rule's role, and the DLQ's SendMessage as EventBridge. */
  readonly iam: LocalIam;
  /** Reports each failed attempt that is retried. */
  readonly reporter: LocalCloudReporter;
  readonly retryDelayMs?: (retry: number) => number;
  readonly signal?: AbortSignal;
}

/**
 * A workflow trigger as a local rule: its target starts the state machine with the event as input
 * (a rule target cannot name the execution: Step Functions generates the name) as the rule's role,
 * delivered as EventBridge delivers to a target with a retry policy and a DLQ
 * ({@link deliverOrDeadLetter}): a refused StartExecution (`NO_PERMISSIONS`) or a missing state
 * machine (`NO_RESOURCE`) or an input it refuses (`INVALID_PARAMETER`) goes straight to
 * `<rule>-dlq`, any other failure is retried per the policy first (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html).
 */
export function workflowTriggerRule(options: WorkflowTriggerRuleOptions): EventRule {
  const { name, stateMachineArn, iam } = options;
  const target: RuleTargetDeadLetter = {
    ruleArn: eventRuleArn(SCOPE, name),
    targetArn: stateMachineArn,
    ...options.deadLetter,
    sqs: options.sqs,
    iam,
    reporter: options.reporter,
    retryPolicy: options.retryPolicy,
    ...(options.retryDelayMs ? { retryDelayMs: options.retryDelayMs } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  return {
    name,
    eventPattern: options.eventPattern,
    target: (event: EventBridgeEvent) =>
      deliverOrDeadLetter(event, target, () => {
        iam.assertAuthorized(
          iam.role(LOCAL_ROLES.rule(name)),
          statesAuthorization('StartExecution', { stateMachineArn }),
        );
        try {
          options.stepFunctions.startExecution({ stateMachineArn, input: JSON.stringify(event) });
        } catch (error) {
          if (error instanceof StateMachineDoesNotExistError) {
            throw new RuleTargetNotFoundError(stateMachineArn, error.message, { cause: error });
          }
          throw error;
        }
      }),
  };
}
