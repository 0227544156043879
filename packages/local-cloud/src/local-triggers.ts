import { statesAuthorization } from '@sidestep/iam';
import { type AwsEndpoint, LOCAL_ACCOUNT_ID, LOCAL_REGION } from './aws-endpoint.ts';
import { EVENT_BRIDGE_TARGET_PREFIX, eventBridgeApi } from './event-bridge-api.ts';
import { createEventRouter, type EventBridgeEvent, type EventRule } from './event-router.ts';
import type { LocalCloudReporter } from './local-cloud-event.ts';
import type { LocalSchedules, LocalWorkflow } from './local-definitions.ts';
import { LOCAL_ROLES, type LocalIam } from './local-iam.ts';
import { LOCAL_EVENT_BUS_NAME, localName, localScheduleArn } from './local-names.ts';
import { operatorRules } from './schedule-delivery.ts';
import type { ScheduleFiring } from './scheduler.ts';
import type { LocalStepFunctions } from './step-functions.ts';

/** Options of {@link startLocalTriggers}. */
export interface LocalTriggersOptions {
  /** Receives S3 "Object Created" events and serves the EventBridge API (PutEvents). */
  readonly endpoint: AwsEndpoint;
  readonly workflows: readonly LocalWorkflow[];
  readonly stepFunctions: LocalStepFunctions;
  /** The schedules whose operator rules fire them by hand. @default none */
  readonly schedules?: LocalSchedules;
  /** Delivers a schedule's firing to its target; `ruleArn`: as that operator rule. */
  deliver(firing: ScheduleFiring, ruleArn: string): Promise<void>;
  /** Checks each rule's StartExecution as the rule's role. */
  readonly iam: LocalIam;
  readonly reporter: LocalCloudReporter;
}

/**
 * EventBridge: each workflow trigger as a rule starting its state machine, each schedule's operator
 * rule on `sidestep-local`, routing the endpoint's S3 "Object Created" events and PutEvents. Nothing
 * to stop: the rules live as long as the endpoint.
 */
export function startLocalTriggers(options: LocalTriggersOptions): void {
  const { stepFunctions, reporter } = options;
  const rules: EventRule[] = options.workflows.flatMap((workflow) => {
    const stateMachineArn = stepFunctions.stateMachineArn(localName(workflow.name));
    return (workflow.triggers ?? []).map((trigger) => {
      const name = trigger.ruleName ?? `${localName(workflow.name)}-trigger`;
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
  const router = createEventRouter({ rules, reporter, describe: describeEvent });
  options.endpoint.onObjectCreated((event) => void router.put(event));
  options.endpoint.serveJsonApi(
    EVENT_BRIDGE_TARGET_PREFIX,
    eventBridgeApi({ router, region: LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID }),
  );
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
