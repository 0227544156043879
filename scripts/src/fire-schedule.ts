import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
// The same constants `operatorEventPattern` builds each schedule's rule from.
import { OPERATOR_EVENT_SOURCE, SCHEDULE_FIRED } from '@sidestep/workflows';

/** Where `npm start` serves the local cloud's endpoint unless told otherwise (`--port`). */
export const LOCAL_ENDPOINT = 'http://127.0.0.1:4566';

/** What {@link fireScheduleEndpoint} chooses from. */
export interface EndpointChoice {
  /** `--endpoint`, when given. */
  readonly endpoint?: string | undefined;
  /** `local`, `staging`, `production`. */
  readonly environment: string;
}

/**
 * The EventBridge endpoint to fire at: `--endpoint`, else the one the environment names the way the
 * AWS SDK reads it (`AWS_ENDPOINT_URL_EVENTBRIDGE`, then `AWS_ENDPOINT_URL`, both ignored when
 * `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`; https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html),
 * else the local cloud's default for `local` and AWS's own (`undefined`) for the others. So the
 * variables `npm start` prints for a producer also point this command at the same local cloud.
 */
export function fireScheduleEndpoint(
  choice: EndpointChoice,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  if (choice.endpoint) return choice.endpoint;
  const configured =
    env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS === 'true'
      ? undefined
      : env.AWS_ENDPOINT_URL_EVENTBRIDGE || env.AWS_ENDPOINT_URL || undefined;
  return configured ?? (choice.environment === 'local' ? LOCAL_ENDPOINT : undefined);
}

/**
 * The command that fires `schedule` at the local cloud on `endpoint`, as a person runs it from the
 * repository root; `--endpoint` only when the cloud is not on the default port.
 */
export function fireScheduleCommand(schedule: string, endpoint: string): string {
  const target = endpoint.replace(/\/$/, '') === LOCAL_ENDPOINT ? '' : ` --endpoint ${endpoint}`;
  return `npm run fire-schedule -- ${schedule}${target}`;
}

/** The schedule named is not one the repository declares. */
export class UnknownScheduleError extends Error {
  override readonly name = 'UnknownScheduleError';
  readonly field = 'schedule';
  readonly schedule: string;
  constructor(schedule: string, known: readonly string[]) {
    super(`no schedule named "${schedule}" (declared: ${known.join(', ') || 'none'})`);
    this.schedule = schedule;
  }
}

/** EventBridge accepted the call but refused the entry (unknown bus, no permission, ...). */
export class OperatorEventRejectedError extends Error {
  override readonly name = 'OperatorEventRejectedError';
  readonly errorCode: string;
  readonly eventBusName: string;
  constructor(eventBusName: string, errorCode: string, message: string) {
    super(`${eventBusName} refused the operator event: ${errorCode}: ${message}`);
    this.errorCode = errorCode;
    this.eventBusName = eventBusName;
  }
}

/** Options of {@link fireSchedule}. */
export interface FireScheduleOptions {
  readonly client: EventBridgeClient;
  /** `local`, `staging`, `production`: the bus is `sidestep-<environment>`. */
  readonly environment: string;
  readonly schedule: string;
  /** The names the repository declares (`SCHEDULES`); anything else is refused before calling AWS. */
  readonly knownSchedules: readonly string[];
  /** Who fired it, kept in the event for the audit trail. */
  readonly operator: string;
}

/** What was put: the event's id (the run's `<aws.scheduler.execution-id>`) and the bus. */
export interface FiredSchedule {
  readonly eventId: string;
  readonly eventBusName: string;
}

/**
 * Fires a schedule by hand: puts the operator event `{ source: sidestep.operator, detail-type:
 * Schedule Fired, detail: { schedule, operator } }` on `sidestep-<environment>`, where the
 * schedule's operator rule routes it to the schedule's target with the schedule's input. Works the
 * same against the local cloud (its endpoint answers PutEvents) and AWS.
 */
export async function fireSchedule(options: FireScheduleOptions): Promise<FiredSchedule> {
  if (!options.knownSchedules.includes(options.schedule)) {
    throw new UnknownScheduleError(options.schedule, options.knownSchedules);
  }
  const eventBusName = `sidestep-${options.environment}`;
  const output = await options.client.send(
    new PutEventsCommand({
      Entries: [
        {
          EventBusName: eventBusName,
          Source: OPERATOR_EVENT_SOURCE,
          DetailType: SCHEDULE_FIRED,
          Detail: JSON.stringify({ schedule: options.schedule, operator: options.operator }),
        },
      ],
    }),
  );
  const [entry] = output.Entries ?? [];
  // PutEvents reports a refused entry in the response, not as an error: check it.
  if (!entry?.EventId) {
    throw new OperatorEventRejectedError(
      eventBusName,
      entry?.ErrorCode ?? 'NoEventId',
      entry?.ErrorMessage ?? 'no event id returned',
    );
  }
  return { eventId: entry.EventId, eventBusName };
}
