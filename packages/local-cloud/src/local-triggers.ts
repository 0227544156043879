import type { SQSClient } from '@aws-sdk/client-sqs';
import { eventRuleArn, lambdaAuthorization, lambdaFunctionArn, statesAuthorization } from '@sidestep/iam';
import { deadLetterQueueName } from '@sidestep/manifest';
import type { AwsEndpoint } from './aws-endpoint.ts';
import { EVENT_BRIDGE_TARGET_PREFIX, eventBridgeApi } from './event-bridge-api.ts';
import { createEventRouter, type EventBridgeEvent, type EventRule } from './event-router.ts';
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
import { deliverOrDeadLetter, type RuleTargetDeadLetter } from './rule-dead-letter.ts';
import { operatorRules } from './schedule-delivery.ts';
import type { ScheduleFiring } from './scheduler.ts';
import type { LocalStepFunctions } from './step-functions.ts';

/** Options of {@link startLocalTriggers}. */
export interface LocalTriggersOptions {
  /** Receives S3 "Object Created" events and serves the EventBridge API (PutEvents). */
  readonly endpoint: AwsEndpoint;
  /** Sends an event a target's policy refused to the target's dead-letter queue. */
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

/**
 * EventBridge: each workflow trigger as a rule starting its state machine, each schedule's operator
 * rule on `sidestep-local`, routing the endpoint's S3 "Object Created" events and PutEvents. Nothing
 * to stop: the rules live as long as the endpoint.
 */
export async function startLocalTriggers(options: LocalTriggersOptions): Promise<void> {
  const { stepFunctions, reporter } = options;
  const triggerRuleNames: string[] = [];
  const rules: EventRule[] = options.workflows.flatMap((workflow) => {
    const stateMachineArn = stepFunctions.stateMachineArn(localName(workflow.name));
    return (workflow.triggers ?? []).map((trigger) => {
      const name = trigger.ruleName ?? `${localName(workflow.name)}-trigger`;
      triggerRuleNames.push(name);
      return {
        name,
        eventPattern: trigger.eventPattern,
        // A rule target cannot name the execution: Step Functions generates the name.
        target: (event: EventBridgeEvent) => {
          const { iam } = options;
          iam.assertAuthorized(
            iam.role(LOCAL_ROLES.rule(name)),
            statesAuthorization('StartExecution', { stateMachineArn }),
          );
          stepFunctions.startExecution({ stateMachineArn, input: JSON.stringify(event) });
        },
      };
    });
  });
  if (options.schedules) {
    rules.push(
      ...operatorRules({
        schedules: options.schedules.definitions,
        operatorEventPattern: options.schedules.operatorEventPattern,
        eventBusName: LOCAL_EVENT_BUS_NAME,
        ruleName: (name) => `${localName(name)}-operator`,
        scheduleArn: localScheduleArn,
        deliver: options.deliver,
        reporter,
      }),
    );
  }
  const statusRule = options.executionStatusRule?.(
    options.workflows.map((w) => stepFunctions.stateMachineArn(localName(w.name))),
  );
  // Each rule target's DLQ, created with the rules as infra creates them with the stack (`dlq show`
  // reads them): the workflow triggers' and the workflow-ended rule's.
  const statusDeadLetters = statusRule && deadLetterQueueName(LOCAL_ENVIRONMENT, statusRule.name);
  const [statusDeadLetterUrl] = await Promise.all(
    [statusDeadLetters, ...triggerRuleNames.map((name) => `${name}-dlq`)].map((queueName) =>
      queueName === undefined ? undefined : createDeadLetterQueue(options.sqs, queueName),
    ),
  );
  if (statusRule && statusDeadLetters && statusDeadLetterUrl) {
    rules.push(
      executionStatusTarget(
        statusRule,
        { queueName: statusDeadLetters, queueUrl: statusDeadLetterUrl },
        options,
      ),
    );
  }
  const router = createEventRouter({ rules, reporter, describe: describeEvent });
  options.endpoint.onObjectCreated((event) => void router.put(event));
  // Step Functions sends every execution's status change to the default bus.
  stepFunctions.onStatusChange((event) => void router.put(event));
  options.endpoint.serveJsonApi(
    EVENT_BRIDGE_TARGET_PREFIX,
    eventBridgeApi({ router, region: LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID }),
  );
}

const SCOPE = { region: LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID };

/**
 * The ended-executions rule as a local rule: its target invokes the service asynchronously with the
 * event, as EventBridge, which the function's policy must allow for the rule (infra's
 * `aws_lambda_permission` with the rule as `source_arn`), checked as the operator rules' deliveries
 * are; a refused invoke goes to the rule's target DLQ, `sidestep-<env>-<rule>-dlq`, unretried
 * ({@link deliverOrDeadLetter}). A service that is not running fails the delivery (reported by the
 * router); once invoked, a function error is Lambda's to retry, not EventBridge's
 * (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-retry-policy.html).
 */
function executionStatusTarget(
  rule: LocalExecutionStatusRule,
  deadLetters: Pick<RuleTargetDeadLetter, 'queueName' | 'queueUrl'>,
  options: Pick<LocalTriggersOptions, 'invokeAsync' | 'iam' | 'sqs'>,
): EventRule {
  const name = localName(rule.name);
  const functionName = localName(rule.service);
  const target: RuleTargetDeadLetter = {
    ruleArn: eventRuleArn(SCOPE, name),
    targetArn: lambdaFunctionArn(SCOPE, functionName),
    ...deadLetters,
    sqs: options.sqs,
    iam: options.iam,
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
          throw new Error(`the rule's target ${functionName} is not running`);
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
