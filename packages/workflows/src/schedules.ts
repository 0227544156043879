import type { Json } from './asl.ts';
import type { EventRetryPolicy } from './event-retry-policy.ts';
import { InvalidScheduleError } from './invalid-schedule-error.ts';

/** Where a schedule delivers its input: a job queue (by its manifest name) or a service's function. */
export type ScheduleTarget =
  | { readonly kind: 'queue'; readonly queue: string }
  | { readonly kind: 'function'; readonly service: string };

/**
 * A schedule: infra deploys it as an EventBridge Scheduler schedule (plus an operator rule on the
 * `sidestep-<env>` bus), the local cloud fires it on its clock with {@link nextFireTimes}.
 */
export interface ScheduleDefinition {
  /** Kebab-case; deployed as `sidestep-<env>-<name>`, fired by hand with `pnpm fire-schedule <name>`. */
  readonly name: string;
  readonly description: string;
  /** `cron(...)`, `rate(...)` or `at(...)` in Scheduler's syntax (see `nextFireTimes`). */
  readonly expression: string;
  /** IANA time zone the expression is read in. */
  readonly timezone: string;
  readonly target: ScheduleTarget;
  /**
   * The input each firing delivers (the SQS message body / the Lambda payload, as JSON). Strings may
   * hold Scheduler's context attributes, replaced at every firing: `<aws.scheduler.scheduled-time>`,
   * `<aws.scheduler.execution-id>` (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html).
   * Key once-only work by the scheduled time, not the execution id: Scheduler gives each attempt of a
   * firing an execution id of its own, so a retried delivery would run the work twice.
   */
  readonly input: Json;
  /** How Scheduler retries a firing it could not deliver before dead-lettering it. */
  readonly retryPolicy: EventRetryPolicy;
}

/**
 * The local environment's operator address: who gets the local cloud's import and export mails and
 * the nightly export's by default. One address for every local mail, so they all land together.
 */
export const LOCAL_NOTIFY_ADDRESS = 'ops@sidestep.localhost';

/** What differs between environments in the schedules. */
export interface ScheduleOptions {
  /**
   * Who gets the nightly export's `export.ready` / `export.failed` mail (its `requestedBy`).
   * @default {@link LOCAL_NOTIFY_ADDRESS}
   */
  readonly nightlyExportRecipient?: string;
}

/**
 * sidestep's schedules for one environment:
 *
 * - `nightly-export`: at 03:00 Asia/Tokyo every day, an `export.requested` v1 envelope (everyone, the
 *   default file name) on the export-requests queue. Its id is `nightly-export:<scheduled time>`:
 *   Scheduler delivers at least once, and a repeated delivery of one firing is the same request, which
 *   the export workflow registers once. Retried for up to an hour, then dead-lettered: an export
 *   started much later is better started by hand.
 * - `stale-job-sweeper`: every 15 minutes, invokes the job-sweeper with `{}`
 *   (`SweepStaleJobsInput`). Undelivered firings are dropped after 10 minutes: the next one is
 *   due 5 minutes later and sweeps the same jobs.
 */
export function defineSchedules(options: ScheduleOptions = {}): readonly ScheduleDefinition[] {
  const recipient = options.nightlyExportRecipient ?? LOCAL_NOTIFY_ADDRESS;
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(recipient)) {
    throw new InvalidScheduleError('nightlyExportRecipient', recipient, 'is not an email address');
  }
  return [
    {
      name: 'nightly-export',
      description: 'Exports every user at 03:00 Tokyo time',
      expression: 'cron(0 3 * * ? *)',
      timezone: 'Asia/Tokyo',
      target: { kind: 'queue', queue: 'export-requests' },
      input: {
        type: 'export.requested',
        version: 1,
        id: 'nightly-export:<aws.scheduler.scheduled-time>',
        createdAt: '<aws.scheduler.scheduled-time>',
        payload: { requestedBy: recipient },
      },
      retryPolicy: { maximumRetryAttempts: 10, maximumEventAgeSeconds: 3600 },
    },
    {
      name: 'stale-job-sweeper',
      description: 'Fails jobs still running past their deadline, and mails about them',
      expression: 'rate(15 minutes)',
      timezone: 'UTC',
      target: { kind: 'function', service: 'job-sweeper' },
      input: {},
      retryPolicy: { maximumRetryAttempts: 2, maximumEventAgeSeconds: 600 },
    },
  ];
}

/** The schedules with the default options (the local cloud's, and infra's unless it passes its own). */
export const SCHEDULES: readonly ScheduleDefinition[] = defineSchedules();

/** The `source` of the event an operator puts on the bus to fire a schedule by hand. */
export const OPERATOR_EVENT_SOURCE = 'sidestep.operator';
/** The `detail-type` of that event; its `detail` is `{ schedule: <name> }` (plus who fired it, if given). */
export const SCHEDULE_FIRED = 'Schedule Fired';

/** The EventBridge rule pattern matching the operator event that fires `scheduleName`. */
export interface OperatorEventPattern {
  readonly source: readonly [typeof OPERATOR_EVENT_SOURCE];
  readonly 'detail-type': readonly [typeof SCHEDULE_FIRED];
  readonly detail: { readonly schedule: readonly [string] };
}

/**
 * The pattern of the rule that routes an operator's `Schedule Fired` event for `scheduleName` to the
 * schedule's target with the schedule's input, so a run by hand is an event on the bus (archived,
 * replayable, auditable) like any other:
 * `{ source: ['sidestep.operator'], 'detail-type': ['Schedule Fired'], detail: { schedule: [name] } }`.
 *
 * @throws {InvalidScheduleError} (`field: 'schedule'`) for a name that is not kebab-case.
 */
export function operatorEventPattern(scheduleName: string): OperatorEventPattern {
  if (!/^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(scheduleName)) {
    throw new InvalidScheduleError('schedule', scheduleName, 'must be a kebab-case schedule name');
  }
  return {
    source: [OPERATOR_EVENT_SOURCE],
    'detail-type': [SCHEDULE_FIRED],
    detail: { schedule: [scheduleName] },
  };
}
