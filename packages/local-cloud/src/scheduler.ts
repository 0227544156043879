import type { ScheduleDefinition as DeclaredSchedule, EventRetryPolicy } from '@sidestep/workflows';
import { type ExhaustedRetryCondition, exhaustedRetryCondition, retryBackoffMs } from './event-retries.ts';
import { type KeyedStore, keyedMemoryStore } from './keyed-store.ts';
import type { LocalCloudReporter } from './local-cloud-event.ts';

/**
 * What the scheduler needs of a schedule as the workflows package declares it (`SCHEDULES`, its
 * `ScheduleDefinition`): when (`expression` in `timezone`), where (`target`: a queue by manifest
 * name, or a service's function), with what (`input`, whose Scheduler context attributes
 * `<aws.scheduler.scheduled-time>`, `<aws.scheduler.execution-id>`, `<aws.scheduler.schedule-arn>`,
 * `<aws.scheduler.attempt-number>` are replaced at every firing) and how failed deliveries are
 * retried (`retryPolicy`; none when absent).
 */
export type ScheduleDefinition = Pick<
  DeclaredSchedule,
  'name' | 'expression' | 'timezone' | 'target' | 'input'
> & {
  readonly retryPolicy?: EventRetryPolicy;
};

/** `nextFireTimes(expression, timezone, from, n)`: the next `n` fire times strictly after `from`. */
export type NextFireTimes = (expression: string, timezone: string, from: Date, n: number) => Date[];

/** A timer handle of a {@link SchedulerClock}. */
export type ClockTimer = { readonly cancel: () => void };

/** Time as the scheduler sees it: the real clock, or a virtual one a test moves. */
export interface SchedulerClock {
  now(): Date;
  /** Calls `callback` once the clock reaches `at` (at once if it is past). */
  at(at: Date, callback: () => void): ClockTimer;
}

/** One firing of a schedule: what Scheduler's context attributes hold. */
export interface ScheduleFiring {
  readonly schedule: ScheduleDefinition;
  readonly scheduleArn: string;
  /** The time the schedule was due, not when the timer ran. */
  readonly scheduledTime: Date;
  /**
   * A fresh id per attempt (`<aws.scheduler.execution-id>`): "the unique ID that EventBridge Scheduler
   * assigns for each attempted invocation of a target", so a retry has another
   * (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html).
   */
  readonly executionId: string;
  /** The firing's own id, the same in each of its attempts (by default its first attempt's execution id). */
  readonly firingId: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** The input with the context attributes replaced, as the JSON text the target receives. */
  readonly input: string;
}

/**
 * The real clock. A timer more than Node's 24.8-day limit away re-arms itself, so a yearly cron
 * neither fires early nor overflows.
 */
export const REAL_CLOCK: SchedulerClock = {
  now: () => new Date(),
  at(at, callback) {
    let handle: NodeJS.Timeout | undefined;
    const arm = () => {
      const wait = at.getTime() - Date.now();
      if (wait <= 0) {
        callback();
        return;
      }
      handle = setTimeout(arm, Math.min(wait, MAX_TIMER_MS));
      // The scheduler alone must not keep a process alive.
      handle.unref();
    };
    arm();
    return { cancel: () => clearTimeout(handle) };
  },
};

const MAX_TIMER_MS = 2 ** 31 - 1;

/** A clock a test moves by hand; timers due within a move run in time order. */
export interface VirtualClock extends SchedulerClock {
  /** Moves time forward to `to`, running every timer due up to then (and those they arm). */
  advanceTo(to: Date): Promise<void>;
  /** Moves time forward by `ms`. */
  advanceBy(ms: number): Promise<void>;
}

