import type { SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from '@jest/globals';
import { createCollectingReporter } from '../src/collecting-reporter.ts';
import { DEAD_LETTER_ATTRIBUTES } from '../src/queues.ts';
import {
  createSchedulesDeadLetterQueue,
  deadLetterFiring,
  deliverFiring,
  SCHEDULES_DEAD_LETTER_QUEUE,
} from '../src/schedule-delivery.ts';
import {
  createVirtualClock,
  type NextFireTimes,
  type PendingFiring,
  pendingFiringKey,
  REAL_CLOCK,
  type ScheduleDefinition,
  type ScheduleFiring,
  type SchedulerClock,
  type SchedulerOptions,
  scheduleFiring,
  startScheduler,
} from '../src/scheduler.ts';
import { everyMinutes, sweeper } from './fixtures/schedules.ts';

// The scheduler against a virtual clock: which firings happen when, with what input. The fire
// times come from an injected `nextFireTimes` (the workflows package's in the cloud): here a plain
// "every N minutes on the minute grid" so the expected times are obvious.

const nightlyInput = {
  type: 'export.requested',
  version: 1,
  id: 'nightly-<aws.scheduler.scheduled-time>',
  payload: { requestedBy: 'ops@example.com' },
  note: 'run <aws.scheduler.execution-id> attempt <aws.scheduler.attempt-number> of <aws.scheduler.schedule-arn>',
};

const nightly: ScheduleDefinition = {
  name: 'nightly-export',
  expression: 'rate(60 minutes)',
  timezone: 'Asia/Tokyo',
  target: { kind: 'queue', queue: 'export-requests' },
  input: nightlyInput,
};

const START = new Date('2026-11-24T10:07:00Z');

function start(schedules: readonly ScheduleDefinition[], fire?: (firing: ScheduleFiring) => Promise<void>) {
  const clock = createVirtualClock(START);
  const report = createCollectingReporter();
  const fired: ScheduleFiring[] = [];
  let ids = 0;
  const scheduler = startScheduler({
    schedules,
    nextFireTimes: everyMinutes,
    clock,
    reporter: report.reporter,
    scheduleArn: (name) => `arn:aws:scheduler:us-east-1:000000000000:schedule/sidestep-local/${name}`,
    newId: () => `exec-${++ids}`,
    fire:
      fire ??
      (async (firing) => {
        fired.push(firing);
      }),
  });
  return { clock, report, fired, scheduler };
}

describe('startScheduler', () => {
  it('fires each schedule at the times nextFireTimes gives, in time order, and not before', async () => {
    const { clock, fired, scheduler } = start([sweeper, nightly]);
    expect(scheduler.nextFire('stale-job-sweeper')).toEqual(new Date('2026-11-24T10:15:00Z'));
    expect(scheduler.nextFire('nightly-export')).toEqual(new Date('2026-11-24T11:00:00Z'));

    await clock.advanceTo(new Date('2026-11-24T10:14:59.999Z'));
    expect(fired).toHaveLength(0);

    await clock.advanceTo(new Date('2026-11-24T11:00:00Z'));
    expect(fired.map((f) => `${f.schedule.name}@${f.scheduledTime.toISOString()}`)).toEqual([
      'stale-job-sweeper@2026-11-24T10:15:00.000Z',
      'stale-job-sweeper@2026-11-24T10:30:00.000Z',
      'stale-job-sweeper@2026-11-24T10:45:00.000Z',
      // Same time: in the order they were armed.
      'nightly-export@2026-11-24T11:00:00.000Z',
      'stale-job-sweeper@2026-11-24T11:00:00.000Z',
    ]);
    expect(scheduler.nextFire('stale-job-sweeper')).toEqual(new Date('2026-11-24T11:15:00Z'));
    scheduler.stop();
  });

  it("replaces Scheduler's context attributes in the input at every firing", async () => {
    const { clock, fired, scheduler } = start([nightly]);
    await clock.advanceBy(2 * 60 * 60_000);
    scheduler.stop();
    expect(fired.map((firing) => JSON.parse(firing.input))).toEqual([
      {
        ...nightlyInput,
        id: 'nightly-2026-11-24T11:00:00Z',
        note: 'run exec-1 attempt 1 of arn:aws:scheduler:us-east-1:000000000000:schedule/sidestep-local/nightly-export',
      },
      {
        ...nightlyInput,
        id: 'nightly-2026-11-24T12:00:00Z',
        note: 'run exec-2 attempt 1 of arn:aws:scheduler:us-east-1:000000000000:schedule/sidestep-local/nightly-export',
      },
    ]);
  });

  it('reports each firing and a failed delivery, and keeps the series going', async () => {
    let calls = 0;
    const { clock, report, scheduler } = start([sweeper], async () => {
      calls++;
      if (calls === 1) throw new Error('queue is gone');
    });
    await clock.advanceTo(new Date('2026-11-24T10:30:00Z'));
    scheduler.stop();
    expect(calls).toBe(2);
    const fired = report.events.filter((event) => event.type === 'schedule-fired');
    expect(fired).toEqual([
      expect.objectContaining({ schedule: 'stale-job-sweeper', scheduledTime: '2026-11-24T10:15:00.000Z' }),
      expect.objectContaining({ schedule: 'stale-job-sweeper', scheduledTime: '2026-11-24T10:30:00.000Z' }),
    ]);
    expect(report.events).toContainEqual(
      expect.objectContaining({ type: 'error', source: 'schedule stale-job-sweeper' }),
    );
  });

  it('resumes with the next firing after missing several (a laptop that slept), firing the pending one once', async () => {
    // The timer for 10:15 runs only at 12:02 (a real timer held up by a sleeping laptop).
    const late = createVirtualClock(new Date('2026-11-24T10:14:00Z'));
    const lateTimes: string[] = [];
    let pending: (() => void) | undefined;
    const sleeping = startScheduler({
      schedules: [sweeper],
      nextFireTimes: everyMinutes,
      // A clock whose first timer is held back until the test releases it at 12:02.
      clock: {
        now: () => late.now(),
        at: (at, callback) => {
          if (!pending) {
            pending = callback;
            return { cancel: () => {} };
          }
          return late.at(at, callback);
        },
      },
      reporter: () => {},
      scheduleArn: (name) => name,
      fire: async (firing) => {
        lateTimes.push(firing.scheduledTime.toISOString());
      },
    });
    await late.advanceTo(new Date('2026-11-24T12:02:00Z'));
    pending?.();
    await late.advanceTo(new Date('2026-11-24T12:15:00Z'));
    sleeping.stop();
    expect(lateTimes).toEqual(['2026-11-24T10:15:00.000Z', '2026-11-24T12:15:00.000Z']);
  });

  // "<aws.scheduler.execution-id> – The unique ID that EventBridge Scheduler assigns for each attempted
  // invocation of a target" (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html):
  // a retry has an execution id of its own, so it can key no once-only work.
  it('retries a failed delivery as the retry policy allows, counting the attempt number up, each attempt with its own execution id', async () => {
    const retried: ScheduleDefinition = {
      ...nightly,
      retryPolicy: { maximumRetryAttempts: 2, maximumEventAgeSeconds: 3600 },
    };
    const inputs: string[] = [];
    const { clock, report, scheduler } = start([retried], async (firing) => {
      inputs.push(firing.input);
      throw new Error('queue is gone');
    });
    await clock.advanceTo(new Date('2026-11-24T11:00:10Z'));
    scheduler.stop();
    // 11:00:00, then 1 s and 2 s later; no third retry.
    expect(inputs.map((input) => (JSON.parse(input) as { note: string }).note)).toEqual([
      'run exec-1 attempt 1 of arn:aws:scheduler:us-east-1:000000000000:schedule/sidestep-local/nightly-export',
      'run exec-2 attempt 2 of arn:aws:scheduler:us-east-1:000000000000:schedule/sidestep-local/nightly-export',
      'run exec-3 attempt 3 of arn:aws:scheduler:us-east-1:000000000000:schedule/sidestep-local/nightly-export',
    ]);
    const errors = report.events.flatMap((event) => (event.type === 'error' ? [event.message] : []));
    expect(errors.at(-1)).toMatch(/attempt 3\): queue is gone; giving up/);
    expect(errors[0]).toMatch(/attempt 1\): queue is gone; retrying at 2026-11-24T11:00:01.000Z/);
  });

  // https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html: once the
  // retry policy is exhausted, Scheduler sends the firing to the schedule's DLQ.
  it('dead-letters a firing whose retries ran out, with the error and the limit that ended them', async () => {
    const clock = createVirtualClock(START);
    const deadLetters: unknown[] = [];
    const scheduler = startScheduler({
      schedules: [{ ...nightly, retryPolicy: { maximumRetryAttempts: 2, maximumEventAgeSeconds: 3600 } }],
      nextFireTimes: everyMinutes,
      clock,
      reporter: () => {},
      scheduleArn: (name) => `arn:aws:scheduler:us-east-1:000000000000:schedule/sidestep-local/${name}`,
      newId: () => 'exec-1',
      fire: async () => {
        throw Object.assign(new Error('queue is gone'), { name: 'QueueDoesNotExist' });
      },
      deadLetter: async (firing, failure) => {
        deadLetters.push({ attempt: firing.attempt, executionId: firing.executionId, ...failure });
      },
    });
    await clock.advanceTo(new Date('2026-11-24T11:00:10Z'));
    scheduler.stop();
    expect(deadLetters).toEqual([
      {
        attempt: 3,
        executionId: 'exec-1',
        errorCode: 'QueueDoesNotExist',
        errorMessage: 'queue is gone',
        exhaustedRetryCondition: 'MaximumRetryAttempts',
        retryAttempts: 2,
      },
    ]);
  });

  it('dead-letters a firing older than the maximum event age as MaximumEventAgeInSeconds', async () => {
    const clock = createVirtualClock(START);
    const conditions: string[] = [];
    const scheduler = startScheduler({
      schedules: [{ ...sweeper, retryPolicy: { maximumRetryAttempts: 10, maximumEventAgeSeconds: 2 } }],
      nextFireTimes: everyMinutes,
      clock,
      reporter: () => {},
      scheduleArn: (name) => name,
      fire: async () => {
        throw new Error('down');
      },
      deadLetter: async (_firing, failure) => {
        conditions.push(failure.exhaustedRetryCondition);
      },
    });
    await clock.advanceTo(new Date('2026-11-24T10:15:30Z'));
    scheduler.stop();
    expect(conditions).toEqual(['MaximumEventAgeInSeconds']);
  });

  it('gives up on a firing older than the maximum event age', async () => {
    const shortLived: ScheduleDefinition = {
      ...sweeper,
      retryPolicy: { maximumRetryAttempts: 10, maximumEventAgeSeconds: 2 },
    };
    let calls = 0;
    const { clock, scheduler } = start([shortLived], async () => {
      calls++;
      throw new Error('down');
    });
    await clock.advanceTo(new Date('2026-11-24T10:15:30Z'));
    scheduler.stop();
    // 10:15:00, +1 s (age 1 s), +2 s would be 10:15:03 (age 3 s > 2 s): two attempts.
    expect(calls).toBe(2);
  });

  // Scheduler delivers at least once, retrying until its retry policy ends
  // (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-retry-policy.html): a
  // local cloud stopped between a failed attempt and its retry carries the retry over its restart.
  describe('a restart between a failed delivery and its retry', () => {
    /** A scheduler over `stores`, whose deliveries fail while `down` says so. */
    function scheduler(
      clock: SchedulerClock,
      stores: Pick<SchedulerOptions, 'lastFired' | 'pendingFirings'>,
      delivered: string[],
      deadLetters: string[],
      down: () => boolean,
      maximumRetryAttempts = 185,
      idPrefix = 'exec',
    ) {
      let ids = 0;
      return startScheduler({
        schedules: [{ ...nightly, retryPolicy: { maximumRetryAttempts, maximumEventAgeSeconds: 3600 } }],
        nextFireTimes: everyMinutes,
        clock,
        reporter: () => {},
        scheduleArn: (name) => name,
        newId: () => `${idPrefix}-${++ids}`,
        fire: async (firing) => {
          if (down()) throw Object.assign(new Error('queue unreachable'), { name: 'Unreachable' });
          delivered.push(
            `${firing.executionId} ${firing.scheduledTime.toISOString()} attempt ${firing.attempt}`,
          );
        },
        deadLetter: async (firing, failure) => {
          deadLetters.push(`${firing.executionId} ${failure.exhaustedRetryCondition}`);
        },
        ...stores,
      });
    }

    /** Stores kept across the restart, as the cloud's state directory keeps them. */
    function stores(): Pick<SchedulerOptions, 'lastFired' | 'pendingFirings'> {
      const last = new Map<string, Date>();
      const pending = new Map<string, PendingFiring>();
      return {
        lastFired: { get: (name) => last.get(name), set: (name, at) => void last.set(name, at) },
        pendingFirings: {
          list: () => [...pending.values()],
          set: (firing) => void pending.set(pendingFiringKey(firing), firing),
          delete: (key) => void pending.delete(key),
        },
      };
    }

    it('retries the firing once started again, as a new attempt of the same scheduled time, and delivers it once', async () => {
      const clock = createVirtualClock(START);
      const kept = stores();
      const delivered: string[] = [];
      const deadLetters: string[] = [];
      let down = true;
      const first = scheduler(clock, kept, delivered, deadLetters, () => down);
      await clock.advanceTo(new Date('2026-11-24T11:00:10Z'));
      first.stop();
      down = false;
      await clock.advanceTo(new Date('2026-11-24T11:20:00Z'));
      const second = scheduler(clock, kept, delivered, deadLetters, () => down, 185, 'again');
      await clock.advanceTo(new Date('2026-11-24T11:30:00Z'));
      second.stop();
      expect(delivered).toEqual([expect.stringMatching(/^again-1 2026-11-24T11:00:00.000Z attempt \d+$/)]);
      expect(kept.pendingFirings?.list()).toEqual([]);
      expect(deadLetters).toEqual([]);
    });

    // The real clock runs a timer already due at once, inside `at`: the retry of a firing whose time
    // passed while the cloud was down is one.
    it('starts with a retry already due on the real clock, and makes it', async () => {
      const kept = stores();
      const scheduledTime = new Date(Date.now() - 10_000);
      // A record kept before 2026-12-07, without a firing id: its execution id keys it.
      kept.pendingFirings?.set({
        schedule: 'nightly-export',
        executionId: 'exec-9',
        scheduledTime: scheduledTime.toISOString(),
        attempt: 2,
        retryAt: new Date(Date.now() - 5_000).toISOString(),
        errorCode: 'Unreachable',
        errorMessage: 'queue unreachable',
      });
      const delivered: string[] = [];
      const deadLetters: string[] = [];
      const started = scheduler(REAL_CLOCK, kept, delivered, deadLetters, () => false);
      await new Promise((resolve) => setImmediate(resolve));
      started.stop();
      expect(delivered).toEqual([`exec-1 ${scheduledTime.toISOString()} attempt 2`]);
      expect(kept.pendingFirings?.list()).toEqual([]);
    });

    // A retry in flight when the cloud stops fails after the stop: the next start knows it was made.
    it('dead-letters a firing whose last retry failed during the stop as MaximumRetryAttempts, with that attempt', async () => {
      const clock = createVirtualClock(START);
      const kept = stores();
      const delivered: string[] = [];
      const deadLetters: string[] = [];
      let release: () => void = () => {};
      let attempts = 0;
      let ids = 0;
      const first = startScheduler({
        schedules: [{ ...nightly, retryPolicy: { maximumRetryAttempts: 1, maximumEventAgeSeconds: 3600 } }],
        nextFireTimes: everyMinutes,
        clock,
        reporter: () => {},
        scheduleArn: (name) => name,
        newId: () => `first-${++ids}`,
        // The first attempt fails at once; the retry (the last the policy allows) fails once released.
        fire: (firing) =>
          ++attempts === 1
            ? Promise.reject(new Error('down'))
            : new Promise<void>((_resolve, reject) => {
                release = () =>
                  reject(Object.assign(new Error(`attempt ${firing.attempt} failed`), { name: 'Last' }));
              }),
        ...kept,
      });
      await clock.advanceTo(new Date('2026-11-24T11:00:02Z'));
      first.stop();
      release();
      await new Promise((resolve) => setImmediate(resolve));
      const second = scheduler(clock, kept, delivered, deadLetters, () => false, 1);
      await clock.advanceTo(new Date('2026-11-24T11:00:30Z'));
      second.stop();
      expect(attempts).toBe(2);
      expect(delivered).toEqual([]);
      // Named by the attempt that failed last, the retry in flight at the stop.
      expect(deadLetters).toEqual(['first-2 MaximumRetryAttempts']);
      expect(kept.pendingFirings?.list()).toEqual([]);
    });

    it('dead-letters it as MaximumEventAgeInSeconds when the cloud was down past its event age', async () => {
      const clock = createVirtualClock(START);
      const kept = stores();
      const delivered: string[] = [];
      const deadLetters: string[] = [];
      const first = scheduler(clock, kept, delivered, deadLetters, () => true);
      await clock.advanceTo(new Date('2026-11-24T11:00:10Z'));
      first.stop();
      await clock.advanceTo(new Date('2026-11-24T12:30:00Z'));
      const second = scheduler(clock, kept, delivered, deadLetters, () => false);
      await clock.advanceTo(new Date('2026-11-24T12:30:01Z'));
      second.stop();
      // Attempts at 11:00:00, :01, :03 and :07 failed before the stop; the dead letter names the last.
      expect(deadLetters).toEqual(['exec-4 MaximumEventAgeInSeconds']);
      expect(delivered).toEqual([]);
    });
  });

  it('fires nothing after stop', async () => {
    const { clock, fired, scheduler } = start([sweeper]);
    scheduler.stop();
    await clock.advanceBy(60 * 60_000);
    expect(fired).toHaveLength(0);
  });

  it('counts the next firing from the scheduled time, so a late timer does not shift the series', async () => {
    // A nextFireTimes that is inclusive of `from` must not fire the same time twice either.
    const inclusive: NextFireTimes = (expression, timezone, from, n) =>
      everyMinutes(expression, timezone, new Date(from.getTime() - 1), n);
    const clock = createVirtualClock(START);
    const times: string[] = [];
    const scheduler = startScheduler({
      schedules: [sweeper],
      nextFireTimes: inclusive,
      clock,
      reporter: () => {},
      scheduleArn: (name) => name,
      fire: async (firing) => {
        times.push(firing.scheduledTime.toISOString());
      },
    });
    await clock.advanceTo(new Date('2026-11-24T10:45:00Z'));
    scheduler.stop();
    expect(times).toEqual([
      '2026-11-24T10:15:00.000Z',
      '2026-11-24T10:30:00.000Z',
      '2026-11-24T10:45:00.000Z',
    ]);
  });
});

