import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  GetScheduleCommand,
  type GetScheduleCommandOutput,
  type ScheduleState,
  UpdateScheduleCommand,
} from '@aws-sdk/client-scheduler';
import { resourceName } from '@sidestep/manifest';
import { nextFireTimes, OPERATOR_EVENT_SOURCE, SCHEDULE_FIRED, SCHEDULES } from '@sidestep/workflows';
import { audited } from './audit.ts';
import { OpsError, UnsupportedLocallyError } from './errors.ts';
import { knownSchedule } from './names.ts';
import type { OpsContext } from './ops-context.ts';

/** A schedule as `sidestep schedules` lists it. */
export interface ScheduleSummary {
  readonly name: string;
  readonly description: string;
  readonly expression: string;
  readonly timezone: string;
  /** The next firing, as an instant and as wall-clock time in the schedule's time zone. */
  readonly nextFire: Date | null;
  readonly nextFireLocal: string | null;
  readonly target: string;
  /** Scheduler's state on AWS; locally the local cloud fires every schedule on its clock. */
  readonly state: 'ENABLED' | 'DISABLED' | 'UNKNOWN';
}

/** `date` as `YYYY-MM-DD HH:mm` wall-clock time in `timezone`, with the zone's name. */
export function wallClock(date: Date, timezone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', {
      timeZone: timezone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    })
      .formatToParts(date)
      .map((part) => [part.type, part.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} ${timezone}`;
}

/** The Scheduler group sidestep's schedules are in (infra's ScheduleGroup). */
export function scheduleGroupName(environment: string): string {
  return `sidestep-${environment}`;
}

/** Every schedule with its next fire time, none while paused (and, on AWS, its Scheduler state). */
export async function listSchedules(
  context: OpsContext,
  options: { readonly now?: Date } = {},
): Promise<ScheduleSummary[]> {
  const now = options.now ?? new Date();
  return Promise.all(
    SCHEDULES.map(async (schedule) => {
      const [next] = nextFireTimes(schedule.expression, schedule.timezone, now, 1);
      let state: ScheduleSummary['state'] = 'ENABLED';
      if (context.environment !== 'local') {
        try {
          state = (await getSchedule(context, schedule.name)).State ?? 'UNKNOWN';
        } catch {
          // Listing without scheduler:GetSchedule still shows the declared schedules.
          state = 'UNKNOWN';
        }
      }
      // A paused (DISABLED) schedule fires nothing until it is resumed.
      const fires = state === 'DISABLED' ? undefined : next;
      return {
        name: schedule.name,
        description: schedule.description,
        expression: schedule.expression,
        timezone: schedule.timezone,
        nextFire: fires ?? null,
        nextFireLocal: fires ? wallClock(fires, schedule.timezone) : null,
        target:
          schedule.target.kind === 'queue'
            ? `queue ${schedule.target.queue}`
            : `function ${schedule.target.service}`,
        state,
      };
    }),
  );
}

/** EventBridge accepted PutEvents but refused the entry (unknown bus, no permission, ...). */
export class OperatorEventRejectedError extends OpsError {
  override readonly name: string = 'OperatorEventRejectedError';
  readonly errorCode: string;
  readonly eventBusName: string;
  constructor(eventBusName: string, errorCode: string, message: string) {
    super(`schedule: ${eventBusName} refused the operator event: ${errorCode}: ${message}`, {
      field: 'schedule',
    });
    this.errorCode = errorCode;
    this.eventBusName = eventBusName;
  }
}

/** What {@link fireSchedule} put, and where: the event's id is the run's `<aws.scheduler.execution-id>`. */
export interface FiredSchedule {
  readonly schedule: string;
  readonly eventId: string;
  readonly eventBusName: string;
  /** The EventBridge endpoint it was put on; `null` for AWS's own. */
  readonly endpoint: string | null;
}

/**
 * Fires schedule `name` now through the operator event path: `{ source: sidestep.operator,
 * detail-type: Schedule Fired, detail: { schedule, operator } }` on `sidestep-<env>`, which the
 * schedule's operator rule (`operatorEventPattern`) routes to the schedule's target with its input.
 * The same call works against the local cloud and AWS. Recorded in the audit trail.
 *
 * The entry's `Time` is fixed once, at the operator's request (whole seconds, as EventBridge gives an
 * event's `time`): the run's request id comes from the event's time (`nightly-export:<time>`, through
 * the rule's input transformer), and an entry without one is stamped when EventBridge receives it
 * ("If no time stamp is provided, the time stamp of the PutEvents call is used",
 * https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsRequestEntry.html). So an
 * SDK retry of a PutEvents whose answer was lost, a second later, would be a second run (a second
 * export and its mail); with the time fixed, every send of this call is the same run.
 */
export async function fireSchedule(context: OpsContext, name: string): Promise<FiredSchedule> {
  knownSchedule(name);
  const eventBusName = `sidestep-${context.environment}`;
  const time = new Date(Math.floor(Date.now() / 1000) * 1000);
  return audited(
    context,
    'schedule-fire',
    name,
    async (operator) => {
      const answer = await context.clients.eventBridge.send(
        new PutEventsCommand({
          Entries: [
            {
              EventBusName: eventBusName,
              Time: time,
              Source: OPERATOR_EVENT_SOURCE,
              DetailType: SCHEDULE_FIRED,
              Detail: JSON.stringify({ schedule: name, operator }),
            },
          ],
        }),
      );
      const [entry] = answer.Entries ?? [];
      // PutEvents reports a refused entry in its answer, not as an error.
      if (!entry?.EventId) {
        throw new OperatorEventRejectedError(
          eventBusName,
          entry?.ErrorCode ?? 'NoEventId',
          entry?.ErrorMessage ?? 'no event id returned',
        );
      }
      return {
        schedule: name,
        eventId: entry.EventId,
        eventBusName,
        endpoint: context.endpoints.eventBridge ?? null,
      };
    },
    ({ schedule: _schedule, ...details }) => details,
  );
}

async function getSchedule(context: OpsContext, name: string): Promise<GetScheduleCommandOutput> {
  return context.clients.scheduler.send(
    new GetScheduleCommand({
      Name: resourceName(context.environment, name),
      GroupName: scheduleGroupName(context.environment),
    }),
  );
}

/**
 * Sets schedule `name`'s Scheduler state. UpdateSchedule replaces the whole schedule, so the
 * current one is read first and written back with only `State` changed. The local cloud has no
 * Scheduler API (it fires the declared schedules on its own clock), so this is refused locally.
 */
async function setScheduleState(
  context: OpsContext,
  name: string,
  state: ScheduleState,
): Promise<{ schedule: string; state: ScheduleState; previousState: string }> {
  knownSchedule(name);
  if (context.environment === 'local') {
    throw new UnsupportedLocallyError(
      state === 'DISABLED' ? 'pause' : 'resume',
      'the local cloud fires schedules on its own clock and serves no EventBridge Scheduler API',
    );
  }
  return audited(
    context,
    state === 'DISABLED' ? 'schedule-pause' : 'schedule-resume',
    name,
    async () => {
      const current = await getSchedule(context, name);
      await context.clients.scheduler.send(
        new UpdateScheduleCommand({
          Name: current.Name,
          GroupName: current.GroupName,
          ScheduleExpression: current.ScheduleExpression,
          ScheduleExpressionTimezone: current.ScheduleExpressionTimezone,
          StartDate: current.StartDate,
          EndDate: current.EndDate,
          Description: current.Description,
          FlexibleTimeWindow: current.FlexibleTimeWindow,
          Target: current.Target,
          KmsKeyArn: current.KmsKeyArn,
          ActionAfterCompletion: current.ActionAfterCompletion,
          State: state,
        }),
      );
      return { schedule: name, state, previousState: current.State ?? 'UNKNOWN' };
    },
    (result) => ({ state: result.state, previousState: result.previousState }),
  );
}

/** Pauses schedule `name` (Scheduler state DISABLED). Recorded in the audit trail. */
export function pauseSchedule(context: OpsContext, name: string) {
  return setScheduleState(context, name, 'DISABLED');
}

/** Resumes schedule `name` (Scheduler state ENABLED). Recorded in the audit trail. */
export function resumeSchedule(context: OpsContext, name: string) {
  return setScheduleState(context, name, 'ENABLED');
}