/** A {@link VirtualClock} starting at `start`. */
export function createVirtualClock(start: Date): VirtualClock {
  let now = start.getTime();
  let sequence = 0;
  const timers = new Map<number, { at: number; callback: () => void }>();
  const clock: VirtualClock = {
    now: () => new Date(now),
    at(at, callback) {
      const id = sequence++;
      timers.set(id, { at: at.getTime(), callback });
      return { cancel: () => timers.delete(id) };
    },
    async advanceTo(to) {
      const target = to.getTime();
      for (;;) {
        const due = [...timers.entries()]
          .filter(([, timer]) => timer.at <= target)
          .sort(([a, x], [b, y]) => x.at - y.at || a - b)[0];
        if (!due) break;
        const [id, timer] = due;
        timers.delete(id);
        now = Math.max(now, timer.at);
        timer.callback();
        // Let the firing's promise chain (send, invoke, re-arm) run before the next timer.
        await new Promise((resolve) => setImmediate(resolve));
      }
      now = Math.max(now, target);
    },
    advanceBy: (ms) => clock.advanceTo(new Date(now + ms)),
  };
  return clock;
}

/** Options of {@link startScheduler}. */
export interface SchedulerOptions {
  readonly schedules: readonly ScheduleDefinition[];
  readonly nextFireTimes: NextFireTimes;
  /** Delivers one firing to the schedule's target; a rejection is reported. */
  readonly fire: (firing: ScheduleFiring) => Promise<void>;
  /**
   * Sends a firing that failed its last attempt to the schedule group's dead-letter queue, as
   * Scheduler does once the retry policy is exhausted; a rejection is reported (the firing is then
   * lost, as on AWS). @default none: the give-up is only reported
   */
  readonly deadLetter?: (firing: ScheduleFiring, failure: ScheduleDeadLetter) => Promise<void>;
  /** `arn:aws:scheduler:<region>:<account>:schedule/<group>/<name>` of a schedule. */
  readonly scheduleArn: (name: string) => string;
  readonly reporter: LocalCloudReporter;
  /** @default {@link REAL_CLOCK} */
  readonly clock?: SchedulerClock;
  /** Ids of firings (`<aws.scheduler.execution-id>`). @default crypto.randomUUID */
  readonly newId?: () => string;
  /**
   * When each schedule last fired, kept across restarts: a restart neither fires a time again
   * nor skips one silently. @default kept in memory
   */
  readonly lastFired?: LastFiredStore;
  /**
   * The firings whose delivery failed and waits for a retry, kept across restarts: Scheduler goes on
   * retrying whatever happens to the caller, so a local cloud stopped before a retry carries it over
   * its restart (or dead-letters it there, once past the event age). @default kept in memory
   */
  readonly pendingFirings?: PendingFiringsStore;
}

/** A firing waiting for its retry, as {@link PendingFiringsStore} keeps it. */
export interface PendingFiring {
  readonly schedule: string;
  /** The firing's id ({@link ScheduleFiring.firingId}), which keys it; absent in a record kept before 2026-12-07. */
  readonly firingId?: string;
  /** The failed attempt's execution id (a record kept before 2026-12-07: the firing's, which keyed it). */
  readonly executionId: string;
  /** ISO 8601. */
  readonly scheduledTime: string;
  /** The attempt the retry makes. */
  readonly attempt: number;
  /** When the retry is due, ISO 8601. */
  readonly retryAt: string;
  /** The failed attempt's error, for a dead letter made at a restart. */
  readonly errorCode: string;
  readonly errorMessage: string;
}

/** The firings waiting for a retry, by {@link pendingFiringKey}. */
export type PendingFiringsStore = KeyedStore<PendingFiring>;

/** What keys a pending firing: its firing id, or in a record kept before 2026-12-07 its execution id. */
export function pendingFiringKey(firing: PendingFiring): string {
  return firing.firingId ?? firing.executionId;
}

/**
 * Why Scheduler gave up on a firing: what it puts in the dead-letter event's message attributes
 * (`ERROR_CODE`, `ERROR_MESSAGE`, `EXHAUSTED_RETRY_CONDITION`, `RETRY_ATTEMPTS`).
 * https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html
 */