describe('REAL_CLOCK', () => {
  it('fires a timer when its time comes, not before, and not once cancelled', async () => {
    const start = Date.now();
    const fired = await new Promise<number>((resolve) => {
      REAL_CLOCK.at(new Date(start + 30), () => resolve(Date.now()));
    });
    expect(fired - start).toBeGreaterThanOrEqual(29);
    let cancelledRan = false;
    REAL_CLOCK.at(new Date(Date.now() + 10), () => {
      cancelledRan = true;
    }).cancel();
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(cancelledRan).toBe(false);
  });

  it('runs a timer already due at once', async () => {
    let ran = false;
    REAL_CLOCK.at(new Date(Date.now() - 1_000), () => {
      ran = true;
    });
    expect(ran).toBe(true);
  });
});

describe('scheduleFiring', () => {
  it('keeps an input without context attributes as its JSON text', () => {
    const firing = scheduleFiring(sweeper, {
      scheduleArn: 'arn',
      scheduledTime: START,
      executionId: 'e',
      attempt: 1,
    });
    expect(firing.input).toBe('{}');
  });
});

describe('deliverFiring', () => {
  const firing = (schedule: ScheduleDefinition) =>
    scheduleFiring(schedule, { scheduleArn: 'arn', scheduledTime: START, executionId: 'e-1', attempt: 1 });

  it('invokes a function target asynchronously with the parsed input', async () => {
    const invoked: unknown[] = [];
    await deliverFiring(firing({ ...sweeper, input: { dryRun: false } }), {
      sqs: undefined as never,
      queueUrl: () => {
        throw new Error('no queue for a function target');
      },
      invokeAsync: (service, payload) => {
        invoked.push({ service, payload });
        return true;
      },
      reporter: () => {},
    });
    expect(invoked).toEqual([{ service: 'job-sweeper', payload: { dryRun: false } }]);
  });

  it('refuses a function the cloud does not run, naming the schedule', async () => {
    await expect(
      deliverFiring(firing(sweeper), {
        sqs: undefined as never,
        queueUrl: () => '',
        invokeAsync: () => false,
        reporter: () => {},
      }),
    ).rejects.toMatchObject({ name: 'UnknownScheduleTargetError', schedule: 'stale-job-sweeper' });
  });
});

