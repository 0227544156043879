import { compileEventPattern, type EventMatcher } from './event-pattern.ts';
import type { LocalCloudReporter } from './local-cloud-event.ts';

/** The bus AWS services (S3 "Object Created") send to, and the one a rule is on unless it names another. */
export const DEFAULT_EVENT_BUS = 'default';

/** An EventBridge rule on an event bus: a pattern and the target it sends matching events to. */
export interface EventRule {
  /** The deployed rule name, e.g. `sidestep-local-import-uploads`. */
  readonly name: string;
  /** The bus the rule is on, e.g. `sidestep-local` for operator rules. @default 'default' */
  readonly eventBusName?: string;
  /** The event pattern, as infra deploys it. */
  readonly eventPattern: object;
  /**
   * Delivers one matching event. EventBridge passes the whole event as the target's input when the
   * target has no input transformer (for Step Functions: StartExecution with that input and a
   * generated execution name).
   */
  readonly target: (event: EventBridgeEvent) => Promise<void> | void;
}

/** The envelope every EventBridge event has. */
export interface EventBridgeEvent {
  readonly version: string;
  readonly id: string;
  readonly 'detail-type': string;
  readonly source: string;
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: readonly string[];
  readonly detail: unknown;
}

/** The local event buses. */
export interface EventRouter {
  /**
   * Matches the event against every rule on the bus and delivers it to the targets of those that
   * match (each once, concurrently); resolves with the names of the rules that matched.
   * @param eventBusName @default 'default'
   */
  put(event: EventBridgeEvent, eventBusName?: string): Promise<string[]>;
  /** The buses that have rules, plus `default`: the ones PutEvents accepts. */
  readonly eventBusNames: readonly string[];
}

/** Options of {@link createEventRouter}. */
export interface EventRouterOptions {
  readonly rules: readonly EventRule[];
  readonly reporter: LocalCloudReporter;
  /** A short description of what an event is about, for the console. @default its first resource */
  readonly describe?: (event: EventBridgeEvent) => string;
}

/**
 * Creates the local event bus. Patterns are compiled up front, so a malformed rule fails at start
 * (as PutRule would refuse it). A target retries and dead-letters its own deliveries as its retry
 * policy and DLQ say (`deliverOrDeadLetter`); the error it then throws, saying where the event went,
 * is reported.
 */
export function createEventRouter(options: EventRouterOptions): EventRouter {
  const rules: { rule: EventRule; matches: EventMatcher }[] = options.rules.map((rule) => ({
    rule,
    matches: compileEventPattern(rule.eventPattern),
  }));
  const describe = options.describe ?? ((event) => event.resources[0] ?? event.source);
  const eventBusNames = [
    ...new Set([DEFAULT_EVENT_BUS, ...options.rules.map((rule) => rule.eventBusName ?? DEFAULT_EVENT_BUS)]),
  ];
  return {
    eventBusNames,
    async put(event, eventBusName = DEFAULT_EVENT_BUS) {
      const matched = rules
        .filter(
          ({ rule, matches }) => (rule.eventBusName ?? DEFAULT_EVENT_BUS) === eventBusName && matches(event),
        )
        .map(({ rule }) => rule);
      options.reporter({
        type: 'event-routed',
        ...(eventBusName !== DEFAULT_EVENT_BUS ? { eventBus: eventBusName } : {}),
        source: event.source,
        detailType: event['detail-type'],
        subject: describe(event),
        rules: matched.map((rule) => rule.name),
      });
      await Promise.all(
        matched.map(async (rule) => {
          try {
            await rule.target(event);
          } catch (error) {
            options.reporter({
              type: 'error',
              source: `rule ${rule.name}`,
              message: `delivering event ${event.id} failed: ${error instanceof Error ? error.message : String(error)}`,
            });
          }
        }),
      );
      return matched.map((rule) => rule.name);
    },
  };
}