export interface ScheduleDeadLetter {
  /** The last attempt's error name (`QueueDoesNotExist`, `AccessDeniedError`). */
  readonly errorCode: string;
  readonly errorMessage: string;
  /** Which limit of the retry policy ended the retries. */
  readonly exhaustedRetryCondition: ExhaustedRetryCondition;
  /** Retries made (attempts after the first). */
  readonly retryAttempts: number;
}

/** When each schedule last fired (its scheduled time), as a restart reads it. */
export interface LastFiredStore {
  get(name: string): Date | undefined;
  set(name: string, scheduledTime: Date): void;
}

/** A running scheduler. */
export interface Scheduler {
  /** When each schedule fires next. */
  nextFire(name: string): Date | undefined;
  stop(): void;
}

/**
 * EventBridge Scheduler for the local cloud: arms one timer per schedule at its next fire time
 * (from `nextFireTimes`, so local and deployed schedules agree on when), delivers each firing to
 * the target with the input's context attributes replaced, then arms the next one counted from the
 * scheduled time (a slow target does not shift the series). A firing whose delivery fails is
 * reported and retried as its retry policy allows, then sent to the schedule group's DLQ (`deadLetter`).
 */
export function startScheduler(options: SchedulerOptions): Scheduler {
  const clock = options.clock ?? REAL_CLOCK;
  const newId = options.newId ?? (() => crypto.randomUUID());
  const next = new Map<string, Date>();
  const timers = new Map<string, ClockTimer>();
  let stopped = false;

  const retries = new Set<ClockTimer>();
  const pending = options.pendingFirings ?? keyedMemoryStore<PendingFiring>(pendingFiringKey);

  /** Arms the retry of `firing` (its next attempt) at `retryAt`. */
  const retryAt = (schedule: ScheduleDefinition, firing: ScheduleFiring, at: Date) => {
    // A clock may run a timer already due inside `at` (REAL_CLOCK does): there is then none to keep.
    let timer: ClockTimer | undefined;
    let fired = false;
    timer = clock.at(at, () => {
      fired = true;
      if (timer) retries.delete(timer);
      deliver(schedule, scheduleFiring(schedule, firing));
    });
    if (!fired) retries.add(timer);
  };

  /** Sends `firing` to the dead-letter queue, as Scheduler does when it gives up; reports a loss. */
  const giveUp = (schedule: ScheduleDefinition, firing: ScheduleFiring, failure: ScheduleDeadLetter) => {
    pending.delete(firing.firingId);
    if (!options.deadLetter) return;
    options.deadLetter(firing, failure).catch((deadLetterError: unknown) => {
      options.reporter({
        type: 'error',
        source: `schedule ${schedule.name}`,
        message: `dead-lettering the ${firing.scheduledTime.toISOString()} firing failed, so it is lost: ${
          deadLetterError instanceof Error ? deadLetterError.message : String(deadLetterError)
        }`,
      });
    });
  };
  /**
   * Delivers a firing; on failure retries it as the retry policy allows (a new execution id, the
   * attempt number counting up, backoff doubling from 1 s up to 1 minute), then gives up as
   * Scheduler does: the firing goes to the schedule group's DLQ (`options.deadLetter`).
   * https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html
   */
  const deliver = (schedule: ScheduleDefinition, firing: ScheduleFiring) => {
    options.fire(firing).then(
      () => pending.delete(firing.firingId),
      (error: unknown) => failed(schedule, firing, error),
    );
  };
  /** A delivery that failed: retried as the policy allows (kept across a stop), else dead-lettered. */
  const failed = (schedule: ScheduleDefinition, firing: ScheduleFiring, error: unknown) => {
    const reason = error instanceof Error ? error.message : String(error);
    const nextAt = new Date(clock.now().getTime() + retryBackoffMs(firing.attempt));
    const exhausted = exhaustedRetryCondition(schedule.retryPolicy, {
      failedAttempt: firing.attempt,
      retryAtMs: nextAt.getTime(),
      firstAttemptMs: firing.scheduledTime.getTime(),
    });
    const kept = exhausted === undefined;
    const retrying = kept && !stopped;
    options.reporter({
      type: 'error',
      source: `schedule ${schedule.name}`,
      message: `delivering the ${firing.scheduledTime.toISOString()} firing failed (attempt ${firing.attempt}): ${reason}${
        stopped
          ? '; the local cloud is stopping: retried or dead-lettered when it starts again'
          : kept
            ? `; retrying at ${nextAt.toISOString()}`
            : options.deadLetter
              ? '; giving up: dead-lettered'
              : '; giving up (Scheduler would dead-letter it)'
      }`,
    });
    const errorCode = error instanceof Error ? error.name : 'Error';
    // Kept before it is armed: a stop in between leaves it for the next start. A stopped scheduler
    // keeps every failure, its last retry's too: the next start retries or dead-letters it.
    if (kept || stopped) {
      pending.set({
        schedule: schedule.name,
        firingId: firing.firingId,
        executionId: firing.executionId,
        scheduledTime: firing.scheduledTime.toISOString(),
        attempt: firing.attempt + 1,
        retryAt: nextAt.toISOString(),
        errorCode,
        errorMessage: reason,
      });
      if (retrying)
        retryAt(schedule, { ...firing, executionId: newId(), attempt: firing.attempt + 1 }, nextAt);
      return;
    }
    giveUp(schedule, firing, {
      errorCode,
      errorMessage: reason,
      exhaustedRetryCondition: exhausted ?? 'MaximumRetryAttempts',
      retryAttempts: firing.attempt - 1,
    });
  };

  const arm = (schedule: ScheduleDefinition, after: Date) => {
    if (stopped) return;
    // +1 ms: a `from` on a fire time must not return that same time again. Not before now - 1 ms:
    // after the laptop slept through firings, the series resumes with the next one instead of
    // delivering every missed firing at once (the one pending timer still fires, late).
    const from = Math.max(after.getTime() + 1, clock.now().getTime());
    const [due] = options.nextFireTimes(schedule.expression, schedule.timezone, new Date(from), 1);
    if (!due) {
      next.delete(schedule.name);
      return;
    }
    next.set(schedule.name, due);
    timers.set(
      schedule.name,
      clock.at(due, () => {
        const firing = scheduleFiring(schedule, {
          scheduleArn: options.scheduleArn(schedule.name),
          scheduledTime: due,
          executionId: newId(),
          attempt: 1,
        });
        options.reporter({
          type: 'schedule-fired',
          schedule: schedule.name,
          scheduledTime: due.toISOString(),
          target: describeTarget(schedule),
          trigger: 'scheduler',
        });
        options.lastFired?.set(schedule.name, due);
        deliver(schedule, firing);
        arm(schedule, due);
      }),
    );
  };

  /** The last fire time of `schedule` before `until`, from `missed` (one of them) on. */
  const lastMissed = (schedule: ScheduleDefinition, missed: Date, until: Date): Date => {
    let latest = missed;
    for (;;) {
      const times = options.nextFireTimes(schedule.expression, schedule.timezone, latest, 100);
      const before = times.filter((time) => time.getTime() < until.getTime());
      latest = before.at(-1) ?? latest;
      if (before.length < times.length || times.length === 0) return latest;
    }
  };

  // A fire time exactly at start is due: count from just before it.
  const start = clock.now();
  for (const schedule of options.schedules) {
    const last = options.lastFired?.get(schedule.name);
    const from = new Date(Math.max(start.getTime() - 2, last?.getTime() ?? 0));
    // EventBridge Scheduler does not deliver the firings it missed; neither does a restart, but
    // it says which it skipped.
    const [missed] = last ? options.nextFireTimes(schedule.expression, schedule.timezone, last, 1) : [];
    if (missed && missed.getTime() < from.getTime()) {
      options.reporter({
        type: 'error',
        source: `schedule ${schedule.name}`,
        message: `the local cloud was down at ${missed.toISOString()}: firings missed since ${last?.toISOString()} are not delivered (EventBridge Scheduler does not backfill)`,
      });
      // Handled: recorded as the last firing, so the next start does not report it again.
      options.lastFired?.set(schedule.name, lastMissed(schedule, missed, from));
    }
    arm(schedule, from);
  }
  // The retries a stop left: due now or at their time, or, past the event age, dead-lettered.
  for (const kept of pending.list()) {
    const schedule = options.schedules.find((candidate) => candidate.name === kept.schedule);
    if (!schedule) {
      pending.delete(pendingFiringKey(kept));
      continue;
    }
    // The retry is a new attempt, with an execution id of its own; a dead letter names the last attempt made.
    const firingOf = (attempt: number, executionId: string) =>
      scheduleFiring(schedule, {
        scheduleArn: options.scheduleArn(schedule.name),
        scheduledTime: new Date(kept.scheduledTime),
        executionId,
        firingId: pendingFiringKey(kept),
        attempt,
      });
    const policy = schedule.retryPolicy;
    const made = kept.attempt - 1;
    const ageLimit = new Date(kept.scheduledTime).getTime() + (policy?.maximumEventAgeSeconds ?? 0) * 1000;
    const at = new Date(Math.max(new Date(kept.retryAt).getTime(), start.getTime()));
    const condition =
      policy === undefined || made > policy.maximumRetryAttempts
        ? 'MaximumRetryAttempts'
        : at.getTime() > ageLimit
          ? 'MaximumEventAgeInSeconds'
          : undefined;
    if (condition === undefined) {
      retryAt(schedule, firingOf(kept.attempt, newId()), at);
      continue;
    }
    options.reporter({
      type: 'error',
      source: `schedule ${schedule.name}`,
      message: `the ${kept.scheduledTime} firing failed ${made} time(s) before the local cloud stopped, and may not be retried (${condition}): dead-lettered`,
    });
    giveUp(schedule, firingOf(made, kept.executionId), {
      errorCode: kept.errorCode,
      errorMessage: kept.errorMessage,
      exhaustedRetryCondition: condition,
      retryAttempts: made - 1,
    });
  }
  return {
    nextFire: (name) => next.get(name),
    stop() {
      stopped = true;
      for (const timer of [...timers.values(), ...retries]) timer.cancel();
      timers.clear();
      retries.clear();
    },
  };
}