describe('deadLetterFiring', () => {
  /** An SQS client that records what it is sent and answers CreateQueue with a URL. */
  const recordingSqs = () => {
    const sent: { command: string; input: unknown }[] = [];
    const sqs = {
      send: async (command: { constructor: { name: string }; input: unknown }) => {
        sent.push({ command: command.constructor.name, input: command.input });
        return { QueueUrl: `http://127.0.0.1/000000000000/${SCHEDULES_DEAD_LETTER_QUEUE}` };
      },
    } as unknown as SQSClient;
    return { sqs, sent };
  };

  it('creates sidestep-local-schedules-dlq with the attributes of every DLQ', async () => {
    const { sqs, sent } = recordingSqs();
    await createSchedulesDeadLetterQueue(sqs);
    expect(sent).toEqual([
      {
        command: 'CreateQueueCommand',
        input: { QueueName: 'sidestep-local-schedules-dlq', Attributes: { ...DEAD_LETTER_ATTRIBUTES } },
      },
    ]);
  });

  // https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html: the
  // dead-letter event carries the target's input and Scheduler's message attributes; Scheduler
  // sends it with the schedule's execution role.
  it("sends the firing's input with Scheduler's attributes, checked as the schedule's role", async () => {
    const { sqs, sent } = recordingSqs();
    const checked: unknown[] = [];
    const firing = scheduleFiring(nightly, {
      scheduleArn: 'arn:aws:scheduler:us-east-1:000000000000:schedule/sidestep-local/nightly-export',
      scheduledTime: new Date('2026-11-24T18:00:00Z'),
      executionId: 'exec-1',
      attempt: 3,
    });
    await deadLetterFiring(
      firing,
      {
        errorCode: 'QueueDoesNotExist',
        errorMessage: 'queue is gone',
        exhaustedRetryCondition: 'MaximumRetryAttempts',
        retryAttempts: 2,
      },
      {
        sqs,
        queueUrl: 'http://127.0.0.1/000000000000/sidestep-local-schedules-dlq',
        authorize: (checks) => checked.push(...checks),
      },
    );
    expect(checked).toEqual([
      expect.objectContaining({
        action: 'sqs:SendMessage',
        resource: 'arn:aws:sqs:us-east-1:000000000000:sidestep-local-schedules-dlq',
      }),
    ]);
    const text = (value: string) => ({ DataType: 'String', StringValue: value });
    expect(sent).toEqual([
      {
        command: 'SendMessageCommand',
        input: {
          QueueUrl: 'http://127.0.0.1/000000000000/sidestep-local-schedules-dlq',
          MessageBody: firing.input,
          MessageAttributes: {
            ERROR_CODE: text('QueueDoesNotExist'),
            ERROR_MESSAGE: text('queue is gone'),
            EXHAUSTED_RETRY_CONDITION: text('MaximumRetryAttempts'),
            RETRY_ATTEMPTS: { DataType: 'Number', StringValue: '2' },
            SCHEDULE_ARN: text(firing.scheduleArn),
            TARGET_ARN: text('arn:aws:sqs:us-east-1:000000000000:sidestep-local-export-requests'),
          },
        },
      },
    ]);
  });
});