/** Scheduler's context attributes, as they appear in a schedule's input. */
export const SCHEDULER_CONTEXT_ATTRIBUTES = {
  scheduleArn: '<aws.scheduler.schedule-arn>',
  scheduledTime: '<aws.scheduler.scheduled-time>',
  executionId: '<aws.scheduler.execution-id>',
  attemptNumber: '<aws.scheduler.attempt-number>',
} as const;

/**
 * A firing of `schedule`: its input as JSON text with Scheduler's context attributes replaced
 * (scheduled time as `2026-11-24T03:00:00Z`, as Scheduler formats it).
 * https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html
 */
export function scheduleFiring(
  schedule: ScheduleDefinition,
  context: Omit<ScheduleFiring, 'schedule' | 'input' | 'firingId'> & { readonly firingId?: string },
): ScheduleFiring {
  const text = typeof schedule.input === 'string' ? schedule.input : JSON.stringify(schedule.input ?? {});
  const input = text
    .replaceAll(SCHEDULER_CONTEXT_ATTRIBUTES.scheduleArn, context.scheduleArn)
    .replaceAll(
      SCHEDULER_CONTEXT_ATTRIBUTES.scheduledTime,
      `${context.scheduledTime.toISOString().slice(0, 19)}Z`,
    )
    .replaceAll(SCHEDULER_CONTEXT_ATTRIBUTES.executionId, context.executionId)
    .replaceAll(SCHEDULER_CONTEXT_ATTRIBUTES.attemptNumber, String(context.attempt));
  return { ...context, firingId: context.firingId ?? context.executionId, schedule, input };
}

function describeTarget(schedule: ScheduleDefinition): string {
  return schedule.target.kind === 'queue'
    ? `queue ${schedule.target.queue}`
    : `function ${schedule.target.service}`;
}
